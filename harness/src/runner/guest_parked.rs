//! The early verdict for a guest parked inside itself: a hart at V=1 in a
//! tight loop that changes nothing (`j .`, a `wfi` loop) with the guest's
//! own interrupts off (its sstatus.SIE, read at V=1 under the S-mode
//! name), typically in or below its trap handler after a trap it cannot
//! handle. Nothing the guest can see takes it out of there; the hypervisor
//! may still interrupt the hart (its own timer), so the hart keeps trapping
//! and the quiet rule ([`super::hang`]) never sees it go quiet.
//!
//! The suspicion is [`super::hang::Suspect::Interrupted`] (only interrupts,
//! all at one loop's pcs, while the consoles are silent); this module
//! confirms it at the stopped machine, structurally: the loop instruction
//! decoded and the pc kept across single steps ([`super::inspect`]), V=1 at
//! VS, SIE clear. Host speed changes when the look happens, never what it
//! finds.
//!
//! Other ways the same class shows up, and what this check does with them:
//! - a Linux guest that prints an oops and halts in `wfi` with interrupts
//!   off: a wfi loop at VS with SIE clear, confirmed like `j .`.
//! - a guest whose handler returns to the faulting instruction (sret back
//!   to the same pc) and re-executes it for ever: not a loop without
//!   traps; the storm rule sees the repeated exception instead.
//! - a guest's `wfi` trapped to HS because hstatus.VTW (or mstatus.TW) is
//!   set: every wfi is a virtual-instruction exception, which ends the
//!   interrupt run; the storm rule handles the repetition, not this one.
//! - a guest idling in `wfi` with its interrupts on (its scheduler): SIE
//!   set, not confirmed: its own timer will wake it.
//! - a guest spinning at VU (a user program's `j .`): the guest's timer
//!   preempts it; not confirmed (only VS is).

use std::fmt;

use anyhow::{Context, Result};

use super::hang::LOOP_INTERRUPTS;
use super::inspect::{self, HartLook};
use crate::debug::{privilege_of, DebugSession, StopRecord};
use crate::qemu::trap_log::{InterruptRun, SharedTrapLog};
use crate::riscv::{Cause, Level};
use crate::rsp::ThreadId;

/// sstatus.SIE: the guest's own S-level interrupts enabled.
const SSTATUS_SIE: u64 = 1 << 1;

/// A hart found parked inside its guest (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestParked {
    pub hart: u32,
    /// `guest:spinvec`, or the address.
    pub place: String,
    /// `j . loop, VS`.
    pub how: String,
    /// The loop is in the function the guest's trap vector points at.
    pub in_handler: bool,
    /// The guest's trap vector (its stvec, read at V=1), as a place.
    pub vector: Option<String>,
    /// The guest's last trap (its scause/sepc), when scause holds an
    /// exception: `exception 2 (illegal instruction) at 0x80200884 (guest:trapinithart+0x6)`.
    pub trap: Option<String>,
}

impl fmt::Display for GuestParked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let GuestParked {
            hart, place, how, ..
        } = self;
        if self.in_handler {
            write!(
                f,
                "hart {hart} is parked in the guest's own trap handler {place} ({how})"
            )?;
        } else {
            write!(f, "hart {hart} is parked in the guest at {place} ({how})")?;
        }
        f.write_str(" with the guest's interrupts off")?;
        if let Some(t) = &self.trap {
            write!(f, ", after the guest took {t}")?;
        }
        if let (false, Some(v)) = (self.in_handler, &self.vector) {
            write!(f, " (its trap vector: {v})")?;
        }
        f.write_str("; only the hypervisor's interrupts still reach the hart")
    }
}

/// Looks at `harts` (stops the machine, resumes it after): each confirmed
/// one with what was found, the others `None`. `None` altogether when QEMU
/// exited meanwhile. Stops at scenario breakpoints are added to `records`.
pub(crate) async fn look(
    session: &mut DebugSession,
    log: &SharedTrapLog,
    harts: &[u32],
    records: &mut Vec<StopRecord>,
) -> Result<Option<Vec<(u32, Option<GuestParked>)>>> {
    let Some(taken) = session.pause().await? else {
        return Ok(None);
    };
    records.extend(taken);
    let mut out = Vec::new();
    for &hart in harts {
        let run = log.with(|l| l.hart(hart as usize).and_then(|h| h.interrupted_at.clone()));
        let found = look_at_stopped(session, hart, run.as_ref())
            .await
            .with_context(|| format!("looking at hart {hart} in its guest"))?;
        out.push((hart, found));
    }
    session.cont().await?;
    Ok(Some(out))
}

/// The same look at one hart of a machine that stays stopped. `run` is the
/// hart's current run of interrupts in one loop, from the interrupt log: a
/// hart stopped in the hypervisor (handling one of those interrupts) is
/// judged by the loop those interrupts keep hitting and by the guest's
/// registers as HS shows them (vsstatus, vscause, ...).
pub(crate) async fn look_at_stopped(
    session: &mut DebugSession,
    hart: u32,
    run: Option<&InterruptRun>,
) -> Result<Option<GuestParked>> {
    let (pc, place, how, at_vs) = match inspect::look_at_stopped(session, hart).await? {
        Some(HartLook::Parked {
            pc,
            place,
            kind,
            privilege,
        }) if privilege.level == Level::Supervisor && privilege.virt == Some(true) => {
            (pc, place, format!("{}, {privilege}", kind.describe()), true)
        }
        // Parked elsewhere (a hypervisor's idle loop): not in a guest.
        Some(HartLook::Parked { .. }) | None => return Ok(None),
        // Busy in the hypervisor or in M-mode: perhaps serving one of the
        // interrupts that keep hitting a guest loop.
        Some(_) => match hs_view_of_loop(session, hart, run).await? {
            Some((pc, place, how)) => (pc, place, how, false),
            None => return Ok(None),
        },
    };
    let Some(thread) = thread_of(session, hart).await? else {
        return Ok(None);
    };
    // At V=1 the gdbstub shows the guest's own registers under the S
    // names; at V=0 under the VS names.
    let names: [&str; 4] = if at_vs {
        ["sstatus", "scause", "sepc", "stvec"]
    } else {
        ["vsstatus", "vscause", "vsepc", "vstvec"]
    };
    let rsp = session.rsp();
    rsp.select_register_thread(thread).await?;
    let mut values = [None; 4];
    for (v, name) in values.iter_mut().zip(names) {
        *v = rsp.read_register_u64(name).await?;
    }
    let [sstatus, scause, sepc, stvec] = values;
    // Interrupts on, or not known to be off: the guest may yet move.
    if sstatus.is_none_or(|s| s & SSTATUS_SIE != 0) {
        return Ok(None);
    }
    let guest_place = |addr: u64| guest_symbol(session, addr);
    let vector_base = stvec.map(|v| v & !3);
    let in_handler = vector_base.is_some_and(|v| {
        v == pc
            || matches!((guest_symbol_name(session, v), guest_symbol_name(session, pc)),
                (Some(a), Some(b)) if a == b)
    });
    let vector = vector_base.map(|v| guest_place(v).unwrap_or_else(|| format!("{v:#x}")));
    let trap = match (scause.map(Cause::from_xcause), sepc) {
        (Some(c), Some(epc)) if !c.interrupt && (c.code != 0 || epc != 0) => {
            let at = guest_place(epc)
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            Some(format!("{c} at {epc:#x}{at}"))
        }
        _ => None,
    };
    // Seen from the hypervisor, a vCPU that never trapped is no evidence.
    if !at_vs && trap.is_none() {
        return Ok(None);
    }
    Ok(Some(GuestParked {
        hart,
        place,
        how,
        in_handler,
        vector,
        trap,
    }))
}

/// A hart stopped in the hypervisor (HS), or in M-mode on its behalf,
/// while its interrupts keep landing
/// in one loop of the guest's code: that loop's pc, place and kind, when
/// the guest's code there is a parking loop (`j .`, a `wfi` loop).
async fn hs_view_of_loop(
    session: &mut DebugSession,
    hart: u32,
    run: Option<&InterruptRun>,
) -> Result<Option<(u64, String, String)>> {
    let Some(run) = run.filter(|r| r.count >= LOOP_INTERRUPTS) else {
        return Ok(None);
    };
    let Some(thread) = thread_of(session, hart).await? else {
        return Ok(None);
    };
    let version = session.version();
    let privilege = privilege_of(session.rsp(), thread, version).await?;
    // In the hypervisor, or in the M-mode firmware serving its SBI call.
    if privilege.level == Level::User || privilege.virt != Some(false) {
        return Ok(None);
    }
    let start = run.lo.saturating_sub(4);
    let len = (run.hi - start + 4) as usize;
    let Some(code) = session
        .elfs_at(Some(true))
        .into_iter()
        .find_map(|i| i.bytes_at(start, len).map(<[u8]>::to_vec))
    else {
        return Ok(None);
    };
    let pcs = [run.lo, run.hi];
    let Some(kind) = inspect::loop_kind(&code, start, &pcs, false) else {
        return Ok(None);
    };
    let place = guest_symbol(session, run.lo).unwrap_or_else(|| format!("{:#x}", run.lo));
    let how = format!(
        "{}, VS, seen through {} interrupts there: the hart was in {} at the stop",
        kind.describe(),
        run.count,
        privilege.name()
    );
    Ok(Some((run.lo, place, how)))
}

/// The RSP thread of `hart`.
async fn thread_of(session: &mut DebugSession, hart: u32) -> Result<Option<ThreadId>> {
    Ok(session
        .threads()
        .await?
        .into_iter()
        .find(|t| t.hart_index() == Some(hart as usize)))
}

/// `guest:symbol+offset` of a guest address, from the ELF files whose code
/// runs at V=1.
fn guest_symbol(session: &DebugSession, addr: u64) -> Option<String> {
    session.elfs_at(Some(true)).into_iter().find_map(|i| {
        i.symbolize(addr)
            .filter(|h| h.exact)
            .map(|h| format!("{}:{h}", i.name()))
    })
}

/// The name of the guest symbol holding `addr`.
fn guest_symbol_name(session: &DebugSession, addr: u64) -> Option<String> {
    session.elfs_at(Some(true)).into_iter().find_map(|i| {
        i.symbolize(addr)
            .filter(|h| h.exact)
            .map(|h| format!("{}:{}", i.name(), h.name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parked(in_handler: bool) -> GuestParked {
        GuestParked {
            hart: 0,
            place: if in_handler {
                "guest:spinvec".into()
            } else {
                "guest:panic+0x8a".into()
            },
            how: "j . loop, VS".into(),
            in_handler,
            vector: Some(if in_handler {
                "guest:spinvec".into()
            } else {
                "guest:kernelvec".into()
            }),
            trap: Some(
                "exception 2 (illegal instruction) at 0x80200884 (guest:trapinithart+0x6)".into(),
            ),
        }
    }

    #[test]
    fn the_verdict_names_the_hart_the_loop_and_the_guests_trap() {
        let text = parked(true).to_string();
        assert_eq!(
            text,
            "hart 0 is parked in the guest's own trap handler guest:spinvec (j . loop, VS) with the guest's interrupts off, after the guest took exception 2 (illegal instruction) at 0x80200884 (guest:trapinithart+0x6); only the hypervisor's interrupts still reach the hart"
        );
        let text = parked(false).to_string();
        assert!(
            text.starts_with("hart 0 is parked in the guest at guest:panic+0x8a (j . loop, VS)")
                && text.contains("(its trap vector: guest:kernelvec)"),
            "{text}"
        );
    }
}
