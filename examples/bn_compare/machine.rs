//! What the report says of where it ran: the commit, the compiler, the processor and the load.

use serde::{Deserialize, Serialize};
use std::process::Command;

/// The commit, compiler and machine a study ran on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    /// `git rev-parse HEAD` in the directory the study ran from (`unknown` outside git).
    pub commit: String,
    /// Whether tracked files differed from that commit.
    pub uncommitted_changes: bool,
    /// `rustc --version` of the compiler that built the study.
    pub rustc: String,
    /// The processor's model name (`/proc/cpuinfo`).
    pub cpu: String,
    /// The cores the process may use.
    pub cores: usize,
    /// `/proc/loadavg` (1, 5, 15 minutes) when the study started.
    pub load_average_start: String,
    /// `/proc/loadavg` when it ended.
    pub load_average_end: String,
}

impl Machine {
    /// This machine, now (the end's load average is set when the study ends).
    pub fn now() -> Machine {
        let git = |args: &[&str]| {
            let out = Command::new("git").args(args).output().ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                let line = info.lines().find(|l| l.starts_with("model name"))?;
                Some(line.split_once(':')?.1.trim().to_string())
            });
        Machine {
            commit: git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_string()),
            uncommitted_changes: git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty()),
            rustc: env!("BN_STUDY_RUSTC").to_string(),
            cpu: cpu.unwrap_or_else(|| "an unknown processor".to_string()),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_average_start: load_average(),
            load_average_end: String::new(),
        }
    }
}

/// The load averages of the machine, as `/proc/loadavg` gives them (`unknown` elsewhere).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}
