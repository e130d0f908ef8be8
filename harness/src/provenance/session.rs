//! One traced run: the scenario with a breakpoint on each writer of the
//! CSRs asked for, booted on one QEMU, its stops turned into writes.

use anyhow::{Context, Result};
use serde::Serialize;

use super::trace::{collect, trace_breakpoints, OutsideChange, TracedWrite};
use super::writers::CsrWriter;
use crate::qemu::{QemuBuild, QemuVersion};
use crate::runner::{self, Observed};
use crate::scenario::Scenario;

/// What one traced run found.
#[derive(Debug, Clone, Serialize)]
pub struct CsrTrace {
    pub scenario: String,
    pub qemu: QemuVersion,
    /// The CSRs traced, by name.
    pub csrs: Vec<String>,
    /// Whether the boot finished (`booted`), or how it ended.
    pub observed: String,
    /// Every instruction in the images that can write them.
    pub writers: Vec<CsrWriter>,
    /// The writes that ran, in time order (per writer, the first on each hart).
    pub writes: Vec<TracedWrite>,
    /// Values that changed with no writer of ours in between.
    pub outside: Vec<OutsideChange>,
}

/// Boots `scenario` on `build` with the writers of `csrs` traced.
pub async fn trace(scenario: &Scenario, build: &QemuBuild, csrs: &[String]) -> Result<CsrTrace> {
    let elfs = scenario.load_elfs()?;
    let mut writers = Vec::new();
    let mut names = Vec::new();
    for csr in csrs {
        let found = super::writers_of(&elfs, csr)?;
        names.push(super::csr_numbers::csr_number(csr).map_or_else(
            || csr.clone(),
            super::csr_numbers::csr_name,
        ));
        writers.extend(found);
    }
    let specs = trace_breakpoints(scenario, &writers);
    let mut traced = scenario.clone();
    traced.breakpoints.extend(specs.iter().cloned());
    let report = runner::run(&traced, build)
        .await
        .with_context(|| format!("tracing {} on QEMU {}", scenario.name, build.version))?;
    let (writes, outside) = collect(&writers, &specs, &report.stops);
    let observed = match &report.observed {
        Observed::Booted => "booted".to_string(),
        Observed::Hung { console, missing, .. } => format!("hung: {console} never printed /{missing}/"),
        Observed::Exited { console, missing } => {
            format!("QEMU exited before {console} printed /{missing}/")
        }
    };
    Ok(CsrTrace {
        scenario: scenario.name.clone(),
        qemu: build.version,
        csrs: names,
        observed,
        writers,
        writes,
        outside,
    })
}

impl std::fmt::Display for CsrTrace {
    /// The writers, then the timeline, then what changed elsewhere.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} on QEMU {} ({}):", self.scenario, self.qemu, self.observed)?;
        for csr in &self.csrs {
            let writers: Vec<&CsrWriter> = self.writers.iter().filter(|w| &w.csr == csr).collect();
            if writers.is_empty() {
                writeln!(f, "  {csr}: no instruction in the images writes it")?;
            } else {
                writeln!(f, "  {csr}: written by")?;
            }
            for w in writers {
                let symbol = w.symbol.as_deref().map(|s| format!(" ({}:{s})", w.space)).unwrap_or_default();
                writeln!(f, "    {}{symbol}  `{}`  {}", w.place(), w.instruction, w.operand_text())?;
                if let Some(text) = &w.source_text {
                    writeln!(f, "        {text}")?;
                }
            }
        }
        if self.writes.is_empty() {
            writeln!(f, "  no recorded write ran")?;
        }
        let hex = |v: Option<u64>| v.map_or_else(|| "?".to_string(), |v| format!("{v:#x}"));
        for w in &self.writes {
            writeln!(
                f,
                "  {:8.3}s hart {} {:<2} {}  `{}`  {} = {}: {} {} -> {}",
                w.at_secs,
                w.hart,
                w.privilege,
                w.place,
                w.instruction,
                w.operand,
                hex(w.value),
                w.csr,
                hex(w.before),
                hex(w.after)
            )?;
        }
        for o in &self.outside {
            writeln!(
                f,
                "  {} on hart {} changed {:#x} -> {:#x} before {}: written outside the images we know",
                o.csr, o.hart, o.was, o.became, o.seen_at
            )?;
        }
        Ok(())
    }
}
