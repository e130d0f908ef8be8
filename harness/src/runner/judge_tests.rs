//! The judge's reading of `last_milestone` and of an expected trap.

use std::path::Path;

use super::*;
use crate::scenario::ScenarioFile;

const TWO_VMS: &str = r#"
[machine]
cpu = "rv64,h=true"
smp = 2
[[console]]
name = "vm0"
attach = "serial"
milestones = ["guest kernel is booting", "init: starting sh", '\$ ']
[[console]]
name = "vm1"
attach = "pci-serial"
milestones = ["guest kernel is booting", "init: starting sh", '\$ ']
[[outcome]]
qemu = "*"
expect = "hangs"
LAST
"#;

fn scenario(last: &str) -> Scenario {
    let path = Path::new("/proj/scenarios/x.toml");
    let text = TWO_VMS.replace("LAST", last);
    ScenarioFile::parse(&text, path)
        .and_then(|f| f.into_scenario(path))
        .expect("a valid scenario")
}

fn hit(console: &str, pattern: &str) -> MilestoneHit {
    MilestoneHit {
        console: console.into(),
        pattern: pattern.into(),
        at_secs: 0.0,
        interleaved: None,
    }
}

/// A hang on vm0, the observation every judge test here starts from.
fn hung_on_vm0() -> Observed {
    Observed::Hung {
        console: "vm0".into(),
        missing: "x".into(),
        last_seen: None,
        early: None,
    }
}

fn verdict(s: &Scenario, hits: &[MilestoneHit]) -> Verdict {
    let expected = s.expected_for("10.0.2".parse().expect("a version"));
    let observed = hung_on_vm0();
    let elfs = ElfSet::new();
    let none = TrapSeen {
        matched: None,
        first_of_cause: None,
        elfs: &elfs,
    };
    judge(expected, &observed, hits, &none, s)
}

// Before, "last" was any milestone seen on any console: a hang after the
// prompt passed an expectation of a hang right after the boot line.
#[test]
fn a_later_milestone_on_the_console_fails_it() {
    let s = scenario(r#"last_milestone = "guest kernel is booting""#);
    let hits = [
        hit("vm0", "guest kernel is booting"),
        hit("vm1", "guest kernel is booting"),
        hit("vm0", "init: starting sh"),
    ];
    let v = verdict(&s, &hits);
    assert!(
        matches!(&v, Verdict::Unexpected(why) if why.contains("vm0") && why.contains("init: starting sh")),
        "{v:?}"
    );
    assert!(matches!(verdict(&s, &hits[..2]), Verdict::AsExpected));
}

#[test]
fn unnamed_means_every_console_that_lists_it() {
    let s = scenario(r#"last_milestone = "guest kernel is booting""#);
    let v = verdict(&s, &[hit("vm0", "guest kernel is booting")]);
    assert!(
        matches!(&v, Verdict::Unexpected(why) if why.contains("vm1")),
        "{v:?}"
    );
}

#[test]
fn a_named_console_is_judged_alone() {
    let s = scenario(r#"last_milestone = { console = "vm1", milestone = '\$ ' }"#);
    let hits = [
        hit("vm1", "guest kernel is booting"),
        hit("vm1", "init: starting sh"),
        hit("vm1", r"\$ "),
    ];
    assert!(matches!(verdict(&s, &hits), Verdict::AsExpected));
    let v = verdict(&s, &hits[..2]);
    assert!(
        matches!(&v, Verdict::Unexpected(why) if why.contains("vm1")),
        "{v:?}"
    );
}

fn logged(hart: u64, epc: u64) -> LoggedTrap {
    LoggedTrap {
        hart,
        interrupt: false,
        cause: 2,
        epc,
        tval: 0,
        desc: "illegal_instruction".into(),
    }
}

/// Before, the judge took the first exception with the cause, wherever it
/// was: OpenSBI's probe here. Now only the log's match counts, and a miss
/// says where the cause was taken instead.
#[test]
fn an_expected_trap_needs_its_match() {
    let s = scenario(
        "trap = { cause = 2, symbol = \"guest:fault_illegal_insn\", hart = 1 }\n[[elf]]\nname = \"guest\"\npath = \"guest.elf\"",
    );
    let expected = s.expected_for("10.0.2".parse().expect("a version"));
    let observed = hung_on_vm0();
    let elfs = ElfSet::new();
    let probe = logged(0, 0x8000_0a3c);
    let missed = TrapSeen {
        matched: None,
        first_of_cause: Some(&probe),
        elfs: &elfs,
    };
    let v = judge(expected, &observed, &[], &missed, &s);
    assert!(
        matches!(&v, Verdict::Unexpected(why)
            if why.contains("no exception cause 0x2 in guest:fault_illegal_insn on hart 1")
            && why.contains("on hart 0 at 0x80000a3c (no known symbol)")),
        "{v:?}"
    );
    let found = logged(1, 0x8020_0114);
    let met = TrapSeen {
        matched: Some(&found),
        first_of_cause: Some(&probe),
        elfs: &elfs,
    };
    assert!(matches!(
        judge(expected, &observed, &[], &met, &s),
        Verdict::AsExpected
    ));
}

// Before, a scenario whose consoles list no milestone (built in code: a file
// is refused at load) was "booted (ok)" the moment QEMU started.
#[test]
fn a_boot_that_observed_nothing_is_not_as_expected() {
    let mut s = scenario("");
    s.outcomes[0].kind = OutcomeKind::Boots;
    for c in &mut s.consoles {
        c.milestones.clear();
    }
    let expected = s.expected_for("10.0.2".parse().expect("a version"));
    let elfs = ElfSet::new();
    let none = TrapSeen {
        matched: None,
        first_of_cause: None,
        elfs: &elfs,
    };
    let v = judge(expected, &Observed::Booted, &[], &none, &s);
    assert!(
        matches!(&v, Verdict::Unexpected(why) if why.contains("nothing shows that the guest ran")),
        "{v}"
    );
    // With a milestone seen, the same boot is as expected.
    let v = judge(expected, &Observed::Booted, &[hit("vm0", "x")], &none, &s);
    assert!(matches!(v, Verdict::AsExpected), "{v}");
}
