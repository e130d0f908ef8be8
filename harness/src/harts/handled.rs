//! Whether a hart went on past the trap its scause and sepc still hold.
//!
//! A trap into HS stays in scause/sepc/stval until the next one, however long
//! ago it was handled: an idle hart carries its boot-time trap for ever. Only
//! a hart that never got past the trap is stuck on it; a trap is *handled*
//! when the hart ran on past it, not only when it returned to the faulting pc.
//! [`handled`] says how the hart was seen past it, from what the interrupt log
//! recorded after the trap and where the hart is now.

use crate::qemu::trap_log::SinceFault;
use crate::riscv::cause::code;
use crate::riscv::Cause;

/// A trap into HS that scause/sepc/stval still hold, with the state bits
/// that say where it came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeldTrap {
    pub(crate) cause: Cause,
    pub(crate) epc: u64,
    pub(crate) tval: u64,
    /// hstatus.SPV: it came from V=1 (a guest).
    pub(crate) from_virt: bool,
    /// sstatus.SPP now: 1 while the hart has not returned with `sret`
    /// (which sets it to 0) since the trap.
    pub(crate) spp: bool,
}

/// What the hypervisor's own ELF file says about an address (the scenario's
/// `[[elf]]` with `virt = false`); tests give their own.
pub(crate) trait HostCode {
    /// A symbol of the hypervisor names the address exactly.
    fn contains(&self, pc: u64) -> bool;
    /// The address is the hypervisor's code where it is loaded but not
    /// where it is linked (p_paddr or `load_address` differ from p_vaddr).
    fn at_load_address_only(&self, pc: u64) -> bool;
    /// The address is one of the hypervisor's link-time addresses.
    fn at_link_address(&self, pc: u64) -> bool;
}

/// The hypervisor's ELF file, when the scenario has one.
impl HostCode for Option<&crate::elf::ElfImage> {
    fn contains(&self, pc: u64) -> bool {
        self.is_some_and(|i| i.symbolize(pc).is_some_and(|h| h.exact))
    }
    fn at_load_address_only(&self, pc: u64) -> bool {
        self.is_some_and(|i| i.is_load_address_only(pc))
    }
    fn at_link_address(&self, pc: u64) -> bool {
        self.is_some_and(|i| i.is_link_address(pc))
    }
}

/// How a hart was seen past the trap it still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeenPast {
    /// Code at a lower privilege ran after it: ecalls from VS or U (a
    /// guest or a user program asked for something).
    LowerPrivilegeRan { ecalls: u64 },
    /// Interrupts were taken after a trap from V=0 (a hypervisor that
    /// parks on a fault of its own turns interrupts off first).
    Interrupts(u64),
    /// `sret` since: SPP is 0 and the trap came from the hypervisor's code.
    Returned,
    /// The boot jump: an instruction page fault at the hypervisor's load
    /// address, and the hart now runs the hypervisor at its link address.
    /// The fault moved it there; the handler is the rest of its boot.
    BootJump,
}

impl SeenPast {
    /// What the trap was, for a hart's summary line (`scause still holds
    /// ... from {this}`).
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            SeenPast::LowerPrivilegeRan { .. } => {
                "a trap it went past, a guest or user program having run after it"
            }
            SeenPast::Interrupts(_) => "a trap it went past, taking interrupts after it",
            SeenPast::Returned => "a trap it returned from with sret",
            SeenPast::BootJump => {
                "the boot jump: the fetch fault at its load address that moved it to its link address as its MMU came on"
            }
        }
    }
}

/// Whether the hart was seen past `trap`, and how. `since` is what the
/// interrupt log recorded on the hart after the trap (only ecalls and
/// interrupts can follow it: any other exception would be the held one),
/// `pc` where the hart is now (stopped, V=0), `host` the hypervisor's code.
///
/// The class: a trap that firmware takes on purpose and never returns to the
/// faulting pc from, or returns from long before the hang. Ours, the
/// reference fixture `hypervisor-highboot`: every hart turns its MMU on by
/// pointing stvec at the high address of the next instruction and letting
/// that fetch fault (cause 12, HS to HS, never returned from) — handled as
/// [`SeenPast::BootJump`]. Other shapes, and what this decision does with
/// each:
/// - A boot jump by `sret`/`mret` to a high address (firmware that sets
///   sepc/mepc to its link address and returns into it): no trap is taken,
///   so nothing is held to decide; an `sret` from HS also clears SPP
///   ([`SeenPast::Returned`]).
/// - A trap used for lazy FPU enable (an illegal instruction with
///   sstatus.FS = Off; the handler turns FS on and returns to the same pc):
///   handled when the hart returned ([`SeenPast::Returned`], SPP 0), ran a
///   guest since ([`SeenPast::LowerPrivilegeRan`]) or took interrupts. One
///   taken by the hypervisor whose next trap is far away, at a pc outside
///   any scenario ELF and with SPP still 1 (it returned into its own HS code
///   with SPP set again by a later HS-to-HS trap) is not recognised.
/// - An ecall used as a call into M-mode that returns elsewhere (SBI HSM
///   `hart_suspend` resuming at another address, a vendor call that
///   switches stacks): ecalls are requests, never held faults; they go to M
///   and leave scause alone, and the log counts them apart. Nothing to
///   decide here.
/// - A boot jump whose page tables keep no alias of the load address: the
///   same as ours; the decision reads only the two addresses, not the walk.
///   A hypervisor already running at its link address that jumps into its
///   load-address copy by mistake and then parks looks the same, and is
///   (wrongly) taken as handled: not told apart.
pub(crate) fn handled(
    trap: &HeldTrap,
    since: &SinceFault,
    pc: u64,
    host: &dyn HostCode,
) -> Option<SeenPast> {
    let lower = since.ecalls_with(code::ECALL_VS) + since.ecalls_with(code::ECALL_U);
    if lower > 0 {
        return Some(SeenPast::LowerPrivilegeRan { ecalls: lower });
    }
    if trap.from_virt {
        return None;
    }
    if !trap.spp && host.contains(trap.epc) {
        return Some(SeenPast::Returned);
    }
    // The boot jump before the interrupts: an idle hart may or may not have
    // taken a tick since, as timing falls, and the jump is what it was.
    let fetch_fault =
        !trap.cause.interrupt && trap.cause.code == code::INST_PAGE_FAULT && trap.tval == trap.epc;
    if trap.spp && fetch_fault && host.at_load_address_only(trap.epc) && host.at_link_address(pc) {
        return Some(SeenPast::BootJump);
    }
    if since.interrupts > 0 {
        return Some(SeenPast::Interrupts(since.interrupts));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hypervisor linked at 0xffffffc080200000 and loaded at 0x80200000
    /// (64 KiB), code named at both.
    struct LinkedHigh;
    const LOAD: u64 = 0x8020_0000;
    const LINK: u64 = 0xffff_ffc0_8020_0000;
    const SIZE: u64 = 0x1_0000;

    impl HostCode for LinkedHigh {
        fn contains(&self, pc: u64) -> bool {
            self.at_load_address_only(pc) || self.at_link_address(pc)
        }
        fn at_load_address_only(&self, pc: u64) -> bool {
            (LOAD..LOAD + SIZE).contains(&pc)
        }
        fn at_link_address(&self, pc: u64) -> bool {
            (LINK..LINK + SIZE).contains(&pc)
        }
    }

    /// A hypervisor linked where it is loaded.
    struct LinkedLow;
    impl HostCode for LinkedLow {
        fn contains(&self, pc: u64) -> bool {
            (LOAD..LOAD + SIZE).contains(&pc)
        }
        fn at_load_address_only(&self, _: u64) -> bool {
            false
        }
        fn at_link_address(&self, pc: u64) -> bool {
            self.contains(pc)
        }
    }

    fn held(code: u64, epc: u64, tval: u64, from_virt: bool, spp: bool) -> HeldTrap {
        HeldTrap {
            cause: Cause::exception(code),
            epc,
            tval,
            from_virt,
            spp,
        }
    }

    fn since(ecalls: [u64; 4], interrupts: u64) -> SinceFault {
        SinceFault { ecalls, interrupts }
    }

    const IDLE_PC: u64 = LINK + 0xf40;
    const JUMP_PC: u64 = LOAD + 0x50;

    #[test]
    fn the_boot_jump_on_every_hart_is_handled() {
        // The fixture's idle harts: the fetch fault at the load address,
        // one SBI call from HS since (set_timer), now idle at the link address.
        let jump = held(12, JUMP_PC, JUMP_PC, false, true);
        let after = since([0, 1, 0, 0], 0);
        assert_eq!(
            handled(&jump, &after, IDLE_PC, &LinkedHigh),
            Some(SeenPast::BootJump)
        );
        // Seen with no SBI call at all after it: the same.
        let quiet = SinceFault::default();
        assert_eq!(
            handled(&jump, &quiet, IDLE_PC, &LinkedHigh),
            Some(SeenPast::BootJump)
        );
        // An idle hart that took a timer tick since: still the boot jump
        // (QEMU 7.2.22 in CI called it "taking interrupts after it").
        assert_eq!(
            handled(&jump, &since([0, 1, 0, 0], 2), IDLE_PC, &LinkedHigh),
            Some(SeenPast::BootJump)
        );
    }

    #[test]
    fn a_real_fetch_fault_in_the_hypervisor_is_not_a_jump() {
        // A hypervisor linked where it runs jumps to a bad address and
        // parks, printing through SBI: stuck on it.
        let bad = held(12, 0x8030_0000, 0x8030_0000, false, true);
        let report = since([0, 40, 0, 0], 0);
        assert_eq!(handled(&bad, &report, LOAD + 0x900, &LinkedLow), None);
        // Linked high: the hart still at its load address (it never got
        // to its link address) is stuck on it.
        let jump = held(12, JUMP_PC, JUMP_PC, false, true);
        assert_eq!(handled(&jump, &report, JUMP_PC + 4, &LinkedHigh), None);
        // A data page fault at a load address is no fetch: not a jump.
        let load = held(13, JUMP_PC, 0x9000_0000, false, true);
        assert_eq!(handled(&load, &report, IDLE_PC, &LinkedHigh), None);
        // tval elsewhere: the fetch of another address faulted (a jump
        // through a bad pointer), not the next instruction.
        let elsewhere = held(12, JUMP_PC, 0x1234, false, true);
        assert_eq!(handled(&elsewhere, &report, IDLE_PC, &LinkedHigh), None);
    }

    #[test]
    fn a_guests_fault_the_hypervisor_parked_on_is_stuck() {
        // sbi-panic/highboot hart 0: cause 20 from VS, then the report's
        // ecalls from HS: not seen past, wherever the hart parks.
        let gpf = held(20, LOAD, LOAD, true, true);
        assert_eq!(
            handled(&gpf, &since([0, 42, 0, 0], 0), IDLE_PC, &LinkedHigh),
            None
        );
        // Interrupts while parked do not count for a guest's trap.
        assert_eq!(
            handled(&gpf, &since([0, 0, 0, 0], 5), IDLE_PC, &LinkedHigh),
            None
        );
        // The guest called SBI after it: it was resumed.
        assert_eq!(
            handled(&gpf, &since([0, 0, 3, 0], 0), IDLE_PC, &LinkedHigh),
            Some(SeenPast::LowerPrivilegeRan { ecalls: 3 })
        );
    }

    #[test]
    fn lazy_fpu_enable_returned_or_ran_on() {
        // An illegal instruction (FS off) in the hypervisor's own code: the
        // handler set FS and returned with sret (SPP 0 now).
        let fpu = held(2, LOAD + 0x400, 0, false, false);
        assert_eq!(
            handled(&fpu, &SinceFault::default(), LOAD + 0x800, &LinkedLow),
            Some(SeenPast::Returned)
        );
        // The same trap, then the hypervisor entered its guest, which made
        // SBI calls: seen past even with SPP set again.
        let fpu_spp = held(2, LOAD + 0x400, 0, false, true);
        assert_eq!(
            handled(&fpu_spp, &since([0, 0, 7, 0], 0), LOAD + 0x800, &LinkedLow),
            Some(SeenPast::LowerPrivilegeRan { ecalls: 7 })
        );
        // Or took timer interrupts afterwards.
        assert_eq!(
            handled(&fpu_spp, &since([0, 0, 0, 0], 2), LOAD + 0x800, &LinkedLow),
            Some(SeenPast::Interrupts(2))
        );
        // SPP 0 says nothing when the trap is not in the hypervisor's code.
        let unknown = held(2, 0x4000_0000, 0, false, false);
        assert_eq!(
            handled(&unknown, &SinceFault::default(), LOAD, &LinkedLow),
            None
        );
    }

    #[test]
    fn a_user_program_after_the_trap_means_the_hart_went_on() {
        // A bare S-mode kernel (no H): a fault of its own it recovered
        // from, then its user programs made system calls.
        let kfault = held(13, LOAD + 0x200, 0x10, false, true);
        assert_eq!(
            handled(&kfault, &since([12, 0, 0, 0], 0), LOAD, &LinkedLow),
            Some(SeenPast::LowerPrivilegeRan { ecalls: 12 })
        );
    }
}
