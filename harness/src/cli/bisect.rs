//! `hvharness bisect versions` and `hvharness bisect milestones`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::bisect::milestones;
use crate::bisect::versions::{self, describe_observed, ProbeEvent};
use crate::qemu::{registry, QemuBuild, QemuRegistry};
use crate::scenario::Scenario;

/// Runs the scenario's build command (off the async threads).
pub(super) async fn build(scenario: &Scenario, no_build: bool) -> Result<()> {
    if no_build {
        return Ok(());
    }
    eprintln!("hvharness: building for {}", scenario.name);
    let s = scenario.clone();
    tokio::task::spawn_blocking(move || s.build()).await.context("build task")?
}

/// The build `--qemu` names (version, range, path), or the newest known.
pub(super) fn one_build(reg: &QemuRegistry, spec: Option<&str>) -> Result<QemuBuild> {
    match spec {
        Some(spec) => reg.select(spec),
        None => reg
            .builds()
            .last()
            .cloned()
            .with_context(|| format!("no QEMU known. Run scripts/setup.sh, or {}", registry::how_to_register("X.Y.Z"))),
    }
}

pub async fn versions(path: &Path, qemu: &[String], json: bool, no_build: bool, root: Option<&Path>) -> Result<ExitCode> {
    let scenario = Scenario::load(path)?;
    let reg = QemuRegistry::discover(root);
    let builds = versions::order_builds(&super::run::select_builds(&reg, qemu)?)?;
    build(&scenario, no_build).await?;
    let list: Vec<String> = builds.iter().map(|b| b.version.to_string()).collect();
    eprintln!(
        "hvharness: bisecting {} over QEMU {}: at most {} runs for {} versions \
         (binary search; assumes the outcome changes at most once)",
        scenario.name,
        list.join(", "),
        versions::VersionSearch::max_runs(builds.len()),
        builds.len()
    );
    let name = scenario.name.clone();
    let result = versions::bisect(&scenario, &builds, |event| match event {
        ProbeEvent::Start { run, max_runs, version } => {
            eprintln!("hvharness: run {run} of at most {max_runs}: {name} on QEMU {version} ...")
        }
        ProbeEvent::Done { run, probe } => eprintln!(
            "hvharness: run {run}: QEMU {}: {} ({:.1} s)",
            probe.qemu,
            describe_observed(&probe.observed),
            probe.duration_secs
        ),
    })
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{}", versions::render(&result));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn milestones(path: &Path, qemu: Option<&str>, json: bool, no_build: bool, root: Option<&Path>) -> Result<ExitCode> {
    let scenario = Scenario::load(path)?;
    // Says what to add before anything is built when the list is missing.
    milestones::milestone_scenario(&scenario)?;
    let reg = QemuRegistry::discover(root);
    let qemu = one_build(&reg, qemu)?;
    build(&scenario, no_build).await?;
    eprintln!(
        "hvharness: {} on QEMU {} with breakpoints at {} milestones ({}) ...",
        scenario.name,
        qemu.version,
        scenario.milestone_symbols.len(),
        scenario.milestone_symbols.join(", ")
    );
    let report = milestones::bisect(&scenario, &qemu).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", milestones::render(&scenario, &report));
    }
    if report.harts.iter().all(|h| h.complete()) {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}
