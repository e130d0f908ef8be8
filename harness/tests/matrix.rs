//! The regression matrix: every shipped scenario on every QEMU version, each
//! cell its own test (`cargo test matrix::hypervisor_noadue_2vm`, `cargo test
//! 10_0_2`). A cell checks the scenario's verdict for that version and keeps
//! the CSR state at its breakpoints as a reviewed snapshot in
//! `snapshots/<scenario>@<version>.snap`, so a QEMU upgrade shows up as a diff
//! of named bits (`hvharness diff` compares two of them).

mod common;

use hvharness::runner::{self, Verdict};
use hvharness::scenario::Scenario;

async fn cell(file: &str, version: &str) {
    let Some(build) = common::qemu_or_skip(version, file) else {
        return;
    };
    common::firmware();
    let path = common::root().join("scenarios").join(file);
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"));
    if let Some(why) = scenario.skip_reason(build.version) {
        common::skipped(&why);
        return;
    }
    let report = runner::run(&scenario, &build)
        .await
        .unwrap_or_else(|e| panic!("{file} on {version}: {e:#}"));
    let rendered = hvharness::report::render_run(&report);
    assert!(matches!(report.verdict, Verdict::AsExpected), "{rendered}");
    if scenario.breakpoints.is_empty() {
        return;
    }
    assert!(
        !report.stops.is_empty(),
        "no breakpoint counted a stop:\n{rendered}"
    );
    let name = format!("{}@{}", scenario.name, build.version.ident());
    insta::with_settings!({
        snapshot_path => common::root().join("snapshots"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, report.snapshot().render());
    });
}

macro_rules! matrix {
    ($($scenario:ident => $file:literal),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test]
            async fn qemu_7_2_22() { super::cell($file, "7.2.22").await }
            #[tokio::test]
            async fn qemu_8_0_2() { super::cell($file, "8.0.2").await }
            #[tokio::test]
            async fn qemu_9_2_0() { super::cell($file, "9.2.0").await }
            #[tokio::test]
            async fn qemu_10_0_2() { super::cell($file, "10.0.2").await }
        }
    )*};
}

matrix!(
    guest_standalone => "guest-standalone.toml",
    hypervisor_2vm => "hypervisor-2vm.toml",
    hypervisor_noadue_2vm => "hypervisor-noadue-2vm.toml",
);
