//! Every location the agent reads or writes, derived from one root.
//!
//! Normally the roots come from the operating system (the `dirs` crate). With
//! `ADO_CUTOVER_SANDBOX=<dir>` every location lives under `<dir>` instead, on every OS, with the
//! same layout the platform uses under a home folder: `<dir>/home` is the home folder and
//! `<dir>/machine` holds the machine-wide managed configuration. Tests use only this, so they
//! never touch the real home, keyring or `~/.ssh`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::agent::env::Env;
use crate::agent::platform;

/// The environment variable that moves every location under one directory.
pub const SANDBOX_VAR: &str = "ADO_CUTOVER_SANDBOX";

/// The agent's folder name inside the platform's data, config and log folders.
pub(super) const APP_DIR: &str = "ado-cutover";

/// Where things are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The user's home folder.
    pub home: PathBuf,
    /// The platform's per-user local data folder (`%LocalAppData%`, `~/Library/Application
    /// Support`, `$XDG_DATA_HOME`): where Git Credential Manager keeps `tenant.cache`.
    pub local_data: PathBuf,
    /// The platform's per-user config folder (`%AppData%`, `~/Library/Application Support`,
    /// `$XDG_CONFIG_HOME`).
    pub config_home: PathBuf,
    /// The agent's own state: journal, reports, run lock.
    pub data_dir: PathBuf,
    /// The agent's log folder.
    pub log_dir: PathBuf,
    /// The user's `~/.ssh`.
    pub ssh_dir: PathBuf,
    /// The machine-wide folder IT manages (`%ProgramData%\ado-cutover`,
    /// `/Library/Application Support/ado-cutover`, `/etc/ado-cutover`).
    pub managed_dir: PathBuf,
    /// The sandbox root, when `ADO_CUTOVER_SANDBOX` is set.
    pub sandbox: Option<PathBuf>,
}

/// Why the locations could not be worked out.
#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error("{SANDBOX_VAR} is set to `{0}`, which is not an existing directory")]
    BadSandbox(PathBuf),
    #[error("could not find your home folder")]
    NoHome,
}

impl PathsError {
    /// What to do about it.
    pub(crate) fn hint(&self) -> String {
        match self {
            PathsError::BadSandbox(_) => format!(
                "create the directory, or unset {SANDBOX_VAR} to use this computer's real folders"
            ),
            PathsError::NoHome => "set HOME (or USERPROFILE on Windows) to your home folder".into(),
        }
    }
}

/// The per-user base folders a layout is derived from.
#[derive(Debug, Clone)]
pub(super) struct Bases {
    pub home: PathBuf,
    pub local_data: PathBuf,
    pub config_home: PathBuf,
    /// Linux's `$XDG_STATE_HOME`; unused elsewhere.
    pub state_home: PathBuf,
}

impl Paths {
    /// The locations for this process: the sandbox when `ADO_CUTOVER_SANDBOX` is set, else the
    /// operating system's.
    pub fn resolve(env: &Env) -> Result<Paths, PathsError> {
        match env.get_os(SANDBOX_VAR) {
            Some(dir) => {
                let dir = PathBuf::from(dir);
                let dir = std::path::absolute(&dir).unwrap_or(dir);
                if !dir.is_dir() {
                    return Err(PathsError::BadSandbox(dir));
                }
                Ok(Paths::sandboxed(&dir))
            }
            None => Paths::real(env),
        }
    }

    /// Every location under `root`, laid out as this platform lays them out under a home folder.
    pub fn sandboxed(root: &Path) -> Paths {
        let home = root.join("home");
        let mut paths = Paths::from_bases(platform::bases_under_home(&home), root.join("machine"));
        paths.sandbox = Some(root.to_path_buf());
        paths
    }

    fn real(env: &Env) -> Result<Paths, PathsError> {
        let home = dirs::home_dir().ok_or(PathsError::NoHome)?;
        let fallback = platform::bases_under_home(&home);
        let bases = Bases {
            local_data: dirs::data_local_dir().unwrap_or(fallback.local_data),
            config_home: dirs::config_dir().unwrap_or(fallback.config_home),
            state_home: dirs::state_dir().unwrap_or(fallback.state_home),
            home,
        };
        Ok(Paths::from_bases(bases, platform::managed_dir(env)))
    }

    fn from_bases(bases: Bases, managed_dir: PathBuf) -> Paths {
        let app = platform::app_dirs(&bases);
        Paths {
            ssh_dir: bases.home.join(".ssh"),
            home: bases.home,
            local_data: bases.local_data,
            config_home: bases.config_home,
            data_dir: app.data,
            log_dir: app.logs,
            managed_dir,
            sandbox: None,
        }
    }

    /// The user's own configuration file.
    pub fn user_config(&self) -> PathBuf {
        self.config_home.join(APP_DIR).join("config.toml")
    }

    /// The machine-wide managed configuration file.
    pub fn managed_config(&self) -> PathBuf {
        self.managed_dir.join("config.toml")
    }

    /// True when the agent may look at `path`: anywhere, except that a sandbox never reaches
    /// outside itself, whatever a configuration file names.
    pub fn reachable(&self, path: &Path) -> bool {
        self.sandbox
            .as_ref()
            .is_none_or(|root| path.starts_with(root))
    }

    /// A path for people: the home folder shown as `~`.
    pub fn display(&self, path: &Path) -> String {
        match path.strip_prefix(&self.home) {
            Ok(rest) if rest.as_os_str().is_empty() => "~".to_string(),
            Ok(rest) => format!("~{}{}", std::path::MAIN_SEPARATOR, rest.display()),
            Err(_) => path.display().to_string(),
        }
    }

    /// A command for a child process (git, ssh, ...). In a sandbox it sees the sandboxed home
    /// and none of this machine's system or global git configuration.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        if self.sandbox.is_some() {
            command
                .env("HOME", &self.home)
                .env("USERPROFILE", &self.home)
                .env("XDG_CONFIG_HOME", self.home.join(".config"))
                .env("APPDATA", &self.config_home)
                .env("LOCALAPPDATA", &self.local_data)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env_remove("GIT_CONFIG_GLOBAL")
                .env_remove("GIT_CONFIG_SYSTEM")
                .env_remove("XDG_DATA_HOME")
                .env_remove("XDG_STATE_HOME")
                .env_remove("GIT_DIR")
                .env_remove("GIT_WORK_TREE");
        }
        command
    }

    /// `git`, run where no repository can be found: in the system's temporary folder with the
    /// search for a repository stopped there. A repository's own configuration and hooks are
    /// untrusted (a home folder may itself be one), so git commands that need no repository
    /// (`ls-remote <url>`, `credential`) run here.
    pub fn git_outside_repos(&self) -> Command {
        let neutral = std::env::temp_dir();
        let mut command = self.command("git");
        command
            .current_dir(&neutral)
            .env("GIT_CEILING_DIRECTORIES", &neutral)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE");
        command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_puts_everything_under_the_root() {
        let root = tempfile::tempdir().unwrap();
        let env = Env::from_pairs([(SANDBOX_VAR, root.path())]);
        let paths = Paths::resolve(&env).unwrap();
        for path in [
            &paths.home,
            &paths.local_data,
            &paths.config_home,
            &paths.data_dir,
            &paths.log_dir,
            &paths.ssh_dir,
            &paths.managed_dir,
        ] {
            assert!(
                path.starts_with(root.path()),
                "{} escapes the sandbox",
                path.display()
            );
        }
        assert!(paths.user_config().starts_with(root.path()));
        assert!(
            paths
                .managed_config()
                .starts_with(root.path().join("machine"))
        );
        assert_eq!(paths.ssh_dir, root.path().join("home").join(".ssh"));
    }

    #[test]
    fn missing_sandbox_is_an_error_with_a_hint() {
        let env = Env::from_pairs([(SANDBOX_VAR, "/definitely/not/here")]);
        let err = Paths::resolve(&env).unwrap_err();
        assert!(
            err.to_string().contains("not an existing directory"),
            "{err}"
        );
        assert!(err.hint().contains("create the directory"), "{err}");
    }

    #[test]
    fn display_shortens_home() {
        let root = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(root.path());
        let shown = paths.display(&paths.ssh_dir.join("config"));
        assert_eq!(
            shown,
            format!("~{0}.ssh{0}config", std::path::MAIN_SEPARATOR)
        );
        assert_eq!(
            paths.display(&paths.managed_dir),
            paths.managed_dir.display().to_string()
        );
    }

    /// The real layout on Windows (run under Wine, whose known folders are Windows' own): every
    /// place the agent reads, as Microsoft documents it, from the OS's folders, not the sandbox.
    #[cfg(windows)]
    #[test]
    fn on_windows_every_place_follows_the_known_folders() {
        let env = Env::from_pairs([("ProgramData", r"C:\ProgramData")]);
        let paths = Paths::resolve(&env).unwrap();
        let home = dirs::home_dir().unwrap();
        assert_eq!(paths.home, home);
        assert_eq!(paths.local_data, home.join(r"AppData\Local"));
        assert_eq!(paths.config_home, home.join(r"AppData\Roaming"));
        assert_eq!(paths.data_dir, home.join(r"AppData\Local\ado-cutover"));
        assert_eq!(paths.ssh_dir, home.join(".ssh"));
        assert_eq!(
            paths.managed_config(),
            PathBuf::from(r"C:\ProgramData\ado-cutover\config.toml")
        );
        assert_eq!(
            crate::agent::tenant_cache_path(&paths.local_data),
            home.join(r"AppData\Local\GitCredentialManager\tenant.cache")
        );
        let browsers: Vec<(&str, PathBuf)> = platform::browser_dirs(&paths)
            .into_iter()
            .map(|root| (root.browser.id, root.dir))
            .collect();
        for (id, dir) in [
            ("chrome", r"AppData\Local\Google\Chrome\User Data"),
            ("edge", r"AppData\Local\Microsoft\Edge\User Data"),
            ("firefox", r"AppData\Roaming\Mozilla\Firefox"),
        ] {
            assert!(
                browsers.contains(&(id, home.join(dir))),
                "{id}: {browsers:?}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn child_git_sees_only_the_sandboxed_global_config() {
        let root = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(root.path());
        std::fs::create_dir_all(&paths.home).unwrap();
        std::fs::write(
            paths.home.join(".gitconfig"),
            "[user]\n\tname = Sandbox Person\n",
        )
        .unwrap();
        let out = paths
            .command("git")
            .args(["config", "--global", "user.name"])
            .output()
            .expect("git must be installed for the tests");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "Sandbox Person"
        );
        let system = paths
            .command("git")
            .args(["config", "--system", "--list"])
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&system.stdout).trim().is_empty());
    }
}
