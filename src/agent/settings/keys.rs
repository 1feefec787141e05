//! The configuration schema: every key, its environment variable, its type and its meaning.
//!
//! One list, so the file reader, the environment reader, `config show` and the README all speak
//! of the same keys. Later tasks add their keys here.

/// The shape a key's value has in TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string.
    Text,
    /// A list of strings (comma-separated in an environment variable).
    List,
    /// A file path.
    Path,
    /// `true` or `false` (also `1`/`0`, `yes`/`no` in an environment variable).
    Bool,
    /// A whole number, written bare (`365`) or quoted (`"365"`).
    Number,
}

/// One configuration key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    /// The dotted TOML name, e.g. `report.endpoint`.
    pub name: &'static str,
    /// The environment variable that sets it.
    pub env: &'static str,
    pub kind: Kind,
    /// What it means, for `config show` and the docs.
    pub help: &'static str,
    /// The value when nothing sets it, declared once here: `config show` prints it and
    /// [`crate::agent::settings::Settings::text`] returns it.
    pub default: Option<&'static str>,
}

pub(crate) const ORGANIZATIONS: Key = Key {
    name: "organizations",
    env: "ADO_CUTOVER_ORGANIZATIONS",
    kind: Kind::List,
    help: "Azure DevOps organizations that moved to Microsoft Entra ID; only these are touched",
    default: None,
};
pub(crate) const EXPECTED_TENANT: Key = Key {
    name: "expected_tenant",
    env: "ADO_CUTOVER_EXPECTED_TENANT",
    kind: Kind::Text,
    help: "the Microsoft Entra tenant id (a GUID) the organizations are connected to now",
    default: None,
};
pub(crate) const WAIT_FOR_SWITCH: Key = Key {
    name: "wait_for_switch",
    env: "ADO_CUTOVER_WAIT_FOR_SWITCH",
    kind: Kind::Bool,
    help: "with expected_tenant and organizations set, change nothing for an organization until Azure DevOps shows it on that tenant (`run --now` acts anyway); default true",
    default: Some("true"),
};
pub(crate) const REPORT_ENDPOINT: Key = Key {
    name: "report.endpoint",
    env: "ADO_CUTOVER_REPORT_ENDPOINT",
    kind: Kind::Text,
    help: "the ado-cutover-server URL reports are sent to",
    default: None,
};
pub(crate) const ENROLLMENT_TOKEN_FILE: Key = Key {
    name: "report.enrollment_token_file",
    env: "ADO_CUTOVER_ENROLLMENT_TOKEN_FILE",
    kind: Kind::Path,
    help: "a file holding the enrollment token the server expects",
    default: None,
};

pub(crate) const REPORT_PLANS: Key = Key {
    name: "report.send_plans",
    env: "ADO_CUTOVER_REPORT_SEND_PLANS",
    kind: Kind::Bool,
    help: "also send the reports of `plan`, and with every whole run's report the inventory of what the switch touches (by default only `run` and `undo` reports are sent)",
    default: Some("false"),
};
pub(crate) const REPORT_GROUP: Key = Key {
    name: "report.group",
    env: "ADO_CUTOVER_REPORT_GROUP",
    kind: Kind::Text,
    help: "the rollout group (a wave, a department, a site) the dashboard counts this device in: at most 100 bytes, no control characters",
    default: None,
};

pub(crate) const SIGN_OUT_MICROSOFT: Key = Key {
    name: "browser_sign_out.microsoft_sign_in",
    env: "ADO_CUTOVER_SIGN_OUT_MICROSOFT",
    kind: Kind::Bool,
    help: "also delete Microsoft sign-in cookies (login.microsoftonline.com, login.live.com), which signs the user out of every Microsoft service; default false",
    default: Some("false"),
};

pub(crate) const REMOTES_ROOTS: Key = Key {
    name: "remotes.roots",
    env: "ADO_CUTOVER_REMOTES_ROOTS",
    kind: Kind::List,
    help: "folders searched for git repositories (`~/` is the home folder); default: the home folder",
    default: None,
};
pub(crate) const REMOTES_SKIP: Key = Key {
    name: "remotes.skip",
    env: "ADO_CUTOVER_REMOTES_SKIP",
    kind: Kind::List,
    help: "more folder names never searched, besides node_modules, caches, trash and temp",
    default: None,
};
pub(crate) const FIX_LEGACY_HOSTS: Key = Key {
    name: "remotes.fix_legacy_hosts",
    env: "ADO_CUTOVER_FIX_LEGACY_HOSTS",
    kind: Kind::Bool,
    help: "rewrite remotes on *.visualstudio.com / vs-ssh.visualstudio.com to dev.azure.com (journaled for undo); default false",
    default: Some("false"),
};
pub(crate) const REMOVE_URL_CREDENTIALS: Key = Key {
    name: "remotes.remove_url_credentials",
    env: "ADO_CUTOVER_REMOVE_URL_CREDENTIALS",
    kind: Kind::Bool,
    help: "remove passwords and tokens written into remote URLs (not restorable by undo); default false",
    default: Some("false"),
};

pub(crate) const CLEAR_UNATTRIBUTED: Key = Key {
    name: "credentials.clear_unattributed",
    env: "ADO_CUTOVER_CLEAR_UNATTRIBUTED",
    kind: Kind::Bool,
    help: "also clear saved dev.azure.com credentials that name no organization (they cannot be told apart from other organizations'); default false",
    default: Some("false"),
};
pub(crate) const CLEAR_MSAL_CACHE: Key = Key {
    name: "credentials.clear_msal_cache",
    env: "ADO_CUTOVER_CLEAR_MSAL_CACHE",
    kind: Kind::Bool,
    help: "also delete the shared Microsoft sign-in cache (.IdentityService), which signs the user out of Visual Studio and Azure tools; default false",
    default: Some("false"),
};
pub(crate) const REWRITE_PINNED_TENANTS: Key = Key {
    name: "pinned_tenants.rewrite",
    env: "ADO_CUTOVER_REWRITE_PINNED_TENANTS",
    kind: Kind::Bool,
    help: "rewrite the old tenant id pinned in repository files (.vscode/mcp.json --tenant, adoCodespacesAuth.tenantID) to expected_tenant (journaled for undo); default false",
    default: Some("false"),
};
pub(crate) const CLEAR_VISUAL_STUDIO_TOKENS: Key = Key {
    name: "credentials.clear_visual_studio_tokens",
    env: "ADO_CUTOVER_CLEAR_VISUAL_STUDIO_TOKENS",
    kind: Kind::Bool,
    help: "Windows: move Visual Studio's registry sign-in tokens of moved organizations aside (undo puts them back); default false: the plan shows the reg delete command",
    default: Some("false"),
};

pub(crate) const SSH_KEY_CREATE: Key = Key {
    name: "ssh_key.create",
    env: "ADO_CUTOVER_SSH_KEY_CREATE",
    kind: Kind::Text,
    help: "make a new SSH key for Azure DevOps: `auto` (when SSH is used with Azure DevOps; default), `always` or `never`",
    default: Some("auto"),
};
pub(crate) const SSH_KEY_TYPE: Key = Key {
    name: "ssh_key.type",
    env: "ADO_CUTOVER_SSH_KEY_TYPE",
    kind: Kind::Text,
    help: "the new key's type: `rsa` (default; all Azure DevOps accepts as of 2026) or `ed25519`",
    default: Some("rsa"),
};
pub(crate) const SSH_KEY_BITS: Key = Key {
    name: "ssh_key.bits",
    env: "ADO_CUTOVER_SSH_KEY_BITS",
    kind: Kind::Number,
    help: "the RSA key size: 3072 or 4096 (default)",
    default: Some("4096"),
};
pub(crate) const SSH_KEY_PASSPHRASE: Key = Key {
    name: "ssh_key.passphrase",
    env: "ADO_CUTOVER_SSH_KEY_PASSPHRASE_POLICY",
    kind: Kind::Text,
    help: "`optional` (the guided run offers one; default), `required` (no key without one; silent runs leave the key to the user) or `none`",
    default: Some("optional"),
};
pub(crate) const SSH_KEY_REGISTRATION: Key = Key {
    name: "ssh_key.registration",
    env: "ADO_CUTOVER_SSH_KEY_REGISTRATION",
    kind: Kind::Text,
    help: "how the key gets to Azure DevOps: `api` (sign in with Entra and register it; default) or `guided` (the user adds it on the SSH keys page)",
    default: Some("api"),
};
pub(crate) const SSH_KEY_VALID_DAYS: Key = Key {
    name: "ssh_key.valid_days",
    env: "ADO_CUTOVER_SSH_KEY_VALID_DAYS",
    kind: Kind::Number,
    help: "how many days the registered key is valid: 1 to 365 (default 365)",
    default: Some("365"),
};
pub(crate) const ENTRA_CLIENT_ID: Key = Key {
    name: "entra.client_id",
    env: "ADO_CUTOVER_ENTRA_CLIENT_ID",
    kind: Kind::Text,
    help: "the application (client) id of the company's Entra app registration used to sign in (docs/entra-app.md)",
    default: None,
};
pub(crate) const ENTRA_TENANT: Key = Key {
    name: "entra.tenant",
    env: "ADO_CUTOVER_ENTRA_TENANT",
    kind: Kind::Text,
    help: "the tenant to sign in to; default expected_tenant, else the organization's own",
    default: None,
};

pub(crate) const PAT_CREATE: Key = Key {
    name: "pat.create",
    env: "ADO_CUTOVER_PAT_CREATE",
    kind: Kind::Bool,
    help: "offer each person a new personal access token in the guided run (shown once; saved only where they choose); default false",
    default: Some("false"),
};
pub(crate) const PAT_SCOPES: Key = Key {
    name: "pat.scopes",
    env: "ADO_CUTOVER_PAT_SCOPES",
    kind: Kind::Text,
    help: "the new token's scopes, space-separated (default `vso.code_write`)",
    default: Some("vso.code_write"),
};
pub(crate) const PAT_VALID_DAYS: Key = Key {
    name: "pat.valid_days",
    env: "ADO_CUTOVER_PAT_VALID_DAYS",
    kind: Kind::Number,
    help: "how many days the new token is valid: 1 to 365 (default 30)",
    default: Some("30"),
};

/// Every key, in the order `config show` lists them.
pub(crate) const ALL: &[Key] = &[
    ORGANIZATIONS,
    EXPECTED_TENANT,
    WAIT_FOR_SWITCH,
    REPORT_ENDPOINT,
    ENROLLMENT_TOKEN_FILE,
    REPORT_PLANS,
    REPORT_GROUP,
    CLEAR_UNATTRIBUTED,
    CLEAR_MSAL_CACHE,
    CLEAR_VISUAL_STUDIO_TOKENS,
    SIGN_OUT_MICROSOFT,
    REMOTES_ROOTS,
    REMOTES_SKIP,
    FIX_LEGACY_HOSTS,
    REMOVE_URL_CREDENTIALS,
    REWRITE_PINNED_TENANTS,
    SSH_KEY_CREATE,
    SSH_KEY_TYPE,
    SSH_KEY_BITS,
    SSH_KEY_PASSPHRASE,
    SSH_KEY_REGISTRATION,
    SSH_KEY_VALID_DAYS,
    ENTRA_CLIENT_ID,
    ENTRA_TENANT,
    PAT_CREATE,
    PAT_SCOPES,
    PAT_VALID_DAYS,
];

/// The key with this dotted name.
pub(crate) fn find(name: &str) -> Option<&'static Key> {
    ALL.iter().find(|key| key.name == name)
}

/// The tables that hold keys (`report` for `report.endpoint`).
pub(crate) fn is_table(name: &str) -> bool {
    ALL.iter().any(|key| {
        key.name
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}
