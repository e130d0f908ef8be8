//! JUnit XML for CI systems: one testsuite per scenario, one testcase per
//! QEMU version. A failed cell carries the verdict's reason as its message
//! and, as system-out, what a person needs to see first: what was observed,
//! the first trap, the console tails and the diagnosis.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::schema::{Cell, CellStatus, ResultFile};

/// The JUnit report of a result file.
pub(crate) fn report(file: &ResultFile) -> Report {
    let mut report = Report::new("hvharness");
    let mut total = 0.0;
    for scenario in file.scenarios() {
        let mut suite = TestSuite::new(scenario);
        let mut time = 0.0;
        for cell in file
            .sorted_cells()
            .into_iter()
            .filter(|c| c.scenario == scenario)
        {
            time += cell.duration_secs.unwrap_or(0.0);
            suite.add_test_case(test_case(cell));
        }
        suite.set_time(Duration::from_secs_f64(time.max(0.0)));
        total += time;
        report.add_test_suite(suite);
    }
    report.set_time(Duration::from_secs_f64(total.max(0.0)));
    report
}

/// Writes the JUnit XML of `file` to `path`.
pub(crate) fn write(file: &ResultFile, path: &Path) -> Result<()> {
    let xml = report(file).to_string().context("encoding JUnit XML")?;
    std::fs::write(path, xml).with_context(|| format!("writing {}", path.display()))
}

fn test_case(cell: &Cell) -> TestCase {
    let reason = cell.reason.clone().unwrap_or_default();
    let status = match cell.status {
        CellStatus::Passed | CellStatus::NoExpectation => TestCaseStatus::success(),
        CellStatus::Failed | CellStatus::Error => {
            let kind = if cell.status == CellStatus::Failed {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(reason.as_str());
            s.set_type(if cell.status == CellStatus::Failed {
                "unexpected outcome"
            } else {
                "harness error"
            });
            s
        }
        CellStatus::Skipped => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(reason.as_str());
            s
        }
    };
    let mut case = TestCase::new(format!("qemu {}", cell.qemu), status);
    case.set_classname(cell.scenario.as_str());
    if let Some(d) = cell.duration_secs {
        case.set_time(Duration::from_secs_f64(d.max(0.0)));
    }
    let out = system_out(cell);
    if !out.is_empty() {
        case.set_system_out(out);
    }
    case
}

/// What was observed, the first trap, the console tails and the diagnosis.
fn system_out(cell: &Cell) -> String {
    let mut s = String::new();
    if cell.status == CellStatus::NoExpectation {
        s.push_str(cell.reason.as_deref().unwrap_or_default());
        s.push('\n');
    }
    if let Some(run) = cell.run.as_ref().map(|r| r.parts()) {
        if let Some(expected) = run.expected_text() {
            s.push_str(&format!("expected: {expected}\n"));
        }
        s.push_str(&format!("observed: {}\n", run.observed_text()));
        if let Some(t) = run.first_trap_text() {
            s.push_str(&t);
            s.push('\n');
        }
        for (name, tail) in run.console_tails() {
            s.push_str(&format!("--- console {name} (last lines)\n{tail}\n"));
        }
    }
    if let Some(d) = &cell.diagnosis {
        s.push_str("--- diagnosis\n");
        s.push_str(&d.text);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_and_error_cells() {
        let file = ResultFile::new(
            None,
            vec![
                Cell::not_run(
                    "s",
                    "9.2.0",
                    CellStatus::Skipped,
                    "applies to <9.0 only".into(),
                ),
                Cell::not_run(
                    "s",
                    "10.0.2",
                    CellStatus::Error,
                    "starting QEMU: no such file".into(),
                ),
            ],
        );
        let xml = report(&file).to_string().unwrap();
        let back = Report::deserialize_from_str(&xml).unwrap();
        let suite = &back.test_suites[0];
        assert_eq!(suite.name.as_str(), "s");
        assert_eq!(suite.test_cases.len(), 2);
        assert_eq!(suite.test_cases[0].name.as_str(), "qemu 9.2.0");
        assert!(
            matches!(&suite.test_cases[0].status, TestCaseStatus::Skipped { message: Some(m), .. } if m.as_str() == "applies to <9.0 only")
        );
        assert!(matches!(
            &suite.test_cases[1].status,
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Error,
                ..
            }
        ));
    }
}
