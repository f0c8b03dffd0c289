//! Records the compiler's version for the study's report (`BN_STUDY_RUSTC`): the report says
//! which rustc built the numbers it shows.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_else(|| "an unknown rustc".to_string());
    println!("cargo:rustc-env=BN_STUDY_RUSTC={version}");
    println!("cargo:rerun-if-changed=build.rs");
}
