//! Running a scenario on one QEMU build and judging the result against the
//! scenario's expectation for that version.

mod arming;
pub(crate) mod checks;
pub mod csr_trace;
pub mod dialogue;
mod expected_trap;
pub mod guest_parked;
pub(crate) mod hang;
pub(crate) mod hot_pages;
pub mod inspect;
#[cfg(test)]
mod judge_tests;
mod outcome;
mod settle;
mod stuck;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::debug::{DebugSession, Event, StopRecord};
use crate::elf::ElfSet;
use crate::provenance::TracePlan;
use crate::qemu::trap_log::{LogStats, LoggedTrap, SharedTrapLog};
use crate::qemu::{DebugLog, LaunchOptions, QemuBuild, QemuProcess, QemuVersion};
use crate::scenario::{
    ExpectedOutcome, ExpectedTrap, LastMilestone, OutcomeKind, Scenario, ScenarioConsole,
};
pub use checks::CheckResult;
pub use outcome::OutcomeClass;

/// A milestone seen on a console.
#[derive(Debug, Clone, Serialize)]
pub struct MilestoneHit {
    pub console: String,
    pub pattern: String,
    /// Seconds from the VM's first instruction (resume) to the text's arrival.
    pub at_secs: f64,
}

/// What happened, independent of what was expected.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observed {
    /// Every console printed every milestone.
    Booted,
    /// A milestone did not appear in time.
    Hung {
        console: String,
        missing: String,
        /// The last milestone that did appear on that console.
        last_seen: Option<String>,
        /// Why the wait ended early, when it did (a trap loop). The result
        /// file keeps it in words, which are not read back.
        #[serde(skip_deserializing)]
        early: Option<hang::NoProgress>,
    },
    /// QEMU exited before the boot finished.
    Exited { console: String, missing: String },
}

/// The judgement.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "snake_case")]
pub enum Verdict {
    AsExpected,
    Unexpected(String),
    /// The scenario states nothing for this version.
    NoExpectation,
}

impl Verdict {
    pub fn is_failure(&self) -> bool {
        matches!(self, Verdict::Unexpected(_))
    }
}

/// Everything one run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub scenario: String,
    pub qemu: QemuVersion,
    pub expected: Option<OutcomeKind>,
    pub because: Option<String>,
    pub observed: Observed,
    pub verdict: Verdict,
    pub milestones: Vec<MilestoneHit>,
    /// The trap the expectation names (cause, symbol, hart), if it names one.
    pub expected_trap: Option<ExpectedTrap>,
    /// From QEMU's interrupt log: the first exception matching
    /// `expected_trap` (its `hart` says which hart took it); without an
    /// expected trap, the fault a storm began with.
    pub first_trap: Option<LoggedTrap>,
    /// Where that trap's pc is in each ELF file that has a symbol there
    /// (`guest:kvminithart+0x1e`); the log does not say which one ran.
    pub first_trap_places: Vec<String>,
    /// Console name and full transcript.
    pub transcripts: Vec<(String, String)>,
    /// What the scenario's console dialogues matched and typed, in order.
    pub dialogue: Vec<dialogue::DialogueEvent>,
    /// Counted stops at the scenario's breakpoints, by breakpoint then hart.
    pub stops: Vec<StopRecord>,
    /// The scenario's CSR checks for this version.
    pub checks: Vec<CheckResult>,
    pub duration_secs: f64,
    /// How much interrupt log was read, and dropped (the reader fell behind).
    pub trap_log: LogStats,
    /// The looks taken at the machine before deciding.
    pub looks: LookCounts,
    /// The most the session directory (sockets, QEMU's stderr) held, sampled
    /// each second: it stays small however long the run (the interrupt log
    /// is a FIFO, never a file).
    pub session_dir_peak_bytes: u64,
    /// The harness process's peak resident memory so far (VmHWM), when readable.
    pub harness_peak_rss_kib: Option<u64>,
    /// For a run that did not boot: each hart's last few trap records.
    pub trap_tail: Vec<LoggedTrap>,
    /// Timer samples on the pages of armed breakpoints: the estimated
    /// slowdown and, when it is large, a warning.
    pub hot_pages: hot_pages::HotPages,
    /// The arming points the harness chose for breakpoints on milestone
    /// symbols (`auto_arm`), or why it chose none.
    pub auto_arming: Vec<crate::debug::auto_arm::AutoArm>,
    /// The CSR writes recorded (`trace_csrs`), when any CSR was traced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csr_writes: Option<crate::provenance::CsrWrites>,
}

/// Trap records per hart kept in the report of a run that did not boot.
const TAIL_PER_HART: usize = 6;

/// After a first hart loops on a fault, how long the others get to reach theirs.
const STORM_SETTLE: Duration = Duration::from_millis(500);

/// After a hart is found parked while others still run, how long every
/// console must stay silent before the run is called hung (the others may be
/// a VM still booting).
const PARKED_SETTLE: Duration = Duration::from_secs(3);

/// How often the run loop looks at consoles, the log and the debugger.
const POLL: Duration = Duration::from_millis(20);

impl RunReport {
    /// The CSR state at every counted stop, as a snapshot (no timings, so it
    /// changes only when the hardware state or the firmware does).
    pub fn snapshot(&self) -> crate::snapshot::Snapshot {
        crate::snapshot::Snapshot {
            header: vec![
                ("scenario".to_string(), self.scenario.clone()),
                ("qemu".to_string(), self.qemu.to_string()),
                ("observed".to_string(), self.observed.class().to_string()),
            ],
            sections: self.stops.iter().map(|s| s.snapshot_section()).collect(),
        }
    }
}

/// How to run a scenario beyond what the scenario says.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Leave QEMU alive and stopped at the end (with the debugger attached),
    /// for a diagnosis or a human to look at.
    pub(crate) keep_alive: bool,
    /// CSRs whose writes to record, beyond the scenario's `trace_csrs`.
    pub trace_csrs: Vec<String>,
}

/// A run's QEMU, stopped, with the debugger still attached.
pub struct LiveRun {
    pub(crate) qemu: QemuProcess,
    pub(crate) session: DebugSession,
    /// The repeating fault, when a storm ended the run.
    pub(crate) storm: Option<LoggedTrap>,
    /// The interrupt log, still being read (QEMU is stopped).
    pub(crate) trap_log: Arc<SharedTrapLog>,
    /// The scenario's ELF files, as read once at the start of the run.
    pub(crate) elfs: Arc<ElfSet>,
}

/// Runs `scenario` on `build` (the firmware must already be built). With
/// breakpoints in the scenario, every counted stop is recorded with its
/// registers.
pub async fn run(scenario: &Scenario, build: &QemuBuild) -> Result<RunReport> {
    Ok(run_with(scenario, build, &RunOptions::default()).await?.0)
}

/// [`run`] with options; the [`LiveRun`] is there when `keep_alive` was asked
/// for and QEMU was still running at the end.
///
/// A QEMU ended from outside (a signal not sent by the harness, a crash) is
/// an error naming the signal, not an observation: a boot cut short that way
/// says nothing about the firmware (`check` answers "cannot test").
pub async fn run_with(
    scenario: &Scenario,
    build: &QemuBuild,
    options: &RunOptions,
) -> Result<(RunReport, Option<LiveRun>)> {
    let end = crate::qemu::EndWatch::default();
    let result = run_watched(scenario, build, options, &end).await;
    match (end.get(), result) {
        (Some(outside), Err(e)) => Err(e.context(format!("{outside}, during the run"))),
        (Some(outside), Ok((r, _))) if !matches!(r.observed, Observed::Booted) => {
            anyhow::bail!(
                "{outside}, during the run of {} on QEMU {}: the run ended with \"{}\", which says nothing \
                 about the firmware",
                r.scenario,
                r.qemu,
                r.observed
            )
        }
        (_, result) => result,
    }
}

async fn run_watched(
    scenario: &Scenario,
    build: &QemuBuild,
    options: &RunOptions,
    end: &crate::qemu::EndWatch,
) -> Result<(RunReport, Option<LiveRun>)> {
    let expectation = scenario.expected_for(build.version).cloned();
    let trap_wanted = expectation.as_ref().and_then(|e| e.trap.clone());
    // The symbol files, read once for the whole run (debugger, trap
    // expectation, report, diagnosis).
    let elfs = Arc::new(scenario.load_elfs()?);
    // CSR writes to record: a breakpoint on each writer, removed once hit.
    let trace = TracePlan::new(
        scenario,
        &elfs,
        &scenario.trace_csrs_with(&options.trace_csrs),
    )?;
    let traced = trace.as_ref().map(|t| t.scenario(scenario));
    let scenario = traced.as_ref().unwrap_or(scenario);
    let trap_log = trap_log_for(scenario, trap_wanted.as_ref(), &elfs)?;
    let started = Instant::now();
    let (qemu, session) = launch(scenario, build, &trap_log, &elfs, end).await?;
    let auto_arming = session.auto_arming().to_vec();
    let mut boot = BootWatch::start(scenario, qemu, session, trap_log.clone()).await?;
    let observed = boot.until_decided().await?;
    let observed = boot.wind_down(observed).await?;
    let BootWatch {
        mut qemu,
        session,
        tracker,
        talk,
        mut stops,
        storm,
        looks,
        disk,
        ..
    } = boot;

    let transcripts = collect_transcripts(&mut qemu);
    // Stopped first (killed, or all harts halted by the debugger), so the
    // interrupt log has been read to its end.
    let live = stop_or_keep(
        qemu,
        session,
        options.keep_alive,
        storm.clone(),
        &trap_log,
        &elfs,
    )
    .await;
    let log = trap_log.snapshot();
    let first_trap = first_trap_of(&log, trap_wanted.is_some(), storm.as_ref(), &elfs);
    let trap_seen = TrapSeen {
        matched: first_trap.as_ref(),
        first_of_cause: trap_wanted
            .as_ref()
            .and_then(|t| log.first_exception(t.cause)),
        elfs: &elfs,
    };
    let csr_writes = trace.map(|t| t.finish(&mut stops));
    stops.sort_by(|a, b| (&a.breakpoint, a.hart).cmp(&(&b.breakpoint, b.hart)));
    crate::debug::view::mark_untrapped(&mut stops, &log);
    let checks = expectation
        .as_ref()
        .map(|e| checks::evaluate(&e.checks, &stops))
        .unwrap_or_default();
    let mut report = finish(
        scenario,
        build,
        expectation,
        observed,
        tracker.hits,
        &trap_seen,
        transcripts,
        started,
    );
    report.apply_checks(checks);
    report.stops = stops;
    report.looks = looks;
    report.session_dir_peak_bytes = disk.peak;
    add_log_evidence(&mut report, &log, scenario, &elfs);
    report.auto_arming = auto_arming;
    report.harness_peak_rss_kib = peak_rss_kib();
    report.dialogue = talk.into_events();
    report.csr_writes = csr_writes;
    Ok((report, live))
}

/// What the interrupt log says about the run: its counts, the last traps
/// of a run that did not boot, the pages the harts spent their time on.
fn add_log_evidence(
    report: &mut RunReport,
    log: &crate::qemu::trap_log::TrapLog,
    scenario: &Scenario,
    elfs: &ElfSet,
) {
    report.trap_log = log.stats();
    if !matches!(report.observed, Observed::Booted) {
        report.trap_tail = trap_tail(log);
    }
    report.hot_pages = hot_pages::report(log, scenario, Some(elfs));
}

/// Stops QEMU, or with a debug session and `keep` hands QEMU (its harts
/// halted by the debugger) and the session on; the interrupt log is read to
/// its end either way. The session closes only after QEMU has stopped: a
/// gdbstub that loses its client lets the harts run again.
async fn stop_or_keep(
    mut qemu: QemuProcess,
    session: Option<DebugSession>,
    keep: bool,
    storm: Option<LoggedTrap>,
    trap_log: &Arc<SharedTrapLog>,
    elfs: &Arc<ElfSet>,
) -> Option<LiveRun> {
    let session = match session {
        Some(session) if keep => session,
        not_kept => {
            qemu.stop().await;
            drop(not_kept);
            return None;
        }
    };
    qemu.sync_log().await;
    Some(LiveRun {
        qemu,
        session,
        storm,
        trap_log: trap_log.clone(),
        elfs: elfs.clone(),
    })
}

/// The expected trap when the expectation names one (`expecting`); else
/// the fault a storm began with.
fn first_trap_of(
    log: &crate::qemu::trap_log::TrapLog,
    expecting: bool,
    storm: Option<&LoggedTrap>,
    elfs: &ElfSet,
) -> Option<LoggedTrap> {
    match (expecting, storm) {
        (true, _) => log.first_match().cloned(),
        (false, Some(s)) => {
            log.first_fault_of_storm(s, |pc| !elfs.spaces_containing(pc).is_empty())
        }
        (false, None) => None,
    }
}

impl RunReport {
    /// Keeps the CSR checks; a failed one makes an expected outcome unexpected.
    fn apply_checks(&mut self, checks: Vec<CheckResult>) {
        if let (Verdict::AsExpected, Some(failed)) =
            (&self.verdict, checks.iter().find(|c| !c.passed))
        {
            self.verdict = Verdict::Unexpected(failed.message.clone());
        }
        self.checks = checks;
    }
}

/// The interrupt log's reader for a run: always on, since it is how hangs
/// are suspected early and how the first fault is found after later ones
/// overwrote the CSRs. QEMU streams it to a reader thread; nothing is stored.
fn trap_log_for(
    scenario: &Scenario,
    trap_wanted: Option<&ExpectedTrap>,
    elfs: &ElfSet,
) -> Result<Arc<SharedTrapLog>> {
    let wanted = trap_wanted
        .map(|t| expected_trap::pattern(t, elfs))
        .transpose()
        .with_context(|| format!("{}", scenario.path.display()))?;
    Ok(Arc::new(SharedTrapLog::expecting(
        scenario.machine.smp as usize,
        wanted,
    )))
}

/// Starts QEMU paused with its gdbstub and interrupt log, and attaches the
/// debugger (always: a suspected hang is confirmed by looking at the
/// stopped harts before it becomes a verdict). The target stays stopped.
async fn launch(
    scenario: &Scenario,
    build: &QemuBuild,
    trap_log: &Arc<SharedTrapLog>,
    elfs: &Arc<ElfSet>,
    end: &crate::qemu::EndWatch,
) -> Result<(QemuProcess, DebugSession)> {
    let opts = LaunchOptions {
        gdbstub: true,
        debug_log: Some(DebugLog {
            items: "int".to_string(),
            sink: trap_log.clone(),
        }),
    };
    let mut qemu = QemuProcess::launch(build, &scenario.machine, &opts)
        .await
        .with_context(|| format!("starting QEMU {} for {}", build.version, scenario.name))?;
    qemu.watch_end(end);
    let addr = qemu
        .gdb_addr()
        .context("QEMU started without its gdbstub")?;
    let session = DebugSession::attach(addr, scenario, build.version, elfs.clone())
        .await
        .with_context(|| format!("attaching the debugger to QEMU {}", build.version))?;
    Ok((qemu, session))
}

/// Each hart's last few trap records, for the report of a run that did not boot.
fn trap_tail(log: &crate::qemu::trap_log::TrapLog) -> Vec<LoggedTrap> {
    log.harts()
        .iter()
        .flat_map(|h| {
            h.recent()
                .skip(h.recent().count().saturating_sub(TAIL_PER_HART))
        })
        .cloned()
        .collect()
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

/// This process's peak resident set (Linux: VmHWM in /proc/self/status), KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
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

/// The looks taken at the machine during a run (each one a short stop).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LookCounts {
    /// Storm suspects probed, and of those found passing or moving on.
    pub(crate) storm_probes: u32,
    pub(crate) storms_cleared: u32,
    /// Looks at quiet harts, and what was found besides parked harts.
    pub(crate) quiet_looks: u32,
    pub(crate) busy: u32,
    pub(crate) not_started: u32,
    pub(crate) waiting: u32,
}

impl LookCounts {
    fn note(&mut self, look: &inspect::HartLook) {
        match look {
            inspect::HartLook::Busy => self.busy += 1,
            inspect::HartLook::NotStarted { .. } => self.not_started += 1,
            inspect::HartLook::Waiting { .. } => self.waiting += 1,
            inspect::HartLook::Parked { .. } => {}
        }
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

/// Which milestone each console waits for next.
struct MilestoneTracker<'a> {
    scenario: &'a Scenario,
    next: Vec<usize>,
    hits: Vec<MilestoneHit>,
}

impl<'a> MilestoneTracker<'a> {
    fn new(scenario: &'a Scenario) -> Self {
        MilestoneTracker {
            scenario,
            next: vec![0; scenario.consoles.len()],
            hits: Vec::new(),
        }
    }

    /// Takes every milestone already printed; `Some` once the run is decided
    /// by the consoles (all milestones seen, or a console closed early).
    fn advance<C: settle::Consoles>(
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
    fn hung(&self, early: Option<hang::NoProgress>, talk: &dialogue::Dialogue) -> Observed {
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

/// What QEMU's interrupt log showed, for the judge: the first exception
/// matching the expected trap, the first with its cause anywhere (to say
/// where it was taken instead), and the ELF files to place them in.
struct TrapSeen<'a> {
    matched: Option<&'a LoggedTrap>,
    first_of_cause: Option<&'a LoggedTrap>,
    elfs: &'a ElfSet,
}

/// `space:symbol+offset` for every ELF file with a symbol spanning `addr`.
fn trap_places(set: &ElfSet, addr: u64) -> Vec<String> {
    set.images()
        .iter()
        .filter_map(|i| {
            i.symbolize(addr)
                .filter(|h| h.exact)
                .map(|h| format!("{}:{h}", i.name()))
        })
        .collect()
}

fn collect_transcripts(qemu: &mut QemuProcess) -> Vec<(String, String)> {
    qemu.consoles()
        .iter()
        .map(|c| (c.name().to_string(), c.transcript()))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn finish(
    scenario: &Scenario,
    build: &QemuBuild,
    expectation: Option<ExpectedOutcome>,
    observed: Observed,
    milestones: Vec<MilestoneHit>,
    trap: &TrapSeen,
    transcripts: Vec<(String, String)>,
    started: Instant,
) -> RunReport {
    let verdict = judge(expectation.as_ref(), &observed, &milestones, trap, scenario);
    let first_trap = trap.matched.cloned();
    let first_trap_places = match &first_trap {
        Some(t) => trap_places(trap.elfs, t.epc),
        None => Vec::new(),
    };
    RunReport {
        scenario: scenario.name.clone(),
        qemu: build.version,
        expected: expectation.as_ref().map(|e| e.kind.clone()),
        expected_trap: expectation.as_ref().and_then(|e| e.trap.clone()),
        because: expectation.and_then(|e| e.because),
        observed,
        verdict,
        milestones,
        first_trap,
        first_trap_places,
        transcripts,
        dialogue: Vec::new(),
        stops: Vec::new(),
        checks: Vec::new(),
        duration_secs: started.elapsed().as_secs_f64(),
        trap_log: LogStats::default(),
        looks: LookCounts::default(),
        session_dir_peak_bytes: 0,
        harness_peak_rss_kib: None,
        trap_tail: Vec::new(),
        hot_pages: hot_pages::HotPages::default(),
        auto_arming: Vec::new(),
        csr_writes: None,
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
