//! The walk of one stage: the entries read, and where it ended.

use std::fmt;

use serde::Serialize;

use crate::riscv::{AtpMode, Pte};

/// A translation stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Stage {
    /// The only stage of a hart at V=0: satp.
    S,
    /// The guest's own stage at V=1: vsatp. Its tables live in guest-physical memory.
    VS,
    /// The hypervisor's stage at V=1: hgatp, from guest-physical to host-physical.
    G,
}

impl Stage {
    /// `S`, `VS`, `G`: the prefix of a rendered level.
    pub fn label(self) -> &'static str {
        match self {
            Stage::S => "S",
            Stage::VS => "VS",
            Stage::G => "G",
        }
    }

    /// `S-stage`, `VS-stage`, `G-stage`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Stage::S => "S-stage",
            Stage::VS => "VS-stage",
            Stage::G => "G-stage",
        }
    }

    /// The register holding the stage's root.
    pub(crate) fn root_register(self) -> &'static str {
        match self {
            Stage::S => "satp",
            Stage::VS => "vsatp",
            Stage::G => "hgatp",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The G-stage leaf through which a VS-stage entry was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct PteMapping {
    /// The level of the G-stage leaf.
    pub(crate) level: u32,
    /// Where that leaf was read (host-physical).
    pub(crate) pte_address: u64,
    /// The G-stage leaf.
    pub(crate) pte: Pte,
}

/// One page-table entry read during a walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The level (the root is `levels - 1`, 4 KiB pages are level 0).
    pub level: u32,
    /// The index into that level's table.
    pub(crate) index: u64,
    /// The entry's address in the table's own address space: guest-physical
    /// for the VS-stage, physical otherwise.
    pub(crate) pte_address: u64,
    /// The host-physical address it was read from (equal to `pte_address`
    /// except in the VS-stage).
    pub(crate) read_at: u64,
    /// For the VS-stage: the G-stage leaf that maps the entry's page.
    pub(crate) mapped_by: Option<PteMapping>,
    /// The entry.
    pub pte: Pte,
}

/// Where a stage's walk ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum End {
    /// Translation is off (Bare): the address is used as it is.
    Bare,
    /// A well-formed leaf maps the address.
    Leaf {
        /// The output address (guest-physical for the VS-stage).
        output: u64,
        /// The leaf's level.
        level: u32,
        /// The size of the page it maps.
        page_size: u64,
    },
    /// An entry with V=0.
    Invalid { level: u32 },
    /// An entry with W set and R clear, a reserved encoding.
    Reserved { level: u32 },
    /// A superpage whose low PPN bits are not zero.
    MisalignedSuperpage { level: u32 },
    /// A pointer where only a leaf may be (level 0).
    PointerAtLeafLevel,
    /// The address is not sign-extended (first stage) or has bits above the
    /// guest-physical width set (G-stage).
    AddressOutOfRange,
    /// The root register holds a reserved mode.
    ReservedMode,
    /// The entry of this level could not be read: `address` (host-physical)
    /// is outside readable memory.
    Unreadable { level: u32, address: u64 },
    /// The VS-stage entry of this level sits at guest-physical `gpa`, which
    /// the G-stage does not map (see [`StageWalk::pte_gstage`]).
    PteNotInGStage { level: u32, gpa: u64 },
}

impl End {
    /// The level the walk stopped at, when it stopped at an entry.
    pub(crate) fn level(&self) -> Option<u32> {
        match *self {
            End::Leaf { level, .. }
            | End::Invalid { level }
            | End::Reserved { level }
            | End::MisalignedSuperpage { level }
            | End::Unreadable { level, .. }
            | End::PteNotInGStage { level, .. } => Some(level),
            End::PointerAtLeafLevel => Some(0),
            _ => None,
        }
    }

    /// Whether the address translated (a leaf, or Bare).
    pub(crate) fn translated(&self) -> bool {
        matches!(self, End::Leaf { .. } | End::Bare)
    }

    /// In words: `no leaf: the L1 entry is invalid (V=0)`.
    pub(crate) fn describe(&self, stage: Stage) -> String {
        let l = stage.label();
        match self {
            End::Bare => format!("{} is Bare: no translation", stage.root_register()),
            End::Leaf {
                output,
                level,
                page_size,
            } => format!(
                "leaf at {l} L{level} ({}): -> {:#x}",
                size_name(*page_size),
                output
            ),
            End::Invalid { level } => format!("the {l} L{level} entry is invalid (V=0)"),
            End::Reserved { level } => {
                format!("the {l} L{level} entry has a reserved encoding (W without R)")
            }
            End::MisalignedSuperpage { level } => {
                format!("the {l} L{level} superpage is misaligned (low PPN bits set)")
            }
            End::PointerAtLeafLevel => format!("the {l} L0 entry is a pointer (R=W=X=0)"),
            End::AddressOutOfRange => "the address is outside the mode's range".to_string(),
            End::ReservedMode => format!("{} holds a reserved mode", stage.root_register()),
            End::Unreadable { level, address } => {
                format!("the {l} L{level} entry at {address:#x} cannot be read")
            }
            End::PteNotInGStage { level, gpa } => format!(
                "the {l} L{level} entry's guest-physical address {gpa:#x} is not mapped by the G-stage"
            ),
        }
    }
}

fn size_name(size: u64) -> String {
    match size {
        s if s >= 1 << 30 => format!("{} GiB page", s >> 30),
        s if s >= 1 << 20 => format!("{} MiB page", s >> 20),
        s => format!("{} KiB page", s >> 10),
    }
}

/// The walk of one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageWalk {
    /// Which stage.
    pub stage: Stage,
    /// The root register's raw value.
    pub(crate) atp: u64,
    /// The translation mode.
    pub(crate) mode: AtpMode,
    /// The root table's address (guest-physical for the VS-stage).
    pub(crate) root: u64,
    /// The address translated (virtual, or guest-physical for the G-stage).
    pub(crate) address: u64,
    /// The entries read, root first.
    pub(crate) steps: Vec<Step>,
    /// Where the walk ended.
    pub end: End,
    /// For [`End::PteNotInGStage`]: the G-stage walk of that entry's address.
    pub(crate) pte_gstage: Option<Box<StageWalk>>,
}

impl StageWalk {
    /// The output address, when the walk translated.
    pub(crate) fn output(&self) -> Option<u64> {
        match self.end {
            End::Leaf { output, .. } => Some(output),
            End::Bare => Some(self.address),
            _ => None,
        }
    }

    /// The leaf entry, when the walk found a well-formed one.
    pub fn leaf(&self) -> Option<&Step> {
        match self.end {
            End::Leaf { .. } => self.steps.last(),
            _ => None,
        }
    }

    /// The step read at `level`.
    pub fn step(&self, level: u32) -> Option<&Step> {
        self.steps.iter().find(|s| s.level == level)
    }
}
