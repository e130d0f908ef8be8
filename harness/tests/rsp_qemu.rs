//! The RSP client against real QEMU, every version of the matrix that is
//! installed (all four from `scripts/setup.sh`). A missing version prints a
//! `skipped:` line and returns.
//!
//! The machine: `-machine virt -cpu rv64,h=true -smp 2 -bios default`, no
//! kernel, started paused (`-S`) by `QemuProcess`, which kills it on drop.

mod common;

use std::time::Duration;

use hvharness::internals::qemu::{LaunchOptions, MachineSpec, QemuProcess};
use hvharness::internals::rsp::{
    BreakpointType, RegisterValue, RspClient, RspConfig, RspError, ThreadId, WatchKind,
};

const OPENSBI: u64 = 0x8000_0000;
const RESET_PC: u64 = 0x1000;

fn machine() -> MachineSpec {
    common::virt("rv64,h=true", 2)
}

/// Starts QEMU paused with a gdbstub and connects; `None` (after a skip line) when the version is missing.
async fn start(version: &str, test: &str) -> Option<(QemuProcess, RspClient)> {
    let build = common::qemu_or_skip(version, test)?;
    let q = QemuProcess::launch(
        &build,
        &machine(),
        &LaunchOptions {
            gdbstub: true,
            debug_log: None,
        },
    )
    .await
    .expect("QEMU starts");
    let addr = q.gdb_addr().expect("a gdbstub address");
    let gdb = RspClient::connect(addr, RspConfig::default())
        .await
        .expect("connect to QEMU's gdbstub");
    Some((q, gdb))
}

async fn paused_machine_state(version: &str) {
    let Some((_q, mut gdb)) = start(version, "rsp paused_machine_state").await else {
        return;
    };
    assert!(!gdb.no_ack_mode(), "QEMU has no no-ack mode");
    assert_eq!(gdb.packet_size(), 4096, "PacketSize=1000");

    let d = gdb.target_description().unwrap().clone();
    assert_eq!(d.architecture(), Some("riscv:rv64"));
    let files: Vec<&String> = d.files().keys().collect();
    assert!(files.len() >= 5, "QEMU splits the description: {files:?}");
    assert_eq!(d.register("pc").unwrap().regnum, 32);
    assert_eq!(
        d.register("mstatus").unwrap().regnum,
        66 + 0x300,
        "CSR base 66 with rv64,h=true"
    );

    let threads = gdb.threads().await.unwrap();
    assert_eq!(
        threads,
        vec![ThreadId::qemu_hart(0), ThreadId::qemu_hart(1)],
        "one thread per hart"
    );

    for (i, t) in threads.iter().enumerate() {
        gdb.select_register_thread(*t).await.unwrap();
        assert_eq!(
            gdb.read_register_u64("pc").await.unwrap(),
            Some(RESET_PC),
            "hart {i} at the reset vector"
        );
        assert_eq!(
            gdb.read_register_u64("mhartid").await.unwrap(),
            Some(i as u64)
        );
        assert_eq!(
            gdb.read_register_u64("priv").await.unwrap(),
            Some(3),
            "M-mode at reset"
        );
        let misa = gdb
            .read_register_u64("misa")
            .await
            .unwrap()
            .expect("misa readable");
        assert_ne!(misa & (1 << 7), 0, "misa.H with h=true: {misa:#x}");
        assert_eq!(misa >> 62, 2, "MXL=64");
        let henvcfg = gdb.read_register_u64("henvcfg").await.unwrap();
        let menvcfg = gdb.read_register_u64("menvcfg").await.unwrap();
        eprintln!("QEMU {version} hart {i}: menvcfg={menvcfg:x?} henvcfg={henvcfg:x?}");
        // Reset values by version: see quirks::HENVCFG_RESET_ADUE / MENVCFG_RESET_ADUE.
        let v: hvharness::QemuVersion = version.parse().unwrap();
        assert_eq!(
            henvcfg,
            Some(hvharness::internals::riscv::envcfg::henvcfg_at_reset(v)),
            "henvcfg at reset"
        );
        assert_eq!(
            menvcfg,
            Some(hvharness::internals::riscv::envcfg::menvcfg_at_reset(v)),
            "menvcfg at reset"
        );
    }

    // Every listed CSR answers: a value, or "unavailable" (E14), never a failure.
    gdb.select_register_thread(ThreadId::qemu_hart(0))
        .await
        .unwrap();
    let mut unavailable = Vec::new();
    let csrs: Vec<String> = d
        .feature("org.gnu.gdb.riscv.csr")
        .map(|r| r.name.clone())
        .collect();
    for name in &csrs {
        match gdb.read_register(name).await.unwrap() {
            RegisterValue::Available(b) => assert_eq!(b.len(), 8, "{name}"),
            RegisterValue::Unavailable => unavailable.push(name.clone()),
        }
    }
    eprintln!(
        "QEMU {version}: {} CSRs listed, unavailable: {unavailable:?}",
        csrs.len()
    );
    assert!(unavailable.len() < csrs.len() / 2);

    // g: the 33 core registers.
    let core = gdb.read_core_registers().await.unwrap();
    assert_eq!(core.len(), 33);
    assert_eq!(core[32].0, "pc");
    assert_eq!(core[32].1.as_u64(), Some(RESET_PC));
}

async fn memory(version: &str) {
    let Some((_q, mut gdb)) = start(version, "rsp memory").await else {
        return;
    };
    // OpenSBI is loaded at 0x80000000 before the first instruction.
    let virt = gdb.read_memory(OPENSBI, 5000).await.unwrap();
    assert_eq!(
        &virt[..4],
        &[0x33, 0x04, 0x05, 0x00],
        "OpenSBI's first instruction (add s0,a0,zero)"
    );
    let phys = gdb.read_physical_memory(OPENSBI, 5000).await.unwrap();
    assert_eq!(virt, phys, "M-mode, satp bare: virtual = physical");
    assert!(
        !gdb.physical_memory_mode(),
        "physical mode switched back off"
    );
    let q = gdb.qemu_supported().await.unwrap();
    assert!(
        q.iter().any(|f| f == "PhyMemMode") && q.iter().any(|f| f == "sstep"),
        "{q:?}"
    );

    // QEMU's limits, seen raw.
    assert_eq!(
        gdb.request("m80000000,801").await.unwrap(),
        b"E22",
        "reads over 2048 bytes"
    );
    match gdb.read_memory(0, 16).await {
        Err(RspError::ErrorReply { code: 0x14, .. }) => {}
        other => panic!("unreadable address: expected E14, got {other:?}"),
    }

    // Writes, virtual and physical, in RAM OpenSBI has not reached.
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    gdb.write_memory(0x8040_0000, &data).await.unwrap();
    assert_eq!(
        gdb.read_physical_memory(0x8040_0000, data.len())
            .await
            .unwrap(),
        data
    );
    gdb.write_physical_memory(0x8040_1000, b"$#}*")
        .await
        .unwrap();
    assert_eq!(gdb.read_memory(0x8040_1000, 4).await.unwrap(), b"$#}*");
}

async fn breakpoint_step_interrupt(version: &str) {
    let Some((_q, mut gdb)) = start(version, "rsp breakpoint_step_interrupt").await else {
        return;
    };
    assert!(gdb.vcont_actions().await.unwrap().iter().any(|a| a == "s"));
    gdb.set_breakpoint(OPENSBI).await.unwrap();
    let stop = gdb
        .continue_until_stop(Duration::from_secs(20))
        .await
        .unwrap();
    assert!(stop.is_trap(), "{stop:?}");
    let hart = stop.thread().expect("QEMU names the hart");
    eprintln!("QEMU {version}: breakpoint at {OPENSBI:#x} hit by {hart}");
    assert_eq!(
        gdb.read_thread_register(hart, "pc").await.unwrap().as_u64(),
        Some(OPENSBI)
    );

    // A step moves the stopped hart by one instruction.
    gdb.clear_breakpoint(OPENSBI).await.unwrap();
    let other = if hart == ThreadId::qemu_hart(0) {
        ThreadId::qemu_hart(1)
    } else {
        ThreadId::qemu_hart(0)
    };
    let other_pc = gdb
        .read_thread_register(other, "pc")
        .await
        .unwrap()
        .as_u64();
    let stop = gdb.step(hart).await.unwrap();
    assert!(stop.is_trap(), "{stop:?}");
    assert_eq!(
        gdb.read_thread_register(hart, "pc").await.unwrap().as_u64(),
        Some(OPENSBI + 4)
    );
    assert_eq!(
        gdb.read_thread_register(other, "pc")
            .await
            .unwrap()
            .as_u64(),
        other_pc,
        "vCont;s:TID leaves the other hart"
    );

    // Free run: OpenSBI has no next stage and never stops by itself.
    gdb.resume().await.unwrap();
    let e = gdb
        .wait_for_stop(Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert!(matches!(
        gdb.read_register("pc").await,
        Err(RspError::TargetRunning { .. })
    ));
    let stop = gdb.interrupt_and_wait().await.unwrap();
    assert!(stop.is_interrupt(), "T02 after 0x03: {stop:?}");
    let pc = gdb
        .read_thread_register(ThreadId::qemu_hart(0), "pc")
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    assert_ne!(pc, RESET_PC, "hart 0 ran");

    let text = gdb.monitor("info registers").await.unwrap();
    assert!(text.contains("pc"), "{text}");
    assert!(text.contains("mstatus"), "{text}");
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("V ")),
        "H CPU prints a V line: {text}"
    );
}

/// Raw QEMU facts about `?`, then the client's handling of them.
async fn halt_reason_and_breakpoints(version: &str) {
    let Some((_q, mut gdb)) = start(version, "rsp halt_reason_and_breakpoints").await else {
        return;
    };
    // Raw `?`: QEMU deletes the breakpoint of the current hart (hart 0) only.
    gdb.set_breakpoint(OPENSBI).await.unwrap();
    assert!(gdb.request("?").await.unwrap().starts_with(b"T05"));
    let stop = gdb
        .continue_until_stop(Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(
        stop.thread(),
        Some(ThreadId::qemu_hart(1)),
        "hart 1 kept its breakpoint: {stop:?}"
    );
    assert_eq!(
        gdb.read_thread_register(ThreadId::qemu_hart(1), "pc")
            .await
            .unwrap()
            .as_u64(),
        Some(OPENSBI)
    );
    // Where hart 0 is now depends on timing (it may sit exactly at OPENSBI,
    // having just arrived there without a breakpoint): only the stop's
    // thread and the failed removal below show the lost copy reliably.
    assert_eq!(
        gdb.request("z0,80000000,4").await.unwrap(),
        b"E22",
        "one copy is gone, so removal fails"
    );
    drop(gdb);
    drop(_q);

    // The client's `?` keeps every breakpoint.
    let Some((_q, mut gdb)) = start(version, "rsp halt_reason_and_breakpoints").await else {
        return;
    };
    gdb.set_breakpoint(OPENSBI).await.unwrap();
    assert!(gdb.halt_reason().await.unwrap().is_trap());
    let stop = gdb
        .continue_until_stop(Duration::from_secs(20))
        .await
        .unwrap();
    let hart = stop.thread().unwrap();
    assert_eq!(
        gdb.read_thread_register(hart, "pc").await.unwrap().as_u64(),
        Some(OPENSBI)
    );
}

/// A hart resumed on a breakpoint stops there again at once (QEMU); the
/// client steps over it, so each hart reports the breakpoint once and then
/// the machine runs on.
async fn continue_past_breakpoint(version: &str) {
    let Some((_q, mut gdb)) = start(version, "rsp continue_past_breakpoint").await else {
        return;
    };
    gdb.set_breakpoint(OPENSBI).await.unwrap();
    let mut reported = Vec::new();
    let mut ran_on = false;
    for _ in 0..4 {
        match gdb.continue_until_stop(Duration::from_secs(2)).await {
            Ok(stop) => {
                let hart = stop.thread().expect("hart");
                assert_eq!(
                    gdb.read_thread_register(hart, "pc").await.unwrap().as_u64(),
                    Some(OPENSBI)
                );
                reported.push(hart);
            }
            Err(e) if e.is_timeout() => {
                ran_on = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    eprintln!("QEMU {version}: breakpoint reported by {reported:?}");
    assert!(
        ran_on,
        "the machine ran on after the breakpoint: {reported:?}"
    );
    assert!(!reported.is_empty() && reported.len() <= 2, "{reported:?}");
    assert!(gdb.interrupt_and_wait().await.unwrap().is_interrupt());
    // And the raw resume shows QEMU's behaviour: put a hart back on the breakpoint.
    gdb.select_register_thread(ThreadId::qemu_hart(0))
        .await
        .unwrap();
    gdb.write_register("pc", OPENSBI).await.unwrap();
    gdb.resume_raw().await.unwrap();
    // QEMU does not always report a breakpoint at the pc a debugger has just
    // written (seen on 9.2.0 and 10.0.2, about 2 runs in 5 on a loaded
    // machine: the hart runs on). When it does report it, the hart has not moved.
    let stop = match gdb.wait_for_stop(Duration::from_secs(15)).await {
        Ok(stop) => stop,
        Err(e) if e.is_timeout() => {
            eprintln!(
                "QEMU {version}: the raw resume ran hart 0 past the breakpoint at the written pc"
            );
            assert!(gdb.interrupt_and_wait().await.unwrap().is_interrupt());
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!(stop.thread(), Some(ThreadId::qemu_hart(0)));
    assert_eq!(
        gdb.read_thread_register(ThreadId::qemu_hart(0), "pc")
            .await
            .unwrap()
            .as_u64(),
        Some(OPENSBI),
        "no progress"
    );
}

/// Watchpoints on a tiny program written into RAM over the gdbstub.
/// QEMU stops *before* the access, with pc on the load or store.
async fn watchpoints(version: &str) {
    let Some((_q, mut gdb)) = start(version, "rsp watchpoints").await else {
        return;
    };
    const CODE: u64 = 0x8040_0000;
    const DATA: u64 = 0x8040_1000;
    // sd t1,0(t0); ld t2,8(t0); j .
    let code: Vec<u8> = [0x0062_b023u32, 0x0082_b383, 0x0000_006f]
        .iter()
        .flat_map(|i| i.to_le_bytes())
        .collect();
    gdb.write_memory(CODE, &code).await.unwrap();
    gdb.write_memory(DATA, &[0u8; 8]).await.unwrap();
    gdb.write_memory(DATA + 8, &0x5678u64.to_le_bytes())
        .await
        .unwrap();
    gdb.select_register_thread(ThreadId::qemu_hart(1))
        .await
        .unwrap();
    gdb.write_register("pc", CODE + 8).await.unwrap(); // hart 1 spins on `j .`
    gdb.select_register_thread(ThreadId::qemu_hart(0))
        .await
        .unwrap();
    gdb.write_register("pc", CODE).await.unwrap();
    gdb.write_register("t0", DATA).await.unwrap();
    gdb.write_register("t1", 0x1234).await.unwrap();
    let hart0 = ThreadId::qemu_hart(0);

    // Write watch: the stop comes before the store.
    gdb.set_watchpoint(BreakpointType::WriteWatch, DATA, 8)
        .await
        .unwrap();
    gdb.set_watchpoint(BreakpointType::ReadWatch, DATA + 8, 8)
        .await
        .unwrap();
    let stop = gdb
        .continue_until_stop(Duration::from_secs(10))
        .await
        .unwrap();
    let hit = stop
        .signal()
        .and_then(|s| s.watch)
        .unwrap_or_else(|| panic!("a watch stop: {stop:?}"));
    assert_eq!((hit.kind, hit.addr), (WatchKind::Write, DATA));
    assert_eq!(stop.thread(), Some(hart0));
    assert_eq!(
        gdb.read_thread_register(hart0, "pc")
            .await
            .unwrap()
            .as_u64(),
        Some(CODE),
        "pc on the store"
    );
    assert_eq!(
        gdb.read_memory(DATA, 8).await.unwrap(),
        [0u8; 8],
        "not stored yet"
    );

    // Resuming steps over the store (the watchpoint stays): next, the load.
    let stop = gdb
        .continue_until_stop(Duration::from_secs(10))
        .await
        .unwrap();
    let hit = stop
        .signal()
        .and_then(|s| s.watch)
        .unwrap_or_else(|| panic!("a watch stop: {stop:?}"));
    assert_eq!((hit.kind, hit.addr), (WatchKind::Read, DATA + 8));
    assert_eq!(
        gdb.read_thread_register(hart0, "pc")
            .await
            .unwrap()
            .as_u64(),
        Some(CODE + 4),
        "pc on the load"
    );
    assert_eq!(
        gdb.read_memory(DATA, 8).await.unwrap(),
        0x1234u64.to_le_bytes(),
        "the store happened"
    );
    assert_eq!(
        gdb.read_register_u64("t2").await.unwrap(),
        Some(0),
        "not loaded yet"
    );

    // Past the load, nothing touches DATA: both harts spin until interrupted.
    gdb.set_watchpoint(BreakpointType::AccessWatch, DATA, 16)
        .await
        .unwrap();
    gdb.resume().await.unwrap();
    assert!(gdb
        .wait_for_stop(Duration::from_millis(500))
        .await
        .unwrap_err()
        .is_timeout());
    assert!(gdb.interrupt_and_wait().await.unwrap().is_interrupt());
    assert_eq!(
        gdb.read_thread_register(hart0, "t2")
            .await
            .unwrap()
            .as_u64(),
        Some(0x5678)
    );
    assert_eq!(gdb.breakpoints().len(), 3);
    gdb.remove_all_breakpoints().await.unwrap();
}

/// `vCont;c:TID` runs that hart alone: the other stays where it was (what
/// DebugSession relies on to hold a hart at an `arm_after` trigger).
async fn resume_only_holds_the_others(version: &str) {
    let Some((q, mut gdb)) = start(version, "resume_only_holds_the_others").await else {
        return;
    };
    gdb.threads().await.unwrap();
    let (runs, held) = (ThreadId::qemu_hart(0), ThreadId::qemu_hart(1));
    let pc = |v: Option<u64>| v.expect("pc is readable");
    let runs_pc = pc(gdb.read_thread_register(runs, "pc").await.unwrap().as_u64());
    let held_pc = pc(gdb.read_thread_register(held, "pc").await.unwrap().as_u64());
    gdb.resume_only(&[runs]).await.unwrap();
    let e = gdb
        .wait_for_stop(Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    gdb.interrupt_and_wait().await.unwrap();
    assert_ne!(
        pc(gdb.read_thread_register(runs, "pc").await.unwrap().as_u64()),
        runs_pc,
        "hart 0 ran"
    );
    assert_eq!(
        pc(gdb.read_thread_register(held, "pc").await.unwrap().as_u64()),
        held_pc,
        "hart 1 stayed"
    );
    q.kill().await;
}

/// The facts a cheap stop rests on: after a stop reply that names a hart,
/// `p` reads that hart without an `Hg` (QEMU makes it the stop CPU), for a
/// breakpoint, a step and an interrupt alike; and a single step passes a
/// breakpoint still inserted at the hart's pc (QEMU ignores breakpoints
/// while stepping), so the client steps off one without removing it.
async fn stops_select_their_hart_and_steps_pass_breakpoints(version: &str) {
    let Some((_q, mut gdb)) = start(version, "rsp stops_select_their_hart").await else {
        return;
    };
    let hart_of = |t: ThreadId| t.hart_index().expect("a hart thread") as u64;
    gdb.set_breakpoint(OPENSBI).await.unwrap();
    let stop = gdb
        .continue_until_stop(Duration::from_secs(20))
        .await
        .unwrap();
    let hart = stop.thread().expect("QEMU names the hart");
    // Raw `p`, no `Hg` since the stop: mhartid tells which hart it read.
    assert_eq!(
        gdb.register_thread(),
        Some(hart),
        "the client takes the stop's hart as selected"
    );
    assert_eq!(
        gdb.read_register_u64("mhartid").await.unwrap(),
        Some(hart_of(hart))
    );
    // The other hart, selected with Hg, then a step of the stopped one:
    // the step's stop points Hg back at it.
    let other = ThreadId::qemu_hart(1 - hart_of(hart) as usize);
    gdb.read_thread_register(other, "pc").await.unwrap();
    let stop = gdb.step(hart).await.unwrap();
    assert_eq!(stop.thread(), Some(hart), "{stop:?}");
    assert_eq!(
        gdb.read_register_u64("mhartid").await.unwrap(),
        Some(hart_of(hart))
    );
    assert_eq!(
        gdb.read_register_u64("pc").await.unwrap(),
        Some(OPENSBI + 4),
        "the step passed the breakpoint still inserted at its pc"
    );
    assert!(gdb
        .breakpoints()
        .iter()
        .any(|&(ty, a, _)| ty == BreakpointType::Software && a == OPENSBI));
    // An interrupt: the T02 names a hart, and Hg points at it.
    gdb.clear_breakpoint(OPENSBI).await.unwrap();
    gdb.resume().await.unwrap();
    let stop = gdb.interrupt_and_wait().await.unwrap();
    let stopped = stop.thread().expect("T02 names a hart");
    assert_eq!(
        gdb.read_register_u64("mhartid").await.unwrap(),
        Some(hart_of(stopped))
    );
}

common::per_version! {
    async paused_machine_state;
    async memory;
    async breakpoint_step_interrupt;
    async halt_reason_and_breakpoints;
    async continue_past_breakpoint;
    async watchpoints;
    async resume_only_holds_the_others;
    async stops_select_their_hart_and_steps_pass_breakpoints;
}
