//! What differs between QEMU releases, in one place: each quirk with the
//! version range it holds for, what it means, and where it was seen.
//!
//! Every check of the form "QEMU >= X does Y" in the harness goes through a
//! quirk here, so that a new QEMU release that changes behaviour is one edit,
//! and so that the table in `hvharness qemu quirks`-style listings, the
//! diagnosis texts and the tests agree. Ranges are half-open release bounds:
//! `since` is the first release with the behaviour, `until` the first
//! without. Facts come from QEMU's history (target/riscv/cpu.c, csr.c,
//! cpu_helper.c, gdbstub.c) and were checked on the installed builds
//! (7.2.22, 8.0.2, 9.2.0, 10.0.2) by `harness/tests/qemu_quirks.rs`.

use std::fmt;

use super::version::QemuVersion;

/// One version-dependent behaviour of QEMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quirk {
    /// A short identifier (`priv-shows-v`).
    pub name: &'static str,
    /// The first release with the behaviour (`None`: every release).
    pub(crate) since: Option<QemuVersion>,
    /// The first release without it again (`None`: still there).
    pub(crate) until: Option<QemuVersion>,
    /// What it means for a hypervisor or for the harness.
    pub(crate) what: &'static str,
}

impl Quirk {
    /// Whether `version` has this behaviour.
    pub fn applies(&self, version: QemuVersion) -> bool {
        self.since.is_none_or(|s| version >= s) && self.until.is_none_or(|u| version < u)
    }

    /// The range as a scenario would write it: `>=8.0, <9.0`, `*`.
    pub fn range(&self) -> String {
        let short = |v: QemuVersion| match v.patch {
            0 => format!("{}.{}", v.major, v.minor),
            _ => v.to_string(),
        };
        match (self.since, self.until) {
            (None, None) => "*".to_string(),
            (Some(s), None) => format!(">={}", short(s)),
            (None, Some(u)) => format!("<{}", short(u)),
            (Some(s), Some(u)) => format!(">={}, <{}", short(s), short(u)),
        }
    }
}

impl fmt::Display for Quirk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name, self.range(), self.what)
    }
}

const fn v(major: u32, minor: u32) -> Option<QemuVersion> {
    Some(QemuVersion::new(major, minor, 0))
}

/// The gdbstub's `priv` register sets bit 2 while V=1. Before 10.0 a hart in
/// VS-mode reads 1, the same as HS-mode (seen: 7.2.22, 8.0.2, 9.2.0 read 1 at
/// a guest's kvminithart, 10.0.2 reads 5), so V has to come from elsewhere
/// (the monitor's `info registers` V line).
pub const PRIV_SHOWS_V: Quirk = Quirk {
    name: "priv-shows-v",
    since: v(10, 0),
    until: None,
    what: "the gdbstub's priv register shows V in bit 2; earlier releases read 1 in VS-mode as in HS-mode",
};

/// Svadu: VS-stage A/D updates in hardware only while menvcfg and henvcfg
/// have the A/D-update bit (61). Before 8.0 QEMU always sets A and D in
/// hardware, for VS-stage and G-stage alike, whatever the envcfg registers say.
pub const SVADU: Quirk = Quirk {
    name: "svadu",
    since: v(8, 0),
    until: None,
    what: "Svadu: hardware A/D updates only with envcfg bit 61 set; earlier releases always set A/D in hardware",
};

/// QEMU 8.0 and 8.1 call envcfg bit 61 HADE; 8.2 renamed it ADUE (same bit).
pub(crate) const HADE_NAME: Quirk = Quirk {
    name: "hade-name",
    since: v(8, 0),
    until: v(8, 2),
    what: "envcfg bit 61 is called HADE (renamed ADUE in 8.2, same bit)",
};

/// Reset sets henvcfg's A/D-update bit (with the default svadu=true): guests
/// under a hypervisor that never sets it still get A/D updates. 9.0 resets
/// henvcfg to 0 ("target/riscv: Reset henvcfg to zero").
pub const HENVCFG_RESET_ADUE: Quirk = Quirk {
    name: "henvcfg-reset-adue",
    since: v(8, 0),
    until: v(9, 0),
    what: "reset sets henvcfg bit 61 (HADE/ADUE); from 9.0 reset leaves henvcfg 0 and the hypervisor must set it",
};

/// Reset sets menvcfg's A/D-update bit (8.x: with svadu; 9.x and later: with
/// svadu on and svade off, the default). Before 8.0 menvcfg resets to 0.
pub const MENVCFG_RESET_ADUE: Quirk = Quirk {
    name: "menvcfg-reset-adue",
    since: v(8, 0),
    until: None,
    what: "reset sets menvcfg bit 61 (HADE/ADUE) with the default CPU options",
};

/// htinst holds the (transformed) trapping instruction on guest-page faults.
/// 7.2 leaves it 0, so an MMIO emulator must read the instruction from guest
/// memory there.
pub const FILLS_HTINST: Quirk = Quirk {
    name: "fills-htinst",
    since: v(8, 0),
    until: None,
    what: "htinst holds the trapping instruction on guest-page faults; earlier releases leave it 0",
};

/// The CPU property `svadu` (`-cpu rv64,svadu=off`).
pub const SVADU_PROPERTY: Quirk = Quirk {
    name: "svadu-property",
    since: v(8, 0),
    until: None,
    what: "-cpu accepts svadu=on|off",
};

/// The CPU property `svade` (`-cpu rv64,svade=on`): with it on, reset leaves
/// menvcfg.ADUE clear. Seen absent in 8.0.2 and present in 9.2.0; QEMU added
/// it with the RVA22 profile work of the 9.0 cycle.
pub const SVADE_PROPERTY: Quirk = Quirk {
    name: "svade-property",
    since: v(9, 0),
    until: None,
    what: "-cpu accepts svade=on|off (svade on: no hardware A/D updates, menvcfg.ADUE reset clear)",
};

/// The gdbstub answers `p`/`P` with an empty reply until the client has read
/// target.xml (seen on 7.2.22 and 8.0.2; 9.2.0 and 10.0.2 answer anyway; the
/// boundary is taken as 9.0, the release of QEMU's gdbstub target-description
/// rework). The harness always reads target.xml first, so this only matters to
/// other clients.
pub const P_NEEDS_TARGET_XML: Quirk = Quirk {
    name: "p-needs-target-xml",
    since: None,
    until: v(9, 0),
    what: "the gdbstub answers p/P empty until target.xml was read",
};

/// Every quirk, for listings and tests.
#[cfg(test)]
pub(crate) const ALL: &[Quirk] = &[
    PRIV_SHOWS_V,
    SVADU,
    HADE_NAME,
    HENVCFG_RESET_ADUE,
    MENVCFG_RESET_ADUE,
    FILLS_HTINST,
    SVADU_PROPERTY,
    SVADE_PROPERTY,
    P_NEEDS_TARGET_XML,
];

/// What `version` calls envcfg bit 61: `HADE` (8.0, 8.1) or `ADUE`.
pub(crate) fn ad_update_bit_name(version: QemuVersion) -> &'static str {
    if HADE_NAME.applies(version) {
        "HADE"
    } else {
        "ADUE"
    }
}

/// henvcfg right after reset, before any firmware ran, on `-cpu rv64` with the
/// default options (no Svpbmt, no Zicbo* bits in henvcfg).
pub fn henvcfg_at_reset(version: QemuVersion) -> u64 {
    if HENVCFG_RESET_ADUE.applies(version) {
        1 << crate::riscv::envcfg::ADUE
    } else {
        0
    }
}

/// menvcfg right after reset on `-cpu rv64` with the default options.
pub fn menvcfg_at_reset(version: QemuVersion) -> u64 {
    if MENVCFG_RESET_ADUE.applies(version) {
        1 << crate::riscv::envcfg::ADUE
    } else {
        0
    }
}

/// One sentence on why VS-stage A/D updates are off on `version` when the
/// hypervisor leaves henvcfg alone, for diagnoses.
pub fn henvcfg_history(version: Option<QemuVersion>) -> String {
    match version {
        Some(v) if !SVADU.applies(v) => {
            format!("QEMU {v} has no Svadu and always sets A/D in hardware; 8.0 added Svadu and 9.0 resets henvcfg to 0.")
        }
        Some(v) if HENVCFG_RESET_ADUE.applies(v) => format!(
            "QEMU {v} resets henvcfg with {} set: something cleared it (QEMU 9.0 and later reset henvcfg to 0).",
            ad_update_bit_name(v)
        ),
        Some(v) => format!(
            "QEMU 9.0 and later (this is {v}) reset henvcfg to 0; 8.x reset it with ADUE set, and before 8.0 the hart always set A/D."
        ),
        None => "QEMU 9.0 and later reset henvcfg to 0.".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ver(s: &str) -> QemuVersion {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_read_like_scenarios() {
        assert_eq!(PRIV_SHOWS_V.range(), ">=10.0");
        assert_eq!(HENVCFG_RESET_ADUE.range(), ">=8.0, <9.0");
        assert_eq!(P_NEEDS_TARGET_XML.range(), "<9.0");
        // Each range parses as a scenario's version requirement and agrees with applies().
        for q in ALL {
            let req: crate::qemu::VersionReq = q.range().parse().unwrap();
            for v in [
                "7.2.22", "8.0.0", "8.1.5", "8.2.0", "9.0.0", "9.2.0", "10.0.2",
            ] {
                assert_eq!(req.matches(ver(v)), q.applies(ver(v)), "{} on {v}", q.name);
            }
        }
    }

    #[test]
    fn the_write_up_versions() {
        assert!(!SVADU.applies(ver("7.2.22")));
        assert!(HENVCFG_RESET_ADUE.applies(ver("8.0.2")));
        assert!(!HENVCFG_RESET_ADUE.applies(ver("9.2.0")));
        assert_eq!(henvcfg_at_reset(ver("8.0.2")), 0x2000_0000_0000_0000);
        assert_eq!(henvcfg_at_reset(ver("9.2.0")), 0);
        assert_eq!(ad_update_bit_name(ver("8.0.2")), "HADE");
        assert_eq!(ad_update_bit_name(ver("8.2.0")), "ADUE");
        assert!(!PRIV_SHOWS_V.applies(ver("9.2.0")) && PRIV_SHOWS_V.applies(ver("10.0.2")));
        assert!(
            henvcfg_history(Some(ver("9.2.0"))).starts_with("QEMU 9.0 and later (this is 9.2.0)")
        );
        assert!(henvcfg_history(Some(ver("8.0.2"))).contains("HADE set"));
    }
}
