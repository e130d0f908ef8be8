//! Which hart a parked-hart verdict names, once the verdict is taken.
//!
//! The quiet rule names the first quiet hart it found parked, in hart
//! order. Idle harts park too (a `wfi` loop with a boot-time trap still in
//! scause: an ebreak returned from, or the fetch fault that turned a
//! high-linked hypervisor's MMU on and was never returned from), and a hart
//! that printed its fault through SBI console calls goes quiet last: the
//! first parked hart is often the wrong one. With the machine stopped after
//! the verdict, the hart is chosen the way the diagnosis chooses it
//! ([`harts::stuck::faults`]: stuck on a trap it did not get past, see
//! `harts::handled`, in the order the harts got stuck). Only the name
//! and the words change here, never the verdict or when it was taken.

use anyhow::Result;

use super::hang::NoProgress;
use super::inspect;
use crate::debug::DebugSession;
use crate::harts::{self, stuck, FaultContext};
use crate::qemu::trap_log::SharedTrapLog;
use crate::scenario::Scenario;

/// `why` naming the first hart stuck on a trap, with that trap, when one is
/// stuck and parked; `why` unchanged otherwise (no hart stuck on a trap, or
/// not a parked-hart verdict). The target must be stopped.
pub(crate) async fn name_stuck_hart(
    session: &mut DebugSession,
    log: &SharedTrapLog,
    scenario: &Scenario,
    why: NoProgress,
) -> Result<NoProgress> {
    let NoProgress::Parked {
        hart,
        quiet,
        place,
        how,
        fault: None,
    } = why
    else {
        return Ok(why);
    };
    let version = session.version();
    let harts = harts::read_harts(session.rsp(), version).await?;
    let elfs = session.elfs();
    let stuck = log.with(|l| stuck::faults(&harts, l, None, scenario, Some(elfs)))?;
    for f in &stuck {
        // The verdict's look already saw this hart parked; another stuck
        // hart is looked at now (it may be busy: then it is not named).
        let (place, how) = if f.hart == hart {
            (place.clone(), how.clone())
        } else {
            let look = inspect::look_at_stopped(session, f.hart).await?;
            match look.as_ref().and_then(inspect::HartLook::parked_detail) {
                Some(d) => d,
                None => continue,
            }
        };
        return Ok(NoProgress::Parked {
            hart: f.hart,
            quiet,
            place,
            how,
            fault: Some(fault_words(f)),
        });
    }
    Ok(NoProgress::Parked {
        hart,
        quiet,
        place,
        how,
        fault: None,
    })
}

/// `exception 20 (instruction guest-page fault) at 0x80200000
/// (guest:_entry at entry.S:13), from VS to HS`.
fn fault_words(f: &FaultContext) -> String {
    let place = f
        .epc_place
        .as_ref()
        .map(|p| format!(" ({p})"))
        .unwrap_or_default();
    format!(
        "{} at {:#x}{place}, from {} to {}",
        f.cause,
        f.epc,
        f.from.name(),
        f.to
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::riscv::{Cause, Level, PrivilegeLevel, TrapTarget};
    use std::time::Duration;

    #[test]
    fn a_stuck_hart_is_named_with_its_trap_and_no_claim_of_no_trap() {
        let f = FaultContext {
            hart: 0,
            from: PrivilegeLevel {
                level: Level::Supervisor,
                virt: Some(true),
            },
            to: TrapTarget::HS,
            cause: Cause::exception(20),
            epc: 0x8020_0000,
            tval: 0x8020_0000,
            htval: None,
            htinst: None,
            epc_place: Some("guest:_entry".into()),
            sbi_calls_after: 3,
            csrs: Default::default(),
        };
        let why = NoProgress::Parked {
            hart: 0,
            quiet: Duration::from_millis(500),
            place: "hypervisor:park+0x1c".into(),
            how: "wfi loop, halted, HS".into(),
            fault: Some(fault_words(&f)),
        };
        let text = why.to_string();
        assert!(
            text.contains("hart 0 is stuck on exception 20 (")
                && text.contains("at 0x80200000 (guest:_entry), from VS to HS")
                && text.contains("parked in hypervisor:park+0x1c (wfi loop, halted, HS)"),
            "{text}"
        );
        assert!(!text.contains("no trap"), "{text}");
    }
}
