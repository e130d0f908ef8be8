//! GDB Remote Serial Protocol client (no gdb binary needed).
//!
//! The harness talks to QEMU's gdbstub (`-gdb tcp:127.0.0.1:PORT`) directly,
//! over a tokio `TcpStream`. References below are to sections of the GDB
//! manual, appendix "Remote Serial Protocol".
//!
//! Layers:
//! - [`packet`]: framing (`$payload#cs`, `}` escapes, `*` run-length
//!   encoding), a bounded incremental decoder, no I/O.
//! - `conn` (private): acks (`+`/`-`), bounded retransmission, bounded waits.
//! - [`RspClient`]: state (stopped / running / exited), the request/reply
//!   machinery, the transcript of recent packets.
//! - [`commands`]: one module per family of requests, each with its pure
//!   builders and parsers and the client methods that use them.
//! - [`tdesc`] (+ the small [`xml`] reader): the target description and the
//!   register map built from QEMU's multi-file XML.
//!
//! A typical session:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use hvharness::internals::rsp::{RspClient, RspConfig, ThreadId};
//! use std::time::Duration;
//! let mut gdb = RspClient::connect("127.0.0.1:1234", RspConfig::default()).await?;
//! let pc = gdb.read_register_u64("pc").await?;            // hart selected by Hg
//! gdb.select_register_thread(ThreadId::qemu_hart(1)).await?;
//! let henvcfg = gdb.read_register_u64("henvcfg").await?;  // None = unavailable (E14)
//! let code = gdb.read_physical_memory(0x8000_0000, 16).await?;
//! gdb.set_breakpoint(0x8020_0000).await?;
//! let stop = gdb.continue_until_stop(Duration::from_secs(10)).await?;
//! # let _ = (pc, henvcfg, code, stop);
//! # Ok(()) }
//! ```
//!
//! What QEMU (7.2.22 and 10.0.2, checked by `tests/rsp_qemu.rs`) does that
//! matters here:
//! - `PacketSize=1000`; no no-ack mode (acks stay on); replies never compressed.
//! - `p` answers empty on 7.2 and 8.0 until target.xml was read (9.2 and 10.0 answer anyway);
//!   a listed CSR may answer `E14` ([`RegisterValue::Unavailable`]; 7.2 does so
//!   for `pmpcfg1`/`pmpcfg3` on rv64).
//! - `m` over 2048 bytes is `E22`, an unreadable address `E14`.
//! - Any byte but 0x03 while running pauses the VM without a stop reply; 0x03
//!   to a halted VM is ignored.
//! - One thread per hart (`p01.01`, `p01.02`); a stop halts every hart.
//! - A hart resumed on a breakpoint stops there again without moving, and a
//!   watchpoint stops *before* the access: [`RspClient::resume`] steps over
//!   both. `?` deletes the breakpoints of the current hart only:
//!   [`RspClient::halt_reason`] puts them back.
//!   See [`commands::resume`] for the details.

pub(crate) mod client;
pub(crate) mod commands;
mod conn;
pub mod costs;
pub(crate) mod error;
#[cfg(test)]
pub(crate) mod fake_target;
#[cfg(test)]
mod fake_target_tests;
pub(crate) mod hex;
#[cfg(test)]
mod hostile_tests;
pub mod packet;
pub(crate) mod tdesc;
pub(crate) mod xml;

pub use client::{RspClient, RspConfig};
pub use commands::at_points::HeldBy;
pub use commands::breakpoints::BreakpointType;
pub use commands::registers::RegisterValue;
pub use commands::stop::{StopReply, WatchKind};
pub use commands::threads::ThreadId;
pub use costs::{RspCosts, COSTS_ENV};
pub use error::RspError;
