//! The judge's reading of `last_milestone`.

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
    }
}

fn verdict(s: &Scenario, hits: &[MilestoneHit]) -> Verdict {
    let expected = s.expected_for("10.0.2".parse().expect("a version"));
    let observed = Observed::Hung {
        console: "vm0".into(),
        missing: "x".into(),
        last_seen: None,
        early: None,
    };
    judge(expected, &observed, hits, None, None, s)
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
