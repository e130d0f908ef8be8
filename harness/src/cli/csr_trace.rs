//! `hvharness csr-trace`: who writes a CSR, statically and while booting.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use super::run::select_builds;
use crate::scenario::Scenario;

/// Traces the writes of `csrs` in `path`'s scenario on each selected QEMU,
/// recording `hits` writes per writer and hart (`--hits`; `None`: the
/// scenario's `trace_hits_per_writer`).
pub(crate) async fn csr_trace(
    path: &Path,
    (csrs, hits): (&[String], Option<u32>),
    qemu: &[String],
    json: bool,
    no_build: bool,
    root: Option<PathBuf>,
) -> Result<ExitCode> {
    let reg = super::discover_registry(root.as_deref());
    let builds = select_builds(&reg, qemu)?;
    let mut scenario = Scenario::load(path)?;
    if let Some(n) = hits {
        scenario.trace_hits_per_writer = n;
    }
    // Unknown CSR names fail before anything is built or booted.
    let elfs = scenario.load_elfs();
    if let Ok(elfs) = &elfs {
        for csr in csrs {
            crate::provenance::writers_of(elfs, csr)?;
        }
    }
    super::run::build_scenario(&scenario, no_build).await?;
    let mut all = Vec::new();
    for build in &builds {
        if let Some(why) = scenario.skip_reason(build.version) {
            eprintln!("hvharness: skipped: {why}");
            continue;
        }
        eprintln!(
            "hvharness: tracing {} on QEMU {} ...",
            csrs.join(", "),
            build.version
        );
        let trace = crate::runner::csr_trace::trace(&scenario, build, csrs).await?;
        if !json {
            crate::out!("{trace}");
        }
        all.push(trace);
    }
    if json {
        let doc = serde_json::json!({ "schema": "hvharness-csr-trace/1", "traces": all });
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
    }
    Ok(ExitCode::SUCCESS)
}
