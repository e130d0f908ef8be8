//! Breakpoints armed late (`arm_after`) and removed once done, on real QEMU,
//! with the hotpage fixture (its boot's hot loop shares kvminithart's page;
//! the slowdown itself is a figure of examples/bench.rs, never a timed test).
//! What must hold on every version: each hart that reaches the late
//! breakpoint stops there once, and a breakpoint whose trigger never fires
//! is never inserted.

mod common;

use hvharness::{render_run, Observed, RunReport, Scenario, Verdict};

fn hotpage() -> Scenario {
    let path = common::root().join("scenarios/hypervisor-hotpage.toml");
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"))
}

fn assert_booted(report: &RunReport) {
    let shown = render_run(report);
    assert!(
        matches!(report.observed, Observed::Booted),
        "expected booted:\n{shown}"
    );
    assert!(
        matches!(report.verdict, Verdict::AsExpected),
        "expected ok:\n{shown}"
    );
}

/// The harts that stopped at `at`, in order, and their privilege names.
fn stops_at(report: &RunReport, at: &str) -> Vec<(u32, String)> {
    let mut v: Vec<(u32, String)> = report
        .stops
        .iter()
        .filter(|s| s.breakpoint == at)
        .map(|s| (s.hart, s.privilege_name.clone()))
        .collect();
    v.sort();
    v
}

async fn late_breakpoint_stops_on_every_hart(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "late_breakpoint_stops_on_every_hart") else {
        return;
    };
    common::firmware();
    let report = hvharness::run(&hotpage(), &build).await.unwrap();
    assert_booted(&report);
    let shown = render_run(&report);
    let both = vec![(0, "VS".to_string()), (1, "VS".to_string())];
    // The trigger counts once per hart, then goes; the late breakpoint is in
    // before either hart can get to it, so both stop there, once.
    assert_eq!(stops_at(&report, "guest:memset"), both, "{shown}");
    assert_eq!(stops_at(&report, "guest:kvminithart"), both, "{shown}");
    for s in report
        .stops
        .iter()
        .filter(|s| s.breakpoint == "guest:kvminithart")
    {
        assert!(s.place.starts_with("kvminithart at "), "{shown}");
        assert_eq!(
            s.csr("satp").and_then(|c| c.raw),
            Some(0),
            "paging is still off at kvminithart's entry: {shown}"
        );
    }
}

async fn never_triggered_is_never_inserted(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "never_triggered_is_never_inserted") else {
        return;
    };
    common::firmware();
    let mut scenario = hotpage();
    // kvminithart after a breakpoint at an address the guest never runs (the
    // top of the guest's RAM): kvminithart must not stop anywhere.
    scenario.breakpoints[0].at = "0x80fff000".into();
    scenario.breakpoints[1].arm_after = Some("0x80fff000".into());
    let report = hvharness::run(&scenario, &build).await.unwrap();
    assert_booted(&report);
    assert!(report.stops.is_empty(), "{}", render_run(&report));
}

common::per_version! {
    async late_breakpoint_stops_on_every_hart;
    async never_triggered_is_never_inserted;
}
