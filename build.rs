//! Two compile-time facts. The server's migrations are embedded, so a change there rebuilds
//! it. And one for the tests: `cfg(wine)` when the Windows build's tests run under
//! Wine (the platform check sets Wine as the runner). Tests that write to the Windows
//! Credential Manager run only then, in Wine's throwaway prefix; on a real Windows machine
//! they are ignored, with the reason, instead of touching the person's credentials.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(wine)");
    println!("cargo::rerun-if-changed=build.rs");
    // The server embeds its migrations (`sqlx::migrate!`): a new file there must rebuild it.
    println!("cargo::rerun-if-changed=migrations");
    println!("cargo::rerun-if-env-changed=CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER");
    let target = std::env::var("TARGET").unwrap_or_default();
    let runner = std::env::var("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER").unwrap_or_default();
    if target.contains("windows") && runner.contains("wine") {
        println!("cargo::rustc-cfg=wine");
    }
}
