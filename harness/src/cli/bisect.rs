//! `hvharness bisect versions`, `bisect qemu` and `bisect milestones`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::bisect::milestones;
use crate::bisect::versions::{self, ProbeEvent};
use crate::qemu::{registry, QemuBuild, QemuRegistry};
use crate::scenario::Scenario;

/// The build `--qemu` names (version, range, path), or the newest known.
pub(super) fn one_build(reg: &QemuRegistry, spec: Option<&str>) -> Result<QemuBuild> {
    match spec {
        Some(spec) => reg.select(spec),
        None => reg
            .builds()
            .last()
            .cloned()
            .with_context(registry::none_known),
    }
}

pub(crate) async fn versions(
    path: &Path,
    qemu: &[String],
    json: bool,
    no_build: bool,
    root: Option<&Path>,
) -> Result<ExitCode> {
    let scenario = Scenario::load(path)?;
    let reg = super::discover_registry(root);
    let builds = versions::order_builds(&super::run::select_builds(&reg, qemu)?)?;
    super::run::build_scenario(&scenario, no_build).await?;
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
        ProbeEvent::Start {
            run,
            max_runs,
            version,
        } => {
            eprintln!("hvharness: run {run} of at most {max_runs}: {name} on QEMU {version} ...")
        }
        ProbeEvent::Done { run, probe } => eprintln!(
            "hvharness: run {run}: QEMU {}: {} ({:.1} s)",
            probe.qemu, probe.observed, probe.duration_secs
        ),
    })
    .await?;
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        crate::out!("{}", versions::render(&result));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn milestones(
    path: &Path,
    qemu: Option<&str>,
    json: bool,
    no_build: bool,
    root: Option<&Path>,
) -> Result<ExitCode> {
    let scenario = Scenario::load(path)?;
    // Says what to add before anything is built when the list is missing.
    milestones::milestone_scenario(&scenario)?;
    let reg = super::discover_registry(root);
    let qemu = one_build(&reg, qemu)?;
    super::run::build_scenario(&scenario, no_build).await?;
    eprintln!(
        "hvharness: {} on QEMU {} with breakpoints at {} milestones ({}) ...",
        scenario.name,
        qemu.version,
        scenario.milestone_symbols.len(),
        scenario.milestone_symbols.join(", ")
    );
    let report = milestones::bisect(&scenario, &qemu).await?;
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        crate::out!("{}", milestones::render(&scenario, &report));
    }
    if report.harts.iter().all(|h| h.complete()) {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}

/// The build directories `bisect qemu` and `qemu build` use by default,
/// under `~/.cache/hvharness/` (`$XDG_CACHE_HOME` first).
pub(super) const BISECT_DIRS: &str = "bisect-qemu";
pub(super) const RELEASE_DIRS: &str = "qemu-build";

/// `~/.cache/hvharness/KIND/NAME-HASH` for the source repository: one build
/// directory per repository and kind ([`BISECT_DIRS`], [`RELEASE_DIRS`]).
pub(super) fn default_build_dir(source: &Path, kind: &str) -> Result<std::path::PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
        .context("no cache directory: set HOME or XDG_CACHE_HOME, or pass --build-dir")?;
    let source = source
        .canonicalize()
        .with_context(|| format!("--source {} does not exist", source.display()))?;
    let name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "qemu".into());
    // FNV-1a: stable across runs and Rust versions, unlike std's hasher.
    let hash = source
        .to_string_lossy()
        .bytes()
        .fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100000001b3)
        });
    Ok(cache
        .join("hvharness")
        .join(kind)
        .join(format!("{name}-{:08x}", hash as u32)))
}

/// `hvharness bisect clean`: removes build directories (their worktrees
/// with them, and git's record of those): `--build-dir`, or the default
/// ones of `--source`.
pub(crate) fn clean(build_dir: Option<&Path>, source: Option<&Path>) -> Result<ExitCode> {
    let dirs = match (build_dir, source) {
        (Some(d), _) => vec![d.to_path_buf()],
        (None, Some(s)) => vec![
            default_build_dir(s, BISECT_DIRS)?,
            default_build_dir(s, RELEASE_DIRS)?,
        ],
        (None, None) => anyhow::bail!(
            "say which: --build-dir DIR, or --source DIR for its default build directories"
        ),
    };
    let mut removed = 0;
    for dir in dirs {
        if !dir.exists() {
            continue;
        }
        let foreign = crate::bisect::qemu::build::foreign_entries(&dir)?;
        if !foreign.is_empty() {
            anyhow::bail!(
                "{} does not look like a build directory of bisect qemu or qemu build (it holds {}): not removed",
                dir.display(),
                foreign.join(", ")
            );
        }
        let (bd, lock) = crate::bisect::qemu::open_build_dir(&dir)?;
        let repo = crate::bisect::qemu::git::forget_build_dir(&bd.root, &bd.worktree())?;
        drop(lock);
        removed += 1;
        crate::outln!(
            "removed {}{}",
            bd.root.display(),
            repo.map(|r| format!(" and its worktree of {}", r.display()))
                .unwrap_or_default()
        );
    }
    if removed == 0 {
        crate::outln!("nothing to remove");
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn qemu(
    options: &crate::bisect::qemu::Options,
    json: bool,
    no_build: bool,
) -> Result<ExitCode> {
    let scenario = Scenario::load(&options.scenario_path)?;
    super::run::build_scenario(&scenario, no_build).await?;
    eprintln!(
        "hvharness: bisecting QEMU {}..{} in {} for {} (build directory {})",
        options.good,
        options.bad,
        options.source.display(),
        scenario.name,
        options.build_dir.display()
    );
    let started = std::time::Instant::now();
    let result = crate::bisect::qemu::bisect(options, &scenario, &mut |line| {
        eprintln!("hvharness: {line}")
    })
    .await?;
    eprintln!(
        "hvharness: done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        crate::out!("{}", crate::bisect::qemu::report::render(&result));
    }
    Ok(ExitCode::SUCCESS)
}
