//! The `hvharness` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use hvharness::qemu::{registry, QemuBuild, QemuRegistry};
use hvharness::runner::{self, RunReport};
use hvharness::scenario::Scenario;
use hvharness::{project, report};

/// GDB-driven regression and diagnostic harness for RISC-V hypervisors on QEMU.
///
/// A scenario file (TOML) names the firmware, the QEMU machine, the consoles and
/// what each QEMU version is expected to do: boot, or hang with a given trap.
/// Exit codes: 0 everything as expected, 1 an expectation failed, 2 usage or
/// environment error.
#[derive(Parser)]
#[command(name = "hvharness", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario on the selected QEMU builds (all known ones by default).
    Run {
        /// Scenario file, e.g. scenarios/hypervisor-noadue-2vm.toml.
        scenario: PathBuf,
        /// QEMU to use: a version (10.0.2), a range (">=9.0") or a binary path. Repeatable.
        #[arg(long = "qemu", value_name = "VERSION|RANGE|PATH")]
        qemu: Vec<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Skip the scenario's build command.
        #[arg(long)]
        no_build: bool,
    },
    /// Run every scenario on every selected QEMU and print a table.
    Matrix {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// QEMU to use: a version, a range or a binary path. Repeatable; default: all known.
        #[arg(long = "qemu", value_name = "VERSION|RANGE|PATH")]
        qemu: Vec<String>,
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
        /// Skip the scenarios' build commands.
        #[arg(long)]
        no_build: bool,
        /// How many QEMUs run at once (default: the number of CPUs).
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
    },
    /// Show what changed between two CSR snapshots (e.g. of two QEMU
    /// versions), field by field: `hvharness diff snapshots/a@8_0_2.snap snapshots/a@9_2_0.snap`.
    Diff {
        /// The earlier snapshot file (e.g. the older QEMU's).
        old: PathBuf,
        /// The later snapshot file; exit status 1 when it differs from OLD.
        new: PathBuf,
    },
    /// The QEMU builds hvharness knows about.
    Qemu {
        #[command(subcommand)]
        command: QemuCommand,
    },
}

#[derive(Subcommand)]
enum QemuCommand {
    /// List known QEMU builds: the project's prefixes (.qemu/, made by
    /// scripts/setup.sh), registered builds ($HVHARNESS_QEMU and the config
    /// file), and qemu-system-riscv64 on PATH.
    List {
        /// Print the list as JSON (version, binary, data_dir, origin).
        #[arg(long)]
        json: bool,
    },
    /// Register a QEMU binary (its version is read from --version), e.g. one
    /// built from a release tarball: `hvharness qemu add ~/qemu-9.2.0/build/qemu-system-riscv64`.
    Add {
        /// Path of the qemu-system-riscv64 binary.
        binary: PathBuf,
        /// Firmware directory to pass as -L (default: QEMU's own search path).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// Exit status for usage and environment errors.
const EXIT_ENV: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hvharness: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ENV);
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hvharness: error: {e:#}");
            ExitCode::from(EXIT_ENV)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    hvharness::qemu::process::install_signal_cleanup()?;
    let root = project::root();
    match cli.command {
        Command::Qemu { command: QemuCommand::List { json } } => {
            let reg = QemuRegistry::discover(root.as_deref());
            if json {
                println!("{}", serde_json::to_string_pretty(reg.builds())?);
            } else if reg.builds().is_empty() {
                println!("no QEMU known. Run scripts/setup.sh, or: {}", registry::how_to_register("X.Y.Z"));
            } else {
                println!("{:<9} {:<11} {}", "version", "origin", "binary (firmware dir)");
                for b in reg.builds() {
                    let data = b.data_dir.as_ref().map(|d| format!(" (-L {})", d.display())).unwrap_or_default();
                    println!("{:<9} {:<11} {}{data}", b.version.to_string(), format!("{:?}", b.origin).to_lowercase(), b.binary.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Qemu { command: QemuCommand::Add { binary, data_dir } } => {
            let b = registry::register(&binary, data_dir)?;
            println!(
                "registered QEMU {} at {} (in {})",
                b.version,
                b.binary.display(),
                registry::config_path().map(|p| p.display().to_string()).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff { old, new } => {
            let read = |p: &PathBuf| -> Result<hvharness::snapshot::Snapshot> {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
                hvharness::snapshot::Snapshot::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
            };
            let (a, b) = (read(&old)?, read(&new)?);
            let label = |s: &hvharness::snapshot::Snapshot, p: &PathBuf| {
                s.header_value("qemu").map(|q| format!("QEMU {q}")).unwrap_or_else(|| p.display().to_string())
            };
            let changes = hvharness::snapshot::diff(&a, &b);
            print!("{}", hvharness::snapshot::render_diff(&label(&a, &old), &label(&b, &new), &changes));
            Ok(if changes.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Run { scenario, qemu, json, no_build } => {
            run_matrix(&[scenario], &qemu, json, no_build, 1, root, false).await
        }
        Command::Matrix { scenarios, qemu, json, no_build, jobs } => {
            let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
            run_matrix(&scenarios, &qemu, json, no_build, jobs.max(1), root, true).await
        }
    }
}

fn select_builds(reg: &QemuRegistry, specs: &[String]) -> Result<Vec<QemuBuild>> {
    if specs.is_empty() {
        if reg.builds().is_empty() {
            anyhow::bail!("no QEMU known. Run scripts/setup.sh, or {}", registry::how_to_register("X.Y.Z"));
        }
        return Ok(reg.builds().to_vec());
    }
    let mut out: Vec<QemuBuild> = Vec::new();
    for spec in specs {
        let picked: Vec<QemuBuild> = match spec.parse::<hvharness::qemu::VersionReq>() {
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

async fn run_matrix(
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
    let cells: Vec<(Scenario, QemuBuild)> = scenarios
        .iter()
        .flat_map(|s| builds.iter().map(move |b| (s.clone(), b.clone())))
        .collect();
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
