//! Whether a hart runs a vCPU: the precondition of every interrupt rule, and
//! what tells an idle hart (set up, waiting for its vCPU to be started) from
//! one whose guest waits for an interrupt.
//!
//! The signal: the hart has been at V=1. Seen three ways, any one enough:
//! - it is at V=1 at the stop;
//! - hstatus.SPV is 1: its last trap into HS came from V=1 (a guest's SBI
//!   call, a guest-page fault, an interrupt taken while the guest ran);
//! - QEMU's interrupt log shows on it an exception only V=1 raises: ecall
//!   from VS (10), instruction/load/store guest-page fault (20, 21, 23) or
//!   virtual instruction (22).
//!
//! Not used: hgatp or vsatp being set (many hypervisors set hgatp on every
//! hart at set-up, before any vCPU runs, and vsatp is the guest's to write),
//! and the pending bits themselves (a VS timer is pending on a hart whose
//! vstimecmp keeps its reset value 0 under henvcfg.STCE, vCPU or not).

use serde::Serialize;

use crate::harts::HartState;
use crate::qemu::trap_log::HartLog;
use crate::riscv::cause::code;
use crate::riscv::trap::HSTATUS_SPV;

/// How a hart was seen running a vCPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VcpuSign {
    /// At V=1 at the stop.
    AtV1Now,
    /// hstatus.SPV: its last trap into HS came from V=1.
    LastTrapFromV1,
    /// The log shows an exception only V=1 raises (its cause code).
    GuestTrapLogged(u64),
}

/// Exceptions only a hart at V=1 takes.
const ONLY_FROM_V1: [u64; 5] = [
    code::ECALL_VS,
    code::INST_GUEST_PAGE_FAULT,
    code::LOAD_GUEST_PAGE_FAULT,
    code::VIRTUAL_INST,
    code::STORE_GUEST_PAGE_FAULT,
];

/// The first sign that `state`'s hart runs a vCPU; `log` is its record in
/// QEMU's interrupt log, when there is one. `None`: never seen at V=1.
pub(crate) fn runs_vcpu(state: &HartState, log: Option<&HartLog>) -> Option<VcpuSign> {
    if state.privilege.virt == Some(true) {
        return Some(VcpuSign::AtV1Now);
    }
    if state
        .csrs
        .get("hstatus")
        .is_some_and(|h| h & HSTATUS_SPV != 0)
    {
        return Some(VcpuSign::LastTrapFromV1);
    }
    let log = log?;
    ONLY_FROM_V1
        .iter()
        .find(|&&c| log.took_exception(c))
        .map(|&c| VcpuSign::GuestTrapLogged(c))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::qemu::trap_log::tests_support::line;
    use crate::qemu::trap_log::TrapLog;
    use crate::riscv::{Level, PrivilegeLevel};

    fn state(virt: bool, hstatus: u64) -> HartState {
        HartState {
            hart: 0,
            pc: 0x8020_0000,
            privilege: PrivilegeLevel {
                level: Level::Supervisor,
                virt: Some(virt),
            },
            csrs: [("hstatus".to_string(), hstatus)].into_iter().collect(),
            ra: 0,
            sp: 0,
            fp: 0,
        }
    }

    fn log(text: &str) -> TrapLog {
        let mut log = TrapLog::new(1);
        log.feed(text.as_bytes(), Instant::now());
        log
    }

    #[test]
    fn an_idle_hart_never_ran_a_vcpu() {
        // The highboot fixture's idle harts: the boot jump, an SBI call
        // from HS, OpenSBI's CSR probes; in HS with SPV 0.
        let text = [
            line(0, 0, 2, 0x8000_e136, 0xda00_2573),
            line(0, 0, 12, 0x8020_0050, 0x8020_0050),
            line(0, 0, 9, 0xffff_ffc0_8020_0abe, 0),
        ]
        .concat();
        let l = log(&text);
        assert_eq!(runs_vcpu(&state(false, 0), l.hart(0)), None);
        assert_eq!(runs_vcpu(&state(false, 0), None), None);
    }

    #[test]
    fn each_sign_of_a_vcpu_is_enough() {
        assert_eq!(runs_vcpu(&state(true, 0), None), Some(VcpuSign::AtV1Now));
        assert_eq!(
            runs_vcpu(&state(false, 1 << 7), None),
            Some(VcpuSign::LastTrapFromV1)
        );
        // A guest-page fault once, SPV since cleared by an HS-to-HS trap.
        let l = log(&line(0, 0, 21, 0x8020_1566, 0x1000_0005));
        assert_eq!(
            runs_vcpu(&state(false, 0), l.hart(0)),
            Some(VcpuSign::GuestTrapLogged(21))
        );
        let l = log(&line(0, 0, 10, 0x8020_195a, 0));
        assert_eq!(
            runs_vcpu(&state(false, 0), l.hart(0)),
            Some(VcpuSign::GuestTrapLogged(10))
        );
    }
}
