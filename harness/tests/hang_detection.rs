//! Early hang verdicts on real QEMU: a storm or a parked hart is called hung
//! long before the boot timeout, and a guest idling at its prompt never is.

mod common;

use std::time::Duration;

use hvharness::runner::{self, Observed};
use hvharness::scenario::Scenario;

/// A scenario for the two-VM hypervisor whose last milestone never appears,
/// so the run has to decide between "idle" and "hung" for `timeout` seconds.
fn idle_scenario(dir: &std::path::Path, timeout: u32) -> Scenario {
    let fw = common::root().join("target/firmware");
    let text = format!(
        r#"
[machine]
cpu = "rv64,h=true"
smp = 2
bios = "default"
kernel = "{fw}/hypervisor.elf"
[[console]]
name = "vm0"
attach = "serial"
milestones = ['\$ ', "a line the shell never prints"]
[[console]]
name = "vm1"
attach = "pci-serial"
milestones = ['\$ ']
[boot]
timeout_secs = {timeout}
quiet_secs = 0.5
"#,
        fw = fw.display()
    );
    let path = dir.join("idle.toml");
    std::fs::write(&path, text).unwrap();
    Scenario::load(&path).unwrap()
}

async fn idle_at_prompt_is_not_hung(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "idle_at_prompt") else { return };
    common::firmware();
    let dir = tempfile::tempdir().unwrap();
    let scenario = idle_scenario(dir.path(), 30);
    let report = runner::run(&scenario, &build).await.unwrap();
    match &report.observed {
        Observed::Hung { early: None, missing, .. } => assert!(missing.contains("never prints")),
        other => panic!("idling at the prompt for 30 s must end in the plain timeout, got {other:?}"),
    }
    assert!(report.duration_secs >= 30.0, "ran {:.1} s", report.duration_secs);
}

async fn noadue_hang_is_called_early(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "noadue_early") else { return };
    if build.version < "9.0.0".parse().unwrap() {
        common::skipped(&format!("noadue_early on QEMU {version}: it boots there"));
        return;
    }
    common::firmware();
    let scenario = Scenario::load(&common::root().join("scenarios/hypervisor-noadue-2vm.toml")).unwrap();
    let report = runner::run(&scenario, &build).await.unwrap();
    match &report.observed {
        Observed::Hung { early: Some(why), .. } => assert!(why.contains("same fault"), "{why}"),
        other => panic!("expected an early hang verdict, got {other:?}"),
    }
    // Far below the 60 s boot timeout: the storm is seen within milliseconds.
    assert!(report.duration_secs < 10.0, "took {:.1} s", report.duration_secs);
    let first = report.first_trap.as_ref().expect("the first fault");
    assert_eq!(first.cause, 0xc);
    assert_ne!(first.epc, 0, "the first fault, not the loop at pc 0");
}

async fn parked_hart_is_called_early(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "parked_early") else { return };
    common::firmware();
    let scenario = Scenario::load(&common::root().join("scenarios/fault-nodeleg.toml")).unwrap();
    let report = runner::run(&scenario, &build).await.unwrap();
    match &report.observed {
        Observed::Hung { early: Some(why), .. } => assert!(why.contains("parked"), "{why}"),
        other => panic!("expected an early hang verdict, got {other:?}"),
    }
    assert!(report.duration_secs < Duration::from_secs(5).as_secs_f64(), "took {:.1} s", report.duration_secs);
}

macro_rules! per_version {
    ($($modname:ident => $v:literal),* $(,)?) => {$(
        mod $modname {
            #[tokio::test]
            async fn idle_at_prompt_is_not_hung() { super::idle_at_prompt_is_not_hung($v).await }
            #[tokio::test]
            async fn noadue_hang_is_called_early() { super::noadue_hang_is_called_early($v).await }
            #[tokio::test]
            async fn parked_hart_is_called_early() { super::parked_hart_is_called_early($v).await }
        }
    )*};
}

per_version!(qemu_7_2_22 => "7.2.22", qemu_8_0_2 => "8.0.2", qemu_9_2_0 => "9.2.0", qemu_10_0_2 => "10.0.2");
