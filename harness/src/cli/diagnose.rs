//! `hvharness diagnose`: run a scenario and, on a hang, say which trap, where,
//! which page-table entry, which CSR bit, and why.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use super::run::select_builds;
use crate::diagnosis::harts::HartSummary;
use crate::diagnosis::{capture, console, FaultReport};
use crate::qemu::{QemuBuild, QemuRegistry, QemuVersion};
use crate::runner::{self, Observed, RunOptions};
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
}

/// What a diagnosis found at the stop: the stuck harts' faults explained,
/// and every hart's state.
#[derive(Debug, Default)]
pub struct Explained {
    pub(crate) faults: Vec<FaultReport>,
    pub(crate) harts: Vec<HartSummary>,
}

/// Runs the diagnosis on each selected QEMU; exit 0 when everything boots,
/// 1 when a hang (or an early exit) was diagnosed.
pub(crate) async fn diagnose(
    path: &Path,
    qemu: &[String],
    json: bool,
    no_build: bool,
    gdb: bool,
    root: Option<PathBuf>,
) -> Result<ExitCode> {
    let reg = QemuRegistry::discover(root.as_deref());
    let builds = select_builds(&reg, qemu)?;
    let scenario = Scenario::load(path)?;
    super::run::build_scenario(&scenario, no_build).await?;
    if gdb && builds.len() != 1 {
        anyhow::bail!("--gdb needs exactly one QEMU: add --qemu VERSION");
    }
    let mut all = Vec::new();
    let mut bad = false;
    for build in &builds {
        if let Some(why) = scenario.skip_reason(build.version) {
            eprintln!("hvharness: skipped: {why}");
            continue;
        }
        eprintln!(
            "hvharness: diagnosing {} on QEMU {} ...",
            scenario.name, build.version
        );
        let (diagnosis, live) = diagnose_one(&scenario, build, gdb).await?;
        bad |= !matches!(diagnosis.observed, Observed::Booted);
        if !json {
            crate::out!("{}", render(&diagnosis));
        }
        all.push(diagnosis);
        if let Some(live) = live {
            hand_off(&scenario, build, live).await?;
        }
    }
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs once and explains; with `keep_for_gdb`, a hung QEMU is handed back stopped.
pub async fn diagnose_one(
    scenario: &Scenario,
    build: &QemuBuild,
    keep_for_gdb: bool,
) -> Result<(Diagnosis, Option<runner::LiveRun>)> {
    let (report, explained, live) = run_and_explain(scenario, build).await?;
    // The run's own time: from QEMU's start to the verdict, before the explaining.
    let verdict_secs = report.duration_secs;
    let diagnosis = Diagnosis {
        scenario: scenario.name.clone(),
        qemu: build.version,
        observed: report.observed,
        verdict_secs,
        faults: explained.faults,
        harts: explained.harts,
    };
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
) -> Result<(runner::RunReport, Explained, Option<runner::LiveRun>)> {
    let options = RunOptions { keep_alive: true };
    let (report, mut live) = runner::run_with(scenario, build, &options).await?;
    let mut out = Explained::default();
    if matches!(report.observed, Observed::Booted) {
        return Ok((report, out, live));
    }
    let Some(l) = live.as_mut() else {
        return Ok((report, out, live));
    };
    let harts = capture::read_harts(l.session.rsp(), build.version).await?;
    let log = l.trap_log.snapshot();
    // The run's own copy: the ELF files are read once per run.
    let elfs = l.elfs.clone();
    let lines = console::error_lines(&report.transcripts);
    for ctx in capture::faults(&harts, &log, l.storm.as_ref(), scenario, Some(&elfs))? {
        let state = harts.iter().find(|h| h.hart == ctx.hart);
        let rsp = l.session.rsp();
        let mut f =
            crate::diagnosis::explain(ctx, state, scenario, Some(&elfs), build.version, rsp)
                .await?;
        f.attach_console(console::lines_for(
            &lines,
            f.context.hart,
            out.faults.is_empty(),
        ));
        out.faults.push(f);
    }
    // Last, since looking steps the harts: where each one is and what it does.
    for h in &harts {
        let look = match crate::runner::inspect::look_at_stopped(&mut l.session, h.hart).await {
            Ok(look) => look,
            Err(e) => {
                eprintln!("hvharness: hart {}: not looked at: {e:#}", h.hart);
                None
            }
        };
        let place = capture::place_of(scenario, &elfs, h.pc, h.privilege.virt);
        let stuck = out.faults.iter().any(|f| f.context.hart == h.hart);
        out.harts
            .push(HartSummary::new(h, place, look.as_ref(), stuck, &log));
    }
    Ok((report, out, live))
}

/// Leaves QEMU stopped at the failure and tells a human how to attach gdb;
/// returns when interrupted (Ctrl-C kills QEMU through the signal handler).
async fn hand_off(scenario: &Scenario, build: &QemuBuild, live: runner::LiveRun) -> Result<()> {
    let runner::LiveRun { qemu, session, .. } = live;
    let Some(addr) = qemu.gdb_addr() else {
        return Ok(());
    };
    // QEMU's gdbstub takes one client: ours leaves, the VM stays stopped.
    drop(session);
    crate::outln!("{}", gdb_command_line(scenario, addr));
    crate::outln!(
        "QEMU {} (pid {}) is stopped at the failure; its consoles stay as they were. Press Ctrl-C to end it.",
        build.version,
        qemu.pid()
    );
    // Until SIGINT, SIGTERM or SIGHUP: the signal handler kills QEMU and exits (130/143/129).
    std::future::pending::<()>().await;
    drop(qemu);
    Ok(())
}

/// The gdb-multiarch command that attaches to the stopped QEMU with every
/// symbol file of the scenario (offsets applied).
pub(crate) fn gdb_command_line(scenario: &Scenario, addr: std::net::SocketAddr) -> String {
    let mut cmd = String::from("gdb-multiarch -q -ex 'set architecture riscv:rv64'");
    for (i, e) in scenario.elfs.iter().enumerate() {
        let path = e.path.canonicalize().unwrap_or_else(|_| e.path.clone());
        if i == 0 && e.offset == 0 {
            cmd.push_str(&format!(" -ex 'file {}'", path.display()));
        } else {
            cmd.push_str(&format!(
                " -ex 'add-symbol-file {} -o {:#x}'",
                path.display(),
                e.offset
            ));
        }
    }
    cmd.push_str(&format!(" -ex 'target remote {addr}'"));
    cmd
}

/// The human-readable diagnosis.
pub fn render(d: &Diagnosis) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "== {} on QEMU {}: {} (verdict after {:.2} s)",
        d.scenario,
        d.qemu,
        d.observed.class(),
        d.verdict_secs
    );
    match &d.observed {
        Observed::Booted => {
            let _ = writeln!(s, "it boots: nothing to diagnose");
            return s;
        }
        Observed::Hung { early, .. } => {
            let _ = writeln!(s, "{}", d.observed);
            if let Some(e) = early {
                let _ = writeln!(s, "{e}");
            }
        }
        Observed::Exited { .. } => {
            let _ = writeln!(s, "{}", d.observed);
        }
    }
    let waiting = d.harts.iter().any(|h| !h.interrupts.findings.is_empty());
    if d.faults.is_empty() && !waiting {
        let _ = writeln!(s, "no hart is stuck on a trap: no fault to explain");
    } else if d.faults.is_empty() {
        let _ = writeln!(
            s,
            "no hart is stuck on a trap; an interrupt reaches nobody:"
        );
    }
    let others: Vec<&HartSummary> = d.harts.iter().filter(|h| !h.stuck).collect();
    if !others.is_empty() {
        let _ = writeln!(
            s,
            "{}:",
            if d.faults.is_empty() {
                "harts"
            } else {
                "other harts"
            }
        );
        for h in others {
            let _ = writeln!(s, "  {}", h.line());
            // Where nothing trapped, what each hart waits for is the story.
            if d.faults.is_empty() || !h.interrupts.findings.is_empty() {
                for l in &h.interrupts.decoded {
                    let _ = writeln!(s, "    {l}");
                }
            }
            for finding in &h.interrupts.findings {
                render_finding(&mut s, finding, "    ");
            }
        }
    }
    for f in &d.faults {
        let c = &f.context;
        let _ = writeln!(
            s,
            "\nhart {}: {} from {} taken to {}",
            c.hart,
            f.cause_name,
            c.from.name(),
            c.to
        );
        let _ = writeln!(
            s,
            "  at   {:#x} {}",
            c.epc,
            c.epc_place.as_deref().unwrap_or("")
        );
        // A trap taken to VS is the guest's own: QEMU shows its registers
        // under the s-mode names while V=1.
        let guest_view = if c.to == crate::diagnosis::TrapTarget::VS {
            " (the guest's stval: vstval, shown as stval while V=1)"
        } else {
            ""
        };
        let _ = writeln!(s, "  tval {:#x}{guest_view}", c.tval);
        if let Some(h) = c.htval_text() {
            let _ = writeln!(s, "  htval {h}");
        }
        if let Some(h) = c.htinst {
            let _ = writeln!(s, "  htinst {h:#x}");
        }
        if let Some(h) = d.harts.iter().find(|h| h.hart == c.hart) {
            let _ = writeln!(s, "  now  {}", h.line());
        }
        if c.sbi_calls_after > 0 {
            let _ = writeln!(
                s,
                "  after the trap: {} SBI call(s) from HS (a report through the SBI console), then no progress",
                c.sbi_calls_after
            );
        }
        if !f.console.is_empty() {
            let _ = writeln!(s, "  console:");
            for l in &f.console {
                let _ = writeln!(s, "    {}: {}", l.console, l.text);
            }
        }
        if !f.backtrace.is_empty() {
            let _ = writeln!(s, "  backtrace:");
            for frame in &f.backtrace {
                let _ = writeln!(s, "    {frame}");
            }
        }
        if !f.walk.is_empty() {
            let _ = writeln!(s, "  page-table walk:");
            for line in &f.walk {
                let _ = writeln!(s, "    {line}");
            }
        }
        for finding in &f.findings {
            render_finding(&mut s, finding, "  ");
        }
    }
    s
}

/// `cause [rule]: summary`, its details, and the fix, indented.
fn render_finding(s: &mut String, finding: &crate::diagnosis::Finding, indent: &str) {
    use std::fmt::Write as _;
    let _ = writeln!(s, "{indent}cause [{}]: {}", finding.rule, finding.summary);
    for d in &finding.details {
        let _ = writeln!(s, "{indent}  {d}");
    }
    if let Some(fix) = &finding.fix {
        let _ = writeln!(s, "{indent}fix: {fix}");
    }
}
