//! Signals at several moments, closed output, QEMU ended from outside and
//! hostile `--version` wrappers, against the real `hvharness` binary and real
//! QEMU on every version of the matrix.
//!
//! Every `hvharness` child gets its own `TMPDIR`: its session directories
//! live there, and its QEMUs are the QEMU processes whose command line names
//! it. Every wait is a bounded poll for an observable event (a file written
//! by a build command, a QEMU process appearing, QEMU having used CPU time,
//! a line on stderr), never a sleep standing in for one.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

const POLL: Duration = Duration::from_millis(20);
/// How long an event the test waits for may take on a loaded machine.
const EVENT_LIMIT: Duration = Duration::from_secs(60);
/// How long a signalled harness may take to exit.
const EXIT_LIMIT: Duration = Duration::from_secs(20);
/// How long a killed process may take to disappear.
const GONE_LIMIT: Duration = Duration::from_secs(10);
/// Scheduler ticks of vCPU time that show a QEMU has been running its guest.
const RUNNING_TICKS: u64 = 5;

fn poll_until<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(POLL);
    }
}

/// Whether `pid` has ended (gone, or a zombie waiting for its parent).
fn ended(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.is_empty() || stat.contains(") Z ")
}

/// CPU time QEMU `pid` spent running its guest, in scheduler ticks: the
/// most any thread other than the main one used. QEMU starts paused (`-S`):
/// its vCPU thread exists but uses no CPU until the harness lets the guest
/// run, after start-up, the debugger's attach and its `vCont;c`; the main
/// thread's start-up work does not count.
fn guest_ticks(pid: i32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|t| t.file_name().to_str() != Some(&pid.to_string()))
        .map(|t| stat_ticks(&t.path().join("stat")))
        .max()
        .unwrap_or(0)
}

/// User + system CPU time in a `/proc/.../stat` file, in scheduler ticks.
fn stat_ticks(path: &Path) -> u64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is 3rd,
    // utime the 14th and stime the 15th field of the line.
    let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

/// Pids of QEMU processes whose command line contains `needle`.
fn qemu_pids(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd);
        if cmd.contains("qemu-system") && cmd.contains(needle) && !ended(pid) {
            out.push(pid);
        }
    }
    out
}

fn session_dirs(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("hvharness-qemu-"))
        })
        .collect()
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("script written");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

/// A private TMPDIR, cache and work directory for one `hvharness` child.
struct Sandbox {
    tmp: tempfile::TempDir,
    cache: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let make = |p: &str| {
            tempfile::Builder::new()
                .prefix(p)
                .tempdir()
                .expect("a temporary directory")
        };
        Sandbox {
            tmp: make("signals-tmpdir-"),
            cache: make("signals-cache-"),
            work: make("signals-work-"),
        }
    }

    fn needle(&self) -> String {
        self.tmp.path().to_string_lossy().into_owned()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hvharness"));
        c.args(args)
            .env("TMPDIR", self.tmp.path())
            .env("XDG_CACHE_HOME", self.cache.path())
            .env("HVHARNESS_ROOT", common::root())
            .current_dir(common::root())
            .stdin(Stdio::null());
        c
    }

    /// Starts `hvharness ARGS` in its own process group (as a shell's job).
    fn start(&self, args: &[&str]) -> Running {
        let out = self.work.path().join(format!("stdout-{}.txt", unique()));
        let err = self.work.path().join(format!("stderr-{}.txt", unique()));
        let child = self
            .command(args)
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .process_group(0)
            .spawn()
            .expect("hvharness starts");
        Running {
            child,
            out,
            err,
            what: args.join(" "),
        }
    }

    /// Writes a scenario for the guest kernel alone whose console never
    /// prints its milestone (the run would wait 120 s), optionally with a
    /// breakpoint that is never hit (the debugger then waits in vCont;c),
    /// and a build command.
    fn scenario(&self, breakpoint: bool, build: Option<&str>) -> PathBuf {
        let fw = common::firmware();
        let mut text = format!(
            r#"description = "signals: guest kernel alone, never done"
[machine]
cpu = "rv64"
smp = 1
memory = "128M"
bios = "default"
kernel = '{kernel}'

[[console]]
name = "console"
attach = "serial"
milestones = ['this line is never printed']

[boot]
timeout_secs = 120

[[outcome]]
qemu = "*"
expect = "boots"
"#,
            kernel = fw.guest.display(),
        );
        if breakpoint {
            text.push_str(&format!(
                r#"
[[elf]]
name = "guest"
path = '{kernel}'
virt = false

[[breakpoint]]
at = "guest:panic"
privilege = "HS"
"#,
                kernel = fw.guest.display()
            ));
        }
        if let Some(cmd) = build {
            text.push_str(&format!("\n[build]\ncommand = [\"sh\", \"-c\", '{cmd}']\n"));
        }
        let path = self.work.path().join(format!("scenario-{}.toml", unique()));
        std::fs::write(&path, text).expect("scenario written");
        path
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

struct Running {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    what: String,
}

impl Running {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn output(&self) -> String {
        format!(
            "`hvharness {}`\n--- stdout\n{}--- stderr\n{}",
            self.what,
            self.stdout(),
            self.stderr()
        )
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("waiting for hvharness")
    }

    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.exited() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {limit:?}\n{}",
                self.output()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Waits for a QEMU of this sandbox; its pid.
    fn wait_for_qemu(&mut self, sb: &Sandbox) -> i32 {
        let needle = sb.needle();
        let deadline = Instant::now() + EVENT_LIMIT;
        loop {
            if let Some(p) = qemu_pids(&needle).first() {
                return *p;
            }
            if let Some(s) = self.exited() {
                panic!("exited ({s}) before its QEMU was seen\n{}", self.output());
            }
            assert!(
                Instant::now() < deadline,
                "no QEMU within {EVENT_LIMIT:?}\n{}",
                self.output()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Waits until QEMU `pid` has run its guest for a while (CPU time).
    fn wait_for_guest(&mut self, pid: i32) {
        let deadline = Instant::now() + EVENT_LIMIT;
        while guest_ticks(pid) < RUNNING_TICKS {
            if let Some(s) = self.exited() {
                panic!("exited ({s}) before QEMU ran\n{}", self.output());
            }
            assert!(
                Instant::now() < deadline,
                "QEMU {pid} used no CPU within {EVENT_LIMIT:?}\n{}",
                self.output()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Waits until `text` appears in what `read` returns (stdout or stderr).
    fn wait_for_text(&mut self, text: &str, read: fn(&Self) -> String) {
        let deadline = Instant::now() + EVENT_LIMIT;
        while !read(self).contains(text) {
            if let Some(s) = self.exited() {
                panic!("exited ({s}) before printing {text:?}\n{}", self.output());
            }
            assert!(
                Instant::now() < deadline,
                "{text:?} not printed within {EVENT_LIMIT:?}\n{}",
                self.output()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Delivers `sig` as a user would: SIGINT to the foreground process
    /// group (a terminal's Ctrl-C), the others to the harness alone.
    fn signal(&self, sig: Signal) {
        if sig == Signal::SIGINT {
            killpg(self.pid(), sig).expect("signalling the harness's group");
        } else {
            kill(self.pid(), sig).expect("signalling the harness");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = killpg(self.pid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// The status a harness ends with on `sig`: 128 + its number, or death by SIGKILL.
fn assert_signal_status(sig: Signal, status: ExitStatus, r: &Running) {
    match sig {
        Signal::SIGKILL => assert_eq!(status.signal(), Some(9), "{status}\n{}", r.output()),
        _ => assert_eq!(
            status.code(),
            Some(128 + sig as i32),
            "exit status after {sig}\n{}",
            r.output()
        ),
    }
    assert!(
        !r.stderr().contains("panicked"),
        "a panic after {sig}\n{}",
        r.output()
    );
}

/// Nothing left: no QEMU of the sandbox, no session directory. After
/// SIGKILL the harness could not clean up: the next start must.
fn assert_nothing_left(sb: &Sandbox, sig: Signal, r: &Running, when: &str) {
    let needle = sb.needle();
    let deadline = Instant::now() + GONE_LIMIT;
    while !qemu_pids(&needle).is_empty() {
        assert!(
            Instant::now() < deadline,
            "{when}, {sig}: QEMU still running {GONE_LIMIT:?} later\n{}",
            r.output()
        );
        std::thread::sleep(POLL);
    }
    if sig == Signal::SIGKILL {
        let before = session_dirs(sb.tmp.path());
        let next = sb
            .command(&["qemu", "list"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("the next hvharness runs");
        let err = String::from_utf8_lossy(&next.stderr);
        assert!(next.status.success(), "qemu list after SIGKILL: {err}");
        for d in &before {
            assert!(
                err.contains(&format!("removed {}", d.display())),
                "{when}: the next start did not say it removed {}: {err}",
                d.display()
            );
        }
        eprintln!(
            "{when}, SIGKILL: {} stale session directories removed by the next start",
            before.len()
        );
    }
    let left = session_dirs(sb.tmp.path());
    assert!(
        left.is_empty(),
        "{when}, {sig}: session directories left: {left:?}\n{}",
        r.output()
    );
}

const SIGNALS: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGKILL,
];

// ---------------------------------------------------------------------------
// Signals during the build.

/// The build command writes its own pid and its background child's, then
/// waits: a build that takes as long as the test wants.
#[test]
fn signals_during_the_build_leave_no_build_running() {
    common::firmware();
    for sig in SIGNALS {
        let sb = Sandbox::new();
        let pids = sb.work.path().join("pids");
        // After SIGKILL nothing of the harness runs: only its direct child
        // gets the kernel's parent-death signal, so that build execs its
        // waiting process; the others keep a grandchild to kill with the group.
        let cmd = if sig == Signal::SIGKILL {
            format!(
                "echo $$ > {p}.tmp; mv {p}.tmp {p}; exec sleep 300",
                p = pids.display()
            )
        } else {
            format!(
                "sleep 300 & echo $$ $! > {p}.tmp; mv {p}.tmp {p}; wait",
                p = pids.display()
            )
        };
        let scenario = sb.scenario(false, Some(&cmd));
        let mut r = sb.start(&["run", scenario.to_str().unwrap(), "--qemu", "10.0.2"]);
        let text = poll_until(EVENT_LIMIT, "the build command starts", || {
            std::fs::read_to_string(&pids).ok()
        });
        let build_pids: Vec<i32> = text
            .split_whitespace()
            .map(|p| p.parse().expect("a pid"))
            .collect();
        r.signal(sig);
        let status = r.wait(EXIT_LIMIT);
        assert_signal_status(sig, status, &r);
        for pid in &build_pids {
            poll_until(
                GONE_LIMIT,
                &format!("build process {pid} ends after {sig}"),
                || ended(*pid).then_some(()),
            );
        }
        assert_nothing_left(&sb, sig, &r, "during the build");
    }
}

// ---------------------------------------------------------------------------
// Signals during launch, boot and diagnosis, on every QEMU.

#[derive(Debug, Clone, Copy)]
enum Moment {
    /// As soon as QEMU's process exists.
    Launch,
    /// Once QEMU has run its guest for a while.
    Boot,
    /// During `diagnose --gdb` of a hanging scenario, once the diagnosis is
    /// printed and QEMU is held stopped for a debugger. (Waiting for the guest
    /// to run instead raced the diagnosis: fault-illegal is diagnosed in
    /// 0.3 s, and on a quiet machine the run ended before the test looked.)
    Diagnose,
}

fn signal_at(version: &str, sig: Signal, moment: Moment) {
    let sb = Sandbox::new();
    let mut r = match moment {
        Moment::Launch | Moment::Boot => {
            let s = sb.scenario(false, None);
            sb.start(&["run", s.to_str().unwrap(), "--qemu", version, "--no-build"])
        }
        Moment::Diagnose => sb.start(&[
            "diagnose",
            "scenarios/fault-illegal.toml",
            "--qemu",
            version,
            "--no-build",
            "--gdb",
        ]),
    };
    let qemu = r.wait_for_qemu(&sb);
    match moment {
        Moment::Launch => {}
        Moment::Boot => r.wait_for_guest(qemu),
        Moment::Diagnose => r.wait_for_text("Press Ctrl-C to end it", Running::stdout),
    }
    r.signal(sig);
    let status = r.wait(EXIT_LIMIT);
    assert_signal_status(sig, status, &r);
    eprintln!("QEMU {version}, {moment:?}, {sig}: {status}");
    assert_nothing_left(&sb, sig, &r, &format!("QEMU {version}, {moment:?}"));
}

/// Every signal on every version; the moments rotate so that each version
/// sees three of them and each (signal, moment) pair occurs.
#[test]
fn signals_during_launch_boot_and_diagnosis_leave_nothing() {
    common::firmware();
    let moments = [Moment::Launch, Moment::Boot, Moment::Diagnose];
    for (v, version) in common::MATRIX.iter().enumerate() {
        if common::qemu_or_skip(version, "signals_during_launch_boot_and_diagnosis").is_none() {
            continue;
        }
        for (i, sig) in SIGNALS.iter().enumerate() {
            signal_at(version, *sig, moments[(i + v) % moments.len()]);
        }
    }
}

// ---------------------------------------------------------------------------
// QEMU ended from outside the harness.

/// Kills the sandbox's QEMU with `sig` once it runs its guest; the harness's
/// exit status and what it printed.
fn qemu_killed(sb: &Sandbox, args: &[&str], sig: Signal) -> (ExitStatus, String) {
    let mut r = sb.start(args);
    let qemu = r.wait_for_qemu(sb);
    r.wait_for_guest(qemu);
    kill(Pid::from_raw(qemu), sig).expect("signalling QEMU");
    let status = r.wait(EVENT_LIMIT);
    (status, r.output())
}

#[test]
fn a_qemu_killed_from_outside_is_named_and_cannot_test() {
    common::firmware();
    for version in common::MATRIX {
        if common::qemu_or_skip(version, "a_qemu_killed_from_outside").is_none() {
            continue;
        }
        // SIGKILL: QEMU cannot catch it; SIGTERM and SIGHUP: QEMU shuts down
        // by itself and says why.
        let cases: [(&str, bool, Signal, i32, &str); 4] = [
            (
                "run",
                false,
                Signal::SIGKILL,
                2,
                "killed by signal SIGKILL (9), sent from outside hvharness",
            ),
            ("run", true, Signal::SIGTERM, 2, "terminating on signal 15"),
            (
                "check",
                false,
                Signal::SIGKILL,
                125,
                "killed by signal SIGKILL (9), sent from outside hvharness",
            ),
            (
                "check",
                true,
                Signal::SIGHUP,
                125,
                "terminating on signal 1",
            ),
        ];
        for (cmd, bp, sig, code, words) in cases {
            let sb = Sandbox::new();
            let s = sb.scenario(bp, None);
            let mut args = vec![cmd, s.to_str().unwrap(), "--qemu", version, "--no-build"];
            if cmd == "check" && bp {
                // Judged by the scenario's expectation, with its breakpoint.
                args.push("--expect");
            }
            let (status, out) = qemu_killed(&sb, &args, sig);
            assert_eq!(
                status.code(),
                Some(code),
                "QEMU {version}, {cmd}, breakpoints {bp}, {sig}\n{out}"
            );
            assert!(
                out.contains(words) && !out.contains("panicked"),
                "QEMU {version}, {cmd}, breakpoints {bp}, {sig}: expected {words:?}\n{out}"
            );
            if cmd == "check" {
                assert!(out.contains("cannot test"), "{out}");
            }
            assert!(session_dirs(sb.tmp.path()).is_empty(), "{out}");
        }
    }
}

/// A QEMU that does not start, and an environment error, are "cannot test" too.
#[test]
fn check_cannot_test_a_qemu_that_does_not_start() {
    let Some(real) = common::qemu_or_skip("10.0.2", "check_cannot_test_a_qemu_that_does_not_start")
    else {
        return;
    };
    common::firmware();
    let sb = Sandbox::new();
    let wrapper = script(
        sb.work.path(),
        "qemu-system-riscv64",
        &format!(
            "if [ \"$1\" = --version ]; then exec {} --version; fi\necho 'refusing to start' >&2; exit 1",
            real.binary.display()
        ),
    );
    let s = sb.scenario(false, None);
    let out = sb
        .command(&[
            "check",
            s.to_str().unwrap(),
            "--qemu",
            wrapper.to_str().unwrap(),
            "--no-build",
        ])
        .output()
        .expect("hvharness runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(125), "{text}");
    assert!(
        text.contains("cannot test") && text.contains("refusing to start"),
        "{text}"
    );
    let out = sb
        .command(&["check", "/nonexistent/scenario.toml", "--no-build"])
        .output()
        .expect("hvharness runs");
    assert_eq!(out.status.code(), Some(125));
}

// ---------------------------------------------------------------------------
// Output.

/// Runs `hvharness ARGS` with a stdout whose reader is already gone.
fn with_closed_stdout(sb: &Sandbox, args: &[&str]) -> (ExitStatus, String) {
    let (read, write) = nix::unistd::pipe().expect("a pipe");
    drop(read);
    let err = sb.work.path().join(format!("stderr-{}.txt", unique()));
    let status = sb
        .command(args)
        .stdout(Stdio::from(std::fs::File::from(write)))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .status()
        .expect("hvharness runs");
    (status, std::fs::read_to_string(&err).unwrap_or_default())
}

/// `hvharness run --json | head -c 10` panicked ("failed printing to
/// stdout: Broken pipe", status 101) before.
#[test]
fn a_closed_stdout_ends_quietly_with_141() {
    let sb = Sandbox::new();
    let (status, err) = with_closed_stdout(&sb, &["qemu", "list", "--json"]);
    assert_eq!(status.code(), Some(141), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    common::firmware();
    for version in common::MATRIX {
        if common::qemu_or_skip(version, "a_closed_stdout_ends_quietly_with_141").is_none() {
            continue;
        }
        let (status, err) = with_closed_stdout(
            &sb,
            &[
                "run",
                "scenarios/guest-standalone.toml",
                "--json",
                "--no-build",
                "--qemu",
                version,
            ],
        );
        assert_eq!(status.code(), Some(141), "QEMU {version}: {err}");
        assert!(!err.contains("panicked"), "QEMU {version}: {err}");
        assert!(qemu_pids(&sb.needle()).is_empty());
        assert!(session_dirs(sb.tmp.path()).is_empty());
    }
}

/// A closed stderr (`2>&-` of a pipe) is no crash either.
#[test]
fn a_closed_stderr_ends_quietly_with_141() {
    let sb = Sandbox::new();
    let (read, write) = nix::unistd::pipe().expect("a pipe");
    drop(read);
    let out = sb
        .command(&["run", "/nonexistent/scenario.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::from(write)))
        .output()
        .expect("hvharness runs");
    assert_eq!(out.status.code(), Some(141));
}

#[test]
fn json_errors_are_json_objects() {
    let sb = Sandbox::new();
    for args in [
        vec!["run", "--json", "/nonexistent/scenario.toml"],
        vec!["diagnose", "--json", "/nonexistent/scenario.toml"],
        vec!["matrix", "--json", "/nonexistent/scenario.toml"],
    ] {
        let out = sb.command(&args).output().expect("hvharness runs");
        assert_eq!(out.status.code(), Some(2));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {:?}", out.stdout));
        assert_eq!(v["schema"], "hvharness-error/1", "{v}");
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("/nonexistent/scenario.toml")),
            "{v}"
        );
        assert_eq!(v["exit"], 2);
    }
}

// ---------------------------------------------------------------------------
// `--version` probing of wrappers.

/// A registry with nothing but `HVHARNESS_QEMU`: an empty project root, no
/// installed prefixes, no config file, no QEMU on PATH.
fn lone_registry(sb: &Sandbox, binary: &Path) -> Command {
    let empty = sb.work.path().join("empty-root");
    std::fs::create_dir_all(&empty).unwrap();
    let mut c = sb.command(&["qemu", "list"]);
    c.env("HVHARNESS_ROOT", &empty)
        .env("XDG_DATA_HOME", &empty)
        .env("HVHARNESS_CONFIG", empty.join("none.toml"))
        .env("PATH", "/usr/bin:/bin")
        .env("HVHARNESS_QEMU", binary)
        .current_dir(&empty);
    c
}

#[test]
fn version_wrappers_are_bounded_and_remembered() {
    let Some(real) = common::qemu_or_skip("9.2.0", "version_wrappers_are_bounded_and_remembered")
    else {
        return;
    };
    let sb = Sandbox::new();
    let count = sb.work.path().join("count");
    // Slow (the wait stands for a slow wrapper; no result depends on it),
    // chatty (more than a pipe holds) and counting its calls.
    let wrapper = script(
        sb.work.path(),
        "qemu-system-riscv64",
        &format!(
            "echo x >> {count}\nsleep 1\nhead -c 100000 /dev/zero | tr '\\0' '#'\necho\nexec {real} \"$@\"",
            count = count.display(),
            real = real.binary.display()
        ),
    );
    for round in 0..2 {
        let out = lone_registry(&sb, &wrapper)
            .output()
            .expect("hvharness runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("9.2.0") && text.contains(wrapper.to_str().unwrap()),
            "{text}"
        );
    }
    let calls = std::fs::read_to_string(&count)
        .unwrap_or_default()
        .lines()
        .count();
    assert_eq!(
        calls, 1,
        "the second listing asked the unchanged wrapper again"
    );
    // Changed (size and mtime): asked again.
    let mut text = std::fs::read_to_string(&wrapper).unwrap();
    text.push_str("# changed\n");
    std::fs::write(&wrapper, text).unwrap();
    let out = lone_registry(&sb, &wrapper)
        .output()
        .expect("hvharness runs");
    assert!(out.status.success());
    let calls = std::fs::read_to_string(&count)
        .unwrap_or_default()
        .lines()
        .count();
    assert_eq!(calls, 2, "a changed wrapper was not asked again");
}

#[test]
fn a_hanging_version_wrapper_leaves_no_child() {
    let sb = Sandbox::new();
    let pidfile = sb.work.path().join("pid");
    let wrapper = script(
        sb.work.path(),
        "qemu-system-riscv64",
        &format!("sleep 300 & echo $! > {}\nwait", pidfile.display()),
    );
    let out = lone_registry(&sb, &wrapper)
        .output()
        .expect("hvharness runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gave no answer within"), "{err}");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("the wrapper started its child")
        .trim()
        .parse()
        .expect("a pid");
    poll_until(GONE_LIMIT, "the wrapper's child ends", || {
        ended(pid).then_some(())
    });
}
