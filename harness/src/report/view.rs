//! The parts of a cell's run report that the renderers read, taken back
//! from the result file's JSON (fields not named here are ignored, so the
//! run report may grow without breaking old readers).

use serde::Deserialize;

use super::schema::Cell;

/// How many console lines a report shows per console.
pub(crate) const TAIL_LINES: usize = 20;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RunView {
    pub expected: Option<String>,
    pub because: Option<String>,
    pub observed: ObservedView,
    pub milestones: Vec<MilestoneView>,
    /// Present when the expectation names a trap: `first_trap` is then the match.
    pub expected_trap: Option<serde::de::IgnoredAny>,
    pub first_trap: Option<TrapView>,
    pub first_trap_places: Vec<String>,
    pub transcripts: Vec<(String, String)>,
    pub stops: Vec<StopView>,
    pub duration_secs: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ObservedView {
    pub kind: String,
    pub console: Option<String>,
    pub missing: Option<String>,
    pub last_seen: Option<String>,
    pub early: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MilestoneView {
    pub console: String,
    pub pattern: String,
    pub at_secs: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TrapView {
    pub hart: u64,
    pub cause: u64,
    pub epc: u64,
    pub tval: u64,
    pub desc: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct StopView {
    pub breakpoint: String,
    pub hart: u32,
    pub privilege_name: String,
    pub place: String,
    pub instruction: Option<String>,
    pub csrs: Vec<CsrView>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CsrView {
    pub name: String,
    pub raw: Option<u64>,
    pub decoded: Option<DecodedView>,
    pub missing: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DecodedView {
    pub fields: Vec<FieldView>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FieldView {
    pub name: String,
    pub value: u64,
    pub symbol: Option<String>,
}

impl RunView {
    /// The run of `cell`, when it ran and its report reads.
    pub fn of(cell: &Cell) -> Option<RunView> {
        cell.run
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// The observation in words: `hung: console vm0 never printed /init/ (after /booting/)`.
    pub fn observed_text(&self) -> String {
        let o = &self.observed;
        let console = o.console.as_deref().unwrap_or("?");
        let missing = o.missing.as_deref().unwrap_or("?");
        match o.kind.as_str() {
            "booted" => "booted: every console printed every milestone".to_string(),
            "hung" => {
                let last = o
                    .last_seen
                    .as_deref()
                    .map(|l| format!("/{l}/"))
                    .unwrap_or_else(|| "nothing".into());
                let early = o
                    .early
                    .as_deref()
                    .map(|e| format!("; {e}"))
                    .unwrap_or_default();
                format!("hung: console {console} never printed /{missing}/ (last milestone: {last}){early}")
            }
            "exited" => format!("QEMU exited before console {console} printed /{missing}/"),
            other => other.to_string(),
        }
    }

    /// The first trap in words, with its places.
    pub fn first_trap_text(&self) -> Option<String> {
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
    pub fn console_tails(&self) -> Vec<(String, String)> {
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
    pub fn field_values(&self) -> Vec<(String, String)> {
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
    pub fn raw_text(&self) -> String {
        match (self.raw, &self.missing) {
            (Some(v), _) => format!("{v:#x}"),
            (None, Some(why)) => format!("<{why}>"),
            (None, None) => "<no value>".to_string(),
        }
    }
}
