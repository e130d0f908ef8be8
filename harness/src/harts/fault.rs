//! One trap with everything known about it: the record the stuck-hart
//! choice fills and the diagnosis explains.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::riscv::{Cause, PrivilegeLevel, TrapTarget};

/// Everything known about one trap, read when it was taken (before later
/// traps overwrite the CSRs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultContext {
    pub hart: u32,
    /// The privilege level and V the hart was at when it trapped.
    pub from: PrivilegeLevel,
    pub to: TrapTarget,
    pub cause: Cause,
    /// The pc of the trapping instruction.
    pub epc: u64,
    pub tval: u64,
    /// For traps into HS-mode: htval (guest-physical address >> 2) and htinst.
    pub htval: Option<u64>,
    pub htinst: Option<u64>,
    /// `space:symbol+offset at file:line` of epc, in the ELF file of the
    /// context that trapped (the guest's for V=1).
    pub epc_place: Option<String>,
    /// SBI calls the hart made from HS after the trap (a hypervisor printing
    /// its report through the SBI console): evidence, not progress.
    pub sbi_calls_after: u64,
    /// Register values at the trap by name (satp, vsatp, hgatp, henvcfg,
    /// menvcfg, hedeleg, medeleg, stvec, vstvec, hstatus, mstatus, ...).
    /// A name is absent when the target could not read it.
    ///
    /// Names are architectural: `vsatp`, `vstvec` and `vsstatus` are the
    /// guest's own registers even when they were read while V=1, where
    /// QEMU's gdbstub shows them as `satp`, `stvec` and `sstatus`. Its
    /// `vsatp` read while V=1 holds the guest's value from its last entry,
    /// not the hypervisor's satp: the HS values cannot be read over the
    /// gdbstub while V=1 (measured on 7.2.22, 8.0.2, 9.2.0 and 10.0.2).
    /// General registers, when present, use ABI names: `ra`, `sp`, `s0`
    /// (QEMU's `fp` is accepted too).
    pub csrs: BTreeMap<String, u64>,
}

impl FaultContext {
    /// A register's value at the trap, if read.
    pub fn csr(&self, name: &str) -> Option<u64> {
        self.csrs.get(name).copied()
    }

    /// htval in words: the guest-physical address it gives only where the
    /// architecture defines one (a guest-page fault taken to HS, with a
    /// non-zero htval); otherwise what it is not.
    pub fn htval_text(&self) -> Option<String> {
        let h = self.htval?;
        let gpf = self.cause.is_guest_page_fault() && self.to == TrapTarget::HS;
        Some(match (gpf, h) {
            (true, 0) => format!("{h:#x} (no guest-physical address given: htval may be 0)"),
            (true, _) => format!(
                "{h:#x} (guest-physical {:#x})",
                crate::riscv::guest_physical_address(h, self.tval)
            ),
            (false, _) => {
                format!("{h:#x} (not a guest-page fault: htval holds no guest-physical address)")
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::riscv::Level;

    fn trap(code: u64, htval: u64) -> FaultContext {
        FaultContext {
            hart: 0,
            from: PrivilegeLevel {
                level: Level::Supervisor,
                virt: Some(false),
            },
            to: TrapTarget::HS,
            cause: Cause::exception(code),
            epc: 0x8020_0000,
            tval: 0x2,
            htval: Some(htval),
            htinst: Some(0),
            epc_place: None,
            sbi_calls_after: 0,
            csrs: BTreeMap::new(),
        }
    }

    #[test]
    fn a_guest_physical_address_only_where_htval_holds_one() {
        // The trap from HS: htval 0, tval 0x2. No address is made up.
        let text = trap(2, 0).htval_text().expect("htval read");
        assert!(!text.contains("guest-physical 0x"), "{text}");
        assert!(text.contains("not a guest-page fault"), "{text}");
        let gpf = trap(23, 0x2008_0000).htval_text().expect("htval read");
        assert_eq!(gpf, "0x20080000 (guest-physical 0x80200002)");
        let zero = trap(21, 0).htval_text().expect("htval read");
        assert!(!zero.contains("guest-physical 0x"), "{zero}");
    }
}
