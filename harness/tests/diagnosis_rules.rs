//! Each diagnosis rule on a real hang: the fault builds of the reference
//! firmware (hypervisor/README.md, "Fault builds") under the debugger.
//!
//! Faults that reach the hypervisor (a G-stage hole, an unmapped device, an
//! undelegated system call) are read at the first instruction of its trap
//! vector, `trapvec`; faults the guest takes itself before it has a trap
//! vector are read at pc 0, where vstvec = 0 sends the hart. Each test walks
//! the page tables over physical memory, takes a backtrace where the guest
//! has one, runs the rules and checks that the right one fires, and only it
//! (with no-stvec beside it for the guest's own faults).

mod common;
mod diagnosis_support;

use std::path::PathBuf;

use hvharness::internals::diagnosis::backtrace::{backtrace, FrameRegs, MAX_DEPTH};
use hvharness::internals::diagnosis::rules::{diagnose, Evidence, Finding};
use hvharness::internals::diagnosis::walk::{
    qemu_has_svadu, walk_fault, End, Regime, RspPhysMemory, Stage, Translated, Translation,
};
use hvharness::internals::diagnosis::FaultContext;

use diagnosis_support::{say, Session};

fn firmware(name: &str) -> PathBuf {
    common::firmware();
    let p = common::root().join("target/firmware").join(name);
    assert!(p.exists(), "{} was not built", p.display());
    p
}

/// Runs `kernel` until the guest traps into the hypervisor with `cause`.
async fn hs_trap(
    version: &str,
    test: &str,
    kernel: &str,
    cause: u64,
) -> Option<(Session, FaultContext)> {
    let mut s = Session::start(version, test, &firmware(kernel), &firmware("guest.elf")).await?;
    let trapvec = s.address("hypervisor:trapvec");
    s.run_until(&[trapvec], async |s: &mut Session, thread, _pc| {
        !s.in_guest(thread).await && s.read("scause").await == cause
    })
    .await;
    let ctx = s.hs_trap_from_guest().await;
    say(&format!(
        "QEMU {}: {test}: {} from {} at {:#x} ({:?}), stval {:#x}, htval {:?}, htinst {:?}",
        s.version, ctx.cause, ctx.from, ctx.epc, ctx.epc_place, ctx.tval, ctx.htval, ctx.htinst
    ));
    Some((s, ctx))
}

/// Runs a hypervisor embedding a faulting guest until the guest jumps to pc 0.
async fn guest_fault(
    version: &str,
    test: &str,
    kernel: &str,
    guest: &str,
) -> Option<(Session, FaultContext)> {
    let mut s = Session::start(version, test, &firmware(kernel), &firmware(guest)).await?;
    s.run_until(&[0], async |_s: &mut Session, _thread, pc| pc == 0)
        .await;
    let ctx = s.guest_fault_at_zero().await;
    say(&format!(
        "QEMU {}: {test}: {} from {} at {:#x} ({:?}), stval {:#x}",
        s.version, ctx.cause, ctx.from, ctx.epc, ctx.epc_place, ctx.tval
    ));
    Some((s, ctx))
}

/// Walks, diagnoses, and prints what it found.
async fn analyse(s: &mut Session, ctx: &FaultContext) -> (Translation, Vec<Finding>) {
    let v = s.version;
    let walk = walk_fault(ctx, qemu_has_svadu(v), &mut RspPhysMemory::new(&mut s.rsp))
        .await
        .expect("walk");
    say(&format!("QEMU {v}: walk:\n{}", walk.render()));
    let code = match walk.physical {
        Some(p) if ctx.cause.code == 2 => {
            Some(s.rsp.read_physical_memory(p, 4).await.expect("code"))
        }
        _ => None,
    };
    let mut e = Evidence::new(ctx);
    e.walk = Some(&walk);
    e.elfs = Some(&s.elfs);
    e.guest_space = Some("guest");
    e.hypervisor_space = Some("hypervisor");
    e.qemu = Some(v);
    e.code = code.as_deref();
    let findings = diagnose(&e);
    for f in &findings {
        say(&format!("QEMU {v}: {f}"));
    }
    (walk, findings)
}

fn rules(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.rule.as_str()).collect()
}

/// The guest's backtrace at the fault, through its own page tables and the G-stage.
async fn guest_backtrace(s: &mut Session, ctx: &FaultContext) -> Vec<String> {
    let regime = Regime::from_context(ctx, qemu_has_svadu(s.version)).unwrap();
    let mut phys = RspPhysMemory::new(&mut s.rsp);
    let mut mem = Translated::new(&mut phys, regime);
    let bt = backtrace(
        FrameRegs::from_context(ctx).unwrap(),
        &mut mem,
        Some(&s.elfs),
        Some("guest"),
        MAX_DEPTH,
    )
    .await
    .expect("backtrace");
    say(&format!("QEMU {}: backtrace:\n{}", s.version, bt.render()));
    bt.functions().iter().map(|f| f.to_string()).collect()
}

async fn gstage_hole(version: &str) {
    let Some((mut s, ctx)) =
        hs_trap(version, "gstage-hole", "hypervisor-gstage-hole.elf", 0x17).await
    else {
        return;
    };
    assert_eq!(ctx.tval, 0x80ff_f000);
    assert_eq!(ctx.htval, Some(0x80ff_f000 >> 2));
    let (walk, found) = analyse(&mut s, &ctx).await;
    assert_eq!(walk.first.end, End::Bare, "the guest's paging is still off");
    let g = walk.stage(Stage::G).unwrap();
    assert_eq!(
        g.end,
        End::Invalid { level: 0 },
        "the split 2 MiB page lacks its last 4 KiB page"
    );
    assert_eq!(rules(&found), ["gstage-hole"]);
    assert!(
        found[0]
            .summary
            .starts_with("hole in the G-stage mapping at 0x80fff000"),
        "{}",
        found[0].summary
    );
    assert!(
        found[0].summary.contains("a store by guest:kinit+"),
        "{}",
        found[0].summary
    );
    let functions = guest_backtrace(&mut s, &ctx).await;
    assert_eq!(&functions[..2], ["kinit", "main"]);
}

async fn mmio_hole(version: &str) {
    let Some((mut s, ctx)) = hs_trap(version, "mmio-hole", "hypervisor-mmio-hole.elf", 0x17).await
    else {
        return;
    };
    assert_eq!(ctx.tval, 0x1000_0003);
    let (_walk, found) = analyse(&mut s, &ctx).await;
    assert_eq!(rules(&found), ["unmapped-mmio"]);
    let f = &found[0];
    assert!(f.summary.starts_with("access to unmapped MMIO at 0x10000003 (QEMU virt's UART0, a 16550): a store by guest:uartinit+"), "{}", f.summary);
    // The htinst quirk: 7.2 leaves it 0, 8.0 and later hold the transformed store.
    let fills = hvharness::internals::qemu::quirks::FILLS_HTINST.applies(s.version);
    assert_eq!(
        ctx.htinst.is_some_and(|i| i != 0),
        fills,
        "htinst {:?} on {}",
        ctx.htinst,
        s.version
    );
    assert_eq!(
        f.details.iter().any(|d| d.contains("leaves htinst 0")),
        !fills,
        "{:?}",
        f.details
    );
    let functions = guest_backtrace(&mut s, &ctx).await;
    assert_eq!(&functions[..2], ["uartinit", "main"]);
}

async fn nodeleg(version: &str) {
    let Some((mut s, ctx)) = hs_trap(version, "nodeleg", "hypervisor-nodeleg.elf", 8).await else {
        return;
    };
    assert_eq!(ctx.epc, 0x4000_00a8, "init's first write()");
    assert_eq!(ctx.from.to_string(), "VU");
    let (_walk, found) = analyse(&mut s, &ctx).await;
    assert_eq!(rules(&found), ["undelegated"]);
    assert!(
        found[0]
            .summary
            .contains("from VU-mode at 0x400000a8 went to the hypervisor: hedeleg"),
        "{}",
        found[0].summary
    );
    assert!(
        found[0].summary.contains("lacks bit 8 (ecall_u)"),
        "{}",
        found[0].summary
    );
}

async fn guest_illegal(version: &str) {
    let Some((mut s, ctx)) = guest_fault(
        version,
        "illegal",
        "hypervisor-guest-illegal.elf",
        "guest-illegal.elf",
    )
    .await
    else {
        return;
    };
    assert_eq!(ctx.cause.code, 2);
    let (_walk, found) = analyse(&mut s, &ctx).await;
    assert_eq!(rules(&found), ["illegal-instruction", "no-stvec"]);
    assert!(
        found[0].summary.starts_with(
            "illegal instruction at guest:fault_illegal_insn+0x14: 0xc0001073 is `unimp`"
        ),
        "{}",
        found[0].summary
    );
}

async fn guest_nostvec(version: &str) {
    let Some((mut s, ctx)) = guest_fault(
        version,
        "nostvec",
        "hypervisor-guest-nostvec.elf",
        "guest-nostvec.elf",
    )
    .await
    else {
        return;
    };
    assert_eq!((ctx.cause.code, ctx.tval), (13, 0x8100_0000));
    let (_walk, found) = analyse(&mut s, &ctx).await;
    assert_eq!(rules(&found), ["page-fault", "no-stvec"]);
    assert!(
        found[0].summary.starts_with(
            "VS-stage has no mapping for 0x81000000 (a load by guest:fault_unmapped_load+0x20)"
        ),
        "{}",
        found[0].summary
    );
    assert!(
        found[1].summary.contains("vstvec = 0"),
        "{}",
        found[1].summary
    );
    let functions = guest_backtrace(&mut s, &ctx).await;
    assert_eq!(
        functions.first().map(String::as_str),
        Some("fault_unmapped_load"),
        "{functions:?}"
    );
    assert!(functions.iter().any(|f| f == "main"), "{functions:?}");
}

common::per_version! {
    async gstage_hole;
    async mmio_hole;
    async nodeleg;
    async guest_illegal;
    async guest_nostvec;
}
