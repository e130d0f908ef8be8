//! No QEMU outlives the harness: not after a failed run, a timeout, Ctrl-C,
//! SIGTERM, SIGKILL of the harness, or a panic while a `QemuProcess` is alive.
//!
//! Every QEMU's command line names its private session directory, which
//! `tempfile` creates under `$TMPDIR`. The CLI cases give each `hvharness`
//! child a fresh `TMPDIR`, so "QEMU processes whose command line contains that
//! directory" are exactly that run's QEMUs (the signal cases first see their
//! QEMU appear that way, which checks the identification itself). The
//! in-process cases identify their QEMU by its session directory.
//!
//! All waits are bounded polls of a condition.

mod common;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use hvharness::internals::qemu::{
    ConsoleAttach, ConsoleSpec, LaunchOptions, MachineSpec, QemuProcess,
};
use hvharness::QemuBuild;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// The QEMU every CLI case runs on.
const VERSION: &str = "10.0.2";
/// How long a killed QEMU may take to disappear from /proc.
const GONE_LIMIT: Duration = Duration::from_secs(5);
/// How long a harness may take to start its QEMU.
const APPEAR_LIMIT: Duration = Duration::from_secs(30);
/// How long a harness may take to exit once signalled.
const EXIT_LIMIT: Duration = Duration::from_secs(10);
/// How long a complete CLI run (boot, or a 3 s timeout) may take.
const RUN_LIMIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(20);

/// Held (shared) by every case while it runs; the final check takes it
/// exclusively, so no case starts a QEMU while the final check looks.
static RUNNING: RwLock<()> = RwLock::new(());
/// Text that identifies this binary's QEMUs (TMPDIRs and session directories).
static NEEDLES: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn remember(needle: &str) {
    NEEDLES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(needle.to_string());
}

/// Polls until no QEMU mentions `needle`; the command lines still there otherwise.
fn wait_gone(needle: &str, limit: Duration) -> Result<(), Vec<String>> {
    let deadline = Instant::now() + limit;
    loop {
        let left = common::qemu_processes_with(needle);
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(left);
        }
        std::thread::sleep(POLL);
    }
}

fn assert_gone(needle: &str, what: &str) {
    if let Err(left) = wait_gone(needle, GONE_LIMIT) {
        panic!(
            "{what}: QEMU still running {GONE_LIMIT:?} later:\n{}",
            left.join("\n")
        );
    }
}

/// Session directories (`hvharness-qemu-*`) left in `dir`.
fn session_dirs_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("hvharness-qemu-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// The hvharness binary, run as a user would.

/// A scenario file for the reference firmware, written into a temporary directory.
struct Scenario {
    dir: tempfile::TempDir,
    path: PathBuf,
}

/// A guest console that never prints `never`: the run waits `timeout_secs`.
fn guest_scenario(milestones: &[&str], timeout_secs: u32, expect: &str) -> Scenario {
    let fw = common::firmware();
    let list: Vec<String> = milestones.iter().map(|m| format!("'{m}'")).collect();
    let text = format!(
        r#"description = "no_leaks: guest kernel alone"
[machine]
cpu = "rv64"
smp = 1
memory = "128M"
bios = "default"
kernel = '{kernel}'

[[console]]
name = "console"
attach = "serial"
milestones = [{milestones}]

[boot]
timeout_secs = {timeout_secs}

[[outcome]]
qemu = "*"
expect = "{expect}"
"#,
        kernel = fw.guest.display(),
        milestones = list.join(", "),
    );
    write_scenario(&text)
}

fn write_scenario(text: &str) -> Scenario {
    let dir = tempfile::Builder::new()
        .prefix("no-leaks-scenario-")
        .tempdir()
        .expect("a temporary directory");
    let path = dir.path().join("scenario.toml");
    std::fs::write(&path, text).expect("the scenario file is written");
    Scenario { dir, path }
}

/// One `hvharness run` child in its own process group, with its own TMPDIR.
/// Dropping it kills the harness (its QEMUs then die of the parent-death signal).
struct Harness {
    child: Child,
    tmp: tempfile::TempDir,
    needle: String,
    out: PathBuf,
    err: PathBuf,
    _scenario: Scenario,
}

impl Harness {
    fn start(scenario: Scenario) -> Harness {
        let tmp = tempfile::Builder::new()
            .prefix("no-leaks-tmpdir-")
            .tempdir()
            .expect("a temporary directory");
        let needle = tmp.path().to_string_lossy().into_owned();
        remember(&needle);
        let out = scenario.dir.path().join("stdout.txt");
        let err = scenario.dir.path().join("stderr.txt");
        let child = Command::new(env!("CARGO_BIN_EXE_hvharness"))
            .arg("run")
            .arg(&scenario.path)
            .args(["--qemu", VERSION, "--no-build"])
            .env("TMPDIR", tmp.path())
            .env("HVHARNESS_ROOT", common::root())
            .current_dir(common::root())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .process_group(0)
            .spawn()
            .expect("hvharness starts");
        Harness {
            child,
            tmp,
            needle,
            out,
            err,
            _scenario: scenario,
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// What the harness printed, for failure messages.
    fn output(&self) -> String {
        let out = std::fs::read_to_string(&self.out).unwrap_or_default();
        let err = std::fs::read_to_string(&self.err).unwrap_or_default();
        format!("--- stdout\n{out}--- stderr\n{err}")
    }

    /// Polls for the harness's exit until `limit`.
    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for hvharness") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    fn wait_or_panic(&mut self, limit: Duration, what: &str) -> ExitStatus {
        match self.wait(limit) {
            Some(s) => s,
            None => panic!(
                "{what}: hvharness still running after {limit:?}\n{}",
                self.output()
            ),
        }
    }

    /// Waits until this run's QEMU is running.
    fn wait_for_qemu(&mut self) {
        let deadline = Instant::now() + APPEAR_LIMIT;
        while common::qemu_processes_with(&self.needle).is_empty() {
            if let Some(status) = self.child.try_wait().expect("waiting for hvharness") {
                panic!(
                    "hvharness exited ({status}) before its QEMU was seen\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no QEMU under {} within {APPEAR_LIMIT:?}\n{}",
                self.needle,
                self.output()
            );
            std::thread::sleep(POLL);
        }
    }

    fn assert_no_qemu(&self, what: &str) {
        if let Err(left) = wait_gone(&self.needle, GONE_LIMIT) {
            panic!(
                "{what}: QEMU still running {GONE_LIMIT:?} later:\n{}\n{}",
                left.join("\n"),
                self.output()
            );
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = killpg(self.pid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Runs `hvharness run` to its end; asserts exit status 1 and that no QEMU or
/// session directory is left.
fn failing_run(scenario: Scenario, what: &str) {
    let _running = RUNNING.read().unwrap_or_else(|p| p.into_inner());
    let mut h = Harness::start(scenario);
    // Watch the run: its QEMU must show up under the TMPDIR given to it, or
    // the "nothing left" check below would prove nothing.
    let deadline = Instant::now() + RUN_LIMIT;
    let mut seen = false;
    let status = loop {
        seen |= !common::qemu_processes_with(&h.needle).is_empty();
        if let Some(s) = h.child.try_wait().expect("waiting for hvharness") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: hvharness still running after {RUN_LIMIT:?}\n{}",
            h.output()
        );
        std::thread::sleep(POLL);
    };
    assert_eq!(
        status.code(),
        Some(1),
        "{what}: exit status\n{}",
        h.output()
    );
    assert!(
        seen,
        "{what}: no QEMU was ever seen under {}: the check is blind\n{}",
        h.needle,
        h.output()
    );
    h.assert_no_qemu(what);
    let dirs = session_dirs_in(h.tmp.path());
    assert!(
        dirs.is_empty(),
        "{what}: session directories left: {dirs:?}"
    );
}

/// A wrong expectation (the good hypervisor is said to hang): the run ends in
/// a failed verdict, exit status 1.
#[test]
fn failed_verdict_leaves_no_qemu() {
    if common::qemu_or_skip(VERSION, "failed_verdict_leaves_no_qemu").is_none() {
        return;
    }
    let fw = common::firmware();
    let text = format!(
        r#"description = "no_leaks: hypervisor.elf, wrongly expected to hang"
[machine]
cpu = "rv64,h=true"
smp = 2
memory = "128M"
bios = "default"
kernel = '{kernel}'

[[console]]
name = "vm0"
attach = "serial"
milestones = ["guest kernel is booting", "init: starting sh", '\$ ']

[[console]]
name = "vm1"
attach = "pci-serial"
milestones = ["guest kernel is booting", "init: starting sh", '\$ ']

[boot]
timeout_secs = 60

[[outcome]]
qemu = "*"
expect = "hangs"
"#,
        kernel = fw.hypervisor.display()
    );
    failing_run(write_scenario(&text), "failed verdict");
}

/// A milestone that never appears: the run ends at its boot timeout.
#[test]
fn boot_timeout_leaves_no_qemu() {
    if common::qemu_or_skip(VERSION, "boot_timeout_leaves_no_qemu").is_none() {
        return;
    }
    let scenario = guest_scenario(
        &["guest kernel is booting", "this line is never printed"],
        3,
        "boots",
    );
    failing_run(scenario, "boot timeout");
}

/// Starts a run that would wait 120 s for a milestone, then signals it once its
/// QEMU runs. Returns the harness, exited, for further checks.
fn signalled_run(sig: Signal, whole_group: bool) -> Harness {
    let scenario = guest_scenario(&["this line is never printed"], 120, "boots");
    let mut h = Harness::start(scenario);
    h.wait_for_qemu();
    if whole_group {
        // What a terminal does on Ctrl-C: the signal goes to the foreground
        // process group, which is the harness's (each QEMU has its own).
        killpg(h.pid(), sig).expect("signalling the harness's group");
    } else {
        kill(h.pid(), sig).expect("signalling the harness");
    }
    h
}

#[test]
fn ctrl_c_exits_130_and_leaves_no_qemu() {
    if common::qemu_or_skip(VERSION, "ctrl_c_exits_130_and_leaves_no_qemu").is_none() {
        return;
    }
    let _running = RUNNING.read().unwrap_or_else(|p| p.into_inner());
    let mut h = signalled_run(Signal::SIGINT, true);
    let status = h.wait_or_panic(EXIT_LIMIT, "SIGINT");
    assert_eq!(
        status.code(),
        Some(130),
        "exit status after SIGINT\n{}",
        h.output()
    );
    h.assert_no_qemu("after SIGINT");
    let dirs = session_dirs_in(h.tmp.path());
    assert!(
        dirs.is_empty(),
        "session directories left after SIGINT: {dirs:?}"
    );
}

#[test]
fn sigterm_exits_143_and_leaves_no_qemu() {
    if common::qemu_or_skip(VERSION, "sigterm_exits_143_and_leaves_no_qemu").is_none() {
        return;
    }
    let _running = RUNNING.read().unwrap_or_else(|p| p.into_inner());
    let mut h = signalled_run(Signal::SIGTERM, false);
    let status = h.wait_or_panic(EXIT_LIMIT, "SIGTERM");
    assert_eq!(
        status.code(),
        Some(143),
        "exit status after SIGTERM\n{}",
        h.output()
    );
    h.assert_no_qemu("after SIGTERM");
    let dirs = session_dirs_in(h.tmp.path());
    assert!(
        dirs.is_empty(),
        "session directories left after SIGTERM: {dirs:?}"
    );
}

/// Nothing in the harness runs after SIGKILL: the kernel's parent-death signal
/// has to take QEMU down.
#[test]
fn sigkill_of_the_harness_kills_qemu() {
    if common::qemu_or_skip(VERSION, "sigkill_of_the_harness_kills_qemu").is_none() {
        return;
    }
    let _running = RUNNING.read().unwrap_or_else(|p| p.into_inner());
    let mut h = signalled_run(Signal::SIGKILL, false);
    let status = h.wait_or_panic(EXIT_LIMIT, "SIGKILL");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(Signal::SIGKILL as i32), "{status}");
    h.assert_no_qemu("after SIGKILL of the harness");
}

// ---------------------------------------------------------------------------
// Panics inside the library's user, in this process.

fn guest_machine() -> MachineSpec {
    MachineSpec {
        machine: "virt".into(),
        cpu: "rv64".into(),
        smp: 1,
        memory: "128M".into(),
        bios: Some("default".into()),
        kernel: Some(common::firmware().guest.clone()),
        consoles: vec![ConsoleSpec {
            name: "console".into(),
            attach: ConsoleAttach::Serial,
        }],
        extra_args: vec![],
    }
}

/// Starts QEMU, records its session directory, checks it can be seen by it.
async fn started(build: &QemuBuild) -> (QemuProcess, String) {
    let mut q = QemuProcess::launch(build, &guest_machine(), &LaunchOptions::default())
        .await
        .expect("QEMU starts");
    q.resume().await.expect("the VM runs");
    let needle = q.session_dir().to_string_lossy().into_owned();
    remember(&needle);
    assert!(
        !common::qemu_processes_with(&needle).is_empty(),
        "QEMU not found by its session directory {needle}"
    );
    (q, needle)
}

/// A panic on the thread that drives the runtime (a failed assertion in a
/// test, say) unwinds through the future holding the QemuProcess.
#[test]
fn panic_with_live_qemu_leaves_none() {
    let Some(build) = common::qemu_or_skip(VERSION, "panic_with_live_qemu_leaves_none") else {
        return;
    };
    let _running = RUNNING.read().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let needle: Mutex<Option<String>> = Mutex::new(None);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            let (_q, n) = started(&build).await;
            *needle.lock().unwrap() = Some(n);
            panic!("deliberate panic while QEMU runs");
        })
    }));
    assert!(outcome.is_err(), "the block panicked");
    let needle = needle.into_inner().unwrap().expect("QEMU had started");
    // This thread lives on, so the parent-death signal plays no part here.
    assert_gone(&needle, "after a panic holding a QemuProcess");
}

/// A tokio task that panics while holding a QemuProcess; the runtime and its
/// threads live on, so only the unwinding can have stopped QEMU.
#[test]
fn panicking_task_leaves_no_qemu() {
    let Some(build) = common::qemu_or_skip(VERSION, "panicking_task_leaves_no_qemu") else {
        return;
    };
    let _running = RUNNING.read().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<String>();
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let (_q, needle) = started(&build).await;
            let _ = started_tx.send(needle);
            let _ = go_rx.await;
            panic!("deliberate panic in a task holding a QemuProcess");
        });
        let needle = started_rx.await.expect("QEMU started in the task");
        assert!(
            !common::qemu_processes_with(&needle).is_empty(),
            "QEMU runs before the panic"
        );
        go_tx.send(()).unwrap();
        let err = task.await.expect_err("the task panicked");
        assert!(err.is_panic(), "{err}");
        let n = needle.clone();
        tokio::task::spawn_blocking(move || {
            assert_gone(&n, "after a task panicked holding a QemuProcess")
        })
        .await
        .unwrap();
    });
}

// ---------------------------------------------------------------------------

/// QEMU processes whose parent is this test process (not zombies: those have
/// an empty command line).
fn own_qemu_children() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let ppid = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .map(str::trim);
        if ppid != Some(me.as_str()) {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains("qemu-system") {
            out.push(text);
        }
    }
    out
}

/// Runs last (libtest starts tests in name order) and waits for the cases that
/// are still running: then no QEMU of this test binary may be left, neither a
/// child of this process nor one under any TMPDIR or session directory used here.
#[test]
fn zz_no_qemu_of_this_test_binary_remains() {
    let deadline = Instant::now() + Duration::from_secs(600);
    let _all_done = loop {
        match RUNNING.try_write() {
            Ok(g) => break g,
            Err(std::sync::TryLockError::Poisoned(p)) => break p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                assert!(
                    Instant::now() < deadline,
                    "the other cases did not finish within 10 minutes"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    let mut left = own_qemu_children();
    let needles = NEEDLES.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for n in &needles {
        if let Err(l) = wait_gone(n, GONE_LIMIT) {
            left.extend(l);
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "no_leaks: final check over {} runs of this binary",
        needles.len()
    );
    assert!(
        left.is_empty(),
        "QEMU processes of this test binary still running:\n{}",
        left.join("\n")
    );
}
