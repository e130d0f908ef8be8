//! Bisecting QEMU itself: build `qemu-system-riscv64` at each step of a
//! search through QEMU's git history and name the commit that changed how
//! a scenario boots.
//!
//! - [`git`]: the user's repository, a worktree of it (their checkout is
//!   never touched), the lines of commits to search, commit details.
//! - [`build`]: one incremental build per step in a persistent directory.
//! - [`failure`]: why a build failed, by its first cause in the log.
//! - [`deps`]: the packages the default build needs, checked up front.
//! - [`ninja_work`]: how many commands a step's ninja ran, from its log.
//! - [`release`]: `qemu build`: the same builder at a release tag, made an
//!   installed prefix or a tarball.
//! - [`search`]: the binary search along a line of commits, with skips.
//! - [`state`]: every commit judged, kept in the build directory for resume.
//! - [`report`]: the answer, the RISC-V files and the diagnosed CSR's lines.
//!
//! The search follows first parents (QEMU's master is a chain of merges),
//! like `git bisect start --first-parent`, and when the first bad commit is
//! a merge it goes on inside the merged branch (from the merge's first
//! parent to its second parent, the merge itself last). Each step is judged
//! like `bisect versions`: its observed outcome against the ends' outcomes,
//! measured first; with `expect`, by the scenario's expectation.

pub(crate) mod build;
pub(crate) mod deps;
pub(crate) mod failure;
pub(crate) mod git;
pub(crate) mod ninja_work;
pub(crate) mod release;
pub(crate) mod report;
pub(crate) mod search;
pub(crate) mod state;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use self::build::{BuildDir, BuildSpec, Built};
use self::git::{Opened, Repo, Worktree};
use self::report::{Culprit, Phase, QemuBisection};
use self::search::{Found, LineSearch, Mark};
use self::state::{Key, State, StepRecord, Verdict};
use super::check::{judge_outcome, Judgement};
use super::plain_boot;
use super::versions::OutcomeClass;
use crate::qemu::registry::{probe, Origin};
use crate::qemu::QemuBuild;
use crate::runner;
use crate::scenario::Scenario;

/// What to bisect and how.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The scenario file (for the state's key).
    pub(crate) scenario_path: PathBuf,
    /// The user's QEMU repository.
    pub(crate) source: PathBuf,
    pub(crate) good: String,
    pub(crate) bad: String,
    pub(crate) build_dir: PathBuf,
    /// Replaces the default configure + ninja (see [`build::BuildSpec`]).
    pub(crate) build_cmd: Option<String>,
    pub(crate) build_timeout: Duration,
    /// Subprojects to link into each step's tree; default: SOURCE/subprojects.
    pub(crate) subprojects: Option<PathBuf>,
    /// Stop at the first-parent merge instead of going into its branch.
    pub(crate) stop_at_merge: bool,
    /// Judge by the scenario's expectation, not by the ends' outcomes.
    pub(crate) expect: bool,
    /// Discard a saved state instead of resuming it.
    pub(crate) fresh: bool,
    /// Diagnose the bad end when it does not boot, to name the CSR bit.
    pub(crate) diagnose: bool,
}

/// How the ends decide each step.
#[derive(Debug, Clone, Copy)]
struct Ends {
    good: OutcomeClass,
}

/// Everything a step needs.
struct Bisector<'a> {
    opts: &'a Options,
    scenario: &'a Scenario,
    repo: Repo,
    wt: Worktree,
    dir: BuildDir,
    spec: BuildSpec,
    state: State,
    /// The order commits were judged in (replayed ones included).
    order: Vec<String>,
    /// Seconds of build + run per step actually done now, for the ETA.
    spent: Vec<f64>,
    progress: &'a mut dyn FnMut(String),
    /// Held for the whole run: one bisection per build directory at a time.
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// Takes the build directory's lock, or says who has it.
fn lock_build_dir(dir: &BuildDir) -> Result<nix::fcntl::Flock<std::fs::File>> {
    let path = dir.root.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
        anyhow::anyhow!(
            "{} is in use by another bisection ({e}); wait for it, or pass another --build-dir",
            dir.root.display()
        )
    })
}

/// The build directory at `path`, made if needed, and its lock.
pub(crate) fn open_build_dir(path: &Path) -> Result<(BuildDir, nix::fcntl::Flock<std::fs::File>)> {
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    let dir = BuildDir {
        root: path.canonicalize().context("the build directory")?,
    };
    let lock = lock_build_dir(&dir)?;
    Ok((dir, lock))
}

/// The build directory's worktree of `repo` (kept from earlier runs, or
/// made at `commit`), with a line saying which.
pub(crate) fn open_worktree(
    repo: &Repo,
    dir: &BuildDir,
    commit: &str,
    progress: &mut dyn FnMut(String),
) -> Result<Worktree> {
    let (wt, opened) = Worktree::open(repo, &dir.worktree(), commit)?;
    let how = match opened {
        Opened::Created => {
            // Every file is new: configure afresh rather than let ninja regenerate.
            dir.forget_configuration();
            "made now"
        }
        Opened::Kept => "kept from the last run",
        Opened::Restored => "kept from the last run, restored: an interrupted run left it dirty",
    };
    progress(format!(
        "worktree {} ({how}; `hvharness bisect clean --build-dir {}` removes it), build directory {}, log {}",
        wt.path().display(),
        dir.root.display(),
        dir.build().display(),
        dir.log().display()
    ));
    Ok(wt)
}

/// Runs the bisection. `scenario` is loaded and its firmware built;
/// `progress` gets one line per event for stderr.
pub(crate) async fn bisect(
    opts: &Options,
    scenario: &Scenario,
    progress: &mut dyn FnMut(String),
) -> Result<QemuBisection> {
    let repo = Repo::open(&opts.source)?;
    let (good, bad, line) = commit_range(&repo, opts)?;
    if opts.build_cmd.is_none() {
        deps::check()?;
    }
    let (dir, lock) = open_build_dir(&opts.build_dir)?;
    let key = Key {
        source: repo.dir.clone(),
        good: good.clone(),
        bad: bad.clone(),
        scenario: opts
            .scenario_path
            .canonicalize()
            .unwrap_or_else(|_| opts.scenario_path.clone()),
        expect: opts.expect,
        build_cmd: opts.build_cmd.clone(),
    };
    let (state, resumed) = State::open(&dir.state(), key, opts.fresh)?;
    if resumed {
        progress(format!(
            "resuming from {}: {} commits already judged",
            dir.state().display(),
            state.steps.len()
        ));
    }
    let spec = build_spec(
        opts.build_cmd.clone(),
        opts.build_timeout,
        opts.subprojects.clone(),
        &repo,
        progress,
    );
    let wt = open_worktree(&repo, &dir, &good, progress)?;
    let mut b = Bisector {
        opts,
        scenario,
        repo,
        wt,
        dir,
        spec,
        state,
        order: Vec::new(),
        spent: Vec::new(),
        progress,
        _lock: lock,
    };
    b.run(&good, &bad, line).await
}

/// Builds the worktree's `commit` off the async thread. A build that
/// Ctrl-C tore down is no failure of the commit: then the error says where
/// it stopped, and the signal handler says the same and nothing else.
pub(crate) async fn build_in_background(
    spec: BuildSpec,
    dir: BuildDir,
    wt: PathBuf,
    commit: &str,
) -> Result<Built> {
    let c = commit.to_string();
    let interrupted = format!("interrupted during the build of {}", report::short(commit));
    let _say = crate::signals::say_when_interrupted(interrupted.clone());
    let built = tokio::task::spawn_blocking(move || build::build(&spec, &dir, &wt, &c))
        .await
        .context("build task")?;
    if crate::signals::interrupted() {
        bail!(interrupted);
    }
    built
}

/// `--good` and `--bad` resolved, checked to be a forward range, and the
/// first-parent commits after good up to bad.
fn commit_range(repo: &Repo, opts: &Options) -> Result<(String, String, Vec<String>)> {
    let good = repo.resolve(&opts.good)?;
    let bad = repo.resolve(&opts.bad)?;
    if good == bad {
        bail!("--good and --bad are the same commit ({good})");
    }
    if !repo.is_ancestor(&good, &bad)? {
        bail!(
            "--good {} is not an ancestor of --bad {}: the search goes forward from good to bad",
            opts.good,
            opts.bad
        );
    }
    let line = repo.first_parent_line(&good, &bad)?;
    if line.is_empty() {
        bail!("no first-parent commits from {} to {}", opts.good, opts.bad);
    }
    Ok((good, bad, line))
}

/// How each step builds QEMU; says whether ccache speeds the default build.
pub(crate) fn build_spec(
    command: Option<String>,
    timeout: Duration,
    subprojects: Option<PathBuf>,
    repo: &Repo,
    progress: &mut dyn FnMut(String),
) -> BuildSpec {
    let subprojects = subprojects.or_else(|| repo.work_tree().map(|t| t.join("subprojects")));
    if command.is_none() {
        progress(match build::ccache_links() {
            Some(d) => format!("ccache: compiling through {}", d.display()),
            None => "ccache: not installed (a step back to an already-built tree recompiles it)"
                .to_string(),
        });
    }
    BuildSpec {
        command,
        timeout,
        subprojects,
    }
}

impl Bisector<'_> {
    async fn run(
        &mut self,
        good: &str,
        bad: &str,
        first_line: Vec<String>,
    ) -> Result<QemuBisection> {
        let about_first = 2 + search::ceil_log2(first_line.len());
        (self.progress)(format!(
            "{} first-parent commits after the good end: about {about_first} steps with the two ends{}",
            first_line.len(),
            if self.opts.stop_at_merge { "" } else { ", more if the change came in through a merge" }
        ));
        let ends = self.measure_ends(good, bad, about_first).await?;
        let mut phases = Vec::new();
        let mut line = first_line;
        let mut what = format!(
            "the first-parent chain {}..{}",
            report::short(good),
            report::short(bad)
        );
        let (culprit, candidates) = loop {
            let found = self.search_line(&line, ends).await?;
            let first_bad = match &found {
                Found::Exactly(i) => Some(line[*i].clone()),
                Found::OneOf(_) => None,
            };
            phases.push(Phase {
                what: what.clone(),
                commits: line.len(),
                first_bad: first_bad.clone(),
            });
            let i = match found {
                Found::Exactly(i) => i,
                Found::OneOf(range) => {
                    break (
                        None,
                        range
                            .into_iter()
                            .map(|i| line[i].clone())
                            .collect::<Vec<_>>(),
                    )
                }
            };
            let commit = line[i].clone();
            let parents = self.repo.parents(&commit)?;
            if parents.len() < 2 || self.opts.stop_at_merge {
                break (Some(commit), Vec::new());
            }
            if parents.len() > 2 {
                (self.progress)(format!(
                    "{} merges {} branches: not going into them",
                    report::short(&commit),
                    parents.len() - 1
                ));
                break (Some(commit), Vec::new());
            }
            let mut branch = self.repo.first_parent_line(&parents[0], &parents[1])?;
            (self.progress)(format!(
                "{} is a merge: searching its branch ({} commits, {}..{})",
                report::short(&commit),
                branch.len(),
                report::short(&parents[0]),
                report::short(&parents[1])
            ));
            what = format!("the branch merged by {}", report::short(&commit));
            // The merge itself is bad: if every branch commit is good, it is the answer.
            branch.push(commit);
            line = branch;
        };
        self.finish(good, bad, ends, phases, culprit, candidates)
    }

    /// Builds and runs both ends: the good end's outcome is the reference.
    async fn measure_ends(&mut self, good: &str, bad: &str, about: usize) -> Result<Ends> {
        let g = self.end(good, "good", about).await?;
        let b = self.end(bad, "bad", about).await?;
        if self.opts.expect {
            if g.verdict != Verdict::Good {
                bail!(
                    "the good end {} is not as the scenario expects: {}",
                    report::short(good),
                    g.reason
                );
            }
            if b.verdict != Verdict::Bad {
                bail!(
                    "the bad end {} is as the scenario expects ({}): nothing to bisect",
                    report::short(bad),
                    b.reason
                );
            }
        }
        let (Some(go), Some(bo)) = (g.outcome, b.outcome) else {
            bail!("an end was not run")
        };
        if !self.opts.expect && go == bo {
            bail!(
                "the ends behave alike ({} and {} each {}): nothing to bisect. Pick a --good that behaves differently, or use --expect",
                report::short(good),
                report::short(bad),
                go.verb()
            );
        }
        Ok(Ends { good: go })
    }

    /// One end: from the state, or built and run (and, for a bad end that
    /// does not boot, diagnosed while its build is at hand).
    async fn end(&mut self, commit: &str, which: &str, about: usize) -> Result<StepRecord> {
        if let Some(r) = self.state.steps.get(commit).cloned() {
            self.replayed(&r);
            return Ok(r);
        }
        let k = self.order.len() + 1;
        let (rec, qemu) = self
            .build_and_run(commit, &format!("{which} end"), k, about, None)
            .await?;
        let Some(qemu) = qemu else {
            bail!(
                "the {which} end {} cannot be tested: {}",
                report::short(commit),
                rec.reason
            );
        };
        if rec.outcome.is_none() {
            bail!(
                "the {which} end {} cannot be tested: {}",
                report::short(commit),
                rec.reason
            );
        }
        let mut rec = rec;
        if !self.opts.expect {
            // An end is the reference itself; with --expect, the expectation judged it.
            rec.verdict = if which == "good" {
                Verdict::Good
            } else {
                Verdict::Bad
            };
        }
        if which == "bad"
            && self.opts.diagnose
            && rec.outcome != Some(OutcomeClass::Booted)
            && self.state.diagnosed.is_none()
        {
            (self.progress)(format!(
                "diagnosing the bad end on its QEMU {} ...",
                qemu.version
            ));
            let (diag, _) = crate::diagnosis::diagnose_one(self.scenario, &qemu, false)
                .await
                .context("diagnosing the bad end")?;
            let mut fields = Vec::new();
            let mut said: Vec<&str> = Vec::new();
            for f in diag.faults.iter().flat_map(|f| &f.findings) {
                // Each hart reports the same finding: say it once.
                if said.contains(&f.summary.as_str()) {
                    continue;
                }
                said.push(&f.summary);
                (self.progress)(format!("  [{}] {}", f.rule, f.summary));
                for field in report::csr_fields(&f.summary) {
                    if !fields.contains(&field) {
                        fields.push(field);
                    }
                }
            }
            self.state.diagnosed = Some(fields);
        }
        self.store(rec.clone())?;
        Ok(rec)
    }

    /// Runs the search along `line` (its last commit known bad).
    async fn search_line(&mut self, line: &[String], ends: Ends) -> Result<Found> {
        let mut s = LineSearch::new(line.len());
        while let Some(i) = s.next() {
            let commit = &line[i];
            let rec = match self.state.steps.get(commit).cloned() {
                Some(r) => {
                    self.replayed(&r);
                    r
                }
                None => {
                    let k = self.order.len() + 1;
                    let about = k + s.tests_left().saturating_sub(1);
                    let (rec, _) = self.build_and_run(commit, "", k, about, Some(ends)).await?;
                    self.store(rec.clone())?;
                    rec
                }
            };
            s.record(
                i,
                match rec.verdict {
                    Verdict::Good => Mark::Good,
                    Verdict::Bad => Mark::Bad,
                    Verdict::Skip => Mark::Skip,
                },
            );
        }
        Ok(s.found())
    }

    fn replayed(&mut self, r: &StepRecord) {
        if !self.order.contains(&r.commit) {
            self.order.push(r.commit.clone());
        }
        (self.progress)(format!(
            "step {}: {} {} (recorded: {}, {})",
            self.order.len(),
            report::short(&r.commit),
            r.subject,
            r.verdict,
            r.reason
        ));
    }

    fn store(&mut self, rec: StepRecord) -> Result<()> {
        // A step that ended because Ctrl-C tore its build or run down (its
        // worktree removed, its build killed) judged nothing: recorded, it
        // would be replayed as "build failed" on resume.
        if crate::signals::interrupted() {
            bail!("interrupted while judging {}", report::short(&rec.commit));
        }
        if !self.order.contains(&rec.commit) {
            self.order.push(rec.commit.clone());
        }
        self.state.steps.insert(rec.commit.clone(), rec);
        self.state.save(&self.dir.state())
    }

    /// Builds `commit`, runs the scenario on it and judges it (`ends`:
    /// against the good end; none: the caller decides). The build is
    /// returned when it ran.
    async fn build_and_run(
        &mut self,
        commit: &str,
        label: &str,
        k: usize,
        about: usize,
        ends: Option<Ends>,
    ) -> Result<(StepRecord, Option<QemuBuild>)> {
        let subject = self.announce_step(commit, label, k, about)?;
        let started = Instant::now();
        let mut rec = StepRecord::untested(commit, subject);
        // An end that cannot be tested ends the bisection (the caller says so).
        let skipping = if ends.is_some() {
            "; skipping this commit"
        } else {
            ""
        };
        let Some((binary, data_dir)) = self.build_step(commit, &mut rec, skipping).await? else {
            self.spent.push(started.elapsed().as_secs_f64());
            return Ok((rec, None));
        };
        let qemu = match probe(&binary, data_dir, Origin::Registered) {
            Ok(q) => q,
            Err(e) => {
                rec.reason = format!("the built QEMU does not run: {e:#}");
                (self.progress)(format!("  {}{skipping}", rec.reason));
                return Ok((rec, None));
            }
        };
        rec.qemu_version = Some(qemu.version.to_string());
        if let Some(why) = self.scenario.skip_reason(qemu.version) {
            rec.reason = why;
            (self.progress)(format!("  {}{skipping}", rec.reason));
            return Ok((rec, None));
        }
        let run_scenario = if self.opts.expect {
            self.scenario.clone()
        } else {
            plain_boot(self.scenario)
        };
        let report = match runner::run(&run_scenario, &qemu).await {
            Ok(r) => r,
            Err(e) => {
                rec.reason = format!("the run failed: {e:#}");
                (self.progress)(format!("  {}{skipping}", rec.reason));
                return Ok((rec, Some(qemu)));
            }
        };
        self.judge_step(&mut rec, &report, qemu.version, ends);
        self.spent.push(started.elapsed().as_secs_f64());
        (self.progress)(format!(
            "  QEMU {}: {} in {:.1} s: {}",
            qemu.version,
            report.observed.class().word(),
            rec.run_secs,
            if ends.is_some() {
                rec.verdict.to_string()
            } else {
                "measured".to_string()
            }
        ));
        Ok((rec, Some(qemu)))
    }

    /// Says which step this is and checks `commit` out; returns its subject.
    fn announce_step(
        &mut self,
        commit: &str,
        label: &str,
        k: usize,
        about: usize,
    ) -> Result<String> {
        let info = self.repo.info(commit)?;
        let eta = self.eta(about.saturating_sub(k) + 1);
        (self.progress)(format!(
            "step {k} of about {about}{}: {} {}{}",
            if label.is_empty() {
                String::new()
            } else {
                format!(" ({label})")
            },
            info.short(),
            info.subject,
            eta
        ));
        let _say = crate::signals::say_when_interrupted(format!(
            "interrupted during the checkout of {}",
            info.short()
        ));
        self.wt.checkout(commit)?;
        Ok(info.subject)
    }

    /// Builds the checked-out `commit` off the async thread; the binary and
    /// its data directory, or none when the build failed (said, with the
    /// log's tail, and recorded in `rec`).
    async fn build_step(
        &mut self,
        commit: &str,
        rec: &mut StepRecord,
        skipping: &str,
    ) -> Result<Option<(PathBuf, Option<PathBuf>)>> {
        let (spec, dir, wt) = (
            self.spec.clone(),
            self.dir.clone(),
            self.wt.path().to_path_buf(),
        );
        let built = build_in_background(spec, dir, wt, commit).await?;
        match built {
            Built::Failed {
                reason,
                tail,
                secs,
                log,
            } => {
                rec.build_secs = secs;
                rec.reason = format!("build failed: {reason}");
                (self.progress)(format!(
                    "  build failed after {secs:.0} s: {reason}{skipping}. Log tail ({}):",
                    log.display()
                ));
                for l in tail.lines() {
                    (self.progress)(format!("  | {l}"));
                }
                Ok(None)
            }
            Built::Ok {
                binary,
                data_dir,
                secs,
                configured,
                work,
            } => {
                rec.build_secs = secs;
                rec.configured = configured;
                rec.build_commands = work.map(|w| w.commands);
                (self.progress)(format!(
                    "  built in {secs:.0} s ({})",
                    build::how_built(configured, work)
                ));
                Ok(Some((binary, data_dir)))
            }
        }
    }

    /// The step's verdict from its run: by the scenario's expectation
    /// (`--expect`), against the good end's outcome, or bad.
    fn judge_step(
        &self,
        rec: &mut StepRecord,
        report: &runner::RunReport,
        version: crate::qemu::QemuVersion,
        ends: Option<Ends>,
    ) {
        rec.run_secs = report.duration_secs;
        let outcome = report.observed.class();
        rec.outcome = Some(outcome);
        let judged = self.opts.expect.then(|| {
            judge_outcome(
                &report.scenario,
                version,
                &report.observed,
                &report.verdict,
                true,
            )
        });
        (rec.verdict, rec.reason) = match (&judged, ends) {
            (Some(Judgement::Good(r)), _) => (Verdict::Good, r.clone()),
            (Some(Judgement::Bad(r)), _) => (Verdict::Bad, r.clone()),
            (Some(Judgement::Untestable(r)), _) => (Verdict::Skip, r.clone()),
            (None, Some(e)) if outcome == e.good => (Verdict::Good, report.observed.to_string()),
            (None, _) => (Verdict::Bad, report.observed.to_string()),
        };
    }

    /// ", ETA ..." for `left` more steps, from the steps done so far.
    fn eta(&self, left: usize) -> String {
        if self.spent.is_empty() {
            return String::new();
        }
        let mean = self.spent.iter().sum::<f64>() / self.spent.len() as f64;
        let secs = (mean * left as f64).round() as u64;
        format!(" (ETA {}m{:02}s)", secs / 60, secs % 60)
    }

    fn finish(
        &mut self,
        good: &str,
        bad: &str,
        ends: Ends,
        phases: Vec<Phase>,
        culprit: Option<String>,
        candidates: Vec<String>,
    ) -> Result<QemuBisection> {
        let diagnosed = self.state.diagnosed.clone().unwrap_or_default();
        let culprit = match culprit {
            Some(c) => {
                let commit = self.repo.info(&c)?;
                let is_merge = self.repo.parents(&c)?.len() > 1;
                let riscv_files = self.repo.files_changed(&c, &report::RISCV_DIRS)?;
                let csr_lines = if diagnosed.is_empty() {
                    Vec::new()
                } else {
                    report::csr_lines(&self.repo.diff(&c)?, &diagnosed)
                };
                Some(Culprit {
                    commit,
                    is_merge,
                    riscv_files,
                    csr_lines,
                })
            }
            None => None,
        };
        let candidates = candidates
            .iter()
            .map(|c| self.repo.info(c))
            .collect::<Result<Vec<_>>>()?;
        let bad_outcome = self
            .state
            .steps
            .get(bad)
            .and_then(|r| r.outcome)
            .context("the bad end's outcome")?;
        let answer = match &culprit {
            Some(c) => format!(
                "{} is the first commit where {} {} ({} before it){}",
                c.commit.short(),
                self.scenario.name,
                self.state.steps.get(&c.commit.hash).and_then(|r| r.outcome).unwrap_or(bad_outcome).verb(),
                ends.good.verb(),
                match (c.is_merge, self.opts.stop_at_merge) {
                    (false, _) => "",
                    (true, true) => "; it is a merge, whose branch was not searched (--stop-at-merge)",
                    (true, false) => "; it is a merge, and the commits of its branch behave like the good end: the merge itself made the change",
                }
            ),
            None => format!(
                "skipped commits leave {} candidates for the first commit where the outcome changes",
                candidates.len()
            ),
        };
        let steps = self
            .order
            .iter()
            .filter_map(|c| self.state.steps.get(c).cloned())
            .collect();
        Ok(QemuBisection {
            scenario: self.scenario.name.clone(),
            source: self.repo.dir.display().to_string(),
            good: self.repo.info(good)?,
            bad: self.repo.info(bad)?,
            good_ref: self.opts.good.clone(),
            bad_ref: self.opts.bad.clone(),
            good_outcome: ends.good,
            bad_outcome,
            expect: self.opts.expect,
            steps,
            phases,
            culprit,
            candidates,
            diagnosed,
            answer,
            build_dir: self.dir.root.display().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bisection_per_build_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = BuildDir {
            root: tmp.path().to_path_buf(),
        };
        let held = lock_build_dir(&dir).unwrap();
        let err = lock_build_dir(&dir).unwrap_err();
        assert!(
            format!("{err:#}").contains("in use by another bisection"),
            "{err:#}"
        );
        drop(held);
        assert!(lock_build_dir(&dir).is_ok());
    }
}
