//! hvharness: a GDB-driven regression and diagnostic harness for RISC-V
//! hypervisors running xv6-style guests on QEMU.
//!
//! The modules follow the architecture: QEMU builds and processes, consoles,
//! the firmware build, the GDB remote-protocol client, ELF symbols and RISC-V
//! decoding.

pub mod bisect;
pub mod cli;
pub mod console;
pub mod debug;
pub mod diagnosis;
pub mod elf;
pub mod firmware;
pub mod project;
pub mod qemu;
pub mod report;
pub mod riscv;
pub mod rsp;
pub mod runner;
pub mod scenario;
pub mod snapshot;
