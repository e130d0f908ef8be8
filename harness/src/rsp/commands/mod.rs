//! The requests, one family per module (the protocol surface is this listing).
//!
//! | module | packets | GDB manual section |
//! |---|---|---|
//! | [`supported`] | `qSupported`, `QStartNoAckMode` | "General Query Packets", "Packet Acknowledgment" |
//! | [`features`] | `qXfer:features:read` | "General Query Packets", "Target Descriptions" |
//! | [`registers`] | `p`, `P`, `g` | "Packets" |
//! | [`memory`] | `m`, `M`, `qqemu.Supported`, `Qqemu.PhyMemMode` | "Packets"; QEMU's own query packets |
//! | [`breakpoints`] | `Z0`..`Z4`, `z0`..`z4` | "Packets" |
//! | [`resume`] | `vCont?`, `vCont;c`, `vCont;s`, `c`, `s`, 0x03, `?` | "Packets", "Interrupts" |
//! | [`stop`] | stop replies `S`, `T`, `W`, `X`, `N`, `O` | "Stop Reply Packets" |
//! | [`threads`] | `qfThreadInfo`, `qsThreadInfo`, `Hg` | "General Query Packets", "Packets" |
//! | [`monitor`] | `qRcmd` | "General Query Packets" |
//!
//! Each module holds pure functions that build commands and parse replies
//! (unit-tested on their own) and the `impl RspClient` methods that use them.

pub(crate) mod at_points;
pub(crate) mod breakpoints;
pub(crate) mod features;
pub(crate) mod memory;
pub(crate) mod monitor;
pub(crate) mod registers;
pub(crate) mod resume;
pub(crate) mod stop;
pub(crate) mod supported;
pub(crate) mod threads;
