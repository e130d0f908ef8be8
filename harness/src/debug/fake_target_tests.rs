//! The debug session on the fake target of [`crate::rsp::fake_target`]:
//! stops that arrive together, and the automatic arming point.

use std::time::Duration;

use crate::rsp::fake_target::{serve, Fake, COUNTER_BASE, START_PC};

/// The fake target's machine and console, as a scenario writes them.
const FAKE_MACHINE: &str = r#"[machine]
cpu = "rv64,h=true"
smp = 2
[[console]]
name = "console"
attach = "serial"
milestones = ["never"]"#;

/// A watchpoint stop that leaves another hart on a breakpoint: both stops
/// are recorded. Hart 0 steps onto the breakpoint at START_PC + 4 and, in
/// the same batch, hart 1's first step writes its watched counter: QEMU-like,
/// the stop reply names hart 1's watchpoint only. The debug session used to
/// record the watchpoint and resume, and the client's step-over then moved
/// hart 0 off its breakpoint unrecorded.
#[tokio::test]
async fn a_watchpoint_stop_does_not_lose_a_breakpoint_stop() {
    use crate::debug::{DebugSession, Event};
    use crate::scenario::Scenario;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("fake.toml");
    std::fs::write(
        &path,
        format!(
            r#"
{FAKE_MACHINE}
[[breakpoint]]
at = "{bp:#x}"
[[breakpoint]]
at = "{watch:#x}"
watch = "write"
len = 8
hart = 1
max_hits = 1
"#,
            bp = START_PC + 4,
            watch = COUNTER_BASE + 8
        ),
    )
    .expect("write the scenario");
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"));
    let elfs = std::sync::Arc::new(scenario.load_elfs().expect("no ELF files to read"));
    let addr = serve(Fake::new());
    let mut session = DebugSession::attach(addr, &scenario, "10.0.2".parse().unwrap(), elfs)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    session.resume().await.unwrap();
    let mut records = Vec::new();
    for _ in 0..20 {
        match session.poll(Duration::from_millis(200)).await.unwrap() {
            Event::Stopped(r) => records.extend(r),
            Event::Running => {}
            Event::Exited => break,
        }
        if records.len() >= 2 {
            break;
        }
    }
    let seen: Vec<(String, u32, u64)> = records
        .iter()
        .map(|r| (r.breakpoint.clone(), r.hart, r.pc))
        .collect();
    let watch_at = format!("{:#x}", COUNTER_BASE + 8);
    let bp_at = format!("{:#x}", START_PC + 4);
    assert!(
        seen.iter().any(|(b, h, _)| *b == watch_at && *h == 1),
        "the watchpoint stop: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(b, h, pc)| *b == bp_at && *h == 0 && *pc == START_PC + 4),
        "the breakpoint stop beside it: {seen:?}"
    );
    let bp = session
        .breakpoints()
        .iter()
        .find(|b| b.spec.at == bp_at)
        .expect("the breakpoint");
    assert_eq!(bp.hits, 1, "counted once, not again after the step-off");
    session.interrupt().await.unwrap();
}

/// A debug session on the fake with the automatic arming point: the
/// scenario lists `milestones` (addresses) as its boot path and breaks at
/// `target` without `arm_after`. Runs until `enough` says so or the fake
/// exits; the session and the stops recorded.
async fn auto_armed_session(
    milestones: &[u64],
    target: u64,
    enough: impl Fn(&crate::debug::DebugSession, usize) -> bool,
) -> (crate::debug::DebugSession, Vec<crate::debug::StopRecord>) {
    use crate::debug::{DebugSession, Event};
    use crate::scenario::Scenario;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("fake.toml");
    let list: Vec<String> = milestones.iter().map(|m| format!("\"{m:#x}\"")).collect();
    std::fs::write(
        &path,
        format!(
            r#"milestone_symbols = [{}]
{FAKE_MACHINE}
[[breakpoint]]
at = "{target:#x}"
once_per_hart = true
dump = []
"#,
            list.join(", ")
        ),
    )
    .expect("write the scenario");
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"));
    let elfs = std::sync::Arc::new(scenario.load_elfs().expect("no ELF files to read"));
    let mut session = DebugSession::attach(
        serve(Fake::new()),
        &scenario,
        "10.0.2".parse().unwrap(),
        elfs,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    session.resume().await.unwrap();
    let mut records = Vec::new();
    for _ in 0..200 {
        match session.poll(Duration::from_millis(100)).await.unwrap() {
            Event::Stopped(r) => records.extend(r),
            Event::Running => {}
            Event::Exited => break,
        }
        if enough(&session, records.len()) {
            break;
        }
    }
    (session, records)
}

/// The arming point is the earlier milestone on another page; hart 1 (0x100
/// ahead) reaches it first while hart 0 runs on a page with no waiting
/// breakpoint, so it arms the breakpoint at once and leaves: both harts
/// then stop at the breakpoint, and the trigger's stop is never recorded.
#[tokio::test]
async fn auto_arming_arms_at_the_first_trigger_stop_and_stops_every_hart() {
    let (trigger, target) = (START_PC + 0x1000, START_PC + 0x2000);
    let (mut session, records) =
        auto_armed_session(&[START_PC + 0x800, trigger, target], target, |_, n| n >= 2).await;
    let chosen = session.auto_arming().to_vec();
    assert_eq!(chosen.len(), 1);
    assert_eq!(
        chosen[0].after.as_deref(),
        Some("0x80001000"),
        "{}",
        chosen[0]
    );
    let seen: Vec<(String, u32)> = records
        .iter()
        .map(|r| (r.breakpoint.clone(), r.hart))
        .collect();
    assert_eq!(
        seen,
        [("0x80002000".to_string(), 1), ("0x80002000".to_string(), 0)],
        "the breakpoint on both harts, nothing at the trigger"
    );
    let point = session
        .breakpoints()
        .iter()
        .find(|b| b.arming_point)
        .expect("the hidden trigger");
    assert_eq!(point.counted_harts, [1], "armed at the first hart's stop");
    assert!(
        !point.inserted,
        "the trigger left the target once it had armed"
    );
    let bp = &session.breakpoints()[0];
    assert!(bp.armed_at_secs.is_some() && !bp.pending);
    session.interrupt().await.unwrap();
}

/// When another hart is running on the waiting breakpoint's page at the
/// first trigger stop, the first hart is held at the trigger until the other
/// arrives there too: the breakpoint goes in only then. (The boot order is
/// broken on purpose here, the breakpoint before the trigger, so that hart 0
/// is on its page when hart 1 reaches the trigger.)
#[tokio::test]
async fn auto_arming_holds_while_another_hart_runs_on_the_page() {
    let (trigger, target) = (START_PC + 0x1040, START_PC + 0xf80);
    let (mut session, _) = auto_armed_session(&[trigger, target], target, |s, _| {
        s.breakpoints()
            .iter()
            .any(|b| b.arming_point && b.counted_harts.len() == 2)
    })
    .await;
    let point = session
        .breakpoints()
        .iter()
        .find(|b| b.arming_point)
        .expect("the hidden trigger");
    assert_eq!(point.counted_harts, [1, 0], "hart 1 held until hart 0 came");
    assert!(!point.inserted);
    assert!(session.breakpoints()[0].inserted, "armed after both");
    session.interrupt().await.unwrap();
}
