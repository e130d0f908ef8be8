//! A run as the result file keeps it: [`RunRecord`], written from a
//! [`RunReport`] and read back with serde, and the parts every renderer
//! (text, HTML, JUnit) takes from it, each rendered here once: the
//! expectation, the observation, the first-trap line and the console tails.

use serde::de::{Deserializer, Error as _, IgnoredAny};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::kept::Kept;

use crate::qemu::trap_log::LoggedTrap;
use crate::runner::{MilestoneHit, Observed, RunReport};
use crate::scenario::OutcomeKind;

/// The version of the run record this hvharness writes and reads: the
/// `record_version` field of each cell's `run`. A record without the field
/// was written before it existed, with the same fields: it reads as version 1.
pub const RECORD_VERSION: u64 = 1;

/// The field that holds [`RECORD_VERSION`].
const VERSION_FIELD: &str = "record_version";

/// How many console lines a report shows per console (text, HTML and JUnit alike).
pub(crate) const TAIL_LINES: usize = 20;

/// One run in the result file: every field of its [`RunReport`] as written
/// (so a merge or a copy keeps them all, also those this version does not
/// render), and the typed parts the renderers read, taken from those fields
/// once, when the record is made or read.
#[derive(Debug, Clone)]
pub struct RunRecord {
    kept: Kept<RunParts>,
}

/// The parts of a run the renderers read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RunParts {
    pub(crate) expected: Option<OutcomeKind>,
    pub(crate) because: Option<String>,
    pub(crate) observed: Option<ObservedRecord>,
    pub(crate) milestones: Vec<MilestoneHit>,
    /// Whether the expectation names a trap: `first_trap` is then the match.
    #[serde(rename = "expected_trap", deserialize_with = "present")]
    pub(crate) names_trap: bool,
    pub(crate) first_trap: Option<LoggedTrap>,
    pub(crate) first_trap_places: Vec<String>,
    pub(crate) transcripts: Vec<(String, String)>,
    pub(crate) stops: Vec<StopView>,
    pub(crate) duration_secs: f64,
    /// The CSR writes the run recorded, when it traced CSRs.
    pub(crate) csr_writes: Option<super::csr_writes::CsrWritesView>,
}

/// A field that is there and not null.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<IgnoredAny>::deserialize(d)?.is_some())
}

/// What was observed, with why a hang was called early in the words the
/// file keeps (the run's own reason is a type the file does not read back).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ObservedRecord {
    #[serde(flatten)]
    pub(crate) observed: Observed,
    #[serde(default)]
    pub(crate) early: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct StopView {
    pub(crate) breakpoint: String,
    pub(crate) hart: u32,
    pub(crate) privilege_name: String,
    pub(crate) place: String,
    pub(crate) instruction: Option<String>,
    pub(crate) csrs: Vec<CsrView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CsrView {
    pub(crate) name: String,
    pub(crate) raw: Option<u64>,
    pub(crate) decoded: Option<DecodedView>,
    pub(crate) missing: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DecodedView {
    pub(crate) fields: Vec<FieldView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FieldView {
    pub(crate) name: String,
    pub(crate) value: u64,
    pub(crate) symbol: Option<String>,
}

impl RunRecord {
    /// The record of a finished run.
    pub(crate) fn of(report: &RunReport) -> anyhow::Result<RunRecord> {
        use anyhow::Context as _;
        let Value::Object(mut fields) =
            serde_json::to_value(report).context("encoding a run report")?
        else {
            anyhow::bail!("a run report did not encode as a JSON object");
        };
        fields.insert(VERSION_FIELD.to_string(), RECORD_VERSION.into());
        RunRecord::from_fields(fields).map_err(anyhow::Error::msg)
    }

    /// Reads the typed parts of `fields`, after checking the version.
    fn from_fields(fields: Map<String, Value>) -> Result<RunRecord, String> {
        match fields.get(VERSION_FIELD) {
            None => {}
            Some(v) if v.as_u64() == Some(RECORD_VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "its run record is version {v}; this hvharness reads version {RECORD_VERSION}"
                ))
            }
        }
        let kept = Kept::read(Value::Object(fields))
            .map_err(|e| format!("its run record does not read: {e}"))?;
        Ok(RunRecord { kept })
    }

    /// The parts the renderers read.
    pub(crate) fn parts(&self) -> &RunParts {
        self.kept.typed()
    }

    /// One field as written (for what no renderer reads yet).
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.kept.json().get(name)
    }

    /// `booted`, `hung` or `exited`, as the run observed it; empty when the
    /// record does not say.
    pub fn observed_word(&self) -> String {
        self.parts().observed_word()
    }
}

impl Serialize for RunRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.kept.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RunRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RunRecord::from_fields(Map::deserialize(d)?).map_err(D::Error::custom)
    }
}

impl RunParts {
    /// The observation in words: `hung: console vm0 never printed /init/ (after /booting/)`.
    pub(crate) fn observed_text(&self) -> String {
        let Some(o) = &self.observed else {
            return String::new();
        };
        match &o.early {
            Some(e) => format!("{}; {e}", o.observed),
            None => o.observed.to_string(),
        }
    }

    /// `booted`, `hung` or `exited`; empty when the file does not say.
    pub(crate) fn observed_word(&self) -> String {
        self.observed
            .as_ref()
            .map(|o| o.observed.class().to_string())
            .unwrap_or_default()
    }

    /// The expectation and why, when the scenario states one.
    pub(crate) fn expected_text(&self) -> Option<String> {
        expected_text(self.expected.as_ref(), self.because.as_deref())
    }

    /// The first trap in words, with its places.
    pub(crate) fn first_trap_text(&self) -> Option<String> {
        self.first_trap
            .as_ref()
            .map(|t| first_trap_line(t, &self.first_trap_places, self.names_trap))
    }

    /// The last [`TAIL_LINES`] lines of each console.
    pub(crate) fn console_tails(&self) -> Vec<(String, String)> {
        self.transcripts
            .iter()
            .map(|(name, text)| (name.clone(), console_tail(text).join("\n")))
            .collect()
    }
}

/// `hangs (the reason)`: what the scenario expects of this version.
pub(crate) fn expected_text(kind: Option<&OutcomeKind>, because: Option<&str>) -> Option<String> {
    kind.map(|k| {
        format!(
            "{k}{}",
            because.map(|b| format!(" ({b})")).unwrap_or_default()
        )
    })
}

/// `first trap: hart 0 cause 0xc (...) epc ... tval ... in guest:f+0x1e`;
/// with an expected trap (`expected`), the record that matched it.
pub(crate) fn first_trap_line(t: &LoggedTrap, places: &[String], expected: bool) -> String {
    let label = if expected {
        "expected trap seen"
    } else {
        "first trap"
    };
    let places = if places.is_empty() {
        String::new()
    } else {
        format!(" in {}", places.join(" or "))
    };
    format!(
        "{label}: hart {} cause {:#x} ({}) epc {:#x} tval {:#x}{places}",
        t.hart, t.cause, t.desc, t.epc, t.tval
    )
}

/// A console's last [`TAIL_LINES`] lines.
pub(crate) fn console_tail(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].to_vec()
}

impl CsrView {
    /// `henvcfg.ADUE` -> `1`, with the symbol when there is one.
    pub(crate) fn field_values(&self) -> Vec<(String, String)> {
        match &self.decoded {
            Some(d) => d
                .fields
                .iter()
                .map(|f| {
                    let v = match &f.symbol {
                        Some(s) => format!("{} ({s})", f.value),
                        None => f.value.to_string(),
                    };
                    (f.name.clone(), v)
                })
                .collect(),
            None => Vec::new(),
        }
    }

    /// The raw value in hex, or why there is none.
    pub(crate) fn raw_text(&self) -> String {
        match (self.raw, &self.missing) {
            (Some(v), _) => format!("{v:#x}"),
            (None, Some(why)) => format!("<{why}>"),
            (None, None) => "<no value>".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(run: serde_json::Value) -> Result<RunRecord, serde_json::Error> {
        serde_json::from_value(run)
    }

    /// The result file's observation reads as the run's own does, with the
    /// early reason the file keeps in words.
    #[test]
    fn observations_from_the_file_read_as_the_runs_own() {
        let hung = record(serde_json::json!({"observed": {
            "kind": "hung", "console": "vm0", "missing": "init", "last_seen": null,
            "early": "hart 0 parked in park (wfi loop, HS)"
        }}))
        .unwrap();
        assert_eq!(
            hung.parts().observed_text(),
            "hung: console vm0 never printed /init/ (last milestone: nothing); \
             hart 0 parked in park (wfi loop, HS)"
        );
        assert_eq!(hung.parts().observed_word(), "hung");
        let exited = record(serde_json::json!({"observed": {
            "kind": "exited", "console": "con", "missing": "$ "
        }}))
        .unwrap();
        assert_eq!(
            exited.parts().observed_text(),
            "QEMU exited before console con printed /$ /"
        );
        let none = record(serde_json::json!({})).unwrap();
        assert_eq!(
            (none.parts().observed_text(), none.parts().observed_word()),
            (String::new(), String::new())
        );
    }

    /// A record without a version (written before the field) reads as
    /// version 1 and is written back with every field it had; another
    /// version is refused by name.
    #[test]
    fn versions_and_fields_kept() {
        let old = serde_json::json!({
            "expected_trap": {"cause": 12}, "hot_pages": {"warning": null},
            "first_trap": {"hart": 1, "interrupt": false, "cause": 12, "epc": 4096, "tval": 4098, "desc": "exec_page_fault"},
            "first_trap_places": ["guest:kvminithart+0x1e"]
        });
        let r = record(old.clone()).unwrap();
        assert_eq!(serde_json::to_value(&r).unwrap(), old);
        assert_eq!(
            r.parts().first_trap_text().unwrap(),
            "expected trap seen: hart 1 cause 0xc (exec_page_fault) epc 0x1000 tval 0x1002 \
             in guest:kvminithart+0x1e"
        );
        assert!(record(serde_json::json!({"record_version": 1})).is_ok());
        let e = record(serde_json::json!({"record_version": 2})).unwrap_err();
        assert!(e.to_string().contains("version 2"), "{e}");
    }

    #[test]
    fn console_tails_keep_the_last_lines() {
        let text: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let tail = console_tail(&text);
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail.last(), Some(&"line 29"));
    }
}
