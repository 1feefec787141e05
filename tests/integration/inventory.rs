//! Before the switch (#21), end to end: real agents in sandboxed homes, each with what an old
//! identity leaves (an SSH remote, unpushed work, a saved token, a token in a remote URL and in
//! `~/.npmrc`, a legacy remote, a personal account in the tenant cache), wait for the switch
//! against the fake Azure DevOps, send their inventory (`report.send_plans`) to a real server,
//! and the counts and lists come out exact, on SQLite and PostgreSQL. No secret the agents read
//! reaches the database, the page, the CSV or the API; after the switch the same lists show
//! what is still open.
#![cfg(feature = "server")]

use crate::support;

use std::path::Path;

use ado_cutover::report::Category;
use serde_json::Value;
use support::fake_cloud::FakeCloud;
use support::repo as git;
use support::server::{ENROLLMENT, TestServer, backends};
use support::{Sandbox, TENANT, text};

/// The documented exit code for "an organization has not switched yet".
const WAITING: i32 = 12;

/// Secrets planted in every place the agents read.
const SECRETS: [&str; 7] = [
    "GITSTORESECRET0001",
    "URLSECRET0002",
    "NPMSECRET0003",
    "SHELLSECRET0004",
    "GCMSTORESECRET0005",
    "NUGETSECRET0006",
    "DOTENVSECRET0007",
];

/// A sandbox for `user` whose agent reports to `server`, with contoso and fabrikam configured
/// and inventories turned on.
fn machine(server: &TestServer, user: &str) -> Sandbox {
    let sandbox = Sandbox::new();
    let port = server.base.rsplit(':').next().unwrap();
    let token_file = sandbox.paths.managed_dir.join("enrollment-token");
    sandbox.write(&token_file, format!("enrollment={ENROLLMENT}\n").as_bytes());
    sandbox.write_managed_config(&format!(
        "organizations = [\"contoso\", \"fabrikam\"]\nexpected_tenant = \"{TENANT}\"\n\
         [report]\nendpoint = \"http://127.0.0.1:{port}\"\nenrollment_token_file = {:?}\nsend_plans = true\n",
        token_file.display().to_string()
    ));
    sandbox.write(
        &sandbox.paths.home.join(".gitconfig"),
        format!("[user]\n\tname = {user}\n\temail = {user}@example.com\n[init]\n\tdefaultBranch = main\n[credential]\n\thelper = store\n").as_bytes(),
    );
    sandbox
}

/// Runs the agent as the logon task does, with `user` as the OS user name.
fn logon_run(sandbox: &Sandbox, cloud: &FakeCloud, user: &str) -> Option<i32> {
    let mut cmd = sandbox.cmd();
    cmd.args(["run", "--silent"]);
    for (k, v) in cloud.env() {
        cmd.env(k, v);
    }
    cmd.env("USER", user).env("USERNAME", user);
    let out = cmd.output().unwrap();
    assert!(
        !text(&out.stderr).contains("was not sent"),
        "{}",
        text(&out.stderr)
    );
    out.status.code()
}

/// Ana: SSH to contoso with unpushed work, a saved contoso token in git's store, a contoso
/// feed token in `~/.npmrc`, and contoso used with a personal account (the tenant cache).
fn ana(server: &TestServer) -> Sandbox {
    let sandbox = machine(server, "ana");
    let app = git::at_home(
        &sandbox,
        "src/app",
        "git@ssh.dev.azure.com:v3/contoso/proj/app",
    );
    let clone = git::open(&app);
    let pushed = git::commit_file(&clone, "a", "1", "one");
    git::track_origin_main(&clone, pushed);
    git::commit_file(&clone, "a", "2", "two");
    sandbox.write(
        &sandbox.paths.home.join(".git-credentials"),
        format!("https://ana:{}@dev.azure.com/contoso\n", SECRETS[0]).as_bytes(),
    );
    sandbox.write(
        &sandbox.paths.home.join(".npmrc"),
        format!(
            "registry=https://pkgs.dev.azure.com/contoso/_packaging/f/npm/registry/\n\
             //pkgs.dev.azure.com/contoso/_packaging/f/npm/registry/:_password={}\n",
            SECRETS[2]
        )
        .as_bytes(),
    );
    sandbox.seed_tenant_cache(&[("https://dev.azure.com/contoso", support::MSA)]);
    sandbox
}

/// A folder name that is markup where the file system allows it (Windows does not allow `<`).
const HOSTILE_FOLDER: &str = if cfg!(windows) {
    "work/a & b legacy"
} else {
    "work/<b>legacy</b>"
};

/// Ben: a fabrikam repository on the legacy host with a token in its URL, and a token in
/// `~/.bashrc` (no organization one can tell: it counts for both).
fn ben(server: &TestServer) -> Sandbox {
    let sandbox = machine(server, "ben");
    git::at_home(
        &sandbox,
        HOSTILE_FOLDER,
        &format!(
            "https://ben:{}@fabrikam.visualstudio.com/proj/_git/legacy",
            SECRETS[1]
        ),
    );
    sandbox.write(
        &sandbox.paths.home.join(".bashrc"),
        format!("export AZURE_DEVOPS_EXT_PAT={}\n", SECRETS[3]).as_bytes(),
    );
    sandbox
}

/// Cy: a fabrikam token in Git Credential Manager's plaintext store and in NuGet's
/// configuration, and a token in `~/.env` (no organization one can tell).
fn cy(server: &TestServer) -> Sandbox {
    let sandbox = machine(server, "cy");
    let home = &sandbox.paths.home;
    sandbox.write(
        &home
            .join(".gcm")
            .join("store")
            .join("git")
            .join("https")
            .join("dev.azure.com")
            .join("fabrikam")
            .join("cy.credential"),
        format!(
            "{}\nservice=https://dev.azure.com/fabrikam\naccount=cy\n",
            SECRETS[4]
        )
        .as_bytes(),
    );
    sandbox.write(
        &home.join(".nuget").join("NuGet").join("NuGet.Config"),
        format!(
            "<configuration>\n<packageSources>\n<add key=\"f\" value=\"https://pkgs.dev.azure.com/fabrikam/_packaging/f/nuget/v3/index.json\" />\n</packageSources>\n<packageSourceCredentials><f>\n<add key=\"Username\" value=\"cy\" />\n<add key=\"ClearTextPassword\" value=\"{}\" />\n</f></packageSourceCredentials>\n</configuration>\n",
            SECRETS[5]
        )
        .as_bytes(),
    );
    sandbox.write(
        &home.join(".env"),
        format!("AZURE_DEVOPS_PAT={}\n", SECRETS[6]).as_bytes(),
    );
    sandbox
}

/// `org`'s entries of `category` (open only, or all found), the first 100.
fn entries(
    server: &TestServer,
    org: &str,
    category: Category,
    open_only: bool,
) -> Vec<ado_cutover::server::store::InventoryEntry> {
    server
        .block_on(
            server
                .store
                .inventory_entries(org, category, open_only, None, None, 100),
        )
        .unwrap()
}

fn counts(inventory: &ado_cutover::server::store::OrgInventory, category: Category) -> (i64, i64) {
    let c = inventory
        .categories
        .iter()
        .find(|c| c.category == category.as_str())
        .unwrap();
    (c.found.users, c.open.users)
}

fn all_found(inventory: &ado_cutover::server::store::OrgInventory) -> Vec<(&'static str, i64)> {
    inventory
        .categories
        .iter()
        .map(|c| (c.category, c.found.users))
        .collect()
}

/// What the server's database holds, as bytes: every file of a SQLite database (with its
/// write-ahead log); on PostgreSQL every stored report and inventory entry.
fn database_bytes(server: &TestServer) -> Vec<u8> {
    if let Some(file) = server.url.strip_prefix("sqlite://") {
        let dir = Path::new(file).parent().unwrap();
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            if entry.path().is_file() {
                bytes.extend(std::fs::read(entry.path()).unwrap());
            }
        }
        return bytes;
    }
    server.block_on(async {
        use sqlx::Row as _;
        let pool = sqlx::AnyPool::connect(&server.url).await.unwrap();
        let mut bytes = Vec::new();
        for sql in [
            "SELECT body FROM reports",
            "SELECT organization || ' ' || category || ' ' || target || ' ' || kind FROM inventory",
        ] {
            for row in sqlx::query(sql).fetch_all(&pool).await.unwrap() {
                bytes.extend(row.get::<String, _>(0).into_bytes());
            }
        }
        assert!(!bytes.is_empty());
        bytes
    })
}

#[test]
fn waiting_agents_inventory_gives_exact_counts_and_lists_and_no_secret_is_stored() {
    for postgres in backends() {
        let server = TestServer::start(postgres);
        let cloud = FakeCloud::before_the_switch(&["contoso", "fabrikam"]);
        let ana = ana(&server);
        let ben = ben(&server);
        let cy = cy(&server);
        let before = ana.snapshot();
        for (sandbox, user) in [(&ana, "ana"), (&ben, "ben"), (&cy, "cy")] {
            assert_eq!(logon_run(sandbox, &cloud, user), Some(WAITING), "{user}");
        }
        ana.assert_unchanged(&before, "taking the inventory");
        assert_eq!(server.reports(), 3);

        let contoso = server
            .block_on(server.store.inventory("contoso", None))
            .unwrap();
        assert_eq!((contoso.devices, contoso.waiting, contoso.users), (3, 3, 3));
        assert_eq!(contoso.with_inventory, 3);
        assert_eq!(
            all_found(&contoso),
            [
                ("ssh", 1),
                ("old-token", 3),
                ("local-work", 1),
                ("legacy-remote", 0),
                ("personal-account", 1),
                ("shared-sign-in", 0),
                ("pinned-tenant", 0),
            ],
            "{contoso:#?}"
        );
        let fabrikam = server
            .block_on(server.store.inventory("fabrikam", None))
            .unwrap();
        assert_eq!(
            all_found(&fabrikam),
            [
                ("ssh", 0),
                ("old-token", 2),
                ("local-work", 0),
                ("legacy-remote", 1),
                ("personal-account", 0),
                ("shared-sign-in", 0),
                ("pinned-tenant", 0),
            ],
            "{fabrikam:#?}"
        );
        // The lists: who and where.
        let list = |org: &str, category: Category| -> Vec<(String, String)> {
            entries(&server, org, category, true)
                .into_iter()
                .map(|e| (e.user_name, e.target))
                .collect()
        };
        let home = |rel: &str| {
            format!(
                "~{}{}",
                std::path::MAIN_SEPARATOR,
                rel.replace('/', std::path::MAIN_SEPARATOR_STR)
            )
        };
        assert_eq!(
            list("contoso", Category::OldToken),
            [
                ("ana".to_string(), home(".git-credentials (contoso)")),
                ("ana".to_string(), home(".npmrc:2")),
                ("ben".to_string(), home(".bashrc:1")),
                ("cy".to_string(), home(".env:1")),
            ]
        );
        assert_eq!(
            list("fabrikam", Category::OldToken),
            [
                ("ben".to_string(), home(".bashrc:1")),
                (
                    "ben".to_string(),
                    format!("{} (origin)", home(HOSTILE_FOLDER))
                ),
                ("cy".to_string(), home(".env:1")),
                (
                    "cy".to_string(),
                    home(".gcm/store/git/https/dev.azure.com/fabrikam/cy.credential")
                ),
                ("cy".to_string(), home(".nuget/NuGet/NuGet.Config:7")),
            ]
        );
        assert_eq!(
            list("contoso", Category::LocalWork),
            [("ana".to_string(), format!("{} (main)", home("src/app")))]
        );
        assert_eq!(
            list("fabrikam", Category::LegacyRemote),
            [(
                "ben".to_string(),
                format!("{} (origin)", home(HOSTILE_FOLDER))
            )]
        );
        assert_eq!(
            contoso.readiness(),
            [
                "1 user uses SSH with contoso: their SSH keys must be added again under the new sign-in",
                "3 users have old tokens or saved passwords for contoso (git credential stores, remote URLs, feed or shell files)",
                "1 user has unpushed or uncommitted work in contoso repositories",
                "1 user used contoso with a personal Microsoft account",
            ]
        );

        // The page, the CSV and the API say the same, hostile names stay text, and no
        // secret is anywhere.
        let (cookie, _) = server.sign_in();
        let (status, page) = server.get_as("/inventory?org=fabrikam", &cookie);
        assert_eq!(status, 200, "{page}");
        let folder = HOSTILE_FOLDER.rsplit('/').next().unwrap();
        let escaped = folder
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(page.contains(&escaped), "{page}");
        assert!(!page.contains(folder), "{page}");
        assert!(
            page.contains(
                "1 user has repositories on the legacy fabrikam.visualstudio.com address"
            )
        );
        let (status, csv) = server.get_as(
            "/inventory.csv?org=contoso&category=old-token&open=1",
            &cookie,
        );
        assert_eq!(status, 200);
        assert_eq!(csv.lines().count(), 5, "a header and four entries: {csv}");
        assert!(csv.contains("\"ana\"") && csv.contains(".npmrc:2"), "{csv}");
        let (status, api) = server.get_as("/api/v1/inventory?organization=contoso", &cookie);
        assert_eq!(status, 200);
        let api: Value = serde_json::from_str(&api).unwrap();
        let orgs = api["organizations"].as_array().unwrap();
        assert_eq!(orgs.len(), 1);
        assert_eq!(orgs[0]["devices"], 3);
        assert_eq!(orgs[0]["readiness"].as_array().unwrap().len(), 4);
        let (_, every) = server.get_as("/api/v1/inventory", &cookie);
        let every: Value = serde_json::from_str(&every).unwrap();
        let names: Vec<&str> = every["organizations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["organization"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["contoso", "fabrikam"]);
        for secret in SECRETS {
            for (what, body) in [("page", &page), ("CSV", &csv)] {
                assert!(!body.contains(secret), "{secret} in the {what}");
            }
            assert!(!every.to_string().contains(secret), "{secret} in the API");
        }
        let bytes = database_bytes(&server);
        for secret in SECRETS {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} is in the database"
            );
        }

        // The switch: ana's run removes the saved token; the token in ~/.npmrc and the
        // unpushed work are hers to deal with, so they stay open.
        cloud.state.lock().unwrap().tenants.clear();
        assert_ne!(logon_run(&ana, &cloud, "ana"), Some(WAITING));
        let contoso = server
            .block_on(server.store.inventory("contoso", None))
            .unwrap();
        assert_eq!(contoso.waiting, 2, "ben and cy have not run since");
        assert_eq!(counts(&contoso, Category::OldToken), (3, 3));
        assert_eq!(counts(&contoso, Category::LocalWork), (1, 1));
        let ana_tokens: Vec<(String, Option<i64>)> =
            entries(&server, "contoso", Category::OldToken, false)
                .into_iter()
                .filter(|e| e.user_name == "ana")
                .map(|e| (e.target, e.closed_at))
                .collect();
        assert_eq!(ana_tokens.len(), 2, "{ana_tokens:?}");
        assert!(
            ana_tokens
                .iter()
                .any(|(t, closed)| t.ends_with(".git-credentials (contoso)") && closed.is_some()),
            "the saved token is closed once the run removed it: {ana_tokens:?}"
        );
        assert!(
            ana_tokens
                .iter()
                .any(|(t, closed)| t.ends_with(".npmrc:2") && closed.is_none()),
            "{ana_tokens:?}"
        );
    }
}

/// A hand-made report whose inventory lists `targets` as old tokens for contoso (and one entry
/// of a category a later agent may send).
fn with_inventory(at: time::OffsetDateTime, targets: &[&str]) -> ado_cutover::report::Report {
    use ado_cutover::report::{Found, Organization, Switch};
    let mut report = support::server::sample_report(
        "pc1",
        "dan",
        ado_cutover::report::Outcome::NothingToDo,
        at,
        "",
    );
    report.organizations = vec![Organization {
        name: "contoso".into(),
        switch: Switch::Waiting,
        verified: None,
    }];
    let mut found: Vec<Found> = targets
        .iter()
        .map(|t| Found {
            category: Category::OldToken,
            organization: "Contoso".into(),
            target: (*t).into(),
            kind: "credential-store".into(),
        })
        .collect();
    found.push(Found {
        category: Category::Unknown,
        organization: "contoso".into(),
        target: "later".into(),
        kind: "future".into(),
    });
    report.inventory = Some(found);
    report
}

/// Where contoso's old tokens are still open.
fn open_tokens(server: &TestServer) -> Vec<String> {
    entries(server, "contoso", Category::OldToken, true)
        .into_iter()
        .map(|e| e.target)
        .collect()
}

#[test]
fn a_late_report_never_replaces_a_newer_inventory_and_an_empty_one_closes_everything() {
    for postgres in backends() {
        let server = TestServer::start(postgres);
        let now = server.now();
        let minutes = |m: i64| now - time::Duration::minutes(m);
        let newer = with_inventory(minutes(10), &["~/.git-credentials", "~/.npmrc:3"]);
        assert_eq!(server.send(&newer).0, 202);
        assert_eq!(open_tokens(&server), ["~/.git-credentials", "~/.npmrc:3"]);
        // Delivered late from the spool: an older list changes nothing.
        let older = with_inventory(minutes(20), &["~/.bashrc:1"]);
        assert_eq!(server.send(&older).0, 202);
        assert_eq!(open_tokens(&server), ["~/.git-credentials", "~/.npmrc:3"]);
        // The same report again: the same list.
        assert_eq!(server.send(&newer).0, 200);
        assert_eq!(open_tokens(&server), ["~/.git-credentials", "~/.npmrc:3"]);
        // A later list without one closes it, and an empty list closes the rest.
        assert_eq!(
            server.send(&with_inventory(minutes(5), &["~/.npmrc:3"])).0,
            202
        );
        assert_eq!(open_tokens(&server), ["~/.npmrc:3"]);
        let mut empty = with_inventory(minutes(1), &[]);
        empty.inventory = Some(Vec::new());
        assert_eq!(server.send(&empty).0, 202);
        assert!(open_tokens(&server).is_empty());
        let inventory = server
            .block_on(server.store.inventory("contoso", None))
            .unwrap();
        assert_eq!(counts(&inventory, Category::OldToken), (1, 0));
        assert_eq!(
            inventory.categories.len(),
            Category::ALL.len(),
            "a category this server does not know is not stored"
        );
        // A report without an inventory (not turned on, or --only) leaves the list alone.
        let mut later = with_inventory(now, &["~/.other"]);
        later.inventory = None;
        assert_eq!(server.send(&later).0, 202);
        let all = entries(&server, "contoso", Category::OldToken, false);
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(all.iter().all(|e| e.closed_at.is_some()));
        // Page by page (as the CSV export reads), each page after the last entry of the one
        // before: the same entries in the same order.
        let mut paged = Vec::new();
        loop {
            let page = server
                .block_on(server.store.inventory_entries(
                    "contoso",
                    Category::OldToken,
                    false,
                    None,
                    paged.last(),
                    1,
                ))
                .unwrap();
            if page.is_empty() {
                break;
            }
            paged.extend(page);
        }
        assert_eq!(paged, all);
    }
}

#[test]
fn a_list_cut_to_fit_the_limits_closes_nothing_it_left_out() {
    for postgres in backends() {
        let server = TestServer::start(postgres);
        let now = server.now();
        let minutes = |m: i64| now - time::Duration::minutes(m);
        let whole = with_inventory(
            minutes(10),
            &["~/.git-credentials", "~/.npmrc:3", "~/.zshrc:9"],
        );
        assert_eq!(server.send(&whole).0, 202);
        assert_eq!(
            open_tokens(&server),
            ["~/.git-credentials", "~/.npmrc:3", "~/.zshrc:9"]
        );
        // The agent cut its list to fit the server's limits: what it left out is not gone.
        let mut cut = with_inventory(minutes(5), &["~/.npmrc:3"]);
        cut.inventory_left_out = 2;
        assert_eq!(server.send(&cut).0, 202);
        assert_eq!(
            open_tokens(&server),
            ["~/.git-credentials", "~/.npmrc:3", "~/.zshrc:9"]
        );
        let renewed = entries(&server, "contoso", Category::OldToken, true);
        let last_seen = |target: &str| {
            renewed
                .iter()
                .find(|e| e.target == target)
                .unwrap()
                .last_seen
        };
        assert!(
            last_seen("~/.npmrc:3") > last_seen("~/.git-credentials"),
            "the cut list still renews what it lists: {renewed:?}"
        );
        // The next whole list closes what it no longer has.
        assert_eq!(
            server.send(&with_inventory(minutes(1), &["~/.npmrc:3"])).0,
            202
        );
        assert_eq!(open_tokens(&server), ["~/.npmrc:3"]);
    }
}

#[test]
fn the_agent_sends_an_inventory_only_when_asked_and_only_from_a_whole_run() {
    let server = TestServer::start(false);
    let cloud = FakeCloud::before_the_switch(&["contoso"]);
    let sandbox = ana(&server);
    let plan = |args: &[&str]| -> Value {
        let mut cmd = sandbox.cmd();
        cmd.args(["plan", "--json"]).args(args);
        for (k, v) in cloud.env() {
            cmd.env(k, v);
        }
        support::json_run(&mut cmd).1
    };
    let whole = plan(&[]);
    let found = whole["inventory"].as_array().expect("an inventory");
    assert!(
        found
            .iter()
            .any(|f| f["category"] == "ssh" && f["organization"] == "contoso"),
        "{found:#?}"
    );
    // fabrikam is configured and waits too, but nothing of it is on this machine.
    assert!(
        found.iter().all(|f| f["organization"] == "contoso"),
        "{found:#?}"
    );
    assert!(
        plan(&["--skip", "verify"]).get("inventory").is_none(),
        "--skip: not whole"
    );
    let text = std::fs::read_to_string(sandbox.paths.managed_config()).unwrap();
    sandbox.write_managed_config(&text.replace("send_plans = true\n", ""));
    assert!(plan(&[]).get("inventory").is_none(), "not turned on");
}
