//! One traced run: the scenario with a breakpoint on each writer of the
//! CSRs asked for, booted on one QEMU, its stops turned into writes.

use anyhow::{Context, Result};
use serde::Serialize;

use crate::provenance::explain::field_names;
use crate::provenance::{CsrWriter, CsrWrites};
use crate::qemu::{QemuBuild, QemuVersion};
use crate::runner::{self, Observed, RunOptions};
use crate::scenario::Scenario;

/// What one traced run found.
#[derive(Debug, Clone, Serialize)]
pub struct CsrTrace {
    pub scenario: String,
    pub qemu: QemuVersion,
    /// Whether the boot finished (`booted`), or how it ended.
    pub observed: String,
    /// The writers, the writes that ran and the changes made elsewhere.
    #[serde(flatten)]
    pub writes: CsrWrites,
}

/// Boots `scenario` on `build` with the writers of `csrs` traced.
pub async fn trace(scenario: &Scenario, build: &QemuBuild, csrs: &[String]) -> Result<CsrTrace> {
    let options = RunOptions {
        keep_alive: false,
        trace_csrs: csrs.to_vec(),
    };
    let (report, _) = runner::run_with(scenario, build, &options)
        .await
        .with_context(|| format!("tracing {} on QEMU {}", scenario.name, build.version))?;
    let observed = match &report.observed {
        Observed::Booted => "booted".to_string(),
        Observed::Hung {
            console, missing, ..
        } => {
            format!("hung: {console} never printed /{missing}/")
        }
        Observed::Exited { console, missing } => {
            format!("QEMU exited before {console} printed /{missing}/")
        }
    };
    Ok(CsrTrace {
        scenario: scenario.name.clone(),
        qemu: build.version,
        observed,
        writes: report.csr_writes.unwrap_or_default(),
    })
}

impl std::fmt::Display for CsrTrace {
    /// The writers, then the timeline, then what changed elsewhere.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} on QEMU {} ({}):",
            self.scenario, self.qemu, self.observed
        )?;
        for csr in &self.writes.csrs {
            let writers: Vec<&CsrWriter> = self
                .writes
                .writers
                .iter()
                .filter(|w| &w.csr == csr)
                .collect();
            if writers.is_empty() {
                writeln!(f, "  {csr}: no instruction in the images writes it")?;
            } else {
                writeln!(f, "  {csr}: written by")?;
            }
            for w in writers {
                let symbol = w
                    .symbol
                    .as_deref()
                    .map(|s| format!(" ({}:{s})", w.space))
                    .unwrap_or_default();
                let fields = w.value.map(|v| field_names(csr, v)).unwrap_or_default();
                writeln!(
                    f,
                    "    {}{symbol}  `{}`  {}{fields}",
                    w.place(),
                    w.instruction,
                    w.operand_text()
                )?;
                if let Some(text) = &w.source_text {
                    writeln!(f, "        {text}")?;
                }
            }
        }
        let first = match self.writes.hits_per_writer {
            0 | 1 => "first".to_string(),
            n => format!("first {n}"),
        };
        if self.writes.writes.is_empty() {
            writeln!(f, "  writes: none ran")?;
        } else {
            writeln!(f, "  writes (per writer, the {first} on each hart):")?;
        }
        let hex = |v: Option<u64>| v.map_or_else(|| "?".to_string(), |v| format!("{v:#x}"));
        for w in &self.writes.writes {
            writeln!(
                f,
                "    {:7.3}s hart {} {:<2} {}  `{}`  {} {} -> {}  ({} = {}{})",
                w.at_secs,
                w.hart,
                w.privilege,
                w.place,
                w.instruction,
                w.csr,
                hex(w.before),
                hex(w.after),
                w.operand,
                hex(w.value),
                w.value.map(|v| field_names(&w.csr, v)).unwrap_or_default(),
            )?;
        }
        if !self.writes.unrecorded.is_empty() {
            writeln!(f, "  after the {first} on each hart:")?;
        }
        for u in &self.writes.unrecorded {
            writeln!(
                f,
                "    {}  `{}`  hart {}: {}",
                u.place,
                u.instruction,
                u.hart,
                u.text()
            )?;
        }
        for o in &self.writes.outside {
            writeln!(
                f,
                "  {} on hart {} changed {:#x} -> {:#x} before {}: written outside the images we know",
                o.csr, o.hart, o.was, o.became, o.seen_at
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provenance::{CountedUntil, UnrecordedHits};

    /// With more than one write recorded per writer, the heading says how
    /// many, and each writer's further hits follow, with until when.
    #[test]
    fn the_hits_beyond_the_recorded_ones_are_said_with_their_count() {
        let more = |hart, more, counted| UnrecordedHits {
            csr: "henvcfg".into(),
            place: "hart.c:51".into(),
            instruction: "csrs henvcfg, a5".into(),
            hart,
            recorded: 2,
            more,
            counted,
        };
        let trace = CsrTrace {
            scenario: "again".into(),
            qemu: QemuVersion::new(9, 2, 0),
            observed: "booted".into(),
            writes: CsrWrites {
                csrs: vec!["henvcfg".into()],
                hits_per_writer: 2,
                unrecorded: vec![
                    more(0, 1, CountedUntil::EndOfRun),
                    more(1, 0, CountedUntil::BreakpointRemoved),
                ],
                ..CsrWrites::default()
            },
        };
        let text = trace.to_string();
        assert!(
            text.contains(
                "  after the first 2 on each hart:\n    hart.c:51  `csrs henvcfg, a5`  hart 0: 1 more hit not recorded (the breakpoint stayed in: counted to the end of the run)\n    hart.c:51  `csrs henvcfg, a5`  hart 1: no more hits before the count stopped: the breakpoint was removed once every hart had 2 recorded\n"
            ),
            "{text}"
        );
    }
}
