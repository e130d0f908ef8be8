//! Diagnosis of a boot hang: the first unexpected trap with its full context,
//! a backtrace, the page-table walk behind a page fault, and a root cause in
//! plain words from a small table of rules.
//!
//! The capture side (breakpoints at trap vectors, reading registers over the
//! gdbstub) fills a [`FaultContext`]; the analysis side (walks, backtrace,
//! rules) works from it and from a [`PhysMemory`] reader, so it can be tested
//! on fabricated memory as well as on real QEMU.

pub mod backtrace;
pub mod capture;
pub mod console;
mod explain;
pub mod harts;
pub mod rules;
pub mod walk;

pub use explain::{explain, FaultReport, Finding};

use std::collections::BTreeMap;

use serde::Serialize;

use crate::riscv::{Cause, PrivilegeLevel};

/// Where a trap was taken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TrapTarget {
    /// Into M-mode (OpenSBI).
    M,
    /// Into HS-mode: the hypervisor (or a bare S-mode kernel).
    HS,
    /// Into VS-mode: the guest's own trap handler.
    VS,
}

/// `M`, `HS` or `VS`.
impl std::fmt::Display for TrapTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrapTarget::M => "M",
            TrapTarget::HS => "HS",
            TrapTarget::VS => "VS",
        })
    }
}

/// Everything known about one trap, read when it was taken (before later
/// traps overwrite the CSRs).
#[derive(Debug, Clone, Serialize)]
pub struct FaultContext {
    pub hart: u32,
    /// The privilege level and V the hart was at when it trapped.
    pub from: PrivilegeLevel,
    pub to: TrapTarget,
    pub cause: Cause,
    /// The pc of the trapping instruction.
    pub epc: u64,
    pub tval: u64,
    /// For traps into HS-mode: htval (guest-physical address >> 2) and htinst.
    pub htval: Option<u64>,
    pub htinst: Option<u64>,
    /// `space:symbol+offset at file:line` of epc, in the ELF file of the
    /// context that trapped (the guest's for V=1).
    pub epc_place: Option<String>,
    /// SBI calls the hart made from HS after the trap (a hypervisor printing
    /// its report through the SBI console): evidence, not progress.
    pub sbi_calls_after: u64,
    /// Register values at the trap by name (satp, vsatp, hgatp, henvcfg,
    /// menvcfg, hedeleg, medeleg, stvec, vstvec, hstatus, mstatus, ...).
    /// A name is absent when the target could not read it.
    ///
    /// Names are architectural: `vsatp`, `vstvec` and `vsstatus` are the
    /// guest's own registers even when they were read while V=1, where
    /// QEMU's gdbstub shows them as `satp`, `stvec` and `sstatus` (and its
    /// `vsatp` then holds the hypervisor's satp). General registers, when
    /// present, use ABI names: `ra`, `sp`, `s0` (QEMU's `fp` is accepted too).
    pub csrs: BTreeMap<String, u64>,
}

impl FaultContext {
    /// A register's value at the trap, if read.
    pub fn csr(&self, name: &str) -> Option<u64> {
        self.csrs.get(name).copied()
    }
}

/// Physical memory of the target, 8 bytes at a time (little-endian). `None`
/// when the address cannot be read (outside RAM, MMIO that must not be touched).
#[allow(async_fn_in_trait)]
pub trait PhysMemory {
    async fn read_u64(&mut self, addr: u64) -> anyhow::Result<Option<u64>>;
}
