//! `hvharness qemu list`, `add`, `install`, `build` and `remove`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use crate::qemu::{install, registry, QemuVersion};

/// Prints every known QEMU build.
pub(crate) fn list(root: Option<&Path>, json: bool) -> Result<ExitCode> {
    let reg = super::discover_registry(root);
    if json {
        let mut rows = Vec::new();
        for b in reg.builds() {
            let mut row = serde_json::to_value(b)?;
            if let Some(info) =
                install::info_of(b).filter(|_| b.origin == registry::Origin::Installed)
            {
                row["from"] = serde_json::to_value(&info.from)?;
            }
            rows.push(row);
        }
        crate::outln!("{}", serde_json::to_string_pretty(&rows)?);
    } else if reg.builds().is_empty() {
        crate::outln!("{}", registry::none_known());
    } else {
        crate::outln!("{:<9} {:<11} binary (firmware dir)", "version", "origin");
        for b in reg.builds() {
            let data = b
                .data_dir
                .as_ref()
                .map(|d| format!(" (-L {})", d.display()))
                .unwrap_or_default();
            let from = match install::info_of(b).filter(|_| b.origin == registry::Origin::Installed)
            {
                Some(info) => format!(
                    ", from {}{}",
                    info.from.display(),
                    info.revision
                        .map(|r| format!(" at {r}"))
                        .unwrap_or_default()
                ),
                None => String::new(),
            };
            crate::outln!(
                "{:<9} {:<11} {}{data}{from}",
                b.version.to_string(),
                b.origin,
                b.binary.display()
            );
        }
        // Registered ones are warned about on stderr by every command.
        for s in reg
            .shadowed()
            .iter()
            .filter(|s| s.build.origin != registry::Origin::Registered)
        {
            println!("warning: {s}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Registers a binary in the config file.
pub(crate) fn add(binary: &Path, data_dir: Option<PathBuf>) -> Result<ExitCode> {
    let b = registry::register(binary, data_dir)?;
    crate::outln!(
        "registered QEMU {} at {} (in {})",
        b.version,
        b.binary.display(),
        registry::config_path()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// Installs a prefix tarball into the data directory.
pub(crate) fn install(tarball: &Path, root: Option<&Path>) -> Result<ExitCode> {
    let reg = super::discover_registry(root);
    eprintln!("unpacking {} ...", tarball.display());
    let b = install::install(tarball, &reg)?;
    crate::outln!(
        "installed QEMU {} at {} (from {})",
        b.version,
        b.binary.display(),
        tarball.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Removes a version installed with `install`.
pub(crate) fn remove(version: QemuVersion, root: Option<&Path>) -> Result<ExitCode> {
    let reg = super::discover_registry(root);
    let dir = install::remove(version, &reg)?;
    crate::outln!("removed QEMU {version} ({})", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// Builds QEMU at a release tag; installs and/or packs it.
pub(crate) async fn build(
    options: &crate::bisect::qemu::release::Options,
    root: Option<&Path>,
) -> Result<ExitCode> {
    let reg = super::discover_registry(root);
    eprintln!(
        "hvharness: building QEMU {} from {} (build directory {})",
        options.version,
        options.source.display(),
        options.build_dir.display()
    );
    let r = crate::bisect::qemu::release::build(options, &reg, &mut |line| {
        eprintln!("hvharness: {line}")
    })
    .await?;
    crate::outln!(
        "built QEMU {} at {} ({} {}) in {:.0} s ({}): {}",
        r.version,
        r.tag,
        r.commit.short(),
        r.commit.subject,
        r.secs,
        crate::bisect::qemu::build::how_built(r.configured, r.work),
        r.binary.display()
    );
    if let Some(t) = &r.tarball {
        crate::outln!("packed {} (sha256 in {}.sha256)", t.display(), t.display());
    }
    match &r.installed {
        Some(b) => crate::outln!(
            "installed QEMU {} at {} (`hvharness qemu list` shows it)",
            b.version,
            b.binary.display()
        ),
        None => crate::outln!(
            "not installed: pass --install, or `hvharness qemu add {}`",
            r.binary.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}
