//! The RSP client against the fake target of [`super::fake_target`]: the
//! handshake, registers by name per hart, memory, breakpoints, watchpoints,
//! interrupts, monitor commands and the end of the session.

use std::time::Duration;

use super::fake_target::*;
use crate::rsp::{
    BreakpointType, RegisterValue, RspClient, RspConfig, RspError, StopReply, ThreadId,
    WatchKind as Wk,
};

/// Resumes every hart until the next stop (the fake target stops long
/// before the bound).
async fn run(gdb: &mut RspClient) -> StopReply {
    gdb.continue_until_stop(Duration::from_secs(10))
        .await
        .unwrap()
}

#[tokio::test]
async fn rsp_handshake_and_qemu_shaped_description() {
    let gdb = connect().await;
    let features = gdb.server_features().unwrap();
    assert!(features.supports("qXfer:features:read"));
    assert!(gdb.packet_size() >= 1024);
    assert!(
        gdb.no_ack_mode(),
        "gdbstub accepts QStartNoAckMode, unlike QEMU"
    );
    let d = gdb.target_description().unwrap();
    assert_eq!(d.architecture(), Some("riscv:rv64"));
    assert_eq!(d.files().len(), 5, "target.xml and its four includes");
    assert_eq!(d.register("pc").unwrap().regnum, 32);
    assert_eq!(d.register("priv").unwrap().regnum, 65);
    assert_eq!(d.register("mstatus").unwrap().regnum, 66 + 0x300);
}

#[tokio::test]
async fn rsp_registers_by_name_per_hart() {
    let mut gdb = connect().await;
    let threads = gdb.threads().await.unwrap();
    assert_eq!(
        threads,
        vec![ThreadId::qemu_hart(0), ThreadId::qemu_hart(1)]
    );

    gdb.select_register_thread(ThreadId::qemu_hart(0))
        .await
        .unwrap();
    assert_eq!(gdb.read_register_u64("pc").await.unwrap(), Some(START_PC));
    assert_eq!(
        gdb.read_register_u64("mstatus").await.unwrap(),
        Some(0xa_0000_0000)
    );
    assert_eq!(
        gdb.read_register_u64("menvcfg").await.unwrap(),
        Some(0x2000_0000_0000_0000)
    );
    assert_eq!(gdb.read_register_u64("henvcfg").await.unwrap(), Some(0));
    assert_eq!(
        gdb.read_register_u64("misa").await.unwrap(),
        Some(0x8000_0000_0014_112d)
    );
    assert_eq!(gdb.read_register_u64("priv").await.unwrap(), Some(3));
    assert_eq!(
        gdb.read_register("tselect").await.unwrap(),
        RegisterValue::Unavailable,
        "E14 on a listed CSR"
    );
    assert_eq!(gdb.read_register_u64("tselect").await.unwrap(), None);

    let v = gdb
        .read_thread_register(ThreadId::qemu_hart(1), "pc")
        .await
        .unwrap();
    assert_eq!(v.as_u64(), Some(START_PC + 0x100));
    assert_eq!(gdb.read_register_u64("mhartid").await.unwrap(), Some(1));
    assert_eq!(gdb.read_register_u64("a0").await.unwrap(), Some(1));

    // g: the 33 core registers, named from the description.
    let core = gdb.read_core_registers().await.unwrap();
    assert_eq!(core.len(), 33);
    assert_eq!(core[10].0, "a0");
    assert_eq!(core[10].1.as_u64(), Some(1));
    assert_eq!(core[32].0, "pc");
    assert_eq!(core[32].1.as_u64(), Some(START_PC + 0x100));

    gdb.write_register("henvcfg", 0xa000_0000_0000_0000)
        .await
        .unwrap();
    assert_eq!(
        gdb.read_register_u64("henvcfg").await.unwrap(),
        Some(0xa000_0000_0000_0000)
    );
    gdb.write_register("s1", 0x1234).await.unwrap();
    assert_eq!(gdb.read_register_u64("s1").await.unwrap(), Some(0x1234));
    assert!(matches!(
        gdb.write_register("tselect", 1).await,
        Err(RspError::Unavailable { .. })
    ));

    match gdb.read_register("henvcgf").await {
        Err(RspError::UnknownRegister { near, .. }) => {
            assert!(near.contains(&"henvcfg".to_string()), "{near:?}")
        }
        other => panic!("expected UnknownRegister, got {other:?}"),
    }
}

#[tokio::test]
async fn rsp_memory_in_chunks_with_rle_replies() {
    let addr = serve(Fake::new());
    let cfg = RspConfig {
        memory_chunk: 300,
        ..config()
    };
    let mut gdb = RspClient::connect(addr, cfg).await.unwrap();
    let head = gdb.read_memory(RAM_BASE, 8).await.unwrap();
    assert_eq!(head, [0x33, 0x04, 0x05, 0x00, 0xb3, 0x84, 0x05, 0x00]);
    // Mostly zeros: gdbstub compresses these replies with '*'.
    let data: Vec<u8> = (0..5000u32)
        .map(|i| if i % 700 == 0 { (i / 700) as u8 + 1 } else { 0 })
        .collect();
    gdb.write_memory(RAM_BASE + 0x1000, &data).await.unwrap();
    assert_eq!(
        gdb.read_memory(RAM_BASE + 0x1000, data.len())
            .await
            .unwrap(),
        data
    );
    // Bytes that need escaping on the way out travel as hex in M: no escapes needed, but check them anyway.
    let special = b"$#}*\x03+-";
    gdb.write_memory(RAM_BASE + 0x10, special).await.unwrap();
    assert_eq!(
        gdb.read_memory(RAM_BASE + 0x10, special.len())
            .await
            .unwrap(),
        special
    );
    match gdb.read_memory(0x1000, 16).await {
        Err(RspError::ErrorReply {
            code: 0x14,
            command,
        }) => assert!(command.starts_with("m1000,"), "{command}"),
        other => panic!("expected E14, got {other:?}"),
    }
    // An error reply leaves the connection usable.
    assert_eq!(
        gdb.read_memory(RAM_BASE, 4).await.unwrap(),
        [0x33, 0x04, 0x05, 0x00]
    );
    // Not QEMU: no physical-memory mode.
    assert!(matches!(
        gdb.set_physical_memory_mode(true).await,
        Err(RspError::Unsupported { .. })
    ));
}

#[tokio::test]
async fn rsp_breakpoint_continue_step() {
    let mut gdb = connect().await;
    assert!(gdb.vcont_actions().await.unwrap().iter().any(|a| a == "s"));
    let target = START_PC + 0x40;
    gdb.set_breakpoint(target).await.unwrap();
    let stop = run(&mut gdb).await;
    assert!(stop.is_trap(), "{stop:?}");
    assert_eq!(stop.thread(), Some(ThreadId::qemu_hart(0)));
    assert!(stop.signal().unwrap().swbreak);
    assert!(!gdb.is_running());
    gdb.select_register_thread(ThreadId::qemu_hart(0))
        .await
        .unwrap();
    assert_eq!(gdb.read_register_u64("pc").await.unwrap(), Some(target));

    gdb.clear_breakpoint(target).await.unwrap();
    let stop = gdb.step(ThreadId::qemu_hart(1)).await.unwrap();
    assert!(stop.is_trap(), "{stop:?}");
    let pc1 = gdb
        .read_thread_register(ThreadId::qemu_hart(1), "pc")
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    let pc0 = gdb
        .read_thread_register(ThreadId::qemu_hart(0), "pc")
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    assert_eq!(pc0, target, "a step of hart 1 leaves hart 0 alone");
    assert!(pc1 > START_PC + 0x100);
}

#[tokio::test]
async fn rsp_continue_past_a_breakpoint() {
    let mut gdb = connect().await;
    let target = START_PC + 0x40;
    gdb.set_breakpoint(target).await.unwrap();
    let stop = run(&mut gdb).await;
    assert_eq!(stop.thread(), Some(ThreadId::qemu_hart(0)));
    // The raw resume makes no progress: hart 0 is still on the breakpoint.
    gdb.resume_raw().await.unwrap();
    let again = gdb.wait_for_stop(Duration::from_secs(5)).await.unwrap();
    assert_eq!(again.thread(), Some(ThreadId::qemu_hart(0)));
    assert_eq!(
        gdb.read_thread_register(ThreadId::qemu_hart(0), "pc")
            .await
            .unwrap()
            .as_u64(),
        Some(target)
    );
    // resume() steps over it: the harts run on (hart 1 started past it).
    gdb.resume().await.unwrap();
    assert!(gdb
        .wait_for_stop(Duration::from_millis(300))
        .await
        .unwrap_err()
        .is_timeout());
    assert!(gdb.interrupt_and_wait().await.unwrap().is_interrupt());
    let pc = gdb
        .read_thread_register(ThreadId::qemu_hart(0), "pc")
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    assert!(pc > target, "{pc:#x}");
    assert_eq!(gdb.breakpoints().len(), 1, "the breakpoint was put back");
}

#[tokio::test]
async fn rsp_stop_during_the_step_over_is_reported() {
    let mut gdb = connect().await;
    let target = START_PC + 0x40;
    gdb.set_breakpoint(target).await.unwrap();
    run(&mut gdb).await;
    // The very next instruction of hart 0 writes its counter: watch it.
    gdb.set_watchpoint(BreakpointType::WriteWatch, COUNTER_BASE, 8)
        .await
        .unwrap();
    gdb.resume().await.unwrap();
    assert!(gdb.is_running());
    let stop = gdb.wait_for_stop(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        stop.signal().unwrap().watch.map(|w| w.addr),
        Some(COUNTER_BASE),
        "{stop:?}"
    );
    assert!(!gdb.is_running());
    assert_eq!(
        gdb.read_thread_register(ThreadId::qemu_hart(0), "pc")
            .await
            .unwrap()
            .as_u64(),
        Some(target + 4)
    );
}

#[tokio::test]
async fn rsp_halt_reason_keeps_breakpoints() {
    let mut gdb = connect().await;
    gdb.set_breakpoint(START_PC + 0x40).await.unwrap();
    assert!(gdb.halt_reason().await.unwrap().signal().is_some());
    assert_eq!(gdb.breakpoints().len(), 1);
    let stop = run(&mut gdb).await;
    assert!(stop.signal().unwrap().swbreak, "{stop:?}");
    gdb.remove_all_breakpoints().await.unwrap();
    assert!(gdb.breakpoints().is_empty());
}

#[tokio::test]
async fn rsp_watchpoint_reports_the_address() {
    let mut gdb = connect().await;
    let counter_hart1 = COUNTER_BASE + 8;
    gdb.set_watchpoint(BreakpointType::WriteWatch, counter_hart1, 8)
        .await
        .unwrap();
    let stop = run(&mut gdb).await;
    let sig = stop.signal().expect("a signal stop");
    let watch = sig.watch.expect("watch: in the stop reply");
    assert_eq!(watch.kind, Wk::Write);
    assert_eq!(watch.addr, counter_hart1);
    assert_eq!(stop.thread(), Some(ThreadId::qemu_hart(1)));
    gdb.remove_breakpoint(BreakpointType::WriteWatch, counter_hart1, 8)
        .await
        .unwrap();
}

#[tokio::test]
async fn rsp_interrupt_a_running_target() {
    let mut gdb = connect().await;
    gdb.resume().await.unwrap();
    assert!(gdb.is_running());
    match gdb.wait_for_stop(Duration::from_millis(200)).await {
        Err(RspError::Timeout { waiting_for, .. }) => {
            assert!(waiting_for.contains("stop reply"), "{waiting_for}")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        gdb.is_running(),
        "a stop-wait timeout leaves the target running"
    );
    assert!(matches!(
        gdb.read_register("pc").await,
        Err(RspError::TargetRunning { .. })
    ));
    let stop = gdb.interrupt_and_wait().await.unwrap();
    assert!(stop.is_interrupt(), "{stop:?}");
    assert!(!gdb.is_running());
    assert!(gdb.read_register_u64("pc").await.unwrap().unwrap() > START_PC);
    assert!(matches!(gdb.interrupt().await, Err(RspError::NotRunning)));
}

#[tokio::test]
async fn rsp_monitor_command_text() {
    let mut gdb = connect().await;
    let text = gdb.monitor("info registers").await.unwrap();
    assert!(text.contains("CPU#0") && text.contains("CPU#1"), "{text}");
    assert!(text.contains(&format!("{START_PC:016x}")), "{text}");
}

#[tokio::test]
async fn rsp_exit_ends_the_session() {
    let mut gdb = connect().await;
    gdb.select_register_thread(ThreadId::qemu_hart(0))
        .await
        .unwrap();
    gdb.write_register("pc", EXIT_PC - 8).await.unwrap();
    let stop = run(&mut gdb).await;
    assert_eq!(
        stop,
        StopReply::Exited {
            status: 0,
            pid: None
        },
        "{stop:?}"
    );
    assert!(matches!(
        gdb.read_register("pc").await,
        Err(RspError::Broken(_))
    ));
}

#[tokio::test]
async fn rsp_transcript_shows_recent_packets() {
    let mut gdb = connect().await;
    gdb.read_memory(RAM_BASE, 4).await.unwrap();
    let t = gdb.transcript();
    assert!(t.iter().any(|l| l.starts_with("> m80000000,4")), "{t:?}");
    assert!(t.iter().any(|l| l == "< 33040500"), "{t:?}");
}

/// A step off a breakpoint that ends in another hart's stop before its own
/// hart moved (the shape suspected behind a CSR-trace count that took one
/// hit twice under load): that hart is not reported at the same place again
/// until it has run. Hart 0 passes b0 and later b1, hart 1 only b1; both
/// reach theirs in the same round.
#[tokio::test]
async fn a_step_cut_short_does_not_report_the_same_hit_twice() {
    let mut fake = Fake::new();
    fake.preempt_next_step = true;
    let mut gdb = RspClient::connect(serve(fake), config()).await.unwrap();
    let (b0, b1) = (START_PC + 0x40, START_PC + 0x140);
    gdb.set_breakpoint(b0).await.unwrap();
    gdb.set_breakpoint(b1).await.unwrap();
    let mut reports = Vec::new();
    for _ in 0..10 {
        let stop = run(&mut gdb).await;
        if !stop.is_trap() {
            break;
        }
        for e in gdb.take_unreported_at_points().await.unwrap() {
            reports.push((e.thread.hart_index(), e.pc));
        }
    }
    reports.sort();
    assert_eq!(reports, [(Some(0), b0), (Some(0), b1), (Some(1), b1)]);
}

/// A hart left stopped while another steps keeps its pc read at the stop
/// (nothing but the hart itself moves it); the stepped hart's is read anew,
/// and so is every CSR (an interrupt's pending bit can change meanwhile).
async fn read(gdb: &mut RspClient, t: ThreadId, name: &str) -> (Option<u64>, u64) {
    let before = gdb.costs().round_trips();
    let v = gdb.read_thread_register(t, name).await.unwrap().as_u64();
    (v, gdb.costs().round_trips() - before)
}

#[tokio::test]
async fn a_hart_left_stopped_keeps_its_pc_read_but_not_its_csrs() {
    let mut gdb = connect().await;
    let (h0, h1) = (ThreadId::qemu_hart(0), ThreadId::qemu_hart(1));
    let (pc0, pc1) = (
        read(&mut gdb, h0, "pc").await.0,
        read(&mut gdb, h1, "pc").await.0,
    );
    assert!(read(&mut gdb, h1, "mstatus").await.1 > 0);
    gdb.step(h0).await.unwrap();
    assert_eq!(read(&mut gdb, h1, "pc").await, (pc1, 0));
    assert!(
        read(&mut gdb, h1, "mstatus").await.1 > 0,
        "a CSR is read again"
    );
    let (pc, trips) = read(&mut gdb, h0, "pc").await;
    assert_eq!(pc, pc0.map(|p| p + 4));
    assert!(trips > 0);
    // A resume of every hart forgets them all.
    gdb.step(h1).await.unwrap();
    gdb.resume().await.unwrap();
    gdb.interrupt_and_wait().await.unwrap();
    assert!(read(&mut gdb, h0, "pc").await.1 > 0);
}

/// Registers read together come back as read one by one, from the stop's
/// cache, with no further request.
#[tokio::test]
async fn registers_prefetched_together_read_as_one_by_one() {
    let mut gdb = connect().await;
    let h1 = ThreadId::qemu_hart(1);
    let mut one_by_one = Vec::new();
    for name in ["pc", "mstatus", "henvcfg", "priv"] {
        one_by_one.push(read(&mut gdb, h1, name).await.0);
    }
    // A step of the other hart keeps pc only: the rest is read again.
    gdb.step(ThreadId::qemu_hart(0)).await.unwrap();
    gdb.prefetch_registers(h1, &["pc", "mstatus", "henvcfg", "priv", "no-such"])
        .await
        .unwrap();
    for (name, want) in ["pc", "mstatus", "henvcfg", "priv"].iter().zip(one_by_one) {
        assert_eq!(read(&mut gdb, h1, name).await, (want, 0), "{name}");
    }
}

/// The pcs of several harts read in one exchange (`Hg` and `p` each) are
/// each hart's own, and `Hg` is left on the last hart read.
#[tokio::test]
async fn the_pcs_of_all_harts_in_one_exchange() {
    let mut gdb = connect().await;
    let (h0, h1) = (ThreadId::qemu_hart(0), ThreadId::qemu_hart(1));
    gdb.step(h0).await.unwrap();
    gdb.step(h0).await.unwrap();
    let pc0 = read(&mut gdb, h0, "pc").await.0.unwrap();
    let pc1 = read(&mut gdb, h1, "pc").await.0.unwrap();
    assert_ne!(pc0, pc1, "two harts at two places");
    // A register write forgets every value read at the stop.
    gdb.select_register_thread(h0).await.unwrap();
    gdb.write_register("pc", pc0).await.unwrap();
    let before = gdb.costs().round_trips();
    gdb.prefetch_register_of_threads("pc", &[h0, h1])
        .await
        .unwrap();
    assert_eq!(gdb.costs().round_trips() - before, 3, "p, Hg, p");
    assert_eq!(read(&mut gdb, h0, "pc").await, (Some(pc0), 0));
    assert_eq!(read(&mut gdb, h1, "pc").await, (Some(pc1), 0));
    assert_eq!(gdb.register_thread(), Some(h1));
}

/// A step that reads registers there reads them with the pc, in the
/// step's own exchange: the reads after it cost nothing more.
#[tokio::test]
async fn a_step_reads_its_registers_with_the_pc() {
    let mut gdb = connect().await;
    let h0 = ThreadId::qemu_hart(0);
    let before = read(&mut gdb, h0, "pc").await.0.unwrap();
    gdb.step_reading(h0, &["mstatus", "henvcfg"]).await.unwrap();
    assert_eq!(read(&mut gdb, h0, "pc").await, (Some(before + 4), 0));
    assert_eq!(read(&mut gdb, h0, "mstatus").await.1, 0);
    assert_eq!(read(&mut gdb, h0, "henvcfg").await.1, 0);
}
