//! The translation regime of the context that trapped: which stages,
//! which roots, SUM/MXR, and who sets A and D in each stage.

use serde::Serialize;

use super::Stage;
use crate::harts::FaultContext;
use crate::qemu::QemuVersion;
use crate::riscv::trap::came_from_guest;
use crate::riscv::{envcfg, Atp, Level};

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
            because: format!(
                "no Svadu ({}): the hart always sets A/D",
                crate::qemu::quirks::SVADU.without()
            ),
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
    came_from_guest(ctx.to, ctx.cause, ctx.csr("hstatus"), ctx.csr("mstatus"))
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
