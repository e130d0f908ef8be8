//! `hvharness diff`: two CSR snapshots, field by field.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::snapshot::{self, Snapshot};

/// Prints the differences; exit 1 when there are any (like diff(1)).
pub(crate) fn diff(old: &Path, new: &Path) -> Result<ExitCode> {
    let read = |p: &Path| -> Result<Snapshot> {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        Snapshot::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
    };
    let (a, b) = (read(old)?, read(new)?);
    let label = |s: &Snapshot, p: &Path| {
        s.header_value("qemu")
            .map(|q| format!("QEMU {q}"))
            .unwrap_or_else(|| p.display().to_string())
    };
    let changes = snapshot::diff(&a, &b);
    crate::out!(
        "{}",
        snapshot::render_diff(&label(&a, old), &label(&b, new), &changes)
    );
    Ok(if changes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
