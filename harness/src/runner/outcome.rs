//! How a run's outcome reads: one `Display` for [`Observed`], [`Verdict`] and
//! [`OutcomeClass`], used by every renderer (terminal text, the result
//! file's HTML and JUnit views, `diagnose`, `bisect`).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Observed, Verdict};

/// What a run ended in, without the details: the `kind` of an [`Observed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeClass {
    Booted,
    Hung,
    Exited,
}

impl OutcomeClass {
    /// For a sentence: "... where NAME hangs".
    pub(crate) fn verb(self) -> &'static str {
        match self {
            OutcomeClass::Booted => "boots",
            OutcomeClass::Hung => "hangs",
            OutcomeClass::Exited => "exits before booting",
        }
    }

    /// One word: `booted`, `hung`, `exited` (the result file's `kind`).
    pub(crate) fn word(self) -> &'static str {
        match self {
            OutcomeClass::Booted => "booted",
            OutcomeClass::Hung => "hung",
            OutcomeClass::Exited => "exited",
        }
    }
}

impl fmt::Display for OutcomeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.word())
    }
}

impl Observed {
    /// Booted, hung or exited.
    pub(crate) fn class(&self) -> OutcomeClass {
        match self {
            Observed::Booted => OutcomeClass::Booted,
            Observed::Hung { .. } => OutcomeClass::Hung,
            Observed::Exited { .. } => OutcomeClass::Exited,
        }
    }
}

/// The observation in words, without why a hang was called early:
/// `hung: console vm0 never printed /init/ (last milestone: /booting/)`.
impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observed::Booted => f.write_str("booted: every console printed every milestone"),
            Observed::Hung {
                console,
                missing,
                last_seen,
                ..
            } => {
                write!(
                    f,
                    "hung: console {console} never printed /{missing}/ (last milestone: "
                )?;
                match last_seen {
                    Some(l) => write!(f, "/{l}/)"),
                    None => f.write_str("nothing)"),
                }
            }
            Observed::Exited { console, missing } => {
                write!(
                    f,
                    "QEMU exited before console {console} printed /{missing}/"
                )
            }
        }
    }
}

impl Verdict {
    /// One word: `ok`, `FAIL`, `no expectation`.
    pub(crate) fn word(&self) -> &'static str {
        match self {
            Verdict::AsExpected => "ok",
            Verdict::Unexpected(_) => "FAIL",
            Verdict::NoExpectation => "no expectation",
        }
    }
}

/// The word, and for a failure why: `FAIL: expected a boot, but ...`.
impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Unexpected(why) => write!(f, "FAIL: {why}"),
            v => f.pad(v.word()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hung(last: Option<&str>) -> Observed {
        Observed::Hung {
            console: "vm0".into(),
            missing: "init".into(),
            last_seen: last.map(str::to_string),
            early: None,
        }
    }

    #[test]
    fn observations_read_as_one_line() {
        assert_eq!(
            hung(Some("booting")).to_string(),
            "hung: console vm0 never printed /init/ (last milestone: /booting/)"
        );
        assert_eq!(
            hung(None).to_string(),
            "hung: console vm0 never printed /init/ (last milestone: nothing)"
        );
        let exited = Observed::Exited {
            console: "con".into(),
            missing: "\\$ ".into(),
        };
        assert_eq!(
            exited.to_string(),
            "QEMU exited before console con printed /\\$ /"
        );
        assert_eq!(
            Observed::Booted.to_string(),
            "booted: every console printed every milestone"
        );
    }

    #[test]
    fn the_class_word_is_the_result_files_kind() {
        for o in [
            hung(None),
            Observed::Booted,
            Observed::Exited {
                console: "c".into(),
                missing: "m".into(),
            },
        ] {
            let json = serde_json::to_value(&o).unwrap();
            assert_eq!(json["kind"], o.class().word());
            assert_eq!(serde_json::to_value(o.class()).unwrap(), o.class().word());
        }
    }

    /// The early reason is a type in the run and words in the result file
    /// (`early` stays a string there); the words are not read back.
    #[test]
    fn the_early_reason_is_kept_in_words() {
        let why = super::super::hang::NoProgress::NoInput {
            console: "con".into(),
            waited: std::time::Duration::from_millis(2500),
        };
        let o = Observed::Hung {
            console: "con".into(),
            missing: "polo".into(),
            last_seen: None,
            early: Some(why),
        };
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["early"], "console con took no input for 2.5 s");
        let back: Observed = serde_json::from_value(json).unwrap();
        assert!(matches!(back, Observed::Hung { early: None, .. }));
        assert_eq!(back.to_string(), o.to_string());
    }

    #[test]
    fn verdicts_read_as_a_word_and_a_reason() {
        assert_eq!(Verdict::AsExpected.to_string(), "ok");
        assert_eq!(Verdict::NoExpectation.to_string(), "no expectation");
        let v = Verdict::Unexpected("expected a boot".into());
        assert_eq!(
            (v.word(), v.to_string().as_str()),
            ("FAIL", "FAIL: expected a boot")
        );
    }
}
