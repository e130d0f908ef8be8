//! After a hang rule fired and the harts were stopped: let the consoles'
//! in-flight output arrive, then say again which console waits for what.
//!
//! A rule can fire before the console readers have taken what the harts
//! printed just before it (seen: fault-nostvec-hv@10.0.2, vm1's boot line
//! arrived after the storm verdict, and the verdict named it missing). The
//! harts are stopped, so what still arrives was printed before the verdict.
//! The verdict's kind never changes here, only what it names as missing.

use std::time::{Duration, Instant};

use anyhow::Result;
use regex::Regex;

use super::dialogue::Dialogue;
use super::milestones::MilestoneTracker;
use super::Observed;
use crate::console::ConsoleMatch;
use crate::qemu::QemuProcess;

/// The consoles milestones are read from: QEMU's, or a test's.
pub(crate) trait Consoles {
    /// Bytes printed so far on console `name` (0 for an unknown one).
    fn printed(&mut self, name: &str) -> usize;
    /// The next match of `pattern` on `name`, taking it.
    fn take_match(&mut self, name: &str, pattern: &Regex) -> Result<Option<ConsoleMatch>>;
    /// Whether console `name` was closed (QEMU exited).
    fn closed(&mut self, name: &str) -> Result<bool>;
}

impl Consoles for QemuProcess {
    fn printed(&mut self, name: &str) -> usize {
        self.console(name).map(|c| c.len()).unwrap_or(0)
    }

    fn take_match(&mut self, name: &str, pattern: &Regex) -> Result<Option<ConsoleMatch>> {
        Ok(self.console(name)?.try_expect(pattern))
    }

    fn closed(&mut self, name: &str) -> Result<bool> {
        Ok(self.console(name)?.is_closed())
    }
}

/// How the settling looks at the consoles.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    /// Between two looks.
    pub(crate) look: Duration,
    /// The longest it waits in all.
    pub(crate) limit: Duration,
}

impl Pace {
    /// A run's: bytes in flight arrive within milliseconds; bounded at 1 s.
    pub(crate) const RUN: Pace = Pace {
        look: Duration::from_millis(50),
        limit: Duration::from_secs(1),
    };
}

/// Waits until no console has grown for two looks in a row (bounded by
/// `pace.limit`), so that bytes already in flight reach the transcripts.
pub(crate) async fn settle<C: Consoles>(consoles: &mut C, names: &[String], pace: Pace) {
    let total = |c: &mut C| -> usize { names.iter().map(|n| c.printed(n)).sum() };
    let until = Instant::now() + pace.limit;
    let mut last = total(consoles);
    let mut still = 0;
    while still < 2 && Instant::now() < until {
        tokio::time::sleep(pace.look).await;
        let now = total(consoles);
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
}

/// `observed` once the consoles settled: a hang names again the first
/// console still waiting and what for (another verdict stands as it is).
pub(crate) async fn rename_hang<C: Consoles>(
    observed: Observed,
    tracker: &mut MilestoneTracker<'_>,
    consoles: &mut C,
    resumed: Instant,
    talk: &Dialogue<'_>,
    pace: Pace,
) -> Observed {
    let Observed::Hung { early, .. } = &observed else {
        return observed;
    };
    let early = early.clone();
    let names: Vec<String> = tracker
        .scenario
        .consoles
        .iter()
        .map(|c| c.name.clone())
        .collect();
    settle(consoles, &names, pace).await;
    match tracker.advance(consoles, resumed) {
        Ok(None) => tracker.hung(early, talk),
        // All milestones in after all, or a console closed: the hang stands
        // as it was named (the harts were stopped by the verdict).
        _ => observed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use std::collections::HashMap;

    /// Consoles whose text comes in chunks: each chunk arrives on the n-th
    /// look at its console's length (`printed`), as bytes a reader thread
    /// takes a while to hand over.
    #[derive(Default)]
    struct LateConsoles {
        text: HashMap<String, String>,
        cursor: HashMap<String, usize>,
        looks: HashMap<String, usize>,
        /// (console, look at which it arrives, text)
        pending: Vec<(String, usize, String)>,
    }

    impl LateConsoles {
        fn print(&mut self, name: &str, text: &str) {
            self.text.entry(name.into()).or_default().push_str(text);
        }
        fn late(&mut self, name: &str, look: usize, text: &str) {
            self.pending.push((name.into(), look, text.into()));
        }
    }

    impl Consoles for LateConsoles {
        fn printed(&mut self, name: &str) -> usize {
            let look = self.looks.entry(name.into()).or_default();
            *look += 1;
            let look = *look;
            let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
                .into_iter()
                .partition(|(n, at, _)| n == name && *at <= look);
            self.pending = rest;
            for (n, _, t) in due {
                self.print(&n, &t);
            }
            self.text.get(name).map_or(0, |t| t.len())
        }

        fn take_match(&mut self, name: &str, pattern: &Regex) -> Result<Option<ConsoleMatch>> {
            let text = self.text.get(name).map_or("", |t| t.as_str());
            let from = self.cursor.get(name).copied().unwrap_or(0);
            Ok(pattern.find(&text[from..]).map(|m| {
                self.cursor.insert(name.into(), from + m.end());
                ConsoleMatch {
                    text: m.as_str().to_string(),
                    arrived: Instant::now(),
                    interleaved: false,
                }
            }))
        }

        fn closed(&mut self, _name: &str) -> Result<bool> {
            Ok(false)
        }
    }

    fn two_vms(dir: &std::path::Path) -> Scenario {
        let text = r#"
[machine]
cpu = "rv64,h=true"
smp = 2
kernel = "hv.elf"
[[console]]
name = "vm0"
attach = "serial"
milestones = ["guest kernel is booting", "init: starting sh"]
[[console]]
name = "vm1"
attach = "pci-serial"
milestones = ["guest kernel is booting", "init: starting sh"]
[[outcome]]
qemu = "*"
expect = "boots"
"#;
        let path = dir.join("two.toml");
        std::fs::write(&path, text).unwrap();
        Scenario::load(&path).unwrap()
    }

    /// Never bounded by the host's speed: only the looks decide.
    const TEST_PACE: Pace = Pace {
        look: Duration::from_millis(1),
        limit: Duration::from_secs(3600),
    };

    /// `rename_hang` at the test pace.
    async fn rename_at_test_pace(
        at_once: Observed,
        tracker: &mut MilestoneTracker<'_>,
        consoles: &mut LateConsoles,
        resumed: Instant,
        talk: &Dialogue<'_>,
    ) -> Observed {
        rename_hang(at_once, tracker, consoles, resumed, talk, TEST_PACE).await
    }

    fn missing(o: &Observed) -> (String, String) {
        match o {
            Observed::Hung {
                console, missing, ..
            } => (console.clone(), missing.clone()),
            other => panic!("not a hang: {other:?}"),
        }
    }

    /// Both VMs storm right after their boot line; vm0's line is still in
    /// flight when the rule fires. Read at once (the old behaviour), the
    /// verdict says vm0 never began to boot; settled, it names vm0's shell.
    #[tokio::test]
    async fn a_boot_line_in_flight_is_not_named_missing() {
        let dir = tempfile::tempdir().unwrap();
        let scenario = two_vms(dir.path());
        let talk = Dialogue::new(&scenario);
        let resumed = Instant::now();
        let mut consoles = LateConsoles::default();
        consoles.print("vm1", "guest kernel is booting\n");
        // Arrives at the second look of the settling (the first is its
        // starting count), after one look that saw nothing new.
        consoles.late("vm0", 3, "guest kernel is booting\n");

        let mut tracker = MilestoneTracker::new(&scenario);
        assert!(tracker.advance(&mut consoles, resumed).unwrap().is_none());
        let early = Some(crate::runner::hang::NoProgress::Storm(
            crate::qemu::trap_log::LoggedTrap {
                hart: 1,
                interrupt: false,
                cause: 2,
                epc: 0x80200400,
                tval: 0,
                desc: "illegal_instruction".into(),
            },
        ));
        let at_once = tracker.hung(early, &talk);
        assert_eq!(
            missing(&at_once),
            ("vm0".into(), "guest kernel is booting".into()),
            "without settling, vm0's boot line is named missing"
        );

        let settled =
            rename_at_test_pace(at_once, &mut tracker, &mut consoles, resumed, &talk).await;
        assert_eq!(
            missing(&settled),
            ("vm0".into(), "init: starting sh".into())
        );
        match &settled {
            Observed::Hung { early, .. } => assert!(early.is_some(), "the early reason stays"),
            other => panic!("not a hang: {other:?}"),
        }
    }

    /// Nothing in flight: the verdict is named as before, and the settling
    /// ends after two looks that saw nothing new.
    #[tokio::test]
    async fn nothing_in_flight_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let scenario = two_vms(dir.path());
        let talk = Dialogue::new(&scenario);
        let resumed = Instant::now();
        let mut consoles = LateConsoles::default();
        consoles.print("vm0", "guest kernel is booting\n");
        let mut tracker = MilestoneTracker::new(&scenario);
        assert!(tracker.advance(&mut consoles, resumed).unwrap().is_none());
        let at_once = tracker.hung(None, &talk);
        let settled =
            rename_at_test_pace(at_once.clone(), &mut tracker, &mut consoles, resumed, &talk).await;
        assert_eq!(missing(&settled), missing(&at_once));
        // One starting count and two quiet looks, per console.
        assert_eq!(consoles.looks.get("vm0"), Some(&3));
    }

    /// Anything but a hang is left alone, without waiting.
    #[tokio::test]
    async fn a_boot_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let scenario = two_vms(dir.path());
        let talk = Dialogue::new(&scenario);
        let mut consoles = LateConsoles::default();
        let mut tracker = MilestoneTracker::new(&scenario);
        let o = rename_at_test_pace(
            Observed::Booted,
            &mut tracker,
            &mut consoles,
            Instant::now(),
            &talk,
        )
        .await;
        assert!(matches!(o, Observed::Booted));
        assert!(consoles.looks.is_empty());
    }
}
