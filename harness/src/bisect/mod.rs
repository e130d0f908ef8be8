//! Narrowing a boot failure down by bisection.
//!
//! - [`versions`]: the first registered QEMU version whose observed outcome
//!   (booted, hung, exited) differs from the oldest's, by binary search.
//! - [`milestones`]: one run with a breakpoint at every milestone symbol of
//!   the scenario (`milestone_symbols`), reporting per hart the last one
//!   reached and the first one missed.
//! - [`qemu`]: the first commit of QEMU's own history whose outcome differs,
//!   building QEMU at each step.
//! - [`check`]: the good/bad/cannot-test judgement of one run, with the exit
//!   codes `git bisect run` understands.

pub(crate) mod check;
pub(crate) mod milestones;
pub(crate) mod qemu;
pub(crate) mod versions;

use crate::scenario::Scenario;

/// The scenario without its breakpoints and register checks: a plain boot,
/// with no debugger attached, for runs that only look at the outcome.
pub(crate) fn plain_boot(scenario: &Scenario) -> Scenario {
    let mut s = scenario.clone();
    s.breakpoints.clear();
    for o in &mut s.outcomes {
        o.checks.clear();
    }
    s
}

#[cfg(test)]
mod tests;
