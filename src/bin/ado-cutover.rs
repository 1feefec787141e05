//! The `ado-cutover` agent binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    ado_cutover::agent::main()
}
