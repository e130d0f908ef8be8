//! `hvharness report merge|html`: result files into one, JUnit and HTML.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use crate::report::{self, merge, ResultFile};

/// Merges shard files into `out`; JUnit and HTML of the merged file on request.
pub(crate) fn merge(
    inputs: &[PathBuf],
    out: &Path,
    junit: Option<&Path>,
    html: Option<&Path>,
) -> Result<ExitCode> {
    let merged = merge::merge_files(inputs)?;
    merged.write(out)?;
    eprintln!(
        "hvharness: {} cells from {} files into {}",
        merged.cells.len(),
        inputs.len(),
        out.display()
    );
    outputs(&merged, junit, html)?;
    Ok(ExitCode::SUCCESS)
}

/// The HTML report of one or more result files (several are merged first).
pub(crate) fn html(inputs: &[PathBuf], out: &Path, junit: Option<&Path>) -> Result<ExitCode> {
    let file = read_all(inputs)?;
    outputs(&file, junit, Some(out))?;
    Ok(ExitCode::SUCCESS)
}

fn read_all(inputs: &[PathBuf]) -> Result<ResultFile> {
    match inputs {
        [one] => ResultFile::read(one),
        many => Ok(merge::merge_files(many)?),
    }
}

fn outputs(file: &ResultFile, junit: Option<&Path>, html: Option<&Path>) -> Result<()> {
    if let Some(p) = junit {
        report::junit::write(file, p)?;
    }
    if let Some(p) = html {
        report::html::write(file, "hvharness matrix", p)?;
        eprintln!("hvharness: wrote {}", p.display());
    }
    Ok(())
}
