//! `hvharness run` and `hvharness matrix`: scenarios on QEMU builds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::progress::Progress;
use super::EXIT_ENV;
use crate::qemu::{registry, QemuBuild, QemuRegistry};
use crate::report::schema::DiagnosisEntry;
use crate::report::shard::{self, Costs};
use crate::report::{self, Cell, CellStatus, ResultFile, Shard};
use crate::runner::{self, RunReport};
use crate::scenario::Scenario;

/// Runs the scenario's build command (off the async threads).
pub(super) async fn build_scenario(scenario: &Scenario, no_build: bool) -> Result<()> {
    if no_build {
        return Ok(());
    }
    eprintln!("hvharness: building for {}", scenario.name);
    let s = scenario.clone();
    tokio::task::spawn_blocking(move || s.build())
        .await
        .context("build task")?
}

/// The builds named by `--qemu` values (versions, ranges, paths); all known ones when none.
pub(crate) fn select_builds(reg: &QemuRegistry, specs: &[String]) -> Result<Vec<QemuBuild>> {
    if specs.is_empty() {
        if reg.builds().is_empty() {
            anyhow::bail!(registry::none_known());
        }
        return Ok(reg.builds().to_vec());
    }
    let mut out: Vec<QemuBuild> = Vec::new();
    for spec in specs {
        let picked: Vec<QemuBuild> = match spec.parse::<crate::qemu::VersionReq>() {
            Ok(req) if spec.starts_with(['<', '>', '=', '*']) => {
                let m: Vec<QemuBuild> = reg.matching(&req).into_iter().cloned().collect();
                if m.is_empty() {
                    anyhow::bail!(
                        "no known QEMU matches {spec}; {}",
                        registry::how_to_register(spec)
                    );
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

/// What `run` and `matrix` were asked for, beyond the scenarios and QEMUs.
#[derive(Debug, Default)]
pub(crate) struct MatrixOptions {
    /// Print the result file on stdout instead of text.
    pub(crate) json: bool,
    /// Also write the result file here.
    pub(crate) results: Option<PathBuf>,
    /// Write JUnit XML here.
    pub(crate) junit: Option<PathBuf>,
    pub(crate) no_build: bool,
    /// QEMUs at once (at least 1).
    pub(crate) jobs: usize,
    /// Print the summary table (matrix) rather than each report (run).
    pub(crate) table: bool,
    /// Run only this slice of the cells.
    pub(crate) shard: Option<Shard>,
    /// A previous result file whose durations balance the shards.
    pub(crate) durations: Option<PathBuf>,
    /// Explain every cell that did not boot (runs under the debugger).
    pub(crate) diagnose: bool,
}

/// One scenario on one QEMU, to be run.
struct Job {
    n: usize,
    scenario: Scenario,
    build: QemuBuild,
}

/// Builds, then runs every scenario on every selected build (the shard's
/// part of them), `jobs` at a time, and prints the results; the exit code
/// follows the CLI docs.
pub(crate) async fn run_matrix(
    paths: &[PathBuf],
    qemu: &[String],
    opts: MatrixOptions,
    root: Option<PathBuf>,
) -> Result<ExitCode> {
    let reg = super::discover_registry(root.as_deref());
    let builds = select_builds(&reg, qemu)?;
    let mut scenarios = Vec::new();
    for p in paths {
        scenarios.push(Scenario::load(p)?);
    }
    let mut pairs: Vec<(Scenario, QemuBuild)> = Vec::new();
    for s in &scenarios {
        for b in &builds {
            pairs.push((s.clone(), b.clone()));
        }
    }
    if let Some(sh) = opts.shard {
        keep_shard(&mut pairs, sh, opts.durations.as_deref())?;
    }
    if !opts.no_build {
        for s in scenarios
            .iter()
            .filter(|s| pairs.iter().any(|(p, _)| p.name == s.name))
        {
            build_scenario(s, false).await?;
        }
    }
    let (mut cells, jobs) = plan_jobs(pairs);
    let started = std::time::Instant::now();
    let (ran, reports) = run_jobs(jobs, opts.jobs.max(1), opts.diagnose).await?;
    cells.extend(ran);
    let file = ResultFile::new(opts.shard.map(|s| s.to_string()), cells);
    let file = ResultFile {
        cells: file.sorted_cells().into_iter().cloned().collect(),
        ..file
    };
    write_results(&file, &reports, &opts, started)?;
    Ok(exit_code(&file))
}

/// Keeps the shard's part of the cells (balanced by a previous result
/// file's durations when given).
fn keep_shard(
    pairs: &mut Vec<(Scenario, QemuBuild)>,
    sh: Shard,
    durations: Option<&std::path::Path>,
) -> Result<()> {
    let costs = match durations {
        Some(p) => Some(Costs::from_results(&ResultFile::read(p)?)),
        None => None,
    };
    let names: Vec<(String, String)> = pairs
        .iter()
        .map(|(s, b)| (s.name.clone(), b.version.to_string()))
        .collect();
    let keep = shard::select(&names, sh, costs.as_ref());
    let mut it = keep.into_iter();
    pairs.retain(|_| it.next().unwrap_or(false));
    eprintln!(
        "hvharness: shard {sh}: {} of {} cells",
        pairs.len(),
        names.len()
    );
    Ok(())
}

/// The cells a scenario skips on its QEMU (with why), and the jobs to run.
fn plan_jobs(pairs: Vec<(Scenario, QemuBuild)>) -> (Vec<Cell>, Vec<Job>) {
    let mut cells: Vec<Cell> = Vec::new();
    let mut jobs = Vec::new();
    for (scenario, build) in pairs {
        match scenario.skip_reason(build.version) {
            Some(why) => {
                eprintln!("hvharness: skipped: {why}");
                cells.push(Cell::not_run(
                    &scenario.name,
                    build.version,
                    CellStatus::Skipped,
                    why,
                ));
            }
            None => jobs.push(Job {
                n: jobs.len() + 1,
                scenario,
                build,
            }),
        }
    }
    (cells, jobs)
}

/// Writes the result file and JUnit where asked, and prints the results:
/// the result file with `--json`, else text.
fn write_results(
    file: &ResultFile,
    reports: &[RunReport],
    opts: &MatrixOptions,
    started: std::time::Instant,
) -> Result<()> {
    if let Some(p) = &opts.results {
        file.write(p)?;
    }
    if let Some(p) = &opts.junit {
        report::junit::write(file, p)?;
    }
    if opts.json {
        crate::out!("{}", file.to_json()?);
        // The JSON carries the figures; the warnings also reach a person.
        for r in reports {
            if let Some(w) = &r.hot_pages.warning {
                eprintln!("hvharness: {} on QEMU {}: warning: {w}", r.scenario, r.qemu);
            }
        }
    } else {
        print_text(reports, opts.table, started);
    }
    Ok(())
}

/// Runs the jobs, at most `limit` at once; the cells in job order, and the
/// reports of the runs that finished (for the text output).
async fn run_jobs(
    jobs: Vec<Job>,
    limit: usize,
    diagnose: bool,
) -> Result<(Vec<Cell>, Vec<RunReport>)> {
    let mut progress = Progress::new(jobs.len());
    let mut queue = jobs.into_iter();
    let mut tasks = tokio::task::JoinSet::new();
    let mut lines = std::collections::HashMap::new();
    let mut done: Vec<(usize, Cell, Option<RunReport>)> = Vec::new();
    loop {
        while tasks.len() < limit {
            let Some(job) = queue.next() else { break };
            let what = format!("{} on QEMU {}", job.scenario.name, job.build.version);
            lines.insert(job.n, progress.start(job.n, &what));
            tasks.spawn(async move {
                let result = run_cell(&job.scenario, &job.build, diagnose).await;
                (job, result)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (job, result) = joined.context("a run task panicked")?;
        let what = format!("{} on QEMU {}", job.scenario.name, job.build.version);
        let (cell, report, line) = match result {
            Ok((r, diagnosis)) => {
                let line = format!(
                    "{what}: {} ({}, {:.1} s)",
                    r.observed.class(),
                    r.verdict.word(),
                    r.duration_secs
                );
                let mut cell = Cell::from_run(&r)?;
                cell.diagnosis = diagnosis;
                (cell, Some(r), line)
            }
            Err(e) => {
                let why = format!("{e:#}");
                let line = format!("{what}: error: {why}");
                (
                    Cell::not_run(
                        &job.scenario.name,
                        job.build.version,
                        CellStatus::Error,
                        why,
                    ),
                    None,
                    line,
                )
            }
        };
        if let Some(l) = lines.remove(&job.n) {
            progress.finish(l, &line);
        }
        done.push((job.n, cell, report));
    }
    progress.done();
    done.sort_by_key(|(n, _, _)| *n);
    let reports = done.iter().filter_map(|(_, _, r)| r.clone()).collect();
    Ok((done.into_iter().map(|(_, c, _)| c).collect(), reports))
}

/// One cell; with `diagnose`, under the debugger, explained when it did not boot.
async fn run_cell(
    scenario: &Scenario,
    build: &QemuBuild,
    diagnose: bool,
) -> Result<(RunReport, Option<DiagnosisEntry>)> {
    if !diagnose {
        return Ok((runner::run(scenario, build).await?, None));
    }
    let (r, explained, live) = crate::diagnosis::run_and_explain(scenario, build).await?;
    drop(live);
    if matches!(r.observed, runner::Observed::Booted) {
        return Ok((r, None));
    }
    let d = crate::diagnosis::Diagnosis::new(&r, explained);
    for note in &d.notes {
        eprintln!("hvharness: {note}");
    }
    let entry = DiagnosisEntry::new(report::render_diagnosis(&d), d.faults)?;
    Ok((r, Some(entry)))
}

fn print_text(reports: &[RunReport], table: bool, started: std::time::Instant) {
    if !table || reports.len() == 1 {
        for r in reports {
            crate::out!("{}", report::render_run(r));
        }
    } else {
        for r in reports.iter().filter(|r| r.verdict.is_failure()) {
            crate::out!("{}", report::render_run(r));
        }
        // A run shown only as a table row still shows its warning.
        for r in reports.iter().filter(|r| !r.verdict.is_failure()) {
            if let Some(w) = &r.hot_pages.warning {
                crate::outln!("{} on QEMU {}: warning: {w}", r.scenario, r.qemu);
            }
        }
    }
    if table {
        crate::out!("{}", report::render_table(reports));
        let sum: f64 = reports.iter().map(|r| r.duration_secs).sum();
        crate::outln!(
            "wall time {:.1} s, sum of cells {:.1} s",
            started.elapsed().as_secs_f64(),
            sum
        );
    }
}

/// 2 when a cell could not run, else 1 when one failed, else 0.
pub(crate) fn exit_code(file: &ResultFile) -> ExitCode {
    if file.cells.iter().any(|c| c.status == CellStatus::Error) {
        ExitCode::from(EXIT_ENV)
    } else if file.cells.iter().any(|c| c.status == CellStatus::Failed) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
