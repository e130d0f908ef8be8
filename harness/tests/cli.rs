//! The `hvharness` binary as users and CI see it: help that explains, exit
//! codes, and the shape of the JSON output (`qemu list --json`, `run --json`)
//! on real QEMU.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use hvharness::QemuVersion;
use serde_json::Value;

/// The binary with the project's QEMU prefixes in view, from any directory.
fn hvharness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hvharness"))
        .args(args)
        .env("HVHARNESS_ROOT", common::root())
        .current_dir(common::root())
        .stdin(Stdio::null())
        .output()
        .expect("hvharness runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "hvharness {}: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Runs and parses stdout as JSON, checking the exit code first.
fn json_of(args: &[&str], code: i32) -> Value {
    let out = hvharness(args);
    assert_eq!(out.status.code(), Some(code), "{}", describe(args, &out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", describe(args, &out)))
}

// ---------------------------------------------------------------------------
// Help.

/// The entries of one section (`Commands:`, `Options:`, `Arguments:`) of a
/// short (`-h`) help text: (entry, its description).
fn section(help: &str, title: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line == title {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if line.trim().is_empty() || !line.starts_with(' ') {
            break;
        }
        let entry = line.trim_start();
        // Continuation lines of a wrapped description are indented deeper
        // than any entry and start with neither a flag nor a name.
        if line.len() - entry.len() > 8 {
            continue;
        }
        let (name, what) = entry.split_once("  ").unwrap_or((entry, ""));
        out.push((name.trim().to_string(), what.trim().to_string()));
    }
    out
}

/// Checks the help of `path` (e.g. `["qemu", "list"]`) and of every
/// subcommand it lists, recursively.
fn check_help(path: &[&str], checked: &mut Vec<String>) {
    let mut long_args: Vec<&str> = path.to_vec();
    long_args.push("--help");
    let long = hvharness(&long_args);
    assert_eq!(
        long.status.code(),
        Some(0),
        "{}",
        describe(&long_args, &long)
    );
    let long_text = text(&long.stdout);
    let usage = format!("Usage: hvharness {}", path.join(" "));
    assert!(
        long_text.contains(usage.trim_end()),
        "no `{usage}` line\n{}",
        describe(&long_args, &long)
    );
    let about = long_text.lines().next().unwrap_or_default();
    assert!(
        about.split_whitespace().count() >= 4,
        "no explanation at the top\n{}",
        describe(&long_args, &long)
    );

    let mut short_args: Vec<&str> = path.to_vec();
    short_args.push("-h");
    let short = hvharness(&short_args);
    assert_eq!(
        short.status.code(),
        Some(0),
        "{}",
        describe(&short_args, &short)
    );
    let short_text = text(&short.stdout);
    for title in ["Arguments:", "Options:", "Commands:"] {
        for (name, what) in section(&short_text, title) {
            assert!(
                !what.is_empty(),
                "`{name}` under {title} is not explained\n{}",
                describe(&short_args, &short)
            );
        }
    }
    checked.push(path.join(" "));
    for (name, _) in section(&short_text, "Commands:") {
        if name == "help" {
            continue;
        }
        let mut sub: Vec<&str> = path.to_vec();
        sub.push(&name);
        check_help(&sub, checked);
    }
}

#[test]
fn help_of_every_subcommand_explains() {
    let mut checked = Vec::new();
    check_help(&[], &mut checked);
    for expected in ["run", "matrix", "qemu", "qemu list", "qemu add"] {
        assert!(
            checked.iter().any(|c| c == expected),
            "{expected} was not reached through the help: {checked:?}"
        );
    }
    let out = hvharness(&["help", "run"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        describe(&["help", "run"], &out)
    );
}

#[test]
fn usage_errors_exit_2_and_say_what_was_wrong() {
    let out = hvharness(&["no-such-command"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        describe(&["no-such-command"], &out)
    );
    assert!(
        text(&out.stderr).contains("no-such-command"),
        "{}",
        describe(&["no-such-command"], &out)
    );
    let args = ["run", "/no/such/scenario.toml", "--no-build"];
    let out = hvharness(&args);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&args, &out));
    assert!(
        text(&out.stderr).contains("/no/such/scenario.toml"),
        "{}",
        describe(&args, &out)
    );
}

#[test]
fn missing_qemu_names_the_version_and_how_to_register_it() {
    let scenario = common::root().join("scenarios/guest-standalone.toml");
    let scenario = scenario.to_string_lossy();
    let args = ["run", scenario.as_ref(), "--qemu", "9.9.9", "--no-build"];
    let out = hvharness(&args);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&args, &out));
    let err = text(&out.stderr);
    assert!(
        err.contains("9.9.9") && err.contains("qemu add"),
        "{}",
        describe(&args, &out)
    );
}

// ---------------------------------------------------------------------------
// qemu list.

#[test]
fn qemu_list_json_shape() {
    let v = json_of(&["qemu", "list", "--json"], 0);
    let builds = v.as_array().expect("an array of builds");
    let mut versions = Vec::new();
    for b in builds {
        let version: QemuVersion = b["version"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no parsable version: {b}"));
        let binary = b["binary"]
            .as_str()
            .unwrap_or_else(|| panic!("no binary: {b}"));
        assert!(Path::new(binary).is_file(), "{binary} is not a file");
        assert!(
            b["data_dir"].is_null() || b["data_dir"].is_string(),
            "data_dir: {b}"
        );
        let origin = b["origin"].as_str().unwrap_or_default();
        assert!(
            ["project", "installed", "registered", "path"].contains(&origin),
            "origin {origin:?}: {b}"
        );
        versions.push(version);
    }
    let mut sorted = versions.clone();
    sorted.sort();
    assert_eq!(versions, sorted, "oldest first");
    let known: Vec<QemuVersion> = common::registry()
        .builds()
        .iter()
        .map(|b| b.version)
        .collect();
    assert_eq!(versions, known, "the same builds as the library finds");

    // The table names the same versions.
    let out = hvharness(&["qemu", "list"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        describe(&["qemu", "list"], &out)
    );
    for v in &versions {
        assert!(
            text(&out.stdout).contains(&v.to_string()),
            "{v} missing\n{}",
            text(&out.stdout)
        );
    }
}

// ---------------------------------------------------------------------------
// run --json.

/// The fields every report has, whatever happened.
fn check_report_shape(r: &Value, scenario: &str) {
    assert_eq!(r["scenario"], scenario, "{r:#}");
    assert!(
        r["qemu"]
            .as_str()
            .and_then(|s| s.parse::<QemuVersion>().ok())
            .is_some(),
        "qemu: {r:#}"
    );
    assert!(r["observed"]["kind"].is_string(), "observed.kind: {r:#}");
    assert!(
        r["verdict"]["verdict"].is_string(),
        "verdict.verdict: {r:#}"
    );
    let duration = r["duration_secs"]
        .as_f64()
        .unwrap_or_else(|| panic!("duration_secs: {r:#}"));
    assert!(duration > 0.0, "{r:#}");
    let milestones = r["milestones"]
        .as_array()
        .unwrap_or_else(|| panic!("milestones: {r:#}"));
    let mut previous = 0.0;
    for m in milestones {
        assert!(
            m["console"].is_string() && m["pattern"].is_string(),
            "milestone: {m}"
        );
        let at = m["at_secs"]
            .as_f64()
            .unwrap_or_else(|| panic!("at_secs: {m}"));
        assert!(
            at >= 0.0 && at <= duration,
            "milestone time {at} outside the run ({duration} s)"
        );
        if m["console"] == milestones[0]["console"] {
            assert!(at >= previous, "milestones of one console in order: {r:#}");
            previous = at;
        }
    }
    let transcripts = r["transcripts"]
        .as_array()
        .unwrap_or_else(|| panic!("transcripts: {r:#}"));
    for t in transcripts {
        let pair = t
            .as_array()
            .unwrap_or_else(|| panic!("transcript is [console, text]: {t}"));
        assert!(
            pair.len() == 2 && pair[0].is_string() && pair[1].is_string(),
            "transcript: {t}"
        );
    }
}

/// The run reports of a result file (`--json`), checking its schema field.
fn run_reports(v: &Value) -> Vec<Value> {
    assert_eq!(v["schema"], "hvharness-results/1", "{v:#}");
    let cells = v["cells"].as_array().expect("a result file has cells");
    cells.iter().map(|c| c["run"].clone()).collect()
}

fn transcript<'a>(r: &'a Value, console: &str) -> &'a str {
    r["transcripts"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t[0] == console))
        .and_then(|t| t[1].as_str())
        .unwrap_or_else(|| panic!("no transcript for {console}: {r:#}"))
}

/// Without --qemu, one report per known QEMU, each a boot.
#[test]
fn run_json_boot_on_every_known_qemu() {
    if common::registry().builds().is_empty() {
        common::qemu_missing(
            "run_json_boot_on_every_known_qemu: no QEMU known (run scripts/setup.sh)",
        );
        return;
    }
    common::firmware();
    let scenario = common::root().join("scenarios/guest-standalone.toml");
    let v = json_of(
        &["run", &scenario.to_string_lossy(), "--no-build", "--json"],
        0,
    );
    let reports = run_reports(&v);
    let versions: Vec<&str> = reports
        .iter()
        .map(|r| r["qemu"].as_str().unwrap_or_default())
        .collect();
    let known: Vec<String> = common::registry()
        .builds()
        .iter()
        .map(|b| b.version.to_string())
        .collect();
    assert_eq!(versions, known, "one report per known QEMU, in order");
    for r in &reports {
        check_report_shape(r, "guest-standalone");
        assert_eq!(r["observed"]["kind"], "booted", "{r:#}");
        assert_eq!(r["verdict"]["verdict"], "as_expected", "{r:#}");
        assert_eq!(r["expected"], "boots", "{r:#}");
        let patterns: Vec<&str> = r["milestones"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["pattern"].as_str().unwrap())
            .collect();
        assert_eq!(
            patterns,
            ["guest kernel is booting", "init: starting sh", r"\$ "],
            "{r:#}"
        );
        assert!(
            transcript(r, "console").contains("init: starting sh"),
            "{r:#}"
        );
    }
}

/// The expected hang of the write-up, on QEMU 10.0: where it stopped and the first fault.
#[test]
fn run_json_hang_with_first_fault() {
    if common::qemu_or_skip("10.0.2", "run_json_hang_with_first_fault").is_none() {
        return;
    }
    common::firmware();
    let scenario = common::root().join("scenarios/hypervisor-noadue-2vm.toml");
    let v = json_of(
        &[
            "run",
            &scenario.to_string_lossy(),
            "--qemu",
            "10.0.2",
            "--no-build",
            "--json",
        ],
        0,
    );
    let reports = run_reports(&v);
    assert_eq!(reports.len(), 1, "{v:#}");
    let r = &reports[0];
    check_report_shape(r, "hypervisor-noadue-2vm");
    assert_eq!(r["qemu"], "10.0.2");
    assert_eq!(r["expected"], "hangs", "{r:#}");
    assert_eq!(r["verdict"]["verdict"], "as_expected", "{r:#}");
    assert_eq!(r["observed"]["kind"], "hung", "{r:#}");
    assert_eq!(
        r["observed"]["last_seen"], "guest kernel is booting",
        "{r:#}"
    );
    assert!(r["observed"]["missing"].is_string(), "{r:#}");
    assert_eq!(r["first_trap"]["cause"], 0xc, "{r:#}");
    assert!(
        r["first_trap"]["epc"].is_u64() && r["first_trap"]["tval"].is_u64(),
        "{r:#}"
    );
    let places: Vec<&str> = r["first_trap_places"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    assert!(
        places.iter().any(|p| p.starts_with("guest:kvminithart")),
        "{places:?}"
    );
    assert!(!transcript(r, "vm0").contains("init: starting sh"), "{r:#}");
}

/// A failed expectation: exit status 1, and the JSON says why.
#[test]
fn run_json_unexpected_outcome_exits_1() {
    if common::qemu_or_skip("10.0.2", "run_json_unexpected_outcome_exits_1").is_none() {
        return;
    }
    let fw = common::firmware();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wrong.toml");
    let scenario = format!(
        r#"[machine]
cpu = "rv64"
kernel = '{}'

[[console]]
name = "console"
attach = "serial"
milestones = ["init: starting sh"]

[boot]
timeout_secs = 30

[[outcome]]
qemu = "*"
expect = "hangs"
"#,
        fw.guest.display()
    );
    std::fs::write(&path, scenario).unwrap();
    let v = json_of(
        &[
            "run",
            &path.to_string_lossy(),
            "--qemu",
            "10.0.2",
            "--no-build",
            "--json",
        ],
        1,
    );
    let r = &run_reports(&v)[0];
    check_report_shape(r, "wrong");
    assert_eq!(r["observed"]["kind"], "booted", "{r:#}");
    assert_eq!(r["verdict"]["verdict"], "unexpected", "{r:#}");
    let reason = r["verdict"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("expected a hang"), "{r:#}");
}
