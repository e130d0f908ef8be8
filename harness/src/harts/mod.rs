//! The stopped harts, read over the gdbstub: below both the runner (which
//! names a stuck hart in its verdict) and the diagnosis (which explains it).
//!
//! - [`state`]: every hart's registers at the stop ([`HartState`]);
//! - [`look`]: one hart single-stepped, parked or busy ([`look::HartLook`]);
//! - [`stuck`]: which harts are stuck on which trap, with the interrupt log
//!   ([`FaultContext`]), and [`handled`]: whether a hart went on past the
//!   trap it still holds.

mod fault;
pub(crate) mod handled;
pub(crate) mod look;
pub(crate) mod state;
pub(crate) mod stuck;

pub use fault::FaultContext;
pub use state::HartState;
pub(crate) use state::{read_harts, INTERRUPT_CSRS};
