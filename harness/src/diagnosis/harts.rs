//! Every hart's present state in one line: where it is (pc, symbol,
//! privilege), what it does there (a `wfi` loop, a `j .`, running), and
//! what its scause holds when that is a trap it has since returned from.
//! The harts a diagnosis explains are the stuck ones; this is the rest of
//! the machine, so that nobody has to guess what the others were doing.

use serde::Serialize;

use super::capture::HartState;
use super::interrupts::{interrupt_state, timer_never_armed, InterruptState, TimerHistory};
use crate::qemu::trap_log::TrapLog;
use crate::riscv::Cause;
use crate::runner::inspect::HartLook;

/// One hart at the stop.
#[derive(Debug, Clone, Serialize)]
pub struct HartSummary {
    pub hart: u32,
    pub(crate) pc: u64,
    /// `space:symbol+offset` of pc, when a scenario ELF names it.
    pub place: Option<String>,
    /// `HS`, `VS`, `M`, ...
    pub privilege: String,
    /// `wfi loop, halted`, `j . loop`, `running`, ... (empty when not looked at).
    pub activity: String,
    /// The hart's diagnosis explains a trap it is stuck on.
    pub stuck: bool,
    /// scause when it holds an exception the hart is not stuck on (a trap
    /// it returned from long ago: stale, not a cause).
    pub stale_trap: Option<String>,
    /// Pending and enabled interrupts, and any that reach nobody.
    pub interrupts: InterruptState,
}

impl HartSummary {
    /// The summary of `state`; `look` is what single-stepping it found,
    /// `log` the run's interrupt log (its timer history).
    pub(crate) fn new(
        state: &HartState,
        place: Option<String>,
        look: Option<&HartLook>,
        stuck: bool,
        log: &TrapLog,
    ) -> HartSummary {
        let stale_trap = state
            .csrs
            .get("scause")
            .map(|&c| Cause::from_xcause(c))
            .filter(|c| !stuck && !c.interrupt && c.code != 0)
            // While V=1 scause is the guest's own: not the hypervisor's business.
            .filter(|_| state.privilege.virt != Some(true))
            .map(|c| c.to_string());
        let mut interrupts = interrupt_state(&state.csrs);
        // A hart stuck on a trap waits for nothing; the others may wait
        // for a timer nobody armed.
        let history = log.hart(state.hart as usize).map(|h| TimerHistory {
            timer_interrupts: h.timer_interrupts,
            vs_ecalls: h.ecalls[2],
            dropped_lines: log.stats().dropped_lines,
        });
        if !stuck && interrupts.findings.is_empty() {
            interrupts.findings.extend(timer_never_armed(
                &state.csrs,
                state.privilege.virt,
                history,
            ));
        }
        HartSummary {
            hart: state.hart,
            pc: state.pc,
            place,
            privilege: state.privilege.name().to_string(),
            activity: look.map(activity).unwrap_or_default(),
            stuck,
            stale_trap,
            interrupts,
        }
    }

    /// `hart 1: 0x80200a1c hypervisor:park+0x1c (HS), wfi loop, halted; scause holds ...`
    pub(crate) fn line(&self) -> String {
        let mut s = format!("hart {}: {:#x}", self.hart, self.pc);
        if let Some(p) = &self.place {
            s.push(' ');
            s.push_str(p);
        }
        s.push_str(&format!(" ({})", self.privilege));
        if !self.activity.is_empty() {
            s.push_str(", ");
            s.push_str(&self.activity);
        }
        if let Some(t) = &self.stale_trap {
            s.push_str(&format!(
                "; scause still holds {t} from a trap it was seen past (not stuck on it)"
            ));
        }
        s
    }
}

fn activity(look: &HartLook) -> String {
    match look {
        HartLook::Parked { kind, .. } => kind.describe().to_string(),
        HartLook::NotStarted { .. } => "held by the firmware (M-mode, not started)".to_string(),
        HartLook::Busy => "running".to_string(),
        HartLook::Waiting { .. } => "tight loop (polling)".to_string(),
    }
}
