//! The write-up's story, told by the tool on the real binaries (see
//! `/work/shared/seeds/000_c2af0bc7861eb1f7.txt` and MISSION.md): a hypervisor
//! that leaves henvcfg.ADUE alone boots two xv6 guests on QEMU 8.0.2 and hangs
//! on 9.2.0, because 9.0 resets henvcfg to 0.
//!
//! - the reviewed snapshots of 8.0.2 and 9.2.0 differ in exactly henvcfg.ADUE
//!   on both harts;
//! - `bisect versions` over 7.2.22, 8.0.2, 9.2.0 and 10.0.2 names 9.2.0;
//! - `diagnose` on 9.2.0 names the ADUE rule.
//!
//! Each test needs the four versions; a missing one is printed as a skip.

mod common;

use std::process::{Command, Output};

use serde_json::Value;

fn hvharness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hvharness"))
        .args(args)
        .env("HVHARNESS_ROOT", common::root())
        .current_dir(common::root())
        .output()
        .expect("hvharness runs")
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "hvharness {}: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// True when every matrix version is registered; otherwise prints why the
/// test cannot run.
fn all_four(test: &str) -> bool {
    common::MATRIX
        .iter()
        .all(|v| common::qemu_or_skip(v, test).is_some())
}

fn path(rel: &str) -> String {
    common::root().join(rel).to_string_lossy().into_owned()
}

#[test]
fn snapshot_diff_8_0_2_to_9_2_0_is_exactly_henvcfg_adue_on_both_harts() {
    let old = path("snapshots/hypervisor-noadue-2vm@8_0_2.snap");
    let new = path("snapshots/hypervisor-noadue-2vm@9_2_0.snap");
    let args = ["diff", old.as_str(), new.as_str()];
    let out = hvharness(&args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{text}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a difference exits 1: {}",
        describe(&args, &out)
    );
    // Both stops are VS with V taken from the monitor on both versions, so
    // the privilege lines do not differ: only the reset value of henvcfg does.
    let changed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("->"))
        .map(str::trim)
        .collect();
    let per_hart = [
        "henvcfg       0xa000000000000000 -> 0x8000000000000000",
        "henvcfg.ADUE  1 -> 0",
    ];
    assert_eq!(changed, [per_hart, per_hart].concat(), "{text}");
    assert!(
        text.contains("[guest:kvminithart hart 0 VS]")
            && text.contains("[guest:kvminithart hart 1 VS]"),
        "{text}"
    );
}

#[test]
fn bisect_versions_names_9_2_0_as_the_first_that_hangs() {
    if !all_four("write-up bisect versions") {
        return;
    }
    let scenario = path("scenarios/hypervisor-noadue-2vm.toml");
    let mut args = vec!["bisect", "versions", scenario.as_str(), "--json"];
    for v in common::MATRIX {
        args.extend(["--qemu", v]);
    }
    let out = hvharness(&args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&args, &out));
    let j: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(&args, &out)));
    let runs: Vec<String> = j["probes"]
        .as_array()
        .expect("probes")
        .iter()
        .map(|p| {
            format!(
                "QEMU {}: {}",
                p["qemu"].as_str().unwrap_or("?"),
                p["outcome"].as_str().unwrap_or("?")
            )
        })
        .collect();
    println!(
        "{} runs:\n  {}\nanswer: {}",
        runs.len(),
        runs.join("\n  "),
        j["answer"]
    );
    assert!(
        (2..=3).contains(&runs.len()),
        "1 + ceil(log2 4) = 3 runs at most: {runs:?}"
    );
    assert_eq!(j["baseline"], "booted", "7.2.22 has no Svadu: it boots");
    assert_eq!(j["first_different"], "9.2.0", "{}", describe(&args, &out));
    assert_eq!(
        j["answer"],
        "QEMU 9.2.0 is the first version where hypervisor-noadue-2vm hangs (8.0.2 boots)"
    );
}

#[test]
fn diagnose_on_9_2_0_names_the_adue_rule() {
    if common::qemu_or_skip("9.2.0", "write-up diagnose").is_none() {
        return;
    }
    let scenario = path("scenarios/hypervisor-noadue-2vm.toml");
    let args = ["diagnose", scenario.as_str(), "--qemu", "9.2.0"];
    let out = hvharness(&args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{text}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a diagnosed hang exits 1: {}",
        describe(&args, &out)
    );
    // Both harts hang the same way; on each the first cause named is ADUE.
    let causes: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("cause ["))
        .collect();
    let firsts: Vec<&str> = causes
        .iter()
        .filter(|c| c.starts_with("adue]"))
        .copied()
        .collect();
    assert_eq!(
        firsts.len(),
        2,
        "the adue rule on both harts: {}",
        describe(&args, &out)
    );
    assert!(
        causes.first().is_some_and(|c| c.starts_with("adue]")),
        "{text}"
    );
    assert!(
        text.contains("kvminithart"),
        "the fault is right after kvminithart's satp write: {text}"
    );
    assert!(
        text.contains("QEMU 9.0 and later (this is 9.2.0) reset henvcfg to 0"),
        "{text}"
    );
    assert!(text.contains("henvcfg |= 1 << 61"), "the fix: {text}");
}
