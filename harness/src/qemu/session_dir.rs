//! Session directories: one private temporary directory per QEMU, holding its
//! sockets and logs, named after the harness process that owns it
//! (`hvharness-qemu-<pid>-XXXXXX` in the system temp directory).
//!
//! The owner removes its directories on every exit it survives (drop, errors,
//! SIGINT/SIGTERM/SIGHUP: see [`super::process`]). After a SIGKILL nothing of
//! the owner runs, so each harness start removes the directories whose owner
//! process is gone. A directory whose owner is alive is never touched, nor
//! one without an owner in its name.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

const PREFIX: &str = "hvharness-qemu-";

/// Creates a session directory owned by this process.
pub(crate) fn create() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{}-", std::process::id()))
        .tempdir()
        .context("creating the session directory")
}

/// Removes the session directories in the system temp directory left by
/// harness processes that no longer exist; returns what was removed.
pub(crate) fn remove_stale() -> Vec<PathBuf> {
    remove_stale_in(&std::env::temp_dir())
}

/// [`remove_stale`], saying on stderr what it removed: for the `hvharness`
/// binary's start.
pub(crate) fn remove_stale_and_say() {
    for dir in remove_stale() {
        eprintln!(
            "hvharness: removed {}, left by a harness that was killed",
            dir.display()
        );
    }
}

fn remove_stale_in(tmp: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name.to_str().and_then(owner_pid) else {
            continue;
        };
        // A directory, not a link someone planted under that name.
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if !is_dir || process_exists(owner) {
            continue;
        }
        let path = entry.path();
        if std::fs::remove_dir_all(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

/// The owner's pid in `hvharness-qemu-<pid>-XXXXXX`.
fn owner_pid(name: &str) -> Option<i32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, random) = rest.split_once('-')?;
    if random.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok().filter(|p| *p > 0)
}

/// Whether a process with this id exists (also one of another user, whose
/// signal we may not send: EPERM).
fn process_exists(pid: i32) -> bool {
    use nix::errno::Errno;
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(Errno::ESRCH)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_is_read_from_the_name() {
        assert_eq!(owner_pid("hvharness-qemu-1234-AbC123"), Some(1234));
        assert_eq!(
            owner_pid("hvharness-qemu-AbC123"),
            None,
            "old style: no owner"
        );
        assert_eq!(owner_pid("hvharness-qemu-12x-AbC"), None);
        assert_eq!(owner_pid("hvharness-qemu-1234-"), None);
        assert_eq!(owner_pid("hvharness-qemu-0-abc"), None);
        assert_eq!(owner_pid("other-1234-abc"), None);
    }

    #[test]
    fn only_directories_of_dead_owners_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        // A process that existed and is gone: a reaped child.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let mine = std::process::id();
        let stale = tmp.path().join(format!("{PREFIX}{dead}-aaaaaa"));
        let live = tmp.path().join(format!("{PREFIX}{mine}-bbbbbb"));
        let old_style = tmp.path().join(format!("{PREFIX}cccccc"));
        for d in [&stale, &live, &old_style] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("qemu-stderr.log"), b"x").unwrap();
        }
        // A file, not a directory, with a dead owner's name: left alone.
        let file = tmp.path().join(format!("{PREFIX}{dead}-file"));
        std::fs::write(&file, b"x").unwrap();
        let removed = remove_stale_in(tmp.path());
        assert_eq!(removed, vec![stale.clone()]);
        assert!(!stale.exists() && live.exists() && old_style.exists() && file.exists());
    }

    #[test]
    fn a_new_directory_names_this_process() {
        let d = create().unwrap();
        let name = d.path().file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(owner_pid(&name), Some(std::process::id() as i32));
    }
}
