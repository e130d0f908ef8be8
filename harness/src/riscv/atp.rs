//! satp, vsatp and hgatp: the address-translation roots (RV64 layouts).
//!
//! satp/vsatp: MODE 63:60, ASID 59:44, PPN 43:0.
//! hgatp: MODE 63:60, bits 59:58 reserved, VMID 57:44, PPN 43:0; the G-stage
//! root table is 16 KiB and 16 KiB aligned, so the two low PPN bits are 0.

use super::fields::{DecodedCsr, Field, Shape};
use serde::Serialize;

/// A translation mode of satp/vsatp (first stage) or hgatp (G-stage).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum AtpMode {
    /// No translation.
    Bare,
    /// Three-level, 39-bit virtual addresses.
    Sv39,
    /// Four-level, 48-bit virtual addresses.
    Sv48,
    /// Five-level, 57-bit virtual addresses.
    Sv57,
    /// G-stage: Sv39 with a 41-bit guest physical address (root 4 pages).
    Sv39x4,
    /// G-stage: Sv48 with a 50-bit guest physical address.
    Sv48x4,
    /// G-stage: Sv57 with a 59-bit guest physical address.
    Sv57x4,
    /// An encoding the specification reserves.
    Reserved(u8),
}

impl AtpMode {
    /// The mode of a satp or vsatp MODE field.
    pub(crate) fn from_satp_mode(mode: u64) -> AtpMode {
        match mode {
            0 => AtpMode::Bare,
            8 => AtpMode::Sv39,
            9 => AtpMode::Sv48,
            10 => AtpMode::Sv57,
            m => AtpMode::Reserved(m as u8),
        }
    }

    /// The mode of an hgatp MODE field.
    pub(crate) fn from_hgatp_mode(mode: u64) -> AtpMode {
        match mode {
            0 => AtpMode::Bare,
            8 => AtpMode::Sv39x4,
            9 => AtpMode::Sv48x4,
            10 => AtpMode::Sv57x4,
            m => AtpMode::Reserved(m as u8),
        }
    }

    /// The name the specification uses (`Sv39x4`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            AtpMode::Bare => "Bare",
            AtpMode::Sv39 => "Sv39",
            AtpMode::Sv48 => "Sv48",
            AtpMode::Sv57 => "Sv57",
            AtpMode::Sv39x4 => "Sv39x4",
            AtpMode::Sv48x4 => "Sv48x4",
            AtpMode::Sv57x4 => "Sv57x4",
            AtpMode::Reserved(_) => "reserved",
        }
    }

    /// Number of page-table levels (0 for Bare and reserved modes).
    pub(crate) fn levels(self) -> u32 {
        match self {
            AtpMode::Sv39 | AtpMode::Sv39x4 => 3,
            AtpMode::Sv48 | AtpMode::Sv48x4 => 4,
            AtpMode::Sv57 | AtpMode::Sv57x4 => 5,
            AtpMode::Bare | AtpMode::Reserved(_) => 0,
        }
    }

    /// Whether this is a G-stage (x4) mode, whose root level has 2 extra
    /// index bits.
    pub(crate) fn is_x4(self) -> bool {
        matches!(self, AtpMode::Sv39x4 | AtpMode::Sv48x4 | AtpMode::Sv57x4)
    }

    /// Width of the translated address in bits (39, 41, 48, ...).
    pub(crate) fn address_bits(self) -> u32 {
        let base = 12 + 9 * self.levels();
        if self.is_x4() {
            base + 2
        } else {
            base
        }
    }
}

/// A decoded satp, vsatp or hgatp value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Atp {
    /// The raw value.
    pub(crate) raw: u64,
    /// The translation mode.
    pub(crate) mode: AtpMode,
    /// The ASID (satp/vsatp) or VMID (hgatp).
    pub(crate) id: u64,
    /// The physical page number of the root page table.
    pub(crate) ppn: u64,
}

impl Atp {
    /// Decodes satp or vsatp.
    pub fn satp(raw: u64) -> Atp {
        Atp {
            raw,
            mode: AtpMode::from_satp_mode(raw >> 60),
            id: (raw >> 44) & 0xffff,
            ppn: raw & PPN_MASK,
        }
    }

    /// Decodes hgatp.
    pub(crate) fn hgatp(raw: u64) -> Atp {
        Atp {
            raw,
            mode: AtpMode::from_hgatp_mode(raw >> 60),
            id: (raw >> 44) & 0x3fff,
            ppn: raw & PPN_MASK,
        }
    }

    /// The physical address of the root page table.
    pub fn root(self) -> u64 {
        self.ppn << 12
    }
}

const PPN_MASK: u64 = (1 << 44) - 1;

fn mode_meaning(mode: AtpMode) -> &'static str {
    match mode {
        AtpMode::Bare => "no translation",
        AtpMode::Reserved(_) => "reserved mode: write ignored by hardware",
        _ => "page-based translation",
    }
}

/// Decodes satp or vsatp (`name` picks which name the result carries).
pub(crate) fn decode_satp(name: &str, raw: u64) -> DecodedCsr {
    let atp = Atp::satp(raw);
    let fields = vec![
        Field::extract("MODE", 63, 60, raw)
            .with_symbol(atp.mode.name())
            .with_meaning(mode_meaning(atp.mode)),
        Field::extract("ASID", 59, 44, raw).with_meaning("address-space identifier"),
        Field::extract("PPN", 43, 0, raw)
            .with_meaning(format!("root page table at {:#x}", atp.root())),
    ];
    DecodedCsr::new(name, raw, Shape::Fields, fields)
}

/// Decodes hgatp.
pub(crate) fn decode_hgatp(raw: u64) -> DecodedCsr {
    let atp = Atp::hgatp(raw);
    let fields = vec![
        Field::extract("MODE", 63, 60, raw)
            .with_symbol(atp.mode.name())
            .with_meaning(mode_meaning(atp.mode)),
        Field::extract("VMID", 57, 44, raw).with_meaning("virtual machine identifier"),
        Field::extract("PPN", 43, 0, raw)
            .with_meaning(format!("G-stage root page table at {:#x}", atp.root())),
    ];
    DecodedCsr::new("hgatp", raw, Shape::Fields, fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xv6_satp() {
        // MAKE_SATP(0x87fff000) in xv6: Sv39, ASID 0.
        let raw = (8u64 << 60) | (0x87fff000 >> 12);
        let atp = Atp::satp(raw);
        assert_eq!(atp.mode, AtpMode::Sv39);
        assert_eq!(atp.id, 0);
        assert_eq!(atp.root(), 0x87fff000);
        let d = decode_satp("vsatp", raw);
        assert_eq!(
            d.to_string(),
            "vsatp = 0x8000000000087fff { MODE=Sv39 ASID=0 PPN=0x87fff }"
        );
        assert!(d
            .snapshot_lines()
            .contains(&"vsatp.MODE = 8 (Sv39)".to_string()));
        assert!(d.field("PPN").unwrap().meaning.contains("0x87fff000"));
    }

    #[test]
    fn satp_modes_and_asid() {
        assert_eq!(Atp::satp(0).mode, AtpMode::Bare);
        assert_eq!(Atp::satp(9 << 60).mode, AtpMode::Sv48);
        assert_eq!(Atp::satp(10 << 60).mode, AtpMode::Sv57);
        assert_eq!(Atp::satp(11 << 60).mode, AtpMode::Reserved(11));
        assert_eq!(Atp::satp((8 << 60) | (0xbeef << 44)).id, 0xbeef);
    }

    #[test]
    fn hgatp_fields() {
        let raw = (8u64 << 60) | (5 << 44) | 0x80400;
        let atp = Atp::hgatp(raw);
        assert_eq!(atp.mode, AtpMode::Sv39x4);
        assert_eq!(atp.id, 5);
        assert_eq!(atp.root(), 0x80400000);
        let d = decode_hgatp(raw);
        assert_eq!(d.get("VMID"), Some(5));
        assert_eq!(d.field("MODE").unwrap().symbol.as_deref(), Some("Sv39x4"));
        assert_eq!(d.other_bits, 0);
        // Bits 59:58 are outside every hgatp field.
        assert_eq!(decode_hgatp(1 << 58).other_bits, 1 << 58);
    }

    #[test]
    fn address_widths() {
        assert_eq!(AtpMode::Sv39.address_bits(), 39);
        assert_eq!(AtpMode::Sv39x4.address_bits(), 41);
        assert_eq!(AtpMode::Sv48x4.address_bits(), 50);
        assert_eq!(AtpMode::Sv57.levels(), 5);
    }
}
