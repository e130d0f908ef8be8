//! `hvharness report merge`: shards' result files into one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::schema::ResultFile;

/// Why files cannot be merged; every message names the files.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MergeError {
    /// A cell appears in two files (the same shard given twice, or shards of different splits).
    #[error("cell {cell} is in both {} and {}: each cell must come from one shard", first.display(), second.display())]
    Duplicate {
        cell: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// A file is not a result file of this schema (the reason names it).
    #[error("{reason}")]
    Unreadable { path: PathBuf, reason: String },
}

/// Reads every file and combines their cells, sorted by scenario and version.
pub(crate) fn merge_files(paths: &[PathBuf]) -> Result<ResultFile, MergeError> {
    let mut files = Vec::new();
    for p in paths {
        let f = ResultFile::read(p).map_err(|e| MergeError::Unreadable {
            path: p.clone(),
            reason: format!("{e:#}"),
        })?;
        files.push((p.as_path(), f));
    }
    merge(&files)
}

/// Combines already-read files; `path` of each is for the messages.
pub(crate) fn merge(files: &[(&Path, ResultFile)]) -> Result<ResultFile, MergeError> {
    let mut seen: HashMap<String, &Path> = HashMap::new();
    let mut cells = Vec::new();
    for (path, f) in files {
        for c in &f.cells {
            if let Some(first) = seen.insert(c.key(), path) {
                return Err(MergeError::Duplicate {
                    cell: c.key(),
                    first: first.to_path_buf(),
                    second: path.to_path_buf(),
                });
            }
            cells.push(c.clone());
        }
    }
    cells.sort_by(|a, b| (&a.scenario, a.version()).cmp(&(&b.scenario, b.version())));
    Ok(ResultFile::new(None, cells))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::schema::{Cell, CellStatus};

    fn file(cells: &[(&str, &str)]) -> ResultFile {
        ResultFile::new(
            None,
            cells
                .iter()
                .map(|(s, q)| Cell::not_run(s, q, CellStatus::Skipped, "x".into()))
                .collect(),
        )
    }

    #[test]
    fn duplicate_names_both_files() {
        let a = (
            Path::new("a.json"),
            file(&[("s", "7.2.22"), ("s", "10.0.2")]),
        );
        let b = (Path::new("b.json"), file(&[("s", "10.0.2")]));
        let e = merge(&[a, b]).unwrap_err().to_string();
        assert!(
            e.contains("s@10.0.2") && e.contains("a.json") && e.contains("b.json"),
            "{e}"
        );
    }

    #[test]
    fn cells_sorted_by_version_not_text() {
        let a = (Path::new("a.json"), file(&[("s", "10.0.2")]));
        let b = (Path::new("b.json"), file(&[("s", "7.2.22")]));
        let m = merge(&[a, b]).unwrap();
        let keys: Vec<String> = m.cells.iter().map(|c| c.key()).collect();
        assert_eq!(keys, ["s@7.2.22", "s@10.0.2"]);
    }

    #[test]
    fn schema_mismatch_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        let old = dir.path().join("old.json");
        file(&[("s", "7.2.22")]).write(&good).unwrap();
        std::fs::write(&old, r#"{"schema":"hvharness-results/0","cells":[]}"#).unwrap();
        let e = merge_files(&[good, old.clone()]).unwrap_err().to_string();
        assert!(
            e.contains(&old.display().to_string()) && e.contains("hvharness-results/0"),
            "{e}"
        );
    }
}
