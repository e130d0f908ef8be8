//! Where a trap went: the privilege level it was taken to.

use serde::Serialize;

/// Where a trap was taken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
