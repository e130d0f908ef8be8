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

/// Environment variable that moves the project's QEMU prefixes out of `.qemu/`
/// (scripts/setup.sh reads it too).
pub(crate) const QEMU_PREFIXES_ENV: &str = "HVHARNESS_QEMU_PREFIXES";

/// The project's QEMU prefixes, one per version: `$HVHARNESS_QEMU_PREFIXES/<version>/`,
/// else `.qemu/<version>/`.
pub(crate) fn qemu_prefixes_dir(root: &Path) -> PathBuf {
    prefixes_dir_from(root, std::env::var_os(QEMU_PREFIXES_ENV))
}

/// [`qemu_prefixes_dir`] for a given value of the variable (an empty one is unset).
fn prefixes_dir_from(root: &Path, var: Option<std::ffi::OsString>) -> PathBuf {
    match var {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => root.join(".qemu"),
    }
}

/// Where `make -C hypervisor` puts the firmware.
pub(crate) fn firmware_dir(root: &Path) -> PathBuf {
    root.join("target").join("firmware")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefixes_move_with_the_variable_and_default_to_dot_qemu() {
        let root = Path::new("/src/project");
        assert_eq!(prefixes_dir_from(root, None), root.join(".qemu"));
        assert_eq!(prefixes_dir_from(root, Some("".into())), root.join(".qemu"));
        assert_eq!(
            prefixes_dir_from(root, Some("/scratch/qemu".into())),
            Path::new("/scratch/qemu")
        );
    }
}
