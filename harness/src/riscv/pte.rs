//! Page-table entries of Sv39/Sv48/Sv57 and their G-stage x4 variants, and
//! a page-table walk over caller-supplied memory.
//!
//! PTE layout (RV64): V 0, R 1, W 2, X 3, U 4, G 5, A 6, D 7, RSW 9:8,
//! PPN 53:10, reserved 60:54, PBMT 62:61 (Svpbmt), N 63 (Svnapot). The walk
//! follows the specification's algorithm without the permission checks: it
//! reports every entry it read and where it stopped, and the diagnosis code
//! decides what the entries mean for a particular access.

use super::atp::AtpMode;
#[cfg(test)]
use super::fields::{enumerated, flag, DecodedCsr, Field, Shape};
use serde::Serialize;
use std::fmt;

/// The kind of memory access being translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Access {
    /// Instruction fetch.
    Fetch,
    /// Load.
    Load,
    /// Store or AMO.
    Store,
}

/// A decoded page-table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Pte {
    /// The raw 64-bit entry.
    pub(crate) raw: u64,
    /// Valid.
    pub v: bool,
    /// Readable.
    pub(crate) r: bool,
    /// Writable.
    pub(crate) w: bool,
    /// Executable.
    pub x: bool,
    /// Accessible to U-mode (for the G-stage: must be set for every access).
    pub u: bool,
    /// Global mapping.
    pub(crate) g: bool,
    /// Accessed.
    pub a: bool,
    /// Dirty.
    pub(crate) d: bool,
    /// Bits reserved for software (9:8).
    pub(crate) rsw: u8,
    /// Physical page number (53:10).
    pub(crate) ppn: u64,
    /// Page-based memory type (62:61): 0 PMA, 1 NC, 2 IO, 3 reserved.
    pub(crate) pbmt: u8,
    /// NAPOT translation contiguity (63).
    pub(crate) n: bool,
}

/// What an entry is, from its V/R/W/X bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PteKind {
    /// V=0: the walk stops with a page fault.
    Invalid,
    /// V=1, R=W=X=0: points to the next level.
    Pointer,
    /// V=1 and R or X set: maps a page.
    Leaf,
    /// W set without R: a reserved encoding, which faults.
    Reserved,
}

impl Pte {
    /// Decodes a raw entry.
    pub(crate) fn new(raw: u64) -> Pte {
        let b = |n: u32| raw >> n & 1 == 1;
        Pte {
            raw,
            v: b(0),
            r: b(1),
            w: b(2),
            x: b(3),
            u: b(4),
            g: b(5),
            a: b(6),
            d: b(7),
            rsw: ((raw >> 8) & 3) as u8,
            ppn: (raw >> 10) & ((1 << 44) - 1),
            pbmt: ((raw >> 61) & 3) as u8,
            n: b(63),
        }
    }

    /// What the entry is.
    pub(crate) fn kind(&self) -> PteKind {
        if !self.v {
            PteKind::Invalid
        } else if self.w && !self.r {
            PteKind::Reserved
        } else if self.r || self.x {
            PteKind::Leaf
        } else {
            PteKind::Pointer
        }
    }

    /// The physical address the PPN points at (a page, or the next table).
    pub(crate) fn address(&self) -> u64 {
        self.ppn << 12
    }

    /// Whether a leaf's permissions allow `access` (MXR lets loads read
    /// executable pages). The U bit and privilege are not considered.
    pub(crate) fn permits(&self, access: Access, mxr: bool) -> bool {
        match access {
            Access::Fetch => self.x,
            Access::Load => self.r || (mxr && self.x),
            Access::Store => self.w,
        }
    }

    /// Whether `access` needs A or D set that is clear in this leaf: with
    /// Svade behaviour (ADUE clear) this is a page fault, with Svadu the
    /// hardware sets the bits instead.
    #[cfg(test)]
    pub(crate) fn needs_ad_update(&self, access: Access) -> bool {
        !self.a || (access == Access::Store && !self.d)
    }

    /// The flags as eight letters, most significant first: `DAGUXWRV`, with
    /// `-` for a clear bit.
    pub(crate) fn flag_letters(&self) -> String {
        let bits = [
            (self.d, 'D'),
            (self.a, 'A'),
            (self.g, 'G'),
            (self.u, 'U'),
            (self.x, 'X'),
            (self.w, 'W'),
            (self.r, 'R'),
            (self.v, 'V'),
        ];
        bits.iter()
            .map(|&(on, c)| if on { c } else { '-' })
            .collect()
    }

    /// The entry as named fields, for the same renderings as a CSR.
    #[cfg(test)]
    pub(crate) fn decoded(&self) -> DecodedCsr {
        let v = self.raw;
        let fields: Vec<Field> = vec![
            flag("V", 0, v, "valid", "invalid: access faults"),
            flag("R", 1, v, "readable", "not readable"),
            flag("W", 2, v, "writable", "not writable"),
            flag("X", 3, v, "executable", "not executable"),
            flag("U", 4, v, "user page", "not a user page"),
            flag("G", 5, v, "global mapping", "not global"),
            flag(
                "A",
                6,
                v,
                "accessed",
                "not accessed: faults unless hardware A/D update is on",
            ),
            flag(
                "D",
                7,
                v,
                "dirty",
                "clean: a store faults unless hardware A/D update is on",
            ),
            Field::extract("RSW", 9, 8, v).with_meaning("reserved for software"),
            Field::extract("PPN", 53, 10, v)
                .with_meaning(format!("physical address {:#x}", self.address())),
            enumerated("PBMT", 62, 61, v, |x| match x {
                0 => ("PMA", "memory type from PMAs"),
                1 => ("NC", "non-cacheable, idempotent"),
                2 => ("IO", "non-cacheable, I/O"),
                _ => ("reserved", "reserved encoding"),
            }),
            flag("N", 63, v, "NAPOT contiguous range", "ordinary page"),
        ];
        DecodedCsr::new("pte", v, Shape::Fields, fields)
    }
}

impl fmt::Display for Pte {
    /// `0x2001fc0b ppn=0x87ff0 ----X-RV`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#x} ppn={:#x} {}",
            self.raw,
            self.ppn,
            self.flag_letters()
        )?;
        if self.rsw != 0 {
            write!(f, " rsw={}", self.rsw)?;
        }
        if self.pbmt != 0 {
            write!(f, " pbmt={}", self.pbmt)?;
        }
        if self.n {
            write!(f, " N")?;
        }
        Ok(())
    }
}

/// The page-table index of `addr` at `level` (0 = the leaf level) under
/// `mode`; the root level of an x4 mode has 11 index bits instead of 9.
pub(crate) fn vpn(mode: AtpMode, addr: u64, level: u32) -> u64 {
    let top = mode.levels().saturating_sub(1);
    let width = if mode.is_x4() && level == top { 11 } else { 9 };
    (addr >> (12 + 9 * level)) & ((1 << width) - 1)
}

/// Whether `addr` is a valid input address for `mode`: sign-extended from
/// its top bit for first-stage modes, zero-extended for G-stage modes.
pub(crate) fn address_in_range(mode: AtpMode, addr: u64) -> bool {
    let bits = mode.address_bits();
    if bits == 12 || bits >= 64 {
        return true;
    }
    if mode.is_x4() {
        addr >> bits == 0
    } else {
        let high = (addr as i64) >> (bits - 1);
        high == 0 || high == -1
    }
}

/// One entry read during a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct WalkStep {
    /// The level (the root is `levels - 1`, the smallest pages are 0).
    pub(crate) level: u32,
    /// The index into that level's table.
    pub(crate) index: u64,
    /// The physical address the entry was read from.
    pub(crate) pte_address: u64,
    /// The entry.
    pub(crate) pte: Pte,
}

/// Where a walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WalkOutcome {
    /// Translation is off (Bare).
    Bare,
    /// A leaf maps the address.
    Leaf {
        /// The translated physical address.
        physical: u64,
        /// The level of the leaf (0: 4 KiB, 1: 2 MiB, 2: 1 GiB, ...).
        level: u32,
        /// The size of the mapped page in bytes.
        page_size: u64,
    },
    /// An entry with V=0.
    Invalid {
        /// The level of that entry.
        level: u32,
    },
    /// An entry with a reserved encoding (W without R).
    Reserved {
        /// The level of that entry.
        level: u32,
    },
    /// A superpage leaf whose low PPN bits are not zero.
    MisalignedSuperpage {
        /// The level of the leaf.
        level: u32,
    },
    /// A pointer at level 0: no level is left to point to.
    PointerAtLeafLevel,
    /// The address is outside the mode's range (not sign- or zero-extended).
    AddressOutOfRange,
    /// The mode is reserved.
    ReservedMode,
}

/// A page-table walk: every entry read, and where it stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Walk {
    /// The translation mode.
    pub(crate) mode: AtpMode,
    /// The address translated.
    pub(crate) address: u64,
    /// The entries read, root first.
    pub(crate) steps: Vec<WalkStep>,
    /// Where the walk stopped.
    pub(crate) outcome: WalkOutcome,
}

impl Walk {
    /// The leaf entry, when the walk found one.
    #[cfg(test)]
    pub(crate) fn leaf(&self) -> Option<&WalkStep> {
        match self.outcome {
            WalkOutcome::Leaf { .. } | WalkOutcome::MisalignedSuperpage { .. } => self.steps.last(),
            _ => None,
        }
    }

    /// The translated address, when the walk found a well-formed leaf.
    #[cfg(test)]
    pub(crate) fn physical(&self) -> Option<u64> {
        match self.outcome {
            WalkOutcome::Leaf { physical, .. } => Some(physical),
            WalkOutcome::Bare => Some(self.address),
            _ => None,
        }
    }
}

/// Walks the page table rooted at physical address `root` to translate
/// `address` under `mode`. `read_pte` reads the 64-bit entry at a physical
/// address (for a VS-stage walk the caller translates each table address
/// through the G-stage first); its error ends the walk.
pub fn walk<E>(
    mode: AtpMode,
    root: u64,
    address: u64,
    mut read_pte: impl FnMut(u64) -> Result<u64, E>,
) -> Result<Walk, E> {
    let mut result = Walk {
        mode,
        address,
        steps: Vec::new(),
        outcome: WalkOutcome::Bare,
    };
    let levels = mode.levels();
    if mode == AtpMode::Bare {
        return Ok(result);
    }
    if levels == 0 {
        result.outcome = WalkOutcome::ReservedMode;
        return Ok(result);
    }
    if !address_in_range(mode, address) {
        result.outcome = WalkOutcome::AddressOutOfRange;
        return Ok(result);
    }
    let mut table = root;
    for level in (0..levels).rev() {
        let index = vpn(mode, address, level);
        let pte_address = table + index * 8;
        let pte = Pte::new(read_pte(pte_address)?);
        result.steps.push(WalkStep {
            level,
            index,
            pte_address,
            pte,
        });
        match pte.kind() {
            PteKind::Invalid => {
                result.outcome = WalkOutcome::Invalid { level };
                return Ok(result);
            }
            PteKind::Reserved => {
                result.outcome = WalkOutcome::Reserved { level };
                return Ok(result);
            }
            PteKind::Pointer => {
                if level == 0 {
                    result.outcome = WalkOutcome::PointerAtLeafLevel;
                    return Ok(result);
                }
                table = pte.address();
            }
            PteKind::Leaf => {
                let offset_bits = 12 + 9 * level;
                let offset_mask = (1u64 << offset_bits) - 1;
                let low_ppn_mask = offset_mask >> 12;
                result.outcome = if pte.ppn & low_ppn_mask != 0 {
                    WalkOutcome::MisalignedSuperpage { level }
                } else {
                    WalkOutcome::Leaf {
                        physical: (pte.address() & !offset_mask) | (address & offset_mask),
                        level,
                        page_size: 1 << offset_bits,
                    }
                };
                return Ok(result);
            }
        }
    }
    unreachable!("the loop returns at level 0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn pte(pa: u64, flags: u64) -> u64 {
        ((pa >> 12) << 10) | flags
    }

    const V: u64 = 1;
    const R: u64 = 2;
    const W: u64 = 4;
    const X: u64 = 8;
    const A: u64 = 0x40;
    const D: u64 = 0x80;

    #[test]
    fn decode_fields() {
        let p = Pte::new(pte(0x8000_1000, V | R | X) | (1 << 8) | (1 << 62));
        assert!(p.v && p.r && p.x && !p.w && !p.a && !p.d);
        assert_eq!(p.rsw, 1);
        assert_eq!(p.pbmt, 2);
        assert_eq!(p.address(), 0x8000_1000);
        assert_eq!(p.kind(), PteKind::Leaf);
        assert_eq!(p.flag_letters(), "----X-RV");
        assert!(p.needs_ad_update(Access::Fetch));
        assert!(p.permits(Access::Fetch, false));
        assert!(!p.permits(Access::Store, false));
        let d = p.decoded();
        assert_eq!(d.get("A"), Some(0));
        assert_eq!(d.field("PBMT").unwrap().symbol.as_deref(), Some("IO"));
        assert_eq!(d.other_bits, 0);
    }

    #[test]
    fn kinds() {
        assert_eq!(Pte::new(0).kind(), PteKind::Invalid);
        assert_eq!(Pte::new(pte(0x1000, V)).kind(), PteKind::Pointer);
        assert_eq!(Pte::new(pte(0x1000, V | W)).kind(), PteKind::Reserved);
        assert_eq!(Pte::new(pte(0x1000, V | X)).kind(), PteKind::Leaf);
    }

    #[test]
    fn ad_rules() {
        let p = Pte::new(pte(0x1000, V | R | W | A));
        assert!(!p.needs_ad_update(Access::Load));
        assert!(p.needs_ad_update(Access::Store));
        let p = Pte::new(pte(0x1000, V | R | W | A | D));
        assert!(!p.needs_ad_update(Access::Store));
    }

    #[test]
    fn sv39_walk_to_4k_leaf() {
        // Root 0x80000000 -> 0x80001000 -> 0x80002000 -> page 0x80200000.
        let va = 0x8010_0e5e_u64;
        let mut mem = HashMap::new();
        mem.insert(
            0x8000_0000 + vpn(AtpMode::Sv39, va, 2) * 8,
            pte(0x8000_1000, V),
        );
        mem.insert(
            0x8000_1000 + vpn(AtpMode::Sv39, va, 1) * 8,
            pte(0x8000_2000, V),
        );
        mem.insert(
            0x8000_2000 + vpn(AtpMode::Sv39, va, 0) * 8,
            pte(0x8020_0000, V | R | X),
        );
        let w = walk(AtpMode::Sv39, 0x8000_0000, va, |a| {
            mem.get(&a).copied().ok_or(a)
        })
        .unwrap();
        assert_eq!(w.steps.len(), 3);
        assert_eq!(w.physical(), Some(0x8020_0e5e));
        let leaf = w.leaf().unwrap();
        assert_eq!(leaf.level, 0);
        // xv6's kernel PTEs have A clear: a fetch faults without ADUE.
        assert!(leaf.pte.needs_ad_update(Access::Fetch));
    }

    #[test]
    fn sv39_gigapage_and_faults() {
        let mut mem = HashMap::new();
        mem.insert(0x1000 + 2 * 8, pte(0x8000_0000, V | R | W | X | A | D));
        let w = walk(AtpMode::Sv39, 0x1000, 0x8012_3456, |a| {
            mem.get(&a).copied().ok_or(a)
        })
        .unwrap();
        assert_eq!(
            w.outcome,
            WalkOutcome::Leaf {
                physical: 0x8012_3456,
                level: 2,
                page_size: 1 << 30
            }
        );

        // Misaligned gigapage.
        mem.insert(0x1000 + 2 * 8, pte(0x8000_1000, V | R));
        let w = walk(AtpMode::Sv39, 0x1000, 0x8000_0000, |a| {
            mem.get(&a).copied().ok_or(a)
        })
        .unwrap();
        assert_eq!(w.outcome, WalkOutcome::MisalignedSuperpage { level: 2 });

        // Invalid root entry.
        let w = walk(AtpMode::Sv39, 0x1000, 0x4000_0000, |a| {
            mem.get(&a).copied().ok_or(a)
        });
        assert_eq!(
            w.unwrap_err(),
            0x1008,
            "unreadable entry address is passed back"
        );
        mem.insert(0x1008, 0);
        let w = walk(AtpMode::Sv39, 0x1000, 0x4000_0000, |a| {
            mem.get(&a).copied().ok_or(a)
        })
        .unwrap();
        assert_eq!(w.outcome, WalkOutcome::Invalid { level: 2 });
    }

    #[test]
    fn sv39x4_root_index_has_11_bits() {
        let gpa = 0x1_8000_0000_u64; // above 4 GiB: index 6 in the 2048-entry root
        assert_eq!(vpn(AtpMode::Sv39x4, gpa, 2), 6);
        assert_eq!(vpn(AtpMode::Sv39, gpa, 2), 6);
        let gpa = 0x100_0000_0000_u64; // bit 40: only x4 can index it
        assert_eq!(vpn(AtpMode::Sv39x4, gpa, 2), 0x400);
        assert!(address_in_range(AtpMode::Sv39x4, gpa));
        assert!(!address_in_range(AtpMode::Sv39x4, 1 << 41));
        assert!(address_in_range(AtpMode::Sv39, 0xffff_ffc0_0000_0000));
        assert!(!address_in_range(AtpMode::Sv39, 1 << 39));
    }

    #[test]
    fn bare_and_out_of_range() {
        let w = walk(AtpMode::Bare, 0, 0x1234, |_| Err::<u64, ()>(())).unwrap();
        assert_eq!(w.physical(), Some(0x1234));
        let w = walk(AtpMode::Sv39, 0, 1 << 40, |_| Err::<u64, ()>(())).unwrap();
        assert_eq!(w.outcome, WalkOutcome::AddressOutOfRange);
    }

    #[test]
    fn display() {
        let p = Pte::new(pte(0x87ff_0000, V | R | X | A));
        assert_eq!(p.to_string(), format!("{:#x} ppn=0x87ff0 -A--X-RV", p.raw));
    }
}
