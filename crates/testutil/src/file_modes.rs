//! File-mode tests as root: root ignores a folder's read-only mode, so a test of what a user
//! meets there re-runs itself without the capabilities that bypass modes.

use std::process::Command;

/// Set in the child that [`rerun_without_mode_bypass`] starts.
const CHILD_ENV: &str = "TAPEGRAD_TEST_WITHOUT_DAC";

/// Whether this process ignores file modes (CAP_DAC_OVERRIDE, which root has).
pub fn bypasses_file_modes() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 1) != 0)
}

/// Runs test `name` (its full path in the test binary) again in a child process without
/// CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH when this process has them, so that file modes
/// apply to it as to any user, and asserts that it passed there; returns `true` if it did
/// (the caller then stops: the child ran the body). Needs `setpriv` (util-linux) as root.
pub fn rerun_without_mode_bypass(name: &str) -> bool {
    if !bypasses_file_modes() {
        return false;
    }
    assert!(
        std::env::var_os(CHILD_ENV).is_none(),
        "setpriv did not drop the capabilities"
    );
    let caps = "-dac_override,-dac_read_search";
    let output = Command::new("setpriv")
        .arg(format!("--inh-caps={caps}"))
        .arg(format!("--bounding-set={caps}"))
        .arg("--")
        .arg(std::env::current_exe().expect("the test binary's path"))
        .args(["--exact", name, "--test-threads", "1", "--nocapture"])
        .env(CHILD_ENV, "1")
        .output()
        .expect("setpriv (util-linux) runs the mode-dependent tests for root");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child run of {name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    true
}
