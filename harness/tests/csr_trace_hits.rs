//! "At most N hits per writer, then a count", on every QEMU version:
//! hypervisor-henvcfg-again.elf sets henvcfg at hart.c's henvcfg line once
//! on each hart, and hart 0 then sets it three more times from one
//! instruction in a loop (another line). Traced through the public API (a
//! scenario with `trace_csrs` and `trace_hits_per_writer`, `run`), the run
//! report records N writes per writer and hart and counts the rest:
//! exactly, for the loop's writer (hart 1 never runs it, so its breakpoint
//! stays in); up to the breakpoint's removal for the other.

mod common;

use std::path::Path;

use serde_json::{json, Value};

/// The line of hypervisor/hart.c that holds `needle`.
fn hart_c_line(needle: &str) -> String {
    let text = std::fs::read_to_string(common::root().join("hypervisor/hart.c")).expect("hart.c");
    let index = text
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("hart.c has no {needle}"));
    format!("hart.c:{}", index + 1)
}

/// hypervisor-2vm.toml around hypervisor-henvcfg-again.elf, tracing henvcfg
/// with `hits` writes per writer and hart, written into `dir`.
fn scenario(dir: &Path, hits: Option<u32>) -> std::path::PathBuf {
    let shipped = common::root().join("scenarios/hypervisor-2vm.toml");
    let text = std::fs::read_to_string(&shipped).expect("the shipped two-VM scenario");
    let fw = common::root().join("target/firmware");
    let setting = hits
        .map(|n| format!("trace_hits_per_writer = {n}\n"))
        .unwrap_or_default();
    let text = format!("trace_csrs = [\"henvcfg\"]\n{setting}{text}")
        .replace("/hypervisor.elf\"", "/hypervisor-henvcfg-again.elf\"")
        .replace("\"../target/firmware/", &format!("\"{}/", fw.display()));
    let path = dir.join("again.toml");
    std::fs::write(&path, text).expect("writing the scenario");
    path
}

/// The run report's `csr_writes` of a traced boot.
async fn csr_writes(version: &str, hits: Option<u32>) -> Option<Value> {
    common::firmware();
    let build = common::qemu_or_skip(version, "trace_hits_per_writer")?;
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario =
        hvharness::load_scenario(&scenario(dir.path(), hits)).unwrap_or_else(|e| panic!("{e}"));
    let report = hvharness::run(&scenario, &build)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.verdict.is_failure(), "{}", report.verdict);
    let json = serde_json::to_value(&report).expect("the run report as JSON");
    Some(json["csr_writes"].clone())
}

/// Per writer's place: the harts of its recorded writes, in time order.
fn harts_of(writes: &Value, place: &str) -> Vec<u64> {
    let all = writes["writes"].as_array().expect("writes");
    all.iter()
        .filter(|w| w["place"] == place)
        .filter_map(|w| w["hart"].as_u64())
        .collect()
}

/// (place, hart, recorded, more, counted) of each unrecorded entry.
fn unrecorded(writes: &Value) -> Vec<Value> {
    let all = writes["unrecorded"].as_array().expect("unrecorded");
    all.iter()
        .map(|u| {
            json!([
                u["place"],
                u["hart"],
                u["recorded"],
                u["more"],
                u["counted"]
            ])
        })
        .collect()
}

/// The default, one write per writer and hart: the loop's writer is
/// recorded once on hart 0, and its two further hits counted to the end of
/// the run; the henvcfg line's writer once on each hart, then removed.
async fn one_then_a_count(version: &str) {
    let Some(writes) = csr_writes(version, None).await else {
        return;
    };
    let (line, again) = (
        hart_c_line("csr_set(CSR_HENVCFG"),
        hart_c_line("HENVCFG_WRITTEN_AGAIN()"),
    );
    assert_eq!(writes["hits_per_writer"], 1, "{writes:#}");
    let mut at_line = harts_of(&writes, &line);
    at_line.sort();
    assert_eq!(at_line, [0, 1], "{writes:#}");
    assert_eq!(harts_of(&writes, &again), [0], "{writes:#}");
    let mut found = unrecorded(&writes);
    found.sort_by_key(|v| v.to_string());
    let mut wanted = vec![
        json!([again, 0, 1, 2, "end_of_run"]),
        json!([line, 0, 1, 0, "breakpoint_removed"]),
        json!([line, 1, 1, 0, "breakpoint_removed"]),
    ];
    wanted.sort_by_key(|v| v.to_string());
    assert_eq!(found, wanted, "{writes:#}");
}

/// `trace_hits_per_writer = 2`: the loop's writer is recorded twice on
/// hart 0 and its third hit counted; the henvcfg line's writer runs once a
/// hart, under its quota, so nothing of it goes unrecorded.
async fn two_then_a_count(version: &str) {
    let Some(writes) = csr_writes(version, Some(2)).await else {
        return;
    };
    let again = hart_c_line("HENVCFG_WRITTEN_AGAIN()");
    assert_eq!(writes["hits_per_writer"], 2, "{writes:#}");
    assert_eq!(harts_of(&writes, &again), [0, 0], "{writes:#}");
    assert_eq!(
        unrecorded(&writes),
        [json!([again, 0, 2, 1, "end_of_run"])],
        "{writes:#}"
    );
}

common::per_version! {
    async one_then_a_count;
    async two_then_a_count;
}
