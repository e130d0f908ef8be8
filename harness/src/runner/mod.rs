//! Running a scenario on one QEMU build and judging the result against the
//! scenario's expectation for that version.
//!
//! The index of the run: [`run_with`] launches QEMU and the debugger,
//! hands the boot to [`boot_watch`] until it is decided, reads the
//! interrupt log, and assembles the [`RunReport`] ([`report`]) once, with the
//! verdict from [`judge`]. [`milestones`] tracks what each console printed.

mod arming;
mod boot_watch;
pub(crate) mod checks;
pub mod csr_trace;
pub mod dialogue;
mod expected_trap;
pub mod guest_parked;
pub(crate) mod hang;
pub(crate) mod hot_pages;
pub mod inspect;
mod judge;
mod milestones;
mod outcome;
mod report;
mod settle;
mod stuck;

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::debug::DebugSession;
use crate::elf::ElfSet;
use crate::provenance::TracePlan;
use crate::qemu::trap_log::{LoggedTrap, SharedTrapLog, TrapLog};
use crate::qemu::{DebugLog, LaunchOptions, QemuBuild, QemuProcess};
use crate::scenario::{ExpectedTrap, Scenario};
pub use milestones::MilestoneHit;
pub use outcome::OutcomeClass;
pub use report::{LookCounts, Observed, RunReport, Verdict};

/// A QEMU ended from outside during a run (a signal the harness did not
/// send, a crash), in words: the error [`run_with`] gives then, so that a
/// caller can tell it from a run that failed.
#[derive(Debug)]
pub struct EndedFromOutside(pub(crate) String);

impl std::fmt::Display for EndedFromOutside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EndedFromOutside {}

/// Trap records per hart kept in the report of a run that did not boot.
const TAIL_PER_HART: usize = 6;

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
        (Some(outside), Err(e)) => Err(e.context(EndedFromOutside(format!(
            "{outside}, during the run"
        )))),
        (Some(outside), Ok((r, _))) if !matches!(r.observed, Observed::Booted) => {
            Err(anyhow::Error::new(EndedFromOutside(format!(
                "{outside}, during the run of {} on QEMU {}: the run ended with \"{}\", which says nothing \
                 about the firmware",
                r.scenario, r.qemu, r.observed
            ))))
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
    let boot_watch::WatchedBoot {
        observed,
        mut qemu,
        session,
        milestones,
        talk,
        mut stops,
        storm,
        looks,
        disk_peak,
    } = boot_watch::watch(scenario, qemu, session, trap_log.clone()).await?;
    let transcripts = collect_transcripts(&mut qemu);
    // The trace's counts beyond its recorded writes live in the session.
    let beyond = match (&trace, &session) {
        (Some(t), Some(s)) => t.tally(s.breakpoints()),
        _ => Vec::new(),
    };
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
    let trap_seen = judge::TrapSeen {
        matched: first_trap.as_ref(),
        first_of_cause: trap_wanted
            .as_ref()
            .and_then(|t| log.first_exception(t.cause)),
        elfs: &elfs,
    };
    let csr_writes = trace.map(|t| t.finish(&mut stops, &beyond));
    stops.sort_by(|a, b| (&a.breakpoint, a.hart).cmp(&(&b.breakpoint, b.hart)));
    crate::debug::view::mark_untrapped(&mut stops, &log);
    let checks = expectation
        .as_ref()
        .map(|e| checks::evaluate(&e.checks, &stops))
        .unwrap_or_default();
    let verdict = judge::verdict(
        expectation.as_ref(),
        &observed,
        &milestones,
        &trap_seen,
        scenario,
        &checks,
    );
    let first_trap_places = first_trap
        .as_ref()
        .map(|t| judge::trap_places(&elfs, t.epc))
        .unwrap_or_default();
    let booted = matches!(observed, Observed::Booted);
    let report = RunReport {
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
        dialogue: talk.into_events(),
        stops,
        checks,
        duration_secs: started.elapsed().as_secs_f64(),
        trap_log: log.stats(),
        looks,
        session_dir_peak_bytes: disk_peak,
        harness_peak_rss_kib: peak_rss_kib(),
        // Only a run that did not boot keeps each hart's last traps.
        trap_tail: if booted { Vec::new() } else { trap_tail(&log) },
        hot_pages: hot_pages::report(&log, scenario, Some(&elfs)),
        auto_arming,
        csr_writes,
    };
    Ok((report, live))
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
    log: &TrapLog,
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
fn trap_tail(log: &TrapLog) -> Vec<LoggedTrap> {
    log.harts()
        .iter()
        .flat_map(|h| {
            h.recent()
                .skip(h.recent().count().saturating_sub(TAIL_PER_HART))
        })
        .cloned()
        .collect()
}

/// This process's peak resident set (Linux: VmHWM in /proc/self/status), KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn collect_transcripts(qemu: &mut QemuProcess) -> Vec<(String, String)> {
    qemu.consoles()
        .iter()
        .map(|c| (c.name().to_string(), c.transcript()))
        .collect()
}
