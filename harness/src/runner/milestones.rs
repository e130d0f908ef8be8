//! The boot's milestones: which one each console waits for next, and the
//! hits taken as their text arrives.

use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{dialogue, hang, settle, Observed};
use crate::scenario::Scenario;

/// A milestone seen on a console.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MilestoneHit {
    pub console: String,
    pub pattern: String,
    /// Seconds from the VM's first instruction (resume) to the text's arrival.
    pub at_secs: f64,
}

/// Which milestone each console waits for next.
pub(super) struct MilestoneTracker<'a> {
    pub(super) scenario: &'a Scenario,
    next: Vec<usize>,
    pub(super) hits: Vec<MilestoneHit>,
}

impl<'a> MilestoneTracker<'a> {
    pub(super) fn new(scenario: &'a Scenario) -> Self {
        MilestoneTracker {
            scenario,
            next: vec![0; scenario.consoles.len()],
            hits: Vec::new(),
        }
    }

    /// Takes every milestone already printed; `Some` once the run is decided
    /// by the consoles (all milestones seen, or a console closed early).
    pub(super) fn advance<C: settle::Consoles>(
        &mut self,
        consoles: &mut C,
        resumed: Instant,
    ) -> Result<Option<Observed>> {
        for (i, sc) in self.scenario.consoles.iter().enumerate() {
            while let Some(pattern) = sc.milestones.get(self.next[i]) {
                match consoles.take_match(&sc.name, pattern)? {
                    Some(arrived) => {
                        self.hits.push(MilestoneHit {
                            console: sc.name.clone(),
                            pattern: pattern.to_string(),
                            at_secs: arrived.saturating_duration_since(resumed).as_secs_f64(),
                        });
                        self.next[i] += 1;
                    }
                    None if consoles.closed(&sc.name)? => {
                        return Ok(Some(Observed::Exited {
                            console: sc.name.clone(),
                            missing: pattern.to_string(),
                        }));
                    }
                    None => break,
                }
            }
        }
        let done = self
            .scenario
            .consoles
            .iter()
            .enumerate()
            .all(|(i, sc)| self.next[i] >= sc.milestones.len());
        Ok(done.then_some(Observed::Booted))
    }

    /// The first console still waiting, as a hang; with every milestone
    /// seen, the dialogue step still waiting.
    pub(super) fn hung(
        &self,
        early: Option<hang::NoProgress>,
        talk: &dialogue::Dialogue,
    ) -> Observed {
        let waiting = self
            .scenario
            .consoles
            .iter()
            .enumerate()
            .find(|(i, sc)| self.next[*i] < sc.milestones.len());
        match waiting {
            Some((i, sc)) => Observed::Hung {
                console: sc.name.clone(),
                missing: sc.milestones[self.next[i]].to_string(),
                last_seen: self.next[i]
                    .checked_sub(1)
                    .map(|j| sc.milestones[j].to_string()),
                early,
            },
            None => talk.hung(early),
        }
    }
}
