//! QEMU builds (which versions exist and where) and QEMU processes.

pub(crate) mod arg_policy;
#[cfg(test)]
mod bound_scan;
mod command_line;
mod end_watch;
pub(crate) mod install;
mod launcher;
pub(crate) mod log_pipe;
pub(crate) mod page_samples;
mod port_race;
pub mod process;
pub mod qmp;
pub mod quirks;
pub mod registry;
pub mod session_dir;
pub mod trap_log;
pub mod version;
mod version_probe;
pub(crate) mod virt_map;

pub use end_watch::EndWatch;
pub use log_pipe::LogSink;
pub use process::{ConsoleAttach, ConsoleSpec, DebugLog, LaunchOptions, MachineSpec, QemuProcess};
pub use registry::{QemuBuild, QemuRegistry};
pub use version::{QemuVersion, VersionReq};
