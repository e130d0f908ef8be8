//! The one place that starts and kills QEMU.
//!
//! Every QEMU runs in its own process group, in a private temporary directory
//! that holds its sockets and logs, started paused (`-S`) so the harness can
//! connect consoles before the first instruction. The group is killed when the
//! [`QemuProcess`] is dropped (errors, failed assertions and panics all drop it),
//! by [`kill_all`] from the SIGINT/SIGTERM/SIGHUP handler (registered with
//! [`crate::signals`]), and by the kernel if the harness itself dies
//! (parent-death signal).
//!
//! Those are three triggers of one termination path: SIGKILL to the QEMU's
//! process group. `Drop` and `kill_all` send it from the harness; the kernel
//! sends the parent-death signal when nothing in the harness can run any more.

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::command_line::command_line;
use super::end_watch::{EndWatch, OutsideEnd};
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
pub(super) const DEBUG_FIFO: &str = "qemu-debug.fifo";

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
        kill_all_on_exit();
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

/// Hands [`kill_all`] to the signal handler's clean-up (first, before any
/// other hook), once per process, before the first QEMU is tracked.
fn kill_all_on_exit() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| crate::signals::run_first(kill_all));
}

fn live_groups<R>(f: impl FnOnce(&mut HashMap<i32, Live>) -> R) -> R {
    kill_all_on_exit();
    let mut guard = match LIVE_GROUPS.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    f(guard.get_or_insert_with(HashMap::new))
}

/// Kills every QEMU this process started and has not yet killed, and removes
/// every session directory not yet removed. For the signal handler
/// ([`crate::signals::clean_up_for_exit`]), right before the process exits:
/// `exit` runs no destructors, so without this the `TempDir`s would stay
/// behind. Ordinary code relies on `Drop`.
fn kill_all() {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
