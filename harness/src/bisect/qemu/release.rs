//! `hvharness qemu build VERSION --source DIR`: the bisection's builder at
//! the release tag `vVERSION`, in a persistent build directory of its own,
//! made a prefix the registry knows (`--install`: `qemu-X.Y.Z/bin/` and
//! `share/qemu/` under the install root, as `qemu install` puts a tarball)
//! and/or the tarball `scripts/setup.sh` takes (`--pack DIR`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::build::Built;
use super::git::{CommitInfo, Repo};
use crate::qemu::install::{self, InstallInfo};
use crate::qemu::registry::{probe, Origin, QemuBuild, QemuRegistry};
use crate::qemu::QemuVersion;

/// What to build and what to make of it.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) version: QemuVersion,
    /// The user's QEMU repository (it must have the tag `vVERSION`).
    pub(crate) source: PathBuf,
    pub(crate) build_dir: PathBuf,
    /// Replaces configure + ninja, as for `bisect qemu`.
    pub(crate) build_cmd: Option<String>,
    pub(crate) build_timeout: Duration,
    pub(crate) subprojects: Option<PathBuf>,
    /// Install the prefix into the install root.
    pub(crate) install: bool,
    /// Write the prefix tarball (and its .sha256) into this directory.
    pub(crate) pack: Option<PathBuf>,
}

/// What a `qemu build` made.
#[derive(Debug)]
pub(crate) struct Release {
    pub(crate) version: QemuVersion,
    pub(crate) tag: String,
    pub(crate) commit: CommitInfo,
    /// The binary in the build directory.
    pub(crate) binary: PathBuf,
    pub(crate) secs: f64,
    pub(crate) configured: bool,
    /// What ninja did (none for a `--build-cmd` that is not ninja).
    pub(crate) work: Option<super::ninja_work::NinjaWork>,
    pub(crate) installed: Option<QemuBuild>,
    pub(crate) tarball: Option<PathBuf>,
}

/// The firmware the virt machine and the usual network cards load.
const OPENSBI: &str = "opensbi-riscv64-generic-fw_dynamic.bin";
fn is_firmware(name: &str) -> bool {
    name.starts_with("opensbi-riscv") || name == "efi-virtio.rom" || name == "efi-e1000e.rom"
}

/// Packing (xz of a stripped binary) and stripping are bounded too.
const PACK_TIMEOUT: Duration = Duration::from_secs(900);

/// Builds QEMU at `vVERSION` and installs and/or packs it.
pub(crate) async fn build(
    opts: &Options,
    registry: &QemuRegistry,
    progress: &mut dyn FnMut(String),
) -> Result<Release> {
    let repo = Repo::open(&opts.source)?;
    let tag = format!("v{}", opts.version);
    let hash = repo.resolve(&tag).with_context(|| {
        format!(
            "{} has no tag {tag}: fetch it (git -C {} fetch origin tag {tag})",
            repo.dir.display(),
            repo.dir.display()
        )
    })?;
    if opts.install {
        // Before a build of minutes, not after.
        if let Some(known) = registry.get(opts.version) {
            bail!(
                "QEMU {} is already known: {} ({}); remove it first, or build with --pack only",
                opts.version,
                known.binary.display(),
                known.origin
            );
        }
    }
    if opts.build_cmd.is_none() {
        super::deps::check()?;
    }
    let commit = repo.info(&hash)?;
    let (dir, _lock) = super::open_build_dir(&opts.build_dir)?;
    let spec = super::build_spec(
        opts.build_cmd.clone(),
        opts.build_timeout,
        opts.subprojects.clone(),
        &repo,
        progress,
    );
    let wt = super::open_worktree(&repo, &dir, &hash, progress)?;
    {
        let _say = crate::signals::say_when_interrupted(format!(
            "interrupted during the checkout of {tag}"
        ));
        wt.checkout(&hash)?;
    }
    progress(format!(
        "building QEMU {tag} ({} {})",
        commit.short(),
        commit.subject
    ));
    let started = Instant::now();
    let built =
        super::build_in_background(spec, dir.clone(), wt.path().to_path_buf(), &hash).await?;
    let (binary, data_dir, configured, work) = match built {
        Built::Ok {
            binary,
            data_dir,
            configured,
            work,
            ..
        } => (binary, data_dir, configured, work),
        Built::Failed {
            reason, tail, log, ..
        } => bail!(
            "QEMU {tag} ({}) did not build: {reason}. Log: {}; its tail:\n{tail}",
            commit.short(),
            log.display()
        ),
    };
    let secs = started.elapsed().as_secs_f64();
    let built = probe(&binary, data_dir.clone(), Origin::Registered)
        .with_context(|| format!("the QEMU built at {tag} does not run"))?;
    if built.version != opts.version {
        bail!(
            "the QEMU built at {tag} reports version {}, not {}",
            built.version,
            opts.version
        );
    }
    let data_dir = data_dir.with_context(|| {
        format!("the build of {tag} left no {OPENSBI} in the build's or the tree's pc-bios/")
    })?;
    progress(format!("built QEMU {} in {secs:.0} s", opts.version));
    let mut release = Release {
        version: opts.version,
        tag: tag.clone(),
        commit,
        binary: binary.clone(),
        secs,
        configured,
        work,
        installed: None,
        tarball: None,
    };
    if opts.install {
        let staging = install::staging_dir()?;
        let prefix = stage_prefix(staging.path(), opts.version, &binary, &data_dir)?;
        if let Some(out) = &opts.pack {
            release.tarball = Some(pack(&prefix, out, progress)?);
        }
        let info = InstallInfo {
            from: repo.dir.clone(),
            revision: Some(format!("{tag} ({})", release.commit.short())),
            installed_at: install::now(),
        };
        let what = format!("the build of {tag}");
        release.installed = Some(install::install_prefix(&prefix, &what, info, registry)?);
    } else if let Some(out) = &opts.pack {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let staging = tempfile::Builder::new()
            .prefix(".pack-")
            .tempdir_in(out)
            .with_context(|| format!("creating a staging directory in {}", out.display()))?;
        let prefix = stage_prefix(staging.path(), opts.version, &binary, &data_dir)?;
        release.tarball = Some(pack(&prefix, out, progress)?);
    }
    Ok(release)
}

/// Lays out `parent/qemu-X.Y.Z/bin/qemu-system-riscv64` (a copy, stripped
/// when `strip` is there) and `share/qemu/` with the RISC-V firmware.
fn stage_prefix(
    parent: &Path,
    version: QemuVersion,
    binary: &Path,
    data_dir: &Path,
) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let prefix = parent.join(format!("qemu-{version}"));
    let bin = prefix.join("bin");
    let share = prefix.join("share/qemu");
    for d in [&bin, &share] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let dest = bin.join(super::build::BINARY);
    // fs::copy follows links: a --build-cmd may leave one.
    std::fs::copy(binary, &dest)
        .with_context(|| format!("copying {} to {}", binary.display(), dest.display()))?;
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", dest.display()))?;
    strip(&dest);
    let entries =
        std::fs::read_dir(data_dir).with_context(|| format!("reading {}", data_dir.display()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !is_firmware(&name) {
            continue;
        }
        std::fs::copy(e.path(), share.join(&name))
            .with_context(|| format!("copying {}", e.path().display()))?;
    }
    Ok(prefix)
}

/// Strips the binary's debug information when binutils' `strip` is on
/// PATH (the prefix shrinks several-fold); an unstripped one works the same.
fn strip(binary: &Path) {
    let mut cmd = Command::new("strip");
    cmd.arg(binary);
    let _ = crate::child::output_bounded(cmd, PACK_TIMEOUT, 1 << 20);
}

/// `qemu-X.Y.Z-riscv64-<os><version>-<arch>.tar.xz` of `prefix` in `out`,
/// with `<tarball>.sha256` beside it (what setup.sh checks).
fn pack(prefix: &Path, out: &Path, progress: &mut dyn FnMut(String)) -> Result<PathBuf> {
    let name = prefix
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .context("the prefix's name")?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let out = out.canonicalize().context("the --pack directory")?;
    let tarball = out.join(format!(
        "{name}-riscv64-{}-{}.tar.xz",
        os_tag(),
        std::env::consts::ARCH
    ));
    progress(format!("packing {} ...", tarball.display()));
    let parent = prefix.parent().context("the prefix's parent")?;
    let mut tar = Command::new("tar");
    tar.arg("-cJf")
        .arg(&tarball)
        .arg("-C")
        .arg(parent)
        .arg("--owner=0")
        .arg("--group=0")
        .arg(&name);
    run_tool(tar, "tar")?;
    let mut sum = Command::new("sha256sum");
    sum.arg(tarball.file_name().context("the tarball's name")?)
        .current_dir(&out);
    let line = run_tool(sum, "sha256sum")?;
    let sums = tarball.with_extension("xz.sha256");
    std::fs::write(&sums, line).with_context(|| format!("writing {}", sums.display()))?;
    Ok(tarball)
}

/// Runs a packing tool, bounded; its stdout, or an error with its stderr.
fn run_tool(cmd: Command, name: &str) -> Result<String> {
    match crate::child::output_bounded(cmd, PACK_TIMEOUT, 1 << 20) {
        Ok(o) if o.status.success() => Ok(o.stdout),
        Ok(o) => bail!("{name} failed ({}): {}", o.status, o.stderr.trim()),
        Err(crate::child::ChildError::Spawn(e)) => {
            bail!("cannot run {name}: {e} (is it installed?)")
        }
        Err(e) => bail!("{name}: {e}"),
    }
}

/// `debian12` from /etc/os-release (ID and the major VERSION_ID), else `linux`.
fn os_tag() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    os_tag_of(&text)
}

fn os_tag_of(os_release: &str) -> String {
    let field = |key: &str| {
        os_release.lines().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|v| v.strip_prefix('='))
                .map(|v| v.trim_matches('"').to_string())
        })
    };
    match (field("ID"), field("VERSION_ID")) {
        (Some(id), Some(v)) => format!("{id}{}", v.split('.').next().unwrap_or(&v)),
        (Some(id), None) => id,
        _ => "linux".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_tags_as_setup_names_the_tarballs() {
        let debian =
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nID=debian\n";
        assert_eq!(os_tag_of(debian), "debian12");
        assert_eq!(os_tag_of("ID=ubuntu\nVERSION_ID=\"24.04\"\n"), "ubuntu24");
        assert_eq!(os_tag_of(""), "linux");
    }

    #[test]
    fn only_riscv_firmware_goes_into_the_prefix() {
        assert!(is_firmware(OPENSBI));
        assert!(is_firmware("opensbi-riscv32-generic-fw_dynamic.bin"));
        assert!(is_firmware("efi-virtio.rom"));
        assert!(!is_firmware("bios-256k.bin"));
        assert!(!is_firmware("edk2-x86_64-code.fd.bz2"));
    }
}
