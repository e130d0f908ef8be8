//! The page-table walk, backtrace and rules on the real ADUE hang.
//!
//! `hypervisor-noadue.elf` runs one VM (one hart) under the debugger with
//! breakpoints at pc 0 and at the guest's `trapinithart`. On QEMU >= 9.0 the
//! guest's fetch after `csrw satp` in `kvminithart` faults (its PTE has A=0
//! and henvcfg.ADUE is 0); vstvec is still 0, so the hart jumps to 0, where
//! the breakpoint stops it before it faults again: the guest's scause, stval
//! and sepc (QEMU shows them under the S-mode names while V=1) still hold the
//! first fault. From there the test builds a [`FaultContext`], walks both
//! translation stages over physical memory read through the gdbstub, takes
//! a backtrace, and runs the rules. On QEMU < 9.0 the guest reaches
//! `trapinithart` in VS-mode instead, and pc 0 is never hit.

mod common;
mod diagnosis_support;

use hvharness::internals::diagnosis::backtrace::{backtrace, FrameRegs, MAX_DEPTH};
use hvharness::internals::diagnosis::rules::{diagnose, Evidence};
use hvharness::internals::diagnosis::walk::{
    qemu_has_svadu, walk_fault, MissingKind, Regime, RspPhysMemory, Stage, Translated, VirtMemory,
};
use hvharness::internals::diagnosis::PhysMemory;
use hvharness::internals::qemu::{quirks, LaunchOptions, QemuProcess};
use hvharness::internals::riscv::{envcfg, Atp, Cause, Level, PrivilegeLevel};
use hvharness::internals::rsp::{RspClient, RspConfig};
use hvharness::QemuVersion;

use diagnosis_support::{say, Session};

/// Where the run stopped for good.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The guest jumped to pc 0 (its first fault, with vstvec = 0).
    AtZero,
    /// The guest reached trapinithart in VS-mode: it got past kvminithart.
    PastKvminithart,
}

/// Runs hypervisor-noadue.elf until the guest either jumps to pc 0 or
/// reaches trapinithart in VS-mode (the hypervisor's own code at that
/// address, vsbi_call, does not count).
async fn run_noadue(version: &str, test: &str) -> Option<(Session, Outcome)> {
    let fw = common::firmware();
    let mut s = Session::start(version, test, &fw.hypervisor_noadue, &fw.guest).await?;
    let trapinithart = s.address("guest:trapinithart");
    let pc = s
        .run_until(&[0, trapinithart], async |s: &mut Session, thread, pc| {
            pc == 0 || s.in_guest(thread).await
        })
        .await;
    let outcome = if pc == 0 {
        Outcome::AtZero
    } else {
        Outcome::PastKvminithart
    };
    Some((s, outcome))
}

async fn adue_hang_is_diagnosed(version: &str) {
    let Some((mut run, outcome)) = run_noadue(version, "diagnosis_walk adue").await else {
        return;
    };
    let v = run.version;
    if outcome != Outcome::AtZero {
        panic!(
            "QEMU {v}: the guest got past kvminithart; expected the ADUE fault\n{}",
            run.console()
        );
    }
    let ctx = run.guest_fault_at_zero().await;
    let rsp = &mut run.rsp;
    say(&format!(
        "QEMU {v}: first fault: {} at {:#x} ({:?}), tval {:#x}, from {}",
        ctx.cause, ctx.epc, ctx.epc_place, ctx.tval, ctx.from
    ));

    // The first fault, not the loop at 0: scause 0xc at kvminithart+0x1e,
    // stval the same address.
    let kvminithart = run
        .elfs
        .resolve_str("guest:kvminithart", None)
        .unwrap()
        .address;
    assert_eq!(ctx.cause.code, 12, "instruction page fault");
    assert_eq!(ctx.tval, ctx.epc);
    assert!(
        ctx.epc > kvminithart && ctx.epc < kvminithart + 0x40,
        "epc {:#x}",
        ctx.epc
    );
    assert!(
        ctx.epc_place
            .as_deref()
            .unwrap()
            .starts_with("guest:kvminithart+"),
        "{:?}",
        ctx.epc_place
    );
    if v >= QemuVersion::new(10, 0, 0) {
        assert!(ctx.from.is_guest(), "priv shows V=1 on 10.x");
    }

    // The guest's satp as read under "satp" is its page table: it matches
    // kvminit's kernel_pagetable, read from guest memory through the
    // G-stage. (QEMU's "vsatp" while V=1 holds the hypervisor's own satp.)
    let shown_vsatp = rsp.read_register_u64("vsatp").await.unwrap().unwrap();
    say(&format!(
        "QEMU {v}: at V=1 'satp' = {:#x}, 'vsatp' = {shown_vsatp:#x}",
        ctx.csr("vsatp").unwrap()
    ));
    let regime = Regime::from_context(&ctx, qemu_has_svadu(v)).unwrap();
    let kpt_va = run
        .elfs
        .resolve_str("guest:kernel_pagetable", None)
        .unwrap()
        .address;
    let kpt = {
        let mut phys = RspPhysMemory::new(rsp);
        let mut mem = Translated::new(&mut phys, regime.clone());
        mem_read(&mut mem, kpt_va).await
    };
    assert_eq!(
        Atp::satp(ctx.csr("vsatp").unwrap()).root(),
        kpt,
        "vsatp's root is kernel_pagetable"
    );

    // The walk.
    let walk = walk_fault(&ctx, qemu_has_svadu(v), &mut RspPhysMemory::new(rsp))
        .await
        .expect("walk");
    say(&format!("QEMU {v}: walk:\n{}", walk.render()));
    assert_eq!(walk.first.stage, Stage::VS);
    let leaf = walk
        .first
        .leaf()
        .expect("the VS-stage maps the faulting fetch");
    assert!(!leaf.pte.a, "the VS-stage leaf has A=0");
    assert!(leaf.pte.x && leaf.pte.v);
    assert_eq!(
        walk.guest_physical,
        Some(ctx.epc),
        "the kernel is identity-mapped"
    );
    let g = walk.gstage.as_ref().expect("the G-stage walk");
    assert!(g.leaf().is_some(), "the G-stage maps the guest's code");
    assert!(g.leaf().unwrap().pte.a && g.leaf().unwrap().pte.u);
    assert!(!envcfg::adue(ctx.csr("henvcfg").unwrap()), "henvcfg.ADUE=0");
    assert_eq!(walk.missing.len(), 1, "{:?}", walk.missing);
    assert_eq!(
        (walk.missing[0].stage, walk.missing[0].level),
        (Stage::VS, Some(leaf.level))
    );
    assert!(matches!(walk.missing[0].kind, MissingKind::Accessed { .. }));
    let physical = walk.physical.expect("both stages translate");

    // The faulting instruction, read at its physical address (its virtual
    // one cannot be read: the debugger's reads fault on A=0 too).
    let code = rsp
        .read_physical_memory(physical, 4)
        .await
        .expect("code at epc");
    let elf_code = run
        .elfs
        .space("guest")
        .unwrap()
        .bytes_at(ctx.epc, 4)
        .unwrap()
        .to_vec();
    assert_eq!(code, elf_code, "the guest's code sits where the walk says");

    // The backtrace: kvminithart (a leaf: its return address is still in
    // ra), called from main.
    let regs = FrameRegs::from_context(&ctx).unwrap();
    let bt = {
        let mut phys = RspPhysMemory::new(rsp);
        let mut mem = Translated::new(&mut phys, regime);
        backtrace(regs, &mut mem, Some(&run.elfs), Some("guest"), MAX_DEPTH)
            .await
            .expect("backtrace")
    };
    say(&format!("QEMU {v}: backtrace:\n{}", bt.render()));
    assert_eq!(&bt.functions()[..2], ["kvminithart", "main"], "{bt}");
    // (Its line may be that of an inlined helper: sfence_vma in riscv.h.)
    assert!(bt.frames[0].line.is_some(), "{bt}");
    assert!(
        bt.frames[1]
            .line
            .as_ref()
            .is_some_and(|l| l.file.ends_with("main.c")),
        "{bt}"
    );

    // The rules.
    let mut e = Evidence::new(&ctx);
    e.walk = Some(&walk);
    e.elfs = Some(&run.elfs);
    e.guest_space = Some("guest");
    e.hypervisor_space = Some("hypervisor");
    e.qemu = Some(v);
    e.code = Some(&code);
    let findings = diagnose(&e);
    for f in &findings {
        say(&format!("QEMU {v}: {f}"));
    }
    let names: Vec<_> = findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(names, ["adue", "no-stvec"], "{findings:#?}");
    let adue = &findings[0];
    assert!(
        adue.summary.contains("guest:kvminithart+"),
        "{}",
        adue.summary
    );
    assert!(
        adue.summary.contains("has A=0 and henvcfg.ADUE=0"),
        "{}",
        adue.summary
    );
    let fix = adue.fix.as_deref().unwrap_or_default();
    assert!(fix.contains("henvcfg bit 61"), "{fix}");
}

async fn mem_read<M: VirtMemory>(mem: &mut M, va: u64) -> u64 {
    mem.read_u64(va)
        .await
        .expect("read")
        .expect("mapped and readable")
}

async fn boots_past_kvminithart(version: &str) {
    let Some((mut run, outcome)) = run_noadue(version, "diagnosis_walk boots").await else {
        return;
    };
    let v = run.version;
    if outcome != Outcome::PastKvminithart {
        panic!(
            "QEMU {v}: the guest faulted to pc 0; it should boot\n{}",
            run.console()
        );
    }
    // Nothing to diagnose: walk the fetch that faults on >= 9.0 as if it
    // had faulted here. Without Svadu the hart set A itself, and nothing is
    // missing.
    let mut ctx = run.guest_fault_at_zero().await;
    let fetch = run.address("guest:kvminithart") + 0x1e;
    ctx.cause = Cause::exception(12);
    ctx.from = PrivilegeLevel {
        level: Level::Supervisor,
        virt: Some(true),
    };
    ctx.epc = fetch;
    ctx.tval = fetch;
    say(&format!(
        "QEMU {v}: guest at trapinithart, vsatp {:#x}, henvcfg {:#x}",
        ctx.csr("vsatp").unwrap(),
        ctx.csr("henvcfg").unwrap()
    ));
    assert_ne!(
        ctx.csr("vsatp").unwrap() >> 60,
        0,
        "the guest's paging is on"
    );
    let walk = walk_fault(
        &ctx,
        qemu_has_svadu(v),
        &mut RspPhysMemory::new(&mut run.rsp),
    )
    .await
    .expect("walk");
    say(&format!("QEMU {v}: walk:\n{}", walk.render()));
    let leaf = walk.first.leaf().expect("mapped");
    if !qemu_has_svadu(v) {
        assert!(leaf.pte.a, "QEMU {v} set A in hardware");
    }
    assert!(walk.missing.is_empty(), "{:?}", walk.missing);
    let mut e = Evidence::new(&ctx);
    e.walk = Some(&walk);
    e.qemu = Some(v);
    assert!(!diagnose(&e).iter().any(|f| f.rule == "adue"));
}

/// A PhysMemory over the gdbstub: reads inside its ranges, `None` outside
/// them; QEMU itself reads unassigned physical memory as zeros.
#[allow(clippy::single_range_in_vec_init)]
async fn phys_memory_reads(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "diagnosis_walk phys") else {
        return;
    };
    let spec = common::virt("rv64,h=true", 1);
    let q = QemuProcess::launch(
        &build,
        &spec,
        &LaunchOptions {
            gdbstub: true,
            debug_log: None,
        },
    )
    .await
    .expect("QEMU starts");
    let mut rsp = RspClient::connect(q.gdb_addr().unwrap(), RspConfig::default())
        .await
        .unwrap();
    // OpenSBI is loaded at 0x80000000 before the first instruction runs.
    let mut dram = RspPhysMemory::new(&mut rsp);
    assert!(dram.read_u64(0x8000_0000).await.unwrap().is_some());
    assert_eq!(
        dram.read_u64(0x1000).await.unwrap(),
        None,
        "the ROM is outside VIRT_DRAM"
    );
    let mut mem =
        RspPhysMemory::new(&mut rsp).with_readable(vec![0x1000..0x2000, 0x8000_0000..0x8800_0000]);
    // The reset vector's ROM at 0x1000: auipc t0, 0 first.
    let rom = mem.read_u64(0x1000).await.unwrap().expect("ROM readable");
    assert_eq!(
        rom & 0xffff_ffff,
        0x0000_0297,
        "auipc t0, 0 at the reset vector"
    );
    assert_eq!(
        mem.read_u64(0x8800_0000).await.unwrap(),
        None,
        "beyond -m 128M"
    );
    assert_eq!(
        mem.read_u64(0x1ffc).await.unwrap(),
        None,
        "straddles the end of a range"
    );
    // Unassigned memory, read anyway: zeros, not an error.
    let mut all = RspPhysMemory::new(&mut rsp).with_readable(vec![0..u64::MAX]);
    assert_eq!(all.read_u64(0x9000_0000_0000).await.unwrap(), Some(0));
    assert!(
        !rsp.physical_memory_mode(),
        "physical mode switched back off"
    );
}

/// The ADUE fault and its walk where the reference hypervisor without ADUE
/// hangs (Svadu, and reset no longer sets henvcfg.ADUE: 9.0 on); elsewhere
/// the guest boots and the same walk finds nothing missing.
async fn noadue_walk(version: &str) {
    let v: QemuVersion = version.parse().expect("matrix versions are well-formed");
    if quirks::SVADU.applies(v) && !quirks::HENVCFG_RESET_ADUE.applies(v) {
        adue_hang_is_diagnosed(version).await
    } else {
        boots_past_kvminithart(version).await
    }
}

common::per_version! {
    async phys_memory_reads;
    async noadue_walk;
}
