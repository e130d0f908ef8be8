//! Bisection on real QEMU: `bisect versions` (over the registered versions,
//! and over five versions made of stand-ins), `bisect milestones` on the ADUE
//! hang and on a good boot, `check`'s exit codes, and `git bisect run
//! hvharness check` finding the commit that removes ADUE in a throwaway
//! repository.

mod common;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hvharness::QemuVersion;
use serde_json::Value;

/// A finished child: exit code and its output.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    shown: String,
}

impl Ran {
    fn describe(&self) -> String {
        format!(
            "{}: exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.shown, self.code, self.stdout, self.stderr
        )
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", self.describe()))
    }
}

/// Runs `cmd` in its own process group, killing the whole group (QEMU
/// included) if it takes longer than `limit`.
fn run_bounded(mut cmd: Command, limit: Duration) -> Ran {
    let shown = format!("{cmd:?}");
    let out_file = tempfile::tempfile().unwrap();
    let err_file = tempfile::tempfile().unwrap();
    cmd.stdin(Stdio::null())
        .stdout(out_file.try_clone().unwrap())
        .stderr(err_file.try_clone().unwrap())
        .process_group(0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{shown}: {e}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            panic!("{shown} took longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |mut f: std::fs::File| {
        use std::io::Seek;
        let mut s = String::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_string(&mut s).unwrap();
        s
    };
    Ran {
        code: status.code(),
        stdout: read(out_file),
        stderr: read(err_file),
        shown,
    }
}

/// The binary, run from `cwd` with the project's QEMU prefixes in view.
fn hvharness_in(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hvharness"));
    cmd.args(args)
        .env("HVHARNESS_ROOT", common::root())
        .current_dir(cwd);
    cmd
}

fn hvharness(args: &[&str]) -> Ran {
    run_bounded(
        hvharness_in(&common::root(), args),
        Duration::from_secs(300),
    )
}

fn scenario(name: &str) -> String {
    common::root()
        .join("scenarios")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn nine() -> QemuVersion {
    QemuVersion::new(9, 0, 0)
}

// ---------------------------------------------------------------------------
// bisect versions

#[test]
fn bisect_versions_finds_the_first_version_that_hangs() {
    let versions: Vec<QemuVersion> = common::registry()
        .builds()
        .iter()
        .map(|b| b.version)
        .collect();
    if versions.len() < 2 {
        common::qemu_missing(&format!("bisect versions: needs two registered QEMU versions, have {versions:?} (run scripts/setup.sh)"));
        return;
    }
    // hypervisor-noadue-2vm boots below 9.0 and hangs from 9.0 on.
    let oldest = versions[0];
    let expected = if oldest < nine() {
        versions.iter().copied().find(|v| *v >= nine())
    } else {
        None
    };
    let r = hvharness(&[
        "bisect",
        "versions",
        &scenario("hypervisor-noadue-2vm.toml"),
        "--json",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.describe());
    let j = r.json();
    let listed: Vec<String> = j["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        listed,
        versions.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
        "all known, oldest first"
    );
    let probes = j["probes"].as_array().unwrap();
    let n = versions.len();
    let bound = 1 + (usize::BITS - (n - 1).leading_zeros()) as usize;
    assert_eq!(j["max_runs"], bound);
    assert!(
        probes.len() <= bound,
        "{} runs for {n} versions\n{}",
        probes.len(),
        r.describe()
    );
    assert_eq!(
        probes[0]["qemu"],
        oldest.to_string(),
        "the oldest is run first"
    );
    assert_eq!(
        j["baseline"],
        if oldest < nine() { "booted" } else { "hung" }
    );
    match expected {
        Some(v) => {
            assert_eq!(j["first_different"], v.to_string(), "{}", r.describe());
            assert_eq!(j["different_outcome"], "hung");
            let before = versions[versions.iter().position(|x| *x == v).unwrap() - 1];
            assert_eq!(
                j["answer"],
                format!("QEMU {v} is the first version where hypervisor-noadue-2vm hangs ({before} boots)")
            );
        }
        None => assert!(j["first_different"].is_null(), "{}", r.describe()),
    }
    // Progress names every run as it goes.
    for p in probes {
        let line = format!("QEMU {}: ", p["qemu"].as_str().unwrap());
        assert!(
            r.stderr.contains(&line),
            "no progress line for {line}\n{}",
            r.describe()
        );
    }
}

/// A `qemu-system-riscv64` that says it is `claims` and runs `real`: five
/// versions from the two Debian builds, to see a longer search on real runs.
fn stand_in(dir: &Path, claims: &str, real: &hvharness::QemuBuild) -> PathBuf {
    let path = dir.join(format!("qemu-{claims}"));
    let data = real
        .data_dir
        .as_ref()
        .map(|d| format!("-L '{}' ", d.display()))
        .unwrap_or_default();
    let script = format!(
        "#!/bin/sh\n\
         if [ \"$1\" = --version ]; then echo 'QEMU emulator version {claims} (stand-in for {})'; exit 0; fi\n\
         exec '{}' {data}\"$@\"\n",
        real.version,
        real.binary.display()
    );
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn bisect_versions_over_five_versions_names_the_first_and_the_last_good() {
    let (Some(old), Some(new)) = (
        common::qemu_or_skip("7.2.22", "bisect over stand-ins"),
        common::qemu_or_skip("10.0.2", "bisect over stand-ins"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // 8.0.2 and 8.2.0 behave like 7.2.22 here (the guest boots), 9.2.0 like 10.0.2.
    let wrappers = [
        stand_in(dir.path(), "8.0.2", &old),
        stand_in(dir.path(), "8.2.0", &old),
        stand_in(dir.path(), "9.2.0", &new),
    ];
    let list = std::env::join_paths(&wrappers).unwrap();
    let s = scenario("hypervisor-noadue-2vm.toml");
    let args = [
        "bisect", "versions", &s, "--qemu", "7.2.22", "--qemu", "8.0.2", "--qemu", "8.2.0",
        "--qemu", "9.2.0", "--qemu", "10.0.2",
    ];
    let mut cmd = hvharness_in(&common::root(), &args);
    cmd.env("HVHARNESS_QEMU", list)
        .env("HVHARNESS_CONFIG", dir.path().join("none.toml"));
    let r = run_bounded(cmd, Duration::from_secs(300));
    assert_eq!(r.code, Some(0), "{}", r.describe());
    assert!(
        r.stdout.contains(
            "QEMU 9.2.0 is the first version where hypervisor-noadue-2vm hangs (8.2.0 boots)"
        ),
        "{}",
        r.describe()
    );
    let runs = r
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("run "))
        .count();
    assert!(
        (2..=4).contains(&runs),
        "{runs} runs for 5 versions\n{}",
        r.describe()
    );
    assert!(
        r.stdout.contains(&format!(
            "binary search: {runs} runs for 5 versions (at most 4)"
        )),
        "{}",
        r.describe()
    );
    assert!(
        r.stdout
            .contains("assumption: the outcome changes at most once"),
        "{}",
        r.describe()
    );
}

#[test]
fn bisect_versions_needs_two_versions() {
    let Some(_) = common::qemu_or_skip("10.0.2", "bisect versions with one version") else {
        return;
    };
    let r = hvharness(&[
        "bisect",
        "versions",
        &scenario("hypervisor-noadue-2vm.toml"),
        "--qemu",
        "10.0.2",
        "--no-build",
    ]);
    assert_eq!(r.code, Some(2), "{}", r.describe());
    assert!(
        r.stderr.contains("at least two QEMU versions") && r.stderr.contains("qemu add"),
        "{}",
        r.describe()
    );
}

// ---------------------------------------------------------------------------
// bisect milestones

fn milestone_json(scenario_file: &str, version: &str, code: i32) -> Value {
    let r = hvharness(&[
        "bisect",
        "milestones",
        &scenario(scenario_file),
        "--qemu",
        version,
        "--json",
    ]);
    assert_eq!(r.code, Some(code), "{}", r.describe());
    let j = r.json();
    assert_eq!(j["qemu"], version);
    j
}

#[test]
fn bisect_milestones_on_the_adue_hang_stops_after_kvminithart_on_every_hart() {
    let Some(_) = common::qemu_or_skip("10.0.2", "bisect milestones on the ADUE hang") else {
        return;
    };
    let j = milestone_json("hypervisor-noadue-2vm.toml", "10.0.2", 1);
    assert_eq!(j["observed"]["kind"], "hung");
    let harts = j["harts"].as_array().unwrap();
    assert_eq!(harts.len(), 2, "{j:#}");
    for h in harts {
        assert_eq!(h["last_reached"], "guest:kvminithart", "{h:#}");
        assert_eq!(h["first_missed"], "guest:trapinithart", "{h:#}");
        assert_eq!(h["reached_after_gap"].as_array().unwrap().len(), 0, "{h:#}");
        for s in h["stops"].as_array().unwrap() {
            assert_eq!(s["privilege"], "VS", "only the guest's stops count: {s:#}");
        }
    }
    // The sentence, as printed.
    let r = hvharness(&[
        "bisect",
        "milestones",
        &scenario("hypervisor-noadue-2vm.toml"),
        "--qemu",
        "10.0.2",
        "--no-build",
    ]);
    assert_eq!(r.code, Some(1), "{}", r.describe());
    for hart in 0..2 {
        let line = format!("hart {hart}: reached kvminithart, missed trapinithart");
        assert!(r.stdout.contains(&line), "no `{line}`\n{}", r.describe());
    }
}

#[test]
fn bisect_milestones_on_a_good_boot_reaches_all_on_every_hart() {
    for version in ["10.0.2", "7.2.22"] {
        let Some(_) = common::qemu_or_skip(version, "bisect milestones on hypervisor-2vm") else {
            continue;
        };
        let j = milestone_json("hypervisor-2vm.toml", version, 0);
        assert_eq!(j["observed"]["kind"], "booted");
        let all = j["milestones"].as_array().unwrap().clone();
        assert!(all.len() >= 6, "{j:#}");
        for h in j["harts"].as_array().unwrap() {
            assert!(h["first_missed"].is_null(), "QEMU {version}: {h:#}");
            assert_eq!(
                h["reached"].as_array().unwrap(),
                &all,
                "QEMU {version}: {h:#}"
            );
            assert_eq!(
                h["stops"].as_array().unwrap().len(),
                all.len(),
                "one counted stop per milestone and hart: {h:#}"
            );
        }
    }
}

#[test]
fn bisect_milestones_without_a_list_says_what_to_add() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(scenario("hypervisor-2vm.toml")).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("milestone_"))
        .map(|l| format!("{l}\n"))
        .collect();
    let path = dir.path().join("no-milestones.toml");
    std::fs::write(&path, text).unwrap();
    let r = hvharness(&["bisect", "milestones", path.to_str().unwrap(), "--no-build"]);
    assert_eq!(r.code, Some(2), "{}", r.describe());
    assert!(
        r.stderr.contains("no milestone_symbols") && r.stderr.contains("milestone_symbols = ["),
        "{}",
        r.describe()
    );
}

// ---------------------------------------------------------------------------
// check

/// A copy of a shipped scenario in `dir`, its relative paths made absolute,
/// with `edit` applied to the text.
fn scenario_copy(dir: &Path, from: &str, edit: impl Fn(String) -> String) -> String {
    let scenarios = common::root().join("scenarios");
    let text = std::fs::read_to_string(scenarios.join(from))
        .unwrap()
        .replace("\"../", &format!("\"{}/../", scenarios.display()));
    let path = dir.join(from);
    std::fs::write(&path, edit(text)).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn check_exit_codes_for_git_bisect_run() {
    let Some(_) = common::qemu_or_skip("10.0.2", "check exit codes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            vec![
                scenario("hypervisor-2vm.toml"),
                "--qemu".into(),
                "10.0.2".into(),
            ],
            0,
            "good: hypervisor-2vm on QEMU 10.0.2",
        ),
        (
            vec![
                scenario("hypervisor-noadue-2vm.toml"),
                "--qemu".into(),
                "10.0.2".into(),
            ],
            1,
            "bad: hypervisor-noadue-2vm on QEMU 10.0.2",
        ),
        // The expected hang is good with --expect.
        (
            vec![
                scenario("hypervisor-noadue-2vm.toml"),
                "--qemu".into(),
                "10.0.2".into(),
                "--expect".into(),
            ],
            0,
            "as expected for QEMU 10.0.2",
        ),
        (
            vec![
                scenario("hypervisor-2vm.toml"),
                "--qemu".into(),
                "1.0.0".into(),
            ],
            125,
            "QEMU 1.0.0 is not registered",
        ),
        (
            vec!["/no/such/scenario.toml".into()],
            125,
            "the scenario does not load",
        ),
        (
            vec![
                scenario_copy(dir.path(), "hypervisor-2vm.toml", |t| {
                    t.replace(
                        "command = [\"make\", \"-C\", ",
                        "command = [\"sh\", \"-c\", \"echo broken >&2; exit 2\", ",
                    )
                }),
                "--qemu".into(),
                "10.0.2".into(),
            ],
            125,
            "the firmware does not build",
        ),
        (
            vec![
                scenario_copy(dir.path(), "guest-standalone.toml", |t| {
                    t.split("[[outcome]]").next().unwrap().to_string()
                }),
                "--qemu".into(),
                "10.0.2".into(),
                "--expect".into(),
            ],
            125,
            "states no [[outcome]] for QEMU 10.0.2",
        ),
    ];
    for (args, code, says) in cases {
        let mut all = vec!["check".to_string()];
        all.extend(args);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let r = hvharness(&all);
        assert_eq!(r.code, Some(code), "{}", r.describe());
        assert!(r.stdout.contains(says), "no `{says}`\n{}", r.describe());
    }
}

// ---------------------------------------------------------------------------
// git bisect run

/// [`common::git_command`], bounded, with the project's QEMU prefixes for
/// `git bisect run hvharness`.
fn git(repo: &Path, args: &[&str]) -> Ran {
    let mut cmd = common::git_command(repo, args);
    cmd.env("HVHARNESS_ROOT", common::root());
    run_bounded(cmd, Duration::from_secs(900))
}

fn git_ok(repo: &Path, args: &[&str]) -> String {
    let r = git(repo, args);
    assert_eq!(r.code, Some(0), "{}", r.describe());
    r.stdout
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Edits `file` in `repo` and commits it; returns the commit's hash.
fn commit_edit(repo: &Path, file: &str, edit: impl Fn(String) -> String, message: &str) -> String {
    let path = repo.join(file);
    let before = std::fs::read_to_string(&path).unwrap();
    let after = edit(before.clone());
    assert_ne!(before, after, "{message}: the edit changes nothing");
    std::fs::write(&path, after).unwrap();
    git_ok(repo, &["commit", "-q", "-a", "-m", message]);
    git_ok(repo, &["rev-parse", "HEAD"]).trim().to_string()
}

#[test]
fn git_bisect_run_check_finds_the_commit_that_removes_adue() {
    let Some(_) = common::qemu_or_skip("10.0.2", "git bisect run hvharness check") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    copy_tree(&common::root().join("hypervisor"), &repo.join("hypervisor"));
    std::fs::create_dir_all(repo.join("scenarios")).unwrap();
    // The shipped scenario; its build rebuilds everything, since a commit
    // that only changes a flag in hv.mk leaves every object's inputs as they
    // were, and make would keep the previous commit's hypervisor.elf.
    let text =
        std::fs::read_to_string(common::root().join("scenarios/hypervisor-2vm.toml")).unwrap();
    let text = text.replace(
        "command = [\"make\", \"-C\", ",
        "command = [\"make\", \"-B\", \"-C\", ",
    );
    assert!(
        text.contains("\"make\", \"-B\""),
        "the scenario's build command changed shape"
    );
    std::fs::write(repo.join("scenarios/hypervisor-2vm.toml"), text).unwrap();
    std::fs::write(repo.join(".gitignore"), "/target/\n").unwrap();

    git_ok(repo, &["init", "-q", "-b", "main"]);
    git_ok(repo, &["add", "."]);
    git_ok(repo, &["commit", "-q", "-m", "hypervisor and its scenario"]);
    let good = git_ok(repo, &["rev-parse", "HEAD"]).trim().to_string();
    let note = |t: String| t + "\n# a harmless note\n";
    commit_edit(repo, "hypervisor/README.md", note, "README: a note");
    commit_edit(
        repo,
        "hypervisor/hart.c",
        |t| t + "\n// harmless: a comment\n",
        "hart.c: a comment",
    );
    let culprit = commit_edit(
        repo,
        "hypervisor/hv.mk",
        |t| {
            t.replace(
                "hv_variant,hv-adue,-DHV_HENVCFG_ADUE=1",
                "hv_variant,hv-adue,-DHV_HENVCFG_ADUE=0",
            )
        },
        "hv.mk: hypervisor.elf without HV_HENVCFG_ADUE",
    );
    commit_edit(
        repo,
        "hypervisor/vm.c",
        |t| t + "\n// harmless: another comment\n",
        "vm.c: a comment",
    );
    commit_edit(repo, "hypervisor/README.md", note, "README: another note");
    let bad = git_ok(repo, &["rev-parse", "HEAD"]).trim().to_string();

    git_ok(repo, &["bisect", "start", &bad, &good]);
    let r = git(
        repo,
        &[
            "bisect",
            "run",
            env!("CARGO_BIN_EXE_hvharness"),
            "check",
            "scenarios/hypervisor-2vm.toml",
            "--qemu",
            "10.0.2",
        ],
    );
    let log = git(repo, &["bisect", "log"]).stdout;
    git_ok(repo, &["bisect", "reset"]);
    assert_eq!(r.code, Some(0), "{}\n--- bisect log\n{log}", r.describe());
    let found = format!("{culprit} is the first bad commit");
    assert!(
        r.stdout.contains(&found),
        "git did not name {culprit}\n{}\n--- bisect log\n{log}",
        r.describe()
    );
    // Each step said what it saw, and none was skipped.
    assert!(
        r.stdout.contains("good: hypervisor-2vm on QEMU 10.0.2"),
        "{}",
        r.describe()
    );
    assert!(
        r.stdout.contains("bad: hypervisor-2vm on QEMU 10.0.2"),
        "{}",
        r.describe()
    );
    assert!(!log.contains("git bisect skip"), "{log}");
}
