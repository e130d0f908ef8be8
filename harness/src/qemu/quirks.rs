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
        self.with().holds(version)
    }

    /// The range as a scenario would write it: `>=8.0, <9.0`, `*`.
    pub fn range(&self) -> String {
        match (self.since, self.until) {
            (None, None) => "*".to_string(),
            (Some(s), None) => format!(">={}", short(s)),
            (None, Some(u)) => format!("<{}", short(u)),
            (Some(s), Some(u)) => format!(">={}, <{}", short(s), short(u)),
        }
    }

    /// The releases with the behaviour, for prose: `QEMU >= 8.0`, or in
    /// words `QEMU 8.0 and later` ([`Releases::in_words`]).
    pub(crate) fn with(&self) -> Releases {
        match (self.since, self.until) {
            (None, None) => Releases::Every,
            (Some(s), None) => Releases::From(s),
            (None, Some(u)) => Releases::Before(u),
            (Some(s), Some(u)) => Releases::Between(s, u),
        }
    }

    /// The releases without the behaviour: `QEMU < 8.0`, `QEMU before 8.0`.
    pub(crate) fn without(&self) -> Releases {
        match self.with() {
            Releases::Every => Releases::NoRelease,
            Releases::NoRelease => Releases::Every,
            Releases::From(s) => Releases::Before(s),
            Releases::Before(u) => Releases::From(u),
            Releases::Between(s, u) => Releases::Outside(s, u),
            Releases::Outside(s, u) => Releases::Between(s, u),
        }
    }
}

/// `9.0` for 9.0.0, `8.0.2` otherwise: a release bound as people write it.
fn short(v: QemuVersion) -> String {
    match v.patch {
        0 => format!("{}.{}", v.major, v.minor),
        _ => v.to_string(),
    }
}

/// A set of QEMU releases a text speaks of, taken from a quirk's range
/// ([`Quirk::with`], [`Quirk::without`]) so that prose and ranges agree.
/// Displays as `QEMU >= 8.0`; [`Releases::in_words`] gives `QEMU 8.0 and later`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Releases {
    /// Every release.
    Every,
    /// No release.
    NoRelease,
    /// This release and every later one.
    From(QemuVersion),
    /// Every release before this one.
    Before(QemuVersion),
    /// From the first up to, not including, the second.
    Between(QemuVersion, QemuVersion),
    /// Before the first, and from the second on.
    Outside(QemuVersion, QemuVersion),
}

impl Releases {
    /// Whether `version` is one of these releases.
    pub(crate) fn holds(self, version: QemuVersion) -> bool {
        match self {
            Releases::Every => true,
            Releases::NoRelease => false,
            Releases::From(s) => version >= s,
            Releases::Before(u) => version < u,
            Releases::Between(s, u) => version >= s && version < u,
            Releases::Outside(s, u) => version < s || version >= u,
        }
    }

    /// The same releases in words: `QEMU before 8.0`, `QEMU 9.0 and later`.
    pub(crate) fn in_words(self) -> String {
        match self {
            Releases::Every => "every QEMU".to_string(),
            Releases::NoRelease => "no QEMU".to_string(),
            Releases::From(s) => format!("QEMU {} and later", short(s)),
            Releases::Before(u) => format!("QEMU before {}", short(u)),
            Releases::Between(s, u) => format!("QEMU from {} until {}", short(s), short(u)),
            Releases::Outside(s, u) => {
                format!("QEMU before {} and from {} on", short(s), short(u))
            }
        }
    }
}

impl fmt::Display for Releases {
    /// `QEMU >= 8.0`, `QEMU < 9.0`, `QEMU >= 8.0, < 9.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Releases::Every => f.write_str("every QEMU"),
            Releases::NoRelease => f.write_str("no QEMU"),
            Releases::From(s) => write!(f, "QEMU >= {}", short(s)),
            Releases::Before(u) => write!(f, "QEMU < {}", short(u)),
            Releases::Between(s, u) => write!(f, "QEMU >= {}, < {}", short(s), short(u)),
            Releases::Outside(s, u) => write!(f, "QEMU < {} or >= {}", short(s), short(u)),
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

/// One sentence on why VS-stage A/D updates are off on `version` when the
/// hypervisor leaves henvcfg alone, for diagnoses.
pub fn henvcfg_history(version: Option<QemuVersion>) -> String {
    // The releases where reset leaves henvcfg 0, and where it sets the bit.
    let zeroed = HENVCFG_RESET_ADUE
        .until
        .map_or(Releases::NoRelease, Releases::From);
    let series = HENVCFG_RESET_ADUE
        .since
        .map_or(String::new(), |s| format!("{}.x", s.major));
    let svadu_from = SVADU.since.map_or(String::new(), short);
    let zeroed_from = HENVCFG_RESET_ADUE.until.map_or(String::new(), short);
    match version {
        Some(v) if !SVADU.applies(v) => format!(
            "QEMU {v} has no Svadu and always sets A/D in hardware; {svadu_from} added Svadu and {zeroed_from} resets henvcfg to 0."
        ),
        Some(v) if HENVCFG_RESET_ADUE.applies(v) => format!(
            "QEMU {v} resets henvcfg with {} set: something cleared it ({} reset henvcfg to 0).",
            ad_update_bit_name(v),
            zeroed.in_words()
        ),
        Some(v) => format!(
            "{} (this is {v}) reset henvcfg to 0; {series} reset it with ADUE set, and before {svadu_from} the hart always set A/D.",
            zeroed.in_words()
        ),
        None => format!("{} reset henvcfg to 0.", zeroed.in_words()),
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

    /// The prose forms of a range, as the diagnoses and errors print them.
    #[test]
    fn releases_in_prose() {
        assert_eq!(SVADU.without().to_string(), "QEMU < 8.0");
        assert_eq!(FILLS_HTINST.with().to_string(), "QEMU >= 8.0");
        assert_eq!(FILLS_HTINST.without().in_words(), "QEMU before 8.0");
        assert_eq!(P_NEEDS_TARGET_XML.with().in_words(), "QEMU before 9.0");
        assert_eq!(PRIV_SHOWS_V.without().in_words(), "QEMU before 10.0");
        assert_eq!(HENVCFG_RESET_ADUE.with().to_string(), "QEMU >= 8.0, < 9.0");
        assert_eq!(
            HENVCFG_RESET_ADUE.without().to_string(),
            "QEMU < 8.0 or >= 9.0"
        );
        assert_eq!(
            HENVCFG_RESET_ADUE.with().in_words(),
            "QEMU from 8.0 until 9.0"
        );
        assert_eq!(
            Releases::From(ver("9.0.0")).in_words(),
            "QEMU 9.0 and later"
        );
        // with() and without() split every version between them.
        for q in ALL {
            for v in ["7.2.22", "8.0.0", "8.2.0", "9.0.0", "10.0.2"] {
                assert_ne!(
                    q.with().holds(ver(v)),
                    q.without().holds(ver(v)),
                    "{} on {v}",
                    q.name
                );
            }
        }
    }

    #[test]
    fn the_write_up_versions() {
        assert!(!SVADU.applies(ver("7.2.22")));
        assert!(HENVCFG_RESET_ADUE.applies(ver("8.0.2")));
        assert!(!HENVCFG_RESET_ADUE.applies(ver("9.2.0")));
        assert_eq!(ad_update_bit_name(ver("8.0.2")), "HADE");
        assert_eq!(ad_update_bit_name(ver("8.2.0")), "ADUE");
        assert!(!PRIV_SHOWS_V.applies(ver("9.2.0")) && PRIV_SHOWS_V.applies(ver("10.0.2")));
        assert!(
            henvcfg_history(Some(ver("9.2.0"))).starts_with("QEMU 9.0 and later (this is 9.2.0)")
        );
        assert!(henvcfg_history(Some(ver("8.0.2"))).contains("HADE set"));
        assert_eq!(
            henvcfg_history(Some(ver("7.2.22"))),
            "QEMU 7.2.22 has no Svadu and always sets A/D in hardware; 8.0 added Svadu and 9.0 resets henvcfg to 0."
        );
        assert_eq!(
            henvcfg_history(Some(ver("9.2.0"))),
            "QEMU 9.0 and later (this is 9.2.0) reset henvcfg to 0; 8.x reset it with ADUE set, and before 8.0 the hart always set A/D."
        );
        assert_eq!(
            henvcfg_history(None),
            "QEMU 9.0 and later reset henvcfg to 0."
        );
    }
}
