//! A guest parked in its own trap handler, explained from the guest's view.
//!
//! The hart is not stuck on a trap to HS or M (the capture finds nothing):
//! the hypervisor handled its trap, by injecting an exception the guest
//! cannot handle, and the guest sits in a loop with its interrupts off
//! ([`crate::runner::guest_parked`] confirms that). What explains it is the
//! guest's own last trap: its scause, sepc, stval and stvec, read at V=1
//! under the S-mode names (QEMU shows the guest's values there), turned
//! into a [`FaultContext`] taken to VS and explained like any other fault
//! (the instruction decoded, the rules applied: [`super::counters`] for a
//! counter read). The trap to HS behind it comes from the interrupt log:
//! the hart's last exception there at the same pc.
//!
//! Other shapes of the class, and what this does with them:
//! - an injected page fault the guest's handler cannot handle (a guest-page
//!   fault the hypervisor turned into a page fault): explained the same way
//!   (the guest's scause is 12/13/15; the page-fault rules walk vsatp).
//! - a Linux guest that prints an oops and halts in `wfi`: explained the
//!   same way when its scause still holds the exception; its console lines
//!   are quoted. An oops raised without a trap (a BUG()) has no exception
//!   in scause: the hart is listed as parked, with no guest trap to name.
//! - a guest whose handler returns to the faulting pc for ever: a storm,
//!   explained by the capture, not here.

use std::collections::BTreeMap;

use anyhow::Result;

use super::console;
use super::{FaultContext, FaultReport, Finding, TrapTarget};
use crate::harts::{stuck, HartState};
use crate::qemu::trap_log::TrapLog;
use crate::qemu::QemuVersion;
use crate::riscv::{Cause, Level, PrivilegeLevel};
use crate::runner::guest_parked::{self, GuestParked};
use crate::runner::{LiveRun, RunReport};
use crate::scenario::Scenario;

/// sstatus.SPP: the trap came from S (here: VS) rather than U (VU).
const SSTATUS_SPP: u64 = 1 << 8;

/// The guest's registers as read at V=1 (S names) and the architectural
/// names a [`FaultContext`] gives them.
const GUEST_VIEW: &[(&str, &str)] = &[
    ("sstatus", "vsstatus"),
    ("scause", "vscause"),
    ("sepc", "vsepc"),
    ("stval", "vstval"),
    ("stvec", "vstvec"),
    ("satp", "vsatp"),
];

/// The guest's last trap on `h` (at V=1), as a context taken to VS; `None`
/// when its scause holds no exception.
pub(crate) fn guest_trap(
    h: &HartState,
    scenario: &Scenario,
    elfs: &crate::elf::ElfSet,
) -> Option<FaultContext> {
    // At V=1 the guest's registers are read under the S names; at V=0
    // (the hart stopped in the hypervisor) under their own VS names.
    let at_vs = h.privilege.virt?;
    let name = |s: &'static str, v: &'static str| if at_vs { s } else { v };
    let cause = Cause::from_xcause(*h.csrs.get(name("scause", "vscause"))?);
    let epc = *h.csrs.get(name("sepc", "vsepc"))?;
    if cause.interrupt || (cause.code == 0 && epc == 0) {
        return None;
    }
    let mut csrs: BTreeMap<String, u64> = h.csrs.clone();
    if at_vs {
        csrs.retain(|n, _| !GUEST_VIEW.iter().any(|(s, v)| n == s || n == v));
        for (s, v) in GUEST_VIEW {
            if let Some(&value) = h.csrs.get(*s) {
                csrs.insert(v.to_string(), value);
            }
        }
    }
    let from_s = csrs.get("vsstatus").is_some_and(|s| s & SSTATUS_SPP != 0);
    Some(FaultContext {
        hart: h.hart,
        from: PrivilegeLevel {
            level: if from_s {
                Level::Supervisor
            } else {
                Level::User
            },
            virt: Some(true),
        },
        to: TrapTarget::VS,
        cause,
        epc,
        tval: csrs.get("vstval").copied().unwrap_or(0),
        htval: None,
        htinst: None,
        epc_place: stuck::place_of(scenario, elfs, epc, Some(true)),
        sbi_calls_after: 0,
        csrs,
    })
}

/// The finding that says where the guest is parked and what came before
/// its trap: the hart's last exception to the hypervisor at the same pc.
fn parked_finding(
    parked: &GuestParked,
    ctx: &FaultContext,
    log: &TrapLog,
    read_at_vs: bool,
) -> Finding {
    let read = if read_at_vs {
        "read at V=1 under the S names"
    } else {
        "read in the hypervisor under the VS names"
    };
    let mut details = vec![format!(
        "the guest's view ({read}): vscause {} ({}), vsepc {:#x}, vstval {:#x}, vstvec {}",
        ctx.csr("vscause")
            .map(|v| format!("{v:#x}"))
            .unwrap_or_default(),
        ctx.cause,
        ctx.epc,
        ctx.tval,
        parked.vector.as_deref().unwrap_or("?"),
    )];
    // The hart's last exception that was not an ecall (the ring of recent
    // records is long overwritten by the hypervisor's ticks by now).
    let before = log
        .hart(ctx.hart as usize)
        .and_then(|l| l.last_fault.as_ref())
        .filter(|t| t.epc == ctx.epc)
        .cloned();
    let story = match &before {
        Some(t) => {
            let c = Cause::exception(t.cause);
            details.push(format!(
                "interrupt log: hart {} took {c} at {:#x} (tval {:#x}) before it, to the hypervisor, and then no other exception: the hypervisor injected the guest's {} instead of returning",
                ctx.hart, t.epc, t.tval, ctx.cause
            ));
            format!(", after the hypervisor's {c} at the same pc")
        }
        None => String::new(),
    };
    let at = ctx
        .epc_place
        .as_deref()
        .map(|p| format!(" ({})", p.split(" at ").next().unwrap_or(p)))
        .unwrap_or_default();
    Finding {
        rule: "guest-handler".into(),
        summary: format!(
            "{parked}. The guest's trap: {} at {:#x}{at}{story}.",
            ctx.cause, ctx.epc
        ),
        details,
        fix: None,
    }
}

/// Each hart parked inside its guest (and not stuck on a trap already
/// explained), its guest's trap explained. Looking steps the harts.
pub(crate) async fn explain_parked(
    scenario: &Scenario,
    version: QemuVersion,
    l: &mut LiveRun,
    harts: &[HartState],
    log: &TrapLog,
    report: &RunReport,
    explained: &[FaultReport],
) -> Result<Vec<FaultReport>> {
    let elfs = l.elfs.clone();
    let lines = console::error_lines(&report.transcripts);
    let writes = report.csr_writes.as_ref();
    let mut out: Vec<FaultReport> = Vec::new();
    for h in harts {
        if explained.iter().any(|f| f.context.hart == h.hart) {
            continue;
        }
        let Some(ctx) = guest_trap(h, scenario, &elfs) else {
            continue;
        };
        let run = log
            .hart(h.hart as usize)
            .and_then(|r| r.interrupted_at.as_ref());
        let Some(parked) = guest_parked::look_at_stopped(&mut l.session, h.hart, run).await? else {
            continue;
        };
        // The live ra/sp/fp still describe the trapping code only while
        // the hart loops in the vector itself.
        let state = (parked.in_handler && h.privilege.virt == Some(true)).then_some(h);
        let finding = parked_finding(&parked, &ctx, log, h.privilege.virt == Some(true));
        let rsp = l.session.rsp();
        let mut f = super::explain(ctx, state, scenario, Some(&elfs), version, rsp, writes).await?;
        f.findings.push(finding);
        let first = explained.is_empty() && out.is_empty();
        f.attach_console(console::lines_for(&lines, h.hart, first));
        out.push(f);
    }
    Ok(out)
}
