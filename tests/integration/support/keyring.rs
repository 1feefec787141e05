//! A private Secret Service for tests: its own D-Bus session bus and a real
//! `gnome-keyring-daemon` whose keyrings live in a temporary folder. The machine's own keyring is
//! never reached: every command that talks to it gets this bus's address explicitly.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const HINT: &str =
    "install Debian's dbus, gnome-keyring, libsecret-tools and libsecret-1-dev (.ci/run does)";

pub(crate) struct Keyring {
    dir: tempfile::TempDir,
    bus: Child,
    daemon: Child,
    pub address: String,
}

impl Keyring {
    pub(crate) fn start() -> Keyring {
        super::tools::require();
        let dir = tempfile::tempdir().unwrap();
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start dbus-daemon ({e}); {HINT}"));
        let mut line = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().to_string();
        assert!(!address.is_empty(), "dbus-daemon printed no address");
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        #[cfg(unix)]
        std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let daemon = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", dir.path().join("home"))
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("XDG_RUNTIME_DIR", &run)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        // The bus is already running: stop it before failing, so no dbus-daemon is left behind.
        let mut daemon = match daemon {
            Ok(daemon) => daemon,
            Err(e) => {
                let _ = bus.kill();
                let _ = bus.wait();
                panic!("cannot start gnome-keyring-daemon ({e}); {HINT}");
            }
        };
        // The password of the new login keyring, read from stdin; closing it unlocks.
        daemon.stdin.take().unwrap().write_all(b"test").unwrap();
        let keyring = Keyring {
            dir,
            bus,
            daemon,
            address,
        };
        keyring.wait_for_service();
        keyring
    }

    fn wait_for_service(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
                .output()
                .unwrap_or_else(|e| panic!("cannot run dbus-send ({e}); {HINT}"));
            if String::from_utf8_lossy(&out.stdout).contains("boolean true") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gnome-keyring-daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Points `cmd` at this keyring (and lets a sandboxed agent use it).
    pub(crate) fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("XDG_RUNTIME_DIR", self.dir.path().join("run"))
            .env(ado_cutover::agent::SANDBOX_OPT_IN, "1")
    }

    /// The environment that points a program at this keyring, for programs started elsewhere
    /// (a terminal).
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DBUS_SESSION_BUS_ADDRESS", self.address.clone()),
            (
                "XDG_RUNTIME_DIR",
                self.dir.path().join("run").display().to_string(),
            ),
            (ado_cutover::agent::SANDBOX_OPT_IN, "1".into()),
        ]
    }

    /// `secret-tool` on this keyring.
    pub(crate) fn tool(&self) -> Command {
        let mut cmd = Command::new("secret-tool");
        self.apply(&mut cmd);
        cmd
    }

    /// Stores an item the way libsecret does (with `xdg:schema`).
    pub(crate) fn store(
        &self,
        schema: &str,
        label: &str,
        attributes: &[(&str, &str)],
        secret: &str,
    ) {
        let mut cmd = self.tool();
        cmd.args(["store", "--label", label, "xdg:schema", schema]);
        for (k, v) in attributes {
            cmd.args([k, v]);
        }
        run_with_stdin(&mut cmd, secret);
    }

    /// How many items of `schema` the keyring holds.
    pub(crate) fn count(&self, schema: &str) -> usize {
        self.count_matching(&[("xdg:schema", schema)])
    }

    /// How many items have (at least) these attributes.
    pub(crate) fn count_matching(&self, attributes: &[(&str, &str)]) -> usize {
        let mut cmd = self.tool();
        cmd.args(["search", "--all"]);
        for (k, v) in attributes {
            cmd.args([k, v]);
        }
        let out = cmd.output().unwrap();
        // secret-tool prints one `[/path]` header per item on stdout (attributes go to stderr).
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("[/"))
            .count()
    }

    /// The secret of the item with exactly these attributes, if it exists.
    pub(crate) fn lookup(&self, attributes: &[(&str, &str)]) -> Option<String> {
        let mut cmd = self.tool();
        cmd.arg("lookup");
        for (k, v) in attributes {
            cmd.args([k, v]);
        }
        let out = cmd.output().unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// git's libsecret helper, built from git's contrib source, with `args` on this keyring.
    pub(crate) fn git_helper(&self, args: &[&str], input: &str) -> String {
        let mut cmd = Command::new(libsecret_helper());
        self.apply(&mut cmd).args(args);
        run_with_stdin(&mut cmd, input)
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

fn run_with_stdin(cmd: &mut Command, input: &str) -> String {
    let out = super::output_with_stdin(cmd, input);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds `git-credential-libsecret` from the source Debian's git package ships, once.
pub(crate) fn libsecret_helper() -> &'static Path {
    static HELPER: OnceLock<PathBuf> = OnceLock::new();
    HELPER.get_or_init(|| {
        let source =
            Path::new("/usr/share/doc/git/contrib/credential/libsecret/git-credential-libsecret.c");
        assert!(
            source.exists(),
            "git's contrib source is missing: {}",
            source.display()
        );
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let target = dir.join("git-credential-libsecret");
        let flags = Command::new("pkg-config")
            .args(["--cflags", "--libs", "libsecret-1", "glib-2.0"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run pkg-config ({e}); {HINT}"));
        assert!(
            flags.status.success(),
            "pkg-config: libsecret-1 not found; {HINT}"
        );
        let flags = String::from_utf8(flags.stdout).unwrap();
        // Built under a private name, then renamed: test binaries may race here.
        let building = dir.join(format!("git-credential-libsecret.{}", std::process::id()));
        let status = Command::new("gcc")
            .args(["-O1", "-o"])
            .arg(&building)
            .arg(source)
            .args(flags.split_whitespace())
            .status()
            .unwrap();
        assert!(status.success(), "building git-credential-libsecret failed");
        std::fs::rename(&building, &target).unwrap();
        target
    })
}
