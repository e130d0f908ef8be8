//! The running boot: the run loop that polls consoles, the interrupt log
//! and the debugger until the boot is decided (booted, exited or hung), the
//! looks that confirm a suspected hang, and the stops still to take after.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::milestones::{MilestoneHit, MilestoneTracker};
use super::{
    arming, dialogue, guest_parked, hang, hot_pages, inspect, settle, stuck, LookCounts, Observed,
};
use crate::debug::{DebugSession, Event, StopRecord};
use crate::qemu::trap_log::{LoggedTrap, SharedTrapLog};
use crate::qemu::QemuProcess;
use crate::scenario::Scenario;

/// After a first hart loops on a fault, how long the others get to reach theirs.
const STORM_SETTLE: Duration = Duration::from_millis(500);

/// After a hart is found parked while others still run, how long every
/// console must stay silent before the run is called hung (the others may be
/// a VM still booting).
const PARKED_SETTLE: Duration = Duration::from_secs(3);

/// How often the run loop looks at consoles, the log and the debugger.
const POLL: Duration = Duration::from_millis(20);

/// A boot watched until decided, and what the watch kept on the way.
pub(super) struct WatchedBoot<'a> {
    pub(super) observed: Observed,
    pub(super) qemu: QemuProcess,
    /// `None` when QEMU was shutting down at the end.
    pub(super) session: Option<DebugSession>,
    pub(super) milestones: Vec<MilestoneHit>,
    pub(super) talk: dialogue::Dialogue<'a>,
    pub(super) stops: Vec<StopRecord>,
    /// The repeating fault, when a storm ended the run.
    pub(super) storm: Option<LoggedTrap>,
    pub(super) looks: LookCounts,
    /// The most the session directory held (see [`DiskWatch`]).
    pub(super) disk_peak: u64,
}

/// Lets the target run and watches the boot until it is decided, then
/// takes the stops still to come and leaves the target stopped.
pub(super) async fn watch<'a>(
    scenario: &'a Scenario,
    qemu: QemuProcess,
    session: DebugSession,
    trap_log: Arc<SharedTrapLog>,
) -> Result<WatchedBoot<'a>> {
    let mut boot = BootWatch::start(scenario, qemu, session, trap_log).await?;
    let observed = boot.until_decided().await?;
    let observed = boot.wind_down(observed).await?;
    Ok(WatchedBoot {
        observed,
        qemu: boot.qemu,
        session: boot.session,
        milestones: boot.tracker.hits,
        talk: boot.talk,
        stops: boot.stops,
        storm: boot.storm,
        looks: boot.looks,
        disk_peak: boot.disk.peak,
    })
}

/// A parked hart found while other harts still run, and the consoles'
/// output then and since when it has not changed.
type ParkedPending = (hang::NoProgress, usize, Instant);

/// The running boot and everything the run loop keeps while it waits for a
/// verdict: milestones, dialogues, stops, hang suspicions and the looks
/// taken to confirm them, late arming.
struct BootWatch<'a> {
    scenario: &'a Scenario,
    qemu: QemuProcess,
    /// `None` once QEMU is shutting down (nothing can be confirmed then).
    session: Option<DebugSession>,
    trap_log: Arc<SharedTrapLog>,
    resumed: Instant,
    deadline: Instant,
    tracker: MilestoneTracker<'a>,
    talk: dialogue::Dialogue<'a>,
    stops: Vec<StopRecord>,
    watch: hang::HangWatch,
    /// The repeating fault, once a storm is confirmed, and how long the
    /// other harts get to reach theirs.
    storm: Option<LoggedTrap>,
    settle_until: Option<Instant>,
    looks: LookCounts,
    parked_pending: Option<ParkedPending>,
    disk: DiskWatch,
    arming: Option<arming::EventArming>,
}

impl<'a> BootWatch<'a> {
    /// Lets the target run (its breakpoints in) and starts watching.
    async fn start(
        scenario: &'a Scenario,
        qemu: QemuProcess,
        mut session: DebugSession,
        trap_log: Arc<SharedTrapLog>,
    ) -> Result<BootWatch<'a>> {
        hot_pages::sync(&trap_log, &session);
        session.resume().await?;
        let resumed = Instant::now();
        let arming = arming::EventArming::new(&session);
        let disk = DiskWatch::new(qemu.session_dir());
        Ok(BootWatch {
            scenario,
            qemu,
            session: Some(session),
            resumed,
            deadline: resumed + scenario.boot_timeout,
            tracker: MilestoneTracker::new(scenario),
            talk: dialogue::Dialogue::new(scenario),
            stops: Vec::new(),
            watch: hang::HangWatch::new(
                trap_log.clone(),
                scenario.quiet_limit,
                scenario.machine.smp,
            ),
            trap_log,
            storm: None,
            settle_until: None,
            looks: LookCounts::default(),
            parked_pending: None,
            disk,
            arming,
        })
    }

    /// Polls consoles, the interrupt log and the debugger until the boot
    /// is decided: booted (and its dialogues done), exited, or hung.
    async fn until_decided(&mut self) -> Result<Observed> {
        loop {
            if let Some(observed) = self.step().await? {
                return Ok(observed);
            }
        }
    }

    /// One round of the run loop; `Some` once the boot is decided.
    async fn step(&mut self) -> Result<Option<Observed>> {
        self.disk.sample();
        match self.tracker.advance(&mut self.qemu, self.resumed)? {
            // The boot is decided; the dialogues (if any) have their own bounds.
            Some(booted) => {
                let done = self
                    .talk
                    .after_boot(booted, &mut self.qemu, self.resumed)
                    .await?;
                if done.is_some() {
                    return Ok(done);
                }
            }
            None if Instant::now() >= self.deadline => {
                return Ok(Some(self.tracker.hung(None, &self.talk)))
            }
            None => {}
        }
        let console_bytes = self.printed();
        let suspect = match self.storm {
            None => self.watch.check(console_bytes, Instant::now()),
            Some(_) => None,
        };
        let decided = match suspect {
            Some(hang::Suspect::Storm(trap)) => self.probe_storm(trap).await?,
            // Once a hart is found parked, only the consoles' silence is awaited.
            Some(hang::Suspect::Quiet { harts, quiet }) if self.parked_pending.is_none() => {
                self.look_at_quiet(&harts, quiet, console_bytes).await?
            }
            Some(hang::Suspect::Interrupted { harts }) if self.parked_pending.is_none() => {
                self.look_in_guests(&harts, console_bytes).await?
            }
            _ => None,
        };
        if decided.is_some() {
            return Ok(decided);
        }
        if let Some(observed) = self.settled_hang() {
            return Ok(Some(observed));
        }
        self.arm_and_poll().await?;
        Ok(None)
    }

    /// Bytes every console has printed so far.
    fn printed(&mut self) -> usize {
        self.qemu.consoles().iter().map(|c| c.len()).sum()
    }

    /// A suspected trap storm: stops the harts to see whether the trap
    /// really repeats. Never decides by itself: a confirmed storm gives the
    /// other harts [`STORM_SETTLE`] to reach their own fault, for the diagnosis.
    async fn probe_storm(&mut self, trap: LoggedTrap) -> Result<Option<Observed>> {
        let Some(s) = self.session.as_mut() else {
            return Ok(None);
        };
        self.looks.storm_probes += 1;
        match inspect::confirm_storm(s, &self.trap_log, &trap, &mut self.stops).await? {
            inspect::StormCheck::Confirmed => {
                self.settle_until = Some(Instant::now() + STORM_SETTLE);
                self.storm = Some(trap);
            }
            inspect::StormCheck::Exited => self.session = None,
            _ => {
                self.looks.storms_cleared += 1;
                self.watch.clear_storm(trap);
            }
        }
        Ok(None)
    }

    /// Quiet harts and consoles: looks at the harts. Every hart parked
    /// decides a hang; one parked while others run starts the wait for the
    /// consoles' silence (a VM still booting beside a parked one).
    async fn look_at_quiet(
        &mut self,
        harts: &[u32],
        quiet: Duration,
        console_bytes: usize,
    ) -> Result<Option<Observed>> {
        let Some(s) = self.session.as_mut() else {
            return Ok(None);
        };
        self.looks.quiet_looks += 1;
        let Some(found) = inspect::look_at_harts(s, harts, &mut self.stops).await? else {
            self.session = None;
            return Ok(None);
        };
        let parked = found
            .iter()
            .find_map(|(h, l)| l.parked_detail().map(|d| (*h, d)));
        let all_parked = found.len() == self.scenario.machine.smp as usize
            && found
                .iter()
                .all(|(_, l)| matches!(l, inspect::HartLook::Parked { .. }));
        let now = Instant::now();
        for (h, look) in &found {
            self.looks.note(look);
            self.watch.excuse(*h, now);
        }
        let Some((hart, (place, how))) = parked else {
            return Ok(None);
        };
        let why = hang::NoProgress::Parked {
            hart,
            quiet,
            place,
            how,
            fault: None,
        };
        // Nobody left to print: decided.
        if all_parked {
            return Ok(Some(self.tracker.hung(Some(why), &self.talk)));
        }
        if self.parked_pending.is_none() {
            self.parked_pending = Some((why, console_bytes, now));
        }
        Ok(None)
    }

    /// Harts that take only interrupts, in one loop: looks whether they are
    /// parked inside their guests ([`guest_parked`]). Every hart so parked
    /// decides a hang; some of them start the wait for the consoles'
    /// silence, as a parked hart does.
    async fn look_in_guests(
        &mut self,
        harts: &[u32],
        console_bytes: usize,
    ) -> Result<Option<Observed>> {
        let Some(s) = self.session.as_mut() else {
            return Ok(None);
        };
        self.looks.quiet_looks += 1;
        let Some(found) = guest_parked::look(s, &self.trap_log, harts, &mut self.stops).await?
        else {
            self.session = None;
            return Ok(None);
        };
        let now = Instant::now();
        for (h, _) in &found {
            self.watch.excuse(*h, now);
        }
        let parked: Vec<_> = found.into_iter().filter_map(|(_, g)| g).collect();
        let Some(first) = parked.first().cloned() else {
            return Ok(None);
        };
        let why = hang::NoProgress::GuestParked(first);
        if parked.len() == self.scenario.machine.smp as usize {
            return Ok(Some(self.tracker.hung(Some(why), &self.talk)));
        }
        if self.parked_pending.is_none() {
            self.parked_pending = Some((why, console_bytes, now));
        }
        Ok(None)
    }

    /// A hang decided by waiting: the consoles silent long enough after a
    /// hart was found parked, or a confirmed storm's settling time over
    /// (or every hart looping).
    fn settled_hang(&mut self) -> Option<Observed> {
        let printed = self.printed();
        if let Some((why, bytes, since)) = self.parked_pending.as_mut() {
            if printed != *bytes {
                (*bytes, *since) = (printed, Instant::now());
            } else if since.elapsed() >= self.scenario.quiet_limit.max(PARKED_SETTLE) {
                let why = why.clone();
                return Some(self.tracker.hung(Some(why), &self.talk));
            }
        }
        if let (Some(until), Some(trap)) = (self.settle_until, &self.storm) {
            let all_looping = self.watch.looping_harts() >= self.scenario.machine.smp as usize;
            if all_looping || Instant::now() >= until {
                let why = hang::NoProgress::Storm(trap.clone());
                return Some(self.tracker.hung(Some(why), &self.talk));
            }
        }
        None
    }

    /// Arms the breakpoints whose events happened, waits up to [`POLL`] for
    /// a stop and takes it, and tells the profiler which breakpoints are in.
    async fn arm_and_poll(&mut self) -> Result<()> {
        if let (Some(a), Some(s)) = (self.arming.as_mut(), self.session.as_mut()) {
            if !a
                .check(s, &self.tracker.hits, &self.trap_log, &mut self.stops)
                .await?
            {
                self.session = None;
            }
        }
        match self.session.as_mut() {
            Some(s) => match s.poll(POLL).await? {
                Event::Stopped(records) => self.stops.extend(records),
                Event::Running => {}
                // QEMU is shutting down; the consoles close next.
                Event::Exited => self.session = None,
            },
            None => tokio::time::sleep(POLL).await,
        }
        if let Some(s) = self.session.as_ref() {
            hot_pages::sync(&self.trap_log, s);
        }
        Ok(())
    }

    /// A parked-hart verdict names the hart stuck on a trap, when one is
    /// ([`stuck`]); the verdict itself stands. The target is stopped.
    async fn name_stuck_hart(&mut self, observed: Observed) -> Observed {
        let (Observed::Hung { early, .. }, Some(s)) = (&observed, self.session.as_mut()) else {
            return observed;
        };
        let Some(why @ hang::NoProgress::Parked { .. }) = early.clone() else {
            return observed;
        };
        // Unreadable registers leave the name the look gave.
        let Ok(named) = stuck::name_stuck_hart(s, &self.trap_log, self.scenario, why).await else {
            return observed;
        };
        match observed {
            Observed::Hung {
                console,
                missing,
                last_seen,
                ..
            } => Observed::Hung {
                console,
                missing,
                last_seen,
                early: Some(named),
            },
            other => other,
        }
    }

    /// After the verdict: takes the stops still to come, leaves the target
    /// stopped, and lets a hang name again what the consoles were waiting
    /// for once they settled.
    async fn wind_down(&mut self, observed: Observed) -> Result<Observed> {
        if let Some(s) = self.session.as_mut() {
            // A hart may sit at a breakpoint whose stop is not read yet (a stop
            // halts every hart, but QEMU reports one at a time): take those too.
            drain_stops(s, &mut self.stops).await?;
            // Leave the target stopped; a failure here does not change the verdict.
            let _ = s.interrupt().await;
        }
        let observed = self.name_stuck_hart(observed).await;
        // A hang rule can fire before the console readers have taken what the
        // harts printed just before it; the harts are stopped now (settle.rs).
        Ok(settle::rename_hang(
            observed,
            &mut self.tracker,
            &mut self.qemu,
            self.resumed,
            &self.talk,
            settle::Pace::RUN,
        )
        .await)
    }
}

/// Samples the session directory's size once a second.
struct DiskWatch {
    dir: std::path::PathBuf,
    next: Instant,
    peak: u64,
}

impl DiskWatch {
    fn new(dir: &std::path::Path) -> DiskWatch {
        DiskWatch {
            dir: dir.to_path_buf(),
            next: Instant::now(),
            peak: 0,
        }
    }

    fn sample(&mut self) {
        if Instant::now() < self.next {
            return;
        }
        self.next = Instant::now() + Duration::from_secs(1);
        let size: u64 = std::fs::read_dir(&self.dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        self.peak = self.peak.max(size);
    }
}

/// How long to keep taking stops after the verdict, and the quiet window that ends it early.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);
const DRAIN_QUIET: Duration = Duration::from_millis(250);

/// Takes the stops that are still to come: until every breakpoint has counted
/// its hits, no stop came for [`DRAIN_QUIET`], or [`DRAIN_LIMIT`] passed.
async fn drain_stops(session: &mut DebugSession, stops: &mut Vec<StopRecord>) -> Result<()> {
    let until = Instant::now() + DRAIN_LIMIT;
    while Instant::now() < until {
        let pending = session
            .breakpoints()
            .iter()
            .any(|b| b.inserted && !b.arming_point && b.hits < b.spec.max_hits);
        if !pending {
            break;
        }
        match session.poll(DRAIN_QUIET).await? {
            Event::Stopped(records) => stops.extend(records),
            Event::Running | Event::Exited => break,
        }
    }
    Ok(())
}
