//! The undelegated rule: an exception the guest handles itself reached the
//! hypervisor because hedeleg lacks its bit.

use super::{Evidence, Finding};
use crate::diagnosis::TrapTarget;
use crate::provenance;
use crate::provenance::explain::BitQuestion;
use crate::riscv::cause::code;
use crate::riscv::Level;

/// The exceptions a guest kernel handles itself: misaligned accesses,
/// access faults, illegal instructions, breakpoints, system calls from its
/// user programs and page faults. (OpenSBI-style hypervisors keep ecall
/// from VS, guest-page faults and virtual instructions.)
pub(crate) const GUEST_HANDLED: &[u64] = {
    use code::*;
    &[
        INST_MISALIGNED,
        INST_ACCESS_FAULT,
        ILLEGAL_INST,
        BREAKPOINT,
        LOAD_MISALIGNED,
        LOAD_ACCESS_FAULT,
        STORE_MISALIGNED,
        STORE_ACCESS_FAULT,
        ECALL_U,
        INST_PAGE_FAULT,
        LOAD_PAGE_FAULT,
        STORE_PAGE_FAULT,
    ]
};

/// The undelegated rule: a guest-handled exception from V=1 came to HS-mode
/// because hedeleg lacks its bit.
pub(super) fn undelegated(e: &Evidence) -> Option<Finding> {
    let c = e.fault.cause;
    if c.interrupt || e.fault.to != TrapTarget::HS || e.from_guest() != Some(true) {
        return None;
    }
    if !GUEST_HANDLED.contains(&c.code) {
        return None;
    }
    let hedeleg = e.fault.csr("hedeleg")?;
    if hedeleg >> c.code & 1 == 1 {
        return None;
    }
    let from = if e.fault.from.level == Level::User {
        "VU"
    } else {
        "VS"
    };
    let mut details = vec![
        format!("hedeleg = {hedeleg:#x}, bit {} = 0", c.code),
        format!("sepc = {:#x}, stval = {:#x}", e.fault.epc, e.fault.tval),
    ];
    let mut fix = format!(
        "Delegate it in the hypervisor: hedeleg |= 1 << {} (or forward it to the guest: set vsepc, vscause, vstval and enter vstvec).",
        c.code
    );
    // Where the images write hedeleg, and the line to change.
    let question = BitQuestion {
        csr: "hedeleg",
        bit: c.code as u32,
        field: c.short,
        reset: None,
        hart: Some(e.fault.hart),
    };
    if let Some(story) = e
        .elfs
        .and_then(|elfs| provenance::explain::missing_bit(elfs, e.csr_writes, &question))
    {
        details.extend(story.details);
        fix = format!(
            "{} (Or forward the exception to the guest: set vsepc, vscause, vstval and enter vstvec.)",
            story.fix
        );
    }
    Some(Finding {
        rule: "undelegated".into(),
        summary: format!(
            "{c} from {from}-mode at {} went to the hypervisor: hedeleg ({hedeleg:#x}) lacks bit {} ({}), so the guest's own trap handler never sees it.",
            e.epc_place(),
            c.code,
            c.short
        ),
        details,
        fix: Some(fix),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::riscv::{Cause, PrivilegeLevel};
    use std::collections::BTreeMap;

    #[test]
    fn undelegated_ecall_from_vu() {
        // The nodeleg build: hedeleg without bit 8, init's first write().
        let mut csrs = BTreeMap::new();
        csrs.insert("hedeleg".to_string(), 0xb0ff);
        csrs.insert("hstatus".to_string(), 0x2_0000_0080);
        let from = PrivilegeLevel::from_qemu_priv(0).with_virt(true);
        let ctx = FaultContext {
            htval: Some(0),
            htinst: Some(0),
            ..bare_context(from, 8, 0x4000_00a8, 0, csrs)
        };
        let e = Evidence::new(&ctx);
        let found = diagnose(&e);
        assert_eq!(found.len(), 1, "{found:?}");
        let f = &found[0];
        assert_eq!(f.rule, "undelegated");
        assert_eq!(
            f.summary,
            "exception 8 (environment call from U-mode or VU-mode) from VU-mode at 0x400000a8 went to the hypervisor: hedeleg (0xb0ff) lacks bit 8 (ecall_u), so the guest's own trap handler never sees it."
        );
        assert!(f
            .fix
            .as_deref()
            .unwrap_or_default()
            .starts_with("Delegate it in the hypervisor: hedeleg |= 1 << 8"));
        // Delegated: no finding. An ecall from VS (the SBI) is not the guest's.
        let mut ok = ctx.clone();
        ok.csrs.insert("hedeleg".into(), 0xb1ff);
        assert!(rules_fired(&Evidence::new(&ok)).is_empty());
        let mut sbi = ctx.clone();
        sbi.cause = Cause::exception(10);
        sbi.from = PrivilegeLevel::from_qemu_priv(5);
        assert!(rules_fired(&Evidence::new(&sbi)).is_empty());
        // From the hypervisor itself (V=0): not a delegation problem.
        let mut host = ctx.clone();
        host.from = PrivilegeLevel::from_qemu_priv(0).with_virt(false);
        assert!(rules_fired(&Evidence::new(&host)).is_empty());
        // V unknown from priv (QEMU < 10): hstatus.SPV says it was the guest.
        let mut old = ctx.clone();
        old.from = PrivilegeLevel::from_qemu_priv(0);
        assert_eq!(rules_fired(&Evidence::new(&old)), ["undelegated"]);
        // Images at hand that never write hedeleg: said so, and the fix
        // asks for the write.
        let elfs = crate::elf::ElfSet::new();
        let mut e = Evidence::new(&ctx);
        e.elfs = Some(&elfs);
        let f = &diagnose(&e)[0];
        assert!(
            f.details
                .iter()
                .any(|d| d == "no instruction in the images writes hedeleg."),
            "{:?}",
            f.details
        );
        assert!(
            f.fix.as_deref().unwrap_or_default().starts_with(
                "Set hedeleg bit 8 (ecall_u) in the hypervisor's per-hart set-up (hedeleg |= 1 << 8)."
            ),
            "{}",
            f.fix.as_deref().unwrap_or_default()
        );
    }
}
