//! Choosing, for a breakpoint the scenario does not arm late itself, the
//! point after which it goes in: QEMU runs every instruction on a page that
//! holds a breakpoint one at a time, so a breakpoint inserted at the start
//! slows whatever hot boot code shares its 4 KiB page.
//!
//! The scenario's `milestone_symbols` are its boot path in order. For a
//! breakpoint on one of them, the arming point is the latest earlier
//! milestone that lies on another page (and where no breakpoint of the
//! scenario sits already). The session inserts it as a hidden trigger
//! (`DebugSession::attach`): its stops are never recorded, and once the
//! breakpoint is in, the trigger leaves the target.

use serde::Serialize;

use crate::qemu::page_samples::PAGE_SIZE;

/// What the harness decided for one breakpoint (the `auto_arming` of a run
/// report): the arming point it chose, or why it chose none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoArm {
    /// The breakpoint's location as written (`guest:kvminithart`).
    pub breakpoint: String,
    /// The milestone symbol after which it is inserted; `None`: inserted at
    /// the start, as written.
    pub after: Option<String>,
    /// Why that one, or why none, in words.
    pub why: String,
}

impl std::fmt::Display for AutoArm {
    /// `breakpoint guest:kvminithart armed after guest:kinit (...)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.after {
            Some(a) => write!(
                f,
                "breakpoint {} armed automatically after {a} ({})",
                self.breakpoint, self.why
            ),
            None => write!(
                f,
                "breakpoint {} inserted at the start: no automatic arming point ({})",
                self.breakpoint, self.why
            ),
        }
    }
}

/// A milestone symbol as written and its address (`None`: not found in the
/// scenario's ELF files).
#[derive(Debug, Clone)]
pub(crate) struct Milestone {
    pub(crate) name: String,
    pub(crate) address: Option<u64>,
}

fn page(address: u64) -> u64 {
    address & !(PAGE_SIZE - 1)
}

/// The arming point of the breakpoint `at` (resolved to `address`), from
/// `milestones` in boot order; `occupied` holds the addresses of the
/// scenario's own breakpoints (a hidden trigger there would share their
/// stops). `None` when the breakpoint is not one of the milestones: the
/// harness knows nothing of its place on the boot path then.
pub(crate) fn choose(
    at: &str,
    address: u64,
    milestones: &[Milestone],
    occupied: &[u64],
) -> Option<AutoArm> {
    let index = milestones
        .iter()
        .position(|m| m.address == Some(address) || m.name == at)?;
    let decided = |after: Option<&str>, why: String| AutoArm {
        breakpoint: at.to_string(),
        after: after.map(str::to_string),
        why,
    };
    if index == 0 {
        return Some(decided(
            None,
            "it is the first of milestone_symbols: nothing precedes it".to_string(),
        ));
    }
    let mut passed = Vec::new();
    for m in milestones[..index].iter().rev() {
        let refused = match m.address {
            None => "not found in the ELF files",
            Some(a) if page(a) == page(address) => "on its page",
            Some(a) if occupied.contains(&a) => "a breakpoint of the scenario is there",
            Some(_) => {
                let why = match passed.is_empty() {
                    true => format!(
                        "the milestone before it, on another page {:#x}",
                        page(address)
                    ),
                    false => format!(
                        "the latest earlier milestone off its page {:#x}; passed over {}",
                        page(address),
                        passed.join(", ")
                    ),
                };
                return Some(decided(Some(&m.name), why));
            }
        };
        passed.push(format!("{}: {refused}", m.name));
    }
    Some(decided(
        None,
        format!("no earlier milestone fits: {}", passed.join(", ")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KVMINITHART: u64 = 0x8020_05c0;

    fn boot_path(list: &[(&str, Option<u64>)]) -> Vec<Milestone> {
        list.iter()
            .map(|(n, a)| Milestone {
                name: n.to_string(),
                address: *a,
            })
            .collect()
    }

    /// The hotpage fixture's layout: kvminit shares kvminithart's page.
    fn fixture() -> Vec<Milestone> {
        boot_path(&[
            ("guest:main", Some(0x8020_1100)),
            ("guest:kinit", Some(0x8020_2040)),
            ("guest:kvminit", Some(0x8020_0400)),
            ("guest:kvminithart", Some(KVMINITHART)),
            ("guest:userinit", Some(0x8020_3000)),
        ])
    }

    #[test]
    fn the_latest_earlier_milestone_off_the_page() {
        let a = choose("guest:kvminithart", KVMINITHART, &fixture(), &[]).unwrap();
        assert_eq!(a.after.as_deref(), Some("guest:kinit"));
        assert!(a.why.contains("guest:kvminit: on its page"), "{}", a.why);
        let shown = a.to_string();
        assert!(
            shown.contains("guest:kvminithart armed automatically after guest:kinit"),
            "{shown}"
        );
        // With the page free, the one right before is taken.
        let later = choose("guest:userinit", 0x8020_3000, &fixture(), &[]).unwrap();
        assert_eq!(later.after.as_deref(), Some("guest:kvminithart"));
    }

    #[test]
    fn the_same_page_is_refused_everywhere() {
        let all_near = boot_path(&[
            ("guest:main", Some(0x8020_0010)),
            ("guest:kinit", Some(0x8020_0ff0)),
            ("guest:kvminithart", Some(KVMINITHART)),
        ]);
        let a = choose("guest:kvminithart", KVMINITHART, &all_near, &[]).unwrap();
        assert_eq!(a.after, None);
        assert!(
            a.why.contains("guest:kinit: on its page") && a.why.contains("guest:main: on its page"),
            "{}",
            a.why
        );
        // The next page is another page, however close.
        let next = boot_path(&[
            ("guest:kinit", Some(0x8020_1000)),
            ("guest:kvminithart", Some(0x8020_0ffe)),
        ]);
        let b = choose("guest:kvminithart", 0x8020_0ffe, &next, &[]).unwrap();
        assert_eq!(b.after.as_deref(), Some("guest:kinit"));
    }

    #[test]
    fn none_when_the_target_comes_first() {
        let a = choose("guest:main", 0x8020_1100, &fixture(), &[]).unwrap();
        assert_eq!(a.after, None);
        assert!(a.why.contains("first"), "{}", a.why);
        assert!(a.to_string().contains("inserted at the start"));
    }

    #[test]
    fn not_a_milestone_not_decided() {
        assert_eq!(choose("guest:wakeup", 0x8020_4000, &fixture(), &[]), None);
    }

    #[test]
    fn matched_by_address_as_well_as_by_name() {
        // Written without its space, the breakpoint is still kvminithart.
        let a = choose("kvminithart", KVMINITHART, &fixture(), &[]).unwrap();
        assert_eq!(a.after.as_deref(), Some("guest:kinit"));
    }

    #[test]
    fn unresolved_and_occupied_milestones_are_passed_over() {
        let mut path = fixture();
        path[1].address = None;
        let a = choose("guest:kvminithart", KVMINITHART, &path, &[]).unwrap();
        assert_eq!(a.after.as_deref(), Some("guest:main"));
        assert!(a.why.contains("guest:kinit: not found"), "{}", a.why);
        let b = choose("guest:kvminithart", KVMINITHART, &fixture(), &[0x8020_2040]).unwrap();
        assert_eq!(b.after.as_deref(), Some("guest:main"));
        assert!(b.why.contains("a breakpoint of the scenario"), "{}", b.why);
    }
}
