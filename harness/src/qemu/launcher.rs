//! The one thread that forks QEMU.
//!
//! QEMU asks the kernel for SIGKILL when its parent dies (`PR_SET_PDEATHSIG`),
//! so that it never outlives a harness killed outright. The kernel sends it
//! when the *thread* that forked the child exits, not the process, and tokio's
//! blocking-pool threads exit after an idle spell. Every QEMU is therefore
//! forked on this thread, which is started once and lives as long as the
//! process: the signal then comes exactly when the harness dies.

use std::io;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use tokio::process::{Child, Command};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// The launcher thread's queue. The sender lives in a static, so the
/// thread's receive loop never ends while the process runs.
fn queue() -> io::Result<&'static Mutex<mpsc::Sender<Job>>> {
    static QUEUE: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    if let Some(q) = QUEUE.get() {
        return Ok(q);
    }
    let (tx, rx) = mpsc::channel::<Job>();
    // Two callers may race here; the loser's thread ends at once (its sender
    // is dropped), so only the stored queue's thread ever forks.
    std::thread::Builder::new()
        .name("hvharness-launcher".into())
        .spawn(move || {
            for job in rx {
                job();
            }
        })?;
    Ok(QUEUE.get_or_init(|| Mutex::new(tx)))
}

/// Spawns `cmd` on the launcher thread, registered with the caller's tokio
/// runtime (which reaps it and drives `Child::wait`).
pub(crate) async fn spawn(mut cmd: Command) -> io::Result<Child> {
    let runtime = tokio::runtime::Handle::current();
    let (done, result) = oneshot::channel();
    let job: Job = Box::new(move || {
        let _entered = runtime.enter();
        let _ = done.send(cmd.spawn());
    });
    {
        let q = queue()?;
        let tx = match q.lock() {
            Ok(tx) => tx,
            Err(p) => p.into_inner(),
        };
        tx.send(job)
            .map_err(|_| io::Error::other("the QEMU launcher thread is gone"))?;
    }
    result
        .await
        .map_err(|_| io::Error::other("the QEMU launcher thread dropped a launch"))?
}
