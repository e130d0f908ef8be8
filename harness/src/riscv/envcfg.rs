//! menvcfg, henvcfg and senvcfg: the environment configuration registers.
//!
//! Bit positions from the privileged specification 1.13 and the extensions
//! that add fields: Zicbom/Zicboz (CBIE, CBCFE, CBZE), Zicfilp (LPE),
//! Zicfiss (SSE), Smnpm/Ssnpm (PMM), Ssdbltrp (DTE), Smcdeleg (CDE), Svadu
//! (ADUE, called HADE in its drafts and in QEMU before 8.2), Svpbmt (PBMTE)
//! and Sstc (STCE).
//!
//! Which register has which field:
//!
//! | field | menvcfg | henvcfg | senvcfg |
//! |---|---|---|---|
//! | FIOM, LPE, SSE, CBIE, CBCFE, CBZE, PMM | yes | yes | yes |
//! | DTE, ADUE, PBMTE, STCE | yes | yes (read-only 0 while the menvcfg bit is 0) | no |
//! | CDE | yes | no | no |
//!
//! menvcfg.ADUE governs the A/D updates of HS-mode's own translation and of
//! the G-stage; henvcfg.ADUE governs the guest's VS-stage. With it clear, a
//! VS-stage PTE whose A bit is clear (or whose D bit is clear, on a store)
//! raises a page fault instead of being updated: the xv6 hang this harness
//! was built for.

use super::fields::{bit, enumerated, flag, DecodedCsr, Field, Shape};
use crate::qemu::quirks;
use crate::qemu::QemuVersion;

/// Which of the three environment configuration registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Envcfg {
    /// menvcfg (M-mode, configures S-mode and, for ADUE, the G-stage).
    Machine,
    /// henvcfg (HS-mode, configures VS-mode).
    Hypervisor,
    /// senvcfg (S-mode, configures U-mode).
    Supervisor,
}

/// FIOM: fence of I/O implies memory.
pub(crate) const FIOM: u32 = 0;
/// LPE: Zicfilp landing pads enforced in the next lower mode.
pub(crate) const LPE: u32 = 2;
/// SSE: Zicfiss shadow stacks enabled in the next lower mode.
pub(crate) const SSE: u32 = 3;
/// CBZE: cbo.zero enabled.
pub(crate) const CBZE: u32 = 7;
/// CBCFE: cbo.clean and cbo.flush enabled.
pub(crate) const CBCFE: u32 = 6;
/// DTE: double-trap extension enabled (Ssdbltrp).
pub(crate) const DTE: u32 = 59;
/// CDE: counter delegation enabled (Smcdeleg); menvcfg only.
pub(crate) const CDE: u32 = 60;
/// ADUE: hardware A/D updates enabled (Svadu); formerly HADE.
pub(crate) const ADUE: u32 = 61;
/// PBMTE: page-based memory types enabled (Svpbmt).
pub(crate) const PBMTE: u32 = 62;
/// STCE: stimecmp enabled (Sstc).
pub(crate) const STCE: u32 = 63;

/// Decodes an environment configuration register.
pub(crate) fn decode(which: Envcfg, value: u64) -> DecodedCsr {
    let name = match which {
        Envcfg::Machine => "menvcfg",
        Envcfg::Hypervisor => "henvcfg",
        Envcfg::Supervisor => "senvcfg",
    };
    DecodedCsr::new(name, value, Shape::Fields, fields(which, value))
}

fn fields(which: Envcfg, v: u64) -> Vec<Field> {
    let mut out = vec![
        flag(
            "FIOM",
            FIOM,
            v,
            "fences on I/O also order memory",
            "normal fence semantics",
        ),
        flag(
            "LPE",
            LPE,
            v,
            "landing pads enforced (Zicfilp)",
            "landing pads off",
        ),
        flag(
            "SSE",
            SSE,
            v,
            "shadow stacks on (Zicfiss)",
            "shadow stacks off",
        ),
        enumerated("CBIE", 5, 4, v, |x| match x {
            0 => ("illegal", "cbo.inval raises illegal instruction"),
            1 => ("flush", "cbo.inval performs a flush"),
            2 => ("reserved", "reserved encoding"),
            _ => ("invalidate", "cbo.inval invalidates"),
        }),
        flag(
            "CBCFE",
            CBCFE,
            v,
            "cbo.clean/cbo.flush allowed",
            "cbo.clean/cbo.flush trap",
        ),
        flag("CBZE", CBZE, v, "cbo.zero allowed", "cbo.zero traps"),
        enumerated("PMM", 33, 32, v, |x| match x {
            0 => ("off", "pointer masking off"),
            1 => ("reserved", "reserved encoding"),
            2 => ("PMLEN=7", "pointer masking, 7 bits"),
            _ => ("PMLEN=16", "pointer masking, 16 bits"),
        }),
    ];
    if which == Envcfg::Supervisor {
        return out;
    }
    let vs = which == Envcfg::Hypervisor;
    out.push(flag(
        "DTE",
        DTE,
        v,
        "double-trap extension on",
        "double-trap extension off",
    ));
    if which == Envcfg::Machine {
        out.push(flag(
            "CDE",
            CDE,
            v,
            "counter delegation on",
            "counter delegation off",
        ));
    }
    out.push(if vs {
        flag(
            "ADUE",
            ADUE,
            v,
            "hardware sets VS-stage PTE A/D bits",
            "VS-stage PTE with A (or D on store) clear faults; writable only while menvcfg.ADUE=1",
        )
    } else {
        flag(
            "ADUE",
            ADUE,
            v,
            "hardware sets A/D bits (S-stage, G-stage; VS-stage too if henvcfg.ADUE)",
            "PTE with A (or D on store) clear faults (Svade)",
        )
    });
    out.push(flag(
        "PBMTE",
        PBMTE,
        v,
        "Svpbmt memory types on",
        "PBMT bits must be 0",
    ));
    out.push(flag(
        "STCE",
        STCE,
        v,
        "stimecmp enabled",
        "stimecmp disabled",
    ));
    out
}

/// Whether ADUE is set in this value (hardware A/D updates, Svadu).
pub fn adue(value: u64) -> bool {
    bit(value, ADUE)
}

/// henvcfg right after reset, before any firmware ran, on `-cpu rv64` with the
/// default options (no Svpbmt, no Zicbo* bits in henvcfg): quirk
/// [`quirks::HENVCFG_RESET_ADUE`].
pub fn henvcfg_at_reset(version: QemuVersion) -> u64 {
    if quirks::HENVCFG_RESET_ADUE.applies(version) {
        1 << ADUE
    } else {
        0
    }
}

/// menvcfg right after reset on `-cpu rv64` with the default options: quirk
/// [`quirks::MENVCFG_RESET_ADUE`].
pub fn menvcfg_at_reset(version: QemuVersion) -> u64 {
    if quirks::MENVCFG_RESET_ADUE.applies(version) {
        1 << ADUE
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_values_by_version() {
        let ver = |s: &str| s.parse::<QemuVersion>().expect("a version");
        assert_eq!(henvcfg_at_reset(ver("8.0.2")), 0x2000_0000_0000_0000);
        assert_eq!(henvcfg_at_reset(ver("9.2.0")), 0);
        assert_eq!(menvcfg_at_reset(ver("7.2.22")), 0);
        assert_eq!(menvcfg_at_reset(ver("10.0.2")), 0x2000_0000_0000_0000);
    }

    #[test]
    fn qemu_8_henvcfg_has_adue() {
        // QEMU 8.0.2 at kvminithart, from the write-up.
        let d = decode(Envcfg::Hypervisor, 0xa000_0000_0000_0000);
        assert_eq!(d.get("STCE"), Some(1));
        assert_eq!(d.get("ADUE"), Some(1));
        assert_eq!(d.get("PBMTE"), Some(0));
        assert_eq!(d.get("CDE"), None, "CDE exists only in menvcfg");
        assert_eq!(d.other_bits, 0);
        assert!(adue(d.value));
        assert_eq!(
            d.to_string(),
            "henvcfg = 0xa000000000000000 { STCE=1 PBMTE=0 ADUE=1 DTE=0 PMM=off CBZE=0 \
             CBCFE=0 CBIE=illegal SSE=0 LPE=0 FIOM=0 }"
        );
    }

    #[test]
    fn qemu_9_henvcfg_lost_adue() {
        let d = decode(Envcfg::Hypervisor, 0x8000_0000_0000_0000);
        assert_eq!(d.get("ADUE"), Some(0));
        assert_eq!(d.get("STCE"), Some(1));
        let lines = d.snapshot_lines();
        assert_eq!(lines[0], "henvcfg = 0x8000000000000000");
        assert!(lines.contains(&"henvcfg.ADUE = 0".to_string()));
        assert!(lines.contains(&"henvcfg.STCE = 1".to_string()));
        assert!(d.field("ADUE").unwrap().meaning.contains("faults"));
    }

    #[test]
    fn menvcfg_with_cbo_enables() {
        // menvcfg 0xa0000000000000f0: STCE, ADUE, CBZE, CBCFE, CBIE=3.
        let d = decode(Envcfg::Machine, 0xa000_0000_0000_00f0);
        assert_eq!(d.get("STCE"), Some(1));
        assert_eq!(d.get("ADUE"), Some(1));
        assert_eq!(d.get("CBZE"), Some(1));
        assert_eq!(d.get("CBCFE"), Some(1));
        assert_eq!(d.get("CBIE"), Some(3));
        assert_eq!(
            d.field("CBIE").unwrap().symbol.as_deref(),
            Some("invalidate")
        );
        assert_eq!(d.field("CBIE").unwrap().range(), "5:4");
        assert_eq!(d.get("CDE"), Some(0));
        assert_eq!(d.get("FIOM"), Some(0));
        assert_eq!(d.other_bits, 0);

        let d = decode(Envcfg::Machine, 0x8000_0000_0000_00f0);
        assert_eq!(d.get("ADUE"), Some(0));
    }

    #[test]
    fn field_positions() {
        let d = decode(Envcfg::Machine, 0);
        let pos = |n: &str| d.field(n).map(|f| f.range()).unwrap();
        assert_eq!(pos("FIOM"), "0");
        assert_eq!(pos("LPE"), "2");
        assert_eq!(pos("SSE"), "3");
        assert_eq!(pos("CBIE"), "5:4");
        assert_eq!(pos("CBCFE"), "6");
        assert_eq!(pos("CBZE"), "7");
        assert_eq!(pos("PMM"), "33:32");
        assert_eq!(pos("DTE"), "59");
        assert_eq!(pos("CDE"), "60");
        assert_eq!(pos("ADUE"), "61");
        assert_eq!(pos("PBMTE"), "62");
        assert_eq!(pos("STCE"), "63");
    }

    #[test]
    fn senvcfg_has_no_hypervisor_fields() {
        let d = decode(Envcfg::Supervisor, 0x2000_0000_0000_0001);
        assert_eq!(d.get("FIOM"), Some(1));
        assert_eq!(d.get("ADUE"), None);
        assert_eq!(d.get("STCE"), None);
        // Bit 61 is not a senvcfg field: shown as a surprise, not dropped.
        assert_eq!(d.other_bits, 0x2000_0000_0000_0000);
    }

    #[test]
    fn pmm_values() {
        let d = decode(Envcfg::Hypervisor, 2 << 32);
        assert_eq!(d.field("PMM").unwrap().symbol.as_deref(), Some("PMLEN=7"));
    }
}
