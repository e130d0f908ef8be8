//! `hvharness bisect qemu` on a QEMU history made by the test: a git
//! repository whose "QEMU build" installs one of this machine's real QEMU
//! builds (7.2.22, 8.0.2, 9.2.0, 10.0.2) according to a file in the commit,
//! with merges on the first-parent chain, a commit that does not build, and
//! the switch from 8.0.2 to 9.2.0 (hypervisor-noadue-2vm: boots, then hangs)
//! at a known commit inside a merged branch. Needs no network and no QEMU
//! source tree.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(1200);

/// Commits everything in the tree with `message`; returns the hash.
fn commit(repo: &Path, message: &str) -> String {
    common::git(repo, &["add", "-A"]);
    common::git(repo, &["commit", "-q", "--allow-empty", "-m", message]);
    common::git(repo, &["rev-parse", "HEAD"])
}

fn write(repo: &Path, path: &str, text: &str) {
    let p = repo.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// The commits the test knows by name.
struct History {
    good: String,
    bad: String,
    /// The commit that does not build (on the first-parent chain).
    broken: String,
    /// The merge that brings the change to the first-parent chain.
    merge: String,
    /// The commit inside the merged branch that switches 8.0.2 to 9.2.0.
    culprit: String,
    /// Commits of the merged branches (none may be tested before `merge` is found).
    branch_commits: Vec<String>,
    first_parent: Vec<String>,
}

/// main: c0 (7.2.22, good) c1, m1 (merges a1: 8.0.2), c2, c3, c4 (broken),
/// c5, m2 (merges b1 b2 b3 b4; b3 switches to 9.2.0), c6, c7 (10.0.2, bad).
fn make_history(repo: &Path) -> History {
    common::git(repo, &["init", "-q", "-b", "master"]);
    write(repo, "qemu-version", "7.2.22\n");
    write(
        repo,
        "target/riscv/cpu.c",
        "static void reset(CPURISCVState *env)\n{\n    env->henvcfg = HENVCFG_ADUE;\n}\n",
    );
    let good = commit(repo, "c0: start (QEMU 7.2.22)");
    write(repo, "hw/riscv/virt.c", "/* virt */\n");
    commit(repo, "c1: hw/riscv: add virt");
    common::git(repo, &["checkout", "-q", "-b", "a"]);
    write(repo, "qemu-version", "8.0.2\n");
    let a1 = commit(repo, "a1: move to QEMU 8.0.2");
    common::git(repo, &["checkout", "-q", "master"]);
    common::git(
        repo,
        &["merge", "-q", "--no-ff", "-m", "m1: Merge branch a", "a"],
    );
    write(repo, "docs/a.txt", "a\n");
    let c2 = commit(repo, "c2: docs");
    // The branch merged by m2 starts here.
    common::git(repo, &["branch", "b"]);
    write(repo, "docs/b.txt", "b\n");
    commit(repo, "c3: more docs");
    write(repo, "broken", "this tree does not build\n");
    let broken = commit(repo, "c4: break the build");
    std::fs::remove_file(repo.join("broken")).unwrap();
    commit(repo, "c5: fix the build");
    common::git(repo, &["checkout", "-q", "b"]);
    write(repo, "hw/riscv/boot.c", "/* boot */\n");
    let b1 = commit(repo, "b1: hw/riscv: boot");
    write(repo, "target/riscv/csr.c", "/* csr */\n");
    let b2 = commit(repo, "b2: target/riscv: csr");
    write(repo, "qemu-version", "9.2.0\n");
    write(
        repo,
        "target/riscv/cpu.c",
        "static void reset(CPURISCVState *env)\n{\n    env->henvcfg = 0;\n}\n",
    );
    let culprit = commit(repo, "b3: target/riscv: Reset henvcfg to zero");
    write(repo, "docs/b4.txt", "b4\n");
    let b4 = commit(repo, "b4: docs");
    common::git(repo, &["checkout", "-q", "master"]);
    common::git(
        repo,
        &["merge", "-q", "--no-ff", "-m", "m2: Merge branch b", "b"],
    );
    let merge = common::git(repo, &["rev-parse", "HEAD"]);
    write(repo, "docs/c6.txt", "c6\n");
    commit(repo, "c6: docs");
    write(repo, "qemu-version", "10.0.2\n");
    let bad = commit(repo, "c7: move to QEMU 10.0.2");
    let first_parent = common::git(
        repo,
        &["rev-list", "--first-parent", &format!("{good}..{bad}")],
    )
    .lines()
    .map(str::to_string)
    .collect();
    let _ = c2;
    History {
        good,
        bad,
        broken,
        merge,
        culprit,
        branch_commits: vec![a1, b1, b2, b4],
        first_parent,
    }
}

/// The fake build: counts itself, fails on a tree with `broken`, otherwise
/// "compiles" like ninja (each tracked file whose mtime is newer than its
/// object, or that has none, is copied to `build/obj/` and listed in
/// `build/compiled.log` under a `build <commit>` line) and links the QEMU
/// build of the version the tree names. While `slow-merge` exists, building
/// the merge m2 announces itself (`building-merge`) and takes 30 s, so a
/// signal can land inside a build.
fn write_build_script(dir: &Path, counter: &Path) -> PathBuf {
    let prefixes = common::root().join(".qemu");
    let script = dir.join("fake-build.sh");
    std::fs::write(
        &script,
        format!(
            "set -e\n\
             git -C \"$HVHARNESS_QEMU_SRC\" rev-parse HEAD >> '{counter}'\n\
             if [ -e '{slow}' ] && git -C \"$HVHARNESS_QEMU_SRC\" log -1 --format=%s | grep -q '^m2:'; then touch '{building}'; sleep 30; fi\n\
             if [ -e \"$HVHARNESS_QEMU_SRC/broken\" ]; then echo 'broken.c:1: error: expected expression' >&2; exit 1; fi\n\
             mkdir -p \"$HVHARNESS_QEMU_BUILD/obj\"\n\
             echo \"build $(git -C \"$HVHARNESS_QEMU_SRC\" rev-parse HEAD)\" >> \"$HVHARNESS_QEMU_BUILD/compiled.log\"\n\
             for f in $(git -C \"$HVHARNESS_QEMU_SRC\" ls-files); do\n\
               o=\"$HVHARNESS_QEMU_BUILD/obj/$(echo \"$f\" | tr / _).o\"\n\
               if [ ! -e \"$o\" ] || [ \"$HVHARNESS_QEMU_SRC/$f\" -nt \"$o\" ]; then cp \"$HVHARNESS_QEMU_SRC/$f\" \"$o\"; echo \"$f\" >> \"$HVHARNESS_QEMU_BUILD/compiled.log\"; fi\n\
             done\n\
             v=$(cat \"$HVHARNESS_QEMU_SRC/qemu-version\")\n\
             ln -sfn '{prefixes}'/$v/usr/bin/qemu-system-riscv64 \"$HVHARNESS_QEMU_BUILD/qemu-system-riscv64\"\n\
             ln -sfn '{prefixes}'/$v/usr/share/qemu \"$HVHARNESS_QEMU_BUILD/pc-bios\"\n\
             echo \"installed QEMU $v\"\n",
            counter = counter.display(),
            prefixes = prefixes.display(),
            slow = dir.join("slow-merge").display(),
            building = dir.join("building-merge").display(),
        ),
    )
    .unwrap();
    script
}

fn bisect_command(
    repo: &Path,
    history: &History,
    build_dir: &Path,
    script: &Path,
    extra: &[&str],
) -> Command {
    let scenario = common::root().join("scenarios/hypervisor-noadue-2vm.toml");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hvharness"));
    cmd.arg("bisect")
        .arg("qemu")
        .arg(&scenario)
        .arg("--source")
        .arg(repo)
        .args([
            "--good",
            &history.good,
            "--bad",
            &history.bad,
            "--no-build",
            "--json",
        ])
        .arg("--build-dir")
        .arg(build_dir)
        .arg("--build-cmd")
        // bash: its -nt compares mtimes to the nanosecond, as ninja does.
        .arg(format!("bash {}", script.display()))
        .args(extra)
        .env("HVHARNESS_ROOT", common::root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    cmd
}

/// A running hvharness whose stderr lines arrive on a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: std::thread::JoinHandle<String>,
}

fn spawn(mut cmd: Command) -> Running {
    let mut child = cmd.spawn().expect("starting hvharness");
    let (tx, lines) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("  | {line}");
            let _ = tx.send(line);
        }
    });
    let mut out = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    Running {
        child,
        lines,
        stdout,
    }
}

impl Running {
    /// Waits for the end (killing the group after `LIMIT`); exit code, stdout, stderr lines.
    fn finish(mut self) -> (Option<i32>, String, Vec<String>) {
        let deadline = Instant::now() + LIMIT;
        let mut lines = Vec::new();
        let status = loop {
            lines.extend(self.lines.try_iter());
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() >= deadline {
                kill_group(&self.child);
                let _ = self.child.wait();
                panic!(
                    "hvharness bisect qemu took longer than {LIMIT:?}:\n{}",
                    lines.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stdout = self.stdout.join().unwrap();
        // Every stderr line: the reader's sender drops at EOF, which comes
        // with stdout's (a minute is only a bound for a leftover holding it).
        let eof_limit = Duration::from_secs(60);
        let until = Instant::now() + eof_limit;
        loop {
            match self
                .lines
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                Ok(line) => lines.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("hvharness's stderr still open {eof_limit:?} after its stdout closed")
                }
            }
        }
        (status.code(), stdout, lines)
    }

    /// Waits for a stderr line containing `needle`.
    fn wait_for(&mut self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + LIMIT;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => {
                    let hit = l.contains(needle);
                    seen.push(l);
                    if hit {
                        return seen;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(s) = self.child.try_wait().unwrap() {
                        panic!(
                            "hvharness ended ({s}) before printing {needle:?}:\n{}",
                            seen.join("\n")
                        );
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        kill_group(&self.child);
        panic!("no {needle:?} from hvharness:\n{}", seen.join("\n"));
    }
}

fn kill_group(child: &Child) {
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
}

fn worktrees(repo: &Path) -> usize {
    common::git(repo, &["worktree", "list", "--porcelain"])
        .lines()
        .filter(|l| l.starts_with("worktree "))
        .count()
}

fn builds(counter: &Path) -> Vec<String> {
    std::fs::read_to_string(counter)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Each build of `build/compiled.log`: its commit and the files it compiled.
fn compiled(build_dir: &Path) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(build_dir.join("build/compiled.log")).unwrap_or_default();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        match line.strip_prefix("build ") {
            Some(c) => out.push((c.to_string(), Vec::new())),
            None => out
                .last_mut()
                .expect("a file before the first build line")
                .1
                .push(line.to_string()),
        }
    }
    out
}

/// The files that differ between two commits and exist in the second.
fn changed(repo: &Path, from: &str, to: &str) -> Vec<String> {
    let mut files: Vec<String> = common::git(
        repo,
        &["diff", "--name-only", "--diff-filter=AMRT", from, to],
    )
    .lines()
    .map(str::to_string)
    .collect();
    files.sort();
    files
}

fn step_logs(build_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(build_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("build-") && n.ends_with(".log"))
        .collect();
    names.sort();
    names
}

fn step_commits(j: &Value) -> Vec<String> {
    j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["commit"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn bisect_qemu_finds_the_commit_inside_the_merged_branch_and_resumes() {
    if common::MATRIX
        .iter()
        .any(|v| common::qemu_or_skip(v, "bisect qemu").is_none())
    {
        common::skipped("bisect qemu: the fake history installs all four QEMU versions");
        return;
    }
    common::firmware();
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("qemu");
    std::fs::create_dir(&repo).unwrap();
    let h = make_history(&repo);
    let head_before = common::git(&repo, &["rev-parse", "HEAD"]);
    let status_before = common::git(&repo, &["status", "--porcelain"]);
    let counter = tmp.path().join("builds.txt");
    let script = write_build_script(tmp.path(), &counter);
    let build_dir = tmp.path().join("build");

    // First run: interrupted (SIGINT, as Ctrl-C sends) inside the build of the
    // merge, after four steps are judged. Before the fix, the torn-down build
    // was recorded as "build failed" and the resumed run skipped the merge.
    std::fs::write(tmp.path().join("slow-merge"), "").unwrap();
    let mut first = spawn(bisect_command(&repo, &h, &build_dir, &script, &[]));
    first.wait_for("step 5 of about");
    let building = tmp.path().join("building-merge");
    let deadline = Instant::now() + LIMIT;
    while !building.exists() {
        assert!(Instant::now() < deadline, "the merge's build never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let (code, _, lines) = first.finish();
    let log = lines.join("\n");
    assert_eq!(code, Some(130), "interrupted run:\n{log}");
    // Ctrl-C inside a build says so, and nothing about a failed build.
    let merge_short = &h.merge[..12];
    assert!(
        lines
            .iter()
            .any(|l| l == &format!("hvharness: interrupted during the build of {merge_short}")),
        "{log}"
    );
    assert!(
        !log.contains("build failed") && !log.contains("QEMU stopped"),
        "{log}"
    );
    // The worktree stays for the next run (git still lists it), at the merge.
    assert!(build_dir.join("worktree/.git").is_file(), "{log}");
    assert_eq!(worktrees(&repo), 2, "git lists the kept worktree");
    assert_eq!(
        common::git(&build_dir.join("worktree"), &["rev-parse", "HEAD"]),
        h.merge
    );
    let built_first = builds(&counter);
    assert!(built_first.len() >= 4, "{built_first:?}");
    // One log per build, the interrupted one included; build.log is the last.
    assert_eq!(step_logs(&build_dir).len(), built_first.len());
    let newest = std::fs::read_link(build_dir.join("build.log")).unwrap();
    assert!(
        newest
            .to_string_lossy()
            .ends_with(&format!("-{merge_short}.log")),
        "{newest:?}"
    );
    let compiled_first = compiled(&build_dir);
    let last_compiled = compiled_first.last().expect("a build compiled").0.clone();

    // What an interruption inside a checkout can leave: a stale index.lock
    // and a stray file. The next run restores the worktree before its checkout.
    let wt_git_dir = common::git(
        &build_dir.join("worktree"),
        &["rev-parse", "--absolute-git-dir"],
    );
    std::fs::write(Path::new(&wt_git_dir).join("index.lock"), "").unwrap();
    std::fs::write(build_dir.join("worktree/stray.c"), "int stray;\n").unwrap();

    std::fs::remove_file(tmp.path().join("slow-merge")).unwrap();

    // Second run: resumes, and finishes.
    let (code, stdout, lines) = spawn(bisect_command(&repo, &h, &build_dir, &script, &[])).finish();
    let log = lines.join("\n");
    assert_eq!(code, Some(0), "{log}\n{stdout}");
    assert!(log.contains("resuming from"), "{log}");
    assert!(
        log.contains("kept from the last run, restored"),
        "the dirty worktree was restored: {log}"
    );
    assert!(!build_dir.join("worktree/stray.c").exists());
    // The first build of the resumed run compiles what changed since the
    // last build of the interrupted one, and nothing else (before the
    // worktree was kept, every file was new and everything compiled).
    let compiled_all = compiled(&build_dir);
    let (resumed_commit, resumed_files) = &compiled_all[compiled_first.len()];
    assert_eq!(resumed_commit, &h.merge);
    let mut resumed_files = resumed_files.clone();
    resumed_files.sort();
    assert_eq!(
        resumed_files,
        changed(&repo, &last_compiled, &h.merge),
        "the first step after resuming compiled more than changed"
    );
    // And every later step too: each compiles what its checkout changed.
    for pair in compiled_all[compiled_first.len()..].windows(2) {
        let mut files = pair[1].1.clone();
        files.sort();
        assert_eq!(files, changed(&repo, &pair[0].0, &pair[1].0), "{pair:?}");
    }
    let j: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{log}"));
    assert_eq!(j["culprit"]["hash"], h.culprit.as_str(), "{stdout}");
    assert_eq!(
        j["culprit"]["subject"],
        "b3: target/riscv: Reset henvcfg to zero"
    );
    assert_eq!(j["good_outcome"], "booted");
    assert_eq!(j["bad_outcome"], "hung");
    let files: Vec<&str> = j["culprit"]["riscv_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(files, ["target/riscv/cpu.c"]);
    // The bad end's diagnosis names henvcfg.ADUE; the culprit's lines about henvcfg follow.
    assert!(
        j["diagnosed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "henvcfg.ADUE"),
        "{stdout}"
    );
    let csr: Vec<&str> = j["culprit"]["csr_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_str().unwrap())
        .collect();
    assert!(
        csr.contains(&"+    env->henvcfg = 0;")
            && csr.contains(&"-    env->henvcfg = HENVCFG_ADUE;"),
        "{csr:?}"
    );

    // Every built QEMU was one of the four real ones; each step says which.
    let steps = j["steps"].as_array().unwrap();
    let versions: Vec<&str> = steps
        .iter()
        .filter_map(|s| s["qemu_version"].as_str())
        .collect();
    assert_eq!(steps[0]["qemu_version"], "7.2.22", "the good end");
    assert_eq!(steps[1]["qemu_version"], "10.0.2", "the bad end");
    assert!(
        versions.contains(&"8.0.2") && versions.contains(&"9.2.0"),
        "{versions:?}"
    );

    // The broken commit was skipped, and said so.
    let broken = steps
        .iter()
        .find(|s| s["commit"] == h.broken.as_str())
        .expect("the search meets the broken commit");
    assert_eq!(broken["verdict"], "skip");
    assert!(
        broken["reason"].as_str().unwrap().contains("build failed"),
        "{broken}"
    );
    assert!(
        log.contains("skipping this commit") || built_first.contains(&h.broken),
        "{log}"
    );

    // First parent: the search stays on the first-parent chain until it has
    // the merge, then goes into the merged branch only.
    let order = step_commits(&j);
    let merge_at = order
        .iter()
        .position(|c| *c == h.merge)
        .expect("the merge is tested");
    let into_branch = order
        .iter()
        .position(|c| !h.first_parent.contains(c) && *c != h.good)
        .expect("the branch is searched");
    assert!(merge_at < into_branch, "{order:?}");
    for c in &order[into_branch..] {
        assert!(
            h.branch_commits.contains(c) || *c == h.culprit,
            "{c}: only the merged branch is searched after the chain"
        );
    }
    assert!(order[merge_at..].contains(&h.culprit));
    assert!(
        !order.contains(&h.branch_commits[0]),
        "the branch of the first merge is never entered"
    );
    let phases = j["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 2, "{phases:?}");
    assert_eq!(phases[0]["first_bad"], h.merge.as_str());
    assert_eq!(phases[1]["first_bad"], h.culprit.as_str());

    // Steps: the two ends, ceil(log2 9) on the chain plus one for the skip,
    // ceil(log2 5) in the branch of four commits plus its merge.
    assert_eq!(h.first_parent.len(), 9);
    assert!(
        order.len() <= 2 + 4 + 1 + 3,
        "{} steps: {order:?}",
        order.len()
    );
    // Nothing judged before the interruption was built again.
    let all = builds(&counter);
    assert!(
        all.len() <= order.len() + 1,
        "{} builds for {} steps: {all:?}",
        all.len(),
        order.len()
    );
    let mut distinct = all.clone();
    distinct.sort();
    distinct.dedup();
    assert!(
        all.len() - distinct.len() <= 1,
        "only the step cut short is built twice: {all:?}"
    );

    // --stop-at-merge: the same search on the chain, from the saved state, ends at the merge.
    let (code, stdout, lines) = spawn(bisect_command(
        &repo,
        &h,
        &build_dir,
        &script,
        &["--stop-at-merge"],
    ))
    .finish();
    assert_eq!(code, Some(0), "{}", lines.join("\n"));
    let j: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(j["culprit"]["hash"], h.merge.as_str());
    assert_eq!(j["culprit"]["is_merge"], true);
    assert_eq!(
        builds(&counter).len(),
        all.len(),
        "the saved verdicts were reused"
    );

    // --expect judges by the scenario's expectations: every real release
    // behaves as the scenario expects (10.0.2 is expected to hang), so the
    // bad end is not bad and there is nothing to bisect; it says so.
    let expect_dir = tmp.path().join("build-expect");
    let (code, _, lines) = spawn(bisect_command(
        &repo,
        &h,
        &expect_dir,
        &script,
        &["--expect", "--no-diagnose"],
    ))
    .finish();
    let log = lines.join("\n");
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("is as the scenario expects") && log.contains("nothing to bisect"),
        "{log}"
    );
    assert_eq!(
        worktrees(&repo),
        3,
        "each build directory keeps its worktree"
    );

    // The user's checkout was never touched.
    assert_eq!(common::git(&repo, &["rev-parse", "HEAD"]), head_before);
    assert_eq!(
        common::git(&repo, &["status", "--porcelain"]),
        status_before
    );
    assert!(common::qemu_processes_with(&build_dir.display().to_string()).is_empty());

    // `bisect clean` removes a build directory with its worktree, and git forgets it.
    for dir in [&build_dir, &expect_dir] {
        let out = Command::new(env!("CARGO_BIN_EXE_hvharness"))
            .args(["bisect", "clean", "--build-dir"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!dir.exists());
    }
    assert_eq!(worktrees(&repo), 1);
}
