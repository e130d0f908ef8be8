//! CSR checks (`henvcfg.ADUE == 1 at guest:kvminithart`) against recorded stops.

use serde::Serialize;

use crate::debug::StopRecord;
use crate::scenario::CsrCheck;

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub(crate) check: String,
    pub(crate) passed: bool,
    /// What was seen, or why it failed.
    pub(crate) message: String,
}

/// Every check holds at every counted stop of its breakpoint; a check whose
/// breakpoint never counted a stop fails (nothing was verified).
pub(crate) fn evaluate(checks: &[CsrCheck], stops: &[StopRecord]) -> Vec<CheckResult> {
    checks.iter().map(|c| evaluate_one(c, stops)).collect()
}

fn evaluate_one(check: &CsrCheck, stops: &[StopRecord]) -> CheckResult {
    let name = match &check.field {
        Some(f) => format!("{}.{f}", check.csr),
        None => check.csr.clone(),
    };
    let fail = |message: String| CheckResult {
        check: check.text.clone(),
        passed: false,
        message,
    };
    let at: Vec<&StopRecord> = stops.iter().filter(|s| s.breakpoint == check.at).collect();
    if at.is_empty() {
        return fail(format!(
            "{}: the breakpoint {} was never reached",
            check.text, check.at
        ));
    }
    let mut seen = Vec::new();
    for stop in at {
        let Some(reading) = stop.csr(&check.csr) else {
            return fail(format!(
                "{}: {} was not dumped at {}",
                check.text, check.csr, check.at
            ));
        };
        let value = match (&check.field, &reading.decoded) {
            (None, _) => reading.raw,
            (Some(f), Some(d)) => d.get(f),
            (Some(_), None) => None,
        };
        let Some(value) = value else {
            let why = reading
                .missing
                .map(|m| m.to_string())
                .unwrap_or_else(|| "no such field".into());
            return fail(format!(
                "{}: {name} has no value at {} on hart {} ({why})",
                check.text, check.at, stop.hart
            ));
        };
        if value != check.value {
            return fail(format!(
                "{name} is {value:#x} at {} on hart {} ({}), expected {:#x}",
                check.at, stop.hart, stop.privilege_name, check.value
            ));
        }
        seen.push(format!("hart {}", stop.hart));
    }
    CheckResult {
        check: check.text.clone(),
        passed: true,
        message: format!("{name} == {:#x} on {}", check.value, seen.join(", ")),
    }
}
