//! Where a trap went and where it came from: the level it was taken to,
//! and the status bits that record the level and V it was taken from.
//! Every decoding of trap origin reads these (privileged specification
//! 1.13: sstatus.SPP, hstatus.SPV/SPVP, mstatus.MPV).

use serde::{Deserialize, Serialize};

use super::cause::code;
use super::{Cause, Level, PrivilegeLevel};

/// sstatus.SPP: a trap into S (or HS) came from S (1) or U (0).
pub(crate) const SSTATUS_SPP: u64 = 1 << 8;
/// hstatus.SPV: a trap into HS came from V=1 (a guest).
pub(crate) const HSTATUS_SPV: u64 = 1 << 7;
/// hstatus.SPVP: the guest's privilege when it trapped into HS: VS (1) or VU (0).
pub(crate) const HSTATUS_SPVP: u64 = 1 << 8;
/// mstatus.MPV: a trap into M came from V=1.
pub(crate) const MSTATUS_MPV: u64 = 1 << 39;

/// Where a trap was taken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrapTarget {
    /// Into M-mode (OpenSBI).
    M,
    /// Into HS-mode: the hypervisor (or a bare S-mode kernel).
    HS,
    /// Into VS-mode: the guest's own trap handler.
    VS,
}

/// `M`, `HS` or `VS`.
impl std::fmt::Display for TrapTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrapTarget::M => "M",
            TrapTarget::HS => "HS",
            TrapTarget::VS => "VS",
        })
    }
}

/// Where a trap into HS came from, by hstatus and sstatus read after it:
/// SPV says whether a guest trapped, then SPVP (a guest) or SPP (the host
/// itself) whether from S or U.
pub(crate) fn hs_trap_origin(hstatus: u64, sstatus: u64) -> PrivilegeLevel {
    let virt = hstatus & HSTATUS_SPV != 0;
    let from_s = if virt {
        hstatus & HSTATUS_SPVP != 0
    } else {
        sstatus & SSTATUS_SPP != 0
    };
    PrivilegeLevel {
        level: if from_s {
            Level::Supervisor
        } else {
            Level::User
        },
        virt: Some(virt),
    }
}

/// Whether a trap taken `to` with `cause` came from V=1, when the trap
/// tells: into VS, or a cause only a guest makes (ecall from VS, a
/// guest-page fault, a virtual instruction); else hstatus.SPV (into HS) or
/// mstatus.MPV (into M), when read. `None` when nothing tells.
pub(crate) fn came_from_guest(
    to: TrapTarget,
    cause: Cause,
    hstatus: Option<u64>,
    mstatus: Option<u64>,
) -> Option<bool> {
    if to == TrapTarget::VS {
        return Some(true);
    }
    if cause.is(code::ECALL_VS) || cause.is(code::VIRTUAL_INST) || cause.is_guest_page_fault() {
        return Some(true);
    }
    match to {
        TrapTarget::HS => hstatus.map(|h| h & HSTATUS_SPV != 0),
        TrapTarget::M => mstatus.map(|m| m & MSTATUS_MPV != 0),
        TrapTarget::VS => Some(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hs_trap_comes_from_the_guest_or_the_host_by_spv() {
        let vs = hs_trap_origin(HSTATUS_SPV | HSTATUS_SPVP, 0);
        assert_eq!((vs.level, vs.virt), (Level::Supervisor, Some(true)));
        let vu = hs_trap_origin(HSTATUS_SPV, SSTATUS_SPP);
        assert_eq!((vu.level, vu.virt), (Level::User, Some(true)));
        let hs = hs_trap_origin(HSTATUS_SPVP, SSTATUS_SPP);
        assert_eq!((hs.level, hs.virt), (Level::Supervisor, Some(false)));
        let u = hs_trap_origin(0, 0);
        assert_eq!((u.level, u.virt), (Level::User, Some(false)));
    }

    #[test]
    fn the_cause_or_the_status_bit_says_whether_a_guest_trapped() {
        let load_fault = Cause::exception(13);
        assert_eq!(
            came_from_guest(TrapTarget::VS, load_fault, None, None),
            Some(true)
        );
        assert_eq!(
            came_from_guest(TrapTarget::HS, Cause::exception(21), None, None),
            Some(true)
        );
        assert_eq!(
            came_from_guest(TrapTarget::HS, load_fault, None, None),
            None
        );
        assert_eq!(
            came_from_guest(TrapTarget::HS, load_fault, Some(HSTATUS_SPV), None),
            Some(true)
        );
        assert_eq!(
            came_from_guest(TrapTarget::M, load_fault, Some(HSTATUS_SPV), Some(0)),
            Some(false)
        );
        assert_eq!(
            came_from_guest(TrapTarget::M, load_fault, None, Some(MSTATUS_MPV)),
            Some(true)
        );
    }
}
