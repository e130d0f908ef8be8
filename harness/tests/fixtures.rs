//! The reference firmware's fixture builds and console dialogues, on real
//! QEMU: a slow silent start, trap-and-emulate MMIO polled in a loop, the
//! hypervisor's log line inside a guest's boot line, a
//! hart entering at the boot entry twice over, and a guest under load driven
//! through its shell. Each of them boots on every
//! version, so each must be called booted (issue 7: a quiet window, a
//! repeated fault or a big trap log is not by itself a hang).

mod common;

use hvharness::{render_run, DialogueAction, Observed, RunReport, Scenario, Verdict};

fn scenario(file: &str) -> Scenario {
    let path = common::root().join("scenarios").join(file);
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

/// The console text of `name`.
fn transcript<'a>(report: &'a RunReport, name: &str) -> &'a str {
    report
        .transcripts
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t.as_str())
        .unwrap_or("")
}

async fn slowstart_is_booted(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "slowstart") else {
        return;
    };
    common::firmware();
    let report = hvharness::run(&scenario("hypervisor-slowstart.toml"), &build)
        .await
        .unwrap();
    assert_booted(&report);
}

async fn mmio_poll_is_booted(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "mmio_poll") else {
        return;
    };
    common::firmware();
    let report = hvharness::run(&scenario("hypervisor-mmio-poll.toml"), &build)
        .await
        .unwrap();
    assert_booted(&report);
}

/// The hypervisor logs a line on the UART it forwards vm0's console to, in
/// the middle of vm0's boot line: the milestone is found with that line
/// inside it, and said so; vm1's (its own UART) is a whole match. Before
/// milestones were matched across another writer's line, vm0 waited for
/// its boot line until the timeout.
async fn logged_uart_line_inside_a_milestone_is_booted(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "logged_uart") else {
        return;
    };
    common::firmware();
    let report = hvharness::run(&scenario("hypervisor-logged-uart.toml"), &build)
        .await
        .unwrap();
    assert_booted(&report);
    let boot_line = |console: &str| {
        report
            .milestones
            .iter()
            .find(|m| m.console == console && m.pattern == "guest kernel is booting")
            .unwrap_or_else(|| panic!("{console}'s boot line in:\n{}", render_run(&report)))
    };
    let cut = boot_line("vm0").interleaved.as_deref().unwrap_or_default();
    assert!(
        cut.starts_with("guest kerhypervisor: vm0: 9 console stores emulated so far")
            && cut.ends_with("\nnel is booting"),
        "vm0's boot line as printed: {cut:?}"
    );
    assert_eq!(boot_line("vm1").interleaved, None);
    assert!(
        render_run(&report)
            .contains("/guest kernel is booting/, with other output inside: \"guest ker"),
        "{}",
        render_run(&report)
    );
}

/// The other hart enters at the boot entry before the set-up (the
/// boot-path race seen once on 8.0.2): one boot, both VMs, nothing failed.
async fn reentry_boots_once(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "reentry") else {
        return;
    };
    common::firmware();
    let report = hvharness::run(&scenario("hypervisor-reentry.toml"), &build)
        .await
        .unwrap();
    assert_booted(&report);
    let vm0 = transcript(&report, "vm0");
    assert_eq!(
        vm0.matches("hypervisor: booting").count(),
        1,
        "one boot path:\n{vm0}"
    );
    for bad in ["panic", "failed", "not started"] {
        assert!(!vm0.contains(bad), "{bad:?} in:\n{vm0}");
    }
    // Both harts set up their H-extension CSRs, once each.
    for hart in 0..2 {
        let line = format!("hypervisor: hart {hart}: henvcfg");
        assert_eq!(vm0.matches(line.as_str()).count(), 1, "{line}:\n{vm0}");
    }
}

/// `stress 5` instead of the scenario's 60: the same dialogue, on every version.
async fn short_stress_dialogue_is_booted(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "short_stress") else {
        return;
    };
    common::firmware();
    let mut s = scenario("hypervisor-stress.toml");
    s.consoles[0].steps[0].send = Some("stress 5\n".to_string());
    let report = hvharness::run(&s, &build).await.unwrap();
    assert_booted(&report);
    check_stress(&report);
}

/// What a finished `stress` run shows: its summary with page faults, and
/// every step of both dialogues in the report.
fn check_stress(report: &RunReport) {
    let vm0 = transcript(report, "vm0");
    let summary = vm0
        .lines()
        .find(|l| l.contains("page faults"))
        .unwrap_or_else(|| panic!("no summary in:\n{vm0}"));
    let faults: u64 = summary
        .split(", ")
        .find_map(|part| part.strip_suffix(" page faults"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("unreadable summary {summary:?}"));
    assert!(faults > 0, "{summary}");
    assert!(transcript(report, "vm1")
        .lines()
        .any(|l| l.starts_with("vm1 still here")));
    let sent: Vec<&str> = report
        .dialogue
        .iter()
        .filter_map(|e| match &e.action {
            DialogueAction::Sent { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 2, "{:?}", report.dialogue);
    assert!(report.dialogue.iter().any(
        |e| matches!(&e.action, DialogueAction::Matched { pattern, .. } if pattern == "stress: done")
    ));
}

/// A dialogue on the standalone guest: typed commands answer, in order.
async fn dialogue_on_standalone_guest(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "dialogue_standalone") else {
        return;
    };
    common::firmware();
    let dir = tempfile::tempdir().unwrap();
    let steps = r#"
[[console.step]]
send = "echo hi there\n"
timeout_secs = 10

[[console.step]]
expect = '(?m)^hi there'
timeout_secs = 20

[[console.step]]
expect = '\$ '
send = "uptime\n"
timeout_secs = 20

[[console.step]]
expect = '(?m)^\d+\r?$'
timeout_secs = 20
"#;
    let s = standalone(dir.path(), steps);
    let report = hvharness::run(&s, &build).await.unwrap();
    assert_booted(&report);
    let actions: Vec<String> = report
        .dialogue
        .iter()
        .map(|e| match &e.action {
            DialogueAction::Sent { text } => format!("{}: sent {}", e.line, text.trim_end()),
            DialogueAction::Matched { pattern, .. } => format!("{}: /{pattern}/", e.line),
            DialogueAction::TimedOut { pattern, .. } => {
                format!("{}: timed out on /{pattern}/", e.line)
            }
        })
        .collect();
    assert_eq!(
        actions,
        [
            "14: sent echo hi there",
            "18: /(?m)^hi there/",
            "22: /\\$ /",
            "22: sent uptime",
            "27: /(?m)^\\d+\\r?$/"
        ]
    );
    let times: Vec<f64> = report.dialogue.iter().map(|e| e.at_secs).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

/// A step whose text never comes ends the run as hung on that step, within
/// its own bound, and the report shows the step and the console.
async fn failed_step_is_a_hang(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "dialogue_failed_step") else {
        return;
    };
    common::firmware();
    let dir = tempfile::tempdir().unwrap();
    let steps = r#"
[[console.step]]
send = "echo marco\n"
timeout_secs = 10

[[console.step]]
expect = 'polo'
timeout_secs = 2
"#;
    let s = standalone(dir.path(), steps);
    let report = hvharness::run(&s, &build).await.unwrap();
    let shown = render_run(&report);
    match &report.observed {
        Observed::Hung {
            console,
            missing,
            last_seen,
            early: None,
        } => {
            assert_eq!(
                (console.as_str(), missing.as_str()),
                ("con", "polo"),
                "{shown}"
            );
            assert_eq!(last_seen.as_deref(), Some("\\$ "), "{shown}");
        }
        other => panic!("expected a hang on the step, got {other:?}\n{shown}"),
    }
    assert!(matches!(report.verdict, Verdict::Unexpected(_)), "{shown}");
    assert!(
        shown.contains("no /polo/ within 2 s (step at line 18)"),
        "{shown}"
    );
    assert!(
        shown.contains("marco"),
        "the console transcript is in the failure report:\n{shown}"
    );
}

/// QEMU exiting during a dialogue (the guest powers off) ends the run as
/// exited before the step's pattern, not as a boot and not as a timeout.
async fn exit_during_dialogue(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "dialogue_exit") else {
        return;
    };
    common::firmware();
    let dir = tempfile::tempdir().unwrap();
    let steps = r#"
[[console.step]]
send = "halt\n"
timeout_secs = 10

[[console.step]]
expect = 'after the halt'
timeout_secs = 60
"#;
    let s = standalone(dir.path(), steps);
    let report = hvharness::run(&s, &build).await.unwrap();
    let shown = render_run(&report);
    match &report.observed {
        Observed::Exited { console, missing } => {
            assert_eq!(
                (console.as_str(), missing.as_str()),
                ("con", "after the halt"),
                "{shown}"
            )
        }
        other => panic!("expected QEMU to exit during the dialogue, got {other:?}\n{shown}"),
    }
}

/// guest.elf on bare QEMU, one console `con`, booted at its prompt, then `steps`.
fn standalone(dir: &std::path::Path, steps: &str) -> Scenario {
    let fw = common::root().join("target/firmware");
    let text = format!(
        r#"[machine]
cpu = "rv64"
smp = 1
bios = "default"
kernel = "{fw}/guest.elf"
[[console]]
name = "con"
attach = "serial"
milestones = ["init: starting sh", '\$ ']
[[outcome]]
qemu = "*"
expect = "boots"
{steps}"#,
        fw = fw.display()
    );
    let path = dir.join("dialogue.toml");
    std::fs::write(&path, text).unwrap();
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The scenario as shipped: `stress 60` on VM0, at least 60 s of guest work.
/// One version only, for the suite's run time; the short form runs on all.
#[tokio::test]
async fn stress_60s_dialogue_is_booted() {
    let Some(build) = common::qemu_or_skip("10.0.2", "stress_60s") else {
        return;
    };
    common::firmware();
    let report = hvharness::run(&scenario("hypervisor-stress.toml"), &build)
        .await
        .unwrap();
    assert_booted(&report);
    check_stress(&report);
    let summary = transcript(&report, "vm0")
        .lines()
        .find(|l| l.contains("page faults"))
        .unwrap_or("")
        .to_string();
    // "... in 6000 ticks": 100 ticks a second of guest time.
    let ticks: u64 = summary
        .rsplit_once(" in ")
        .and_then(|(_, t)| t.trim_end().strip_suffix(" ticks"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("unreadable summary {summary:?}"));
    assert!(ticks >= 6000, "at least 60 s of guest time: {summary}");
}

common::per_version! {
    async slowstart_is_booted;
    async mmio_poll_is_booted;
    async logged_uart_line_inside_a_milestone_is_booted;
    async reentry_boots_once;
    async short_stress_dialogue_is_booted;
    async dialogue_on_standalone_guest;
    async failed_step_is_a_hang;
    async exit_during_dialogue;
}
