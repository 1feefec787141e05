//! The person's work identity (user principal name), learnt without a sign-in where the machine
//! knows it, so the dashboard can match reports to the users the admins expect.
//!
//! In order of trust:
//! 1. the operating system's account on an Entra ID or Active Directory joined Windows machine
//!    (`GetUserNameExW(NameUserPrincipal)`), source `windows-account`;
//! 2. the account Git Credential Manager bound to an organization
//!    (`credential.azrepos:org/<org>.username`, a configured organization's first), source
//!    `gcm-binding`; remembered in the agent's state, because the `credentials` task clears the
//!    binding;
//! 3. the global `user.email` git setting, source `git-user-email`: a labelled guess.
//!
//! Read once when a command starts, before any task changes anything.

use crate::agent::data::state::State;
use crate::agent::env::Env;
use crate::agent::paths::Paths;
use crate::agent::platform;
use crate::agent::repos::gitconfig;
use crate::agent::settings::Settings;

/// Where an identity came from (the report's `user.upn_source`).
pub(super) const WINDOWS_ACCOUNT: &str = "windows-account";
pub(super) const GCM_BINDING: &str = "gcm-binding";
pub(super) const GIT_USER_EMAIL: &str = "git-user-email";

/// A work identity and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Identity {
    pub upn: String,
    pub source: &'static str,
}

/// The person's work identity, if the machine knows it.
pub(super) fn learn(paths: &Paths, env: &Env, settings: &Settings) -> Option<Identity> {
    // The machine's own account only outside a sandbox: tests must not read this machine's.
    let os_account = match &paths.sandbox {
        None => platform::user_principal_name(),
        Some(_) => None,
    };
    if let Some(upn) = os_account.filter(|u| looks_like_upn(u)) {
        return Some(Identity {
            upn,
            source: WINDOWS_ACCOUNT,
        });
    }
    let global = gitconfig::global_files(paths, env);
    if let Some(upn) = gcm_binding(&global, settings.organizations()) {
        return Some(Identity {
            upn,
            source: GCM_BINDING,
        });
    }
    if let Some(upn) = State::load(&paths.data_dir).work_account {
        return Some(Identity {
            upn,
            source: GCM_BINDING,
        });
    }
    gitconfig::values_in_files(&global, "user.email")
        .into_iter()
        .rev()
        .find(|e| looks_like_upn(e))
        .map(|upn| Identity {
            upn,
            source: GIT_USER_EMAIL,
        })
}

/// The account GCM bound to an organization: a configured organization's first, else any.
fn gcm_binding(global: &[std::path::PathBuf], configured: &[String]) -> Option<String> {
    let mut bindings = Vec::new();
    for file in global {
        if let Ok(entries) =
            gitconfig::entries_in_file(file, r"^credential\.azrepos:org/.*\.username$")
        {
            bindings.extend(entries);
        }
    }
    let org_of = |key: &str| {
        key.strip_prefix("credential.azrepos:org/")
            .and_then(|rest| rest.strip_suffix(".username"))
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let usable = |value: &String| looks_like_upn(value);
    bindings
        .iter()
        .find(|(key, value)| {
            usable(value)
                && configured
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(&org_of(key)))
        })
        .or_else(|| bindings.iter().find(|(_, value)| usable(value)))
        .map(|(_, value)| value.clone())
}

/// `name@domain.tld`, without spaces: what Entra user principal names look like.
fn looks_like_upn(text: &str) -> bool {
    let Some((name, domain)) = text.split_once('@') else {
        return false;
    };
    !name.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.contains(char::is_whitespace)
        && !domain.contains('@')
        && text.len() <= 256
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::settings::Inputs;

    fn learn_in(gitconfig: &str, config: &str, state: Option<&str>) -> Option<Identity> {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        std::fs::create_dir_all(&paths.home).unwrap();
        std::fs::write(paths.home.join(".gitconfig"), gitconfig).unwrap();
        std::fs::create_dir_all(paths.user_config().parent().unwrap()).unwrap();
        std::fs::write(paths.user_config(), config).unwrap();
        if let Some(account) = state {
            let mut s = State::load(&paths.data_dir);
            s.work_account = Some(account.to_string());
            s.save(&paths.data_dir).unwrap();
        }
        let env = Env::default();
        let settings = Settings::resolve(&paths, &env, &Inputs::default()).unwrap();
        learn(&paths, &env, &settings)
    }

    #[test]
    fn the_binding_of_a_configured_organization_comes_before_a_guess() {
        let config = "[user]\n\temail = alice@home.example\n\
                      [credential \"azrepos:org/other\"]\n\tusername = a@other.example\n\
                      [credential \"azrepos:org/contoso\"]\n\tusername = alice@contoso.com\n";
        assert_eq!(
            learn_in(config, "organizations = [\"contoso\"]\n", None),
            Some(Identity {
                upn: "alice@contoso.com".into(),
                source: GCM_BINDING
            })
        );
        // The binding is gone after a run: the remembered one is used.
        assert_eq!(
            learn_in(
                "[user]\n\temail = alice@home.example\n",
                "",
                Some("alice@contoso.com")
            ),
            Some(Identity {
                upn: "alice@contoso.com".into(),
                source: GCM_BINDING
            })
        );
        assert_eq!(
            learn_in("[user]\n\temail = alice@home.example\n", "", None),
            Some(Identity {
                upn: "alice@home.example".into(),
                source: GIT_USER_EMAIL
            })
        );
        assert_eq!(
            learn_in("[user]\n\temail = not an address\n", "", None),
            None
        );
    }

    #[test]
    fn only_address_shaped_names_count() {
        assert!(looks_like_upn("alice@contoso.com"));
        assert!(!looks_like_upn("alice"));
        assert!(!looks_like_upn("CONTOSO\\alice"));
        assert!(!looks_like_upn("alice@localhost"));
        assert!(!looks_like_upn("a b@contoso.com"));
        assert!(!looks_like_upn("@contoso.com"));
    }
}
