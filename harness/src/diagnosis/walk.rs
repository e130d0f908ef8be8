//! The page-table walk behind a fault, through both translation stages.
//!
//! For a hart that ran a guest (V=1) an address goes through the VS-stage
//! table (root in vsatp, entries at guest-physical addresses, each read
//! through the G-stage) and then the G-stage table (root in hgatp, Sv39x4
//! and friends: a 16 KiB root indexed by 11 bits). For a hart at V=0 in S or
//! U-mode there is one stage, from satp. Each stage is walked with
//! [`crate::riscv::walk`], the specification's algorithm without permission
//! checks; this module feeds it memory (asynchronously, through a
//! [`PhysMemory`]), keeps what every level said, and then checks the result
//! against the access that faulted: R/W/X, the U bit, and the A and D bits
//! where hardware does not update them (Svade behaviour: ADUE clear).
//!
//! Who updates A/D ([`AdControl`]):
//! - QEMU before 8.0 has no Svadu: it always sets A/D itself, in both stages.
//! - With Svadu (QEMU 8.0 and later), VS-stage updates need
//!   `menvcfg.ADUE` and `henvcfg.ADUE` (the latter is read-only 0 while the
//!   former is clear); G-stage and single-stage (satp at V=0) updates need
//!   `menvcfg.ADUE`. QEMU 9.0 and later reset henvcfg to 0.
//!
//! Register names in the [`FaultContext`] are architectural: `vsatp` is the
//! guest's page-table root, whatever name QEMU's gdbstub showed it under
//! while V=1 (there the guest's value answers to `satp`). See
//! [`FaultContext::csrs`].
//!
//! The same machinery translates addresses for the debugger's own reads
//! ([`Translated`], a [`VirtMemory`]): the backtrace reads the stack through
//! it, ignoring permissions and A/D, which the debugger need not honour.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use serde::Serialize;

use super::{FaultContext, PhysMemory, TrapTarget};
use crate::qemu::QemuVersion;
use crate::riscv::cause::code;
use crate::riscv::envcfg;
use crate::riscv::pte::{walk, WalkOutcome};
use crate::riscv::{Access, Atp, AtpMode, Level, Pte};
use crate::rsp::{RspClient, RspError};
use tokio::io::{AsyncRead, AsyncWrite};

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

/// Whether the hardware sets A and D in one stage, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdControl {
    /// True when a clear A (or D on a store) is set by the hart rather than
    /// raising a page fault.
    pub hardware: bool,
    /// The register bits that decide it: `henvcfg.ADUE=0`,
    /// `menvcfg.ADUE=0 (so henvcfg.ADUE is read-only 0)`, `no Svadu (QEMU < 8.0):
    /// the hart always sets A/D`.
    pub because: String,
    /// The register whose ADUE bit would have to be set: `henvcfg` or `menvcfg`
    /// (`None` when hardware updates are on).
    pub(crate) register: Option<&'static str>,
}

/// Whether a QEMU version implements Svadu (8.0.0 and later). Before it,
/// QEMU always sets A/D in hardware, whatever henvcfg and menvcfg say.
pub fn qemu_has_svadu(version: QemuVersion) -> bool {
    crate::qemu::quirks::SVADU.applies(version)
}

/// The A/D behaviour of a stage from the envcfg values. `svadu` tells whether
/// the hart implements Svadu at all (see [`qemu_has_svadu`]).
pub fn ad_control(
    stage: Stage,
    svadu: bool,
    menvcfg: Option<u64>,
    henvcfg: Option<u64>,
) -> AdControl {
    if !svadu {
        return AdControl {
            hardware: true,
            because: "no Svadu (QEMU < 8.0): the hart always sets A/D".into(),
            register: None,
        };
    }
    let m = menvcfg.map(envcfg::adue);
    let h = henvcfg.map(envcfg::adue);
    let show = |v: Option<bool>| match v {
        Some(true) => "1",
        Some(false) => "0",
        None => "?",
    };
    match stage {
        Stage::VS => match (m, h) {
            (Some(false), _) => AdControl {
                hardware: false,
                because: format!(
                    "menvcfg.ADUE=0 and henvcfg.ADUE={} (read-only 0 while menvcfg.ADUE=0)",
                    show(h)
                ),
                register: Some("henvcfg"),
            },
            (_, Some(false)) => AdControl {
                hardware: false,
                because: format!("henvcfg.ADUE=0 (menvcfg.ADUE={})", show(m)),
                register: Some("henvcfg"),
            },
            (_, Some(true)) => AdControl {
                hardware: true,
                because: "henvcfg.ADUE=1".into(),
                register: None,
            },
            (_, None) => AdControl {
                hardware: false,
                because: "henvcfg unknown (not read): taken as ADUE=0".into(),
                register: Some("henvcfg"),
            },
        },
        Stage::G | Stage::S => match m {
            Some(true) => AdControl {
                hardware: true,
                because: "menvcfg.ADUE=1".into(),
                register: None,
            },
            Some(false) => AdControl {
                hardware: false,
                because: "menvcfg.ADUE=0".into(),
                register: Some("menvcfg"),
            },
            None => AdControl {
                hardware: false,
                because: "menvcfg unknown (not read): taken as ADUE=0".into(),
                register: Some("menvcfg"),
            },
        },
    }
}

/// How the faulting context translated addresses: its stages and the bits
/// that decide permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Regime {
    /// V=1: two stages.
    pub virt: bool,
    /// Whether `virt` was inferred because the context did not say.
    pub(crate) virt_inferred: bool,
    /// The first stage (satp, or vsatp when V=1); Bare for M-mode.
    pub(crate) first: Atp,
    /// hgatp when V=1.
    pub(crate) gstage: Option<Atp>,
    /// The access came from U-mode (or VU).
    pub(crate) user: bool,
    /// S-mode may load and store U pages (sstatus.SUM, or vsstatus.SUM at V=1).
    pub(crate) sum: bool,
    /// Loads may read execute-only pages in the first stage.
    pub(crate) mxr_first: bool,
    /// Loads may read execute-only pages in the G-stage (the HS-level MXR).
    pub(crate) mxr_gstage: bool,
    /// A/D behaviour of the first stage.
    pub(crate) ad_first: AdControl,
    /// A/D behaviour of the G-stage.
    pub(crate) ad_gstage: AdControl,
}

const STATUS_SUM: u64 = 1 << 18;
const STATUS_MXR: u64 = 1 << 19;
const HSTATUS_SPV: u64 = 1 << 7;
const MSTATUS_MPV: u64 = 1 << 39;

/// Whether the trap came from V=1: the context's `from`, else what the trap
/// itself implies (a trap into VS-mode, a guest-page fault, a virtual
/// instruction, an ecall from VS), else hstatus.SPV or mstatus.MPV.
/// `None` when nothing tells.
pub(crate) fn trapped_from_guest(ctx: &FaultContext) -> Option<bool> {
    if let Some(v) = ctx.from.virt {
        return Some(v);
    }
    if ctx.from.level == Level::Machine {
        return Some(false);
    }
    if ctx.to == TrapTarget::VS {
        return Some(true);
    }
    // Only a guest makes these: ecall from VS, guest-page faults, virtual instructions.
    let c = ctx.cause;
    if c.is(code::ECALL_VS) || c.is(code::VIRTUAL_INST) || c.is_guest_page_fault() {
        return Some(true);
    }
    match ctx.to {
        TrapTarget::HS => ctx.csr("hstatus").map(|h| h & HSTATUS_SPV != 0),
        TrapTarget::M => ctx.csr("mstatus").map(|m| m & MSTATUS_MPV != 0),
        TrapTarget::VS => Some(true),
    }
}

/// Why a regime could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot tell how {what} translated addresses: {missing} was not read at the trap")]
pub struct RegimeError {
    /// What was being translated.
    pub(crate) what: String,
    /// The register that is missing.
    pub(crate) missing: String,
}

impl Regime {
    /// The regime of the context that trapped. `svadu`: whether the hart
    /// implements Svadu (from the QEMU version, [`qemu_has_svadu`]).
    pub fn from_context(ctx: &FaultContext, svadu: bool) -> Result<Regime, RegimeError> {
        let (virt, virt_inferred) = match trapped_from_guest(ctx) {
            Some(v) => (v, ctx.from.virt.is_none()),
            None => (false, true),
        };
        let need = |name: &str| {
            ctx.csr(name).ok_or_else(|| RegimeError {
                what: format!("the {} code at {:#x}", ctx.from, ctx.epc),
                missing: name.to_string(),
            })
        };
        let machine = ctx.from.level == Level::Machine;
        let first = if machine {
            Atp::satp(0)
        } else if virt {
            Atp::satp(need("vsatp")?)
        } else {
            Atp::satp(need("satp")?)
        };
        let gstage = if virt {
            Some(Atp::hgatp(need("hgatp")?))
        } else {
            None
        };
        let hs_status = ctx
            .csr("mstatus")
            .or_else(|| ctx.csr("sstatus"))
            .unwrap_or(0);
        let first_status = if virt {
            ctx.csr("vsstatus").unwrap_or(0)
        } else {
            hs_status
        };
        let menvcfg = ctx.csr("menvcfg");
        let henvcfg = ctx.csr("henvcfg");
        let first_stage = if virt { Stage::VS } else { Stage::S };
        Ok(Regime {
            virt,
            virt_inferred,
            first,
            gstage,
            user: ctx.from.level == Level::User,
            sum: first_status & STATUS_SUM != 0,
            mxr_first: first_status & STATUS_MXR != 0 || (virt && hs_status & STATUS_MXR != 0),
            mxr_gstage: hs_status & STATUS_MXR != 0,
            ad_first: ad_control(first_stage, svadu, menvcfg, henvcfg),
            ad_gstage: ad_control(Stage::G, svadu, menvcfg, henvcfg),
        })
    }

    /// The first stage's name.
    pub(crate) fn first_stage(&self) -> Stage {
        if self.virt {
            Stage::VS
        } else {
            Stage::S
        }
    }
}

/// A permission a leaf lacks for the access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MissingKind {
    /// No leaf: the walk ended early (see the stage's [`End`]).
    Mapping { end: End },
    /// The leaf lacks R, W or X.
    Permission { bit: char },
    /// The U bit does not suit the access: `u` is the leaf's U bit.
    User { u: bool, reason: String },
    /// A=0 and the hardware does not set it.
    Accessed { because: String },
    /// A store to a page with D=0 and the hardware does not set it.
    Dirty { because: String },
}

/// One thing that stops the access, at one stage and level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// The stage whose entry is at fault.
    pub stage: Stage,
    /// The level of that entry (`None` when the walk did not reach one).
    pub level: Option<u32>,
    /// For a G-stage problem met while reading a VS-stage entry (an implicit
    /// access): the level of that VS-stage entry.
    pub(crate) for_vs_level: Option<u32>,
    /// What is missing.
    pub kind: MissingKind,
}

impl Missing {
    /// A short pointer for the rendering: `A=0, henvcfg.ADUE=0: the hart does not set A`.
    pub(crate) fn pointer(&self) -> String {
        match &self.kind {
            MissingKind::Mapping { end } => end.describe(self.stage),
            MissingKind::Permission { bit } => format!("{bit}=0: the access needs {bit}"),
            MissingKind::User { u, reason } => format!("U={}: {reason}", *u as u8),
            MissingKind::Accessed { because } => {
                format!("A=0 and {because}: the hart does not set A in hardware")
            }
            MissingKind::Dirty { because } => {
                format!("D=0 on a store and {because}: the hart does not set D in hardware")
            }
        }
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.stage.label())?;
        if let Some(l) = self.level {
            write!(f, " L{l}")?;
        }
        if let Some(vl) = self.for_vs_level {
            write!(f, " (reading the VS L{vl} entry)")?;
        }
        write!(f, ": {}", self.pointer())
    }
}

/// The translation of one address for one access, both stages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Translation {
    /// The address translated (virtual).
    pub(crate) address: u64,
    /// The access.
    pub(crate) access: Access,
    /// The regime used.
    pub(crate) regime: Regime,
    /// The first stage (S or VS); Bare when translation is off.
    pub first: StageWalk,
    /// The G-stage walk of the first stage's output (V=1 only, and only when
    /// the first stage translated).
    pub gstage: Option<StageWalk>,
    /// The guest-physical address (V=1), when the first stage translated.
    pub guest_physical: Option<u64>,
    /// The final physical address, when both stages translated.
    pub physical: Option<u64>,
    /// What stops the access, in walk order. Empty when the access is allowed.
    pub missing: Vec<Missing>,
}

impl Translation {
    /// The walk of a stage, if it was walked.
    pub fn stage(&self, stage: Stage) -> Option<&StageWalk> {
        if self.first.stage == stage {
            return Some(&self.first);
        }
        match (stage, &self.gstage, &self.first.pte_gstage) {
            (Stage::G, Some(g), _) => Some(g),
            (Stage::G, None, Some(g)) => Some(g),
            _ => None,
        }
    }

    /// The rendering, one line per level; see the module tests for the form.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let access = access_name(self.access);
        let first = format!("{:#x} for a {access}", self.address);
        render_stage(&mut out, &self.first, &first, &self.missing, false);
        if let (Some(g), Some(level)) = (&self.first.pte_gstage, self.first.end.level()) {
            let what = format!("guest-physical {:#x} (the VS L{level} entry)", g.address);
            render_stage(&mut out, g, &what, &self.missing, true);
        }
        if let Some(g) = &self.gstage {
            let what = format!("guest-physical {:#x}", g.address);
            render_stage(&mut out, g, &what, &self.missing, false);
        }
        if self.missing.is_empty() {
            out.push_str(&format!("the {access} is allowed by the page tables\n"));
        } else {
            out.push_str(&format!("missing for the {access}:\n"));
            for m in &self.missing {
                out.push_str(&format!("  {m}\n"));
            }
        }
        out
    }
}

impl fmt::Display for Translation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// `fetch`, `load`, `store`.
pub fn access_name(access: Access) -> &'static str {
    match access {
        Access::Fetch => "fetch",
        Access::Load => "load",
        Access::Store => "store",
    }
}

/// One level: `VS L2 @0x80001ff0 = 0x2000404f  V R W X - - A=0 D=0 -> ppn 0x80100`.
pub(crate) fn render_step(stage: Stage, step: &Step) -> String {
    let p = &step.pte;
    let bit = |on: bool, c: &'static str| if on { c } else { "-" };
    let mut s = format!("{} L{} @{:#x}", stage.label(), step.level, step.pte_address);
    if step.read_at != step.pte_address {
        s.push_str(&format!(" (host {:#x})", step.read_at));
    }
    s.push_str(&format!(
        " = {:#x}  {} {} {} {} {} {} A={} D={} -> ppn {:#x}",
        p.raw,
        bit(p.v, "V"),
        bit(p.r, "R"),
        bit(p.w, "W"),
        bit(p.x, "X"),
        bit(p.u, "U"),
        bit(p.g, "G"),
        p.a as u8,
        p.d as u8,
        p.ppn
    ));
    s
}

fn render_stage(out: &mut String, w: &StageWalk, what: &str, missing: &[Missing], implicit: bool) {
    let atp = if w.stage == Stage::G {
        Atp::hgatp(w.atp)
    } else {
        Atp::satp(w.atp)
    };
    out.push_str(&format!(
        "{} walk of {what} ({}, {} {:#x}",
        w.stage.name(),
        atp.mode.name(),
        w.stage.root_register(),
        w.atp
    ));
    if atp.mode != AtpMode::Bare {
        out.push_str(&format!(", root {:#x}", w.root));
    }
    out.push_str("):\n");
    for step in &w.steps {
        out.push_str("  ");
        out.push_str(&render_step(w.stage, step));
        let here: Vec<String> = missing
            .iter()
            .filter(|m| m.stage == w.stage && m.level == Some(step.level))
            .filter(|m| m.for_vs_level.is_some() == implicit)
            .filter(|m| !matches!(m.kind, MissingKind::Mapping { .. }))
            .map(Missing::pointer)
            .collect();
        if !here.is_empty() {
            out.push_str("   <- ");
            out.push_str(&here.join("; "));
        }
        out.push('\n');
    }
    match &w.end {
        End::Leaf { output, .. } => {
            let what = if w.stage == Stage::VS {
                "guest-physical"
            } else {
                "physical"
            };
            out.push_str(&format!("  -> {what} {output:#x}\n"));
        }
        End::Bare => out.push_str(&format!("  -> {:#x} (no translation)\n", w.address)),
        other => out.push_str(&format!("  stops: {}\n", other.describe(w.stage))),
    }
}

/// Where one page-table entry's value came from.
enum Fetched {
    Value {
        read_at: u64,
        mapped_by: Option<PteMapping>,
        value: u64,
    },
    Unreadable {
        read_at: u64,
    },
    NotInGStage {
        gstage: Box<StageWalk>,
    },
}

/// Reads page-table entries for one stage.
#[allow(async_fn_in_trait)]
trait PteSource {
    async fn fetch(&mut self, address: u64) -> anyhow::Result<Fetched>;
}

/// Entries at physical addresses.
struct Direct<'m, M>(&'m mut M);

impl<M: PhysMemory> PteSource for Direct<'_, M> {
    async fn fetch(&mut self, address: u64) -> anyhow::Result<Fetched> {
        Ok(match self.0.read_u64(address).await? {
            Some(value) => Fetched::Value {
                read_at: address,
                mapped_by: None,
                value,
            },
            None => Fetched::Unreadable { read_at: address },
        })
    }
}

/// Entries at guest-physical addresses, each translated through the G-stage.
struct ThroughGStage<'m, M> {
    mem: &'m mut M,
    hgatp: Atp,
}

impl<M: PhysMemory> PteSource for ThroughGStage<'_, M> {
    async fn fetch(&mut self, gpa: u64) -> anyhow::Result<Fetched> {
        let g = walk_stage(Stage::G, self.hgatp, gpa, &mut Direct(&mut *self.mem)).await?;
        let Some(host) = g.output() else {
            return Ok(Fetched::NotInGStage {
                gstage: Box::new(g),
            });
        };
        let mapped_by = g.leaf().map(|s| PteMapping {
            level: s.level,
            pte_address: s.read_at,
            pte: s.pte,
        });
        Ok(match self.mem.read_u64(host).await? {
            Some(value) => Fetched::Value {
                read_at: host,
                mapped_by,
                value,
            },
            None => Fetched::Unreadable { read_at: host },
        })
    }
}

/// Walks one stage with [`crate::riscv::walk`]. That walk is synchronous,
/// so it runs over the entries fetched so far; when it asks for one not yet
/// fetched it stops, the entry is fetched, and it runs again (at most one
/// run per level). An entry that could not be fetched is fed to it as 0
/// (invalid), which ends the walk there; that fake last step is then
/// replaced by the real reason.
async fn walk_stage(
    stage: Stage,
    atp: Atp,
    address: u64,
    source: &mut impl PteSource,
) -> anyhow::Result<StageWalk> {
    let mut fetched: HashMap<u64, Fetched> = HashMap::new();
    let root = atp.root();
    loop {
        let mut failed_at = None;
        let result = walk(atp.mode, root, address, |a| match fetched.get(&a) {
            Some(Fetched::Value { value, .. }) => Ok(*value),
            Some(_) => {
                failed_at = Some(a);
                Ok(0)
            }
            None => Err(a),
        });
        let w = match result {
            Ok(w) => w,
            Err(a) => {
                let f = source.fetch(a).await?;
                fetched.insert(a, f);
                continue;
            }
        };
        return Ok(StageWalk::from_walk(
            stage, atp, address, &w, failed_at, fetched,
        ));
    }
}

impl StageWalk {
    /// The walk's steps with where each entry was read; an entry that could
    /// not be fetched (`failed_at`, fed to the walk as 0) ends it with the
    /// real reason.
    fn from_walk(
        stage: Stage,
        atp: Atp,
        address: u64,
        w: &crate::riscv::pte::Walk,
        failed_at: Option<u64>,
        mut fetched: HashMap<u64, Fetched>,
    ) -> StageWalk {
        let mut out = StageWalk {
            stage,
            atp: atp.raw,
            mode: atp.mode,
            root: atp.root(),
            address,
            steps: Vec::with_capacity(w.steps.len()),
            end: End::Bare,
            pte_gstage: None,
        };
        for s in &w.steps {
            if Some(s.pte_address) == failed_at {
                // The fake entry: say why it could not be read.
                match fetched.remove(&s.pte_address) {
                    Some(Fetched::Unreadable { read_at }) => {
                        out.end = End::Unreadable {
                            level: s.level,
                            address: read_at,
                        };
                    }
                    Some(Fetched::NotInGStage { gstage }) => {
                        out.end = End::PteNotInGStage {
                            level: s.level,
                            gpa: s.pte_address,
                        };
                        out.pte_gstage = Some(gstage);
                    }
                    _ => unreachable!("failed_at is only set for entries that failed"),
                }
                return out;
            }
            let Some(Fetched::Value {
                read_at, mapped_by, ..
            }) = fetched.get(&s.pte_address)
            else {
                unreachable!("every step was fetched")
            };
            out.steps.push(Step {
                level: s.level,
                index: s.index,
                pte_address: s.pte_address,
                read_at: *read_at,
                mapped_by: *mapped_by,
                pte: s.pte,
            });
        }
        out.end = end_of(w.outcome);
        out
    }
}

/// How the walk itself ended (every entry it asked for was read).
fn end_of(outcome: WalkOutcome) -> End {
    match outcome {
        WalkOutcome::Bare => End::Bare,
        WalkOutcome::Leaf {
            physical,
            level,
            page_size,
        } => End::Leaf {
            output: physical,
            level,
            page_size,
        },
        WalkOutcome::Invalid { level } => End::Invalid { level },
        WalkOutcome::Reserved { level } => End::Reserved { level },
        WalkOutcome::MisalignedSuperpage { level } => End::MisalignedSuperpage { level },
        WalkOutcome::PointerAtLeafLevel => End::PointerAtLeafLevel,
        WalkOutcome::AddressOutOfRange => End::AddressOutOfRange,
        WalkOutcome::ReservedMode => End::ReservedMode,
    }
}

/// Translates `address` for `access` under `regime`: the first stage, and
/// at V=1 the G-stage of its output, then checks what each leaf lacks for
/// the access.
pub(crate) async fn translate<M: PhysMemory>(
    regime: &Regime,
    address: u64,
    access: Access,
    mem: &mut M,
) -> anyhow::Result<Translation> {
    let first_stage = regime.first_stage();
    let first = match regime.gstage {
        Some(hgatp) if regime.virt => {
            walk_stage(
                first_stage,
                regime.first,
                address,
                &mut ThroughGStage { mem, hgatp },
            )
            .await?
        }
        _ => walk_stage(first_stage, regime.first, address, &mut Direct(&mut *mem)).await?,
    };
    let mut gstage = None;
    let mut guest_physical = None;
    let physical;
    if let (true, Some(hgatp)) = (regime.virt, regime.gstage) {
        guest_physical = first.output();
        physical = match guest_physical {
            Some(gpa) => {
                let g = walk_stage(Stage::G, hgatp, gpa, &mut Direct(&mut *mem)).await?;
                let out = g.output();
                gstage = Some(g);
                out
            }
            None => None,
        };
    } else {
        physical = first.output();
    }
    let mut t = Translation {
        address,
        access,
        regime: regime.clone(),
        first,
        gstage,
        guest_physical,
        physical,
        missing: Vec::new(),
    };
    t.missing = check(&t);
    Ok(t)
}

/// What each stage's entries lack for the access, in the order the hart
/// checks them: the VS-stage entries' own G-stage mappings as they are read,
/// then the VS-stage leaf, then the G-stage of the final address.
fn check(t: &Translation) -> Vec<Missing> {
    let r = &t.regime;
    let mut out = Vec::new();
    let first = &t.first;
    // Implicit reads of VS-stage entries go through the G-stage as loads
    // from U-mode: the G-stage leaf needs R (MXR does not help there) and
    // U, and A unless the hart sets it.
    for step in &first.steps {
        if let Some(m) = &step.mapped_by {
            let mut push = |kind| {
                out.push(Missing {
                    stage: Stage::G,
                    level: Some(m.level),
                    for_vs_level: Some(step.level),
                    kind,
                })
            };
            if !m.pte.r {
                push(MissingKind::Permission { bit: 'R' });
            }
            if !m.pte.u {
                push(MissingKind::User {
                    u: false,
                    reason: "every G-stage leaf needs U".into(),
                });
            }
            if !m.pte.a && !r.ad_gstage.hardware {
                push(MissingKind::Accessed {
                    because: r.ad_gstage.because.clone(),
                });
            }
        }
    }
    match &first.end {
        End::Leaf { level, .. } => {
            let leaf = first.leaf().expect("a leaf end has a leaf step").pte;
            leaf_checks(&mut out, first.stage, *level, leaf, t.access, r);
        }
        End::Bare => {}
        End::PteNotInGStage { .. } => {
            let g = first.pte_gstage.as_deref().expect("set with the end");
            out.push(Missing {
                stage: Stage::G,
                level: g.end.level(),
                for_vs_level: first.end.level(),
                kind: MissingKind::Mapping { end: g.end.clone() },
            });
        }
        end => out.push(Missing {
            stage: first.stage,
            level: end.level(),
            for_vs_level: None,
            kind: MissingKind::Mapping { end: end.clone() },
        }),
    }
    if let Some(g) = &t.gstage {
        match &g.end {
            End::Leaf { level, .. } => {
                let leaf = g.leaf().expect("a leaf end has a leaf step").pte;
                leaf_checks(&mut out, Stage::G, *level, leaf, t.access, r);
            }
            End::Bare => {}
            end => out.push(Missing {
                stage: Stage::G,
                level: end.level(),
                for_vs_level: None,
                kind: MissingKind::Mapping { end: end.clone() },
            }),
        }
    }
    out
}

fn leaf_checks(
    out: &mut Vec<Missing>,
    stage: Stage,
    level: u32,
    pte: Pte,
    access: Access,
    r: &Regime,
) {
    let mut push = |kind| {
        out.push(Missing {
            stage,
            level: Some(level),
            for_vs_level: None,
            kind,
        })
    };
    let (mxr, ad) = if stage == Stage::G {
        (r.mxr_gstage, &r.ad_gstage)
    } else {
        (r.mxr_first, &r.ad_first)
    };
    if !pte.permits(access, mxr) {
        let bit = match access {
            Access::Fetch => 'X',
            Access::Load => 'R',
            Access::Store => 'W',
        };
        push(MissingKind::Permission { bit });
    }
    if stage == Stage::G {
        if !pte.u {
            push(MissingKind::User {
                u: false,
                reason: "every G-stage leaf needs U (guest accesses count as U-mode ones)".into(),
            });
        }
    } else if r.user && !pte.u {
        push(MissingKind::User {
            u: false,
            reason: "U-mode may only use U pages".into(),
        });
    } else if !r.user && pte.u {
        if access == Access::Fetch {
            push(MissingKind::User {
                u: true,
                reason: "S-mode never executes from U pages".into(),
            });
        } else if !r.sum {
            push(MissingKind::User {
                u: true,
                reason: "S-mode loads and stores to U pages need SUM=1".into(),
            });
        }
    }
    if !ad.hardware {
        if !pte.a {
            push(MissingKind::Accessed {
                because: ad.because.clone(),
            });
        }
        if access == Access::Store && !pte.d {
            push(MissingKind::Dirty {
                because: ad.because.clone(),
            });
        }
    }
}

/// The address and access a fault is about: the faulting address of page,
/// guest-page and access faults (tval), taken from the cause. `None` for
/// other causes.
pub(crate) fn fault_access(ctx: &FaultContext) -> Option<(u64, Access)> {
    Some((ctx.tval, ctx.cause.access()?))
}

/// Walks the address a fault is about (see [`fault_access`]); for other
/// causes, the fetch of the faulting instruction at epc. For a guest-page
/// fault whose tval is 0 (the implementation gave no guest-virtual address),
/// only the G-stage of the guest-physical address from htval is walked.
pub async fn walk_fault<M: PhysMemory>(
    ctx: &FaultContext,
    svadu: bool,
    mem: &mut M,
) -> anyhow::Result<Translation> {
    let regime = Regime::from_context(ctx, svadu)?;
    let (address, access) = fault_access(ctx).unwrap_or((ctx.epc, Access::Fetch));
    if ctx.cause.is_guest_page_fault() && ctx.tval == 0 {
        if let Some(htval) = ctx.htval {
            let gpa = crate::riscv::guest_physical_address(htval, 0);
            let bare = Regime {
                first: Atp::satp(0),
                ..regime
            };
            return translate(&bare, gpa, access, mem).await;
        }
    }
    translate(&regime, address, access, mem).await
}

/// Memory at the addresses of the context that trapped (virtual when its
/// translation is on), 8 bytes at a time; `None` when unmapped or unreadable.
#[allow(async_fn_in_trait)]
pub trait VirtMemory {
    async fn read_u64(&mut self, address: u64) -> anyhow::Result<Option<u64>>;
}

/// Reads a context's virtual addresses through its page tables, both stages,
/// ignoring permissions and A/D (the debugger's view, not the hart's).
/// Translations are cached per 4 KiB page.
pub struct Translated<'m, M> {
    mem: &'m mut M,
    regime: Regime,
    pages: HashMap<u64, Option<u64>>,
}

impl<'m, M: PhysMemory> Translated<'m, M> {
    /// Reads through `regime` (from [`Regime::from_context`]).
    pub fn new(mem: &'m mut M, regime: Regime) -> Self {
        Translated {
            mem,
            regime,
            pages: HashMap::new(),
        }
    }

    /// The physical address of `address`, if both stages map it.
    pub async fn physical(&mut self, address: u64) -> anyhow::Result<Option<u64>> {
        let page = address & !0xfff;
        let base = match self.pages.get(&page) {
            Some(b) => *b,
            None => {
                let t = translate(&self.regime, page, Access::Load, &mut *self.mem).await?;
                self.pages.insert(page, t.physical);
                t.physical
            }
        };
        Ok(base.map(|b| b | (address & 0xfff)))
    }
}

impl<M: PhysMemory> VirtMemory for Translated<'_, M> {
    async fn read_u64(&mut self, address: u64) -> anyhow::Result<Option<u64>> {
        if address & 0xfff > 0xff8 {
            // Crosses a page: two translations, two reads.
            let mut bytes = [0u8; 8];
            for (i, b) in bytes.iter_mut().enumerate() {
                let a = address.wrapping_add(i as u64);
                let Some(p) = self.physical(a).await? else {
                    return Ok(None);
                };
                let Some(word) = self.mem.read_u64(p & !7).await? else {
                    return Ok(None);
                };
                *b = (word >> ((p & 7) * 8)) as u8;
            }
            return Ok(Some(u64::from_le_bytes(bytes)));
        }
        match self.physical(address).await? {
            Some(p) => self.mem.read_u64(p).await,
            None => Ok(None),
        }
    }
}

/// QEMU virt's RAM window: DRAM starts at 0x80000000 (the end is the
/// machine's `-m`; this window stops at the top of the physical address space).
pub(crate) const VIRT_DRAM: Range<u64> = 0x8000_0000..(1 << 56);

/// Physical memory of a target read over its gdbstub, in QEMU's
/// physical-memory mode (`Qqemu.PhyMemMode:1`, switched back after each
/// read), 8 bytes at a time.
///
/// Only addresses inside the readable ranges are read ([`VIRT_DRAM`] unless
/// [`RspPhysMemory::with_readable`] says otherwise); others are `None`,
/// so a garbage page-table entry never makes the debugger read a device
/// register (reads of a UART's receive buffer have side effects). QEMU's
/// physical mode reads unassigned addresses as zeros rather than failing,
/// so give the machine's RAM (`-m`) here to have reads beyond it reported
/// as unreadable instead of as zero (invalid) entries. An `E14` reply is
/// also `None`.
pub struct RspPhysMemory<'c, S = tokio::net::TcpStream> {
    rsp: &'c mut RspClient<S>,
    readable: Vec<Range<u64>>,
}

impl<'c, S> RspPhysMemory<'c, S> {
    /// Reads through `rsp` (the target must be stopped), inside [`VIRT_DRAM`].
    pub fn new(rsp: &'c mut RspClient<S>) -> Self {
        RspPhysMemory {
            rsp,
            readable: vec![VIRT_DRAM],
        }
    }

    /// Reads only inside `ranges` (for example the ROM and RAM of the machine).
    pub fn with_readable(mut self, ranges: Vec<Range<u64>>) -> Self {
        self.readable = ranges;
        self
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> PhysMemory for RspPhysMemory<'_, S> {
    async fn read_u64(&mut self, addr: u64) -> anyhow::Result<Option<u64>> {
        let end = addr.checked_add(8);
        if !self
            .readable
            .iter()
            .any(|r| addr >= r.start && end.is_some_and(|e| e <= r.end))
        {
            return Ok(None);
        }
        match self.rsp.read_physical_memory(addr, 8).await {
            Ok(bytes) => {
                let b: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                    anyhow::anyhow!(
                        "physical read at {addr:#x} gave {} bytes, not 8",
                        bytes.len()
                    )
                })?;
                Ok(Some(u64::from_le_bytes(b)))
            }
            Err(RspError::ErrorReply { code: 0x0e, .. }) => Ok(None),
            Err(e) => {
                Err(anyhow::Error::new(e).context(format!("reading physical memory at {addr:#x}")))
            }
        }
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::riscv::{Cause, PrivilegeLevel};
    use std::collections::{BTreeMap, HashMap};

    pub(crate) const V: u64 = 1;
    pub(crate) const R: u64 = 2;
    pub(crate) const W: u64 = 4;
    pub(crate) const X: u64 = 8;
    pub(crate) const U: u64 = 0x10;
    pub(crate) const A: u64 = 0x40;
    pub(crate) const D: u64 = 0x80;

    /// Physical memory as a map of 8-byte words; anything else is unreadable.
    #[derive(Default, Debug)]
    pub(crate) struct Mem {
        pub(crate) words: HashMap<u64, u64>,
        pub(crate) reads: usize,
        next_table: u64,
    }

    impl PhysMemory for Mem {
        async fn read_u64(&mut self, addr: u64) -> anyhow::Result<Option<u64>> {
            self.reads += 1;
            Ok(self.words.get(&addr).copied())
        }
    }

    pub(crate) fn pte(pa: u64, flags: u64) -> u64 {
        ((pa >> 12) << 10) | flags
    }

    impl Mem {
        pub(crate) fn new(first_free: u64) -> Mem {
            Mem {
                next_table: first_free,
                ..Mem::default()
            }
        }

        pub(crate) fn alloc(&mut self, size: u64) -> u64 {
            let t = self.next_table;
            self.next_table += size;
            for i in 0..size / 8 {
                self.words.insert(t + i * 8, 0);
            }
            t
        }

        /// Maps `va` -> `pa` with a leaf at `leaf_level` in the table rooted
        /// at physical `root`, allocating pointer tables as needed.
        /// `to_phys` turns a table address as stored in entries into the
        /// physical address where it is written (the G-stage for VS tables).
        #[allow(clippy::too_many_arguments)]
        pub(crate) fn map(
            &mut self,
            mode: AtpMode,
            root: u64,
            va: u64,
            pa: u64,
            flags: u64,
            leaf_level: u32,
            to_phys: &dyn Fn(u64) -> u64,
            alloc_table: &mut dyn FnMut(&mut Mem) -> u64,
        ) {
            let mut table = root;
            for level in (leaf_level..mode.levels()).rev() {
                let index = crate::riscv::pte::vpn(mode, va, level);
                let at = to_phys(table + index * 8);
                if level == leaf_level {
                    self.words.insert(at, pte(pa, flags));
                    return;
                }
                let e = self.words.get(&at).copied().unwrap_or(0);
                table = if e & V != 0 {
                    Pte::new(e).address()
                } else {
                    let t = alloc_table(self);
                    self.words.insert(at, pte(t, V));
                    t
                };
            }
        }
    }

    /// The reference firmware's layout, fabricated: guest RAM at
    /// guest-physical 0x80000000 (16 MiB) mapped to host 0x84000000 by 2 MiB
    /// G-stage pages (V R W X U A D), the UART page 0x10000000 by a 4 KiB
    /// page; the guest's Sv39 kernel table at guest-physical 0x80300000 with
    /// identity maps whose A and D bits are clear, like xv6's.
    pub(crate) struct Fixture {
        pub(crate) mem: Mem,
        pub(crate) hgatp: u64,
        pub(crate) vsatp: u64,
        pub(crate) vs_root: u64,
    }

    pub(crate) const HOST_RAM: u64 = 0x8400_0000;
    pub(crate) const GUEST_RAM: u64 = 0x8000_0000;
    pub(crate) fn gpa_to_host(gpa: u64) -> u64 {
        gpa - GUEST_RAM + HOST_RAM
    }

    pub(crate) fn fixture() -> Fixture {
        fixture_with(|_| true)
    }

    /// The fixture without the G-stage pages for which `keep(gpa)` is false.
    pub(crate) fn fixture_with(keep: impl Fn(u64) -> bool) -> Fixture {
        let mut mem = Mem::new(0x8028_0000);
        let hgatp = gstage(&mut mem, keep);
        let vs_root = guest_tables(&mut mem);
        let vsatp = (8u64 << 60) | (vs_root >> 12);
        Fixture {
            mem,
            hgatp,
            vsatp,
            vs_root,
        }
    }

    /// The G-stage (Sv39x4, in the "hypervisor's" memory): guest RAM by 2 MiB
    /// pages, the UART by a 4 KiB page, except where `keep(gpa)` is false;
    /// hgatp.
    fn gstage(mem: &mut Mem, keep: impl Fn(u64) -> bool) -> u64 {
        // G-stage root: 16 KiB, in the "hypervisor's" memory.
        let g_root = mem.alloc(0x4000);
        let mut host_alloc = |m: &mut Mem| m.alloc(0x1000);
        let id = |a: u64| a;
        for i in 0..8 {
            let gpa = GUEST_RAM + i * 0x20_0000;
            if keep(gpa) {
                mem.map(
                    AtpMode::Sv39x4,
                    g_root,
                    gpa,
                    gpa_to_host(gpa),
                    V | R | W | X | U | A | D,
                    1,
                    &id,
                    &mut host_alloc,
                );
            }
        }
        if keep(0x1000_0000) {
            mem.map(
                AtpMode::Sv39x4,
                g_root,
                0x1000_0000,
                0x1000_0000,
                V | R | W | U | A | D,
                0,
                &id,
                &mut host_alloc,
            );
        }
        (8u64 << 60) | (1 << 44) | (g_root >> 12)
    }

    /// The guest's Sv39 kernel table: the UART, text read-execute, data
    /// read-write, A and D clear; its root's guest-physical address.
    fn guest_tables(mem: &mut Mem) -> u64 {
        // The guest's tables, in guest RAM at 0x80300000.. (host 0x84300000..).
        let mut next_gpa = 0x8030_0000u64;
        let mut guest_alloc = |m: &mut Mem| {
            let t = next_gpa;
            next_gpa += 0x1000;
            for i in 0..512 {
                m.words.insert(gpa_to_host(t) + i * 8, 0);
            }
            t
        };
        let vs_root = guest_alloc(mem);
        let to_host = |a: u64| gpa_to_host(a);
        mem.map(
            AtpMode::Sv39,
            vs_root,
            0x1000_0000,
            0x1000_0000,
            V | R | W,
            0,
            &to_host,
            &mut guest_alloc,
        );
        for page in (0x8020_0000..0x8020_6000).step_by(0x1000) {
            mem.map(
                AtpMode::Sv39,
                vs_root,
                page,
                page,
                V | R | X,
                0,
                &to_host,
                &mut guest_alloc,
            );
        }
        for page in (0x8020_6000..0x8021_0000).step_by(0x1000) {
            mem.map(
                AtpMode::Sv39,
                vs_root,
                page,
                page,
                V | R | W,
                0,
                &to_host,
                &mut guest_alloc,
            );
        }
        vs_root
    }

    /// The first fault of the ADUE hang as QEMU 10.0.2 shows it: an
    /// instruction page fault in VS-mode at the instruction after `csrw satp`.
    pub(crate) fn adue_context(f: &Fixture) -> FaultContext {
        let mut csrs = BTreeMap::new();
        csrs.insert("vsatp".to_string(), f.vsatp);
        csrs.insert("hgatp".to_string(), f.hgatp);
        csrs.insert("henvcfg".to_string(), 0x8000_0000_0000_0000);
        csrs.insert("menvcfg".to_string(), 0xa000_0000_0000_00f0);
        csrs.insert("vstvec".to_string(), 0);
        csrs.insert("hedeleg".to_string(), 0xb1ff);
        FaultContext {
            hart: 0,
            from: PrivilegeLevel::from_qemu_priv(5),
            to: TrapTarget::VS,
            cause: Cause::from_xcause(0xc),
            epc: 0x8020_05da,
            tval: 0x8020_05da,
            htval: None,
            htinst: None,
            epc_place: Some("guest:kvminithart+0x1e at kernel/vm.c:94".into()),
            sbi_calls_after: 0,
            csrs,
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn adue_hang_vs_leaf_has_a_clear() {
        let mut f = fixture();
        let ctx = adue_context(&f);
        let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
        assert_eq!(t.access, Access::Fetch);
        assert_eq!(t.first.stage, Stage::VS);
        assert_eq!(t.first.steps.len(), 3);
        assert_eq!(t.guest_physical, Some(0x8020_05da));
        assert_eq!(t.physical, Some(0x8420_05da));
        let leaf = t.first.leaf().unwrap();
        assert_eq!(leaf.level, 0);
        assert!(!leaf.pte.a && !leaf.pte.d && leaf.pte.x);
        // Each VS entry was read at its host-physical address.
        assert_eq!(leaf.read_at, gpa_to_host(leaf.pte_address));
        assert_eq!(leaf.mapped_by.unwrap().level, 1);
        let root = &t.first.steps[0];
        assert_eq!(root.pte_address, f.vs_root + 2 * 8);
        let g = t.gstage.as_ref().unwrap();
        assert_eq!(g.steps.len(), 2, "2 MiB G-stage leaf");
        assert_eq!(
            g.steps[0].index, 2,
            "gpa 0x80200000 >> 30 in the 11-bit root index"
        );
        assert_eq!(t.missing.len(), 1, "{:?}", t.missing);
        let m = &t.missing[0];
        assert_eq!((m.stage, m.level), (Stage::VS, Some(0)));
        match &m.kind {
            MissingKind::Accessed { because } => {
                assert!(because.starts_with("henvcfg.ADUE=0"), "{because}")
            }
            k => panic!("{k:?}"),
        }
        let text = t.render();
        let leaf_line = format!(
            "  VS L0 @{:#x} (host {:#x}) = {:#x}  V R - X - - A=0 D=0 -> ppn 0x80200   <- A=0 and henvcfg.ADUE=0 (menvcfg.ADUE=1): the hart does not set A in hardware",
            leaf.pte_address, leaf.read_at, leaf.pte.raw
        );
        assert!(text.contains(&leaf_line), "{text}");
        assert!(text.starts_with("VS-stage walk of 0x802005da for a fetch (Sv39, vsatp 0x8000000000080300, root 0x80300000):\n"), "{text}");
        assert!(text.contains("  -> guest-physical 0x802005da\n"), "{text}");
        assert!(
            text.contains("G-stage walk of guest-physical 0x802005da (Sv39x4, hgatp 0x80001"),
            "{text}"
        );
        assert!(text.contains("  -> physical 0x842005da\n"), "{text}");
        assert!(
            text.contains("missing for the fetch:\n  VS L0: A=0 and henvcfg.ADUE=0"),
            "{text}"
        );
        eprintln!("{text}");
    }

    #[test]
    fn adue_set_or_no_svadu_means_no_fault() {
        let mut f = fixture();
        let mut ctx = adue_context(&f);
        let t = block_on(walk_fault(&ctx, false, &mut f.mem)).unwrap();
        assert!(
            t.missing.is_empty(),
            "QEMU 7.2 always sets A/D: {:?}",
            t.missing
        );
        assert!(t
            .render()
            .contains("the fetch is allowed by the page tables"));
        ctx.csrs.insert("henvcfg".into(), 0xa000_0000_0000_0000);
        let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
        assert!(t.missing.is_empty(), "{:?}", t.missing);
        // menvcfg.ADUE clear: henvcfg.ADUE cannot be 1; say so.
        ctx.csrs.insert("menvcfg".into(), 0x8000_0000_0000_00f0);
        ctx.csrs.insert("henvcfg".into(), 0x8000_0000_0000_0000);
        let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
        match &t.missing[0].kind {
            MissingKind::Accessed { because } => {
                assert!(because.contains("menvcfg.ADUE=0"), "{because}")
            }
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn store_needs_w_and_d() {
        let mut f = fixture();
        let mut ctx = adue_context(&f);
        ctx.cause = Cause::exception(15);
        ctx.tval = 0x8020_1000; // text page: R X
        let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
        let kinds: Vec<_> = t.missing.iter().map(|m| m.kind.clone()).collect();
        assert!(
            kinds.contains(&MissingKind::Permission { bit: 'W' }),
            "{kinds:?}"
        );
        assert!(kinds
            .iter()
            .any(|k| matches!(k, MissingKind::Accessed { .. })));
        assert!(kinds.iter().any(|k| matches!(k, MissingKind::Dirty { .. })));
        let text = t.render();
        assert!(
            text.contains("<- W=0: the access needs W; A=0 and henvcfg.ADUE=0"),
            "{text}"
        );
    }

    #[test]
    fn unmapped_virtual_address() {
        let mut f = fixture();
        let mut ctx = adue_context(&f);
        ctx.cause = Cause::exception(13);
        ctx.tval = 0x8100_0000; // PHYSTOP: not in the guest's table
        let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
        // Its 2 MiB region has no L0 table at all.
        assert_eq!(t.first.end, End::Invalid { level: 1 });
        assert!(t.gstage.is_none());
        assert_eq!(t.missing.len(), 1);
        assert_eq!(
            t.missing[0].kind,
            MissingKind::Mapping {
                end: End::Invalid { level: 1 }
            }
        );
        assert!(
            t.render()
                .contains("  stops: the VS L1 entry is invalid (V=0)\n"),
            "{}",
            t.render()
        );
    }

    #[test]
    fn guest_page_fault_hole_in_gstage() {
        // The last 2 MiB of guest RAM unmapped in the G-stage.
        let mut f = fixture_with(|gpa| gpa != 0x80e0_0000);
        let mut ctx = adue_context(&f);
        ctx.to = TrapTarget::HS;
        ctx.cause = Cause::exception(23);
        ctx.tval = 0x80ff_f000;
        ctx.htval = Some(0x80ff_f000 >> 2);
        // Bare VS-stage (the guest before paging).
        ctx.csrs.insert("vsatp".into(), 0);
        let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
        assert_eq!(t.first.end, End::Bare);
        assert_eq!(t.guest_physical, Some(0x80ff_f000));
        let g = t.gstage.as_ref().unwrap();
        assert_eq!(g.end, End::Invalid { level: 1 });
        assert_eq!(t.missing[0].stage, Stage::G);
        let text = t.render();
        assert!(text.contains("VS-stage walk of 0x80fff000 for a store (Bare, vsatp 0x0):\n  -> 0x80fff000 (no translation)\n"), "{text}");
        assert!(
            text.contains("  stops: the G L1 entry is invalid (V=0)\n"),
            "{text}"
        );
    }

    #[test]
    fn vs_table_outside_gstage() {
        // The guest's page-table page itself is not in the G-stage: the VS
        // walk stops at the root entry's guest-physical address.
        let mut f = fixture_with(|gpa| gpa != 0x8020_0000);
        let ctx = adue_context(&f);
        let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
        assert_eq!(
            t.first.end,
            End::PteNotInGStage {
                level: 2,
                gpa: f.vs_root + 16
            }
        );
        assert!(t.first.steps.is_empty());
        let g = t.first.pte_gstage.as_ref().unwrap();
        assert_eq!(g.end, End::Invalid { level: 1 });
        assert_eq!(t.missing.len(), 1);
        assert_eq!(t.missing[0].for_vs_level, Some(2));
        assert!(
            t.missing[0]
                .to_string()
                .starts_with("G L1 (reading the VS L2 entry): the G L1 entry is invalid"),
            "{}",
            t.missing[0]
        );
        assert!(t.stage(Stage::G).is_some());
        let text = t.render();
        let line = format!(
            "G-stage walk of guest-physical {:#x} (the VS L2 entry) (Sv39x4",
            f.vs_root + 16
        );
        assert!(text.contains(&line), "{text}");
    }

    #[test]
    fn unreadable_table_and_g_stage_u_bit() {
        let mut f = fixture();
        // Point the guest's root entry for 0x80000000..0xbfffffff at memory
        // that does not exist.
        let root_entry = gpa_to_host(f.vs_root + 16);
        let old = f.mem.words[&root_entry];
        f.mem.words.insert(root_entry, pte(0x8060_0000, V));
        let ctx = adue_context(&f);
        let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
        assert_eq!(
            t.first.end,
            End::Unreadable {
                level: 1,
                address: 0x8460_0000 + crate::riscv::pte::vpn(AtpMode::Sv39, 0x8020_05da, 1) * 8
            }
        );
        assert_eq!(t.first.steps.len(), 1);
        f.mem.words.insert(root_entry, old);

        // A G-stage leaf without U.
        let g = t.regime.gstage.unwrap().root();
        let idx = g + 2 * 8;
        let l1 = Pte::new(f.mem.words[&idx]).address() + 8; // 0x80200000's 2 MiB page
        let leaf = f.mem.words[&l1];
        f.mem.words.insert(l1, leaf & !U);
        let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
        assert!(
            t.missing.iter().any(|m| m.stage == Stage::G
                && m.for_vs_level.is_some()
                && matches!(m.kind, MissingKind::User { .. })),
            "{:?}",
            t.missing
        );
        assert!(
            t.missing.iter().any(|m| m.stage == Stage::G
                && m.for_vs_level.is_none()
                && matches!(m.kind, MissingKind::User { .. })),
            "{:?}",
            t.missing
        );
    }

    #[test]
    fn single_stage_satp_and_user_bit() {
        let mut mem = Mem::new(0x8100_0000);
        let root = mem.alloc(0x1000);
        let id = |a: u64| a;
        let mut alloc = |m: &mut Mem| m.alloc(0x1000);
        mem.map(
            AtpMode::Sv39,
            root,
            0x4000_0000,
            0x8800_0000,
            V | R | W | X | U,
            0,
            &id,
            &mut alloc,
        );
        mem.map(
            AtpMode::Sv39,
            root,
            0x8020_0000,
            0x8020_0000,
            V | R | X | A,
            0,
            &id,
            &mut alloc,
        );
        let mut csrs = BTreeMap::new();
        csrs.insert("satp".to_string(), (8u64 << 60) | (root >> 12));
        csrs.insert("menvcfg".to_string(), 0);
        let ctx = FaultContext {
            hart: 0,
            from: PrivilegeLevel::from_qemu_priv(1).with_virt(false),
            to: TrapTarget::HS,
            cause: Cause::exception(13),
            epc: 0x8020_0000,
            tval: 0x4000_0000,
            htval: None,
            htinst: None,
            epc_place: None,
            sbi_calls_after: 0,
            csrs,
        };
        let t = block_on(walk_fault(&ctx, true, &mut mem)).unwrap();
        assert_eq!(t.first.stage, Stage::S);
        assert!(t.gstage.is_none());
        assert_eq!(t.physical, Some(0x8800_0000));
        let kinds: Vec<_> = t.missing.iter().map(|m| &m.kind).collect();
        assert!(
            matches!(kinds[0], MissingKind::User { u: true, .. }),
            "{kinds:?}"
        );
        assert!(
            matches!(kinds[1], MissingKind::Accessed { because } if because == "menvcfg.ADUE=0"),
            "{kinds:?}"
        );
        // The kernel's own fetch is fine: A is set.
        let regime = Regime::from_context(&ctx, true).unwrap();
        let t = block_on(translate(&regime, 0x8020_0010, Access::Fetch, &mut mem)).unwrap();
        assert!(t.missing.is_empty(), "{:?}", t.missing);
    }

    #[test]
    fn regime_needs_its_registers() {
        let f = fixture();
        let mut ctx = adue_context(&f);
        ctx.csrs.remove("hgatp");
        let e = Regime::from_context(&ctx, true).unwrap_err();
        assert_eq!(e.missing, "hgatp");
        assert!(e.to_string().contains("hgatp was not read"), "{e}");
        // V unknown from priv (QEMU < 10) but the trap went to VS: V=1.
        let mut ctx = adue_context(&f);
        ctx.from = PrivilegeLevel::from_qemu_priv(1);
        let r = Regime::from_context(&ctx, true).unwrap();
        assert!(r.virt && r.virt_inferred);
        // A trap into HS: hstatus.SPV tells.
        ctx.to = TrapTarget::HS;
        ctx.csrs.insert("hstatus".into(), 0x2_0000_0080);
        assert_eq!(trapped_from_guest(&ctx), Some(true));
        ctx.csrs.insert("hstatus".into(), 0x2_0000_0000);
        assert_eq!(trapped_from_guest(&ctx), Some(false));
    }

    #[test]
    fn translated_reads_through_both_stages() {
        let mut f = fixture();
        f.mem.words.insert(0x8420_7ff8, 0x1122_3344_5566_7788);
        f.mem.words.insert(0x8420_8000, 0x99aa_bbcc_ddee_ff00);
        let ctx = adue_context(&f);
        let regime = Regime::from_context(&ctx, true).unwrap();
        let mut t = Translated::new(&mut f.mem, regime);
        assert_eq!(
            block_on(t.read_u64(0x8020_7ff8)).unwrap(),
            Some(0x1122_3344_5566_7788)
        );
        assert_eq!(
            block_on(t.read_u64(0x8020_7ffc)).unwrap(),
            Some(0xddee_ff00_1122_3344)
        );
        assert_eq!(block_on(t.read_u64(0x8100_0000)).unwrap(), None, "unmapped");
        assert_eq!(
            block_on(t.physical(0x8020_0123)).unwrap(),
            Some(0x8420_0123)
        );
        let reads = t.mem.reads;
        assert_eq!(
            block_on(t.physical(0x8020_0456)).unwrap(),
            Some(0x8420_0456)
        );
        assert_eq!(t.mem.reads, reads, "cached per page");
    }

    #[test]
    fn envcfg_rules() {
        let vs = |m, h| ad_control(Stage::VS, true, m, h);
        assert!(vs(Some(1 << 61), Some(1 << 61)).hardware);
        assert!(!vs(Some(1 << 61), Some(0)).hardware);
        assert_eq!(vs(Some(1 << 61), Some(0)).register, Some("henvcfg"));
        assert!(!vs(Some(0), Some(1 << 61)).hardware);
        assert!(!vs(None, None).hardware);
        assert!(ad_control(Stage::G, true, Some(1 << 61), Some(0)).hardware);
        assert_eq!(
            ad_control(Stage::G, true, Some(0), None).register,
            Some("menvcfg")
        );
        assert!(ad_control(Stage::G, false, Some(0), None).hardware);
        assert!(!qemu_has_svadu(QemuVersion::new(7, 2, 22)));
        assert!(qemu_has_svadu(QemuVersion::new(8, 0, 2)));
        assert!(qemu_has_svadu(QemuVersion::new(10, 0, 2)));
    }

    #[test]
    fn serializes() {
        let mut f = fixture();
        let ctx = adue_context(&f);
        let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
        let j = serde_json::to_value(&t).unwrap();
        assert_eq!(j["first"]["stage"], "VS");
        assert_eq!(j["first"]["end"]["kind"], "leaf");
        assert_eq!(j["missing"][0]["kind"]["kind"], "accessed");
        assert_eq!(j["first"]["steps"][2]["pte"]["a"], false);
    }
}
