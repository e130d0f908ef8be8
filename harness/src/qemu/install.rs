//! `hvharness qemu install --from TARBALL` and `hvharness qemu remove VERSION`:
//! QEMU prefixes a user installs into the data directory.
//!
//! A prefix tarball holds `qemu-X.Y.Z/bin/qemu-system-riscv64` and
//! `qemu-X.Y.Z/share/qemu/` (the layout of `../shared/qemu/`, and what
//! `meson install` gives under `--prefix=/qemu-X.Y.Z`). It is unpacked into a
//! staging directory inside the data directory, checked (layout, the host's
//! ELF machine, the binary runs and reports its version, the version is new),
//! and only then renamed to `<data>/hvharness/qemu/<version>/`: the rename is
//! atomic on the same file system, so a failure at any step leaves nothing
//! behind but the staging directory, which is removed on every path.
//!
//! The registry finds installed prefixes by scanning that directory (see
//! [`installed_builds`]); a small metadata file in each says where it came
//! from. Unpacking uses the system `tar` (bounded by a timeout): GNU tar and
//! xz are on every Debian machine (setup.sh needs them too), tar reads every
//! compression the team may use, and it refuses members that climb out of the
//! target (`..`, absolute names) by default.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::registry::{self, Origin, QemuBuild, QemuRegistry};
use super::version::QemuVersion;

/// The metadata file in each installed prefix.
pub(crate) const METADATA: &str = "hvharness-install.toml";
const BINARY: &str = "qemu-system-riscv64";
const UNPACK_TIMEOUT: Duration = Duration::from_secs(300);
/// tar prints only errors; a flood of them is cut off.
const TAR_OUTPUT_LIMIT: u64 = 1 << 20;

/// Where an installed prefix came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct InstallInfo {
    /// The tarball it was unpacked from, or the QEMU repository it was
    /// built from (`qemu build --install`); absolute.
    pub(crate) from: PathBuf,
    /// For a build: the tag and commit built (`v9.2.0 (ae35f033b874)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) revision: Option<String>,
    /// Seconds since the Unix epoch at installation.
    pub(crate) installed_at: u64,
}

/// `$XDG_DATA_HOME/hvharness/qemu`, else `~/.local/share/hvharness/qemu`.
pub(crate) fn install_root() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("hvharness").join("qemu"))
}

/// The installed prefixes under `root` that run; broken ones are reported on
/// stderr and left out (a damaged install must not hide the others).
pub(crate) fn installed_builds(root: &Path) -> Vec<QemuBuild> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for prefix in entries.flatten().map(|e| e.path()) {
        // Staging and removal directories start with a dot.
        let hidden = prefix
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden || !prefix.join(METADATA).is_file() {
            continue;
        }
        match registry::probe(
            &prefix.join("bin").join(BINARY),
            Some(prefix.join("share/qemu")),
            Origin::Installed,
        ) {
            Ok(b) => out.push(b),
            Err(e) => eprintln!("hvharness: ignoring {}: {e:#}", prefix.display()),
        }
    }
    out
}

/// Where an installed build came from, read from its prefix's metadata.
pub(crate) fn info_of(build: &QemuBuild) -> Option<InstallInfo> {
    let prefix = build.binary.parent()?.parent()?;
    let text = std::fs::read_to_string(prefix.join(METADATA)).ok()?;
    toml::from_str(&text).ok()
}

/// Installs the prefix in `tarball`; `registry` is what is known already.
pub(crate) fn install(tarball: &Path, registry: &QemuRegistry) -> Result<QemuBuild> {
    let tarball = tarball
        .canonicalize()
        .with_context(|| format!("{} does not exist", tarball.display()))?;
    let staging = staging_dir()?;
    unpack(&tarball, staging.path())?;
    let prefix = find_prefix(staging.path(), &tarball)?;
    let info = InstallInfo {
        from: tarball.clone(),
        revision: None,
        installed_at: now(),
    };
    install_prefix(&prefix, &tarball.display().to_string(), info, registry)
}

/// A staging directory inside the install root (same file system as the
/// destination, so the final rename is atomic); removed when dropped,
/// whatever happens meanwhile.
pub(crate) fn staging_dir() -> Result<tempfile::TempDir> {
    let root = install_root().context("no data directory: set XDG_DATA_HOME or HOME")?;
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    tempfile::Builder::new()
        .prefix(".install-")
        .tempdir_in(&root)
        .with_context(|| format!("creating a staging directory in {}", root.display()))
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Installs `prefix` (`qemu-X.Y.Z/` in a [`staging_dir`]) after the checks
/// every install gets; `what` names its origin in errors.
pub(crate) fn install_prefix(
    prefix: &Path,
    what: &str,
    info: InstallInfo,
    registry: &QemuRegistry,
) -> Result<QemuBuild> {
    let root = install_root().context("no data directory: set XDG_DATA_HOME or HOME")?;
    let binary = prefix.join("bin").join(BINARY);
    check_machine(&binary).with_context(|| format!("{what}: {BINARY}"))?;
    let probed = registry::probe(&binary, Some(prefix.join("share/qemu")), Origin::Installed)
        .with_context(|| {
            format!("{what}: its {BINARY} does not start (missing libraries? try ldd)")
        })?;
    let version = probed.version;
    if let Some(named) = named_version(prefix) {
        if named != version {
            bail!("{what}: the directory says QEMU {named} but the binary reports {version}");
        }
    }
    if let Some(known) = registry.get(version) {
        bail!(already_known(known));
    }
    let dest = root.join(version.to_string());
    if dest.exists() {
        bail!(
            "{} already exists: remove it with `hvharness qemu remove {version}` first",
            dest.display()
        );
    }
    let text = toml::to_string_pretty(&info).context("encoding the install metadata")?;
    std::fs::write(prefix.join(METADATA), text).context("writing the install metadata")?;
    std::fs::rename(prefix, &dest)
        .with_context(|| format!("moving the prefix to {}", dest.display()))?;
    Ok(QemuBuild {
        version,
        binary: dest.join("bin").join(BINARY),
        data_dir: Some(dest.join("share/qemu")),
        origin: Origin::Installed,
    })
}

/// Removes an installed version; other origins are refused with the reason.
pub(crate) fn remove(version: QemuVersion, registry: &QemuRegistry) -> Result<PathBuf> {
    let root = install_root().context("no data directory: set XDG_DATA_HOME or HOME")?;
    let dir = root.join(version.to_string());
    if !dir.join(METADATA).is_file() {
        let installed: Vec<String> = registry
            .builds()
            .iter()
            .filter(|b| b.origin == Origin::Installed)
            .map(|b| b.version.to_string())
            .collect();
        let installed = if installed.is_empty() {
            "none".to_string()
        } else {
            installed.join(", ")
        };
        let other = match registry.get(version) {
            Some(b) => format!(
                " QEMU {version} here is {} ({}); `qemu remove` only removes what `qemu install` put in {}.",
                b.binary.display(),
                origin_name(b.origin),
                root.display()
            ),
            None => String::new(),
        };
        bail!(
            "QEMU {version} is not installed in {} (installed: {installed}).{other}",
            root.display()
        );
    }
    // Out of the scanned names first, so a removal cut short leaves no half prefix.
    let doomed = root.join(format!(".remove-{version}-{}", std::process::id()));
    std::fs::rename(&dir, &doomed).with_context(|| format!("moving {} aside", dir.display()))?;
    std::fs::remove_dir_all(&doomed).with_context(|| format!("removing {}", doomed.display()))?;
    Ok(dir)
}

fn origin_name(origin: Origin) -> &'static str {
    match origin {
        Origin::Project => "the project's .qemu, from scripts/setup.sh",
        Origin::Installed => "installed with `hvharness qemu install`",
        Origin::Registered => "registered with `hvharness qemu add` or HVHARNESS_QEMU",
        Origin::Path => "qemu-system-riscv64 on PATH",
    }
}

fn already_known(b: &QemuBuild) -> String {
    let undo = match b.origin {
        Origin::Installed => format!(
            "; `hvharness qemu remove {}` first to replace it",
            b.version
        ),
        _ => String::new(),
    };
    format!(
        "QEMU {} is already registered: {} ({}){undo}",
        b.version,
        b.binary.display(),
        origin_name(b.origin)
    )
}

/// `tar -xf TARBALL -C DIR`, bounded; tar's own message on failure.
fn unpack(tarball: &Path, dir: &Path) -> Result<()> {
    let mut cmd = Command::new("tar");
    cmd.arg("-xf")
        .arg(tarball)
        .arg("-C")
        .arg(dir)
        .arg("--no-same-owner");
    let out = match crate::child::output_bounded(cmd, UNPACK_TIMEOUT, TAR_OUTPUT_LIMIT) {
        Ok(out) => out,
        Err(crate::child::ChildError::Spawn(e)) => {
            bail!("running tar: {e} (is GNU tar installed?)")
        }
        Err(crate::child::ChildError::Timeout(_)) => bail!(
            "unpacking {} took longer than {} s",
            tarball.display(),
            UNPACK_TIMEOUT.as_secs()
        ),
        Err(e) => bail!("unpacking {}: tar {e}", tarball.display()),
    };
    if !out.status.success() {
        bail!(
            "{} is not a readable tarball: tar {}: {}",
            tarball.display(),
            out.status,
            out.stderr.trim()
        );
    }
    Ok(())
}

/// The one `qemu-*` directory with `bin/qemu-system-riscv64` and `share/qemu/`.
fn find_prefix(staging: &Path, tarball: &Path) -> Result<PathBuf> {
    let layout = "expected qemu-X.Y.Z/bin/qemu-system-riscv64 and qemu-X.Y.Z/share/qemu/";
    let top: Vec<PathBuf> = std::fs::read_dir(staging)
        .context("reading the unpacked tarball")?
        .flatten()
        .map(|e| e.path())
        .collect();
    let names: Vec<String> = top
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    let [prefix] = top.as_slice() else {
        bail!(
            "{} is not a QEMU prefix: {layout}, found {}",
            tarball.display(),
            list_or_nothing(&names)
        );
    };
    let named = prefix
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("qemu-"));
    let binary = prefix.join("bin").join(BINARY);
    // symlink_metadata: the binary must be a file of the tarball, not a link out of it.
    let is_file = std::fs::symlink_metadata(&binary).is_ok_and(|m| m.is_file());
    if !named || !is_file || !prefix.join("share/qemu").is_dir() {
        bail!(
            "{} is not a QEMU prefix: {layout}, found {}",
            tarball.display(),
            list_or_nothing(&names)
        );
    }
    Ok(prefix.clone())
}

fn list_or_nothing(names: &[String]) -> String {
    if names.is_empty() {
        "nothing".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("{n}/"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `qemu-9.2.0` -> 9.2.0, when the directory names a version.
fn named_version(prefix: &Path) -> Option<QemuVersion> {
    prefix
        .file_name()?
        .to_string_lossy()
        .strip_prefix("qemu-")?
        .parse()
        .ok()
}

/// Refuses a binary built for another machine than this host's.
fn check_machine(binary: &Path) -> Result<()> {
    use std::io::Read;
    let mut header = [0u8; 20];
    let mut f = std::fs::File::open(binary).context("opening")?;
    let n = f.read(&mut header).context("reading")?;
    let machine = elf_machine(&header[..n]).context("not an ELF executable")?;
    let host = host_machine();
    if Some(machine) != host {
        bail!(
            "built for {} but this machine is {}: install a build for {}",
            machine_name(machine),
            std::env::consts::ARCH,
            std::env::consts::ARCH
        );
    }
    Ok(())
}

/// e_machine of an ELF header (either byte order).
fn elf_machine(header: &[u8]) -> Option<u16> {
    if header.len() < 20 || &header[..4] != b"\x7fELF" {
        return None;
    }
    let bytes = [header[18], header[19]];
    match header[5] {
        1 => Some(u16::from_le_bytes(bytes)),
        2 => Some(u16::from_be_bytes(bytes)),
        _ => None,
    }
}

const EM_386: u16 = 3;
const EM_ARM: u16 = 40;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
const EM_RISCV: u16 = 243;

fn host_machine() -> Option<u16> {
    match std::env::consts::ARCH {
        "x86_64" => Some(EM_X86_64),
        "aarch64" => Some(EM_AARCH64),
        "riscv64" => Some(EM_RISCV),
        "x86" => Some(EM_386),
        "arm" => Some(EM_ARM),
        _ => None,
    }
}

fn machine_name(machine: u16) -> String {
    match machine {
        EM_386 => "x86".into(),
        EM_ARM => "arm".into(),
        EM_X86_64 => "x86_64".into(),
        EM_AARCH64 => "aarch64".into(),
        EM_RISCV => "riscv".into(),
        other => format!("ELF machine {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_machine_of_headers() {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(b"\x7fELF");
        h[5] = 1;
        h[18] = 62;
        assert_eq!(elf_machine(&h), Some(EM_X86_64));
        h[5] = 2;
        h[18] = 0;
        h[19] = 243;
        assert_eq!(elf_machine(&h), Some(EM_RISCV));
        assert_eq!(elf_machine(b"#!/bin/sh\nexit 0\n"), None);
        assert_eq!(elf_machine(&h[..10]), None);
    }

    #[test]
    fn this_test_binary_is_for_the_host() {
        let me = std::env::current_exe().unwrap();
        check_machine(&me).unwrap();
    }

    #[test]
    fn prefix_names() {
        assert_eq!(
            named_version(Path::new("/x/qemu-9.2.0")),
            Some(QemuVersion::new(9, 2, 0))
        );
        assert_eq!(named_version(Path::new("/x/qemu-master")), None);
    }
}
