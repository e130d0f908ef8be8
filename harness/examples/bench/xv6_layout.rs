//! (x) A breakpoint on xv6-riscv's hot page: the guest-xv6layout fixture
//! (three harts, 128 MiB freed page by page on kvminithart's page, the other
//! harts spinning in main) through the harness, time from resume to the last
//! console milestone, with kvminithart's breakpoint as shipped (no hints:
//! the harness arms it from the call graph), with the boot path listed in
//! `milestone_symbols` (hinted), without any breakpoint, and unmitigated
//! (`auto_arm = false`: in from the start); ratios to no breakpoint, per QEMU.
//! Each run's phases follow (`phases.rs`). `HVHARNESS_BENCH_X_QUICK=1`
//! leaves the unmitigated variant out, most of the figure's time.

use std::path::Path;

use anyhow::{bail, Result};
use hvharness::{QemuBuild, QemuRegistry, Scenario};

use super::{load_average, phases, ratio, secs, stop_costs, take_turns};
use hvharness::internals::rsp::RspCosts;

/// xv6-riscv's boot path as the user listed it.
const XV6_PATH: [&str; 6] = [
    "guest:main",
    "guest:kinit",
    "guest:kvminit",
    "guest:kvminithart",
    "guest:trapinithart",
    "guest:userinit",
];

/// Set (to anything): leave the unmitigated variant out, which takes most
/// of the figure's time (about 10 s a boot), while a change is tried.
const QUICK_ENV: &str = "HVHARNESS_BENCH_X_QUICK";

/// The variants, from the shipped scenario.
fn variants(shipped: &Scenario) -> Vec<(&'static str, Scenario)> {
    let mut hinted = shipped.clone();
    hinted.milestone_symbols = XV6_PATH.iter().map(|s| s.to_string()).collect();
    let mut none = shipped.clone();
    none.breakpoints.clear();
    let mut unmitigated = shipped.clone();
    unmitigated.auto_arm = false;
    let mut all = vec![
        ("no hints", shipped.clone()),
        ("hinted", hinted),
        ("none", none),
        ("unmitigated", unmitigated),
    ];
    if std::env::var_os(QUICK_ENV).is_some() {
        all.pop();
    }
    all
}

/// One boot, seconds from the resume to the last milestone, and what its
/// stops cost; an error unless it booted as expected and, with a
/// breakpoint, stopped every hart there.
async fn boot(build: &QemuBuild, scenario: &Scenario) -> Result<(f64, RspCosts)> {
    stop_costs::take();
    let report = hvharness::run(scenario, build).await?;
    let costs = stop_costs::take();
    if let hvharness::Verdict::Unexpected(why) = &report.verdict {
        bail!("{}: {why}", report.observed);
    }
    if !scenario.breakpoints.is_empty() && report.stops.len() != scenario.machine.smp as usize {
        bail!(
            "{} stops at the breakpoint, not one per hart",
            report.stops.len()
        );
    }
    let last = report
        .milestones
        .iter()
        .map(|m| m.at_secs)
        .fold(0.0, f64::max);
    Ok((last, costs))
}

pub(crate) async fn figure(root: &Path, registry: &QemuRegistry, reps: usize) -> bool {
    println!();
    println!("(x) guest-xv6layout (xv6-riscv's layout, 3 harts), resume to the last milestone, kvminithart's");
    println!("    breakpoint without hints (as shipped), with milestone_symbols (hinted), none, and in from the");
    println!("    start (unmitigated, auto_arm = false); ratios to none. The variants take turns.");
    let path = root.join("scenarios/guest-xv6layout.toml");
    let variants = match Scenario::load(&path) {
        Ok(mut shipped) => {
            // The unmitigated boot is slow: time it, do not judge it hung.
            shipped.quiet_limit = shipped.boot_timeout;
            variants(&shipped)
        }
        Err(e) => {
            println!("(x) failed: {e:#}");
            return false;
        }
    };
    println!("    load average at the start: {}", load_average());
    println!(
        "{:<7} {:<22} {:<22} {:<22} {:<22} {:<22} {:<22} unmitigated/none",
        "QEMU", "no hints", "hinted", "none", "unmitigated", "no hints/none", "hinted/none"
    );
    let mut ok = true;
    for build in registry.builds() {
        let version = build.version.to_string();
        let runs = match take_turns('x', build, &variants, reps, boot).await {
            Ok(runs) => runs,
            Err(e) => {
                println!("{version:<7} failed: {e}");
                ok = false;
                continue;
            }
        };
        let times: Vec<Vec<f64>> = runs
            .iter()
            .map(|r| r.iter().map(|(t, _)| *t).collect())
            .collect();
        let to_none = |k: usize| -> Vec<f64> {
            times[k]
                .iter()
                .zip(&times[2])
                .map(|(t, none)| t / none)
                .collect()
        };
        let left_out = || "-".to_string();
        println!(
            "{version:<7} {:<22} {:<22} {:<22} {:<22} {:<22} {:<22} {}",
            secs(&times[0]),
            secs(&times[1]),
            secs(&times[2]),
            times.get(3).map_or_else(left_out, |t| secs(t)),
            ratio(&to_none(0)),
            ratio(&to_none(1)),
            times.get(3).map_or_else(left_out, |_| ratio(&to_none(3)))
        );
        for ((label, _), r) in variants.iter().zip(&runs) {
            let costs: Vec<RspCosts> = r.iter().map(|(_, c)| c.clone()).collect();
            stop_costs::print(label, &costs);
            if *label != "none" {
                phases::print(label, r);
            }
        }
    }
    println!("    load average at the end: {}", load_average());
    ok
}
