//! hvharness: a GDB-driven regression and diagnostic harness for RISC-V
//! hypervisors running xv6-style guests on QEMU.
//!
//! # How a run flows
//!
//! A [`scenario`] file describes a machine, its consoles, what a good boot
//! prints and the outcome expected on each range of QEMU versions. The
//! [`runner`] takes one scenario and one QEMU build from the [`qemu`]
//! registry and:
//!
//! 1. builds the firmware ([`firmware`]) and starts QEMU stopped, with its
//!    gdbstub on and its interrupt log (`-d int`) streamed through a FIFO
//!    ([`qemu`]), never stored: [`qemu::trap_log`] keeps only what verdicts
//!    and the diagnosis read, and counts the timer samples that land on
//!    breakpoint pages (the runner's hot-page warning);
//! 2. attaches a [`debug`] session over the GDB remote protocol ([`rsp`]),
//!    arms the scenario's breakpoints and watchpoints, and lets the harts run;
//! 3. reads every guest [`console`], matching milestones as bytes arrive and
//!    driving console dialogues;
//! 4. suspects a hang from the log (a storm of identical faults, silent
//!    consoles and harts, or a hart interrupted again and again in one
//!    loop), confirms it by stopping the machine and looking,
//!    and only then calls it;
//! 5. judges what it observed against the scenario's expectation for that
//!    version: a [`runner::RunReport`] with a verdict.
//!
//! When a boot does not finish, [`diagnosis`] reads the stopped harts
//! ([`harts`], the layer below both runner and diagnosis: registers, a look
//! at each hart, which ones are stuck on which trap), finds
//! the first fault behind the hang in the interrupt log, walks the page tables
//! and names a cause from a small table of rules; [`diagnosis::diagnose_one`]
//! is that whole step (one run, explained) for `diagnose`, `run --diagnose`
//! and the bisections, which only print what it found. [`elf`] turns addresses into
//! `space:symbol+offset at file:line`; [`riscv`] decodes causes, CSR fields,
//! privilege levels and PTEs.
//!
//! Around that: [`report`] renders runs and matrices (terminal text, the
//! versioned JSON result file, shards and their merge, JUnit, HTML);
//! [`snapshot`] keeps CSR snapshots per version and diffs them; [`bisect`]
//! narrows a failure down to a QEMU version, a boot milestone or a QEMU
//! commit; `cli` is the `hvharness` command line, one module per command;
//! [`project`] knows where the repository keeps its QEMU prefixes, firmware,
//! scenarios and snapshots; [`signals`] is what the process undoes when
//! Ctrl-C, SIGTERM or SIGHUP ends it (every module that starts something
//! registers there, and it knows none of them).
//!
//! # Using it as a library
//!
//! Load a scenario, pick a QEMU build from the registry, build the firmware
//! and run; the [`RunReport`] says what was observed and the verdict, and
//! [`render_run`] puts it in words. [`diagnose`] runs and, when the boot does
//! not finish, says why (a [`Diagnosis`], in words by [`render_diagnosis`]);
//! [`ResultFile`] reads the JSON results the command line writes, and
//! [`decode_csr`] names a CSR value's fields. Errors are an [`Error`] by what
//! a caller can do about them. The library prints nothing: what the registry
//! left out is in [`QemuRegistry::warnings`].
//!
//! That is the whole API: every module is private. The hidden `internals`
//! module is not API; it exists for the crate's own end-to-end tests and
//! bench only.
//!
//! ```no_run
//! # async fn example() -> Result<(), hvharness::Error> {
//! use std::path::Path;
//!
//! let scenario = hvharness::load_scenario(Path::new("scenarios/hypervisor-noadue-2vm.toml"))?;
//! let registry = hvharness::QemuRegistry::discover(Some(Path::new(".")));
//! for warning in registry.warnings() {
//!     eprintln!("{warning}");
//! }
//! let qemu = hvharness::find_qemu(&registry, "9.2.0")?;
//! hvharness::build_firmware(&scenario)?;
//! let report = hvharness::run(&scenario, &qemu).await?;
//! if report.verdict.is_failure() {
//!     print!("{}", hvharness::render_run(&report));
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Where a QEMU version's quirks live
//!
//! Only in `qemu::quirks`: what the gdbstub shows for privilege and V, which
//! envcfg bits reset to what, when htinst is filled. Everything else asks it.

// The docs are the maintainers' guide, read with `cargo doc --document-private-items`:
// links to crate-private items are meant.
#![allow(rustdoc::private_intra_doc_links)]

mod api;
mod bisect;
mod child;
mod cli;
mod console;
mod debug;
mod diagnosis;
mod elf;
mod firmware;
mod harts;
#[doc(hidden)]
pub mod internals;
mod project;
mod provenance;
mod qemu;
mod report;
mod riscv;
mod rsp;
mod runner;
mod scenario;
mod signals;
mod snapshot;

pub use api::{build_firmware, diagnose, find_qemu, load_scenario, run, Error};
pub use diagnosis::harts::HartSummary;
pub use diagnosis::{Diagnosis, FaultReport, Finding};
pub use qemu::{QemuBuild, QemuRegistry, QemuVersion};
pub use report::{render_diagnosis, render_run, Cell, CellStatus, ResultFile, RunRecord};
pub use riscv::{decode_csr, DecodedCsr, TrapTarget};
pub use runner::dialogue::{DialogueAction, DialogueEvent};
pub use runner::{Observed, RunReport, Verdict};
pub use scenario::{BreakpointSpec, Scenario};

/// The `hvharness` command line (what the binary runs).
pub use cli::main as cli_main;
