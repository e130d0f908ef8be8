//! `hvharness check`: one build, one run, judged for `git bisect run`
//! (exit 0 good, 1 bad, 125 cannot test; see `crate::bisect::check`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::bisect::check::{judge, Judgement};
use crate::bisect::plain_boot;
use crate::runner;
use crate::scenario::Scenario;

/// Runs the check and prints its one-line answer; the exit code is the answer.
pub(crate) async fn check(
    path: &Path,
    qemu: Option<&str>,
    expect: bool,
    no_build: bool,
    root: Option<&Path>,
) -> Result<ExitCode> {
    let (what, judgement) = match run_check(path, qemu, expect, no_build, root).await {
        Ok((what, j)) => (what, j),
        Err(e) => (
            path.display().to_string(),
            Judgement::Untestable(format!("{e:#}")),
        ),
    };
    crate::outln!("{}: {what}: {}", judgement.word(), judgement.reason());
    Ok(ExitCode::from(judgement.exit_code()))
}

/// Everything that can go wrong before the run says good or bad is an error
/// here, and "cannot test" to the caller.
async fn run_check(
    path: &Path,
    qemu: Option<&str>,
    expect: bool,
    no_build: bool,
    root: Option<&Path>,
) -> Result<(String, Judgement)> {
    let scenario = Scenario::load(path).context("the scenario does not load")?;
    let reg = super::discover_registry(root);
    let build = super::bisect::one_build(&reg, qemu)?;
    if let Some(why) = scenario.skip_reason(build.version) {
        anyhow::bail!(why);
    }
    super::run::build_scenario(&scenario, no_build)
        .await
        .context("the firmware does not build")?;
    let what = format!("{} on QEMU {}", scenario.name, build.version);
    eprintln!("hvharness: check: {what} ...");
    let to_run = if expect {
        scenario.clone()
    } else {
        plain_boot(&scenario)
    };
    let report = runner::run(&to_run, &build)
        .await
        .with_context(|| format!("{what} did not run"))?;
    let j = judge(&report, expect);
    Ok((format!("{what} ({:.1} s)", report.duration_secs), j))
}
