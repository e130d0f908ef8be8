//! QEMU version numbers and version ranges such as `<9.0` or `>=8.0, <9.0`.
//!
//! Expectations are written against QEMU behaviour, which changes at release
//! boundaries, so scenarios name ranges rather than single versions.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// A QEMU release number, `major.minor.patch` (a missing patch reads as 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QemuVersion {
    pub(crate) major: u32,
    pub(crate) minor: u32,
    pub(crate) patch: u32,
}

/// Why a version or a range could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("{0:?} is not a QEMU version (expected MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. 9.2.0)")]
    BadVersion(String),
    #[error("{0:?} is not a version range (expected e.g. \"<9.0\", \">=8.0, <9.0\", \"=10.0.2\" or \"*\")")]
    BadRange(String),
}

impl QemuVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        QemuVersion {
            major,
            minor,
            patch,
        }
    }

    /// Reads the version out of `qemu-system-* --version` output, e.g.
    /// `QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`.
    pub(crate) fn from_version_output(text: &str) -> Option<QemuVersion> {
        let rest = text.split("QEMU emulator version").nth(1)?;
        let word = rest.split_whitespace().next()?;
        // Development builds print e.g. "9.2.50" or "9.2.0-rc1"; keep the numeric part.
        let numeric: String = word
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        numeric.parse().ok()
    }

    /// A form usable in test and file names: `10_0_2`.
    pub fn ident(&self) -> String {
        format!("{}_{}_{}", self.major, self.minor, self.patch)
    }
}

impl fmt::Display for QemuVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for QemuVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for QemuVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || VersionError::BadVersion(s.to_string());
        let parts: Vec<&str> = s.trim().split('.').collect();
        if parts.len() < 2 || parts.len() > 3 {
            return Err(bad());
        }
        let num = |p: &str| p.parse::<u32>().map_err(|_| bad());
        Ok(QemuVersion {
            major: num(parts[0])?,
            minor: num(parts[1])?,
            patch: if parts.len() == 3 { num(parts[2])? } else { 0 },
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

/// A conjunction of comparisons: `>=8.0, <9.0`. `*` (or an empty string) matches all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionReq {
    text: String,
    terms: Vec<(Op, QemuVersion)>,
}

impl VersionReq {
    /// True when `v` satisfies every comparison.
    pub(crate) fn matches(&self, v: QemuVersion) -> bool {
        self.terms.iter().all(|(op, bound)| {
            let ord = v.cmp(bound);
            match op {
                Op::Lt => ord == Ordering::Less,
                Op::Le => ord != Ordering::Greater,
                Op::Gt => ord == Ordering::Greater,
                Op::Ge => ord != Ordering::Less,
                Op::Eq => ord == Ordering::Equal,
            }
        })
    }
}

impl fmt::Display for VersionReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for VersionReq {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim().to_string();
        let mut terms = Vec::new();
        if text.is_empty() || text == "*" {
            return Ok(VersionReq { text, terms });
        }
        for part in text.split(',') {
            let part = part.trim();
            let (op, rest) = if let Some(r) = part.strip_prefix(">=") {
                (Op::Ge, r)
            } else if let Some(r) = part.strip_prefix("<=") {
                (Op::Le, r)
            } else if let Some(r) = part.strip_prefix('>') {
                (Op::Gt, r)
            } else if let Some(r) = part.strip_prefix('<') {
                (Op::Lt, r)
            } else if let Some(r) = part.strip_prefix('=') {
                (Op::Eq, r)
            } else {
                (Op::Eq, part)
            };
            let v = rest
                .parse()
                .map_err(|_| VersionError::BadRange(s.to_string()))?;
            terms.push((op, v));
        }
        Ok(VersionReq { text, terms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debian_version_output() {
        let v = QemuVersion::from_version_output(
            "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright",
        );
        assert_eq!(v, Some(QemuVersion::new(7, 2, 22)));
        let v = QemuVersion::from_version_output("QEMU emulator version 9.2.0\n");
        assert_eq!(v, Some(QemuVersion::new(9, 2, 0)));
        assert_eq!(QemuVersion::from_version_output("nonsense"), None);
    }

    #[test]
    fn ranges_follow_release_boundaries() {
        let before: VersionReq = "<9.0".parse().unwrap();
        let after: VersionReq = ">=9.0".parse().unwrap();
        for (v, old) in [
            ("7.2.22", true),
            ("8.0.2", true),
            ("9.2.0", false),
            ("10.0.2", false),
        ] {
            let v: QemuVersion = v.parse().unwrap();
            assert_eq!(before.matches(v), old, "{v}");
            assert_eq!(after.matches(v), !old, "{v}");
        }
        let band: VersionReq = ">=8.0, <9.0".parse().unwrap();
        assert!(band.matches("8.2.1".parse().unwrap()));
        assert!(!band.matches("7.2.22".parse().unwrap()));
        assert!("*"
            .parse::<VersionReq>()
            .unwrap()
            .matches("1.0".parse().unwrap()));
        assert!("=10.0.2"
            .parse::<VersionReq>()
            .unwrap()
            .matches("10.0.2".parse().unwrap()));
    }

    #[test]
    fn rejects_garbage() {
        assert!("9".parse::<QemuVersion>().is_err());
        assert!("9.x".parse::<QemuVersion>().is_err());
        assert!("<=nine".parse::<VersionReq>().is_err());
    }
}
