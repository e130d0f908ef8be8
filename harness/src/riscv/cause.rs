//! Trap causes: the values of mcause, scause and vscause, and the bit
//! positions of medeleg/hedeleg (exceptions) and mideleg/hideleg/mip
//! (interrupts).
//!
//! Codes follow the RISC-V privileged specification 1.13 (tables "Machine
//! cause register values" and "Hypervisor ... exception codes").

use serde::Serialize;
use std::fmt;

/// The interrupt bit of xcause on RV64.
pub const INTERRUPT_BIT: u64 = 1 << 63;

/// A decoded trap cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Cause {
    /// True for an interrupt, false for a synchronous exception.
    pub interrupt: bool,
    /// The exception or interrupt code (xcause without the interrupt bit).
    pub code: u64,
    /// What the specification calls it: `instruction page fault`,
    /// `supervisor timer interrupt`.
    pub name: &'static str,
    /// A short identifier without spaces, used as a field name in
    /// delegation sets: `inst_page_fault`, `STI`.
    pub short: &'static str,
}

/// (code, name, short) of every standard exception.
const EXCEPTIONS: &[(u64, &str, &str)] = &[
    (0, "instruction address misaligned", "inst_misaligned"),
    (1, "instruction access fault", "inst_access_fault"),
    (2, "illegal instruction", "illegal_inst"),
    (3, "breakpoint", "breakpoint"),
    (4, "load address misaligned", "load_misaligned"),
    (5, "load access fault", "load_access_fault"),
    (6, "store/AMO address misaligned", "store_misaligned"),
    (7, "store/AMO access fault", "store_access_fault"),
    (8, "environment call from U-mode or VU-mode", "ecall_u"),
    (9, "environment call from HS-mode", "ecall_s"),
    (10, "environment call from VS-mode", "ecall_vs"),
    (11, "environment call from M-mode", "ecall_m"),
    (12, "instruction page fault", "inst_page_fault"),
    (13, "load page fault", "load_page_fault"),
    (15, "store/AMO page fault", "store_page_fault"),
    (16, "double trap", "double_trap"),
    (18, "software check", "software_check"),
    (19, "hardware error", "hardware_error"),
    (20, "instruction guest-page fault", "inst_guest_page_fault"),
    (21, "load guest-page fault", "load_guest_page_fault"),
    (22, "virtual instruction", "virtual_inst"),
    (23, "store/AMO guest-page fault", "store_guest_page_fault"),
];

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
        let table = if interrupt { INTERRUPTS } else { EXCEPTIONS };
        if let Some(&(_, name, short)) = table.iter().find(|(c, _, _)| *c == code) {
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
    pub fn interrupt(code: u64) -> Cause {
        Cause::new(true, code)
    }

    /// The xcause value that encodes this cause on RV64.
    pub fn to_xcause(self) -> u64 {
        if self.interrupt {
            self.code | INTERRUPT_BIT
        } else {
            self.code
        }
    }

    /// Whether the specification defines this code (not reserved or custom).
    pub fn is_standard(self) -> bool {
        let table = if self.interrupt {
            INTERRUPTS
        } else {
            EXCEPTIONS
        };
        table.iter().any(|(c, _, _)| *c == self.code)
    }

    /// A page fault of either translation stage (codes 12, 13, 15, 20, 21, 23).
    pub fn is_page_fault(self) -> bool {
        !self.interrupt && matches!(self.code, 12 | 13 | 15 | 20 | 21 | 23)
    }

    /// A G-stage (guest-page) fault: codes 20, 21 and 23, which always trap
    /// to HS-mode or M-mode and report the guest physical address in htval.
    pub fn is_guest_page_fault(self) -> bool {
        !self.interrupt && matches!(self.code, 20 | 21 | 23)
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
pub fn standard_exceptions() -> impl Iterator<Item = Cause> {
    EXCEPTIONS
        .iter()
        .map(|&(code, _, _)| Cause::exception(code))
}

/// Every standard interrupt, by code.
pub fn standard_interrupts() -> impl Iterator<Item = Cause> {
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
    }
}
