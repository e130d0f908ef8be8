//! Privilege levels, and QEMU's gdbstub `priv` register.
//!
//! QEMU exposes the hart's current privilege as a virtual register `priv`
//! (target feature `org.gnu.gdb.riscv.virtual`). Bits 1:0 hold the level
//! (0 U, 1 S, 3 M). QEMU 10.x also sets bit 2 while V=1; 7.2, 8.x and 9.x
//! show 1 for a hart in VS-mode, the same as HS-mode. So bit 2 set means V=1
//! for certain, but bit 2 clear means only "unknown" unless the caller knows
//! the QEMU version or has other evidence (the monitor's `info registers` V
//! line, hstatus.SPV at a trap, which ELF the pc belongs to). Such callers
//! refine the result with [`PrivilegeLevel::with_virt`].

use serde::{Deserialize, Serialize};
use std::fmt;

/// A base privilege level, as encoded in mstatus.MPP and QEMU's `priv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Level {
    /// User mode (0).
    User,
    /// Supervisor mode (1): HS-mode or VS-mode when H is present.
    Supervisor,
    /// The reserved encoding 2.
    Reserved,
    /// Machine mode (3).
    Machine,
}

impl Level {
    /// The level encoded in the low two bits of `bits`.
    pub(crate) fn from_bits(bits: u64) -> Level {
        match bits & 3 {
            0 => Level::User,
            1 => Level::Supervisor,
            2 => Level::Reserved,
            _ => Level::Machine,
        }
    }
}

/// A hart's privilege: base level plus the virtualization mode V, when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PrivilegeLevel {
    /// The base level.
    pub level: Level,
    /// V=1 (guest), V=0 (host), or `None` when the source cannot tell.
    pub virt: Option<bool>,
}

/// Bit 2 of QEMU's `priv` register: V, shown by QEMU 10.x only.
pub(crate) const PRIV_V_BIT: u64 = 1 << 2;

impl PrivilegeLevel {
    /// Decodes QEMU's gdbstub `priv` register. V is `Some(true)` when bit 2
    /// is set and `None` otherwise (older QEMU never sets it); M-mode always
    /// has V=0.
    pub fn from_qemu_priv(raw: u64) -> PrivilegeLevel {
        let level = Level::from_bits(raw);
        let virt = if level == Level::Machine {
            Some(false)
        } else if raw & PRIV_V_BIT != 0 {
            Some(true)
        } else {
            None
        };
        PrivilegeLevel { level, virt }
    }

    /// The same level with V known from other evidence. M-mode stays V=0.
    pub fn with_virt(self, virt: bool) -> PrivilegeLevel {
        let virt = if self.level == Level::Machine {
            false
        } else {
            virt
        };
        PrivilegeLevel {
            level: self.level,
            virt: Some(virt),
        }
    }

    /// Whether the hart is known to run a guest (VS or VU).
    pub fn is_guest(self) -> bool {
        self.virt == Some(true)
    }

    /// The conventional name: `M`, `HS`, `VS`, `U`, `VU`; `S` when V is
    /// unknown.
    pub fn name(self) -> &'static str {
        match (self.level, self.virt) {
            (Level::Machine, _) => "M",
            (Level::Supervisor, Some(true)) => "VS",
            (Level::Supervisor, Some(false)) => "HS",
            (Level::Supervisor, None) => "S",
            (Level::User, Some(true)) => "VU",
            (Level::User, _) => "U",
            (Level::Reserved, _) => "reserved",
        }
    }
}

impl fmt::Display for PrivilegeLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_10_shows_vs() {
        // Read at a guest's kvminithart on QEMU 10.0.2.
        let p = PrivilegeLevel::from_qemu_priv(5);
        assert_eq!(p.level, Level::Supervisor);
        assert_eq!(p.virt, Some(true));
        assert_eq!(p.to_string(), "VS");
        assert!(p.is_guest());
    }

    #[test]
    fn older_qemu_is_ambiguous() {
        // The same stop on QEMU 7.2, 8.0 and 9.2 reads 1.
        let p = PrivilegeLevel::from_qemu_priv(1);
        assert_eq!(p.virt, None);
        assert_eq!(p.to_string(), "S");
        assert!(!p.is_guest());
        assert_eq!(p.with_virt(true).to_string(), "VS");
        assert_eq!(p.with_virt(false).to_string(), "HS");
    }

    #[test]
    fn user_and_machine() {
        assert_eq!(PrivilegeLevel::from_qemu_priv(0).to_string(), "U");
        assert_eq!(PrivilegeLevel::from_qemu_priv(4).to_string(), "VU");
        assert_eq!(
            PrivilegeLevel::from_qemu_priv(0)
                .with_virt(false)
                .to_string(),
            "U"
        );
        let m = PrivilegeLevel::from_qemu_priv(3);
        assert_eq!(m.to_string(), "M");
        assert_eq!(m.virt, Some(false));
        assert_eq!(m.with_virt(true).virt, Some(false));
        assert_eq!(PrivilegeLevel::from_qemu_priv(2).level, Level::Reserved);
    }

    #[test]
    fn serializes() {
        let json = serde_json::to_string(&PrivilegeLevel::from_qemu_priv(5)).unwrap();
        assert_eq!(json, r#"{"level":"Supervisor","virt":true}"#);
    }
}
