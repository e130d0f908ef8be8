//! The git side: resolving revisions, the lines of commits to search, a
//! worktree of the user's repository (their checkout is never touched), and
//! what the report says about a commit.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::child::{output_bounded, ChildError};

/// Bounds what one git command may print (a rev-list of QEMU's whole history is a few MB).
const GIT_OUTPUT_LIMIT: u64 = 256 << 20;

/// Any git command here is local; one that takes longer is stuck.
const GIT_TIMEOUT: Duration = Duration::from_secs(300);

/// The user's repository (a work tree or a bare repository).
#[derive(Debug, Clone)]
pub(crate) struct Repo {
    pub(crate) dir: PathBuf,
}

impl Repo {
    /// Opens `dir` and checks that git sees a repository there.
    pub(crate) fn open(dir: &Path) -> Result<Repo> {
        let dir = dir
            .canonicalize()
            .with_context(|| format!("--source {} does not exist", dir.display()))?;
        let repo = Repo { dir };
        repo.git(&["rev-parse", "--git-dir"])
            .with_context(|| format!("--source {} is not a git repository", repo.dir.display()))?;
        Ok(repo)
    }

    /// Runs git in the repository; its stdout, trimmed.
    pub(crate) fn git(&self, args: &[&str]) -> Result<String> {
        git_in(&self.dir, args)
    }

    /// The full hash of a revision (a name, tag, short hash, `X^1`).
    pub(crate) fn resolve(&self, rev: &str) -> Result<String> {
        self.git(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])
        .ok()
        .filter(|h| !h.is_empty())
        .with_context(|| format!("{rev} is not a commit in {}", self.dir.display()))
    }

    /// Whether `a` is an ancestor of `b` (or `b` itself).
    pub(crate) fn is_ancestor(&self, a: &str, b: &str) -> Result<bool> {
        let out = command_output(&self.dir, &["merge-base", "--is-ancestor", a, b])?;
        match out.code {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => bail!(
                "git merge-base --is-ancestor {a} {b}: {}",
                out.stderr.trim()
            ),
        }
    }

    /// The first-parent chain from `from` (excluded) to `to` (included), oldest first.
    pub(crate) fn first_parent_line(&self, from: &str, to: &str) -> Result<Vec<String>> {
        let text = self.git(&[
            "rev-list",
            "--first-parent",
            "--reverse",
            &format!("{from}..{to}"),
        ])?;
        Ok(text.lines().map(str::to_string).collect())
    }

    /// The parents of a commit, first parent first.
    pub(crate) fn parents(&self, commit: &str) -> Result<Vec<String>> {
        let text = self.git(&["rev-list", "--parents", "-n", "1", commit])?;
        Ok(text
            .split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect())
    }

    /// Hash, subject, author and date, for progress lines and the report.
    pub(crate) fn info(&self, commit: &str) -> Result<CommitInfo> {
        let text = self.git(&[
            "show",
            "-s",
            "--format=%H%x00%s%x00%an <%ae>%x00%aI",
            commit,
        ])?;
        let mut parts = text.split('\0');
        let mut next = || parts.next().unwrap_or("").to_string();
        Ok(CommitInfo {
            hash: next(),
            subject: next(),
            author: next(),
            date: next(),
        })
    }

    /// The files a commit changed (against its first parent) under `dirs`.
    pub(crate) fn files_changed(&self, commit: &str, dirs: &[&str]) -> Result<Vec<String>> {
        let base = format!("{commit}^1");
        let mut args = vec!["diff", "--name-only", base.as_str(), commit, "--"];
        args.extend_from_slice(dirs);
        let text = self.git(&args)?;
        Ok(text.lines().map(str::to_string).collect())
    }

    /// The commit's diff against its first parent, with one line of context.
    pub(crate) fn diff(&self, commit: &str) -> Result<String> {
        self.git(&["diff", "-U1", &format!("{commit}^1"), commit])
    }

    /// Whether the repository has a work tree (its `subprojects/` may hold
    /// sources a build needs).
    pub(crate) fn work_tree(&self) -> Option<PathBuf> {
        let top = self.git(&["rev-parse", "--show-toplevel"]).ok()?;
        (!top.is_empty()).then(|| PathBuf::from(top))
    }
}

/// What the report says about a commit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct CommitInfo {
    pub(crate) hash: String,
    pub(crate) subject: String,
    pub(crate) author: String,
    /// ISO 8601, as git prints it.
    pub(crate) date: String,
}

impl CommitInfo {
    /// The hash's first 12 digits.
    pub(crate) fn short(&self) -> &str {
        &self.hash[..self.hash.len().min(12)]
    }
}

struct GitOutput {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn command_output(dir: &Path, args: &[&str]) -> Result<GitOutput> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args).stdin(Stdio::null());
    match output_bounded(cmd, GIT_TIMEOUT, GIT_OUTPUT_LIMIT) {
        Ok(o) => Ok(GitOutput {
            code: o.status.code(),
            stdout: o.stdout,
            stderr: o.stderr,
        }),
        Err(ChildError::Spawn(e)) => {
            Err(anyhow::Error::new(e).context("running git: is it installed?"))
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("git {}", args.join(" ")))),
    }
}

/// Runs git in `dir` (a worktree); its stdout, trimmed.
pub(crate) fn git_at(dir: &Path, args: &[&str]) -> Result<String> {
    git_in(dir, args)
}

fn git_in(dir: &Path, args: &[&str]) -> Result<String> {
    let out = command_output(dir, args)?;
    if out.code != Some(0) {
        bail!(
            "git {} (in {}) failed: {}",
            args.join(" "),
            dir.display(),
            out.stderr.trim()
        );
    }
    Ok(out.stdout.trim_end().to_string())
}

/// A detached worktree of the user's repository at a fixed path; removed
/// (with `git worktree prune`) when dropped, and by [`remove_worktree`] from
/// the signal handler.
pub(crate) struct Worktree {
    repo: Repo,
    path: PathBuf,
    hook: Option<crate::signals::InterruptHook>,
}

impl Worktree {
    /// Adds the worktree at `path`, checked out at `commit`. One left there
    /// by a run that was killed outright is kept when it belongs to `repo`
    /// (its files keep their times, so the build stays incremental);
    /// anything else there is removed first.
    pub(crate) fn add(repo: &Repo, path: &Path, commit: &str) -> Result<Worktree> {
        if !belongs_to(repo, path) {
            remove_worktree(&repo.dir, path);
            let p = path.to_string_lossy().into_owned();
            repo.git(&["worktree", "add", "--force", "--detach", &p, commit])
                .with_context(|| format!("adding a worktree at {}", path.display()))?;
        }
        let (dir, wt) = (repo.dir.clone(), path.to_path_buf());
        let hook = crate::signals::on_interrupt(Box::new(move || remove_worktree(&dir, &wt)));
        Ok(Worktree {
            repo: repo.clone(),
            path: path.to_path_buf(),
            hook: Some(hook),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Checks out `commit` (detached, discarding changes to tracked files).
    pub(crate) fn checkout(&self, commit: &str) -> Result<()> {
        git_in(
            &self.path,
            &["checkout", "--quiet", "--force", "--detach", commit],
        )
        .with_context(|| {
            format!(
                "checking out {commit} in the worktree {}",
                self.path.display()
            )
        })?;
        Ok(())
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        if let Some(hook) = self.hook.take() {
            hook.cancel();
        }
        remove_worktree(&self.repo.dir, &self.path);
    }
}

/// Whether `path` is a worktree of `repo` that git still lists.
fn belongs_to(repo: &Repo, path: &Path) -> bool {
    if !path.join(".git").is_file() {
        return false;
    }
    let (Ok(mine), Ok(theirs)) = (
        git_in(path, &["rev-parse", "--git-common-dir"]),
        repo.git(&["rev-parse", "--git-common-dir"]),
    ) else {
        return false;
    };
    let abs = |p: &str, base: &Path| base.join(p).canonicalize().ok();
    abs(&mine, path).is_some() && abs(&mine, path) == abs(&theirs, &repo.dir)
}

/// Removes the worktree at `path` from `repo` and from disk; quiet when
/// there is none.
pub(crate) fn remove_worktree(repo: &Path, path: &Path) {
    let p = path.to_string_lossy().into_owned();
    let _ = command_output(repo, &["worktree", "remove", "--force", "--force", &p]);
    if path.exists() {
        let _ = std::fs::remove_dir_all(path);
    }
    let _ = command_output(repo, &["worktree", "prune"]);
}
