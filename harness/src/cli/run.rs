//! `hvharness run` and `hvharness matrix`: scenarios on QEMU builds.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::EXIT_ENV;
use crate::qemu::{registry, QemuBuild, QemuRegistry};
use crate::report;
use crate::runner::{self, RunReport};
use crate::scenario::Scenario;

/// The builds named by `--qemu` values (versions, ranges, paths); all known ones when none.
pub fn select_builds(reg: &QemuRegistry, specs: &[String]) -> Result<Vec<QemuBuild>> {
    if specs.is_empty() {
        if reg.builds().is_empty() {
            anyhow::bail!("no QEMU known. Run scripts/setup.sh, or {}", registry::how_to_register("X.Y.Z"));
        }
        return Ok(reg.builds().to_vec());
    }
    let mut out: Vec<QemuBuild> = Vec::new();
    for spec in specs {
        let picked: Vec<QemuBuild> = match spec.parse::<crate::qemu::VersionReq>() {
            Ok(req) if spec.starts_with(['<', '>', '=', '*']) => {
                let m: Vec<QemuBuild> = reg.matching(&req).into_iter().cloned().collect();
                if m.is_empty() {
                    anyhow::bail!("no known QEMU matches {spec}; {}", registry::how_to_register(spec));
                }
                m
            }
            _ => vec![reg.select(spec)?],
        };
        for b in picked {
            if !out.iter().any(|x| x.binary == b.binary) {
                out.push(b);
            }
        }
    }
    Ok(out)
}

/// Builds, then runs every scenario on every selected build, `jobs` at a time,
/// and prints reports (a table when `table`); the exit code follows the CLI docs.
pub async fn run_matrix(
    paths: &[PathBuf],
    qemu: &[String],
    json: bool,
    no_build: bool,
    jobs: usize,
    root: Option<PathBuf>,
    table: bool,
) -> Result<ExitCode> {
    let reg = QemuRegistry::discover(root.as_deref());
    let builds = select_builds(&reg, qemu)?;
    let mut scenarios = Vec::new();
    for p in paths {
        scenarios.push(Scenario::load(p)?);
    }
    if !no_build {
        for s in &scenarios {
            eprintln!("hvharness: building for {}", s.name);
            let s2 = s.clone();
            tokio::task::spawn_blocking(move || s2.build()).await.context("build task")??;
        }
    }
    let mut cells: Vec<(Scenario, QemuBuild)> = Vec::new();
    for s in &scenarios {
        for b in &builds {
            match s.skip_reason(b.version) {
                Some(why) => eprintln!("hvharness: skipped: {why}"),
                None => cells.push((s.clone(), b.clone())),
            }
        }
    }
    let total = cells.len();
    let limit = Arc::new(tokio::sync::Semaphore::new(jobs));
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (s, b)) in cells.into_iter().enumerate() {
        let limit = Arc::clone(&limit);
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            eprintln!("hvharness: [{}/{total}] {} on QEMU {} ...", i + 1, s.name, b.version);
            let r = runner::run(&s, &b).await;
            (i, s.name.clone(), b.version, r)
        });
    }
    let mut reports: Vec<(usize, RunReport)> = Vec::new();
    let mut errors = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, name, version, result) = joined.context("a run task panicked")?;
        match result {
            Ok(r) => {
                eprintln!(
                    "hvharness: {name} on QEMU {version}: {} ({}, {:.1} s)",
                    report::observed_word(&r.observed),
                    report::verdict_word(&r.verdict),
                    r.duration_secs
                );
                reports.push((i, r));
            }
            Err(e) => {
                errors += 1;
                eprintln!("hvharness: {name} on QEMU {version}: error: {e:#}");
            }
        }
    }
    reports.sort_by_key(|(i, _)| *i);
    let reports: Vec<RunReport> = reports.into_iter().map(|(_, r)| r).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        if !table || reports.len() == 1 {
            for r in &reports {
                print!("{}", report::render_run(r));
            }
        } else {
            for r in reports.iter().filter(|r| r.verdict.is_failure()) {
                print!("{}", report::render_run(r));
            }
        }
        if table {
            print!("{}", report::render_table(&reports));
            let sum: f64 = reports.iter().map(|r| r.duration_secs).sum();
            println!("wall time {:.1} s, sum of cells {:.1} s", started.elapsed().as_secs_f64(), sum);
        }
    }
    if errors > 0 {
        return Ok(ExitCode::from(EXIT_ENV));
    }
    if reports.iter().any(|r| r.verdict.is_failure()) {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
