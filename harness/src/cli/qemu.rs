//! `hvharness qemu list` and `hvharness qemu add`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use crate::qemu::{registry, QemuRegistry};

/// Prints every known QEMU build.
pub fn list(root: Option<&Path>, json: bool) -> Result<ExitCode> {
    let reg = QemuRegistry::discover(root);
    if json {
        println!("{}", serde_json::to_string_pretty(reg.builds())?);
    } else if reg.builds().is_empty() {
        println!("no QEMU known. Run scripts/setup.sh, or: {}", registry::how_to_register("X.Y.Z"));
    } else {
        println!("{:<9} {:<11} binary (firmware dir)", "version", "origin");
        for b in reg.builds() {
            let data = b.data_dir.as_ref().map(|d| format!(" (-L {})", d.display())).unwrap_or_default();
            println!(
                "{:<9} {:<11} {}{data}",
                b.version.to_string(),
                format!("{:?}", b.origin).to_lowercase(),
                b.binary.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Registers a binary in the config file.
pub fn add(binary: &Path, data_dir: Option<PathBuf>) -> Result<ExitCode> {
    let b = registry::register(binary, data_dir)?;
    println!(
        "registered QEMU {} at {} (in {})",
        b.version,
        b.binary.display(),
        registry::config_path().map(|p| p.display().to_string()).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}
