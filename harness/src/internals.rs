//! Not API: the crate's internals that its own end-to-end tests
//! (`harness/tests/`) and bench (`harness/examples/bench.rs`) reach, and
//! nothing else. Hidden from the docs, with no stability promise; a library
//! user has the crate's top-level items.
//!
//! Everything here is needed by a test or figure that starts a real QEMU
//! and checks a part below the run: the GDB client against each version's
//! gdbstub, the QEMU process and its clean-up, each version's quirks, the
//! page-table walk and the rules on live fault builds. Those run on every
//! QEMU of the matrix, which only `harness/tests/` has. The submodules
//! mirror the crate's own modules, and list only the items used.

/// The GDB remote protocol client.
pub mod rsp {
    pub use crate::rsp::{
        BreakpointType, RegisterValue, RspClient, RspConfig, RspCosts, RspError, ThreadId,
        WatchKind, COSTS_ENV,
    };
}

/// QEMU processes, their command line and each version's quirks.
pub mod qemu {
    pub use crate::qemu::{
        ConsoleAttach, ConsoleSpec, LaunchOptions, LogSink, MachineSpec, QemuProcess,
    };

    /// What each QEMU version does differently (checked on every version).
    pub mod quirks {
        pub use crate::qemu::quirks::*;
    }

    /// The interrupt log the hang detection reads.
    pub mod trap_log {
        pub use crate::qemu::trap_log::{LoggedTrap, SharedTrapLog};
    }
}

/// The debugger session over the RSP client.
pub mod debug {
    pub use crate::debug::{privilege_of, DebugSession};
}

/// The parts of a diagnosis, checked on live fault builds.
pub mod diagnosis {
    pub use crate::diagnosis::{FaultContext, PhysMemory};

    /// Backtraces through guest and hypervisor frames.
    pub mod backtrace {
        pub use crate::diagnosis::backtrace::{backtrace, FrameRegs, MAX_DEPTH};
    }

    /// The rules that name a cause.
    pub mod rules {
        pub use crate::diagnosis::rules::{diagnose, Evidence, Finding};
    }

    /// The page-table walk over physical memory.
    pub mod walk {
        pub use crate::diagnosis::walk::{
            qemu_has_svadu, walk_fault, End, MissingKind, Regime, RspPhysMemory, Stage, Translated,
            Translation, VirtMemory,
        };
    }
}

/// Machine facts: privilege levels, causes, address translation registers.
pub mod riscv {
    pub use crate::riscv::{envcfg, Atp, Cause, Level, PrivilegeLevel};
}

/// ELF symbols, lines and disassembly.
pub mod elf {
    pub use crate::elf::{
        disassemble_all, files_read_on_this_thread, ElfError, ElfImage, ElfSet, Instruction,
        SymbolType,
    };
}

/// The reference firmware's build.
pub mod firmware {
    pub use crate::firmware::{build_reference, ReferenceFirmware};
}

/// A guest console read and written by a test.
pub mod console {
    pub use crate::console::Console;
}

/// Parts of a run below [`crate::run`].
pub mod runner {
    pub use crate::runner::inspect::{confirm_storm, StormCheck};

    /// Who writes a CSR, with what, during a run.
    pub mod csr_trace {
        pub use crate::runner::csr_trace::{trace, CsrTrace};
    }
}

/// CSR writes found in the ELF files.
pub mod provenance {
    pub use crate::provenance::{writers_of, WriteKind};
}

/// The process's clean-up on SIGINT, SIGTERM and SIGHUP (the bench installs it).
pub mod signals {
    pub use crate::signals::install_signal_cleanup;
}

/// Where the repository keeps its parts.
pub mod project {
    pub use crate::project::root;
}
