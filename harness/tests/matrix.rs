//! The regression matrix: every shipped scenario on every QEMU version, each
//! cell its own test (`qemu_9_2_0::hypervisor_noadue_2vm`; `cargo test --test
//! matrix hypervisor_noadue_2vm` runs a scenario, `... qemu_10_0_2` a
//! version). A cell checks the scenario's verdict for that version and keeps
//! the CSR state at its breakpoints as a reviewed snapshot in
//! `snapshots/<scenario>@<version>.snap`, so a QEMU upgrade shows up as a diff
//! of named bits (`hvharness diff` compares two of them).

mod common;

use hvharness::{QemuRegistry, Scenario, Verdict};

async fn cell(version: &str, file: &str) {
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
    let report = hvharness::run(&scenario, &build)
        .await
        .unwrap_or_else(|e| panic!("{file} on {version}: {e:#}"));
    let rendered = hvharness::render_run(&report);
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

common::per_version! {
    async guest_standalone = cell("guest-standalone.toml");
    async hypervisor_2vm = cell("hypervisor-2vm.toml");
    async hypervisor_noadue_2vm = cell("hypervisor-noadue-2vm.toml");
}

/// Under `HVHARNESS_REQUIRE_QEMU` (scripts/test.sh, CI) a cell whose version
/// is not registered fails, naming the version and how to add it; without
/// it, the cell is skipped. (A version nobody has, so that the skip line
/// this prints cannot be read as a real one.)
#[test]
fn a_missing_version_fails_only_when_required() {
    let none = QemuRegistry::default();
    let failure = std::panic::catch_unwind(|| {
        common::registered_or_missing(&none, "99.0.0", "required cell", true)
    })
    .expect_err("a missing version must fail when required");
    let message = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("required cell on QEMU 99.0.0: not registered (")
            && message.contains("hvharness qemu install")
            && message.contains("HVHARNESS_REQUIRE_QEMU"),
        "{message}"
    );
    assert!(common::registered_or_missing(&none, "99.0.0", "optional cell", false).is_none());
}
