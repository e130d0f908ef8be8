//! Where the project's own files are: the QEMU prefixes of `scripts/setup.sh`,
//! the reference firmware, scenarios and snapshots.

use std::path::{Path, PathBuf};

/// Environment variable that points at the project's top directory explicitly.
pub(crate) const ROOT_ENV: &str = "HVHARNESS_ROOT";

/// The project's top directory: `$HVHARNESS_ROOT`, else the nearest ancestor of the
/// current directory (then of the executable) that holds `hypervisor/Makefile`.
pub fn root() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(ROOT_ENV) {
        return Some(PathBuf::from(dir));
    }
    let from_cwd = std::env::current_dir().ok().and_then(|d| find_upwards(&d));
    from_cwd.or_else(|| {
        let exe = std::env::current_exe().ok()?;
        find_upwards(exe.parent()?)
    })
}

fn find_upwards(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join("hypervisor/Makefile").is_file() && d.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
}

/// The project's QEMU prefixes, one per version (`.qemu/<version>/`).
pub(crate) fn qemu_prefixes_dir(root: &Path) -> PathBuf {
    root.join(".qemu")
}

/// Where `make -C hypervisor` puts the firmware.
pub(crate) fn firmware_dir(root: &Path) -> PathBuf {
    root.join("target").join("firmware")
}
