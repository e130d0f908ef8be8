//! Which harts are stuck on a trap: a [`FaultContext`] for each hart that
//! stopped making progress.
//!
//! The run is stopped with the debugger attached. Two shapes of hang:
//! - a trap storm: the hart loops on a fault (the ADUE hang: the guest faults
//!   in kvminithart with no trap vector yet, jumps to 0 and faults there for
//!   ever). The live scause/stval hold the loop's values; the first fault's
//!   cause, pc and tval come from QEMU's interrupt log, which kept them.
//! - a parked hart: a hypervisor took an unexpected trap, printed it and
//!   parked the hart. Its HS-mode scause/sepc/stval/htval/htinst still hold
//!   that trap, as its last record in the interrupt log confirms.
//!
//! The rest of the context (page-table roots, envcfg, delegation, vectors) is
//! read live: a stopped or looping hart does not change it.

use std::collections::BTreeMap;

use anyhow::Result;

use super::handled::{handled, HeldTrap, HostCode, SeenPast};
use super::{FaultContext, HartState};
use crate::qemu::trap_log::{LoggedTrap, SinceFault, TrapLog};
use crate::riscv::cause::code;
use crate::riscv::trap::{hs_trap_origin, HSTATUS_SPV, SSTATUS_SPP};
use crate::riscv::{Cause, Level, PrivilegeLevel, TrapTarget};
use crate::scenario::Scenario;

/// Identical faults in a row that make a stopped hart "looping".
const LOOPING_REPEATS: u64 = 8;

/// The faults behind a hang: one context per hart that is stuck on a trap
/// (looping on a fault, or parked after one). The target must be stopped.
/// `confirmed` is the storm the run's verdict named, when it named one;
/// `elfs` holds the scenario's ELF files, when readable.
pub(crate) fn faults(
    harts: &[HartState],
    log: &TrapLog,
    confirmed: Option<&LoggedTrap>,
    scenario: &Scenario,
    elfs: Option<&crate::elf::ElfSet>,
) -> Result<Vec<FaultContext>> {
    // The machine is known to be stuck here, so a shorter run of identical
    // faults suffices to call a hart looping (one may have started late).
    let storms = log.storms(LOOPING_REPEATS);
    let in_firmware = |pc: u64| elfs.is_some_and(|e| !e.spaces_containing(pc).is_empty());
    let host = host_image(scenario, elfs);
    let mut out = Vec::new();
    for h in harts {
        let hart = u64::from(h.hart);
        // The verdict's storm stands even when the log's current run is
        // short: the probe that confirmed it (breakpoints make QEMU flush its
        // translations) can jolt a looping guest into one different fault
        // before it falls back into the loop, and the run restarts at 1.
        let storming = storms
            .iter()
            .map(|(t, _)| t)
            .find(|s| s.hart == hart)
            .or(confirmed.filter(|s| s.hart == hart));
        let ctx = match storming {
            Some(s) => {
                let first = log
                    .first_fault_of_storm(s, in_firmware)
                    .unwrap_or_else(|| s.clone());
                Some(storm_context(h, &first))
            }
            None => parked_context(h, log, &host),
        };
        if let Some(mut ctx) = ctx {
            ctx.epc_place = elfs.and_then(|set| place_of(scenario, set, ctx.epc, ctx.from.virt));
            out.push(ctx);
        }
    }
    // In the order the harts got stuck: by their last fault in the log.
    out.sort_by_key(|c| log.hart(c.hart as usize).map(|h| h.last_fault_seq));
    Ok(out)
}

/// A hart looping on a fault: the trap goes where the loop's traps go.
fn storm_context(h: &HartState, first: &LoggedTrap) -> FaultContext {
    let virt = h.privilege.virt;
    let to = match (h.privilege.level, virt) {
        (Level::Machine, _) => TrapTarget::M,
        (_, Some(true)) => TrapTarget::VS,
        _ => TrapTarget::HS,
    };
    // The loop's traps come from the same mode the first fault did; SPP of
    // the status register the hart sees (vsstatus while V=1) tells which.
    let spp = h
        .csrs
        .get("sstatus")
        .map(|s| s & SSTATUS_SPP != 0)
        .unwrap_or(true);
    let from = PrivilegeLevel {
        level: if spp { Level::Supervisor } else { Level::User },
        virt,
    };
    FaultContext {
        hart: h.hart,
        from,
        to,
        cause: Cause::exception(first.cause),
        epc: first.epc,
        tval: first.tval,
        htval: None,
        htinst: None,
        epc_place: None,
        sbi_calls_after: 0,
        csrs: guest_view(h),
    }
}

/// The hypervisor's ELF file (the scenario's `[[elf]]` with `virt = false`).
fn host_image<'e>(
    scenario: &Scenario,
    elfs: Option<&'e crate::elf::ElfSet>,
) -> Option<&'e crate::elf::ElfImage> {
    let name = &scenario.elf_for_virt(Some(false))?.name;
    elfs?.space(name).ok()
}

/// How a hart stopped in HS went on past the trap its scause still holds;
/// `None` when it holds none the log confirms, or the hart is stuck on it.
pub(crate) fn seen_past(
    h: &HartState,
    log: &TrapLog,
    scenario: &Scenario,
    elfs: Option<&crate::elf::ElfSet>,
) -> Option<SeenPast> {
    let (trap, since) = held_trap(h, log)?;
    handled(&trap, &since, h.pc, &host_image(scenario, elfs))
}

/// A hart parked in HS-mode after a trap the hypervisor did not expect.
/// `host` is the hypervisor's own code.
fn parked_context(h: &HartState, log: &TrapLog, host: &dyn HostCode) -> Option<FaultContext> {
    let (trap, since) = held_trap(h, log)?;
    if handled(&trap, &since, h.pc, host).is_some() {
        return None;
    }
    let status = |name: &str| h.csrs.get(name).copied().unwrap_or(0);
    let from = hs_trap_origin(status("hstatus"), status("sstatus"));
    Some(FaultContext {
        hart: h.hart,
        from,
        to: TrapTarget::HS,
        cause: trap.cause,
        epc: trap.epc,
        tval: trap.tval,
        htval: h.csrs.get("htval").copied(),
        htinst: h.csrs.get("htinst").copied(),
        epc_place: None,
        sbi_calls_after: since.ecalls_with(code::ECALL_S),
        csrs: h.csrs.clone(),
    })
}

/// The trap a hart stopped in HS still holds in scause/sepc, and what the
/// log recorded on that hart after it; `None` unless the log's last fault
/// there is that trap (otherwise the hart went on past it to later ones).
fn held_trap(h: &HartState, log: &TrapLog) -> Option<(HeldTrap, SinceFault)> {
    if h.privilege.level != Level::Supervisor || h.privilege.virt == Some(true) {
        return None;
    }
    let (Some(scause), Some(sepc)) = (h.csrs.get("scause"), h.csrs.get("sepc")) else {
        return None;
    };
    let cause = Cause::from_xcause(*scause);
    // Interrupts and the guests' SBI calls (ecall from VS) are a
    // hypervisor's daily work; anything else it parked on was unexpected.
    if cause.interrupt || cause.code == code::ECALL_VS {
        return None;
    }
    // The log's last fault on this hart must be the one in scause/sepc:
    // otherwise the hart went on after it and is not parked on it. Ecalls
    // after it do not count: a hypervisor reporting the fault through the
    // SBI console makes them.
    let hart_log = log.hart(h.hart as usize)?;
    // An ecall the hypervisor did not expect (from U, not delegated) is
    // itself the fault: then it must be the last exception of all, and
    // nothing after it says how it went.
    let is_ecall = (code::ECALL_U..=code::ECALL_M).contains(&cause.code);
    let (last, since) = if is_ecall {
        (hart_log.last_exception.as_ref(), SinceFault::default())
    } else {
        (hart_log.last_fault.as_ref(), hart_log.since_fault)
    };
    if !last.is_some_and(|t| t.cause == cause.code && t.epc == *sepc) {
        return None;
    }
    let hstatus = h.csrs.get("hstatus").copied().unwrap_or(0);
    let trap = HeldTrap {
        cause,
        epc: *sepc,
        tval: h.csrs.get("stval").copied().unwrap_or(0),
        from_virt: hstatus & HSTATUS_SPV != 0,
        spp: h.csrs.get("sstatus").is_some_and(|s| s & SSTATUS_SPP != 0),
    };
    Some((trap, since))
}

/// The registers as the rules want them: while V=1 QEMU shows the guest's
/// live values under the s-mode names, so vstvec/vsatp/vsstatus are taken
/// from those. (QEMU's own `vsatp` then holds the guest's value from its
/// last entry, not the hypervisor's satp: HS values cannot be read over the
/// gdbstub while V=1.)
fn guest_view(h: &HartState) -> BTreeMap<String, u64> {
    let mut csrs = h.csrs.clone();
    if h.privilege.virt == Some(true) {
        for (s, vs) in [
            ("stvec", "vstvec"),
            ("satp", "vsatp"),
            ("sstatus", "vsstatus"),
        ] {
            if let Some(v) = h.csrs.get(s).copied() {
                csrs.insert(vs.to_string(), v);
            }
        }
    }
    csrs
}

/// `space:symbol+offset at file:line` in an ELF file of the right context
/// (`set` holds the scenario's ELF files).
pub(crate) fn place_of(
    scenario: &Scenario,
    set: &crate::elf::ElfSet,
    addr: u64,
    virt: Option<bool>,
) -> Option<String> {
    let candidates = scenario
        .elfs
        .iter()
        .filter(|e| virt.is_none() || e.virt.is_none() || e.virt == virt);
    for e in candidates {
        let Ok(image) = set.space(&e.name) else {
            continue;
        };
        if let Some(hit) = image.symbolize(addr).filter(|h| h.exact) {
            let line = image
                .line_for(addr)
                .map(|l| format!(" at {l}"))
                .unwrap_or_default();
            return Some(format!("{}:{hit}{line}", e.name));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Instant;

    use super::*;
    use crate::qemu::trap_log::tests_support::line;
    use crate::scenario::ScenarioFile;

    const ONE_HART: &str = r#"
[machine]
cpu = "rv64"
smp = 1
[[console]]
name = "console"
attach = "serial"
milestones = ["guest kernel is booting"]
"#;

    /// `hart` stopped at `pc` in HS-mode (S with V=0) with these CSRs.
    fn hs_state(hart: u32, pc: u64, csrs: &[(&str, u64)]) -> HartState {
        HartState {
            hart,
            pc,
            privilege: PrivilegeLevel {
                level: Level::Supervisor,
                virt: Some(false),
            },
            csrs: csrs.iter().map(|&(k, v)| (k.to_string(), v)).collect(),
            ra: 0,
            sp: 0,
            fp: 0,
        }
    }

    /// Hart 0 stopped in S-mode with the loop's store page fault in scause.
    fn stopped_in_the_loop() -> HartState {
        let csrs = [
            ("scause", 0xf),
            ("sepc", 0x8020156a),
            ("stval", 0x10000003),
            ("sstatus", 1 << 8),
        ];
        hs_state(0, 0x80200000, &csrs)
    }

    /// The fault-nostvec shape seen in CI: the load fault that restarted the
    /// kernel, its fall-out, a long loop of store faults, then one different
    /// fault (the storm probe's breakpoints flushed QEMU's translations) and
    /// the loop again, stopped after three.
    fn restarted_kernel_log() -> TrapLog {
        let mut text = line(0, 0, 0xd, 0x80201b44, 0x81000000);
        text += &line(0, 0, 0xc, 0x80200240, 0x80200240);
        for _ in 0..200 {
            text += &line(0, 0, 0xf, 0x8020156a, 0x10000003);
        }
        text += &line(0, 0, 0xc, 0x80200010, 0x80200010);
        for _ in 0..3 {
            text += &line(0, 0, 0xf, 0x8020156a, 0x10000003);
        }
        let mut log = TrapLog::new(1);
        log.feed(text.as_bytes(), Instant::now());
        log
    }

    #[test]
    fn the_verdicts_storm_stands_when_a_probe_broke_the_run() {
        let path = Path::new("/proj/scenarios/x.toml");
        let scenario = ScenarioFile::parse(ONE_HART, path)
            .and_then(|f| f.into_scenario(path))
            .expect("a valid scenario");
        let log = restarted_kernel_log();
        assert!(log.storms(LOOPING_REPEATS).is_empty(), "the run restarted");
        let storm = log
            .hart(0)
            .and_then(|h| h.last_exception.clone())
            .expect("a last exception");
        let found = faults(
            &[stopped_in_the_loop()],
            &log,
            Some(&storm),
            &scenario,
            None,
        )
        .expect("faults");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].cause.code, 0xd, "the fault the storm began with");
        assert_eq!(found[0].epc, 0x80201b44);
        assert_eq!(found[0].tval, 0x81000000);

        // Without the verdict's storm, the hart reads as parked on the loop's
        // fault: what the diagnosis said before it was given the storm.
        let parked = faults(&[stopped_in_the_loop()], &log, None, &scenario, None).expect("faults");
        assert_eq!(parked.len(), 1);
        assert_eq!(parked[0].cause.code, 0xf);
    }

    /// A hart stopped in HS with this scause/sepc/sstatus/hstatus.
    fn in_hs(hart: u32, scause: u64, sepc: u64, sstatus: u64, hstatus: u64) -> HartState {
        let csrs = [
            ("scause", scause),
            ("sepc", sepc),
            ("stval", 0),
            ("sstatus", sstatus),
            ("hstatus", hstatus),
        ];
        hs_state(hart, 0x8020_0790, &csrs)
    }

    const SPP: u64 = 1 << 8;
    /// hstatus.SPV and SPVP: trapped from VS-mode.
    const SPV: u64 = 1 << 7 | 1 << 8;
    const GUEST_ENTRY: u64 = 0x8020_0000;
    const EBREAK_PC: u64 = 0x8020_1234;

    /// The shape of the issue's first hypervisor: the idle harts 1 and 2 took
    /// a boot-time trap in the hypervisor's own code; hart 0's guest then
    /// faulted and the hypervisor printed its report through SBI (ecalls
    /// from HS) before parking.
    fn reported_through_sbi(idle_interrupts: bool) -> TrapLog {
        let mut text = line(1, 0, 3, EBREAK_PC, 0);
        text += &line(2, 0, 3, EBREAK_PC, 0);
        if idle_interrupts {
            text += &line(1, 1, 7, 0x8020_0790, 0);
        }
        text += &line(0, 0, 0x14, GUEST_ENTRY, GUEST_ENTRY);
        for _ in 0..40 {
            text += &line(0, 0, 9, 0x8020_0500, 0);
        }
        let mut log = TrapLog::new(3);
        log.feed(text.as_bytes(), Instant::now());
        log
    }

    /// A hypervisor linked where it runs, its code where `f` says.
    struct Linked<F>(F);
    impl<F: Fn(u64) -> bool> HostCode for Linked<F> {
        fn contains(&self, pc: u64) -> bool {
            (self.0)(pc)
        }
        fn at_load_address_only(&self, _: u64) -> bool {
            false
        }
        fn at_link_address(&self, pc: u64) -> bool {
            (self.0)(pc)
        }
    }

    fn scenario() -> Scenario {
        let path = Path::new("/proj/scenarios/x.toml");
        ScenarioFile::parse(ONE_HART, path)
            .and_then(|f| f.into_scenario(path))
            .expect("a valid scenario")
    }

    #[test]
    fn the_faulting_hart_is_named_not_the_idle_ones() {
        let log = reported_through_sbi(false);
        let host = Linked(|pc: u64| (0x8020_0000..0x8021_0000).contains(&pc));
        // Hart 0: still inside the handler of the guest's fault (SPV=1,
        // SPP=1), its scause/sepc that fault, only printing ecalls since.
        let hart0 = in_hs(0, 0x14, GUEST_ENTRY, SPP, SPV);
        let ctx = parked_context(&hart0, &log, &host).expect("hart 0 is stuck on its fault");
        assert_eq!(ctx.cause.code, 0x14);
        assert_eq!(ctx.from.name(), "VS");
        assert_eq!(ctx.sbi_calls_after, 40, "the report's ecalls are evidence");
        // Harts 1 and 2: the same stale ebreak in scause/sepc, but sret has
        // cleared SPP since: they returned from it.
        let idle = in_hs(1, 3, EBREAK_PC, 0, 0);
        assert!(parked_context(&idle, &log, &host).is_none());
        // Without knowing the hypervisor's code, SPP=0 says nothing.
        let nowhere = Linked(|_: u64| false);
        assert!(parked_context(&idle, &log, &nowhere).is_some());
        // Interrupts taken after it: the hart went on running.
        let log = reported_through_sbi(true);
        assert!(parked_context(&idle, &log, &nowhere).is_none());
        assert!(parked_context(&in_hs(2, 3, EBREAK_PC, 0, 0), &log, &nowhere).is_some());
    }

    #[test]
    fn a_guest_that_called_sbi_after_its_fault_was_resumed() {
        let mut log = reported_through_sbi(false);
        log.feed(
            line(0, 0, 10, GUEST_ENTRY + 0x40, 0).as_bytes(),
            Instant::now(),
        );
        let hart0 = in_hs(0, 0x14, GUEST_ENTRY, SPP, SPV);
        assert!(parked_context(&hart0, &log, &Linked(|_| false)).is_none());
    }

    #[test]
    fn an_undelegated_ecall_is_itself_the_fault() {
        // fault-nodeleg: the guest's first system call (ecall from VU)
        // comes to HS, which parks on it; it is the last exception.
        let mut text = line(0, 0, 0xd, 0x8000_0100, 0x10);
        text += &line(0, 0, 8, 0x40, 0);
        let mut log = TrapLog::new(1);
        log.feed(text.as_bytes(), Instant::now());
        let hart0 = in_hs(0, 8, 0x40, SPP, 1 << 7);
        let ctx = parked_context(&hart0, &log, &Linked(|_| false)).expect("parked on the ecall");
        assert_eq!((ctx.cause.code, ctx.from.name()), (8, "VU"));
    }

    /// A hypervisor linked at 0xffffffc080200000, loaded at 0x80200000.
    struct LinkedHigh;
    const HIGH: u64 = 0xffff_ffc0_0000_0000;
    impl HostCode for LinkedHigh {
        fn contains(&self, pc: u64) -> bool {
            self.at_load_address_only(pc) || self.at_link_address(pc)
        }
        fn at_load_address_only(&self, pc: u64) -> bool {
            (0x8020_0000..0x8021_0000).contains(&pc)
        }
        fn at_link_address(&self, pc: u64) -> bool {
            (HIGH + 0x8020_0000..HIGH + 0x8021_0000).contains(&pc)
        }
    }

    const JUMP: u64 = 0x8020_0050;

    /// The highboot fixture's log, as QEMU writes it: on every hart
    /// OpenSBI's CSR probes, then the MMU-on fetch fault at the load
    /// address; hart 0 then starts the others (ecalls from HS), its guest
    /// faults on its first instruction (cause 20) and the hypervisor prints
    /// its error through SBI; the idle harts make one SBI call each.
    fn boot_jump_log() -> TrapLog {
        let mut text = String::new();
        for hart in 0..4 {
            text += &line(hart, 0, 2, 0x8000_e136, 0xda00_2573);
            text += &line(hart, 0, 12, JUMP, JUMP);
        }
        for _ in 0..6 {
            text += &line(0, 0, 9, HIGH + 0x8020_0aa0, 0);
        }
        for hart in 1..4 {
            text += &line(hart, 0, 9, HIGH + 0x8020_0abe, 0);
        }
        text += &line(0, 0, 0x14, GUEST_ENTRY, GUEST_ENTRY);
        for _ in 0..42 {
            text += &line(0, 0, 9, HIGH + 0x8020_0aa0, 0);
        }
        let mut log = TrapLog::new(4);
        log.feed(text.as_bytes(), Instant::now());
        log
    }

    /// A hart stopped in HS at `pc` holding (scause, sepc, stval).
    fn holding(hart: u32, pc: u64, held: (u64, u64, u64), hstatus: u64) -> HartState {
        let (scause, sepc, stval) = held;
        let csrs = [
            ("scause", scause),
            ("sepc", sepc),
            ("stval", stval),
            ("sstatus", SPP),
            ("hstatus", hstatus),
        ];
        hs_state(hart, pc, &csrs)
    }

    #[test]
    fn the_boot_jump_is_never_a_cause() {
        let log = boot_jump_log();
        let idle_pc = HIGH + 0x8020_0f40;
        for hart in 1..4 {
            let idle = holding(hart, idle_pc, (12, JUMP, JUMP), 0);
            assert!(
                parked_context(&idle, &log, &LinkedHigh).is_none(),
                "hart {hart}"
            );
            let (trap, since) = held_trap(&idle, &log).expect("the jump is its last fault");
            assert_eq!(
                handled(&trap, &since, idle.pc, &LinkedHigh),
                Some(SeenPast::BootJump)
            );
        }
        let hart0 = holding(0, HIGH + 0x8020_090e, (0x14, GUEST_ENTRY, GUEST_ENTRY), SPV);
        let ctx = parked_context(&hart0, &log, &LinkedHigh).expect("hart 0 is stuck");
        assert_eq!((ctx.cause.code, ctx.from.name()), (0x14, "VS"));
        assert_eq!(ctx.sbi_calls_after, 42);
        // Still at its load address (the jump never landed): stuck on it.
        let stuck = holding(1, JUMP, (12, JUMP, JUMP), 0);
        assert!(parked_context(&stuck, &log, &LinkedHigh).is_some());
    }

    #[test]
    fn a_lazy_fpu_trap_then_a_running_guest_is_no_cause() {
        // An illegal instruction in the hypervisor (FS off), then its guest
        // ran and made SBI calls; SPP is 1 again from a later HS trap path.
        let mut text = line(0, 0, 2, 0x8020_0400, 0);
        for _ in 0..5 {
            text += &line(0, 0, 10, 0x8020_1000, 0);
        }
        let mut log = TrapLog::new(1);
        log.feed(text.as_bytes(), Instant::now());
        let h = holding(0, 0x8020_0790, (2, 0x8020_0400, 0), 0);
        let host = Linked(|pc: u64| (0x8020_0000..0x8021_0000).contains(&pc));
        assert!(parked_context(&h, &log, &host).is_none());
    }

    #[test]
    fn stuck_harts_come_in_the_order_they_got_stuck() {
        // Hart 1 faults (from VS) before hart 0 does.
        let mut text = line(1, 0, 0x15, 0x8000_0010, 0x1000_0000);
        text += &line(0, 0, 0x17, 0x8000_0020, 0x1000_0000);
        let mut log = TrapLog::new(2);
        log.feed(text.as_bytes(), Instant::now());
        let harts = [
            in_hs(0, 0x17, 0x8000_0020, SPP, SPV),
            in_hs(1, 0x15, 0x8000_0010, SPP, SPV),
        ];
        let found = faults(&harts, &log, None, &scenario(), None).expect("faults");
        let order: Vec<u32> = found.iter().map(|c| c.hart).collect();
        assert_eq!(order, vec![1, 0]);
    }
}
