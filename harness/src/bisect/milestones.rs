//! Bisection along the boot path: one run with a breakpoint at every
//! milestone symbol of the scenario (`milestone_symbols`, in boot order),
//! each counting one stop per hart; per hart, the last milestone reached and
//! the first one missed.
//!
//! Each milestone's breakpoint is inserted when the previous milestone is
//! first reached (on any hart), and stays in until each hart has stopped
//! there once, at the scenario's `milestone_privilege` (stops at other
//! privilege levels, such as a hypervisor's own code at the same address, do
//! not count); a hart that never gets somewhere leaves its breakpoints
//! pending to the end of the run. Armed late because QEMU runs every
//! instruction on a breakpoint's page one at a time: with all of them in
//! from the start, hot boot code sharing a page with a later milestone is
//! slow from the first instruction. The cost: a milestone no hart reaches
//! leaves every later one unarmed, so "later reached" (a milestone that was
//! inlined or never called) shows only when another hart passed the gap.

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::debug::StopRecord;
use crate::qemu::{QemuBuild, QemuVersion};
use crate::runner::{self, Observed};
use crate::scenario::{BreakpointSpec, PrivilegeFilter, Scenario};

/// One counted stop at a milestone.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MilestoneStop {
    /// The milestone as written (`guest:kvminithart`).
    pub(crate) milestone: String,
    /// Where the hart stopped, with its source line.
    pub(crate) place: String,
    pub(crate) privilege: String,
    /// Seconds from the first instruction.
    pub(crate) at_secs: f64,
}

/// How far one hart got.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HartProgress {
    pub(crate) hart: u32,
    /// The milestones this hart stopped at, in boot order.
    pub(crate) reached: Vec<String>,
    /// The last milestone of the unbroken run from the first one.
    pub(crate) last_reached: Option<String>,
    /// The first milestone the hart never stopped at.
    pub(crate) first_missed: Option<String>,
    /// Milestones reached after the first missed one (out of order, or a
    /// missed one that was inlined or never called).
    pub(crate) reached_after_gap: Vec<String>,
    pub(crate) stops: Vec<MilestoneStop>,
}

impl HartProgress {
    /// True when the hart stopped at every milestone.
    pub(crate) fn complete(&self) -> bool {
        self.first_missed.is_none()
    }
}

/// The result of `hvharness bisect milestones`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MilestoneReport {
    pub(crate) scenario: String,
    pub(crate) qemu: QemuVersion,
    /// The milestones in boot order, as written.
    pub(crate) milestones: Vec<String>,
    pub(crate) privilege: Option<PrivilegeFilter>,
    pub(crate) harts: Vec<HartProgress>,
    /// How the boot ended, as the consoles saw it.
    pub(crate) observed: Observed,
    pub(crate) duration_secs: f64,
}

/// The scenario with one breakpoint per milestone symbol (no registers
/// dumped, one counted stop per hart) in place of its own breakpoints; the
/// expectation's register checks go, as their breakpoints do.
pub(crate) fn milestone_scenario(scenario: &Scenario) -> Result<Scenario> {
    if scenario.milestone_symbols.is_empty() {
        bail!(
            "{}: no milestone_symbols. Add the functions a good boot passes through, in order, at the top of the file, e.g.\n  \
             milestone_symbols = [\"guest:main\", \"guest:kinit\", \"guest:kvminit\", \"guest:kvminithart\", \"guest:trapinithart\", \"guest:userinit\"]\n  \
             milestone_privilege = \"VS\"   # optional: only stops at this privilege level count",
            scenario.path.display()
        );
    }
    let mut s = scenario.clone();
    s.breakpoints = scenario
        .milestone_symbols
        .iter()
        .enumerate()
        .map(|(i, m)| BreakpointSpec {
            watch: None,
            at: m.clone(),
            hart: None,
            privilege: scenario.milestone_privilege,
            dump: Vec::new(),
            max_hits: scenario.machine.smp,
            once_per_hart: true,
            // Armed late: a breakpoint slows every instruction on its page,
            // so each goes in when the previous milestone is first reached.
            arm_after: i
                .checked_sub(1)
                .map(|p| scenario.milestone_symbols[p].clone()),
            arm_on: None,
            read_after_step: Vec::new(),
            hits_per_hart: 1,
            completed_write: None,
        })
        .collect();
    for o in &mut s.outcomes {
        o.checks.clear();
    }
    Ok(s)
}

/// The counted stops as (hart, stop).
pub(crate) fn stops_of(records: &[StopRecord]) -> Vec<(u32, MilestoneStop)> {
    records
        .iter()
        .map(|s| {
            let stop = MilestoneStop {
                milestone: s.breakpoint.clone(),
                place: s.place.clone(),
                privilege: s.privilege_name.clone(),
                at_secs: s.at_secs,
            };
            (s.hart, stop)
        })
        .collect()
}

/// Per hart (0 .. harts), how far the boot got, from the counted stops.
pub(crate) fn progress(
    milestones: &[String],
    harts: u32,
    stops: &[(u32, MilestoneStop)],
) -> Vec<HartProgress> {
    (0..harts)
        .map(|hart| {
            let mut mine: Vec<MilestoneStop> = stops
                .iter()
                .filter(|(h, _)| *h == hart)
                .map(|(_, s)| s.clone())
                .collect();
            mine.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
            let hit = |m: &String| mine.iter().any(|s| &s.milestone == m);
            let reached: Vec<String> = milestones.iter().filter(|m| hit(m)).cloned().collect();
            let gap = milestones.iter().position(|m| !hit(m));
            let (last_reached, first_missed, after) = match gap {
                None => (milestones.last().cloned(), None, Vec::new()),
                Some(g) => (
                    g.checked_sub(1).map(|i| milestones[i].clone()),
                    Some(milestones[g].clone()),
                    milestones[g + 1..]
                        .iter()
                        .filter(|m| hit(m))
                        .cloned()
                        .collect(),
                ),
            };
            HartProgress {
                hart,
                reached,
                last_reached,
                first_missed,
                reached_after_gap: after,
                stops: mine,
            }
        })
        .collect()
}

/// Runs `scenario` (already built) once on `build` with the milestone
/// breakpoints and reports per hart.
pub(crate) async fn bisect(scenario: &Scenario, build: &QemuBuild) -> Result<MilestoneReport> {
    let with_breakpoints = milestone_scenario(scenario)?;
    let report = runner::run(&with_breakpoints, build)
        .await
        .with_context(|| {
            format!(
                "{} on QEMU {} with milestone breakpoints",
                scenario.name, build.version
            )
        })?;
    Ok(MilestoneReport {
        scenario: scenario.name.clone(),
        qemu: build.version,
        milestones: scenario.milestone_symbols.clone(),
        privilege: scenario.milestone_privilege,
        harts: progress(
            &scenario.milestone_symbols,
            scenario.machine.smp,
            &stops_of(&report.stops),
        ),
        observed: report.observed,
        duration_secs: report.duration_secs,
    })
}

/// A milestone without its ELF space, for sentences: `guest:kinit` -> `kinit`.
fn short<'a>(scenario: &Scenario, m: &'a str) -> &'a str {
    scenario.split_space(m).1
}

/// One line per hart: `hart 0: reached kvminithart, missed trapinithart`.
pub(crate) fn summary_line(scenario: &Scenario, h: &HartProgress, milestones: &[String]) -> String {
    let name = |m: &str| short(scenario, m).to_string();
    let mut line = match (&h.last_reached, &h.first_missed) {
        (_, None) => format!(
            "hart {}: reached every milestone ({} .. {})",
            h.hart,
            milestones.first().map(|m| name(m)).unwrap_or_default(),
            milestones.last().map(|m| name(m)).unwrap_or_default()
        ),
        (Some(last), Some(missed)) => format!(
            "hart {}: reached {}, missed {}",
            h.hart,
            name(last),
            name(missed)
        ),
        (None, Some(missed)) => format!("hart {}: reached none, missed {}", h.hart, name(missed)),
    };
    if !h.reached_after_gap.is_empty() {
        let later: Vec<String> = h.reached_after_gap.iter().map(|m| name(m)).collect();
        line.push_str(&format!(" (but later reached {})", later.join(", ")));
    }
    line
}

/// The report as text: a table of stop times by milestone and hart, how the
/// boot ended, and one line per hart.
pub(crate) fn render(scenario: &Scenario, r: &MilestoneReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let privilege = r
        .privilege
        .map(|p| format!(", privilege {}", p.name()))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "== {} on QEMU {}: {} milestones, one run ({:.1} s){privilege}",
        r.scenario,
        r.qemu,
        r.milestones.len(),
        r.duration_secs
    );
    let width = r
        .milestones
        .iter()
        .map(|m| m.len())
        .max()
        .unwrap_or(0)
        .max(9);
    let mut header = format!("  {:<width$}", "milestone");
    for h in &r.harts {
        header.push_str(&format!("  {:>9}", format!("hart {}", h.hart)));
    }
    let _ = writeln!(s, "{}", header.trim_end());
    for m in &r.milestones {
        let mut row = format!("  {m:<width$}");
        for h in &r.harts {
            let cell = match h.stops.iter().find(|st| &st.milestone == m) {
                Some(st) => format!("{:.3} s", st.at_secs),
                None => "-".to_string(),
            };
            row.push_str(&format!("  {cell:>9}"));
        }
        let _ = writeln!(s, "{}", row.trim_end());
    }
    let _ = writeln!(s, "observed: {}", r.observed);
    for h in &r.harts {
        let _ = writeln!(s, "{}", summary_line(scenario, h, &r.milestones));
    }
    s
}
