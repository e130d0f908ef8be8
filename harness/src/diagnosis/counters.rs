//! The counter rule: a read of a counter CSR (`cycle`, `time`, `instret`,
//! `hpmcounter3`-`31`: CSR numbers 0xC00-0xC1F) from a level whose
//! counter-enable bit is clear traps instead of reading
//! ([`crate::riscv::counteren`] has the table). A guest's `rdtime` with
//! hcounteren.TM clear is a virtual-instruction exception (cause 22) to HS;
//! a hypervisor that neither emulates it nor enables the counter either
//! parks on it or forwards it to the guest as an illegal instruction
//! (cause 2), which the guest's kernel cannot handle.
//!
//! The rule reads the instruction (from tval, which holds its bits for
//! causes 2 and 22, else from memory or the ELF file), the privilege it ran
//! at, and the three counter-enable registers as the diagnosis read them
//! (`mcounteren`, `hcounteren`, `scounteren`). It names the register and
//! field that made the read trap, and the fix.
//!
//! Other shapes of the same class, in firmware unlike ours:
//! - a hypervisor that takes the cause-22 trap and parks or prints an
//!   error (no injection): the fault is cause 22 to HS from VS; handled
//!   (the summary says the hypervisor did not emulate the read).
//! - a U-mode program under a plain S-mode kernel (or a guest's user
//!   program, VU) whose kernel left scounteren clear: illegal instruction
//!   to S (from U) or virtual instruction to HS (from VU); handled, named
//!   as scounteren's field.
//! - M-mode firmware that leaves mcounteren clear: every read below M is an
//!   illegal instruction to M, which OpenSBI usually emulates for `time`
//!   (and which then never reaches a diagnosis); when the diagnosis read
//!   mcounteren with the bit clear the rule names it first.
//! - a guest that loops re-executing the read because its handler returns
//!   to the same pc (sret back to the `rdtime`): the storm rule sees the
//!   repeated cause 22 and the capture hands this rule the same trap;
//!   handled as the first shape.
//!
//! Not handled: counters that exist but are not implemented (an
//! `hpmcounter` a CPU lacks is illegal whatever the enables say; the rule
//! then still names the clear bit, which may be only half the story), and
//! writes to counters (always illegal: the illegal-instruction rule says so).

use super::rules::{Evidence, Finding};
use super::TrapTarget;
use crate::elf::Instruction;
use crate::provenance;
use crate::provenance::explain::BitQuestion;
use crate::riscv::cause::code;
use crate::riscv::counteren::{self, Counteren};
use crate::riscv::Level;

/// A counter read, decoded: which counter and how it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CounterRead {
    /// The counter's index (0 cycle, 1 time, 2 instret, 3.. hpmcounterN).
    pub(crate) counter: u32,
    /// `rdtime`, `rdcycle`, `rdinstret`, or `csrr hpmcounter3`.
    pub(crate) mnemonic: String,
}

/// The counter `ins` reads, when it is a CSR read of a counter (`csrrs`
/// or `csrrc` with x0, or their immediate forms with 0; any write to a
/// counter is another matter).
pub(crate) fn counter_read(ins: &Instruction) -> Option<CounterRead> {
    let raw = ins.raw;
    if ins.length != 4 || raw & 0x7f != 0x73 {
        return None;
    }
    let funct3 = (raw >> 12) & 7;
    let rs1 = (raw >> 15) & 0x1f;
    // csrrs/csrrc (2, 3) and csrrsi/csrrci (6, 7) with rs1/uimm 0 only read.
    if !matches!(funct3, 2 | 3 | 6 | 7) || rs1 != 0 {
        return None;
    }
    let counter = counteren::counter_of_csr((raw >> 20) as u32)?;
    let mnemonic = match counter {
        0..=2 => format!("rd{}", counteren::counter_name(counter)),
        _ => format!("csrr {}", counteren::counter_name(counter)),
    };
    Some(CounterRead { counter, mnemonic })
}

/// The counter-enable register whose clear bit made a read from `level`
/// (V as `virt`) trap, and the exception code the read raised; `None` when
/// every register read has the bit set (or none was read).
fn blocker(e: &Evidence, counter: u32, level: Level, virt: bool) -> Option<(Counteren, u64)> {
    let clear = |which: Counteren| {
        e.fault
            .csr(which.name())
            .is_some_and(|v| !counteren::enabled(v, counter))
    };
    if level != Level::Machine && clear(Counteren::Machine) {
        return Some((Counteren::Machine, code::ILLEGAL_INST));
    }
    if virt {
        if clear(Counteren::Hypervisor) {
            return Some((Counteren::Hypervisor, code::VIRTUAL_INST));
        }
        if level == Level::User && clear(Counteren::Supervisor) {
            return Some((Counteren::Supervisor, code::VIRTUAL_INST));
        }
        return None;
    }
    (level == Level::User && clear(Counteren::Supervisor))
        .then_some((Counteren::Supervisor, code::ILLEGAL_INST))
}

/// `hcounteren.TM (bit 1)`.
fn bit_name(which: Counteren, counter: u32) -> String {
    format!(
        "{}.{} (bit {counter})",
        which.name(),
        counteren::field_name(counter)
    )
}

/// Who sets the register, and the fix in words.
fn fix(which: Counteren, counter: u32, read: &CounterRead) -> String {
    let bit = bit_name(which, counter);
    match which {
        Counteren::Hypervisor => format!(
            "set {bit} in the hypervisor (hcounteren |= 1 << {counter}), or emulate the read: on cause 22 at a `{}`, write the value to the destination register and step sepc over the instruction",
            read.mnemonic
        ),
        Counteren::Supervisor => format!(
            "set {bit} in the kernel that runs the program (scounteren |= 1 << {counter}), or have it emulate the read"
        ),
        Counteren::Machine => format!(
            "have the M-mode firmware set {bit} (mcounteren |= 1 << {counter}), or emulate the read in M-mode"
        ),
    }
}

/// The rule (see the module's doc).
pub(crate) fn counters(e: &Evidence) -> Option<Finding> {
    let f = e.fault;
    let c = f.cause;
    if c.interrupt || !matches!(c.code, code::ILLEGAL_INST | code::VIRTUAL_INST) {
        return None;
    }
    let ins = e.instruction()?;
    let read = counter_read(&ins)?;
    let virt = e.from_guest()?;
    let (which, raised) = blocker(e, read.counter, f.from.level, virt)?;
    let bit = bit_name(which, read.counter);
    let place = e.epc_place();
    let who = match (virt, f.from.level) {
        (true, Level::User) => "the guest's user program's",
        (true, _) => "the guest's",
        (false, Level::User) => "the user program's",
        (false, Level::Machine) => "M-mode's",
        (false, _) => "the kernel's",
    };
    let exception = if raised == code::VIRTUAL_INST {
        "a virtual-instruction exception (cause 22)"
    } else {
        "an illegal-instruction exception (cause 2)"
    };
    let mut summary = format!(
        "{who} `{}` at {place} raised {exception} because {bit} is clear",
        read.mnemonic
    );
    // What became of the trap.
    let forwarded = raised == code::VIRTUAL_INST && c.code == code::ILLEGAL_INST;
    if forwarded && f.to == TrapTarget::VS {
        let handler = f
            .csr("vstvec")
            .map(|v| v & !3)
            .map(|v| e.symbol(v).unwrap_or_else(|| format!("{v:#x}")))
            .map(|h| format!(" {h}"))
            .unwrap_or_default();
        summary.push_str(&format!(
            "; the hypervisor injected an illegal-instruction exception (cause 2) into the guest, and the guest's trap handler{handler} never returns"
        ));
    } else if c.code == code::VIRTUAL_INST && f.to == TrapTarget::HS {
        summary.push_str("; the hypervisor did not emulate the read");
    }
    summary.push_str(&format!(": set {bit} or emulate the read."));
    let mut details = vec![format!(
        "{c} at {place}: `{}` reads {} (CSR {:#x})",
        ins.text,
        counteren::counter_name(read.counter),
        counteren::COUNTER_BASE + read.counter
    )];
    for w in [
        Counteren::Machine,
        Counteren::Hypervisor,
        Counteren::Supervisor,
    ] {
        if let Some(v) = f.csr(w.name()) {
            let state = if counteren::enabled(v, read.counter) {
                "set"
            } else {
                "clear"
            };
            details.push(format!(
                "{} = {v:#x}: {} {state}",
                w.name(),
                counteren::field_name(read.counter)
            ));
        }
    }
    let mut fix = fix(which, read.counter, &read);
    // Where the images write the register, and the line to change.
    let field = counteren::field_name(read.counter);
    let question = BitQuestion {
        csr: which.name(),
        bit: read.counter,
        field: &field,
        reset: None,
        hart: Some(f.hart),
    };
    if let Some(story) = e
        .elfs
        .and_then(|elfs| provenance::explain::missing_bit(elfs, e.csr_writes, &question))
    {
        details.extend(story.details);
        fix = format!("{} Otherwise: {fix}.", story.fix);
    }
    Some(Finding {
        rule: "counters".into(),
        summary,
        details,
        fix: Some(fix),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::rules::diagnose;
    use crate::diagnosis::FaultContext;
    use crate::riscv::{Cause, PrivilegeLevel};
    use std::collections::BTreeMap;

    /// `rdtime a0` (csrrs a0, time, zero).
    const RDTIME_A0: u64 = 0xc010_2573;
    /// `rdcycle a5`.
    const RDCYCLE_A5: u64 = 0xc000_27f3;
    /// `csrr a0, hpmcounter3`.
    const HPM3_A0: u64 = 0xc030_2573;
    /// `csrw time, a0`: a write, never a counter read.
    const CSRW_TIME: u64 = 0xc015_1073;

    fn fault(
        level: Level,
        virt: bool,
        to: TrapTarget,
        cause: u64,
        insn: u64,
        csrs: &[(&str, u64)],
    ) -> FaultContext {
        FaultContext {
            hart: 0,
            from: PrivilegeLevel {
                level,
                virt: Some(virt),
            },
            to,
            cause: Cause::exception(cause),
            epc: 0x8020_0a10,
            tval: insn,
            htval: None,
            htinst: None,
            epc_place: Some("guest:timer_arm+0x8 at guest/kernel/trap.c:30".into()),
            sbi_calls_after: 0,
            csrs: csrs
                .iter()
                .map(|(n, v)| (n.to_string(), *v))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn a_guest_rdtime_forwarded_as_illegal_names_hcounteren_tm() {
        let f = fault(
            Level::Supervisor,
            true,
            TrapTarget::VS,
            code::ILLEGAL_INST,
            RDTIME_A0,
            &[
                ("hcounteren", 0),
                ("mcounteren", 0x7),
                ("vstvec", 0x8020_1000),
            ],
        );
        let found = counters(&Evidence::new(&f)).expect("the rule applies");
        assert!(
            found.summary.starts_with(
                "the guest's `rdtime` at guest:timer_arm+0x8 raised a virtual-instruction exception (cause 22) because hcounteren.TM (bit 1) is clear; the hypervisor injected an illegal-instruction exception (cause 2) into the guest, and the guest's trap handler 0x80201000 never returns: set hcounteren.TM (bit 1) or emulate the read."
            ),
            "{}",
            found.summary
        );
        assert!(found
            .details
            .iter()
            .any(|d| d == "hcounteren = 0x0: TM clear"));
        // It replaces the generic decoding of the instruction, which would
        // only repeat the trap without the bit.
        let rules: Vec<_> = diagnose(&Evidence::new(&f))
            .into_iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(
            rules.first().map(String::as_str),
            Some("counters"),
            "{rules:?}"
        );
        assert!(
            !rules.iter().any(|r| r == "illegal-instruction"),
            "{rules:?}"
        );
    }

    #[test]
    fn a_parked_cause_22_says_the_hypervisor_did_not_emulate() {
        let f = fault(
            Level::Supervisor,
            true,
            TrapTarget::HS,
            code::VIRTUAL_INST,
            RDCYCLE_A5,
            &[("hcounteren", 0x2)],
        );
        let found = counters(&Evidence::new(&f)).expect("the rule applies");
        assert!(
            found.summary.contains("`rdcycle`")
                && found.summary.contains("hcounteren.CY (bit 0) is clear")
                && found
                    .summary
                    .contains("the hypervisor did not emulate the read"),
            "{}",
            found.summary
        );
    }

    #[test]
    fn a_user_program_under_scounteren_clear() {
        // Plain S-mode kernel, U-mode program reading hpmcounter3.
        let f = fault(
            Level::User,
            false,
            TrapTarget::HS,
            code::ILLEGAL_INST,
            HPM3_A0,
            &[("scounteren", 0x7), ("mcounteren", u64::MAX)],
        );
        let found = counters(&Evidence::new(&f)).expect("the rule applies");
        assert!(
            found
                .summary
                .starts_with("the user program's `csrr hpmcounter3`")
                && found
                    .summary
                    .contains("an illegal-instruction exception (cause 2)")
                && found.summary.contains("scounteren.HPM3 (bit 3) is clear"),
            "{}",
            found.summary
        );
        // A guest's user program (VU): hcounteren set, scounteren clear.
        let vu = fault(
            Level::User,
            true,
            TrapTarget::HS,
            code::VIRTUAL_INST,
            RDTIME_A0,
            &[("hcounteren", u64::MAX), ("scounteren", 0)],
        );
        let found = counters(&Evidence::new(&vu)).expect("the rule applies");
        assert!(
            found.summary.contains("scounteren.TM (bit 1)")
                && found.summary.contains("virtual-instruction"),
            "{}",
            found.summary
        );
    }

    #[test]
    fn mcounteren_clear_is_named_first() {
        let f = fault(
            Level::Supervisor,
            false,
            TrapTarget::M,
            code::ILLEGAL_INST,
            RDCYCLE_A5,
            &[("mcounteren", 0), ("hcounteren", 0)],
        );
        let found = counters(&Evidence::new(&f)).expect("the rule applies");
        assert!(
            found.summary.contains("mcounteren.CY (bit 0) is clear")
                && found
                    .fix
                    .as_deref()
                    .unwrap_or_default()
                    .contains("M-mode firmware"),
            "{}",
            found.summary
        );
    }

    #[test]
    fn enabled_counters_writes_and_other_instructions_are_not_its_business() {
        let set = fault(
            Level::Supervisor,
            true,
            TrapTarget::VS,
            code::ILLEGAL_INST,
            RDTIME_A0,
            &[("hcounteren", u64::MAX), ("mcounteren", u64::MAX)],
        );
        assert_eq!(counters(&Evidence::new(&set)), None);
        let write = fault(
            Level::Supervisor,
            true,
            TrapTarget::VS,
            code::ILLEGAL_INST,
            CSRW_TIME,
            &[("hcounteren", 0)],
        );
        assert_eq!(counters(&Evidence::new(&write)), None);
        // Nothing read: no claim.
        let unread = fault(
            Level::Supervisor,
            true,
            TrapTarget::VS,
            code::ILLEGAL_INST,
            RDTIME_A0,
            &[],
        );
        assert_eq!(counters(&Evidence::new(&unread)), None);
        // A page fault is never a counter access.
        let pf = fault(
            Level::Supervisor,
            true,
            TrapTarget::VS,
            13,
            RDTIME_A0,
            &[("hcounteren", 0)],
        );
        assert_eq!(counters(&Evidence::new(&pf)), None);
    }
}
