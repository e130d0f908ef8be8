//! Breakpoints armed on a console milestone or on a trap cause seen in
//! QEMU's interrupt log (`arm_after = { milestone = ... }`, `{ trap = ... }`),
//! on real QEMU with the hotpage fixture, all four versions. wakeup runs on
//! every timer tick from the start of the scrub: armed after a milestone,
//! its stops all come after that milestone arrived. consolepoll (every tick
//! too), armed after the first ecall from U-mode (cause 8), stops on both
//! harts; a breakpoint armed after a load page fault (0xd, never seen on a
//! good boot) never goes in.

mod common;

use hvharness::{render_run, Observed, Scenario, Verdict};

fn scenario() -> Scenario {
    let shipped = common::root().join("scenarios/hypervisor-hotpage.toml");
    let text = std::fs::read_to_string(&shipped).expect("the shipped scenario");
    let extra = r#"
[[breakpoint]]
at = "guest:wakeup"
privilege = "VS"
once_per_hart = true
dump = []
arm_after = { milestone = "hotpage: scrubbed", console = "vm1" }

[[breakpoint]]
at = "guest:consolepoll"
privilege = "VS"
once_per_hart = true
dump = []
arm_after = { trap = 8 }

[[breakpoint]]
at = "guest:kvminit"
privilege = "VS"
dump = []
arm_after = { trap = 0xd }
"#;
    let root = common::root();
    let text = text.replace("\"../", &format!("\"{}/", root.display()));
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("hotpage-armed-on-events.toml");
    std::fs::write(&path, format!("{text}{extra}")).expect("writing the scenario");
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"))
}

async fn armed_on_events(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "armed_on_events") else {
        return;
    };
    common::firmware();
    let report = hvharness::run(&scenario(), &build).await.unwrap();
    let shown = render_run(&report);
    assert!(matches!(report.observed, Observed::Booted), "{shown}");
    assert!(matches!(report.verdict, Verdict::AsExpected), "{shown}");
    let harts = |at: &str| {
        let mut h: Vec<u32> = report
            .stops
            .iter()
            .filter(|s| s.breakpoint == at)
            .map(|s| s.hart)
            .collect();
        h.sort();
        h
    };
    assert_eq!(harts("guest:wakeup"), [0, 1], "{shown}");
    assert_eq!(harts("guest:consolepoll"), [0, 1], "{shown}");
    assert!(harts("guest:kvminit").is_empty(), "{shown}");
    let scrubbed = report
        .milestones
        .iter()
        .find(|m| m.console == "vm1" && m.pattern == "hotpage: scrubbed")
        .unwrap_or_else(|| panic!("vm1 printed the milestone: {shown}"))
        .at_secs;
    for s in report
        .stops
        .iter()
        .filter(|s| s.breakpoint == "guest:wakeup")
    {
        assert!(
            s.at_secs >= scrubbed,
            "hart {} stopped before the milestone: {shown}",
            s.hart
        );
    }
}

common::per_version! {
    async armed_on_events;
}
