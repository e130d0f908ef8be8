//! The boot's milestones: which one each console waits for next, and the
//! hits taken as their text arrives.

use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{dialogue, hang, settle, Observed};
use crate::console::interleaved;
use crate::scenario::Scenario;

/// A milestone seen on a console.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MilestoneHit {
    pub console: String,
    pub pattern: String,
    /// Seconds from the VM's first instruction (resume) to the text's arrival.
    pub at_secs: f64,
    /// The text as printed, when another writer's output lies inside it
    /// (a console shared without a common lock, see
    /// `console::interleaved`); absent for a whole match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interleaved: Option<String>,
}

impl MilestoneHit {
    /// `with other output inside: "gd\r\nuest kernel is booting"` for an
    /// interleaved hit, control characters escaped; `None` for a whole one.
    pub(crate) fn interleaved_words(&self) -> Option<String> {
        self.interleaved.as_deref().map(interleaved::in_words)
    }
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
                    Some(m) => {
                        self.hits.push(MilestoneHit {
                            console: sc.name.clone(),
                            pattern: pattern.to_string(),
                            at_secs: m.arrived.saturating_duration_since(resumed).as_secs_f64(),
                            interleaved: m.interleaved.then_some(m.text),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interleaved_hit_says_so_in_words_and_in_json() {
        let mut hit = MilestoneHit {
            console: "vm0".into(),
            pattern: "guest kernel is booting".into(),
            at_secs: 0.17,
            interleaved: None,
        };
        assert_eq!(hit.interleaved_words(), None);
        let json = serde_json::to_string(&hit).expect("json");
        assert!(!json.contains("interleaved"), "{json}");
        hit.interleaved = Some("gd\r\nuest kernel is booting".into());
        assert_eq!(
            hit.interleaved_words().as_deref(),
            Some(r#"with other output inside: "gd\r\nuest kernel is booting""#)
        );
        let back: MilestoneHit =
            serde_json::from_str(&serde_json::to_string(&hit).expect("json")).expect("read back");
        assert_eq!(back.interleaved, hit.interleaved);
    }
}
