//! An example program (`mnist_mlp`, `mnist_cnn`) run as a user runs it, for the CLI tests
//! (each includes this file with `#[path]`).
//!
//! `cargo test` of the workspace builds the examples with the tests, so the binary sits in
//! `target/<profile>/examples/`, beside the test's `deps/` folder; a run of this package alone
//! needs `cargo build --example NAME` (same profile) first.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// One example, by its name.
#[derive(Clone, Copy)]
pub struct Example(pub &'static str);

impl Example {
    /// The example's binary, built by cargo beside this test.
    pub fn binary(self) -> PathBuf {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap();
        let path = profile_dir.join("examples").join(format!(
            "{}{}",
            self.0,
            std::env::consts::EXE_SUFFIX
        ));
        assert!(
            path.is_file(),
            "{} is missing: `cargo test` builds it with the tests; a run filtered with --test \
             needs `cargo build --example {}` (same profile) first",
            path.display(),
            self.0
        );
        path
    }

    /// The example as a command, run from the repository's root as a user runs it (so that
    /// its default data folder is the repository's `datasets/mnist`).
    pub fn command(self) -> Command {
        let mut command = Command::new(self.binary());
        command.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
        command
    }

    /// Runs the example with `args` (MNIST from `$MNIST_DIR`, as the tests have it).
    pub fn run(self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .expect("the example runs")
    }

    /// Asserts the run exited with `status` and its stderr holds every one of `needles`;
    /// returns the stderr.
    pub fn assert_fails(self, args: &[&str], status: i32, needles: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(status), "{args:?}: {stderr}");
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{args:?}: no `{needle}` in: {stderr}"
            );
        }
        stderr
    }

    /// Runs the example with `args`, asserts it succeeded, and returns its stdout.
    pub fn assert_succeeds(self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    /// Starts the example with `args` (several epochs and a `--save`), sends it SIGINT
    /// (Ctrl-C) once it has printed its first epoch's line, and asserts it exits 130 saying
    /// it was interrupted; returns its stderr.
    pub fn assert_ctrl_c_exits_130(self, args: &[&str]) -> String {
        use std::io::BufRead;
        let mut child = spawn_piped(self.command().args(args));
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        assert!(first.starts_with("epoch  1/"), "{first}");
        let kill = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(130), "{stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        stderr
    }

    /// Trains one epoch of `args` saving a checkpoint in `dir`, resumes it up to two epochs
    /// with `resume_args` added, and asserts that the exported weights are those of a
    /// straight two-epoch run; returns the checkpoint's path.
    pub fn assert_resume_extends(self, dir: &Path, args: &[&str], resume_args: &[&str]) -> String {
        let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
        let (ck, resumed, straight) = (path("run.ckpt"), path("resumed.st"), path("straight.st"));
        let run_ok = |extra: &[&str]| self.assert_succeeds(&[args, extra].concat());
        run_ok(&["--epochs", "1", "--save", &ck]);
        assert_eq!(epochs_done(Path::new(&ck)), 1);
        run_ok(
            &[
                &["--epochs", "2", "--resume", &ck, "--export", &resumed],
                resume_args,
            ]
            .concat(),
        );
        run_ok(&["--epochs", "2", "--export", &straight]);
        assert_eq!(
            std::fs::read(&resumed).unwrap(),
            std::fs::read(&straight).unwrap(),
            "an extended run ends with other weights than a straight one"
        );
        ck
    }
}

/// Starts `command` with its stdout and stderr piped to the test.
pub fn spawn_piped(command: &mut Command) -> Child {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts")
}

/// The epochs a checkpoint written by an example has finished.
pub fn epochs_done(path: &Path) -> usize {
    let checkpoint = tapegrad::checkpoint::Checkpoint::load(path).unwrap();
    checkpoint
        .progress
        .expect("a training checkpoint")
        .epochs_done
}

/// A data folder that does not exist: a run given it and refused for another reason shows
/// that the refusal came before the data, so before training.
pub fn no_data(dir: &Path) -> String {
    dir.join("no-data").to_str().unwrap().to_string()
}
