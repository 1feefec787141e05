//! Writes the man pages and shell completions of both binaries, from their clap definitions, for
//! the packages: `cargo run --example gen-assets -- <folder>` makes `<folder>/man/*.1` and
//! `<folder>/completions/{bash,zsh,fish,powershell}/...`.
#![allow(clippy::print_stderr)] // a build helper that says what it wrote

use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;

fn main() -> std::io::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/assets".into()),
    );
    // The server's pages only when it is built (`--features server`).
    let commands = [
        Some(ado_cutover::agent::Cli::command()),
        #[cfg(feature = "server")]
        Some(ado_cutover::server::cli::Cli::command()),
    ];
    let commands: Vec<_> = commands.into_iter().flatten().collect();
    let man = out.join("man");
    std::fs::create_dir_all(&man)?;
    for command in &commands {
        let name = command.get_name().to_string();
        let mut page = Vec::new();
        clap_mangen::Man::new(command.clone()).render(&mut page)?;
        std::fs::write(man.join(format!("{name}.1")), page)?;
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell] {
            let dir = out.join("completions").join(shell.to_string());
            std::fs::create_dir_all(&dir)?;
            clap_complete::generate_to(shell, &mut command.clone(), &name, &dir)?;
        }
    }
    eprintln!("wrote {}", out.display());
    Ok(())
}
