//! What the process undoes when SIGINT (Ctrl-C), SIGTERM or SIGHUP ends it,
//! or when it exits without running destructors (`std::process::exit`).
//!
//! Below every module that starts something: QEMU processes ([`crate::qemu`]),
//! builds and other children ([`crate::child`]), git worktrees
//! ([`crate::bisect`]) register here what to undo, and this module knows none
//! of them. Two kinds of registration:
//! - [`run_first`]: a process-wide clean-up, registered once by its owner and
//!   run before everything else (every QEMU is killed before any hook runs);
//! - [`on_interrupt`]: one thing to undo (a build's process group, a
//!   worktree), cancelled once it is gone; the live ones run most recent first.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::{Context, Result};

/// Something to undo before the process exits on a signal.
pub(crate) type Hook = Box<dyn FnOnce() + Send>;

/// The registered clean-ups: one per process ([`CLEANUPS`]; tests make
/// their own).
struct Cleanups {
    first: Mutex<Vec<fn()>>,
    hooks: Mutex<Vec<(u64, Hook)>>,
    next: AtomicU64,
}

impl Cleanups {
    const fn new() -> Cleanups {
        Cleanups {
            first: Mutex::new(Vec::new()),
            hooks: Mutex::new(Vec::new()),
            next: AtomicU64::new(0),
        }
    }

    fn run_first(&self, f: fn()) {
        self.first.lock().unwrap_or_else(|p| p.into_inner()).push(f);
    }

    fn on_interrupt(&self, f: Hook) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.hooks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, f));
        id
    }

    fn cancel(&self, id: u64) {
        let mut hooks = self.hooks.lock().unwrap_or_else(|p| p.into_inner());
        hooks.retain(|(i, _)| *i != id);
    }

    /// The first clean-ups in order (they stay: an owner registers once),
    /// then the hooks most recent first (spent).
    fn run(&self) {
        let first: Vec<fn()> = self.first.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for f in first {
            f();
        }
        let hooks: Vec<(u64, Hook)> =
            std::mem::take(&mut *self.hooks.lock().unwrap_or_else(|p| p.into_inner()));
        for (_, f) in hooks.into_iter().rev() {
            f();
        }
    }
}

static CLEANUPS: Cleanups = Cleanups::new();
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Registers `f` to run before every [`on_interrupt`] hook at each
/// [`clean_up_for_exit`], in registration order. For an owner's whole state
/// (every QEMU of the process): register it once (a `std::sync::Once`).
pub(crate) fn run_first(f: fn()) {
    CLEANUPS.run_first(f);
}

/// A registered [`on_interrupt`] action; [`cancel`](Self::cancel) it once
/// the thing it cleans up is gone.
#[must_use = "an interrupt hook stays registered until cancelled"]
pub(crate) struct InterruptHook(u64);

impl InterruptHook {
    /// Unregisters the action without running it.
    pub(crate) fn cancel(self) {
        CLEANUPS.cancel(self.0);
    }
}

/// Registers `f` to run when SIGINT (Ctrl-C), SIGTERM or SIGHUP ends the
/// process (after the [`run_first`] clean-ups), most recent first.
pub(crate) fn on_interrupt(f: Hook) -> InterruptHook {
    InterruptHook(CLEANUPS.on_interrupt(f))
}

/// What the signal handler says instead of "interrupted; QEMU stopped"
/// while a [`WhenInterrupted`] is alive (e.g. "interrupted during the build
/// of X": no QEMU was running, and the build's end is no news).
static INTERRUPT_MESSAGE: Mutex<Option<String>> = Mutex::new(None);

/// Keeps [`say_when_interrupted`]'s message until dropped.
#[must_use = "the message is said only while this lives"]
pub(crate) struct WhenInterrupted(());

impl Drop for WhenInterrupted {
    fn drop(&mut self) {
        *INTERRUPT_MESSAGE.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Makes the signal handler say `message` (after "hvharness: ") while the
/// returned guard lives.
pub(crate) fn say_when_interrupted(message: String) -> WhenInterrupted {
    *INTERRUPT_MESSAGE.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
    WhenInterrupted(())
}

/// Whether SIGINT, SIGTERM or SIGHUP arrived: the handler is cleaning up and will
/// end the process. An error seen meanwhile (a child it killed) is a
/// consequence, not news: callers wait for the handler instead of reporting it.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// What the signal handler does before the process exits, for every other
/// exit that runs no destructors (`std::process::exit`): marks the process as
/// [`interrupted`], runs the [`run_first`] clean-ups (every QEMU killed, every
/// session directory removed), then undoes what the [`on_interrupt`] hooks
/// undo.
pub(crate) fn clean_up_for_exit() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    CLEANUPS.run();
}

/// A program's handler for SIGINT (Ctrl-C), SIGTERM and SIGHUP (a closed
/// terminal): [`clean_up_for_exit`], then exits the process with 128 + the
/// signal's number, 130, 143 or 129, as a shell reports a process killed by
/// it. For programs, not libraries, since it ends the process: the
/// `hvharness` binary installs it (in `cli::dispatch`), and so does the
/// bench. Call once from inside a tokio runtime.
pub fn install_signal_cleanup() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    tokio::spawn(async move {
        let code = tokio::select! {
            _ = int.recv() => 130,
            _ = term.recv() => 143,
            _ = hup.recv() => 129,
        };
        // Read before the clean-up: once it kills a build, the build's
        // caller returns and drops its message.
        let said = INTERRUPT_MESSAGE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| "interrupted; QEMU stopped".to_string());
        clean_up_for_exit();
        // stderr may be a closed terminal (SIGHUP): a failed write must not panic.
        let _ = writeln!(std::io::stderr(), "hvharness: {said}");
        std::process::exit(code);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    static ORDER: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

    fn first() {
        ORDER.lock().unwrap().push("first");
    }

    /// The process-wide clean-ups run before every hook, the hooks most
    /// recent first, a cancelled hook never, and a hook only once. (A
    /// registry of its own: the process's would also run other tests' hooks.)
    #[test]
    fn first_then_hooks_most_recent_first() {
        let c = Cleanups::new();
        let push =
            |what: &'static str| -> Hook { Box::new(move || ORDER.lock().unwrap().push(what)) };
        c.on_interrupt(push("older"));
        c.run_first(first);
        let cancelled = Arc::new(AtomicBool::new(false));
        let flag = cancelled.clone();
        let id = c.on_interrupt(Box::new(move || flag.store(true, Ordering::SeqCst)));
        c.on_interrupt(push("newer"));
        c.cancel(id);
        c.run();
        assert_eq!(*ORDER.lock().unwrap(), ["first", "newer", "older"]);
        assert!(!cancelled.load(Ordering::SeqCst));
        c.run();
        assert_eq!(*ORDER.lock().unwrap(), ["first", "newer", "older", "first"]);
    }
}
