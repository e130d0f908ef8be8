//! CSR snapshots: the register state at each breakpoint, per scenario and QEMU
//! version, as text meant to be read in review (`henvcfg.ADUE = 1`), and a
//! field-by-field diff between two of them.
//!
//! The format is a header of `# key: value` lines, then one section per stop:
//!
//! ```text
//! # scenario: hypervisor-2vm
//! # qemu: 10.0.2
//!
//! [guest:kvminithart hart 0 VS]
//! henvcfg = 0xa000000000000000
//! henvcfg.ADUE = 1
//! ```
//!
//! insta's `.snap` header (between `---` lines) is skipped when reading, so
//! `hvharness diff` takes the committed snapshot files as they are.

use std::fmt::Write as _;

/// One section: a title and its `key = value` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub(crate) title: String,
    pub(crate) entries: Vec<(String, String)>,
}

/// A parsed snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// `# key: value` header lines.
    pub(crate) header: Vec<(String, String)>,
    pub(crate) sections: Vec<Section>,
}

impl Snapshot {
    /// Renders in the text format above.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.header {
            let _ = writeln!(s, "# {k}: {v}");
        }
        for sec in &self.sections {
            let _ = writeln!(s, "\n[{}]", sec.title);
            for (k, v) in &sec.entries {
                let _ = writeln!(s, "{k} = {v}");
            }
        }
        s
    }

    /// Parses the text format (with or without an insta header).
    pub(crate) fn parse(text: &str) -> Result<Snapshot, String> {
        let body = strip_insta_header(text);
        let mut snap = Snapshot::default();
        for (n, line) in body.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            if let Some(h) = line.strip_prefix('#') {
                if let Some((k, v)) = h.split_once(':') {
                    snap.header
                        .push((k.trim().to_string(), v.trim().to_string()));
                }
                continue;
            }
            if let Some(title) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                snap.sections.push(Section {
                    title: title.to_string(),
                    entries: Vec::new(),
                });
                continue;
            }
            let Some((k, v)) = line.split_once(" = ") else {
                return Err(format!(
                    "line {}: expected `key = value`, `[section]` or `# header`: {line:?}",
                    n + 1
                ));
            };
            let Some(sec) = snap.sections.last_mut() else {
                return Err(format!("line {}: `{k}` comes before any [section]", n + 1));
            };
            sec.entries
                .push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(snap)
    }

    /// A header value.
    pub(crate) fn header_value(&self, key: &str) -> Option<&str> {
        self.header
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn strip_insta_header(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("---\n") else {
        return text;
    };
    match rest.find("\n---\n") {
        Some(i) => &rest[i + 5..],
        None => text,
    }
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Changed {
        key: String,
        old: String,
        new: String,
    },
    Added {
        key: String,
        value: String,
    },
    Removed {
        key: String,
        value: String,
    },
}

/// The differences within one section (or a section present on one side only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SectionDiff {
    pub(crate) title: String,
    /// `Some(true)`: only in the new snapshot; `Some(false)`: only in the old one.
    pub(crate) only_in_new: Option<bool>,
    pub(crate) changes: Vec<Change>,
}

/// Field-by-field differences between two snapshots, sections matched by title.
pub(crate) fn diff(old: &Snapshot, new: &Snapshot) -> Vec<SectionDiff> {
    let mut out = Vec::new();
    for o in &old.sections {
        match new.sections.iter().find(|n| n.title == o.title) {
            None => out.push(SectionDiff {
                title: o.title.clone(),
                only_in_new: Some(false),
                changes: Vec::new(),
            }),
            Some(n) => {
                let mut changes = Vec::new();
                for (k, v) in &o.entries {
                    match n.entries.iter().find(|(nk, _)| nk == k) {
                        Some((_, nv)) if nv != v => changes.push(Change::Changed {
                            key: k.clone(),
                            old: v.clone(),
                            new: nv.clone(),
                        }),
                        Some(_) => {}
                        None => changes.push(Change::Removed {
                            key: k.clone(),
                            value: v.clone(),
                        }),
                    }
                }
                for (k, v) in &n.entries {
                    if !o.entries.iter().any(|(ok, _)| ok == k) {
                        changes.push(Change::Added {
                            key: k.clone(),
                            value: v.clone(),
                        });
                    }
                }
                if !changes.is_empty() {
                    out.push(SectionDiff {
                        title: o.title.clone(),
                        only_in_new: None,
                        changes,
                    });
                }
            }
        }
    }
    for n in &new.sections {
        if !old.sections.iter().any(|o| o.title == n.title) {
            out.push(SectionDiff {
                title: n.title.clone(),
                only_in_new: Some(true),
                changes: Vec::new(),
            });
        }
    }
    out
}

/// A readable rendering of [`diff`]; `old_name`/`new_name` label the columns.
pub(crate) fn render_diff(old_name: &str, new_name: &str, diffs: &[SectionDiff]) -> String {
    let mut s = String::new();
    if diffs.is_empty() {
        let _ = writeln!(s, "no differences between {old_name} and {new_name}");
        return s;
    }
    let _ = writeln!(s, "--- {old_name}\n+++ {new_name}");
    for d in diffs {
        match d.only_in_new {
            Some(true) => {
                let _ = writeln!(s, "\n[{}] only in {new_name}", d.title);
            }
            Some(false) => {
                let _ = writeln!(s, "\n[{}] only in {old_name}", d.title);
            }
            None => {
                let _ = writeln!(s, "\n[{}]", d.title);
                let w = d.changes.iter().map(|c| key_of(c).len()).max().unwrap_or(0);
                for c in &d.changes {
                    let _ = match c {
                        Change::Changed { key, old, new } => {
                            writeln!(s, "  {key:<w$}  {old} -> {new}")
                        }
                        Change::Added { key, value } => writeln!(s, "+ {key:<w$}  {value}"),
                        Change::Removed { key, value } => writeln!(s, "- {key:<w$}  {value}"),
                    };
                }
            }
        }
    }
    s
}

fn key_of(c: &Change) -> &str {
    match c {
        Change::Changed { key, .. } | Change::Added { key, .. } | Change::Removed { key, .. } => {
            key
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(qemu: &str, henvcfg: &str, adue: &str) -> Snapshot {
        Snapshot {
            header: vec![
                ("scenario".into(), "x".into()),
                ("qemu".into(), qemu.into()),
            ],
            sections: vec![Section {
                title: "guest:kvminithart hart 0 VS".into(),
                entries: vec![
                    ("henvcfg".into(), henvcfg.into()),
                    ("henvcfg.ADUE".into(), adue.into()),
                    ("henvcfg.STCE".into(), "1".into()),
                ],
            }],
        }
    }

    #[test]
    fn render_parse_roundtrip_with_insta_header() {
        let s = snap("8.0.2", "0xa000000000000000", "1");
        let text = s.render();
        assert_eq!(Snapshot::parse(&text).unwrap(), s);
        let insta = format!("---\nsource: harness/tests/x.rs\nexpression: text\n---\n{text}");
        assert_eq!(Snapshot::parse(&insta).unwrap(), s);
        assert_eq!(s.header_value("qemu"), Some("8.0.2"));
    }

    #[test]
    fn diff_names_the_changed_field() {
        let old = snap("8.0.2", "0xa000000000000000", "1");
        let new = snap("9.2.0", "0x8000000000000000", "0");
        let d = diff(&old, &new);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].changes.len(), 2);
        let text = render_diff("8.0.2", "9.2.0", &d);
        assert!(text.contains("henvcfg.ADUE  1 -> 0"), "{text}");
        assert!(!text.contains("STCE"), "{text}");
        assert!(diff(&old, &old).is_empty());
    }

    #[test]
    fn sections_on_one_side() {
        let old = snap("a", "0x0", "0");
        let mut new = old.clone();
        new.sections[0].title = "guest:kvminithart hart 1 VS".into();
        let text = render_diff("a", "b", &diff(&old, &new));
        assert!(text.contains("hart 0 VS] only in a"), "{text}");
        assert!(text.contains("hart 1 VS] only in b"), "{text}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Snapshot::parse("henvcfg = 1").is_err());
        assert!(Snapshot::parse("[s]\nno equals sign").is_err());
    }
}
