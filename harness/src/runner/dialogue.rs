//! Driving the scenario's console dialogues (`[[console.step]]`, see
//! [`crate::scenario::DialogueStep`]) once every milestone has been seen.
//!
//! Each console's steps run in order; the consoles run side by side. A step
//! waits for its pattern after the console's previous match, then types its
//! input. Every step is bounded by its own timeout, counted from the moment
//! it became the console's current step; the boot timeout does not apply.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::hang::NoProgress;
use super::Observed;
use crate::console::Console;
use crate::qemu::QemuProcess;
use crate::scenario::{DialogueStep, Scenario};

/// One thing a dialogue did, in the order it happened, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct DialogueEvent {
    pub(crate) console: String,
    /// The step's line in the scenario file.
    pub line: usize,
    #[serde(flatten)]
    pub action: DialogueAction,
    /// Seconds from the VM's first instruction (resume).
    pub at_secs: f64,
}

/// What a dialogue step did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum DialogueAction {
    /// The step's pattern appeared; `interleaved` is the text as printed
    /// when another writer's output lay inside it (`console::interleaved`).
    Matched {
        pattern: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        interleaved: Option<String>,
    },
    /// The step's input was typed.
    Sent { text: String },
    /// The step's pattern did not appear within its timeout.
    TimedOut { pattern: String, waited_secs: f64 },
}

/// Where one console's dialogue is.
struct Progress {
    next: usize,
    /// When the current step began.
    since: Option<Instant>,
    /// The last pattern this console matched in its dialogue.
    last: Option<String>,
}

/// The dialogues of a run.
pub(crate) struct Dialogue<'a> {
    scenario: &'a Scenario,
    progress: Vec<Progress>,
    events: Vec<DialogueEvent>,
}

impl<'a> Dialogue<'a> {
    pub(crate) fn new(scenario: &'a Scenario) -> Self {
        let progress = scenario
            .consoles
            .iter()
            .map(|_| Progress {
                next: 0,
                since: None,
                last: None,
            })
            .collect();
        Dialogue {
            scenario,
            progress,
            events: Vec::new(),
        }
    }

    /// Called on every turn of the run loop once the milestones decided the
    /// boot (`booted`): anything but a boot ends the run as it is; after a
    /// boot, drives the dialogues as far as the consoles allow. `Some` once
    /// the run is decided: booted when every step is done, hung when a step
    /// timed out, exited when a console closed first.
    pub(crate) async fn after_boot(
        &mut self,
        booted: Observed,
        qemu: &mut QemuProcess,
        resumed: Instant,
    ) -> Result<Option<Observed>> {
        if !matches!(booted, Observed::Booted) {
            return Ok(Some(booted));
        }
        let mut done = true;
        for (i, sc) in self.scenario.consoles.iter().enumerate() {
            if let Some(decided) = self.advance_console(i, qemu, resumed).await? {
                return Ok(Some(decided));
            }
            done &= self.progress[i].next >= sc.steps.len();
        }
        Ok(done.then_some(Observed::Booted))
    }

    /// The run ended (a hang rule fired) after the boot: the first console
    /// whose dialogue is not finished, as hung on its current step; booted
    /// when every dialogue is done.
    pub(crate) fn hung(&self, early: Option<NoProgress>) -> Observed {
        let scenario = self.scenario;
        let waiting = scenario
            .consoles
            .iter()
            .zip(&self.progress)
            .find(|(sc, p)| p.next < sc.steps.len());
        let Some((sc, p)) = waiting else {
            return Observed::Booted;
        };
        let step = &sc.steps[p.next];
        let missing = match (&step.expect, &step.send) {
            (Some(pattern), _) => pattern.to_string(),
            (None, _) => format!("(the step at line {})", step.line),
        };
        let last_seen = p
            .last
            .clone()
            .or_else(|| sc.milestones.last().map(|m| m.to_string()));
        Observed::Hung {
            console: sc.name.clone(),
            missing,
            last_seen,
            early,
        }
    }

    /// Everything the dialogues did, in order.
    pub(crate) fn into_events(self) -> Vec<DialogueEvent> {
        self.events
    }

    async fn advance_console(
        &mut self,
        i: usize,
        qemu: &mut QemuProcess,
        resumed: Instant,
    ) -> Result<Option<Observed>> {
        let scenario = self.scenario;
        let sc = &scenario.consoles[i];
        let console = qemu.console(&sc.name)?;
        let p = &mut self.progress[i];
        while let Some(step) = sc.steps.get(p.next) {
            let now = Instant::now();
            let since = *p.since.get_or_insert(now);
            let at = |t: Instant| t.saturating_duration_since(resumed).as_secs_f64();
            let event = |action| DialogueEvent {
                console: sc.name.clone(),
                line: step.line,
                action,
                at_secs: at(Instant::now()),
            };
            if let Some(pattern) = &step.expect {
                match console.try_expect(pattern) {
                    Some(m) => {
                        let mut e = event(DialogueAction::Matched {
                            pattern: pattern.to_string(),
                            interleaved: m.interleaved.then(|| m.text.clone()),
                        });
                        e.at_secs = at(m.arrived);
                        self.events.push(e);
                        p.last = Some(pattern.to_string());
                    }
                    None if console.is_closed() => {
                        return Ok(Some(Observed::Exited {
                            console: sc.name.clone(),
                            missing: pattern.to_string(),
                        }));
                    }
                    None if now.saturating_duration_since(since) >= step.timeout => {
                        self.events.push(event(DialogueAction::TimedOut {
                            pattern: pattern.to_string(),
                            waited_secs: step.timeout.as_secs_f64(),
                        }));
                        let last_seen = p
                            .last
                            .clone()
                            .or_else(|| sc.milestones.last().map(|m| m.to_string()));
                        return Ok(Some(Observed::Hung {
                            console: sc.name.clone(),
                            missing: pattern.to_string(),
                            last_seen,
                            early: None,
                        }));
                    }
                    None => return Ok(None),
                }
            }
            if let Some(text) = &step.send {
                if let Some(stuck) = send(console, &sc.name, step, text, &p.last).await? {
                    return Ok(Some(stuck));
                }
                self.events
                    .push(event(DialogueAction::Sent { text: text.clone() }));
            }
            p.next += 1;
            p.since = None;
        }
        Ok(None)
    }
}

/// Sends `text` for `step` on `console` (named `name`; `last`: its last
/// matched pattern); a console that does not take it is hung. The guest
/// takes input as fast as its UART is read: a console that takes nothing for
/// the step's whole bound is as stuck as one that prints nothing.
async fn send(
    console: &mut Console,
    name: &str,
    step: &DialogueStep,
    text: &str,
    last: &Option<String>,
) -> Result<Option<Observed>> {
    let limit = step.timeout.max(Duration::from_millis(100));
    match tokio::time::timeout(limit, console.send(text)).await {
        Ok(sent) => {
            sent?;
            Ok(None)
        }
        Err(_) => Ok(Some(Observed::Hung {
            console: name.to_string(),
            missing: format!("(input {text:?} taken)"),
            last_seen: last.clone(),
            early: Some(NoProgress::NoInput {
                console: name.to_string(),
                waited: limit,
            }),
        })),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario::ScenarioFile;

    fn scenario() -> Scenario {
        let text = r#"[machine]
cpu = "rv64"
[[console]]
name = "a"
attach = "serial"
milestones = ["login: "]
[[console]]
name = "b"
attach = "pci-serial"
milestones = ['\$ ']
[[console.step]]
send = "stress 60\n"
[[console.step]]
expect = "stress: done"
"#;
        let path = Path::new("/p/s.toml");
        ScenarioFile::parse(text, path)
            .and_then(|f| f.into_scenario(path))
            .unwrap()
    }

    /// A hang rule that fires after the boot, while a dialogue is still
    /// running, is a hang on that dialogue's step, not a boot.
    #[test]
    fn a_hang_during_a_dialogue_names_the_pending_step() {
        let s = scenario();
        let mut talk = Dialogue::new(&s);
        let why = NoProgress::NoInput {
            console: "a".into(),
            waited: Duration::from_secs(2),
        };
        match talk.hung(Some(why.clone())) {
            Observed::Hung {
                console,
                missing,
                last_seen,
                early,
            } => {
                assert_eq!(
                    (console.as_str(), missing.as_str()),
                    ("b", "(the step at line 11)")
                );
                assert_eq!(last_seen.as_deref(), Some("\\$ "));
                assert_eq!(early, Some(why));
            }
            other => panic!("{other:?}"),
        }
        talk.progress[1].next = 1;
        talk.progress[1].last = Some("x".into());
        match talk.hung(None) {
            Observed::Hung {
                missing, last_seen, ..
            } => {
                assert_eq!(missing, "stress: done");
                assert_eq!(last_seen.as_deref(), Some("x"));
            }
            other => panic!("{other:?}"),
        }
        talk.progress[1].next = 2;
        assert!(
            matches!(talk.hung(None), Observed::Booted),
            "every step done"
        );
    }
}
