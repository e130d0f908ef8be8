//! Child processes with bounds: every helper program the harness runs other
//! than QEMU (`make` and a scenario's build command, `tar`, `git`, a QEMU
//! binary asked for `--version`, a QEMU build) goes through here.
//!
//! Each child runs in its own process group, so that killing it kills what it
//! started too (a compiler under `make`, a real QEMU behind a wrapper script).
//! The group is killed when the time limit passes, when its output grows past
//! a limit, when the harness is interrupted (SIGINT/SIGTERM/SIGHUP run the
//! hook registered here), and after the child exits (a daemon it left behind).
//! Output goes to files, never pipes: a child that prints more than a pipe
//! holds can neither stall nor be mistaken for one that does not answer.

use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How large a build's log may grow before the build is stopped: far more
/// than a full QEMU build prints, far less than a full disk.
pub(crate) const BUILD_LOG_LIMIT: u64 = 1 << 30;

/// How often a running child is looked at.
const POLL: Duration = Duration::from_millis(20);

/// Why a bounded child gave no result.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChildError {
    #[error("cannot start: {0}")]
    Spawn(std::io::Error),
    #[error("waiting: {0}")]
    Wait(std::io::Error),
    #[error("no result within {:.1} s (killed)", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("printed more than {} bytes (killed)", .0)]
    TooMuchOutput(u64),
}

/// A finished child's status and output.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `cmd` to the end with its output captured (in temporary files),
/// killing its process group after `limit` or once stdout and stderr together
/// hold more than `max_output` bytes.
pub(crate) fn output_bounded(
    mut cmd: Command,
    limit: Duration,
    max_output: u64,
) -> Result<Output, ChildError> {
    let out = tempfile::tempfile().map_err(ChildError::Spawn)?;
    let err = tempfile::tempfile().map_err(ChildError::Spawn)?;
    cmd.stdout(out.try_clone().map_err(ChildError::Spawn)?)
        .stderr(err.try_clone().map_err(ChildError::Spawn)?);
    let status = wait_bounded(cmd, limit, &[&out, &err], max_output)?;
    Ok(Output {
        status,
        stdout: read_all(out),
        stderr: read_all(err),
    })
}

/// Runs `cmd` with stdout and stderr going to `log`, bounded as
/// [`output_bounded`] (`max_output` counts the whole log file).
pub(crate) fn run_logged(
    mut cmd: Command,
    log: &File,
    limit: Duration,
    max_output: u64,
) -> Result<ExitStatus, ChildError> {
    cmd.stdout(log.try_clone().map_err(ChildError::Spawn)?)
        .stderr(log.try_clone().map_err(ChildError::Spawn)?);
    wait_bounded(cmd, limit, &[log], max_output)
}

fn wait_bounded(
    mut cmd: Command,
    limit: Duration,
    outputs: &[&File],
    max_output: u64,
) -> Result<ExitStatus, ChildError> {
    cmd.stdin(Stdio::null());
    // A harness killed outright (SIGKILL) runs no clean-up: the kernel then
    // kills the direct child (make, a wrapper script); what that child
    // started itself may survive it. The signal follows the forking thread,
    // which waits here until the child is gone, so it cannot fire early.
    // SAFETY: prctl is async-signal-safe; the closure allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Some(Signal::SIGKILL)).map_err(std::io::Error::from)
        });
    }
    let mut child = cmd.process_group(0).spawn().map_err(ChildError::Spawn)?;
    let group = Pid::from_raw(child.id() as i32);
    let kill = move || {
        let _ = killpg(group, Signal::SIGKILL);
    };
    // A terminal's Ctrl-C reaches only the harness's own group, and a
    // SIGTERM or SIGHUP only the harness: the handler kills this group.
    let hook = crate::signals::on_interrupt(Box::new(kill));
    let deadline = Instant::now() + limit;
    let written = || -> u64 {
        outputs
            .iter()
            .filter_map(|f| f.metadata().ok())
            .map(|m| m.len())
            .sum()
    };
    let result = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => break Err(ChildError::Timeout(limit)),
            Ok(None) if written() > max_output => break Err(ChildError::TooMuchOutput(max_output)),
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => break Err(ChildError::Wait(e)),
        }
    };
    // Also after a normal exit: whatever the group left running (a
    // daemonised compiler server, a wrapper's orphaned child) goes too.
    kill();
    if result.is_err() {
        let _ = child.wait();
    }
    hook.cancel();
    result
}

fn read_all(mut f: File) -> String {
    use std::io::Seek;
    let _ = f.rewind();
    let mut bytes = Vec::new();
    let _ = f.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits (bounded) until `pid` is gone or a zombie about to be reaped by init.
    fn assert_gone(pid: i32) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat.is_empty() || stat.contains(") Z ") {
                return;
            }
            assert!(Instant::now() < deadline, "{pid} survived: {stat}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn read_pid(path: &std::path::Path) -> i32 {
        // Written by the child before it blocks; bounded wait for it.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(t) = std::fs::read_to_string(path) {
                if let Ok(p) = t.trim().parse() {
                    return p;
                }
            }
            assert!(Instant::now() < deadline, "no pid file");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_timeout_kills_the_whole_group() {
        let marker = tempfile::tempdir().unwrap();
        let pidfile = marker.path().join("pid");
        let mut cmd = Command::new("sh");
        // A grandchild in the background, as a build's compiler would be.
        cmd.arg("-c")
            .arg(format!("sleep 30 & echo $! > {}; wait", pidfile.display()));
        let log = tempfile::tempfile().unwrap();
        let r = run_logged(cmd, &log, Duration::from_millis(500), u64::MAX);
        assert!(matches!(r, Err(ChildError::Timeout(_))), "{r:?}");
        assert_gone(read_pid(&pidfile));
    }

    #[test]
    fn a_child_left_behind_after_a_normal_exit_is_killed() {
        let marker = tempfile::tempdir().unwrap();
        let pidfile = marker.path().join("pid");
        let mut cmd = Command::new("sh");
        // The shell exits at once; its background sleep stays in the group.
        cmd.arg("-c").arg(format!(
            "sleep 30 >/dev/null 2>&1 & echo $! > {}",
            pidfile.display()
        ));
        let o = output_bounded(cmd, Duration::from_secs(60), 1 << 20).unwrap();
        assert!(o.status.success());
        assert_gone(read_pid(&pidfile));
    }

    #[test]
    fn output_is_captured_and_status_kept() {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg("echo out; echo err >&2; exit 3");
        let o = output_bounded(cmd, Duration::from_secs(30), 1 << 20).unwrap();
        assert_eq!(
            (o.status.code(), o.stdout.as_str(), o.stderr.as_str()),
            (Some(3), "out\n", "err\n")
        );
    }

    #[test]
    fn more_output_than_a_pipe_holds_is_read_whole() {
        // 200 KB: more than a pipe buffer (64 KB), which a pipe-reading
        // prober would wait on until its time limit.
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("head -c 200000 /dev/zero | tr '\\0' x; echo; echo tail");
        let o = output_bounded(cmd, Duration::from_secs(60), 1 << 20).unwrap();
        assert!(o.status.success());
        assert_eq!(o.stdout.len(), 200_000 + "\ntail\n".len());
        assert!(o.stdout.ends_with("tail\n"));
    }

    #[test]
    fn endless_output_is_cut_off() {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg("yes");
        let r = output_bounded(cmd, Duration::from_secs(60), 100_000);
        assert!(
            matches!(r, Err(ChildError::TooMuchOutput(100_000))),
            "{r:?}"
        );
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let r = output_bounded(
            Command::new("/nonexistent/hvharness-no-such-program"),
            Duration::from_secs(5),
            1024,
        );
        assert!(matches!(r, Err(ChildError::Spawn(_))), "{r:?}");
    }
}
