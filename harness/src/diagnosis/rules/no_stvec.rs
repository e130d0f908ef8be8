//! The no-stvec rule: a fault taken before the kernel installed its trap
//! vector.

use super::{Evidence, Finding};
use crate::diagnosis::TrapTarget;

/// The no-stvec rule: a fault taken to VS (or S) while the trap vector is 0,
/// or still the kernel's entry point (OpenSBI leaves stvec = the payload's
/// entry for a kernel it boots directly).
pub(super) fn no_stvec(e: &Evidence) -> Option<Finding> {
    let (name, value, who) = match e.fault.to {
        TrapTarget::VS => ("vstvec", e.fault.csr("vstvec")?, "the guest"),
        TrapTarget::HS if e.from_guest() != Some(true) => {
            ("stvec", e.fault.csr("stvec")?, "the kernel")
        }
        _ => return None,
    };
    let base = value & !3;
    let entry = e
        .space()
        .and_then(|s| e.elfs?.space(s).ok())
        .map(|i| i.entry())
        .filter(|&a| a != 0);
    let place = e.epc_place();
    let cause = e.fault.cause;
    let (summary, details) = if base == 0 {
        (
            format!(
                "{who} had not installed its trap vector yet ({name} = 0) when it took {cause} at {place}; the fault loops at pc 0 (the jump to 0 faults again)."
            ),
            vec![
                "at pc 0 the hart takes instruction page faults (or access faults) over and over; scause and stval there describe the loop, not this first fault".to_string(),
            ],
        )
    } else if Some(base) == entry {
        (
            format!(
                "{name} still holds the kernel's entry point {base:#x}, as OpenSBI leaves it, when {who} took {cause} at {place}: the fault restarts the kernel instead of reaching a trap handler."
            ),
            vec!["the boot banner shows twice, then the restarted kernel fails in its own way".to_string()],
        )
    } else {
        return None;
    };
    Some(Finding {
        rule: "no-stvec".into(),
        summary,
        details,
        fix: Some("Install the trap vector (csrw stvec) before anything that can fault, and fix the fault itself (see the other findings).".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::riscv::PrivilegeLevel;
    use std::collections::BTreeMap;

    #[test]
    fn no_stvec_standalone_under_opensbi() {
        // A kernel booted by OpenSBI directly (V=0, trap to S-mode): stvec
        // is the entry point until trapinithart.
        let mut csrs = BTreeMap::new();
        csrs.insert("stvec".to_string(), 0x8020_0000);
        csrs.insert("satp".to_string(), 0);
        let from = PrivilegeLevel::from_qemu_priv(1).with_virt(false);
        let ctx = FaultContext {
            epc_place: Some("guest:fault_unmapped_load+0x20".into()),
            ..bare_context(from, 13, 0x8020_0a20, 0x8100_0000, csrs)
        };
        // Without the ELF the entry point is unknown: no finding.
        assert!(!rules_fired(&Evidence::new(&ctx)).contains(&"no-stvec".to_string()));
        let mut zero = ctx.clone();
        zero.csrs.insert("stvec".into(), 0);
        let found = diagnose(&Evidence::new(&zero));
        assert_eq!(found[0].rule, "no-stvec");
        assert!(
            found[0]
                .summary
                .starts_with("the kernel had not installed its trap vector yet (stvec = 0)"),
            "{}",
            found[0].summary
        );
        // Traps into the hypervisor from a guest are not about stvec.
        let mut hv = zero.clone();
        hv.from = PrivilegeLevel::from_qemu_priv(1).with_virt(true);
        assert!(!rules_fired(&Evidence::new(&hv)).contains(&"no-stvec".to_string()));
    }
}
