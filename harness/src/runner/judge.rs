//! The judgement: what was observed against what the scenario expects of
//! this version, with the CSR checks and the expected trap.

use super::{checks::CheckResult, expected_trap, MilestoneHit, Observed, Verdict};
use crate::elf::ElfSet;
use crate::qemu::trap_log::LoggedTrap;
use crate::scenario::{ExpectedOutcome, LastMilestone, OutcomeKind, Scenario, ScenarioConsole};

/// What QEMU's interrupt log showed, for the judge: the first exception
/// matching the expected trap, the first with its cause anywhere (to say
/// where it was taken instead), and the ELF files to place them in.
pub(super) struct TrapSeen<'a> {
    pub(super) matched: Option<&'a LoggedTrap>,
    pub(super) first_of_cause: Option<&'a LoggedTrap>,
    pub(super) elfs: &'a ElfSet,
}

/// `space:symbol+offset` for every ELF file with a symbol spanning `addr`.
pub(super) fn trap_places(set: &ElfSet, addr: u64) -> Vec<String> {
    set.images()
        .iter()
        .filter_map(|i| {
            i.symbolize(addr)
                .filter(|h| h.exact)
                .map(|h| format!("{}:{h}", i.name()))
        })
        .collect()
}

/// The verdict on a run: what was observed against what `expected` says,
/// then the CSR checks (a failed one makes an expected outcome unexpected).
pub(super) fn verdict(
    expected: Option<&ExpectedOutcome>,
    observed: &Observed,
    milestones: &[MilestoneHit],
    trap: &TrapSeen,
    scenario: &Scenario,
    checks: &[CheckResult],
) -> Verdict {
    match (
        judge(expected, observed, milestones, trap, scenario),
        checks.iter().find(|c| !c.passed),
    ) {
        (Verdict::AsExpected, Some(failed)) => Verdict::Unexpected(failed.message.clone()),
        (verdict, _) => verdict,
    }
}

/// Whether each console `last` is about printed it as its last milestone
/// (hits are in arrival order; entries compare as written in the scenario).
fn last_milestone_holds(
    last: &LastMilestone,
    consoles: &[ScenarioConsole],
    milestones: &[MilestoneHit],
) -> Result<(), String> {
    let want = last.milestone.as_str();
    let about = consoles.iter().filter(|c| match &last.console {
        Some(name) => &c.name == name,
        None => c.milestones.iter().any(|m| m.as_str() == want),
    });
    for c in about {
        let printed = milestones
            .iter()
            .rev()
            .find(|m| m.console == c.name)
            .map(|m| m.pattern.as_str());
        match printed {
            Some(p) if p == want => {}
            Some(p) => {
                return Err(format!(
                    "hung, but console {} printed /{p}/ after /{want}/ or instead of it",
                    c.name
                ))
            }
            None => {
                return Err(format!(
                    "hung, but console {} printed no milestone, not even /{want}/",
                    c.name
                ))
            }
        }
    }
    Ok(())
}

fn judge(
    expected: Option<&ExpectedOutcome>,
    observed: &Observed,
    milestones: &[MilestoneHit],
    trap: &TrapSeen,
    scenario: &Scenario,
) -> Verdict {
    let (name, consoles) = (&scenario.name, &scenario.consoles);
    let Some(expected) = expected else {
        return Verdict::NoExpectation;
    };
    match (&expected.kind, observed) {
        (OutcomeKind::Boots, Observed::Booted) if nothing_observed(expected, milestones, scenario) => {
            Verdict::Unexpected(format!(
                "{name} printed no milestone and no check was made: nothing shows that the guest ran"
            ))
        }
        (OutcomeKind::Boots, Observed::Booted) => Verdict::AsExpected,
        (
            OutcomeKind::Boots,
            Observed::Hung {
                console, missing, ..
            },
        ) => Verdict::Unexpected(format!(
            "expected a boot, but console {console} never printed /{missing}/"
        )),
        (OutcomeKind::Boots, Observed::Exited { console, missing }) => {
            Verdict::Unexpected(format!(
                "expected a boot, but QEMU exited before console {console} printed /{missing}/"
            ))
        }
        (OutcomeKind::Hangs, Observed::Booted) => {
            Verdict::Unexpected(format!("expected a hang, but {name} booted"))
        }
        (OutcomeKind::Hangs, Observed::Exited { .. }) => {
            Verdict::Unexpected("expected a hang, but QEMU exited".to_string())
        }
        (OutcomeKind::Hangs, Observed::Hung { .. }) => {
            if let Some(last) = &expected.last_milestone {
                if let Err(why) = last_milestone_holds(last, consoles, milestones) {
                    return Verdict::Unexpected(why);
                }
            }
            if let (Some(want), None) = (&expected.trap, trap.matched) {
                return Verdict::Unexpected(expected_trap::not_seen(
                    want,
                    trap.first_of_cause,
                    trap.elfs,
                ));
            }
            Verdict::AsExpected
        }
    }
}

/// A boot that printed no milestone, typed nothing and checks no register
/// is a vacuous truth, not a boot (a scenario file cannot say so: it is
/// refused at load, see `scenario::file::can_fail`).
fn nothing_observed(
    expected: &ExpectedOutcome,
    milestones: &[MilestoneHit],
    scenario: &Scenario,
) -> bool {
    let waits = scenario
        .consoles
        .iter()
        .any(|c| c.steps.iter().any(|s| s.expect.is_some()));
    milestones.is_empty() && expected.checks.is_empty() && !waits
}

#[cfg(test)]
#[path = "judge_tests.rs"]
mod tests;
