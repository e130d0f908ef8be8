//! The phases of one run with a breakpoint armed late, from the RSP client's
//! timeline (`RspCosts::timeline`): the resume to the trigger's
//! stop, the trigger to the return that arms the breakpoint (when there is
//! one), on to the breakpoint's first hit, the first hit to the last hart's
//! hit, the last hit to the end (the last console milestone); with the
//! `Z`/`z`, continues and steps sent in each.

use hvharness::internals::rsp::RspCosts;

/// The request kinds counted per phase, and their short names.
const COUNTED: [(&str, &str); 4] = [
    ("Z (insert)", "Z"),
    ("z (remove)", "z"),
    ("continue", "c"),
    ("step", "s"),
];

/// One phase: where it ends (ms from the resume) and what was sent in it.
struct Phase {
    name: &'static str,
    end: Option<f64>,
}

/// The phase boundaries of a run ending at `end_ms`: `None` for a mark the
/// run never made (no trigger: armed from the start).
fn phases(costs: &RspCosts, end_ms: f64) -> Vec<Phase> {
    let first = |what: &str| costs.timeline.iter().find(|m| m.what.starts_with(what));
    let last_hit = costs
        .timeline
        .iter()
        .rev()
        .find(|m| m.what.starts_with("hit"));
    vec![
        Phase {
            name: "to trigger",
            end: first("trigger").map(|m| m.ms),
        },
        Phase {
            name: "to return",
            end: first("return").map(|m| m.ms),
        },
        Phase {
            name: "to 1st hit",
            end: first("hit").map(|m| m.ms),
        },
        Phase {
            name: "to last hit",
            end: last_hit.map(|m| m.ms),
        },
        Phase {
            name: "to end",
            end: Some(end_ms),
        },
    ]
}

/// One line per run: each phase's length and what was sent in it.
pub(crate) fn print(label: &str, runs: &[(f64, RspCosts)]) {
    for (i, (end_secs, costs)) in runs.iter().enumerate() {
        let mut start = 0.0;
        let mut parts = Vec::new();
        for p in phases(costs, end_secs * 1000.0) {
            let Some(end) = p.end else {
                parts.push(format!("{} -", p.name));
                continue;
            };
            let sent: Vec<String> = COUNTED
                .iter()
                .map(|(kind, short)| {
                    let n = costs
                        .timeline
                        .iter()
                        .filter(|m| m.ms >= start && m.ms < end && m.what.starts_with(kind))
                        .count();
                    format!("{short}{n}")
                })
                .collect();
            parts.push(format!(
                "{} {:.1} ms ({})",
                p.name,
                end - start,
                sent.join(" ")
            ));
            start = end;
        }
        println!("        {label:<12} run {}: {}", i + 1, parts.join(" | "));
    }
}
