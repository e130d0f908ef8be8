//! Early hang verdicts on real QEMU: a storm or a parked hart is called hung
//! long before the boot timeout, after a look at the machine confirms it; a
//! guest idling at its prompt never is, and the interrupt log never lands on
//! disk. Each verdict test also runs with every core of the host busy.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hvharness::internals::debug::DebugSession;
use hvharness::internals::qemu::trap_log::{LoggedTrap, SharedTrapLog};
use hvharness::internals::qemu::{LaunchOptions, LogSink, QemuProcess};
use hvharness::internals::runner::{confirm_storm, StormCheck};
use hvharness::{Observed, Scenario, Verdict};

/// Longest a load test keeps the host busy.
const HOG_LIMIT: Duration = Duration::from_secs(120);

/// A scenario for the two-VM hypervisor whose last milestone never appears,
/// so the run has to decide between "idle" and "hung" for `timeout` seconds.
fn idle_scenario(dir: &std::path::Path, timeout: u32) -> Scenario {
    let fw = common::root().join("target/firmware");
    let text = format!(
        r#"
[machine]
cpu = "rv64,h=true"
smp = 2
bios = "default"
kernel = "{fw}/hypervisor.elf"
[[console]]
name = "vm0"
attach = "serial"
milestones = ['\$ ', "a line the shell never prints"]
[[console]]
name = "vm1"
attach = "pci-serial"
milestones = ['\$ ']
[[elf]]
name = "hypervisor"
path = "{fw}/hypervisor.elf"
virt = false
[[elf]]
name = "guest"
path = "{fw}/guest.elf"
virt = true
[boot]
timeout_secs = {timeout}
quiet_secs = 0.5
"#,
        fw = fw.display()
    );
    let path = dir.join("idle.toml");
    std::fs::write(&path, text).unwrap();
    Scenario::load(&path).unwrap()
}

async fn idle_at_prompt_is_not_hung(version: &str, secs: u32, load: bool) {
    let Some(build) = common::qemu_or_skip(version, "idle_at_prompt") else {
        return;
    };
    common::firmware();
    let dir = tempfile::tempdir().unwrap();
    let scenario = idle_scenario(dir.path(), secs);
    let _hog = load.then(|| common::CpuHog::start(HOG_LIMIT));
    let report = hvharness::run(&scenario, &build).await.unwrap();
    match &report.observed {
        Observed::Hung {
            early: None,
            missing,
            ..
        } => assert!(missing.contains("never prints")),
        // Only the boot deadline ends a wait without an early reason.
        other => {
            panic!("idling at the prompt for {secs} s must end in the plain timeout, got {other:?}")
        }
    }
    // The interrupt log went through a FIFO: megabytes read, nothing kept.
    assert!(
        report.trap_log.bytes > 1 << 20,
        "only {} bytes of interrupt log read",
        report.trap_log.bytes
    );
    assert!(
        report.session_dir_peak_bytes < 64 << 10,
        "the session directory grew to {} bytes",
        report.session_dir_peak_bytes
    );
}

async fn noadue_hang_is_called_early(version: &str, load: bool) {
    let Some(build) = common::qemu_or_skip(version, "noadue_early") else {
        return;
    };
    if build.version < "9.0.0".parse().unwrap() {
        common::skipped(&format!("noadue_early on QEMU {version}: it boots there"));
        return;
    }
    common::firmware();
    let scenario =
        Scenario::load(&common::root().join("scenarios/hypervisor-noadue-2vm.toml")).unwrap();
    let _hog = load.then(|| common::CpuHog::start(HOG_LIMIT));
    let report = hvharness::run(&scenario, &build).await.unwrap();
    match &report.observed {
        Observed::Hung {
            early: Some(why), ..
        } => {
            let why = why.to_string();
            assert!(
                why.contains("same fault") && why.contains("never gets past"),
                "{why}"
            )
        }
        // The boot timeout would have ended it without an early reason: the
        // storm was seen and confirmed by counting traps, not seconds.
        other => panic!("expected an early hang verdict, got {other:?}"),
    }
    let first = report.first_trap.as_ref().expect("the first fault");
    assert_eq!(first.cause, 0xc);
    assert_ne!(first.epc, 0, "the first fault, not the loop at pc 0");
    assert!(
        report
            .first_trap_places
            .iter()
            .any(|p| p.starts_with("guest:kvminithart")),
        "{:?}",
        report.first_trap_places
    );
}

async fn parked_hart_is_called_early(version: &str, load: bool) {
    let Some(build) = common::qemu_or_skip(version, "parked_early") else {
        return;
    };
    common::firmware();
    let scenario = Scenario::load(&common::root().join("scenarios/fault-nodeleg.toml")).unwrap();
    let _hog = load.then(|| common::CpuHog::start(HOG_LIMIT));
    let report = hvharness::run(&scenario, &build).await.unwrap();
    match &report.observed {
        // The verdict names where the hart is parked, as read from it.
        Observed::Hung {
            early: Some(why), ..
        } => {
            let why = why.to_string();
            assert!(
                why.contains("parked in hypervisor:park+")
                    && why.contains("wfi loop")
                    && why.contains("HS)"),
                "{why}"
            )
        }
        // The 10 s boot timeout would have ended it without an early
        // reason: the look at the parked hart decided first.
        other => panic!("expected an early hang verdict, got {other:?}"),
    }
    assert!(
        matches!(report.verdict, Verdict::AsExpected),
        "{:?}",
        report.verdict
    );
}

/// A hypervisor that reports its guest's fatal fault through SBI console
/// calls and parks, beside idle harts parked in `wfi` with a handled
/// boot-time trap still in scause: the early verdict names the hart stuck
/// on the fault (hart 0), with that fault, and does not say it took no trap.
/// `file`: hypervisor-sbi-panic (an ebreak returned from with sret) or
/// hypervisor-highboot (every hart's MMU-on fetch fault, cause 12, never
/// returned from: the boot jump, named nowhere).
async fn stuck_hart_is_named_early(version: &str, file: &str) {
    let Some(build) = common::qemu_or_skip(version, file) else {
        return;
    };
    common::firmware();
    let scenario = Scenario::load(&common::root().join("scenarios").join(file)).unwrap();
    let report = hvharness::run(&scenario, &build).await.unwrap();
    let Observed::Hung {
        early: Some(why), ..
    } = &report.observed
    else {
        panic!("expected an early hang verdict, got {:?}", report.observed);
    };
    let why = why.to_string();
    assert!(
        why.contains("hart 0 is stuck on exception 20 (")
            && why.contains("guest:_entry")
            && why.contains("from VS to HS")
            && why.contains("parked in hypervisor:park+"),
        "{why}"
    );
    assert!(!why.contains("no trap"), "hart 0 trapped: {why}");
    assert!(
        !why.contains("hart 1") && !why.contains("hart 2") && !why.contains("hart 3"),
        "an idle hart is blamed: {why}"
    );
    assert!(
        !why.contains("exception 12"),
        "the boot jump is blamed: {why}"
    );
    assert!(
        matches!(report.verdict, Verdict::AsExpected),
        "{:?}",
        report.verdict
    );
}

/// Feeds a fake storm of `trap` into `log`: 64 records, then (`go_on`) one
/// a millisecond until dropped. The probe counts those records while QEMU
/// really runs.
struct FakeStorm {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeStorm {
    fn start(log: Arc<SharedTrapLog>, trap: &LoggedTrap, go_on: bool) -> FakeStorm {
        let stop = Arc::new(AtomicBool::new(false));
        let line = format!(
            "riscv_cpu_do_interrupt: hart:{}, async:0, cause:{:016x}, epc:0x{:016x}, tval:0x{:016x}, desc={}\n",
            trap.hart, trap.cause, trap.epc, trap.tval, trap.desc
        );
        for _ in 0..64 {
            log.data(line.as_bytes());
        }
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                if !go_on {
                    return;
                }
                let until = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    log.data(line.as_bytes());
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        FakeStorm {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeStorm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The storm probe on real QEMU: a repeated exception whose next
/// instruction runs at the privilege it was taken at (as after each emulated
/// MMIO access; here the hypervisor's trap vector, entered in HS-mode on
/// every SBI call: the probe stops the hart at its first instruction, reads
/// HS, and then sees the second one run in HS) is not a storm; one whose
/// next instruction never runs (pc 0, as in the ADUE loop) is.
async fn storm_probe_tells_emulation_from_a_loop(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "storm_probe") else {
        return;
    };
    common::firmware();
    let scenario = Scenario::load(&common::root().join("scenarios/hypervisor-2vm.toml")).unwrap();
    let mut qemu = QemuProcess::launch(
        &build,
        &scenario.machine,
        &LaunchOptions {
            gdbstub: true,
            debug_log: None,
        },
    )
    .await
    .unwrap();
    let elfs = std::sync::Arc::new(scenario.load_elfs().unwrap());
    let mut session =
        DebugSession::attach(qemu.gdb_addr().unwrap(), &scenario, build.version, elfs)
            .await
            .unwrap();
    session.resume().await.unwrap();
    // Until both VMs are at their prompt (the scenario's breakpoints are taken on the way).
    let prompt = regex::Regex::new(r"\$ ").unwrap();
    let until = Instant::now() + Duration::from_secs(180);
    for name in ["vm0", "vm1"] {
        while qemu.console(name).unwrap().try_expect(&prompt).is_none() {
            assert!(Instant::now() < until, "no prompt on {name}");
            session.poll(Duration::from_millis(50)).await.unwrap();
        }
    }
    let trapvec = session
        .elfs()
        .space("hypervisor")
        .unwrap()
        .symbol_address("trapvec")
        .unwrap();
    let emulated = LoggedTrap {
        hart: 0,
        interrupt: false,
        cause: 0x15,
        epc: trapvec,
        tval: 0x1000_0000,
        desc: "load_guest_access_fault".into(),
    };
    let looping = LoggedTrap {
        hart: 0,
        interrupt: false,
        cause: 0xc,
        epc: 0,
        tval: 0,
        desc: "exec_page_fault".into(),
    };
    // The emulated case gets no further records: only reaching the
    // instruction after it can end the probe (else: undecided, after 10 s),
    // however slow the host. The loop gets records and never passes.
    for (trap, want, go_on) in [
        (emulated, StormCheck::Passes, false),
        (looping, StormCheck::Confirmed, true),
    ] {
        let log = Arc::new(SharedTrapLog::new(2));
        let _storm = FakeStorm::start(log.clone(), &trap, go_on);
        let mut records = Vec::new();
        let got = confirm_storm(&mut session, &log, &trap, &mut records)
            .await
            .unwrap();
        assert_eq!(got, want, "probe after {:#x}", trap.epc);
    }
    // The probes are gone and the machine runs on.
    assert!(session.rsp().is_running());
    assert!(session.rsp().breakpoints().iter().all(|(_, a, _)| ![
        trapvec,
        trapvec + 2,
        trapvec + 4,
        0,
        2,
        4
    ]
    .contains(a)));
    qemu.kill().await;
}

common::per_version! {
    async idle_at_prompt_is_not_hung = idle_at_prompt_is_not_hung(30, false);
    async idle_at_prompt_is_not_hung_under_load = idle_at_prompt_is_not_hung(15, true);
    async noadue_hang_is_called_early = noadue_hang_is_called_early(false);
    async noadue_hang_is_called_early_under_load = noadue_hang_is_called_early(true);
    async parked_hart_is_called_early = parked_hart_is_called_early(false);
    async parked_hart_is_called_early_under_load = parked_hart_is_called_early(true);
    async stuck_hart_is_named_early = stuck_hart_is_named_early("hypervisor-sbi-panic.toml");
    async boot_jump_is_not_named_early = stuck_hart_is_named_early("hypervisor-highboot.toml");
    async storm_probe_tells_emulation_from_a_loop;
}
