//! The automatic arming point on real QEMU, all four versions, with the
//! hotpage fixture: a scenario that lists its boot path (`milestone_symbols`)
//! and breaks on kvminithart without `arm_after` gets the cure by itself.
//! In the fixture, main, kinit and kvminit share kvminithart's page (as in
//! xv6), and so does the scrub; memset (kinit's kfree calls it right after
//! the scrub) is the latest earlier milestone on another page. The run must
//! name it, show no hot-page warning, record no stop at the hidden trigger,
//! and stop at kvminithart on both harts. With `auto_arm = false` the
//! breakpoint goes in at the start, as written. Nothing here depends on
//! timings: the warning comes from the share of timer samples.

mod common;

use std::path::Path;

use hvharness::internals::debug::DebugSession;
use hvharness::internals::qemu::{LaunchOptions, QemuProcess};
use hvharness::{render_run, Observed, Scenario, Verdict};

/// The hotpage fixture with its boot path listed and kvminithart's
/// breakpoint without `arm_after` (the harness arms it, unless `auto_arm`
/// is off).
fn scenario(dir: &Path, auto_arm: bool) -> Scenario {
    let head = format!(
        r#"description = "hotpage fixture, kvminithart's breakpoint armed by the harness"
milestone_symbols = ["guest:main", "guest:uartinit", "guest:kinit", "guest:memset", "guest:kvminit", "guest:kvminithart"]
milestone_privilege = "VS"
{}"#,
        if auto_arm { "" } else { "auto_arm = false" },
    );
    let file = if auto_arm {
        "hotpage-auto.toml"
    } else {
        "hotpage-auto-off.toml"
    };
    let path = common::hotpage_variant(dir, file, &head, common::HOTPAGE_BREAKPOINT);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The result file's schema, for the run's JSON.
fn validate(run: &serde_json::Value) {
    common::validate_results(&serde_json::json!({
        "schema": "hvharness-results/1",
        "cells": [{
            "scenario": run["scenario"], "qemu": run["qemu"], "status": "passed",
            "reason": null, "duration_secs": run["duration_secs"], "run": run, "diagnosis": null
        }]
    }));
}

/// With `auto_arm = false`, the breakpoint is in from the start and no
/// arming point is chosen (the session alone, QEMU paused: no slow boot).
async fn turned_off_inserts_at_the_start(dir: &Path, build: &hvharness::QemuBuild) {
    let off = scenario(dir, false);
    let mut qemu = QemuProcess::launch(
        build,
        &off.machine,
        &LaunchOptions {
            gdbstub: true,
            debug_log: None,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    let elfs = std::sync::Arc::new(off.load_elfs().expect("the ELF files"));
    let addr = qemu.gdb_addr().expect("a gdbstub");
    let mut session = DebugSession::attach(addr, &off, build.version, elfs)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(session.auto_arming().is_empty());
    let points: Vec<(&str, bool)> = session
        .breakpoints()
        .iter()
        .map(|b| (b.spec.at.as_str(), b.inserted))
        .collect();
    assert_eq!(points, [("guest:kvminithart", true)]);
    session
        .interrupt()
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    qemu.stop().await;
}

async fn armed_automatically(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "armed_automatically") else {
        return;
    };
    common::firmware();
    let dir = tempfile::tempdir().expect("a temp dir");
    turned_off_inserts_at_the_start(dir.path(), &build).await;

    let report = hvharness::run(&scenario(dir.path(), true), &build)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let shown = render_run(&report);
    assert!(matches!(report.observed, Observed::Booted), "{shown}");
    assert!(matches!(report.verdict, Verdict::AsExpected), "{shown}");

    // The point chosen, and said.
    assert_eq!(report.auto_arming.len(), 1, "{shown}");
    let a = &report.auto_arming[0];
    assert_eq!(a.breakpoint, "guest:kvminithart");
    assert_eq!(a.after.as_deref(), Some("guest:memset"), "{shown}");
    assert!(a.why.contains("guest:kvminit: on its page"), "{shown}");
    assert!(
        shown.contains("breakpoint guest:kvminithart armed automatically after guest:memset"),
        "{shown}"
    );

    // The cure: the scrub ran at full speed.
    assert!(
        report.hot_pages.warning.is_none(),
        "no hot-page warning: {shown}"
    );

    // Every hart that reaches kvminithart stops there; the hidden trigger
    // never shows as a stop.
    let mut harts: Vec<u32> = report
        .stops
        .iter()
        .filter(|s| s.breakpoint == "guest:kvminithart")
        .map(|s| s.hart)
        .collect();
    harts.sort();
    assert_eq!(harts, [0, 1], "{shown}");
    assert!(
        report
            .stops
            .iter()
            .all(|s| s.breakpoint == "guest:kvminithart"),
        "{shown}"
    );
    assert!(
        report.stops.iter().all(|s| s.privilege_name == "VS"),
        "{shown}"
    );

    let json = serde_json::to_value(&report).expect("the report as JSON");
    assert_eq!(json["auto_arming"][0]["after"], "guest:memset", "{json}");
    validate(&json);
}

common::per_version! {
    async armed_automatically;
}
