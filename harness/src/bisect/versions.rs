//! Bisection across QEMU versions: the first version, oldest first, whose
//! observed outcome (booted, hung, exited; not the verdict) differs from the
//! oldest version's.
//!
//! The search assumes the outcome changes at most once along the versions
//! (monotonic behaviour): with n versions it takes the oldest's outcome as
//! the reference and then at most ceil(log2 n) more runs. A version that
//! breaks and a later one that is fixed again can hide each other.

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::plain_boot;
use crate::qemu::{registry, QemuBuild, QemuVersion};
use crate::runner::{self, Observed};
use crate::scenario::Scenario;

/// What a run ended in, as the bisection compares it.
pub(crate) use crate::runner::OutcomeClass;

/// ceil(log2 n), 0 for n <= 1.
fn ceil_log2(n: usize) -> usize {
    if n <= 1 {
        0
    } else {
        (usize::BITS - (n - 1).leading_zeros()) as usize
    }
}

/// The search itself, apart from running anything: ask [`next`](Self::next)
/// which version (by index, oldest first) to run, then [`record`](Self::record)
/// its outcome, until `next` says `None`.
///
/// The first run is the oldest version (the reference). The answer is then
/// one of the n - 1 later versions or "none differs": n possibilities, told
/// apart by a lower-bound binary search in at most ceil(log2 n) runs.
#[derive(Debug, Clone)]
pub(crate) struct VersionSearch {
    count: usize,
    baseline: Option<OutcomeClass>,
    /// Every version below `lo` behaves like the oldest.
    lo: usize,
    /// `hi` differs from the oldest (or is `count`: none found yet).
    hi: usize,
}

impl VersionSearch {
    pub(crate) fn new(count: usize) -> VersionSearch {
        VersionSearch {
            count,
            baseline: None,
            lo: 1,
            hi: count,
        }
    }

    /// The most runs a search over `count` versions takes.
    pub(crate) fn max_runs(count: usize) -> usize {
        if count == 0 {
            0
        } else {
            1 + ceil_log2(count)
        }
    }

    /// The outcome of the oldest version, once run.
    pub(crate) fn baseline(&self) -> Option<OutcomeClass> {
        self.baseline
    }

    /// The index to run next, or `None` when the answer is known.
    pub(crate) fn next(&self) -> Option<usize> {
        match self.baseline {
            None if self.count > 0 => Some(0),
            None => None,
            Some(_) if self.lo < self.hi => Some(self.lo + (self.hi - self.lo) / 2),
            Some(_) => None,
        }
    }

    /// Takes the outcome of the version at `index` (the one `next` named).
    pub(crate) fn record(&mut self, index: usize, outcome: OutcomeClass) {
        match self.baseline {
            None => {
                debug_assert_eq!(index, 0, "the oldest version runs first");
                self.baseline = Some(outcome);
            }
            Some(base) if outcome == base => self.lo = self.lo.max(index + 1),
            Some(_) => self.hi = self.hi.min(index),
        }
    }

    /// When done: the first version that differs from the oldest, if any.
    pub(crate) fn first_different(&self) -> Option<usize> {
        (self.next().is_none() && self.lo < self.count).then_some(self.lo)
    }

    /// When done: the newest version known to behave like the oldest.
    pub(crate) fn last_same(&self) -> usize {
        self.lo.saturating_sub(1)
    }
}

/// One run of the bisection.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Probe {
    pub(crate) qemu: QemuVersion,
    pub(crate) outcome: OutcomeClass,
    /// The details: which console stopped where.
    pub(crate) observed: Observed,
    pub(crate) duration_secs: f64,
}

/// The whole bisection, for the report and `--json`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct VersionBisection {
    pub(crate) scenario: String,
    /// The versions searched, oldest first.
    pub(crate) versions: Vec<QemuVersion>,
    /// The most runs the search could take (1 + ceil(log2 n)).
    pub(crate) max_runs: usize,
    /// The runs, in the order they were made.
    pub(crate) probes: Vec<Probe>,
    /// The oldest version's outcome, the reference.
    pub(crate) baseline: OutcomeClass,
    /// The first version whose outcome differs from the oldest's.
    pub(crate) first_different: Option<QemuVersion>,
    /// Its outcome.
    pub(crate) different_outcome: Option<OutcomeClass>,
    /// The newest version seen to behave like the oldest.
    pub(crate) last_same: QemuVersion,
    /// The answer in one sentence.
    pub(crate) answer: String,
    /// What the answer rests on.
    pub(crate) assumption: String,
}

/// A note for progress output, sent as the search goes.
#[derive(Debug)]
pub(crate) enum ProbeEvent<'a> {
    /// Run `run` (1-based) of at most `max_runs` starts.
    Start {
        run: usize,
        max_runs: usize,
        version: QemuVersion,
    },
    /// It ended.
    Done { run: usize, probe: &'a Probe },
}

pub(crate) const ASSUMPTION: &str = "the outcome changes at most once from the oldest version to the newest (monotonic behaviour); \
     a version that breaks and a later one that is fixed again can hide each other";

/// The builds sorted oldest first, one per version; at least two.
pub(crate) fn order_builds(builds: &[QemuBuild]) -> Result<Vec<QemuBuild>> {
    let mut sorted: Vec<QemuBuild> = Vec::new();
    for b in builds {
        if !sorted.iter().any(|x| x.version == b.version) {
            sorted.push(b.clone());
        }
    }
    sorted.sort_by_key(|b| b.version);
    if sorted.len() < 2 {
        let known: Vec<String> = sorted.iter().map(|b| b.version.to_string()).collect();
        bail!(
            "bisecting needs at least two QEMU versions, selected: {}. Register another one: {}",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            },
            registry::how_to_register("X.Y.Z")
        );
    }
    Ok(sorted)
}

/// Runs the bisection: `scenario` (already built) as a plain boot, no
/// debugger, on the builds the search picks. `builds` need not be sorted.
pub(crate) async fn bisect(
    scenario: &Scenario,
    builds: &[QemuBuild],
    mut progress: impl FnMut(ProbeEvent<'_>),
) -> Result<VersionBisection> {
    let builds = order_builds(builds)?;
    let plain = plain_boot(scenario);
    let max_runs = VersionSearch::max_runs(builds.len());
    let mut search = VersionSearch::new(builds.len());
    let mut probes: Vec<Probe> = Vec::new();
    while let Some(i) = search.next() {
        let build = &builds[i];
        let run = probes.len() + 1;
        progress(ProbeEvent::Start {
            run,
            max_runs,
            version: build.version,
        });
        let report = runner::run(&plain, build)
            .await
            .with_context(|| format!("run {run}: {} on QEMU {}", scenario.name, build.version))?;
        let probe = Probe {
            qemu: build.version,
            outcome: report.observed.class(),
            observed: report.observed,
            duration_secs: report.duration_secs,
        };
        search.record(i, probe.outcome);
        progress(ProbeEvent::Done { run, probe: &probe });
        probes.push(probe);
    }
    let baseline = search.baseline().context("no version was run")?;
    let versions: Vec<QemuVersion> = builds.iter().map(|b| b.version).collect();
    let first = search.first_different();
    let last_same = versions[search.last_same()];
    let different_outcome = first.and_then(|i| {
        probes
            .iter()
            .find(|p| p.qemu == versions[i])
            .map(|p| p.outcome)
    });
    let answer = match (first, different_outcome) {
        (Some(i), Some(outcome)) => format!(
            "QEMU {} is the first version where {} {} ({last_same} {})",
            versions[i],
            scenario.name,
            outcome.verb(),
            baseline.verb()
        ),
        _ => format!(
            "{} {} on QEMU {} as on {}: no version from {} to {} changes the outcome",
            scenario.name,
            baseline.verb(),
            versions[versions.len() - 1],
            versions[0],
            versions[0],
            versions[versions.len() - 1]
        ),
    };
    Ok(VersionBisection {
        scenario: scenario.name.clone(),
        max_runs,
        probes,
        baseline,
        first_different: first.map(|i| versions[i]),
        different_outcome,
        last_same,
        versions,
        answer,
        assumption: ASSUMPTION.to_string(),
    })
}

/// The report as text: the runs, then the answer.
pub(crate) fn render(b: &VersionBisection) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let n = b.versions.len();
    let list: Vec<String> = b.versions.iter().map(|v| v.to_string()).collect();
    let _ = writeln!(
        s,
        "== {}: QEMU versions {} (oldest first)",
        b.scenario,
        list.join(", ")
    );
    let _ = writeln!(
        s,
        "binary search: {} run{} for {n} versions (at most {})",
        b.probes.len(),
        if b.probes.len() == 1 { "" } else { "s" },
        b.max_runs
    );
    for (i, p) in b.probes.iter().enumerate() {
        let role = if i == 0 {
            "  (oldest: the reference)"
        } else if p.outcome == b.baseline {
            "  (same)"
        } else {
            "  (differs)"
        };
        let _ = writeln!(
            s,
            "  run {}: QEMU {:<8} {:>6.1} s  {}{role}",
            i + 1,
            p.qemu.to_string(),
            p.duration_secs,
            p.observed
        );
    }
    let _ = writeln!(s, "{}", b.answer);
    let _ = writeln!(s, "assumption: {}", b.assumption);
    s
}
