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

/// Where the fake's code is, as the scenario sees it: an `[[elf]]` file
/// whose one segment spans `elf` (nothing else in it), and where hart 0
/// starts when not at START_PC, and its mepc.
#[derive(Default)]
struct Placement {
    elf: Option<std::ops::Range<u64>>,
    hart0_pc: Option<u64>,
    /// Hart 0's mepc (the fake's harts are in M-mode).
    hart0_mepc: Option<u64>,
}

impl Placement {
    /// The scenario's `[[elf]]` table (the file written into `dir`), or
    /// nothing.
    fn elf_entry(&self, dir: &std::path::Path) -> String {
        let Some(span) = &self.elf else {
            return String::new();
        };
        std::fs::write(dir.join("code.elf"), segment_only_elf(span)).expect("write the ELF file");
        "[[elf]]\nname = \"code\"\npath = \"code.elf\"".to_string()
    }
}

/// A RISC-V 64 ELF executable with one loadable segment over `span` and
/// no bytes in the file (as `.bss`): no sections, no symbols.
fn segment_only_elf(span: &std::ops::Range<u64>) -> Vec<u8> {
    let mut f = vec![0x7f, b'E', b'L', b'F', 2, 1, 1];
    f.resize(16, 0);
    f.extend(2u16.to_le_bytes()); // executable
    f.extend(243u16.to_le_bytes()); // RISC-V
    f.extend(1u32.to_le_bytes());
    f.extend(span.start.to_le_bytes()); // entry
    f.extend(64u64.to_le_bytes()); // program headers right after
    f.extend(0u64.to_le_bytes()); // no section headers
    f.extend(0u32.to_le_bytes());
    for half in [64u16, 56, 1, 64, 0, 0] {
        f.extend(half.to_le_bytes());
    }
    f.extend(1u32.to_le_bytes()); // PT_LOAD
    f.extend(5u32.to_le_bytes()); // R X
    for word in [0, span.start, span.start, 0, span.end - span.start, 0x1000] {
        f.extend(u64::to_le_bytes(word));
    }
    f
}

/// The harts that have counted at the hidden trigger, in order.
fn trigger_counted(session: &crate::debug::DebugSession) -> Vec<u32> {
    session
        .breakpoints()
        .iter()
        .find(|b| b.arming_point && b.spec.watch.is_none())
        .map(|b| b.counted_harts.clone())
        .unwrap_or_default()
}

/// The (breakpoint, hart) of each stop recorded.
fn stops(records: &[crate::debug::StopRecord]) -> Vec<(String, u32)> {
    records
        .iter()
        .map(|r| (r.breakpoint.clone(), r.hart))
        .collect()
}

/// A debug session on the fake with the automatic arming point: the
/// scenario lists `milestones` (addresses) as its boot path and breaks at
/// `target` without `arm_after`, with the ELF file and hart 0's start of
/// `place`. Runs until `enough` says so or the fake exits; the session and
/// the stops recorded.
async fn auto_armed_session(
    milestones: &[u64],
    target: u64,
    place: Placement,
    enough: impl Fn(&crate::debug::DebugSession, &[crate::debug::StopRecord]) -> bool,
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
{}
[[breakpoint]]
at = "{target:#x}"
once_per_hart = true
dump = []
"#,
            list.join(", "),
            place.elf_entry(dir.path())
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
    for (name, value) in [("pc", place.hart0_pc), ("mepc", place.hart0_mepc)] {
        let (rsp, Some(value)) = (session.rsp(), value) else {
            continue;
        };
        rsp.select_register_thread(crate::rsp::ThreadId::qemu_hart(0))
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        rsp.write_register(name, value)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
    }
    session.resume().await.unwrap();
    let mut records = Vec::new();
    for _ in 0..200 {
        match session.poll(Duration::from_millis(100)).await.unwrap() {
            Event::Stopped(r) => records.extend(r),
            Event::Running => {}
            Event::Exited => break,
        }
        if enough(&session, &records) {
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
    let (mut session, records) = auto_armed_session(
        &[START_PC + 0x800, trigger, target],
        target,
        Placement::default(),
        |_, r| r.len() >= 2,
    )
    .await;
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
    let (mut session, _) =
        auto_armed_session(&[trigger, target], target, Placement::default(), |s, _| {
            trigger_counted(s).len() == 2
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

/// Runs the fake with `place` until both harts have stopped at the
/// breakpoint (START_PC + 0x2000, armed after the trigger START_PC +
/// 0x1000, which hart 1, 0x100 ahead, reaches first); the harts that
/// counted at the trigger, in order.
async fn both_harts_at_the_target(place: Placement) -> Vec<u32> {
    let (trigger, target) = (START_PC + 0x1000, START_PC + 0x2000);
    let (mut session, records) = auto_armed_session(
        &[START_PC + 0x800, trigger, target],
        target,
        place,
        |_, r| r.len() >= 2,
    )
    .await;
    let mut seen = stops(&records);
    seen.sort();
    let at = format!("{target:#x}");
    assert_eq!(seen, [(at.clone(), 0), (at, 1)], "both harts stopped");
    session.interrupt().await.unwrap();
    trigger_counted(&session)
}

/// A hart that lags behind, in the scenario's code but not on the
/// breakpoint's page, is waited for: hart 1 reaches the trigger while hart
/// 0, 0x100 behind, runs in the ELF file on the page before the trigger's.
/// Hart 1 is held until hart 0 has stopped at the trigger too; only then
/// does the breakpoint go in. (It used to go in at hart 1's stop: with hot
/// code on the breakpoint's page still ahead of hart 0, that code ran one
/// instruction per block for it.)
#[tokio::test]
async fn auto_arming_waits_for_a_hart_lagging_in_the_elf_files() {
    let place = Placement {
        elf: Some(START_PC..START_PC + 0x3000),
        ..Placement::default()
    };
    let counted = both_harts_at_the_target(place).await;
    assert_eq!(counted, [1, 0], "hart 1 held for hart 0");
}

/// A hart outside every ELF file of the scenario (as if parked in the
/// firmware) is not waited for, even when there are ELF files: hart 0 is
/// 0x80 bytes short of the file's code at hart 1's trigger stop, and the
/// breakpoint goes in at that stop.
#[tokio::test]
async fn auto_arming_does_not_wait_for_a_hart_outside_the_elf_files() {
    let place = Placement {
        elf: Some(START_PC + 0xf80..START_PC + 0x3000),
        ..Placement::default()
    };
    let counted = both_harts_at_the_target(place).await;
    assert_eq!(counted, [1], "armed at hart 1's stop");
}

/// A hart outside every ELF file but in M-mode for a trap from the
/// scenario's code (its mepc in a file: a timer interrupt, an SBI call
/// taken in the firmware) comes back to that code: it is waited for.
/// As in the test before, but hart 0's mepc is in the file: hart 1 is held
/// until hart 0 has stopped at the trigger too.
#[tokio::test]
async fn auto_arming_waits_for_a_hart_in_the_firmware_for_a_trap() {
    let place = Placement {
        elf: Some(START_PC + 0xf80..START_PC + 0x3000),
        hart0_mepc: Some(START_PC + 0x2800),
        ..Placement::default()
    };
    let counted = both_harts_at_the_target(place).await;
    assert_eq!(counted, [1, 0], "hart 1 held for hart 0");
}

/// A hold ends as soon as no hart awaited is on its way any more, not
/// after the hold's limit: hart 0 starts past the trigger (it never comes
/// there) and is still in the ELF file at hart 1's trigger stop, so hart 1
/// is held; hart 0 then runs out of the file, a look sees it outside, and
/// the hold ends there and then. The breakpoint, far ahead, then stops
/// hart 0 too.
#[tokio::test]
async fn a_hold_ends_once_the_awaited_hart_has_left_the_elf_files() {
    let (trigger, target) = (START_PC + 0x1000, START_PC + 0xc000);
    // Hart 1 runs 0xf00 to the trigger, and hart 0 as far meanwhile: it is
    // then 0x80 short of the file's end.
    let place = Placement {
        elf: Some(START_PC..START_PC + 0x2080),
        hart0_pc: Some(START_PC + 0x1100),
        hart0_mepc: None,
    };
    let at = format!("{target:#x}");
    let (mut session, records) = auto_armed_session(
        &[START_PC + 0x800, trigger, target],
        target,
        place,
        |_, r| stops(r).contains(&(format!("{:#x}", START_PC + 0xc000), 0)),
    )
    .await;
    assert_eq!(trigger_counted(&session), [1], "hart 0 never came");
    let marks: Vec<String> = session
        .rsp()
        .costs()
        .timeline
        .iter()
        .map(|m| m.what.clone())
        .collect();
    assert!(
        marks.iter().any(|m| m.starts_with("hold settled")),
        "ended by a look: {marks:?}"
    );
    assert!(
        !marks.iter().any(|m| m == "hold ran out"),
        "not by the limit: {marks:?}"
    );
    assert!(stops(&records).contains(&(at, 0)), "hart 0 stopped at it");
    session.interrupt().await.unwrap();
}
