//! `ado-cutover-server`: see `ado_cutover::server`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = ado_cutover::server::cli::Cli::parse();
    match ado_cutover::server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            ado_cutover::server::cli::say(&format!("error: {err}\n"));
            std::process::ExitCode::from(2)
        }
    }
}
