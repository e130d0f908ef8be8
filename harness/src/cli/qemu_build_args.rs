//! The options `qemu build` and `bisect qemu` share: where and how QEMU is
//! built.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

/// Where and how to build QEMU, as given on the command line. The help
/// text here is `bisect qemu`'s; `qemu build` words three of them its own
/// way (see its `mut_arg`s in `cli/mod.rs`).
// The doc comments are `--help` text: <n> and <hash> are meant literally.
#[allow(rustdoc::invalid_html_tags)]
#[derive(clap::Args)]
pub(super) struct QemuBuildArgs {
    /// Persistent build directory (build/, worktree/, build-<n>-<hash>.log per
    /// build with build.log the newest, state.json), kept across runs
    /// (`bisect clean` removes it); default: one per source under
    /// ~/.cache/hvharness/bisect-qemu/.
    #[arg(long, value_name = "DIR")]
    build_dir: Option<PathBuf>,
    /// Shell command that builds instead of configure + ninja: runs in the
    /// worktree with HVHARNESS_QEMU_SRC and HVHARNESS_QEMU_BUILD set and must
    /// leave $HVHARNESS_QEMU_BUILD/qemu-system-riscv64.
    #[arg(long, value_name = "CMD")]
    build_cmd: Option<String>,
    /// Seconds one step's build may take before it is killed (and the commit skipped).
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    build_timeout: u64,
    /// Directory holding QEMU's meson subprojects (default: SOURCE/subprojects).
    #[arg(long, value_name = "DIR")]
    subprojects: Option<PathBuf>,
}

/// [`QemuBuildArgs`] with the defaults filled in.
pub(super) struct QemuBuildPlace {
    pub(super) build_dir: PathBuf,
    pub(super) build_cmd: Option<String>,
    pub(super) build_timeout: Duration,
    pub(super) subprojects: Option<PathBuf>,
}

impl QemuBuildArgs {
    /// The build place for `source`; without `--build-dir`, the default
    /// directory of `kind` ([`super::bisect::BISECT_DIRS`] or
    /// [`super::bisect::RELEASE_DIRS`]).
    pub(super) fn resolve(self, source: &Path, kind: &str) -> Result<QemuBuildPlace> {
        let build_dir = match self.build_dir {
            Some(dir) => dir,
            None => super::bisect::default_build_dir(source, kind)?,
        };
        Ok(QemuBuildPlace {
            build_dir,
            build_cmd: self.build_cmd,
            build_timeout: Duration::from_secs(self.build_timeout),
            subprojects: self.subprojects,
        })
    }
}
