//! The judgement behind `hvharness check`, in `git bisect run`'s terms:
//! good (exit 0), bad (1), or cannot test (125, git skips the commit).
//!
//! Good, by default: the boot succeeds, every console prints every one of
//! its milestones, on the QEMU version asked for. With `expect`: the
//! scenario's stated expectation for that version holds (it may be a hang),
//! including its register checks. Cannot test: the firmware does not build,
//! the scenario does not load, the QEMU version is not registered, QEMU does
//! not start or is ended from outside during the run (the runner's error),
//! or (with `expect`) the scenario states nothing for the version.

use serde::Serialize;

use crate::qemu::QemuVersion;
use crate::runner::{Observed, RunReport, Verdict};

/// Exit status: the commit is good.
pub(crate) const EXIT_GOOD: u8 = 0;
/// Exit status: the commit is bad.
pub(crate) const EXIT_BAD: u8 = 1;
/// Exit status: this commit cannot be tested; `git bisect run` skips it.
pub(crate) const EXIT_UNTESTABLE: u8 = 125;

/// The judgement, with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "reason", rename_all = "snake_case")]
pub(crate) enum Judgement {
    Good(String),
    Bad(String),
    Untestable(String),
}

impl Judgement {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Judgement::Good(_) => EXIT_GOOD,
            Judgement::Bad(_) => EXIT_BAD,
            Judgement::Untestable(_) => EXIT_UNTESTABLE,
        }
    }

    /// `good`, `bad` or `cannot test`.
    pub(crate) fn word(&self) -> &'static str {
        match self {
            Judgement::Good(_) => "good",
            Judgement::Bad(_) => "bad",
            Judgement::Untestable(_) => "cannot test",
        }
    }

    pub(crate) fn reason(&self) -> &str {
        match self {
            Judgement::Good(r) | Judgement::Bad(r) | Judgement::Untestable(r) => r,
        }
    }
}

/// Judges one run: by the boot alone, or with `expect` by the scenario's
/// expectation for the version.
pub(crate) fn judge(report: &RunReport, expect: bool) -> Judgement {
    // A boot with no milestone seen is only a QEMU that started.
    if !expect && report.milestones.is_empty() && report.dialogue.is_empty() {
        if let Observed::Booted = report.observed {
            return Judgement::Untestable(format!(
                "{} printed no milestone: a boot cannot be judged without one (use --expect for \
                 its [[outcome]] checks)",
                report.scenario
            ));
        }
    }
    judge_outcome(
        &report.scenario,
        report.qemu,
        &report.observed,
        &report.verdict,
        expect,
    )
}

/// [`judge`] on the parts of a report that matter.
pub(crate) fn judge_outcome(
    scenario: &str,
    qemu: QemuVersion,
    observed: &Observed,
    verdict: &Verdict,
    expect: bool,
) -> Judgement {
    if !expect {
        return match observed {
            Observed::Booted => Judgement::Good(observed.to_string()),
            _ => Judgement::Bad(observed.to_string()),
        };
    }
    match verdict {
        Verdict::AsExpected => {
            Judgement::Good(format!("as expected for QEMU {qemu}: {}", observed))
        }
        Verdict::Unexpected(why) => {
            Judgement::Bad(format!("not as expected for QEMU {qemu}: {why}"))
        }
        Verdict::NoExpectation => Judgement::Untestable(format!(
            "{scenario} states no [[outcome]] for QEMU {qemu}: nothing to compare with \
             (add one, or drop --expect to ask for a boot)"
        )),
    }
}
