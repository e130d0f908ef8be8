//! Human-readable renderings of one run and of a matrix (terminal text).

use std::fmt::Write as _;

use crate::runner::{Observed, RunReport, Verdict};

/// The full report of one run.
pub fn render_run(r: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "== {} on QEMU {} ({:.1} s)",
        r.scenario, r.qemu, r.duration_secs
    );
    render_expected(&mut s, r);
    render_timeline(&mut s, r);
    render_stops(&mut s, &r.stops);
    for c in &r.checks {
        let _ = writeln!(
            s,
            "check {}: {}",
            if c.passed { "ok" } else { "FAILED" },
            c.message
        );
    }
    render_observed(&mut s, r);
    render_warnings(&mut s, r);
    render_first_trap(&mut s, r);
    let _ = writeln!(s, "verdict: {}", r.verdict);
    if let Verdict::Unexpected(_) = &r.verdict {
        for (name, text) in &r.transcripts {
            let _ = writeln!(s, "--- console {name} (last lines)");
            for line in super::view::console_tail(text) {
                let _ = writeln!(s, "    {line}");
            }
        }
    }
    s
}

/// What the scenario expects of this version, and why.
fn render_expected(s: &mut String, r: &RunReport) {
    let expected = super::view::expected_text(r.expected.as_ref(), r.because.as_deref());
    let _ = writeln!(
        s,
        "expected: {}",
        expected
            .as_deref()
            .unwrap_or("nothing stated for this version")
    );
}

/// The milestones and dialogue lines with their times, then the
/// breakpoints armed on the way.
fn render_timeline(s: &mut String, r: &RunReport) {
    for m in &r.milestones {
        let _ = write!(
            s,
            "  {:>7.3} s  {:<8} /{}/",
            m.at_secs, m.console, m.pattern
        );
        let _ = match m.interleaved_words() {
            Some(w) => writeln!(s, ", {w}"),
            None => writeln!(s),
        };
    }
    for e in &r.dialogue {
        let _ = writeln!(
            s,
            "  {:>7.3} s  {:<8} {}",
            e.at_secs,
            e.console,
            dialogue_line(e)
        );
    }
    for a in &r.auto_arming {
        let _ = writeln!(s, "{a}");
    }
}

/// What limited the run's evidence: a profiler warning, a skipped part of
/// the interrupt log.
fn render_warnings(s: &mut String, r: &RunReport) {
    if let Some(w) = &r.hot_pages.warning {
        let _ = writeln!(s, "warning: {w}");
    }
    if r.trap_log.dropped_bytes > 0 {
        let _ = writeln!(
            s,
            "note: the harness fell behind QEMU's interrupt log and skipped {} bytes ({} lines) of it",
            r.trap_log.dropped_bytes, r.trap_log.dropped_lines
        );
    }
}

/// The first trap, or with an expected trap the record that matched it.
fn render_first_trap(s: &mut String, r: &RunReport) {
    if let Some(t) = &r.first_trap {
        let line = super::view::first_trap_line(t, &r.first_trap_places, r.expected_trap.is_some());
        let _ = writeln!(s, "{line}");
    }
}

/// Each counted stop: where, then its registers one per line.
fn render_stops(s: &mut String, stops: &[crate::debug::StopRecord]) {
    for stop in stops {
        let _ = writeln!(
            s,
            "stop {} on hart {} ({}): {}{}",
            stop.breakpoint,
            stop.hart,
            stop.privilege_name,
            stop.place,
            stop.instruction
                .as_ref()
                .map(|i| format!(": {i}"))
                .unwrap_or_default()
        );
        for c in &stop.csrs {
            let mut line = match (&c.decoded, &c.missing) {
                (Some(d), _) => d.to_string(),
                (None, Some(why)) => format!("{} <{why}>", c.name),
                (None, None) => format!("{} <no value>", c.name),
            };
            if let (Some(v), Some(_)) = (&c.view, c.raw) {
                line.push_str(&format!("  ({v})"));
            }
            let _ = writeln!(s, "    {line}");
        }
    }
}

/// What was observed; for a hang, why it was called early and each hart's
/// last traps.
fn render_observed(s: &mut String, r: &RunReport) {
    let _ = writeln!(s, "observed: {}", r.observed);
    if let Observed::Hung { early, .. } = &r.observed {
        if let Some(e) = early {
            let _ = writeln!(s, "          verdict reached early: {e}");
        }
        if !r.trap_tail.is_empty() {
            let _ = writeln!(s, "last traps (QEMU's interrupt log):");
            for t in &r.trap_tail {
                let kind = if t.interrupt {
                    "interrupt"
                } else {
                    "exception"
                };
                let _ = writeln!(
                    s,
                    "    hart {} {kind} {:#x} ({}) epc {:#x} tval {:#x}",
                    t.hart, t.cause, t.desc, t.epc, t.tval
                );
            }
        }
    }
}

/// One dialogue event as a report line.
fn dialogue_line(e: &crate::runner::dialogue::DialogueEvent) -> String {
    use crate::runner::dialogue::DialogueAction;
    match &e.action {
        DialogueAction::Matched {
            pattern,
            interleaved: None,
        } => format!("/{pattern}/ (step at line {})", e.line),
        DialogueAction::Matched {
            pattern,
            interleaved: Some(text),
        } => format!(
            "/{pattern}/ (step at line {}), {}",
            e.line,
            crate::console::interleaved::in_words(text)
        ),
        DialogueAction::Sent { text } => format!(
            "typed \"{}\" (step at line {})",
            text.escape_debug(),
            e.line
        ),
        DialogueAction::TimedOut {
            pattern,
            waited_secs,
        } => {
            format!(
                "no /{pattern}/ within {waited_secs:.0} s (step at line {})",
                e.line
            )
        }
    }
}

/// One table row per run.
pub fn render_table(reports: &[RunReport]) -> String {
    let mut s = String::new();
    let w = reports
        .iter()
        .map(|r| r.scenario.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let _ = writeln!(
        s,
        "{:<w$}  {:<8}  {:<8}  {:<8}  {:>8}  verdict",
        "scenario", "qemu", "expected", "observed", "time"
    );
    for r in reports {
        let expected = r
            .expected
            .as_ref()
            .map(|k| k.to_string())
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "{:<w$}  {:<8}  {:<8}  {:<8}  {:>7.1}s  {}",
            r.scenario,
            r.qemu.to_string(),
            expected,
            r.observed.class().to_string(),
            r.duration_secs,
            r.verdict
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::dialogue::{DialogueAction, DialogueEvent};

    #[test]
    fn a_dialogue_match_with_other_output_inside_says_so() {
        let event = |interleaved: Option<&str>| DialogueEvent {
            console: "vm0".into(),
            line: 12,
            action: DialogueAction::Matched {
                pattern: "stress: done".into(),
                interleaved: interleaved.map(Into::into),
            },
            at_secs: 1.0,
        };
        assert_eq!(
            dialogue_line(&event(None)),
            "/stress: done/ (step at line 12)"
        );
        assert_eq!(
            dialogue_line(&event(Some("stress: [hv] tick\r\ndone"))),
            r#"/stress: done/ (step at line 12), with other output inside: "stress: [hv] tick\r\ndone""#
        );
    }
}
