//! `hvharness report html`: the matrix as one self-contained HTML file (no
//! network, inline CSS and a few lines of JS), for a person opening a CI
//! artifact.
//!
//! The page holds the grid (scenario x QEMU: word, colour and time per
//! cell) and, per cell, the milestones on a timeline, the console tails, the
//! CSR stops with every field that changed since the scenario's previous QEMU
//! version marked (the snapshot diff of an upgrade), the CSR writes the run
//! traced (writer file:line, hart, value before and after), and the diagnosis.

use std::path::Path;

use anyhow::{Context, Result};
use minijinja::Environment;
use serde::Serialize;

use super::csr_writes::CsrWritesModel;
use super::schema::{Cell, CellStatus, ResultFile};
use super::view::{RunParts, StopView};

const TEMPLATE: &str = include_str!("report.html.j2");

/// Renders the page.
pub(crate) fn render(file: &ResultFile, title: &str) -> Result<String> {
    let page = Page::build(file, title);
    let mut env = Environment::new();
    // The `.html` name turns on HTML escaping of every value.
    env.add_template("report.html", TEMPLATE)
        .context("the report template")?;
    let tmpl = env
        .get_template("report.html")
        .context("the report template")?;
    tmpl.render(minijinja::value::Serde(&page))
        .context("rendering the report")
}

/// Renders the page into `path`.
pub(crate) fn write(file: &ResultFile, title: &str, path: &Path) -> Result<()> {
    let html = render(file, title)?;
    std::fs::write(path, html).with_context(|| format!("writing {}", path.display()))
}

#[derive(Serialize)]
struct Page {
    title: String,
    versions: Vec<String>,
    rows: Vec<Row>,
    counts: Vec<(String, String, usize)>,
    details: Vec<Detail>,
}

#[derive(Serialize)]
struct Row {
    scenario: String,
    cells: Vec<Option<GridCell>>,
}

#[derive(Serialize)]
struct GridCell {
    id: String,
    class: &'static str,
    word: &'static str,
    observed: String,
    time: Option<String>,
}

#[derive(Serialize)]
struct Detail {
    id: String,
    scenario: String,
    qemu: String,
    class: &'static str,
    word: &'static str,
    open: bool,
    reason: Option<String>,
    expected: Option<String>,
    observed: Option<String>,
    first_trap: Option<String>,
    time: Option<String>,
    timeline: Vec<Lane>,
    tails: Vec<(String, String)>,
    compared_with: Option<String>,
    changed_fields: usize,
    /// `henvcfg.ADUE`, each changed field once (harts repeat them).
    changed_names: Vec<String>,
    stops: Vec<StopModel>,
    /// Per traced CSR, its recorded writes.
    csr_writes: Vec<CsrWritesModel>,
    diagnosis: Option<String>,
}

/// One console's milestones on the run's time axis.
#[derive(Serialize)]
struct Lane {
    console: String,
    marks: Vec<Mark>,
}

#[derive(Serialize)]
struct Mark {
    pattern: String,
    at: String,
    /// Position on the axis, 0-100.
    pct: f64,
    /// For a milestone found with other output inside it.
    interleaved: Option<String>,
}

#[derive(Serialize)]
struct StopModel {
    title: String,
    instruction: Option<String>,
    csrs: Vec<CsrModel>,
}

#[derive(Serialize)]
struct CsrModel {
    name: String,
    raw: String,
    changed: bool,
    was: Option<String>,
    fields: Vec<FieldModel>,
}

#[derive(Serialize)]
struct FieldModel {
    name: String,
    value: String,
    changed: bool,
    was: Option<String>,
}

fn class(s: CellStatus) -> &'static str {
    match s {
        CellStatus::Passed => "pass",
        CellStatus::Failed => "fail",
        CellStatus::NoExpectation => "noexp",
        CellStatus::Skipped => "skip",
        CellStatus::Error => "error",
    }
}

/// An HTML id for a cell: letters, digits and dashes only.
fn cell_id(c: &Cell) -> String {
    let raw = format!("cell-{}-{}", c.scenario, c.qemu);
    raw.chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
        .collect()
}

impl Page {
    fn build(file: &ResultFile, title: &str) -> Page {
        let versions: Vec<String> = file.versions().into_iter().map(str::to_string).collect();
        let mut rows = Vec::new();
        let mut details = Vec::new();
        for scenario in file.scenarios() {
            let cells: Vec<Option<GridCell>> = versions
                .iter()
                .map(|v| {
                    file.cell(scenario, v).map(|c| GridCell {
                        id: cell_id(c),
                        class: class(c.status),
                        word: c.status.word(),
                        observed: c
                            .run
                            .as_ref()
                            .map(|r| r.parts().observed_word())
                            .unwrap_or_default(),
                        time: c.duration_secs.map(|d| format!("{d:.1} s")),
                    })
                })
                .collect();
            rows.push(Row {
                scenario: scenario.to_string(),
                cells,
            });
            // The previous version's stops of this scenario, for the diff.
            let mut previous: Option<(String, Vec<StopView>)> = None;
            for cell in file
                .sorted_cells()
                .into_iter()
                .filter(|c| c.scenario == scenario)
            {
                let run = cell.run.as_ref().map(|r| r.parts());
                let detail = Detail::build(cell, run, previous.as_ref());
                details.push(detail);
                if let Some(run) = run.filter(|r| !r.stops.is_empty()) {
                    previous = Some((cell.qemu.clone(), run.stops.clone()));
                }
            }
        }
        let mut counts = Vec::new();
        for s in [
            CellStatus::Passed,
            CellStatus::Failed,
            CellStatus::Error,
            CellStatus::NoExpectation,
            CellStatus::Skipped,
        ] {
            let n = file.cells.iter().filter(|c| c.status == s).count();
            if n > 0 {
                counts.push((class(s).to_string(), s.word().to_string(), n));
            }
        }
        Page {
            title: title.to_string(),
            versions,
            rows,
            counts,
            details,
        }
    }
}

impl Detail {
    fn build(
        cell: &Cell,
        run: Option<&RunParts>,
        previous: Option<&(String, Vec<StopView>)>,
    ) -> Detail {
        let mut stops = Vec::new();
        let mut changed_fields = 0;
        let mut changed_names: Vec<String> = Vec::new();
        if let Some(run) = run {
            for stop in &run.stops {
                let base = previous.and_then(|(_, p)| {
                    p.iter()
                        .find(|b| b.breakpoint == stop.breakpoint && b.hart == stop.hart)
                        .or_else(|| p.iter().find(|b| b.breakpoint == stop.breakpoint))
                });
                let model = stop_model(stop, base);
                for c in &model.csrs {
                    for f in c.fields.iter().filter(|f| f.changed) {
                        changed_fields += 1;
                        let name = format!("{}.{}", c.name, f.name);
                        if !changed_names.contains(&name) {
                            changed_names.push(name);
                        }
                    }
                }
                stops.push(model);
            }
        }
        Detail {
            id: cell_id(cell),
            scenario: cell.scenario.clone(),
            qemu: cell.qemu.clone(),
            class: class(cell.status),
            word: cell.status.word(),
            // What a reader came for: failures, and hangs that were explained.
            open: matches!(cell.status, CellStatus::Failed | CellStatus::Error)
                || cell.diagnosis.is_some(),
            reason: cell.reason.clone(),
            expected: run.and_then(|r| r.expected_text()),
            observed: run.map(|r| r.observed_text()),
            first_trap: run.and_then(|r| r.first_trap_text()),
            time: cell.duration_secs.map(|d| format!("{d:.2} s")),
            timeline: run.map(timeline).unwrap_or_default(),
            tails: run.map(|r| r.console_tails()).unwrap_or_default(),
            compared_with: previous
                .filter(|_| !stops.is_empty())
                .map(|(v, _)| v.clone()),
            changed_fields,
            changed_names,
            stops,
            csr_writes: run
                .and_then(|r| r.csr_writes.as_ref())
                .map(|w| w.model())
                .unwrap_or_default(),
            diagnosis: cell.diagnosis.as_ref().map(|d| d.text.clone()),
        }
    }
}

fn timeline(run: &RunParts) -> Vec<Lane> {
    let end = run
        .milestones
        .iter()
        .map(|m| m.at_secs)
        .fold(run.duration_secs, f64::max)
        .max(0.001);
    let mut lanes: Vec<Lane> = Vec::new();
    for m in &run.milestones {
        let mark = Mark {
            pattern: m.pattern.clone(),
            at: format!("{:.3} s", m.at_secs),
            pct: (m.at_secs / end * 100.0).clamp(0.0, 100.0),
            interleaved: m.interleaved_words(),
        };
        match lanes.iter_mut().find(|l| l.console == m.console) {
            Some(l) => l.marks.push(mark),
            None => lanes.push(Lane {
                console: m.console.clone(),
                marks: vec![mark],
            }),
        }
    }
    lanes
}

fn stop_model(stop: &StopView, base: Option<&StopView>) -> StopModel {
    let csrs = stop
        .csrs
        .iter()
        .map(|c| {
            let old = base.and_then(|b| b.csrs.iter().find(|o| o.name == c.name));
            let old_fields = old.map(|o| o.field_values()).unwrap_or_default();
            let fields = c
                .field_values()
                .into_iter()
                .map(|(name, value)| {
                    let was = old_fields
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| v.clone());
                    let changed = was.as_ref().is_some_and(|w| *w != value);
                    FieldModel {
                        name,
                        value,
                        changed,
                        was: was.filter(|_| changed),
                    }
                })
                .collect();
            let raw = c.raw_text();
            let was = old.map(|o| o.raw_text()).filter(|w| *w != raw);
            CsrModel {
                name: c.name.clone(),
                raw,
                changed: was.is_some(),
                was,
                fields,
            }
        })
        .collect();
    StopModel {
        title: format!(
            "{} on hart {} ({}): {}",
            stop.breakpoint, stop.hart, stop.privilege_name, stop.place
        ),
        instruction: stop.instruction.clone(),
        csrs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_ids() {
        let mut c = Cell::not_run(
            "a<b>",
            "9.2.0",
            CellStatus::Skipped,
            "<script>x</script>".into(),
        );
        c.scenario = "a<b>".into();
        let html = render(&ResultFile::new(None, vec![c]), "t").unwrap();
        assert!(!html.contains("<script>x"), "values are escaped");
        assert!(html.contains("&lt;script&gt;x"), "{html}");
        assert!(html.contains("id=\"cell-a-b--9-2-0\""), "{html}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no network references"
        );
    }

    #[test]
    fn a_traced_cells_csr_writes() {
        let mut c = Cell::not_run("s", "9.2.0", CellStatus::NoExpectation, String::new());
        let run = serde_json::json!({
            "csr_writes": {
                "csrs": ["henvcfg", "menvcfg"],
                "writers": [{"csr": "henvcfg"}],
                "writes": [{
                    "csr": "henvcfg", "hart": 1, "privilege": "HS", "place": "hart.c:40",
                    "instruction": "csrs henvcfg, a5", "operand": "a5",
                    "value": 9223372036854775808u64, "before": 0,
                    "after": 9223372036854775808u64
                }]
            }
        });
        c.run = Some(serde_json::from_value(run).expect("a run record"));
        let html = render(&ResultFile::new(None, vec![c]), "t").unwrap();
        assert!(html.contains("<h3>CSR writes</h3>"), "{html}");
        assert!(
            html.contains("<td class=\"name\">hart.c:40</td><td><code>csrs henvcfg, a5</code></td><td>1 (HS)</td><td>a5 = 0x8000000000000000</td><td>0x0</td><td>0x8000000000000000</td>"),
            "{html}"
        );
        assert!(
            html.contains("menvcfg</h4><p class=\"note\">no instruction in the images writes it"),
            "{html}"
        );
        // An untraced run has no such part.
        let plain = Cell::not_run("s", "9.2.0", CellStatus::Skipped, String::new());
        let html = render(&ResultFile::new(None, vec![plain]), "t").unwrap();
        assert!(!html.contains("CSR writes"), "{html}");
    }
}
