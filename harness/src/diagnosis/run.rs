//! One run under the debugger, explained: the part of `hvharness diagnose`
//! that the bisections and `run --diagnose` share (the CLI only prints it).

use anyhow::Result;
use serde::Serialize;

use super::harts::HartSummary;
use super::interrupts::FirmwareCode;
use super::{console, guest_handler, FaultReport};
use crate::harts::{self, look, stuck, HartState};
use crate::qemu::trap_log::TrapLog;
use crate::qemu::{QemuBuild, QemuVersion};
use crate::runner::{self, Observed, RunOptions, RunReport};
use crate::scenario::Scenario;

/// The diagnosis of one run.
#[derive(Debug, Serialize)]
pub struct Diagnosis {
    pub scenario: String,
    pub qemu: QemuVersion,
    pub observed: Observed,
    /// Seconds from QEMU's start to the verdict.
    pub verdict_secs: f64,
    /// The stuck harts' faults, in the order the harts got stuck.
    pub faults: Vec<FaultReport>,
    /// Every hart's state at the stop, stuck or not.
    pub harts: Vec<HartSummary>,
    /// What could not be looked at or explained, and why, one line each:
    /// the library prints nothing, the CLI shows these on stderr.
    #[serde(skip)]
    pub notes: Vec<String>,
}

impl Diagnosis {
    /// The run's outcome with what explaining it found.
    pub(crate) fn new(report: &RunReport, explained: Explained) -> Self {
        Diagnosis {
            scenario: report.scenario.clone(),
            qemu: report.qemu,
            observed: report.observed.clone(),
            // The run's own time: from QEMU's start to the verdict, before the explaining.
            verdict_secs: report.duration_secs,
            notes: explained.notes(),
            faults: explained.faults,
            harts: explained.harts,
        }
    }
}

/// What a diagnosis found at the stop: the stuck harts' faults explained,
/// and every hart's state.
#[derive(Debug, Default)]
pub struct Explained {
    pub(crate) faults: Vec<FaultReport>,
    pub(crate) harts: Vec<HartSummary>,
    /// Harts that could not be looked at, and why.
    pub(crate) hart_notes: Vec<String>,
}

impl Explained {
    /// Every note, the faults' first.
    pub(crate) fn notes(&self) -> Vec<String> {
        let faults = self.faults.iter().flat_map(|f| f.notes.iter().cloned());
        faults.chain(self.hart_notes.iter().cloned()).collect()
    }
}

/// The CSRs whose writes a diagnosing run records, because a rule names
/// them in its finding (adue: henvcfg and menvcfg; undelegated: hedeleg;
/// interrupt-undelegated: hideleg; counters: hcounteren): who wrote them,
/// with what, on which harts. Their breakpoints go once each hart has
/// passed them.
const TRACED_BY_RULES: &[&str] = &["henvcfg", "menvcfg", "hedeleg", "hideleg", "hcounteren"];

/// Runs once and explains; with `keep_for_gdb`, a hung QEMU is handed back stopped.
pub async fn diagnose_one(
    scenario: &Scenario,
    build: &QemuBuild,
    keep_for_gdb: bool,
) -> Result<(Diagnosis, Option<runner::LiveRun>)> {
    let (report, explained, live) = run_and_explain(scenario, build).await?;
    let diagnosis = Diagnosis::new(&report, explained);
    let live = if keep_for_gdb && !matches!(diagnosis.observed, Observed::Booted) {
        live
    } else {
        None
    };
    Ok((diagnosis, live))
}

/// Runs once under the debugger and, when the boot did not finish, explains
/// each stuck hart's fault and says where every hart is; QEMU is still
/// stopped in the returned [`runner::LiveRun`].
pub async fn run_and_explain(
    scenario: &Scenario,
    build: &QemuBuild,
) -> Result<(RunReport, Explained, Option<runner::LiveRun>)> {
    let options = RunOptions {
        keep_alive: true,
        trace_csrs: TRACED_BY_RULES.iter().map(|c| c.to_string()).collect(),
    };
    let (report, mut live) = runner::run_with(scenario, build, &options).await?;
    let mut out = Explained::default();
    if matches!(report.observed, Observed::Booted) {
        return Ok((report, out, live));
    }
    let Some(l) = live.as_mut() else {
        return Ok((report, out, live));
    };
    let harts = harts::read_harts(l.session.rsp(), build.version).await?;
    let log = l.trap_log.snapshot();
    out.faults = explain_faults(scenario, build, &report, l, &harts, &log).await?;
    let guests = guest_handler::explain_parked(
        scenario,
        build.version,
        l,
        &harts,
        &log,
        &report,
        &out.faults,
    )
    .await?;
    out.faults.extend(guests);
    // Last, since looking steps the harts: where each one is and what it does.
    let writes = report.csr_writes.as_ref();
    (out.harts, out.hart_notes) =
        summarize_harts(scenario, l, &harts, &out.faults, &log, writes).await;
    Ok((report, out, live))
}

/// Each stuck hart's fault, explained, with the console lines that go with it.
async fn explain_faults(
    scenario: &Scenario,
    build: &QemuBuild,
    report: &RunReport,
    l: &mut runner::LiveRun,
    harts: &[HartState],
    log: &TrapLog,
) -> Result<Vec<FaultReport>> {
    // The run's own copy: the ELF files are read once per run.
    let elfs = l.elfs.clone();
    let lines = console::error_lines(&report.transcripts);
    let mut faults: Vec<FaultReport> = Vec::new();
    for ctx in stuck::faults(harts, log, l.storm.as_ref(), scenario, Some(&elfs))? {
        let state = harts.iter().find(|h| h.hart == ctx.hart);
        let rsp = l.session.rsp();
        let writes = report.csr_writes.as_ref();
        let mut f = super::explain(
            ctx,
            state,
            scenario,
            Some(&elfs),
            build.version,
            rsp,
            writes,
        )
        .await?;
        f.attach_console(console::lines_for(
            &lines,
            f.context.hart,
            faults.is_empty(),
        ));
        faults.push(f);
    }
    Ok(faults)
}

/// Where every hart is and what it does; looking steps the harts.
async fn summarize_harts(
    scenario: &Scenario,
    l: &mut runner::LiveRun,
    harts: &[HartState],
    faults: &[FaultReport],
    log: &TrapLog,
    writes: Option<&crate::provenance::CsrWrites>,
) -> (Vec<HartSummary>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for h in harts {
        let look = match look::look_at_stopped(&mut l.session, h.hart).await {
            Ok(look) => look,
            Err(e) => {
                notes.push(format!("hart {}: not looked at: {e:#}", h.hart));
                None
            }
        };
        let place = stuck::place_of(scenario, &l.elfs, h.pc, h.privilege.virt);
        let stuck = faults.iter().any(|f| f.context.hart == h.hart);
        let seen_past = stuck::seen_past(h, log, scenario, Some(&l.elfs));
        out.push(HartSummary::new(
            h,
            place,
            look.as_ref(),
            stuck,
            log,
            seen_past,
            Some(FirmwareCode {
                elfs: &l.elfs,
                recorded: writes,
            }),
        ));
    }
    (out, notes)
}
