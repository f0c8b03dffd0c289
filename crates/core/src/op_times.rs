//! Wall time per kind of op, forward and backward, as a tape measures it when asked
//! ([`Tape::time_ops`](crate::Tape::time_ops)): where a training step's time goes, measured
//! within the step, so that a share (what BatchNorm costs against the rest of the step)
//! does not depend on how fast a shared machine happens to be running that minute.

use std::fmt;
use std::time::{Duration, Instant};

/// Which half of an op a time is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pass {
    Forward,
    Backward,
}

/// Runs `f`, one op's forward or backward, adding its wall time to `times` under the op's
/// `name` and `pass` when timing (`times` is `Some`); not timing, it only runs `f` (and never
/// asks a boxed op its name).
pub(crate) fn timed<T>(
    times: Option<&mut OpTimes>,
    name: impl FnOnce() -> &'static str,
    pass: Pass,
    f: impl FnOnce() -> T,
) -> T {
    let Some(times) = times else { return f() };
    let started = Instant::now();
    let result = f();
    times.add(name(), pass, started.elapsed());
    result
}

/// The time spent in one kind of op (all ops of one [`Op::name`](crate::Op::name)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpTime {
    /// The op's name.
    pub name: &'static str,
    /// Forwards run.
    pub forward_calls: u64,
    /// Their wall time, summed.
    pub forward: Duration,
    /// Backwards run.
    pub backward_calls: u64,
    /// Their wall time, summed.
    pub backward: Duration,
}

impl OpTime {
    /// Forward and backward together.
    pub fn total(&self) -> Duration {
        self.forward + self.backward
    }
}

/// Wall time per kind of op, in the order the kinds were first run. Only the ops' own
/// `forward` and `backward` are timed: not the tape's bookkeeping around them, nor what runs
/// outside ops (an optimizer step, gathering a batch).
///
/// ```
/// use tapegrad_core::{Tape, Tensor};
///
/// let mut tape = Tape::new();
/// tape.time_ops(true);
/// for _ in 0..2 {
///     tape.reset(); // the times are kept across resets
///     let x = tape.variable(Tensor::from_vec(vec![2], vec![1.0, -2.0]));
///     let y = tape.relu(x);
///     let loss = tape.sum(y);
///     tape.backward(loss);
/// }
/// let times = tape.op_times().unwrap();
/// let relu = times.get("relu").unwrap();
/// assert_eq!((relu.forward_calls, relu.backward_calls), (2, 2));
/// println!("{times}"); // a table: op, calls, forward, backward, share of the total
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpTimes {
    ops: Vec<OpTime>,
}

impl OpTimes {
    /// Every kind of op timed so far.
    pub fn ops(&self) -> &[OpTime] {
        &self.ops
    }

    /// The times of the ops named `name`, if any ran.
    pub fn get(&self, name: &str) -> Option<&OpTime> {
        self.ops.iter().find(|t| t.name == name)
    }

    /// The time of every op, forward and backward.
    pub fn total(&self) -> Duration {
        self.ops.iter().map(OpTime::total).sum()
    }

    /// One more call of `pass` of the ops named `name`, which took `elapsed`.
    pub(crate) fn add(&mut self, name: &'static str, pass: Pass, elapsed: Duration) {
        let t = self.entry(name);
        let (calls, time) = match pass {
            Pass::Forward => (&mut t.forward_calls, &mut t.forward),
            Pass::Backward => (&mut t.backward_calls, &mut t.backward),
        };
        *calls += 1;
        *time += elapsed;
    }

    /// A linear search: a model has a dozen kinds of op, and a map's hashing would cost
    /// more than comparing a few short names.
    fn entry(&mut self, name: &'static str) -> &mut OpTime {
        let i = match self.ops.iter().position(|t| t.name == name) {
            Some(i) => i,
            None => {
                self.ops.push(OpTime {
                    name,
                    forward_calls: 0,
                    forward: Duration::ZERO,
                    backward_calls: 0,
                    backward: Duration::ZERO,
                });
                self.ops.len() - 1
            }
        };
        &mut self.ops[i]
    }
}

/// A table, the most expensive kind of op first: calls, forward and backward milliseconds,
/// and each kind's share of the ops' total.
impl fmt::Display for OpTimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let total = ms(self.total());
        writeln!(
            f,
            "{:<16} {:>8} {:>12} {:>12} {:>7}",
            "op", "calls", "forward ms", "backward ms", "share"
        )?;
        let mut ops: Vec<&OpTime> = self.ops.iter().collect();
        ops.sort_by_key(|t| std::cmp::Reverse(t.total()));
        for t in ops {
            let share = if total > 0.0 {
                100.0 * ms(t.total()) / total
            } else {
                0.0
            };
            writeln!(
                f,
                "{:<16} {:>8} {:>12.3} {:>12.3} {:>6.1}%",
                t.name,
                t.forward_calls,
                ms(t.forward),
                ms(t.backward),
                share
            )?;
        }
        write!(f, "{:<16} {:>8} {:>25.3}", "all ops", "", total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_add_up_per_name_in_order_of_first_use() {
        let mut times = OpTimes::default();
        let ms = Duration::from_millis;
        times.add("linear", Pass::Forward, ms(3));
        times.add("relu", Pass::Forward, ms(1));
        times.add("linear", Pass::Forward, ms(2));
        times.add("relu", Pass::Backward, ms(4));
        let names: Vec<_> = times.ops().iter().map(|t| t.name).collect();
        assert_eq!(names, ["linear", "relu"]);
        let linear = times.get("linear").unwrap();
        assert_eq!((linear.forward_calls, linear.forward), (2, ms(5)));
        assert_eq!((linear.backward_calls, linear.backward), (0, ms(0)));
        assert_eq!(times.get("relu").unwrap().total(), ms(5));
        assert_eq!(times.total(), ms(10));
        assert!(times.get("matmul").is_none());
    }

    #[test]
    fn the_table_puts_the_most_expensive_op_first_with_its_share() {
        let mut times = OpTimes::default();
        times.add("relu", Pass::Forward, Duration::from_millis(1));
        times.add("batch_norm", Pass::Backward, Duration::from_millis(3));
        let table = times.to_string();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[1].starts_with("batch_norm") && lines[1].ends_with("75.0%"));
        assert!(lines[2].starts_with("relu") && lines[2].ends_with("25.0%"));
        assert!(lines[3].starts_with("all ops") && lines[3].ends_with("4.000"));
    }
}
