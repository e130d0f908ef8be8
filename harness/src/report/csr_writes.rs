//! The HTML report's CSR writes of a cell: per traced CSR, each recorded
//! write (writer file:line, hart, value before and after), the hits beyond
//! the recorded ones per writer and hart (counted, and until when), the
//! changes made outside the images we know, and a CSR nothing in the images
//! writes. Read back from the run report's `csr_writes` (present when the
//! run traced CSRs: `trace_csrs` in the scenario).

use serde::{Deserialize, Serialize};

use crate::provenance::UnrecordedHits;

/// The run report's `csr_writes`, as far as the report reads it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CsrWritesView {
    csrs: Vec<String>,
    writers: Vec<WriterView>,
    writes: Vec<WriteView>,
    unrecorded: Vec<UnrecordedHits>,
    outside: Vec<OutsideView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WriterView {
    csr: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct WriteView {
    csr: String,
    hart: u32,
    privilege: String,
    place: String,
    instruction: String,
    operand: String,
    value: Option<u64>,
    before: Option<u64>,
    after: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct OutsideView {
    csr: String,
    hart: u32,
    was: u64,
    became: u64,
    seen_at: String,
}

/// One traced CSR in the cell.
#[derive(Debug, Serialize)]
pub(crate) struct CsrWritesModel {
    csr: String,
    /// Why there is no row, when there is none.
    note: Option<String>,
    rows: Vec<WriteRow>,
}

/// One write, or one change made outside the images.
#[derive(Debug, Serialize)]
struct WriteRow {
    /// `hart.c:40`, or `outside the images we know`.
    writer: String,
    /// `csrs henvcfg, a5` (empty for an outside change).
    instruction: String,
    hart: u32,
    privilege: String,
    /// `a5 = 0x8000000000000000`.
    operand: String,
    before: String,
    after: String,
}

fn hex(v: Option<u64>) -> String {
    v.map(|v| format!("{v:#x}")).unwrap_or_else(|| "?".into())
}

impl CsrWritesView {
    /// Per traced CSR, its rows in time order.
    pub(crate) fn model(&self) -> Vec<CsrWritesModel> {
        self.csrs
            .iter()
            .map(|csr| {
                let mut rows: Vec<WriteRow> = self
                    .writes
                    .iter()
                    .filter(|w| &w.csr == csr)
                    .map(|w| WriteRow {
                        writer: w.place.clone(),
                        instruction: w.instruction.clone(),
                        hart: w.hart,
                        privilege: w.privilege.clone(),
                        operand: match w.value {
                            Some(v) => format!("{} = {v:#x}", w.operand),
                            None => w.operand.clone(),
                        },
                        before: hex(w.before),
                        after: hex(w.after),
                    })
                    .collect();
                rows.extend(
                    self.unrecorded
                        .iter()
                        .filter(|u| &u.csr == csr)
                        .map(|u| WriteRow {
                            writer: u.place.clone(),
                            instruction: u.instruction.clone(),
                            hart: u.hart,
                            privilege: String::new(),
                            operand: u.text(),
                            before: String::new(),
                            after: String::new(),
                        }),
                );
                rows.extend(
                    self.outside
                        .iter()
                        .filter(|o| &o.csr == csr)
                        .map(|o| WriteRow {
                            writer: "outside the images we know".into(),
                            instruction: String::new(),
                            hart: o.hart,
                            privilege: String::new(),
                            operand: format!("seen before {}", o.seen_at),
                            before: format!("{:#x}", o.was),
                            after: format!("{:#x}", o.became),
                        }),
                );
                let note = rows.is_empty().then(|| {
                    if self.writers.iter().any(|w| &w.csr == csr) {
                        "its writers did not run".to_string()
                    } else {
                        "no instruction in the images writes it".to_string()
                    }
                });
                CsrWritesModel {
                    csr: csr.clone(),
                    note,
                    rows,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_per_csr_with_outside_changes_and_silent_csrs() {
        let view: CsrWritesView = serde_json::from_value(serde_json::json!({
            "csrs": ["henvcfg", "hideleg", "menvcfg"],
            "writers": [{"csr": "henvcfg"}, {"csr": "hideleg"}],
            "writes": [{
                "csr": "henvcfg", "hart": 1, "privilege": "HS", "place": "hart.c:40",
                "instruction": "csrs henvcfg, a5", "operand": "a5",
                "value": 9223372036854775808u64, "before": 0,
                "after": 9223372036854775808u64, "at_secs": 0.1
            }],
            "unrecorded": [{
                "csr": "henvcfg", "place": "hart.c:40", "instruction": "csrs henvcfg, a5",
                "hart": 1, "recorded": 1, "more": 3, "counted": "end_of_run"
            }],
            "outside": [{"csr": "henvcfg", "hart": 1, "was": 0, "became": 1, "seen_at": "hart.c:40"}]
        }))
        .expect("the run report's shape");
        let m = view.model();
        assert_eq!(m.len(), 3);
        let row = &m[0].rows[0];
        assert_eq!(
            (row.writer.as_str(), row.hart, row.operand.as_str()),
            ("hart.c:40", 1, "a5 = 0x8000000000000000")
        );
        assert_eq!(
            (row.before.as_str(), row.after.as_str()),
            ("0x0", "0x8000000000000000")
        );
        let more = &m[0].rows[1];
        assert_eq!(
            (more.writer.as_str(), more.hart, more.operand.as_str()),
            (
                "hart.c:40",
                1,
                "3 more hits not recorded (the breakpoint stayed in: counted to the end of the run)"
            )
        );
        assert_eq!(m[0].rows[2].writer, "outside the images we know");
        assert_eq!(m[1].note.as_deref(), Some("its writers did not run"));
        assert_eq!(
            m[2].note.as_deref(),
            Some("no instruction in the images writes it")
        );
    }
}
