//! `TAPEGRAD_THREADS` selects the backend: this test runs itself again in child processes,
//! with the variable set to each value, since it is read once per process.

use std::process::Command;

use tapegrad_kernels::{backend, gemm, threads, Backend, MatRef, BACKEND_VAR};

/// Set in the child processes, which then report what they ran on instead of spawning more.
const CHILD: &str = "TAPEGRAD_KERNELS_TEST_CHILD";

/// A product large enough to be split across threads, as bits.
fn product_bits() -> Vec<u32> {
    let (m, k, n) = (96, 300, 80);
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i * 53) % 97) as f32 / 48.0 - 1.0)
        .collect();
    let mut c = vec![0.0; m * n];
    gemm(MatRef::new(&a, m, k), MatRef::new(&b, k, n), 0.0, &mut c);
    c.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn the_variable_selects_the_backend_and_the_bits_do_not_change() {
    if std::env::var_os(CHILD).is_some() {
        let sum: u64 = product_bits().iter().map(|&b| b as u64).sum();
        println!("backend={:?} threads={} bits={sum}", backend(), threads());
        return;
    }
    let me = std::env::current_exe().unwrap();
    let run = |value: &str, threads: &str| -> String {
        let out = Command::new(&me)
            .args([
                "--exact",
                "the_variable_selects_the_backend_and_the_bits_do_not_change",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .env(BACKEND_VAR, value)
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(out.status.success(), "{value}: {out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        // The test harness prints the test's name on the same line, before the report.
        let at = stdout.find("backend=");
        let report = &stdout[at.unwrap_or_else(|| panic!("{value}: no report in {stdout:?}"))..];
        report.lines().next().unwrap().to_string()
    };
    let default = format!("{:?}", Backend::DEFAULT);
    let reports = [
        (run("team", "2"), "Team", "2"),
        (run("RAYON", "2"), "Rayon", "2"),
        (run("rayon", "3"), "Rayon", "3"),
        (run("", "2"), default.as_str(), "2"),
        (run("openmp", "1"), default.as_str(), "1"),
    ];
    let bits = |r: &str| r.split("bits=").nth(1).unwrap().to_string();
    for (report, backend, threads) in &reports {
        let expected = format!("backend={backend} threads={threads} ");
        assert!(
            report.starts_with(&expected),
            "{report}, expected {expected}"
        );
        assert_eq!(bits(report), bits(&reports[0].0), "{report}");
    }
}
