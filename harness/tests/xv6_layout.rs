//! The write-up's one breakpoint on xv6-riscv's layout, on real QEMU, all
//! four versions: the guest-xv6layout fixture (three harts; kinit's loop,
//! main and kvminithart on one page; the other harts spin in main until
//! `started`) with kvminithart's breakpoint and no hints, as shipped, and
//! with the boot path listed in `milestone_symbols` (all of whose earlier
//! entries share the page). The harness must arm it by itself on a trigger
//! off the page, and every hart must still stop at kvminithart's entry
//! (pc == the symbol's address): a late arming would miss a hart or stop it
//! elsewhere. Nothing here depends on timings.

mod common;

use hvharness::{render_run, Observed, RunReport, Scenario, Verdict};

fn shipped() -> Scenario {
    let path = common::root().join("scenarios/guest-xv6layout.toml");
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The shipped scenario with xv6's boot path listed, as the user
/// listed it: main, kinit and kvminit share kvminithart's page.
fn hinted() -> Scenario {
    let mut s = shipped();
    s.milestone_symbols = [
        "main",
        "kinit",
        "kvminit",
        "kvminithart",
        "trapinithart",
        "userinit",
    ]
    .iter()
    .map(|m| format!("guest:{m}"))
    .collect();
    s
}

fn every_hart_stopped_at_the_entry(report: &RunReport, scenario: &Scenario) {
    let shown = render_run(report);
    assert!(matches!(report.observed, Observed::Booted), "{shown}");
    assert!(matches!(report.verdict, Verdict::AsExpected), "{shown}");
    let elfs = scenario.load_elfs().expect("the fixture's ELF");
    let entry = elfs
        .resolve_str("kvminithart", Some("guest"))
        .expect("kvminithart")
        .address;

    // Armed by the harness on a trigger off kvminithart's page.
    assert_eq!(report.auto_arming.len(), 1, "{shown}");
    let a = &report.auto_arming[0];
    let trigger = a
        .after
        .as_deref()
        .unwrap_or_else(|| panic!("a trigger: {shown}"));
    let (space, name) = trigger.split_once(':').expect("space:function");
    let at = elfs
        .resolve_str(name, Some(space))
        .expect("the trigger")
        .address;
    assert_ne!(at & !0xfff, entry & !0xfff, "{shown}");
    assert!(a.why.contains("from the call graph"), "{shown}");
    // mappages is below kvminit: the breakpoint waits for kvminit's return.
    assert!(a.why.contains("it goes in when kvminit returns"), "{shown}");

    // Every hart stops once, at the function's entry; the trigger never shows.
    let mut harts: Vec<u32> = report.stops.iter().map(|s| s.hart).collect();
    harts.sort();
    assert_eq!(harts, [0, 1, 2], "{shown}");
    for s in &report.stops {
        assert_eq!(s.breakpoint, "guest:kvminithart", "{shown}");
        assert_eq!(s.pc, entry, "{shown}");
        assert_eq!(s.privilege_name, "HS", "{shown}");
    }
}

async fn unhinted(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "xv6_layout_unhinted") else {
        return;
    };
    common::firmware();
    let scenario = shipped();
    let report = hvharness::run(&scenario, &build)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    every_hart_stopped_at_the_entry(&report, &scenario);
}

async fn with_hints(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "xv6_layout_hinted") else {
        return;
    };
    common::firmware();
    let scenario = hinted();
    let report = hvharness::run(&scenario, &build)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    every_hart_stopped_at_the_entry(&report, &scenario);
    let why = &report.auto_arming[0].why;
    assert!(why.contains("guest:kvminit: on its page"), "{why}");
}

common::per_version! {
    async unhinted;
    async with_hints;
}
