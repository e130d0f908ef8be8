//! What a bisection has learnt so far, kept in the build directory so that an
//! interrupted run resumes where it stopped: every commit judged, with its
//! build time and verdict. The search replays the recorded commits without
//! building them again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::super::versions::OutcomeClass;

/// What a state file belongs to: a different key means a different bisection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Key {
    pub(crate) source: PathBuf,
    pub(crate) good: String,
    pub(crate) bad: String,
    pub(crate) scenario: PathBuf,
    pub(crate) expect: bool,
    pub(crate) build_cmd: Option<String>,
}

/// A commit's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    /// Behaves like the good end.
    Good,
    /// Behaves like the bad end, or otherwise unlike the good end.
    Bad,
    /// Cannot be tested (its build failed, or with --expect the scenario
    /// states nothing for its version).
    Skip,
}

/// `good`, `bad` or `skip`, as `git bisect` says it.
impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Verdict::Good => "good",
            Verdict::Bad => "bad",
            Verdict::Skip => "skip",
        })
    }
}

/// One commit, judged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StepRecord {
    pub(crate) commit: String,
    pub(crate) subject: String,
    pub(crate) verdict: Verdict,
    /// The run's outcome; none when the commit was not run.
    pub(crate) outcome: Option<OutcomeClass>,
    /// The version the build reports (development builds: e.g. 8.2.50).
    pub(crate) qemu_version: Option<String>,
    pub(crate) build_secs: f64,
    /// Whether configure ran for this step.
    pub(crate) configured: bool,
    /// The commands ninja ran (none: not known, as with most `--build-cmd`s,
    /// or a state written before it was recorded).
    #[serde(default)]
    pub(crate) build_commands: Option<u64>,
    pub(crate) run_secs: f64,
    /// Why, in words: the run's outcome, or why it was skipped.
    pub(crate) reason: String,
}

impl StepRecord {
    /// A commit about to be built: skipped until a run says otherwise.
    pub(crate) fn untested(commit: &str, subject: String) -> Self {
        StepRecord {
            commit: commit.to_string(),
            subject,
            verdict: Verdict::Skip,
            outcome: None,
            qemu_version: None,
            build_secs: 0.0,
            configured: false,
            build_commands: None,
            run_secs: 0.0,
            reason: String::new(),
        }
    }
}

/// The state file's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) key: Key,
    /// Commit hash -> what it did.
    pub(crate) steps: BTreeMap<String, StepRecord>,
    /// The CSR fields a diagnosis of the bad end named (`henvcfg.ADUE`).
    pub(crate) diagnosed: Option<Vec<String>>,
}

impl State {
    /// The state in `path` if it belongs to `key`; a fresh one if there is
    /// none or `fresh` is asked for; an error if it belongs to another bisection.
    pub(crate) fn open(path: &Path, key: Key, fresh: bool) -> Result<(State, bool)> {
        if fresh || !path.exists() {
            return Ok((
                State {
                    key,
                    steps: BTreeMap::new(),
                    diagnosed: None,
                },
                false,
            ));
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let state: State = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a bisection state file; remove it, or pass --fresh",
                path.display()
            )
        })?;
        if state.key != key {
            bail!(
                "{} holds another bisection (good {}, bad {}, scenario {}); pass --fresh to discard it, or use another --build-dir",
                path.display(),
                state.key.good,
                state.key.bad,
                state.key.scenario.display()
            );
        }
        Ok((state, true))
    }

    /// Writes the state (to a temporary file, then renamed: an interruption
    /// leaves the old state or the new one, never half of one).
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).context("encoding the bisection state")?;
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key {
            source: "/src".into(),
            good: "a".into(),
            bad: "b".into(),
            scenario: "s.toml".into(),
            expect: false,
            build_cmd: None,
        }
    }

    #[test]
    fn a_saved_state_resumes_and_another_bisection_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let (mut s, resumed) = State::open(&path, key(), false).unwrap();
        assert!(!resumed);
        s.steps.insert(
            "c".into(),
            StepRecord {
                commit: "c".into(),
                subject: "x".into(),
                verdict: Verdict::Skip,
                outcome: None,
                qemu_version: None,
                build_secs: 1.0,
                configured: true,
                build_commands: Some(1446),
                run_secs: 0.0,
                reason: "build failed".into(),
            },
        );
        s.save(&path).unwrap();
        let (s2, resumed) = State::open(&path, key(), false).unwrap();
        assert!(resumed);
        assert_eq!(s2.steps["c"].verdict, Verdict::Skip);
        assert_eq!(s2.steps["c"].build_commands, Some(1446));
        // A state saved before the command count was recorded still resumes.
        let mut old: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        old["steps"]["c"]
            .as_object_mut()
            .unwrap()
            .remove("build_commands");
        std::fs::write(&path, old.to_string()).unwrap();
        let (s3, _) = State::open(&path, key(), false).unwrap();
        assert_eq!(s3.steps["c"].build_commands, None);
        let other = Key {
            bad: "z".into(),
            ..key()
        };
        let err = State::open(&path, other.clone(), false).unwrap_err();
        assert!(format!("{err:#}").contains("--fresh"), "{err:#}");
        assert!(State::open(&path, other, true).unwrap().0.steps.is_empty());
    }
}
