//! The parts of a cell's run report that the renderers read, taken back
//! from the result file's JSON (fields not named here are ignored, so the
//! run report may grow without breaking old readers).

use serde::Deserialize;

use super::schema::Cell;
use crate::runner::Observed;

/// How many console lines a report shows per console.
pub(crate) const TAIL_LINES: usize = 20;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RunView {
    pub(crate) expected: Option<String>,
    pub(crate) because: Option<String>,
    pub(crate) observed: Option<ObservedView>,
    pub(crate) milestones: Vec<MilestoneView>,
    /// Present when the expectation names a trap: `first_trap` is then the match.
    pub(crate) expected_trap: Option<serde::de::IgnoredAny>,
    pub(crate) first_trap: Option<TrapView>,
    pub(crate) first_trap_places: Vec<String>,
    pub(crate) transcripts: Vec<(String, String)>,
    pub(crate) stops: Vec<StopView>,
    pub(crate) duration_secs: f64,
    /// The CSR writes the run recorded, when it traced CSRs.
    pub(crate) csr_writes: Option<super::csr_writes::CsrWritesView>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ObservedView {
    #[serde(flatten)]
    pub(crate) observed: Observed,
    /// Why a hang was called early, in the words the file keeps.
    #[serde(default)]
    pub(crate) early: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MilestoneView {
    pub(crate) console: String,
    pub(crate) pattern: String,
    pub(crate) at_secs: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TrapView {
    pub(crate) hart: u64,
    pub(crate) cause: u64,
    pub(crate) epc: u64,
    pub(crate) tval: u64,
    pub(crate) desc: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct StopView {
    pub(crate) breakpoint: String,
    pub(crate) hart: u32,
    pub(crate) privilege_name: String,
    pub(crate) place: String,
    pub(crate) instruction: Option<String>,
    pub(crate) csrs: Vec<CsrView>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CsrView {
    pub(crate) name: String,
    pub(crate) raw: Option<u64>,
    pub(crate) decoded: Option<DecodedView>,
    pub(crate) missing: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DecodedView {
    pub(crate) fields: Vec<FieldView>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FieldView {
    pub(crate) name: String,
    pub(crate) value: u64,
    pub(crate) symbol: Option<String>,
}

impl RunView {
    /// The run of `cell`, when it ran and its report reads.
    pub(crate) fn of(cell: &Cell) -> Option<RunView> {
        cell.run
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

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

    /// The first trap in words, with its places.
    pub(crate) fn first_trap_text(&self) -> Option<String> {
        self.first_trap.as_ref().map(|t| {
            let places = if self.first_trap_places.is_empty() {
                String::new()
            } else {
                format!(" in {}", self.first_trap_places.join(" or "))
            };
            let label = if self.expected_trap.is_some() {
                "expected trap seen"
            } else {
                "first trap"
            };
            format!(
                "{label}: hart {} cause {:#x} ({}) epc {:#x} tval {:#x}{places}",
                t.hart, t.cause, t.desc, t.epc, t.tval
            )
        })
    }

    /// The last [`TAIL_LINES`] lines of each console.
    pub(crate) fn console_tails(&self) -> Vec<(String, String)> {
        self.transcripts
            .iter()
            .map(|(name, text)| {
                (
                    name.clone(),
                    super::text::last_lines(text, TAIL_LINES).join("\n"),
                )
            })
            .collect()
    }
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

    fn view(run: serde_json::Value) -> RunView {
        serde_json::from_value(run).unwrap()
    }

    /// The result file's observation reads as the run's own does, with the
    /// early reason the file keeps in words.
    #[test]
    fn observations_from_the_file_read_as_the_runs_own() {
        let hung = view(serde_json::json!({"observed": {
            "kind": "hung", "console": "vm0", "missing": "init", "last_seen": null,
            "early": "hart 0 parked in park (wfi loop, HS)"
        }}));
        assert_eq!(
            hung.observed_text(),
            "hung: console vm0 never printed /init/ (last milestone: nothing); \
             hart 0 parked in park (wfi loop, HS)"
        );
        assert_eq!(hung.observed_word(), "hung");
        let exited = view(serde_json::json!({"observed": {
            "kind": "exited", "console": "con", "missing": "$ "
        }}));
        assert_eq!(
            exited.observed_text(),
            "QEMU exited before console con printed /$ /"
        );
        let none = view(serde_json::json!({}));
        assert_eq!(
            (none.observed_text(), none.observed_word()),
            (String::new(), String::new())
        );
    }
}
