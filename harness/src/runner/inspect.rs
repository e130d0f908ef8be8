//! Confirming a storm suspect on the stopped machine before it becomes a
//! verdict.
//!
//! The probe counts traps, not host time, so a loaded host makes it slower,
//! never different. The suspect's hart is first stopped at the faulting
//! instruction, where its privilege is read: the faulting privilege. Then it
//! gets a one-shot breakpoint right after the instruction (pc + 2 and
//! pc + 4: the instruction may be compressed) while it takes
//! [`CONFIRM_REPEATS`] more identical traps. An emulated MMIO access returns
//! after the instruction and stops there at once; a hart looping on the
//! fault never gets there. A stop there at another privilege (a guest's
//! virtual address can equal one of the hypervisor's) is stepped over, not
//! taken as passing. Looking at quiet harts is [`crate::harts::look`].

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::debug::{privilege_of, DebugSession, StopRecord};
use crate::harts::look::step;
pub(crate) use crate::harts::look::{look_at_harts, look_at_stopped, loop_kind, HartLook};
use crate::qemu::trap_log::{LoggedTrap, SharedTrapLog};
use crate::riscv::PrivilegeLevel;
use crate::rsp::{RspError, ThreadId};

/// More identical traps, after the probe went in, that confirm a storm.
pub(crate) const CONFIRM_REPEATS: u64 = 64;
/// The longest a storm probe waits (the hart may stop trapping altogether).
const PROBE_LIMIT: Duration = Duration::from_secs(10);
/// How often the probe looks at the log while it waits.
const PROBE_POLL: Duration = Duration::from_millis(10);

/// How a storm probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StormCheck {
    /// Execution never got past the instruction while the hart took
    /// [`CONFIRM_REPEATS`] more identical traps.
    Confirmed,
    /// The hart got past the instruction: an emulation loop, not a storm.
    Passes,
    /// The hart took another exception: it moved on.
    MovedOn,
    /// Neither within [`PROBE_LIMIT`] (the hart stopped trapping).
    Undecided,
    /// QEMU exited.
    Exited,
}

/// The current run of `trap` on its hart: `None` once the hart took another exception.
fn run_length(log: &SharedTrapLog, trap: &LoggedTrap) -> Option<u64> {
    log.with(|l| {
        let (t, n) = l.hart(usize::try_from(trap.hart).ok()?)?.run()?;
        (t == trap).then_some(n)
    })
}

/// What a stop of the storm's hart at one of the probe's addresses means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProbeStop {
    /// At the faulting instruction, before the faulting privilege is known:
    /// it is learnt here.
    Anchor,
    /// Past the faulting instruction, at the faulting privilege.
    Passes,
    /// At a probe address, but in another privilege or address space (a
    /// guest's virtual address can equal one of the hypervisor's): step it
    /// over and keep probing.
    Elsewhere,
    /// At a probe address before the faulting privilege is known: step it
    /// over, and judge it once the anchor says what the privilege is.
    Early,
    /// Not at a probe address.
    Nothing,
}

/// Whether two privileges can be the same address space: the same level,
/// and the same V where both are known (an unknown V matches either).
fn same_context(a: PrivilegeLevel, b: PrivilegeLevel) -> bool {
    a.level == b.level && (a.virt.is_none() || b.virt.is_none() || a.virt == b.virt)
}

/// Classifies a stop of the storm's hart at `pc` in `privilege`. `faulting`
/// is `None` until the hart was seen at the faulting instruction `epc`;
/// `probes` are the addresses after it.
fn classify_stop(
    pc: u64,
    privilege: PrivilegeLevel,
    epc: u64,
    faulting: Option<PrivilegeLevel>,
    probes: &[u64],
) -> ProbeStop {
    if faulting.is_none() && pc == epc {
        return ProbeStop::Anchor;
    }
    if !probes.contains(&pc) {
        return ProbeStop::Nothing;
    }
    match faulting {
        None => ProbeStop::Early,
        Some(f) if same_context(f, privilege) => ProbeStop::Passes,
        Some(_) => ProbeStop::Elsewhere,
    }
}

/// Checks that execution never gets past the repeated exception `trap`
/// (see the module docs). A one-shot breakpoint at epc stops the hart at
/// the faulting instruction, where the faulting privilege is read; stops
/// after the instruction count only at that privilege (ones that came
/// before it are judged when it is known). Stops at
/// scenario breakpoints meanwhile are added to `records`. The machine runs
/// again afterwards.
pub async fn confirm_storm(
    session: &mut DebugSession,
    log: &SharedTrapLog,
    trap: &LoggedTrap,
    records: &mut Vec<StopRecord>,
) -> Result<StormCheck> {
    let Some(taken) = session.pause().await? else {
        return Ok(StormCheck::Exited);
    };
    records.extend(taken);
    let mut probe = StormProbe::arm(session, trap).await;
    let start = run_length(log, trap).unwrap_or(0);
    session.cont().await?;
    let deadline = Instant::now() + PROBE_LIMIT;
    let outcome = loop {
        let reply = match session.rsp().wait_for_stop(PROBE_POLL).await {
            Err(RspError::Timeout { .. }) => match run_length(log, trap) {
                None => break StormCheck::MovedOn,
                // Never past it; or past it, but at a privilege never
                // learnt (no stop at the faulting pc): no verdict.
                Some(n) if n >= start + CONFIRM_REPEATS => {
                    if probe.faulting.is_some() || probe.early.is_empty() {
                        break StormCheck::Confirmed;
                    }
                    break StormCheck::Undecided;
                }
                Some(_) if Instant::now() >= deadline => break StormCheck::Undecided,
                Some(_) => continue,
            },
            Err(RspError::ConnectionClosed { .. }) => return Ok(StormCheck::Exited),
            Err(e) => return Err(e).context("waiting during a storm probe"),
            Ok(r) => r,
        };
        if probe.passed_at_stop(session, trap).await? {
            break StormCheck::Passes;
        }
        let Some(taken) = session.take_stop(reply).await? else {
            return Ok(StormCheck::Exited);
        };
        records.extend(taken);
        session.cont().await?;
    };
    if session.rsp().is_running() {
        let Some(taken) = session.pause().await? else {
            return Ok(StormCheck::Exited);
        };
        records.extend(taken);
    }
    for a in probe.ours {
        session
            .rsp()
            .clear_breakpoint(a)
            .await
            .context("removing a storm probe")?;
    }
    session.cont().await?;
    Ok(outcome)
}

/// The breakpoints of one storm probe and what its stops taught so far.
struct StormProbe {
    /// Breakpoints we put in (and take out at the end).
    ours: Vec<u64>,
    /// The instructions after the faulting one (epc+2, epc+4), where no
    /// scenario breakpoint sits.
    probes: Vec<u64>,
    /// The privilege the hart faults at, once a stop at epc showed it.
    faulting: Option<PrivilegeLevel>,
    /// Privileges of the stops after the instruction before the anchor's.
    early: Vec<PrivilegeLevel>,
}

impl StormProbe {
    /// Puts breakpoints at the faulting pc (the anchor) and just after it.
    async fn arm(session: &mut DebugSession, trap: &LoggedTrap) -> StormProbe {
        let scenario_points: Vec<u64> = session
            .breakpoints()
            .iter()
            .filter(|b| b.inserted)
            .map(|b| b.address)
            .collect();
        // A scenario breakpoint at epc stops the hart there all the same.
        let mut ours = Vec::new();
        if !scenario_points.contains(&trap.epc)
            && session.rsp().set_breakpoint(trap.epc).await.is_ok()
        {
            ours.push(trap.epc);
        }
        let probes: Vec<u64> = [trap.epc.wrapping_add(2), trap.epc.wrapping_add(4)]
            .into_iter()
            .filter(|a| !scenario_points.contains(a))
            .collect();
        for &a in &probes {
            // A target that refuses one: probe with what went in.
            if session.rsp().set_breakpoint(a).await.is_ok() {
                ours.push(a);
            }
        }
        StormProbe {
            ours,
            probes,
            faulting: None,
            early: Vec::new(),
        }
    }

    /// Looks at every hart at a stop: true when the trapping hart got past
    /// its faulting instruction in the faulting context. Harts on our
    /// breakpoints that tell nothing are stepped past them.
    async fn passed_at_stop(
        &mut self,
        session: &mut DebugSession,
        trap: &LoggedTrap,
    ) -> Result<bool> {
        let version = session.version();
        let mut passed = false;
        for thread in session.threads().await? {
            let Some(pc) = session
                .rsp()
                .read_thread_register(thread, "pc")
                .await?
                .as_u64()
            else {
                continue;
            };
            if thread.hart_index() != Some(trap.hart as usize) {
                // Another hart on one of our breakpoints: past it.
                if self.ours.contains(&pc) {
                    step_past(session, thread, pc).await?;
                }
                continue;
            }
            if pc != trap.epc && !self.probes.contains(&pc) {
                continue;
            }
            let privilege = privilege_of(session.rsp(), thread, version).await?;
            match classify_stop(pc, privilege, trap.epc, self.faulting, &self.probes) {
                ProbeStop::Anchor => {
                    // The anchor goes: without its breakpoint the hart
                    // runs into its fault again.
                    self.faulting = Some(privilege);
                    passed = self.early.iter().any(|&p| same_context(p, privilege));
                    if let Some(i) = self.ours.iter().position(|&a| a == pc) {
                        self.ours.swap_remove(i);
                        session
                            .rsp()
                            .clear_breakpoint(pc)
                            .await
                            .context("removing a storm probe's anchor")?;
                    }
                }
                ProbeStop::Passes => passed = true,
                ProbeStop::Early => {
                    self.early.push(privilege);
                    step_past(session, thread, pc).await?;
                }
                ProbeStop::Elsewhere => step_past(session, thread, pc).await?,
                ProbeStop::Nothing => {}
            }
        }
        Ok(passed)
    }
}

/// Steps a hart over our breakpoint at `pc` (bounded: a hart halted in
/// `wfi` there is interrupted); the breakpoint goes back in.
async fn step_past(session: &mut DebugSession, thread: ThreadId, pc: u64) -> Result<()> {
    session
        .rsp()
        .clear_breakpoint(pc)
        .await
        .context("removing a storm probe to step over it")?;
    step(session, thread).await?;
    session
        .rsp()
        .set_breakpoint(pc)
        .await
        .context("reinserting a storm probe")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::riscv::Level;

    const HS: PrivilegeLevel = PrivilegeLevel {
        level: Level::Supervisor,
        virt: Some(false),
    };
    const VS: PrivilegeLevel = PrivilegeLevel {
        level: Level::Supervisor,
        virt: Some(true),
    };
    /// QEMU < 10.0 without the monitor's V line: S, V unknown.
    const S_UNKNOWN: PrivilegeLevel = PrivilegeLevel {
        level: Level::Supervisor,
        virt: None,
    };
    const U: PrivilegeLevel = PrivilegeLevel {
        level: Level::User,
        virt: Some(true),
    };

    #[test]
    fn the_faulting_privilege_is_learnt_at_the_faulting_pc() {
        let probes = [0x8020_0012, 0x8020_0014];
        assert_eq!(
            classify_stop(0x8020_0010, VS, 0x8020_0010, None, &probes),
            ProbeStop::Anchor
        );
        // A stop after it comes first: judged once the privilege is known.
        assert_eq!(
            classify_stop(0x8020_0014, VS, 0x8020_0010, None, &probes),
            ProbeStop::Early
        );
        assert_eq!(
            classify_stop(0x8020_0020, VS, 0x8020_0010, None, &probes),
            ProbeStop::Nothing
        );
    }

    #[test]
    fn a_stop_after_the_instruction_passes_only_at_the_faulting_privilege() {
        let probes = [0x8020_0012, 0x8020_0014];
        let epc = 0x8020_0010;
        assert_eq!(
            classify_stop(0x8020_0014, VS, epc, Some(VS), &probes),
            ProbeStop::Passes
        );
        // The hypervisor's own code at the guest's virtual address.
        assert_eq!(
            classify_stop(0x8020_0014, HS, epc, Some(VS), &probes),
            ProbeStop::Elsewhere
        );
        assert_eq!(
            classify_stop(0x8020_0012, U, epc, Some(VS), &probes),
            ProbeStop::Elsewhere
        );
        // Neither epc nor a probe.
        assert_eq!(
            classify_stop(0x8020_0020, VS, epc, Some(VS), &probes),
            ProbeStop::Nothing
        );
    }

    #[test]
    fn an_unknown_v_matches_either_at_the_same_level() {
        assert!(same_context(S_UNKNOWN, VS));
        assert!(same_context(HS, S_UNKNOWN));
        assert!(!same_context(S_UNKNOWN, U));
        assert!(!same_context(HS, VS));
    }
}
