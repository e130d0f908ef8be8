//! Child processes with a time limit: git (output captured) and build
//! commands (own process group, output to a log file, killed with their
//! whole group on timeout or Ctrl-C).

use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// Why a bounded child gave no result.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProcError {
    #[error("cannot start: {0}")]
    Spawn(std::io::Error),
    #[error("waiting: {0}")]
    Wait(std::io::Error),
    #[error("no result within {} s (killed)", .0.as_secs())]
    Timeout(Duration),
}

/// A finished child's status and output.
pub(crate) struct Output {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `cmd` to the end with its output captured (in temporary files, so a
/// full pipe cannot stall it), killing its process group after `limit`.
pub(crate) fn output_bounded(mut cmd: Command, limit: Duration) -> Result<Output, ProcError> {
    let out = tempfile::tempfile().map_err(ProcError::Spawn)?;
    let err = tempfile::tempfile().map_err(ProcError::Spawn)?;
    cmd.stdout(out.try_clone().map_err(ProcError::Spawn)?)
        .stderr(err.try_clone().map_err(ProcError::Spawn)?);
    let status = wait_bounded(cmd, limit)?;
    Ok(Output {
        status,
        stdout: read_all(out),
        stderr: read_all(err),
    })
}

/// Runs `cmd` with stdout and stderr going to `log`, in its own process
/// group, killed (with the group) after `limit` or on Ctrl-C.
pub(crate) fn run_logged(
    mut cmd: Command,
    log: &File,
    limit: Duration,
) -> Result<ExitStatus, ProcError> {
    cmd.stdout(log.try_clone().map_err(ProcError::Spawn)?)
        .stderr(log.try_clone().map_err(ProcError::Spawn)?);
    wait_bounded(cmd, limit)
}

fn wait_bounded(mut cmd: Command, limit: Duration) -> Result<ExitStatus, ProcError> {
    cmd.stdin(Stdio::null());
    let mut child = cmd.process_group(0).spawn().map_err(ProcError::Spawn)?;
    let pgid = child.id() as i32;
    // Ctrl-C reaches only the foreground group: the build's own group is
    // killed by the handler.
    let hook = crate::qemu::process::on_interrupt(Box::new(move || {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }));
    let deadline = Instant::now() + limit;
    let result = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
                let _ = child.wait();
                break Err(ProcError::Timeout(limit));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
                let _ = child.wait();
                break Err(ProcError::Wait(e));
            }
        }
    };
    // Whatever the group left running (a daemonised compiler server) goes too.
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
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

    #[test]
    fn a_timeout_kills_the_whole_group() {
        let marker = tempfile::tempdir().unwrap();
        let pidfile = marker.path().join("pid");
        let mut cmd = Command::new("sh");
        // A grandchild in the background, as a build's compiler would be.
        cmd.arg("-c")
            .arg(format!("sleep 30 & echo $! > {}; wait", pidfile.display()));
        let log = tempfile::tempfile().unwrap();
        let started = Instant::now();
        let r = run_logged(cmd, &log, Duration::from_millis(500));
        assert!(matches!(r, Err(ProcError::Timeout(_))), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(20));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Reaped by init once killed: gone, or a zombie for a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat.is_empty() || stat.contains(") Z ") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the background sleep survived: {stat}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn output_is_captured_and_status_kept() {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg("echo out; echo err >&2; exit 3");
        let o = output_bounded(cmd, Duration::from_secs(30)).unwrap();
        assert_eq!(
            (o.status.code(), o.stdout.as_str(), o.stderr.as_str()),
            (Some(3), "out\n", "err\n")
        );
    }
}
