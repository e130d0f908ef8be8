//! Every hart's present state in one line: where it is (pc, symbol,
//! privilege), what it does there (a `wfi` loop, a `j .`, running), whether
//! it is idle (waiting in the hypervisor, no vCPU ever ran on it), and what
//! its scause holds when that is a trap it has since gone past.
//! The harts a diagnosis explains are the stuck ones; this is the rest of
//! the machine, so that nobody has to guess what the others were doing.

use serde::Serialize;

use super::interrupts::{
    interrupt_state, timer_never_armed, FirmwareCode, InterruptState, TimerHistory,
};
use super::vcpu::{runs_vcpu, VcpuSign};
use crate::harts::handled::SeenPast;
use crate::harts::look::HartLook;
use crate::harts::HartState;
use crate::qemu::trap_log::TrapLog;
use crate::riscv::{Cause, Level};

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
    /// How the hart was seen past that trap, when known (`the boot jump:
    /// ...`).
    pub stale_because: Option<String>,
    /// How the hart was seen running a vCPU; absent: never at V=1.
    pub(crate) vcpu: Option<VcpuSign>,
    /// For a hart waiting in the hypervisor that never ran a vCPU: that it
    /// is idle, and what the log says about the guest starting it.
    pub idle: Option<String>,
    /// Pending and enabled interrupts, and any that reach nobody.
    pub interrupts: InterruptState,
}

impl HartSummary {
    /// The summary of `state`; `look` is what single-stepping it found,
    /// `log` the run's interrupt log (its timer history), `seen_past` how
    /// the hart went past the trap its scause holds, when known; `code`
    /// the firmware's ELF files and recorded CSR writes, for naming where a
    /// register behind an interrupt finding is written.
    pub(crate) fn new(
        state: &HartState,
        place: Option<String>,
        look: Option<&HartLook>,
        stuck: bool,
        log: &TrapLog,
        seen_past: Option<SeenPast>,
        code: Option<FirmwareCode>,
    ) -> HartSummary {
        let stale_trap = state
            .csrs
            .get("scause")
            .map(|&c| Cause::from_xcause(c))
            .filter(|c| !stuck && !c.interrupt && c.code != 0)
            // While V=1 scause is the guest's own: not the hypervisor's business.
            .filter(|_| state.privilege.virt != Some(true))
            .map(|c| c.to_string());
        let stale_because = seen_past
            .filter(|_| stale_trap.is_some())
            .map(|p| p.describe().to_string());
        let hart_log = log.hart(state.hart as usize);
        let vcpu = runs_vcpu(state, hart_log);
        let mut interrupts = interrupt_state(&state.csrs, vcpu.is_some(), state.hart, code);
        // A hart stuck on a trap waits for nothing; the others may wait
        // for a timer nobody armed, if a guest runs there.
        let history = hart_log.map(|h| TimerHistory {
            timer_interrupts: h.timer_interrupts,
            vs_ecalls: h.ecalls[2],
            dropped_lines: log.stats().dropped_lines,
        });
        if !stuck && vcpu.is_some() && interrupts.findings.is_empty() {
            interrupts.findings.extend(timer_never_armed(
                &state.csrs,
                state.privilege.virt,
                history,
            ));
        }
        // Idle: not stuck, never at V=1, and waiting in the hypervisor's
        // code at HS. Ours (hypervisor-highboot): a `wfi` loop on a flag the
        // guest's HSM hart_start would set. Other shapes: a `j .` or a
        // polling loop without `wfi` (parked or waiting: idle too); a hart
        // held in OpenSBI's HSM stopped state (M-mode, outside every
        // scenario ELF: "not started", not this line); a hart spinning
        // where no scenario ELF names the code (no place: not called idle,
        // its line says where it is and no more).
        let waiting =
            look.is_some_and(|l| matches!(l, HartLook::Parked { .. } | HartLook::Waiting { .. }));
        let in_hypervisor = state.privilege.level == Level::Supervisor
            && state.privilege.virt != Some(true)
            && place.is_some();
        let idle = (!stuck && vcpu.is_none() && waiting && in_hypervisor).then(|| idle_words(log));
        HartSummary {
            hart: state.hart,
            pc: state.pc,
            place,
            privilege: state.privilege.name().to_string(),
            activity: look.map(activity).unwrap_or_default(),
            stuck,
            stale_trap,
            stale_because,
            vcpu,
            idle,
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
        if let Some(idle) = &self.idle {
            s.push_str("; ");
            s.push_str(idle);
        }
        match (&self.stale_trap, &self.stale_because) {
            (Some(t), Some(why)) => s.push_str(&format!(
                "; scause still holds {t} from {why} (not stuck on it)"
            )),
            (Some(t), None) => s.push_str(&format!(
                "; scause still holds {t} from a trap it was seen past (not stuck on it)"
            )),
            _ => {}
        }
        s
    }
}

/// What an idle hart's line says: no vCPU ran on it, and whether the log
/// can tell that the guest never asked for one. QEMU's log records an SBI
/// call's cause (ecall from VS), not its extension or function: only a
/// guest that made no SBI call at all certainly never called HSM
/// `hart_start`.
fn idle_words(log: &TrapLog) -> String {
    let guest_calls: u64 = log.harts().iter().map(|h| h.ecalls[2]).sum();
    let complete = log.stats().dropped_lines == 0;
    let start = if guest_calls == 0 && complete {
        "never started by the guest (it made no SBI call at all, so no HSM hart_start)"
    } else if guest_calls == 0 {
        "not started by the guest as far as the log shows (it shows no SBI call from a guest, but lines were dropped)"
    } else {
        "not started (the log does not record which SBI calls the guest made, so whether it asked for this hart with HSM hart_start is not known)"
    };
    format!("idle: waiting in the hypervisor, no vCPU has run on this hart; {start}")
}

fn activity(look: &HartLook) -> String {
    match look {
        HartLook::Parked { kind, .. } => kind.describe().to_string(),
        HartLook::NotStarted { .. } => "held by the firmware (M-mode, not started)".to_string(),
        HartLook::Busy => "running".to_string(),
        HartLook::Waiting { .. } => "tight loop (polling)".to_string(),
    }
}
