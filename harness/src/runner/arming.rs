//! Breakpoints armed on an event the run loop sees (`arm_after = {
//! milestone = ... }` or `{ trap = ... }`): when a console has printed the
//! milestone, or QEMU's interrupt log shows the first exception of the
//! cause, the harts are paused, the waiting breakpoints go in, and the
//! harts run on.

use anyhow::Result;

use super::MilestoneHit;
use crate::debug::{DebugSession, StopRecord};
use crate::qemu::trap_log::SharedTrapLog;
use crate::scenario::ArmEvent;

/// What has happened so far, for the breakpoints armed on events.
pub(crate) struct EventArming {
    /// Milestones seen: (console, pattern as written).
    milestones: Vec<(String, String)>,
    /// Exception causes seen in the log (bit per code below 64).
    causes: u64,
}

impl EventArming {
    /// `None` when no breakpoint of the session waits for an event.
    pub(crate) fn new(session: &DebugSession) -> Option<EventArming> {
        session.waits_for(|_| true).then_some(EventArming {
            milestones: Vec::new(),
            causes: 0,
        })
    }

    fn fired(&self, e: &ArmEvent) -> bool {
        match e {
            ArmEvent::Milestone { .. } => self.milestones.iter().any(|(c, p)| e.is_milestone(c, p)),
            ArmEvent::Trap { cause } => *cause < 64 && self.causes & (1 << cause) != 0,
        }
    }

    /// Takes the milestones and causes seen since the last call; when a
    /// waiting breakpoint's event is among them, pauses the target, inserts
    /// it and lets the target run on. `false` when QEMU exited meanwhile.
    pub(crate) async fn check(
        &mut self,
        session: &mut DebugSession,
        hits: &[MilestoneHit],
        log: &SharedTrapLog,
        stops: &mut Vec<StopRecord>,
    ) -> Result<bool> {
        for h in hits.get(self.milestones.len()..).unwrap_or_default() {
            self.milestones.push((h.console.clone(), h.pattern.clone()));
        }
        self.causes = log.with(|l| {
            (0..64u64)
                .filter(|c| l.first_exception(*c).is_some())
                .fold(0, |bits, c| bits | (1 << c))
        });
        if !session.waits_for(|e| self.fired(e)) {
            return Ok(true);
        }
        match session.pause().await? {
            Some(records) => stops.extend(records),
            None => return Ok(false),
        }
        session.arm_on_events(|e| self.fired(e)).await?;
        session.cont().await?;
        Ok(true)
    }
}
