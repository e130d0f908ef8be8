//! Diagnosis of a boot hang: the first unexpected trap with its full context,
//! a backtrace, the page-table walk behind a page fault, and a root cause in
//! plain words from a small table of rules.
//!
//! The capture side ([`crate::harts`]: the stopped harts read over the
//! gdbstub, the stuck ones chosen with the interrupt log) fills a
//! [`FaultContext`]; the analysis side (walks, backtrace,
//! rules) works from it and from a [`PhysMemory`] reader, so it can be tested
//! on fabricated memory as well as on real QEMU.

pub mod backtrace;
pub(crate) mod console;
mod counters;
mod emulation;
mod explain;
mod finding;
mod guest_handler;
pub mod harts;
pub(crate) mod interrupts;
pub mod rules;
mod run;
pub(crate) mod vcpu;
pub mod walk;

pub use crate::harts::FaultContext;
pub use crate::riscv::TrapTarget;
pub use explain::{explain, FaultReport};
pub use finding::Finding;
pub use run::{diagnose_one, run_and_explain, Diagnosis};

/// Physical memory of the target, 8 bytes at a time (little-endian). `None`
/// when the address cannot be read (outside RAM, MMIO that must not be touched).
#[allow(async_fn_in_trait)]
pub trait PhysMemory {
    async fn read_u64(&mut self, addr: u64) -> anyhow::Result<Option<u64>>;
}
