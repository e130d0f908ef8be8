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

/// A detached worktree of the user's repository at a fixed path in the
/// build directory, kept from run to run: each step checks its commit out in
/// place, so git rewrites only the files that differ and every other file
/// keeps its mtime (ninja then recompiles only what changed, also in the
/// first step of a resumed run). [`forget_build_dir`] removes it with its
/// build directory.
pub(crate) struct Worktree {
    path: PathBuf,
}

/// How [`Worktree::open`] found the worktree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    /// Made now: every file is new, the build directory's configuration stale.
    Created,
    /// Kept from an earlier run, clean.
    Kept,
    /// Kept, but left dirty by an interrupted run (a checkout cut short, an
    /// edit): restored to its commit first.
    Restored,
}

impl Worktree {
    /// The worktree at `path`: the one an earlier run left when it belongs
    /// to `repo` (restored to a clean state if a run was cut short inside a
    /// checkout), else a new one at `commit` (anything else there is removed
    /// first).
    pub(crate) fn open(repo: &Repo, path: &Path, commit: &str) -> Result<(Worktree, Opened)> {
        let wt = Worktree {
            path: path.to_path_buf(),
        };
        if belongs_to(repo, path) {
            let dirty = wt.restore()?;
            return Ok((
                wt,
                if dirty {
                    Opened::Restored
                } else {
                    Opened::Kept
                },
            ));
        }
        remove_worktree(&repo.dir, path);
        let p = path.to_string_lossy().into_owned();
        repo.git(&["worktree", "add", "--force", "--detach", &p, commit])
            .with_context(|| format!("adding a worktree at {}", path.display()))?;
        Ok((wt, Opened::Created))
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

    /// Brings the worktree back to its HEAD when it is not clean: a stale
    /// `index.lock` (git killed by Ctrl-C), changed tracked files, untracked
    /// files (half of a checkout). The subprojects linked in are kept.
    /// Rewrites only what differs. True when something had to be restored.
    fn restore(&self) -> Result<bool> {
        let git_dir = git_in(&self.path, &["rev-parse", "--absolute-git-dir"])?;
        let lock = Path::new(&git_dir).join("index.lock");
        // The build directory's lock is held: no git of ours is running here.
        let locked = lock.exists();
        if locked {
            std::fs::remove_file(&lock)
                .with_context(|| format!("removing the stale {}", lock.display()))?;
        }
        let status = git_in(
            &self.path,
            &[
                "status",
                "--porcelain",
                // QEMU <= 8.0's submodules (ui/keycodemapdb, ...) follow configure, not us.
                "--ignore-submodules",
                "--",
                ".",
                &format!(":(exclude){}/*", SUBPROJECTS),
            ],
        )?;
        if !locked && status.is_empty() {
            return Ok(false);
        }
        git_in(&self.path, &["reset", "--quiet", "--hard"])
            .with_context(|| format!("restoring the worktree {}", self.path.display()))?;
        git_in(
            &self.path,
            &["clean", "-ffdq", "-e", &format!("/{SUBPROJECTS}/")],
        )
        .with_context(|| format!("cleaning the worktree {}", self.path.display()))?;
        Ok(true)
    }
}

/// Where QEMU's meson subprojects go; those linked in are not the tree's.
const SUBPROJECTS: &str = "subprojects";

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

/// Removes a build directory (`bisect qemu`'s or `qemu build`'s) with its
/// worktree, and tells the repository the worktree is gone. Returns the
/// repository it belonged to, when one was found.
pub(crate) fn forget_build_dir(root: &Path, worktree: &Path) -> Result<Option<PathBuf>> {
    let repo = if worktree.join(".git").is_file() {
        git_in(worktree, &["rev-parse", "--git-common-dir"])
            .ok()
            .and_then(|d| worktree.join(d).canonicalize().ok())
    } else {
        None
    };
    if root.exists() {
        std::fs::remove_dir_all(root).with_context(|| format!("removing {}", root.display()))?;
    }
    if let Some(common) = &repo {
        // The worktree's directory is gone: prune drops git's record of it.
        git_in(common, &["worktree", "prune"])
            .with_context(|| format!("git worktree prune in {}", common.display()))?;
    }
    Ok(repo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let mut all = vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t.invalid",
            "-c",
            "commit.gpgsign=false",
        ];
        all.extend_from_slice(args);
        git_in(dir, &all).unwrap()
    }

    fn mtime(p: &Path) -> std::time::SystemTime {
        std::fs::metadata(p).unwrap().modified().unwrap()
    }

    /// A repository with two commits: `a.c` changes, `b.c` does not.
    fn repo(dir: &Path) -> (Repo, String, String) {
        let src = dir.join("src");
        std::fs::create_dir_all(&src).unwrap();
        git(&src, &["init", "-q"]);
        std::fs::write(src.join("a.c"), "1\n").unwrap();
        std::fs::write(src.join("b.c"), "same\n").unwrap();
        std::fs::create_dir_all(src.join("subprojects")).unwrap();
        std::fs::write(src.join("subprojects/x.wrap"), "[wrap-git]\n").unwrap();
        git(&src, &["add", "-A"]);
        git(&src, &["commit", "-q", "-m", "one"]);
        let one = git(&src, &["rev-parse", "HEAD"]);
        std::fs::write(src.join("a.c"), "2\n").unwrap();
        git(&src, &["commit", "-q", "-am", "two"]);
        let two = git(&src, &["rev-parse", "HEAD"]);
        (Repo::open(&src).unwrap(), one, two)
    }

    #[test]
    fn the_worktree_is_kept_checked_out_in_place_and_restored_when_dirty() {
        let tmp = tempfile::tempdir().unwrap();
        let (repo, one, two) = repo(tmp.path());
        let path = tmp.path().join("build/worktree");
        let (wt, opened) = Worktree::open(&repo, &path, &one).unwrap();
        assert_eq!(opened, Opened::Created);
        let unchanged = mtime(&path.join("b.c"));
        std::thread::sleep(std::time::Duration::from_millis(20));
        wt.checkout(&two).unwrap();
        drop(wt);
        // A second run keeps it: the unchanged file keeps its mtime.
        let (wt, opened) = Worktree::open(&repo, &path, &one).unwrap();
        assert_eq!(opened, Opened::Kept);
        assert_eq!(git(&path, &["rev-parse", "HEAD"]), two);
        assert_eq!(mtime(&path.join("b.c")), unchanged);
        // What a run cut short in a checkout leaves: a lock, an edit, a stray file.
        let git_dir = git(&path, &["rev-parse", "--absolute-git-dir"]);
        std::fs::write(Path::new(&git_dir).join("index.lock"), "").unwrap();
        std::fs::write(path.join("a.c"), "half\n").unwrap();
        std::fs::write(path.join("stray.c"), "x\n").unwrap();
        // A subproject linked in by the build stays.
        std::os::unix::fs::symlink("/nonexistent", path.join("subprojects/x")).unwrap();
        drop(wt);
        let (wt, opened) = Worktree::open(&repo, &path, &one).unwrap();
        assert_eq!(opened, Opened::Restored);
        assert_eq!(std::fs::read_to_string(path.join("a.c")).unwrap(), "2\n");
        assert!(!path.join("stray.c").exists());
        assert!(std::fs::symlink_metadata(path.join("subprojects/x")).is_ok());
        assert_eq!(mtime(&path.join("b.c")), unchanged);
        wt.checkout(&one).unwrap();
        assert_eq!(std::fs::read_to_string(path.join("a.c")).unwrap(), "1\n");

        // Removing the build directory also makes git forget the worktree.
        let listed = |r: &Repo| {
            git(&r.dir, &["worktree", "list", "--porcelain"])
                .matches("worktree ")
                .count()
        };
        assert_eq!(listed(&repo), 2);
        let found = forget_build_dir(&tmp.path().join("build"), &path).unwrap();
        assert_eq!(found, Some(repo.dir.join(".git")));
        assert!(!tmp.path().join("build").exists());
        assert_eq!(listed(&repo), 1);
    }
}
