//! The page-table walk behind a fault, through both translation stages.
//!
//! For a hart that ran a guest (V=1) an address goes through the VS-stage
//! table (root in vsatp, entries at guest-physical addresses, each read
//! through the G-stage) and then the G-stage table (root in hgatp, Sv39x4
//! and friends: a 16 KiB root indexed by 11 bits). For a hart at V=0 in S or
//! U-mode there is one stage, from satp. Each stage is walked with
//! [`crate::riscv::pte::walk`], the specification's algorithm without permission
//! checks; this module feeds it memory (asynchronously, through a
//! [`PhysMemory`](crate::diagnosis::PhysMemory)), keeps what every level said, and then checks the result
//! against the access that faulted: R/W/X, the U bit, and the A and D bits
//! where hardware does not update them (Svade behaviour: ADUE clear).
//!
//! Who updates A/D ([`AdControl`](regime::AdControl)):
//! - QEMU before 8.0 has no Svadu: it always sets A/D itself, in both stages.
//! - With Svadu (QEMU 8.0 and later), VS-stage updates need
//!   `menvcfg.ADUE` and `henvcfg.ADUE` (the latter is read-only 0 while the
//!   former is clear); G-stage and single-stage (satp at V=0) updates need
//!   `menvcfg.ADUE`. QEMU 9.0 and later reset henvcfg to 0.
//!
//! Register names in the [`FaultContext`](crate::harts::FaultContext) are architectural: `vsatp` is the
//! guest's page-table root, whatever name QEMU's gdbstub showed it under
//! while V=1 (there the guest's value answers to `satp`). See
//! [`FaultContext::csrs`](crate::harts::FaultContext::csrs).
//!
//! The same machinery translates addresses for the debugger's own reads
//! ([`Translated`], a [`VirtMemory`]): the backtrace reads the stack through
//! it, ignoring permissions and A/D, which the debugger need not honour.
//!
//! The parts: [`stage`] (one stage's walk and where it ended), [`regime`]
//! (which stages and who sets A/D), [`translate`](mod@translate) (walking over memory),
//! [`check`] (what the leaves lack), [`render`] (the walk in words) and
//! [`memory`] (the target's memory, physical and through the tables).

use serde::Serialize;

use crate::riscv::Access;

mod check;
mod memory;
mod regime;
mod render;
mod stage;
#[cfg(test)]
pub mod tests;
mod translate;

pub use check::{Missing, MissingKind};
pub use memory::{RspPhysMemory, Translated, VirtMemory};
pub(crate) use regime::trapped_from_guest;
pub use regime::{qemu_has_svadu, Regime};
pub use render::access_name;
pub(crate) use render::render_step;
pub(crate) use stage::PteMapping;
pub use stage::{End, Stage, StageWalk, Step};
pub(crate) use translate::translate;
pub use translate::walk_fault;

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
}
