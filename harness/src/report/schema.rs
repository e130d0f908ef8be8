//! The result file: what `run --json` and `matrix --json` print and what
//! `report merge`, `report html` and `--junit` read.
//!
//! Versioned by its `schema` field ([`SCHEMA`]); the JSON Schema that
//! documents every field is `schemas/results-v1.schema.json` in the
//! repository, checked against real output by `tests/report_files.rs`. A
//! change that breaks a reader of version 1 gets a new version.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::kept::Kept;
use super::view::RunRecord;
use crate::diagnosis::FaultReport;
use crate::runner::{RunReport, Verdict};

/// The value of the `schema` field this hvharness writes and reads.
pub const SCHEMA: &str = "hvharness-results/1";

/// A whole matrix, one shard of it, or several shards merged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultFile {
    /// Always [`SCHEMA`].
    pub(crate) schema: String,
    /// The shard that produced the file (`"1/2"`); absent for a whole or merged matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// One entry per scenario and QEMU version, skipped ones included.
    pub cells: Vec<Cell>,
}

/// How a cell ended, in the words CI systems use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    /// It ran and did what the scenario expects for that version.
    Passed,
    /// It ran and did not; `reason` says how.
    Failed,
    /// It ran, but the scenario states nothing for that version.
    NoExpectation,
    /// It did not run (the scenario does not apply to that version); `reason` says why.
    Skipped,
    /// The harness could not run it (QEMU did not start, ...); `reason` is the error.
    Error,
}

impl CellStatus {
    /// One word for tables and the HTML grid.
    pub(crate) fn word(self) -> &'static str {
        match self {
            CellStatus::Passed => "pass",
            CellStatus::Failed => "FAIL",
            CellStatus::NoExpectation => "no expectation",
            CellStatus::Skipped => "skipped",
            CellStatus::Error => "ERROR",
        }
    }
}

/// One scenario on one QEMU version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    /// The scenario's name (its file name without `.toml`).
    pub scenario: String,
    /// The QEMU version, `major.minor.patch`.
    pub qemu: String,
    pub status: CellStatus,
    /// Why it failed, was skipped or errored; absent when it passed.
    #[serde(default)]
    pub reason: Option<String>,
    /// Wall time of the run; absent for skipped cells and errors.
    #[serde(default)]
    pub duration_secs: Option<f64>,
    /// The full run report; absent for skipped cells and errors.
    #[serde(default)]
    pub run: Option<RunRecord>,
    /// The diagnosis of a hang, when one was asked for (`matrix --diagnose`).
    #[serde(default)]
    pub(crate) diagnosis: Option<DiagnosisEntry>,
}

/// A diagnosis as text (as `hvharness diagnose` prints it) and as data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DiagnosisEntry {
    pub(crate) text: String,
    /// The faults explained, as `hvharness diagnose --json` gives them, read
    /// back as the diagnosis's own types.
    pub(crate) faults: Kept<Vec<FaultReport>>,
}

impl DiagnosisEntry {
    /// The entry of a diagnosis rendered as `text`, with its faults.
    pub(crate) fn new(text: String, faults: Vec<FaultReport>) -> Result<DiagnosisEntry> {
        Ok(DiagnosisEntry {
            text,
            faults: Kept::new(faults).context("encoding the diagnosis")?,
        })
    }
}

impl Cell {
    /// The cell of a finished run.
    pub(crate) fn from_run(r: &RunReport) -> Result<Cell> {
        let (status, reason) = match &r.verdict {
            Verdict::AsExpected => (CellStatus::Passed, None),
            Verdict::Unexpected(why) => (CellStatus::Failed, Some(why.clone())),
            Verdict::NoExpectation => (
                CellStatus::NoExpectation,
                Some(format!(
                    "the scenario states nothing for QEMU {}; it {}",
                    r.qemu,
                    r.observed.class()
                )),
            ),
        };
        Ok(Cell {
            scenario: r.scenario.clone(),
            qemu: r.qemu.to_string(),
            status,
            reason,
            duration_secs: Some(r.duration_secs),
            run: Some(RunRecord::of(r)?),
            diagnosis: None,
        })
    }

    /// A cell that did not run, and why.
    pub fn not_run(
        scenario: &str,
        qemu: impl ToString,
        status: CellStatus,
        reason: String,
    ) -> Cell {
        Cell {
            scenario: scenario.to_string(),
            qemu: qemu.to_string(),
            status,
            reason: Some(reason),
            duration_secs: None,
            run: None,
            diagnosis: None,
        }
    }

    /// `scenario@qemu`, the cell's identity across shards and files.
    pub fn key(&self) -> String {
        format!("{}@{}", self.scenario, self.qemu)
    }

    /// The version, for ordering (unparsable ones sort first).
    pub(crate) fn version(&self) -> crate::qemu::QemuVersion {
        self.qemu.parse().unwrap_or(crate::qemu::QemuVersion {
            major: 0,
            minor: 0,
            patch: 0,
        })
    }
}

impl ResultFile {
    /// A file of the current schema.
    pub fn new(shard: Option<String>, cells: Vec<Cell>) -> ResultFile {
        ResultFile {
            schema: SCHEMA.to_string(),
            shard,
            cells,
        }
    }

    /// Reads and checks a result file; errors name the file.
    pub fn read(path: &Path) -> Result<ResultFile> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text)
            .with_context(|| format!("{} is not an hvharness result file", path.display()))
    }

    /// Parses a result file's text, checking its schema first so that a
    /// file of another version says so instead of failing on a field.
    pub fn parse(text: &str) -> Result<ResultFile> {
        let value: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
        match value.get("schema").and_then(|s| s.as_str()) {
            Some(SCHEMA) => {}
            Some(other) => anyhow::bail!("its schema is {other}; this hvharness reads {SCHEMA}"),
            None if value.is_array() => {
                anyhow::bail!(
                    "it has no schema field (written before {SCHEMA}?); run the matrix again"
                )
            }
            None => anyhow::bail!("it has no schema field; expected \"schema\": \"{SCHEMA}\""),
        }
        serde_json::from_value(value).context("a field does not match the schema")
    }

    /// Writes the file (pretty-printed JSON).
    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_json()?).with_context(|| format!("writing {}", path.display()))
    }

    /// The file's text.
    pub(crate) fn to_json(&self) -> Result<String> {
        let mut s = serde_json::to_string_pretty(self).context("encoding the result file")?;
        s.push('\n');
        Ok(s)
    }

    /// Cells in reading order: by scenario, then QEMU version.
    pub fn sorted_cells(&self) -> Vec<&Cell> {
        let mut cells: Vec<&Cell> = self.cells.iter().collect();
        cells.sort_by(|a, b| (&a.scenario, a.version()).cmp(&(&b.scenario, b.version())));
        cells
    }

    /// The scenarios, in order, each once.
    pub fn scenarios(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.cells.iter().map(|c| c.scenario.as_str()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The QEMU versions, oldest first, each once.
    pub(crate) fn versions(&self) -> Vec<&str> {
        let mut v: Vec<&Cell> = self.cells.iter().collect();
        v.sort_by_key(|c| c.version());
        let mut out: Vec<&str> = v.iter().map(|c| c.qemu.as_str()).collect();
        out.dedup();
        out
    }

    /// The cell of `scenario` on `qemu`.
    pub(crate) fn cell(&self, scenario: &str, qemu: &str) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.scenario == scenario && c.qemu == qemu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_schema_is_named() {
        let e = ResultFile::parse(r#"{"schema":"hvharness-results/9","cells":[]}"#).unwrap_err();
        assert!(format!("{e:#}").contains("hvharness-results/9"), "{e:#}");
        let e = ResultFile::parse("[]").unwrap_err();
        assert!(format!("{e:#}").contains("no schema field"), "{e:#}");
    }

    #[test]
    fn round_trip() {
        let f = ResultFile::new(
            Some("1/2".into()),
            vec![Cell::not_run(
                "s",
                "9.2.0",
                CellStatus::Skipped,
                "not for 9.x".into(),
            )],
        );
        let back = ResultFile::parse(&f.to_json().unwrap()).unwrap();
        assert_eq!(back.cells[0].key(), "s@9.2.0");
        assert_eq!(back.cells[0].status, CellStatus::Skipped);
        assert_eq!(back.shard.as_deref(), Some("1/2"));
    }

    /// A diagnosis's faults read back as the diagnosis types, and the file
    /// writes them back byte for byte.
    #[test]
    fn diagnosis_faults_read_back_typed() {
        use crate::diagnosis::{FaultContext, FaultReport, Finding, TrapTarget};
        use crate::riscv::{Cause, Level, PrivilegeLevel};
        let context = FaultContext {
            hart: 1,
            from: PrivilegeLevel {
                level: Level::Supervisor,
                virt: Some(true),
            },
            to: TrapTarget::HS,
            cause: Cause::exception(12),
            epc: 0x8020_05da,
            tval: 0x8020_05da,
            htval: Some(0),
            htinst: None,
            epc_place: Some("guest:kvminithart+0x1e".into()),
            sbi_calls_after: 0,
            csrs: [("henvcfg".to_string(), 0x8000_0000_0000_0000)].into(),
        };
        let fault = FaultReport {
            cause_name: context.cause.to_string(),
            context,
            backtrace: vec!["guest:kvminithart+0x1e".into()],
            walk: vec![],
            findings: vec![Finding {
                rule: "adue".into(),
                summary: "A=0".into(),
                details: vec!["henvcfg.ADUE=0".into()],
                fix: Some("Set henvcfg bit 61".into()),
            }],
            console: vec![],
            qemu: None,
            notes: vec![],
        };
        let mut cell = Cell::not_run("s", "9.2.0", CellStatus::Failed, "hung".into());
        cell.diagnosis = Some(DiagnosisEntry::new("text".into(), vec![fault]).unwrap());
        let written = ResultFile::new(None, vec![cell]).to_json().unwrap();
        let back = ResultFile::parse(&written).unwrap();
        let faults = back.cells[0].diagnosis.as_ref().unwrap().faults.typed();
        assert_eq!(faults[0].context.cause.code, 12);
        assert_eq!(faults[0].context.from.virt, Some(true));
        assert_eq!(
            faults[0].findings[0].fix.as_deref(),
            Some("Set henvcfg bit 61")
        );
        assert_eq!(back.to_json().unwrap(), written);
    }
}
