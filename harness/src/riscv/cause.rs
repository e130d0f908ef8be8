//! Trap causes: the values of mcause, scause and vscause, and the bit
//! positions of medeleg/hedeleg (exceptions) and mideleg/hideleg/mip
//! (interrupts).
//!
//! Codes follow the RISC-V privileged specification 1.13 (tables "Machine
//! cause register values" and "Hypervisor ... exception codes").

use serde::{Deserialize, Serialize};
use std::fmt;

use super::pte::Access;

/// The interrupt bit of xcause on RV64.
pub(crate) const INTERRUPT_BIT: u64 = 1 << 63;

/// A decoded trap cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Cause {
    /// True for an interrupt, false for a synchronous exception.
    pub(crate) interrupt: bool,
    /// The exception or interrupt code (xcause without the interrupt bit).
    pub code: u64,
    /// What the specification calls it: `instruction page fault`,
    /// `supervisor timer interrupt`.
    pub(crate) name: &'static str,
    /// A short identifier without spaces, used as a field name in
    /// delegation sets: `inst_page_fault`, `STI`.
    pub(crate) short: &'static str,
}

/// What a cause's JSON needs to be read back: its names follow from the code.
#[derive(Deserialize)]
struct CauseBits {
    interrupt: bool,
    code: u64,
}

impl<'de> Deserialize<'de> for Cause {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cause, D::Error> {
        let b = CauseBits::deserialize(d)?;
        Ok(Cause::new(b.interrupt, b.code))
    }
}

/// Exception codes by name (xcause without the interrupt bit).
pub(crate) mod code {
    pub(crate) const INST_MISALIGNED: u64 = 0;
    pub(crate) const INST_ACCESS_FAULT: u64 = 1;
    pub(crate) const ILLEGAL_INST: u64 = 2;
    pub(crate) const BREAKPOINT: u64 = 3;
    pub(crate) const LOAD_MISALIGNED: u64 = 4;
    pub(crate) const LOAD_ACCESS_FAULT: u64 = 5;
    pub(crate) const STORE_MISALIGNED: u64 = 6;
    pub(crate) const STORE_ACCESS_FAULT: u64 = 7;
    pub(crate) const ECALL_U: u64 = 8;
    pub(crate) const ECALL_S: u64 = 9;
    pub(crate) const ECALL_VS: u64 = 10;
    pub(crate) const ECALL_M: u64 = 11;
    pub(crate) const INST_PAGE_FAULT: u64 = 12;
    pub(crate) const LOAD_PAGE_FAULT: u64 = 13;
    pub(crate) const STORE_PAGE_FAULT: u64 = 15;
    pub(crate) const DOUBLE_TRAP: u64 = 16;
    pub(crate) const SOFTWARE_CHECK: u64 = 18;
    pub(crate) const HARDWARE_ERROR: u64 = 19;
    pub(crate) const INST_GUEST_PAGE_FAULT: u64 = 20;
    pub(crate) const LOAD_GUEST_PAGE_FAULT: u64 = 21;
    pub(crate) const VIRTUAL_INST: u64 = 22;
    pub(crate) const STORE_GUEST_PAGE_FAULT: u64 = 23;
}

/// (code, name, short, access) of every standard exception; `access` is the
/// memory access whose address an access, page or guest-page fault reports
/// in tval.
const EXCEPTIONS: &[(u64, &str, &str, Option<Access>)] = {
    use code::*;
    use Access::{Fetch, Load, Store};
    &[
        (
            INST_MISALIGNED,
            "instruction address misaligned",
            "inst_misaligned",
            None,
        ),
        (
            INST_ACCESS_FAULT,
            "instruction access fault",
            "inst_access_fault",
            Some(Fetch),
        ),
        (ILLEGAL_INST, "illegal instruction", "illegal_inst", None),
        (BREAKPOINT, "breakpoint", "breakpoint", None),
        (
            LOAD_MISALIGNED,
            "load address misaligned",
            "load_misaligned",
            None,
        ),
        (
            LOAD_ACCESS_FAULT,
            "load access fault",
            "load_access_fault",
            Some(Load),
        ),
        (
            STORE_MISALIGNED,
            "store/AMO address misaligned",
            "store_misaligned",
            None,
        ),
        (
            STORE_ACCESS_FAULT,
            "store/AMO access fault",
            "store_access_fault",
            Some(Store),
        ),
        (
            ECALL_U,
            "environment call from U-mode or VU-mode",
            "ecall_u",
            None,
        ),
        (ECALL_S, "environment call from HS-mode", "ecall_s", None),
        (ECALL_VS, "environment call from VS-mode", "ecall_vs", None),
        (ECALL_M, "environment call from M-mode", "ecall_m", None),
        (
            INST_PAGE_FAULT,
            "instruction page fault",
            "inst_page_fault",
            Some(Fetch),
        ),
        (
            LOAD_PAGE_FAULT,
            "load page fault",
            "load_page_fault",
            Some(Load),
        ),
        (
            STORE_PAGE_FAULT,
            "store/AMO page fault",
            "store_page_fault",
            Some(Store),
        ),
        (DOUBLE_TRAP, "double trap", "double_trap", None),
        (SOFTWARE_CHECK, "software check", "software_check", None),
        (HARDWARE_ERROR, "hardware error", "hardware_error", None),
        (
            INST_GUEST_PAGE_FAULT,
            "instruction guest-page fault",
            "inst_guest_page_fault",
            Some(Fetch),
        ),
        (
            LOAD_GUEST_PAGE_FAULT,
            "load guest-page fault",
            "load_guest_page_fault",
            Some(Load),
        ),
        (VIRTUAL_INST, "virtual instruction", "virtual_inst", None),
        (
            STORE_GUEST_PAGE_FAULT,
            "store/AMO guest-page fault",
            "store_guest_page_fault",
            Some(Store),
        ),
    ]
};

/// (code, name, short) of every standard interrupt.
const INTERRUPTS: &[(u64, &str, &str)] = &[
    (1, "supervisor software interrupt", "SSI"),
    (2, "virtual supervisor software interrupt", "VSSI"),
    (3, "machine software interrupt", "MSI"),
    (5, "supervisor timer interrupt", "STI"),
    (6, "virtual supervisor timer interrupt", "VSTI"),
    (7, "machine timer interrupt", "MTI"),
    (9, "supervisor external interrupt", "SEI"),
    (10, "virtual supervisor external interrupt", "VSEI"),
    (11, "machine external interrupt", "MEI"),
    (12, "supervisor guest external interrupt", "SGEI"),
    (13, "local counter overflow interrupt", "LCOFI"),
];

impl Cause {
    /// Decodes an RV64 mcause/scause/vscause value.
    pub fn from_xcause(value: u64) -> Cause {
        Cause::new(value & INTERRUPT_BIT != 0, value & !INTERRUPT_BIT)
    }

    /// The cause with this interrupt flag and code; codes the specification
    /// leaves reserved or to custom use get names that say so.
    pub fn new(interrupt: bool, code: u64) -> Cause {
        let known = if interrupt {
            INTERRUPTS
                .iter()
                .find(|(c, _, _)| *c == code)
                .map(|&(_, n, s)| (n, s))
        } else {
            EXCEPTIONS
                .iter()
                .find(|e| e.0 == code)
                .map(|&(_, n, s, _)| (n, s))
        };
        if let Some((name, short)) = known {
            return Cause {
                interrupt,
                code,
                name,
                short,
            };
        }
        let (name, short) = match (interrupt, code) {
            (false, 24..=31) | (false, 48..=63) => ("custom exception", "custom"),
            (true, 16..) => ("platform or custom interrupt", "platform"),
            _ => ("reserved", "reserved"),
        };
        Cause {
            interrupt,
            code,
            name,
            short,
        }
    }

    /// The exception with this code.
    pub fn exception(code: u64) -> Cause {
        Cause::new(false, code)
    }

    /// The interrupt with this code.
    pub(crate) fn interrupt(code: u64) -> Cause {
        Cause::new(true, code)
    }

    /// The xcause value that encodes this cause on RV64.
    #[cfg(test)]
    pub(crate) fn to_xcause(self) -> u64 {
        if self.interrupt {
            self.code | INTERRUPT_BIT
        } else {
            self.code
        }
    }

    /// Whether the specification defines this code (not reserved or custom).
    pub(crate) fn is_standard(self) -> bool {
        if self.interrupt {
            INTERRUPTS.iter().any(|(c, _, _)| *c == self.code)
        } else {
            EXCEPTIONS.iter().any(|e| e.0 == self.code)
        }
    }

    /// The exception with code `code` (`self.code == code`, not an interrupt).
    pub(crate) fn is(self, code: u64) -> bool {
        !self.interrupt && self.code == code
    }

    /// The memory access whose address this fault reports in tval: fetch,
    /// load or store for access, page and guest-page faults; `None` for
    /// other exceptions and for interrupts.
    pub(crate) fn access(self) -> Option<Access> {
        if self.interrupt {
            return None;
        }
        EXCEPTIONS
            .iter()
            .find(|e| e.0 == self.code)
            .and_then(|e| e.3)
    }

    /// A page fault of the first stage (codes 12, 13, 15).
    pub(crate) fn is_first_stage_page_fault(self) -> bool {
        use code::*;
        !self.interrupt
            && matches!(
                self.code,
                INST_PAGE_FAULT | LOAD_PAGE_FAULT | STORE_PAGE_FAULT
            )
    }

    /// A page fault of either translation stage (codes 12, 13, 15, 20, 21, 23).
    #[cfg(test)]
    pub(crate) fn is_page_fault(self) -> bool {
        self.is_first_stage_page_fault() || self.is_guest_page_fault()
    }

    /// A G-stage (guest-page) fault: codes 20, 21 and 23, which always trap
    /// to HS-mode or M-mode and report the guest physical address in htval.
    pub(crate) fn is_guest_page_fault(self) -> bool {
        use code::*;
        !self.interrupt
            && matches!(
                self.code,
                INST_GUEST_PAGE_FAULT | LOAD_GUEST_PAGE_FAULT | STORE_GUEST_PAGE_FAULT
            )
    }
}

impl fmt::Display for Cause {
    /// `exception 12 (instruction page fault)`,
    /// `interrupt 5 (supervisor timer interrupt, STI)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.interrupt {
            if self.is_standard() {
                write!(f, "interrupt {} ({}, {})", self.code, self.name, self.short)
            } else {
                write!(f, "interrupt {} ({})", self.code, self.name)
            }
        } else {
            write!(f, "exception {} ({})", self.code, self.name)
        }
    }
}

/// Every standard exception, by code.
pub(crate) fn standard_exceptions() -> impl Iterator<Item = Cause> {
    EXCEPTIONS.iter().map(|e| Cause::exception(e.0))
}

/// Every standard interrupt, by code.
#[cfg(test)]
pub(crate) fn standard_interrupts() -> impl Iterator<Item = Cause> {
    INTERRUPTS
        .iter()
        .map(|&(code, _, _)| Cause::interrupt(code))
}

/// The guest physical address of a guest-page fault: htval (or mtval2)
/// holds it shifted right by 2, and the low two bits come from stval (or
/// mtval), which holds the faulting guest virtual address.
pub fn guest_physical_address(htval: u64, tval: u64) -> u64 {
    (htval << 2) | (tval & 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_page_fault_from_scause() {
        // The ADUE hang: scause 0xc after `csrw satp`.
        let c = Cause::from_xcause(0xc);
        assert!(!c.interrupt);
        assert_eq!(c.code, 12);
        assert_eq!(c.name, "instruction page fault");
        assert!(c.is_page_fault());
        assert!(!c.is_guest_page_fault());
        assert_eq!(c.to_string(), "exception 12 (instruction page fault)");
    }

    #[test]
    fn hypervisor_exceptions() {
        assert_eq!(Cause::exception(10).name, "environment call from VS-mode");
        assert_eq!(Cause::exception(20).name, "instruction guest-page fault");
        assert_eq!(Cause::exception(21).name, "load guest-page fault");
        assert_eq!(Cause::exception(22).name, "virtual instruction");
        assert_eq!(Cause::exception(23).name, "store/AMO guest-page fault");
        assert!(Cause::exception(23).is_guest_page_fault());
        assert!(!Cause::exception(22).is_page_fault());
    }

    #[test]
    fn interrupts_use_bit_63() {
        let c = Cause::from_xcause(0x8000_0000_0000_0005);
        assert!(c.interrupt);
        assert_eq!(c.code, 5);
        assert_eq!(c.short, "STI");
        assert_eq!(
            c.to_string(),
            "interrupt 5 (supervisor timer interrupt, STI)"
        );
        assert_eq!(c.to_xcause(), 0x8000_0000_0000_0005);
        let shorts: Vec<_> = standard_interrupts().map(|c| c.short).collect();
        assert_eq!(
            shorts,
            ["SSI", "VSSI", "MSI", "STI", "VSTI", "MTI", "SEI", "VSEI", "MEI", "SGEI", "LCOFI"]
        );
        assert_eq!(
            Cause::interrupt(10).name,
            "virtual supervisor external interrupt"
        );
        assert_eq!(Cause::interrupt(12).short, "SGEI");
        assert_eq!(Cause::interrupt(13).short, "LCOFI");
    }

    #[test]
    fn reserved_and_custom_codes() {
        assert_eq!(Cause::exception(14).name, "reserved");
        assert_eq!(Cause::exception(17).name, "reserved");
        assert_eq!(Cause::exception(24).name, "custom exception");
        assert_eq!(Cause::exception(40).name, "reserved");
        assert_eq!(Cause::exception(50).name, "custom exception");
        assert_eq!(Cause::interrupt(4).name, "reserved");
        assert_eq!(Cause::interrupt(0).name, "reserved");
        assert_eq!(Cause::interrupt(16).name, "platform or custom interrupt");
        assert!(!Cause::exception(14).is_standard());
        assert_eq!(Cause::interrupt(4).to_string(), "interrupt 4 (reserved)");
    }

    #[test]
    fn every_standard_code_roundtrips() {
        for c in standard_exceptions().chain(standard_interrupts()) {
            assert_eq!(Cause::from_xcause(c.to_xcause()), c);
            assert!(!c.short.contains(' '));
        }
    }

    #[test]
    fn faults_name_their_access() {
        let access = |c: u64| Cause::exception(c).access();
        assert_eq!(access(code::INST_PAGE_FAULT), Some(Access::Fetch));
        assert_eq!(access(code::INST_ACCESS_FAULT), Some(Access::Fetch));
        assert_eq!(access(code::LOAD_GUEST_PAGE_FAULT), Some(Access::Load));
        assert_eq!(access(code::LOAD_ACCESS_FAULT), Some(Access::Load));
        assert_eq!(access(code::STORE_PAGE_FAULT), Some(Access::Store));
        assert_eq!(access(code::STORE_GUEST_PAGE_FAULT), Some(Access::Store));
        assert_eq!(access(code::ILLEGAL_INST), None);
        assert_eq!(access(code::STORE_MISALIGNED), None);
        assert_eq!(Cause::interrupt(5).access(), None);
        // Every fault of a translation stage says what it accessed.
        for c in standard_exceptions().filter(|c| c.is_page_fault()) {
            assert!(c.access().is_some(), "{c}");
        }
        assert!(Cause::exception(code::VIRTUAL_INST).is(22));
        assert!(!Cause::interrupt(22).is(22));
    }

    #[test]
    fn guest_physical_address_from_htval() {
        assert_eq!(
            guest_physical_address(0x2000_0400, 0x8000_1003),
            0x8000_1003
        );
    }

    #[test]
    fn serializes_as_json() {
        let json = serde_json::to_value(Cause::from_xcause(0xc)).unwrap();
        assert_eq!(json["code"], 12);
        assert_eq!(json["interrupt"], false);
        assert_eq!(json["name"], "instruction page fault");
        let back: Cause = serde_json::from_value(json).unwrap();
        assert_eq!(back, Cause::from_xcause(0xc));
    }
}
