//! QEMU builds (which versions exist and where) and QEMU processes.

pub mod arg_policy;
pub mod install;
mod launcher;
pub(crate) mod log_pipe;
mod port_race;
pub mod process;
pub(crate) mod qmp;
pub mod quirks;
pub(crate) mod registry;
pub mod trap_log;
pub(crate) mod version;

pub use log_pipe::LogSink;
pub use process::{ConsoleAttach, ConsoleSpec, DebugLog, LaunchOptions, MachineSpec, QemuProcess};
pub use registry::{QemuBuild, QemuRegistry};
pub use version::{QemuVersion, VersionReq};
