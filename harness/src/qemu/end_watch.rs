//! How a QEMU ended when neither its guest nor this harness ended it: killed
//! or stopped from outside, or crashed, recorded where a run can read it
//! after the process is gone.

use std::process::ExitStatus;
use std::sync::{Arc, Mutex};

use nix::sys::signal::Signal;

/// How QEMU ended when neither the guest nor this harness ended it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutsideEnd {
    /// Killed by a signal it does not catch, sent from outside the harness
    /// (SIGKILL, SIGUSR1, ...).
    Killed(Signal),
    /// Ended by a signal of its own making: a crash (SIGSEGV, SIGABRT, ...).
    Crashed(Signal),
    /// QEMU caught SIGINT, SIGTERM or SIGHUP and shut down; the line it
    /// printed names the signal and its sender.
    Terminated(String),
}

impl std::fmt::Display for OutsideEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutsideEnd::Killed(s) => write!(
                f,
                "QEMU was killed by signal {} ({}), sent from outside hvharness",
                s.as_str(),
                *s as i32
            ),
            OutsideEnd::Crashed(s) => write!(f, "QEMU crashed (signal {})", s.as_str()),
            OutsideEnd::Terminated(line) => {
                write!(f, "QEMU was stopped from outside hvharness ({line})")
            }
        }
    }
}

impl OutsideEnd {
    /// How a QEMU that ended with `status` and printed `stderr` was ended,
    /// when not by itself or by the harness. `None` for an exit of its own
    /// (the guest powered off, an error of QEMU's).
    /// `status` is `None` for a QEMU still shutting down: one that caught
    /// SIGTERM closes its sockets (the harness sees the run end) before it
    /// exits, and has said why by then.
    pub(crate) fn of(status: Option<ExitStatus>, stderr: &str) -> Option<OutsideEnd> {
        use std::os::unix::process::ExitStatusExt;
        if let Some(n) = status.and_then(|s| s.signal()) {
            let sig = Signal::try_from(n).ok()?;
            return Some(match sig {
                Signal::SIGSEGV
                | Signal::SIGABRT
                | Signal::SIGBUS
                | Signal::SIGILL
                | Signal::SIGFPE
                | Signal::SIGTRAP
                | Signal::SIGSYS => OutsideEnd::Crashed(sig),
                _ => OutsideEnd::Killed(sig),
            });
        }
        // Every QEMU version here says "terminating on signal N from pid P (NAME)"
        // (or without the sender) before exiting 0 on SIGINT/SIGTERM/SIGHUP.
        // The harness itself only ever sends SIGKILL, which QEMU cannot catch.
        stderr
            .lines()
            .rev()
            .find(|l| l.contains("terminating on signal"))
            .map(|l| OutsideEnd::Terminated(l.trim().to_string()))
    }
}

/// Where a [`QemuProcess`](super::QemuProcess) records an [`OutsideEnd`], readable after the
/// process is dropped (an error unwinding a run drops its QEMU first).
#[derive(Debug, Clone, Default)]
pub struct EndWatch(Arc<Mutex<Option<OutsideEnd>>>);

impl EndWatch {
    /// How QEMU was ended from outside, if it was.
    pub(crate) fn get(&self) -> Option<OutsideEnd> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) fn set(&self, end: OutsideEnd) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outside_end_is_named_by_its_signal() {
        use std::os::unix::process::ExitStatusExt;
        let killed = ExitStatus::from_raw(9);
        assert_eq!(
            OutsideEnd::of(Some(killed), "").map(|e| e.to_string()),
            Some("QEMU was killed by signal SIGKILL (9), sent from outside hvharness".into())
        );
        let segv = ExitStatus::from_raw(11);
        assert_eq!(
            OutsideEnd::of(Some(segv), ""),
            Some(OutsideEnd::Crashed(Signal::SIGSEGV))
        );
        let line = "qemu-system-riscv64: terminating on signal 15 from pid 42 (kill)";
        let log = format!("some warning\n{line}\n");
        // Exited 0 after the message, or still shutting down.
        for status in [Some(ExitStatus::from_raw(0)), None] {
            assert_eq!(
                OutsideEnd::of(status, &log),
                Some(OutsideEnd::Terminated(line.into()))
            );
        }
        // An exit of its own: not from outside.
        assert_eq!(
            OutsideEnd::of(Some(ExitStatus::from_raw(1 << 8)), "qemu: fatal"),
            None
        );
        assert_eq!(OutsideEnd::of(None, ""), None);
    }
}
