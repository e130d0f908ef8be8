//! What one run produced ([`RunReport`]) and the words it is judged in
//! ([`Observed`], [`Verdict`]).

use serde::Serialize;

use super::{checks::CheckResult, dialogue, hang, hot_pages, inspect, MilestoneHit};
use crate::debug::StopRecord;
use crate::qemu::trap_log::{LogStats, LoggedTrap};
use crate::qemu::QemuVersion;
use crate::scenario::{ExpectedTrap, OutcomeKind};

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
    pub(super) fn note(&mut self, look: &inspect::HartLook) {
        match look {
            inspect::HartLook::Busy => self.busy += 1,
            inspect::HartLook::NotStarted { .. } => self.not_started += 1,
            inspect::HartLook::Waiting { .. } => self.waiting += 1,
            inspect::HartLook::Parked { .. } => {}
        }
    }
}
