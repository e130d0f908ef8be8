//! The one place that starts and kills QEMU.
//!
//! Every QEMU runs in its own process group, in a private temporary directory
//! that holds its sockets and logs, started paused (`-S`) so the harness can
//! connect consoles before the first instruction. The group is killed when the
//! [`QemuProcess`] is dropped (errors, failed assertions and panics all drop it),
//! by [`kill_all`] from the SIGINT/SIGTERM/SIGHUP handler, and by the kernel if the
//! harness itself dies (parent-death signal).
//!
//! Those are three triggers of one termination path: SIGKILL to the QEMU's
//! process group. `Drop` and `kill_all` send it from the harness; the kernel
//! sends the parent-death signal when nothing in the harness can run any more.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::log_pipe::{LogPipe, LogSink};
use super::qmp::Qmp;
use super::registry::QemuBuild;
use crate::console::Console;

/// How long QEMU may take to create its sockets.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Attempts at finding a free gdbstub port before giving up.
const PORT_ATTEMPTS: usize = 5;

/// Where a console is attached on the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleAttach {
    /// The machine's first serial port (`-serial chardev:NAME`; virt's 16550).
    Serial,
    /// A `-device pci-serial` on the machine's PCI bus.
    PciSerial,
    /// Any other device taking a `chardev=` property, e.g. `virtconsole`.
    Device(String),
}

/// One console: a name (also its chardev id) and where it is attached.
#[derive(Debug, Clone)]
pub struct ConsoleSpec {
    pub name: String,
    pub attach: ConsoleAttach,
}

/// The machine to start.
#[derive(Debug, Clone)]
pub struct MachineSpec {
    pub machine: String,
    pub cpu: String,
    pub smp: u32,
    /// `-m` value, e.g. `128M`.
    pub memory: String,
    /// `-bios` value; `None` leaves QEMU's default.
    pub bios: Option<String>,
    pub kernel: Option<PathBuf>,
    pub consoles: Vec<ConsoleSpec>,
    /// Further arguments, passed as they are except for disk images, which
    /// QEMU may never write: see [`command_line`].
    pub extra_args: Vec<String>,
}

/// How to run it.
#[derive(Debug, Clone, Default)]
pub struct LaunchOptions {
    /// Open a gdbstub on a free loopback port.
    pub gdbstub: bool,
    /// QEMU's `-d` log, streamed (never stored): see [`DebugLog`].
    pub debug_log: Option<DebugLog>,
}

/// QEMU `-d` log items (e.g. `int`) and where their text goes. QEMU writes
/// them into a FIFO in the session directory that a reader thread empties
/// into `sink` as fast as QEMU writes ([`super::log_pipe`]).
#[derive(Clone)]
pub struct DebugLog {
    pub(crate) items: String,
    pub(crate) sink: Arc<dyn LogSink>,
}

impl std::fmt::Debug for DebugLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebugLog")
            .field("items", &self.items)
            .finish_non_exhaustive()
    }
}

/// The FIFO QEMU writes its `-d` log into, in the session directory.
const DEBUG_FIFO: &str = "qemu-debug.fifo";

/// A running QEMU, killed with its whole process group on drop.
pub struct QemuProcess {
    child: Child,
    pgid: Pid,
    dir: tempfile::TempDir,
    gdb_port: Option<u16>,
    qmp: Qmp,
    consoles: Vec<Console>,
    build: QemuBuild,
    started: Instant,
    exit: Option<ExitStatus>,
    args: Vec<OsString>,
    /// The `-d` log's reader; dropped after QEMU is killed.
    log_pipe: Option<LogPipe>,
    /// Filled when QEMU is found ended by something else than this harness.
    end: EndWatch,
    /// Whether the harness has sent its SIGKILL.
    killed: bool,
}

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

/// Where a [`QemuProcess`] records an [`OutsideEnd`], readable after the
/// process is dropped (an error unwinding a run drops its QEMU first).
#[derive(Debug, Clone, Default)]
pub struct EndWatch(Arc<Mutex<Option<OutsideEnd>>>);

impl EndWatch {
    /// How QEMU was ended from outside, if it was.
    pub(crate) fn get(&self) -> Option<OutsideEnd> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, end: OutsideEnd) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(end);
    }
}

/// What the signal handler has to clean up for one QEMU.
struct Live {
    /// The session directory, removed on drop; until then it is here.
    dir: PathBuf,
    /// Whether the process group may still run. Cleared once it has been
    /// killed, so a recycled process-group id is never signalled.
    running: bool,
}

/// Every QemuProcess of this process that has not been dropped yet, by process group.
static LIVE_GROUPS: Mutex<Option<HashMap<i32, Live>>> = Mutex::new(None);

/// Session directories of launches whose QEMU is not in [`LIVE_GROUPS`] yet:
/// a signal between the fork and that registration must still remove them
/// (QEMU itself dies with the process: its parent-death signal).
static LAUNCHING_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Keeps a session directory in [`LAUNCHING_DIRS`] until dropped.
struct LaunchingDir(PathBuf);

impl LaunchingDir {
    fn new(dir: &Path) -> LaunchingDir {
        let mut dirs = LAUNCHING_DIRS.lock().unwrap_or_else(|p| p.into_inner());
        dirs.push(dir.to_path_buf());
        LaunchingDir(dir.to_path_buf())
    }
}

impl Drop for LaunchingDir {
    fn drop(&mut self) {
        let mut dirs = LAUNCHING_DIRS.lock().unwrap_or_else(|p| p.into_inner());
        dirs.retain(|d| d != &self.0);
    }
}

fn live_groups<R>(f: impl FnOnce(&mut HashMap<i32, Live>) -> R) -> R {
    let mut guard = match LIVE_GROUPS.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    f(guard.get_or_insert_with(HashMap::new))
}

/// Kills every QEMU this process started and has not yet killed, and removes
/// every session directory not yet removed. For signal handlers, right before
/// the process exits: `exit` runs no destructors, so without this the
/// `TempDir`s would stay behind. Ordinary code relies on `Drop`.
pub(crate) fn kill_all() {
    let groups: Vec<(i32, Live)> = live_groups(|m| m.drain().collect());
    for (pgid, live) in &groups {
        if live.running {
            let _ = killpg(Pid::from_raw(*pgid), Signal::SIGKILL);
        }
    }
    for (_, live) in &groups {
        remove_session_dir(&live.dir, REMOVE_LIMIT);
    }
    let launching: Vec<PathBuf> =
        std::mem::take(&mut *LAUNCHING_DIRS.lock().unwrap_or_else(|p| p.into_inner()));
    for dir in &launching {
        remove_session_dir(dir, REMOVE_LIMIT);
    }
}

/// How long [`kill_all`] keeps trying to remove a session directory.
const REMOVE_LIMIT: Duration = Duration::from_secs(2);

/// Removes `dir`, trying again for up to `limit`: a QEMU that was just sent
/// SIGKILL may still finish a system call that creates a file in it, and on
/// a loaded machine it may wait well over 50 ms for a CPU to do so (seen:
/// a session directory left after Ctrl-C while two other QEMUs and a CPU hog
/// ran). Returns whether the directory is gone.
fn remove_session_dir(dir: &Path, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    loop {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => return true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return true,
            Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => return false,
        }
    }
}

/// Something to undo before the process exits on a signal, other than QEMU
/// itself: a build's process group, a git worktree.
type Hook = Box<dyn FnOnce() + Send>;

static INTERRUPT_HOOKS: Mutex<Vec<(u64, Hook)>> = Mutex::new(Vec::new());
static NEXT_HOOK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A registered [`on_interrupt`] action; [`cancel`](Self::cancel) it once
/// the thing it cleans up is gone.
#[must_use = "an interrupt hook stays registered until cancelled"]
pub(crate) struct InterruptHook(u64);

impl InterruptHook {
    /// Unregisters the action without running it.
    pub(crate) fn cancel(self) {
        let mut hooks = INTERRUPT_HOOKS.lock().unwrap_or_else(|p| p.into_inner());
        hooks.retain(|(id, _)| *id != self.0);
    }
}

/// Registers `f` to run when SIGINT (Ctrl-C), SIGTERM or SIGHUP ends the
/// process (after QEMU is killed), most recent first.
pub(crate) fn on_interrupt(f: Hook) -> InterruptHook {
    let id = NEXT_HOOK.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    INTERRUPT_HOOKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((id, f));
    InterruptHook(id)
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
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// What the signal handler does before the process exits, for every other
/// exit that runs no destructors (`std::process::exit`): marks the process as
/// [`interrupted`], kills every QEMU and build, removes every session
/// directory and undoes what the [`on_interrupt`] hooks undo.
pub fn clean_up_for_exit() {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
    kill_all();
    run_interrupt_hooks();
}

fn run_interrupt_hooks() {
    let hooks: Vec<(u64, Hook)> =
        std::mem::take(&mut *INTERRUPT_HOOKS.lock().unwrap_or_else(|p| p.into_inner()));
    for (_, f) in hooks.into_iter().rev() {
        f();
    }
}

/// Installs a handler for SIGINT (Ctrl-C), SIGTERM and SIGHUP (a closed
/// terminal) that kills every QEMU and every build, removes the session
/// directories and exits with 128 + the signal's number: 130, 143 or 129, as
/// a shell reports a process killed by it. Also removes the session
/// directories that harnesses killed outright (SIGKILL) left behind. Call once
/// from inside a tokio runtime.
pub fn install_signal_cleanup() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    for dir in super::session_dir::remove_stale() {
        eprintln!(
            "hvharness: removed {}, left by a harness that was killed",
            dir.display()
        );
    }
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

impl QemuProcess {
    /// Starts QEMU paused, connects QMP and every console. The VM does not run
    /// until [`QemuProcess::resume`] (or a debugger continues it).
    pub async fn launch(
        build: &QemuBuild,
        spec: &MachineSpec,
        opts: &LaunchOptions,
    ) -> Result<QemuProcess> {
        Self::launch_trying_ports(build, spec, opts, std::iter::from_fn(|| Some(free_port()))).await
    }

    /// [`QemuProcess::launch`] with the gdbstub ports to try, in order (the
    /// launch retries while QEMU finds its port taken); for tests of that retry.
    #[doc(hidden)]
    pub async fn launch_trying_ports(
        build: &QemuBuild,
        spec: &MachineSpec,
        opts: &LaunchOptions,
        mut ports: impl Iterator<Item = Result<u16>>,
    ) -> Result<QemuProcess> {
        let mut last_err = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = if opts.gdbstub {
                Some(ports.next().context("no gdbstub port left to try")??)
            } else {
                None
            };
            match Self::launch_once(build, spec, opts, port).await {
                Ok(p) => return Ok(p),
                // Another process may have taken the port between our probe and
                // QEMU's bind; each version words that differently (port_race).
                Err(e)
                    if port.is_some_and(|p| {
                        super::port_race::gdb_port_taken(&format!("{e:#}"), p)
                    }) =>
                {
                    last_err = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("QEMU did not start")))
    }

    async fn launch_once(
        build: &QemuBuild,
        spec: &MachineSpec,
        opts: &LaunchOptions,
        gdb_port: Option<u16>,
    ) -> Result<QemuProcess> {
        let dir = super::session_dir::create()?;
        let launching = LaunchingDir::new(dir.path());
        let args = command_line(build, spec, opts, dir.path(), gdb_port)?;
        // Read end open before QEMU starts, so QEMU's open of the FIFO does not wait.
        let log_pipe = match &opts.debug_log {
            Some(log) => Some(LogPipe::create(
                &dir.path().join(DEBUG_FIFO),
                log.sink.clone(),
            )?),
            None => None,
        };
        let stderr_path = dir.path().join("qemu-stderr.log");
        let cmd = qemu_command(build, &args, &stderr_path)?;
        let started = Instant::now();
        // Forked on the launcher thread: the parent-death signal follows the forking thread.
        let mut child = super::launcher::spawn(cmd)
            .await
            .with_context(|| format!("starting {}", build.binary.display()))?;
        let pid = child.id().context("QEMU exited immediately")?;
        let pgid = Pid::from_raw(pid as i32);
        live_groups(|s| {
            s.insert(
                pgid.as_raw(),
                Live {
                    dir: dir.path().to_path_buf(),
                    running: true,
                },
            )
        });
        drop(launching);
        let guard = GroupGuard(pgid);

        let qmp_path = dir.path().join("qmp.sock");
        let qmp = connect_qmp(&mut child, &qmp_path, &stderr_path).await?;
        let consoles = connect_consoles(spec, dir.path()).await?;
        std::mem::forget(guard);
        Ok(QemuProcess {
            child,
            pgid,
            dir,
            gdb_port,
            qmp,
            consoles,
            build: build.clone(),
            started,
            exit: None,
            args,
            log_pipe,
            end: EndWatch::default(),
            killed: false,
        })
    }

    /// Records in `watch` how QEMU ended, when something outside the
    /// harness ended it (seen when the harness waits for it or stops it).
    pub(crate) fn watch_end(&mut self, watch: &EndWatch) {
        self.end = watch.clone();
    }

    /// Lets a VM started paused run.
    pub async fn resume(&mut self) -> Result<()> {
        self.qmp.cont().await.context("resuming the VM")
    }

    /// The QMP connection.
    pub fn qmp(&mut self) -> &mut Qmp {
        &mut self.qmp
    }

    /// The gdbstub's loopback address, when one was asked for.
    pub fn gdb_addr(&self) -> Option<std::net::SocketAddr> {
        self.gdb_port
            .map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p)))
    }

    /// The console with this name.
    pub fn console(&mut self, name: &str) -> Result<&mut Console> {
        let known: Vec<String> = self.consoles.iter().map(|c| c.name().to_string()).collect();
        self.consoles
            .iter_mut()
            .find(|c| c.name() == name)
            .with_context(|| format!("no console named {name:?} (consoles: {})", known.join(", ")))
    }

    /// Every console, in the order of the spec.
    pub fn consoles(&mut self) -> &mut [Console] {
        &mut self.consoles
    }

    /// The arguments QEMU was started with (after the binary's name).
    pub fn command_line(&self) -> &[OsString] {
        &self.args
    }

    /// QEMU's process id (also its process group's id).
    pub fn pid(&self) -> u32 {
        self.pgid.as_raw() as u32
    }

    /// The QEMU build this process runs.
    pub fn build(&self) -> &QemuBuild {
        &self.build
    }

    /// Time since QEMU was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The private directory with sockets and logs (removed on drop).
    pub fn session_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Waits until the `-d` log's reader has read everything QEMU wrote so
    /// far (for a QEMU stopped by the debugger; bounded at a second).
    pub async fn sync_log(&self) {
        if let Some(pipe) = &self.log_pipe {
            pipe.sync(Duration::from_secs(1)).await;
        }
    }

    /// Reads of the `-d` log that found its pipe full (QEMU may have
    /// waited for the harness); 0 without a log.
    pub fn log_full_reads(&self) -> u64 {
        self.log_pipe.as_ref().map_or(0, LogPipe::full_reads)
    }

    /// What QEMU printed on stdout and stderr.
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("qemu-stderr.log")).unwrap_or_default()
    }

    /// Waits up to `limit` for QEMU to exit by itself; `None` if it is still running.
    pub async fn wait_exit(&mut self, limit: Duration) -> Result<Option<ExitStatus>> {
        if let Some(s) = self.exit {
            return Ok(Some(s));
        }
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => {
                let status = status.context("waiting for QEMU")?;
                self.exit = Some(status);
                self.note_end(Some(status));
                // QEMU is gone; kill stragglers in its group all the same.
                self.kill_group();
                Ok(Some(status))
            }
            Err(_) => Ok(None),
        }
    }

    /// Kills QEMU now and reaps it, keeping the session directory (logs) until
    /// drop. The `-d` log has been read to its end when this returns.
    pub async fn stop(&mut self) {
        self.kill_group();
        if self.exit.is_none() {
            if let Ok(Ok(status)) =
                tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await
            {
                self.exit = Some(status);
            }
        }
        if let Some(pipe) = self.log_pipe.as_mut() {
            pipe.finish();
        }
    }

    /// Kills QEMU now, reaps it and removes the session directory.
    pub async fn kill(mut self) {
        self.stop().await;
    }

    /// Records how QEMU ended, when something outside ended it.
    fn note_end(&self, status: Option<ExitStatus>) {
        if let Some(end) = OutsideEnd::of(status, &self.stderr_tail()) {
            self.end.set(end);
        }
    }

    /// The end of QEMU's stderr log (at most 16 KiB), where its last words are.
    fn stderr_tail(&self) -> String {
        use std::io::{Read, Seek, SeekFrom};
        const TAIL: u64 = 16 << 10;
        let Ok(mut f) = std::fs::File::open(self.dir.path().join("qemu-stderr.log")) else {
            return String::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(TAIL)));
        let mut bytes = Vec::new();
        let _ = f.take(TAIL).read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn kill_group(&mut self) {
        // Before the harness's own SIGKILL: has QEMU already ended, and how?
        // (Only before the first kill: after it, an exit by signal is ours.)
        if self.exit.is_none() && !self.killed {
            let status = self.child.try_wait().ok().flatten();
            self.exit = status;
            self.note_end(status);
        }
        self.killed = true;
        let _ = killpg(self.pgid, Signal::SIGKILL);
        live_groups(|s| {
            if let Some(live) = s.get_mut(&self.pgid.as_raw()) {
                live.running = false;
            }
        });
    }
}

impl Drop for QemuProcess {
    fn drop(&mut self) {
        self.kill_group();
        // The TempDir field removes the directory after this; the handler need not.
        live_groups(|s| s.remove(&self.pgid.as_raw()));
        // Reap right away so no zombie outlives the session.
        let _ = self.child.try_wait();
    }
}

/// Kills a half-started QEMU when launch fails part-way.
struct GroupGuard(Pid);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let _ = killpg(self.0, Signal::SIGKILL);
        live_groups(|s| s.remove(&self.0.as_raw()));
    }
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind(("127.0.0.1", 0)).context("finding a free loopback port")?;
    Ok(l.local_addr().context("reading the probe port")?.port())
}

/// Connects QMP, retrying while QEMU sets the socket up: the file appears at
/// bind() but refuses connections until listen().
async fn connect_qmp(child: &mut Child, path: &Path, stderr_path: &Path) -> Result<Qmp> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if path.exists() {
            match Qmp::connect(path).await {
                Ok(q) => return Ok(q),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => {}
            }
        }
        if let Some(status) = child.try_wait().context("checking on QEMU")? {
            let log = std::fs::read_to_string(stderr_path).unwrap_or_default();
            if let Some(end) = OutsideEnd::of(Some(status), &log) {
                bail!("{end}, during start-up: {}", log.trim());
            }
            bail!("QEMU exited during start-up ({status}): {}", log.trim());
        }
        if Instant::now() >= deadline {
            bail!(
                "QEMU did not create {} within {} s",
                path.display(),
                STARTUP_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The command that starts `build` with `args`, its stdout and stderr going
/// to `stderr_path`, in its own process group, tied to the harness's life.
fn qemu_command(build: &QemuBuild, args: &[OsString], stderr_path: &Path) -> Result<Command> {
    let stderr = std::fs::File::create(stderr_path).context("creating QEMU's stderr log")?;
    let mut cmd = Command::new(&build.binary);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(stderr.try_clone().context("duplicating the log handle")?)
        .stderr(stderr)
        .process_group(0)
        .kill_on_drop(true);
    // The kernel kills QEMU when the thread that started it dies (the
    // launcher thread, which lives as long as the process), which
    // covers a harness killed outright (SIGKILL, a crash), where no code of
    // ours runs. If the harness died between fork and prctl, the signal
    // never comes: the child then sees another parent and does not exec.
    let parent = nix::unistd::getpid();
    // SAFETY: prctl and getppid are async-signal-safe; the closure allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Some(Signal::SIGKILL)).map_err(std::io::Error::from)?;
            if nix::unistd::getppid() != parent {
                // ESRCH: the parent is gone. Built without allocating.
                return Err(nix::errno::Errno::ESRCH.into());
            }
            Ok(())
        });
    }
    Ok(cmd)
}

/// Connects to every console's socket in `dir`, in the order of the spec.
async fn connect_consoles(spec: &MachineSpec, dir: &Path) -> Result<Vec<Console>> {
    let mut consoles = Vec::new();
    for c in &spec.consoles {
        let path = dir.join(format!("{}.sock", c.name));
        consoles.push(Console::connect(&c.name, &path, STARTUP_TIMEOUT).await?);
    }
    Ok(consoles)
}

/// The full QEMU argument list for `spec`.
///
/// The extra arguments pass [`super::arg_policy`] first (the one place that
/// decides what a scenario may add): every `-drive` there runs with
/// `snapshot=on`, and options that would break the harness's control or let
/// QEMU write an image or outlive the harness are refused. `-snapshot` is
/// added as well, for the short forms (`-hda`, `-cdrom`, `-sd`, `-pflash`,
/// ...). The scenario's `-d` items join the harness's own.
pub(crate) fn command_line(
    build: &QemuBuild,
    spec: &MachineSpec,
    opts: &LaunchOptions,
    dir: &Path,
    gdb_port: Option<u16>,
) -> Result<Vec<OsString>> {
    let consoles: Vec<String> = spec.consoles.iter().map(|c| c.name.clone()).collect();
    let extra = super::arg_policy::check(&spec.extra_args, &consoles)?;
    let mut a: Vec<OsString> = Vec::new();
    machine_args(&mut a, build, spec);
    let mut push = |s: &str| a.push(OsString::from(s));
    push("-S");
    push("-display");
    push("none");
    push("-monitor");
    push("none");
    push("-qmp");
    push(&format!(
        "unix:{},server=on,wait=off",
        dir.join("qmp.sock").display()
    ));
    console_args(&mut a, spec, dir);
    let mut push = |s: &str| a.push(OsString::from(s));
    if let Some(port) = gdb_port {
        push("-gdb");
        push(&format!("tcp:127.0.0.1:{port}"));
    }
    if let Some(log) = &opts.debug_log {
        push("-d");
        push(&merged_log_items(&log.items, &extra.log_items));
        push("-D");
        push(&dir.join(DEBUG_FIFO).to_string_lossy());
    }
    // Short drive options (-hda, -cdrom, ...) take no snapshot= of their own.
    push("-snapshot");
    for x in &extra.args {
        push(x);
    }
    Ok(a)
}

/// The machine: firmware directory, board, CPU, harts, memory, firmware and kernel.
fn machine_args(a: &mut Vec<OsString>, build: &QemuBuild, spec: &MachineSpec) {
    let mut push = |s: &str| a.push(OsString::from(s));
    if let Some(data) = &build.data_dir {
        push("-L");
        push(&data.to_string_lossy());
    }
    push("-machine");
    push(&spec.machine);
    push("-cpu");
    push(&spec.cpu);
    push("-smp");
    push(&spec.smp.to_string());
    push("-m");
    push(&spec.memory);
    if let Some(bios) = &spec.bios {
        push("-bios");
        push(bios);
    }
    if let Some(kernel) = &spec.kernel {
        push("-kernel");
        push(&kernel.to_string_lossy());
    }
}

/// A socket chardev in `dir` for each console, attached as the spec says;
/// `-serial none` when no console is the serial port.
fn console_args(a: &mut Vec<OsString>, spec: &MachineSpec, dir: &Path) {
    let mut push = |s: &str| a.push(OsString::from(s));
    let mut has_serial = false;
    for c in &spec.consoles {
        push("-chardev");
        // server=on,wait=off spelled out: QEMU 8.2 rejects the bare `server` flag.
        push(&format!(
            "socket,id={},path={},server=on,wait=off",
            c.name,
            dir.join(format!("{}.sock", c.name)).display()
        ));
        match &c.attach {
            ConsoleAttach::Serial => {
                has_serial = true;
                push("-serial");
                push(&format!("chardev:{}", c.name));
            }
            ConsoleAttach::PciSerial => {
                push("-device");
                push(&format!("pci-serial,chardev={}", c.name));
            }
            ConsoleAttach::Device(dev) => {
                push("-device");
                push(&format!("{dev},chardev={}", c.name));
            }
        }
    }
    if !has_serial {
        push("-serial");
        push("none");
    }
}

/// The harness's `-d` items, then the scenario's that it does not already
/// have (a scenario's `-d` items go into the log the harness reads; without
/// a harness log they are not passed at all).
fn merged_log_items(harness: &str, scenario: &[String]) -> String {
    let mut items: Vec<&str> = harness.split(',').collect();
    for i in scenario {
        if !items.contains(&i.as_str()) {
            items.push(i);
        }
    }
    items.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::registry::Origin;

    /// A process still creating files in the session directory for a while
    /// (a killed QEMU finishing its last system call) does not leave it behind.
    #[test]
    fn a_session_directory_is_removed_while_files_still_appear() {
        let parent = tempfile::tempdir().expect("a temporary directory");
        let dir = parent.path().join("session");
        std::fs::create_dir(&dir).expect("the session directory");
        let writer = {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let until = Instant::now() + Duration::from_millis(200);
                let mut n = 0;
                while Instant::now() < until {
                    // Fails once the directory is gone: then there is nothing to do.
                    if std::fs::write(dir.join(format!("f{n}")), b"x").is_err() {
                        break;
                    }
                    n += 1;
                }
            })
        };
        assert!(remove_session_dir(&dir, Duration::from_secs(5)));
        writer.join().expect("the writer thread");
        // The writer may have created a file after the last removal only if
        // the directory still existed, which the removal rules out.
        assert!(!dir.exists());
        assert!(remove_session_dir(&dir, Duration::ZERO), "gone is done");
    }

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

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// A QEMU 10.0.2 build (never run) and a one-hart virt machine with
    /// `extra` as its scenario's further options.
    fn build_and_machine(extra: &[&str]) -> (QemuBuild, MachineSpec) {
        let build = QemuBuild {
            version: "10.0.2".parse().unwrap(),
            binary: PathBuf::from("/q/qemu-system-riscv64"),
            data_dir: None,
            origin: Origin::Path,
        };
        let spec = MachineSpec {
            machine: "virt".into(),
            cpu: "rv64".into(),
            smp: 1,
            memory: "128M".into(),
            bios: None,
            kernel: None,
            consoles: vec![],
            extra_args: args(extra),
        };
        (build, spec)
    }

    /// The command line as text.
    fn text_line(
        build: &QemuBuild,
        spec: &MachineSpec,
        opts: &LaunchOptions,
    ) -> Result<Vec<String>> {
        Ok(command_line(build, spec, opts, Path::new("/s"), None)?
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect())
    }

    /// A scenario's `-d` items join the harness's `int` in the one `-d`,
    /// whose log still goes to the harness's FIFO.
    #[test]
    fn scenario_log_items_join_the_harness_log() {
        let (build, spec) = build_and_machine(&["-d", "guest_errors,int", "--d=unimp"]);
        let opts = LaunchOptions {
            gdbstub: false,
            debug_log: Some(DebugLog {
                items: "int".into(),
                sink: Arc::new(crate::qemu::trap_log::SharedTrapLog::expecting(1, None)),
            }),
        };
        let line = text_line(&build, &spec, &opts).unwrap();
        let d: Vec<usize> = (0..line.len()).filter(|&i| line[i] == "-d").collect();
        assert_eq!(d.len(), 1, "one -d: {line:?}");
        assert_eq!(line[d[0] + 1], "int,guest_errors,unimp");
        let dd = line.iter().position(|a| a == "-D").expect("-D");
        assert_eq!(line[dd + 1], format!("/s/{DEBUG_FIFO}"));
        assert_eq!(line.iter().filter(|a| *a == "-D").count(), 1);
    }

    #[test]
    fn command_line_runs_every_drive_with_snapshot() {
        let (build, spec) = build_and_machine(&[
            "-drive",
            "file=/d.img,format=raw,if=none,id=d0",
            "-hda",
            "/e.img",
        ]);
        let line = text_line(&build, &spec, &LaunchOptions::default()).unwrap();
        assert!(line.contains(&"-snapshot".to_string()), "{line:?}");
        assert!(
            line.contains(&"file=/d.img,format=raw,if=none,id=d0,snapshot=on".to_string()),
            "{line:?}"
        );
        let bad = MachineSpec {
            extra_args: args(&["-drive", "file=/d.img,snapshot=off"]),
            ..spec
        };
        assert!(text_line(&build, &bad, &LaunchOptions::default()).is_err());
    }
}
