//! The command line, as clap definitions only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Finish moving this computer to Microsoft Entra ID for Azure DevOps.
///
/// With no command, ado-cutover explains itself, shows its plan, asks once, applies it and tells
/// you what is left for you to do.
#[derive(Debug, Parser)]
#[command(name = "ado-cutover", version, about, long_about)]
#[command(
    after_help = "Exit codes: 0 done or nothing to do; 10 done, but you still have steps to take \
(for `plan`: something to do); 11 done with what could be checked, but something could not be \
(offline, a keyring not running): run again later; 12 an organization has not switched to its \
new tenant yet, nothing changed for it: run again later; 1 a task failed; 2 usage or configuration \
error, nothing changed; 3 another ado-cutover is running."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub common: Common,
}

/// Options every command takes.
#[derive(Debug, Args, Default, Clone)]
pub struct Common {
    /// Work only on these tasks (comma-separated): switch, gcm-tenant-cache, pinned-tenants,
    /// credentials, remotes, ssh-key, browser-sign-out, guidance, verify
    #[arg(long, global = true, value_delimiter = ',', value_name = "TASK")]
    pub only: Vec<String>,
    /// Leave these tasks out (comma-separated task ids, as for --only)
    #[arg(long, global = true, value_delimiter = ',', value_name = "TASK")]
    pub skip: Vec<String>,
    /// An Azure DevOps organization that moved (repeatable); overrides `organizations`
    #[arg(long = "org", global = true, value_name = "NAME")]
    pub orgs: Vec<String>,
    /// Read this configuration file instead of your own
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Rewrite remotes on the old visualstudio.com hosts (sets remotes.fix_legacy_hosts)
    #[arg(long, global = true)]
    pub fix_legacy_hosts: bool,
    /// Remove passwords and tokens from remote URLs (sets remotes.remove_url_credentials)
    #[arg(long, global = true)]
    pub remove_url_credentials: bool,
    /// Act on every organization now, without checking that it switched to expected_tenant
    #[arg(long, global = true)]
    pub now: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what would change. Changes nothing, ever.
    Plan {
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
    /// Apply the plan.
    Run {
        /// Do not ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
        /// For device management: never ask, log to a file, print one summary line
        #[arg(long)]
        silent: bool,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
    /// Check that git, SSH and package feeds work with the new identity. Changes nothing.
    Verify {
        /// For device management: never ask, log to a file, print one summary line
        #[arg(long)]
        silent: bool,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
    /// Restore every reversible change ado-cutover made.
    Undo {
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show the last report, or send the reports waiting for the server.
    Report {
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
        /// Send the reports that could not be delivered yet to report.endpoint
        #[arg(long)]
        send: bool,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Only the repository search of the `remotes` task, for benchmarks (prints the count).
    #[command(hide = true)]
    Discover {
        /// Folders to search
        roots: Vec<PathBuf>,
    },
    /// Only the key generation of the `ssh-key` task, for benchmarks: writes a new key pair
    /// (never over an existing file) the way the task does.
    #[command(hide = true)]
    Keygen {
        /// Where the private key goes (the public key gets `.pub` added)
        path: PathBuf,
        /// `rsa` or `ed25519`
        #[arg(long, default_value = "rsa")]
        r#type: String,
        /// RSA key size
        #[arg(long, default_value_t = 4096)]
        bits: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show every setting, its value and where it came from.
    Show {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// For installers (MSI, pkg, deb): write the machine-wide managed configuration and the
    /// enrollment token file. Organizations come from --org (comma-separated works too).
    WriteManaged {
        /// The ado-cutover-server URL reports go to
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// The enrollment token (prefer --token-stdin: a command line can be seen by others)
        #[arg(long, value_name = "TOKEN", conflicts_with = "token_stdin")]
        token: Option<String>,
        /// Read the enrollment token from standard input
        #[arg(long)]
        token_stdin: bool,
        /// The Microsoft Entra tenant id the organizations moved to
        #[arg(long, value_name = "GUID")]
        tenant: Option<String>,
    },
    /// For uninstallers: remove the managed configuration and the enrollment token file that
    /// write-managed wrote (the folder too, when nothing else is in it).
    RemoveManaged,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_names_every_task_id() {
        let help = Cli::command().render_help().to_string();
        for id in crate::agent::tasks::TASK_IDS {
            assert!(help.contains(id), "--help does not name {id}:\n{help}");
        }
    }

    #[test]
    fn common_options_go_before_or_after_the_command() {
        let cli = Cli::try_parse_from([
            "ado-cutover",
            "--org",
            "a",
            "--org",
            "b",
            "plan",
            "--skip",
            "x,y",
        ])
        .unwrap();
        assert_eq!(cli.common.orgs, ["a", "b"]);
        assert_eq!(cli.common.skip, ["x", "y"]);
        assert!(matches!(cli.command, Some(Command::Plan { json: false })));
    }
}
