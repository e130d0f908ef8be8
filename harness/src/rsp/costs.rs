//! What the client's round trips cost: per kind of request, how many and how
//! long (send to last reply packet), and how long the target sat stopped
//! between a stop and the next resume. A stop's cost to the boot is the time
//! the target is stopped, and most of it is these round trips.
//!
//! Always counted (one clock read per packet); written out only when
//! [`COSTS_ENV`] names a file: each client appends one JSON line there when
//! it is dropped (the bench reads them back, see `examples/bench.rs`).
//!
//! Beside the sums, a short [`Mark`] timeline of what moves the target or
//! changes QEMU's translated code (continues, steps, stops, `Z`/`z`) and of
//! the marks the debug session adds (a trigger's stop, a breakpoint's hit):
//! the phases of a run are read from it (bench figure x).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The environment variable naming the file the costs are appended to.
pub const COSTS_ENV: &str = "HVHARNESS_RSP_COSTS";

/// One kind of request: how many were sent and the time they took in all.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct KindCost {
    pub count: u64,
    /// Microseconds from sending the request to its last reply packet.
    pub micros: u64,
}

/// The round trips of one client, and the target's stopped time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RspCosts {
    /// Per kind ([`kind_of`]).
    pub kinds: BTreeMap<String, KindCost>,
    /// Stops at breakpoints or watchpoints after a continue (steps not counted).
    pub trap_stops: u64,
    /// Stops after the interrupt byte (the harness's own looks).
    pub interrupt_stops: u64,
    /// Microseconds the target spent stopped between a stop after a
    /// continue and the next continue (the time before the first resume and
    /// after the last stop not included).
    pub stopped_micros: u64,
    /// What happened when, from the first continue on (at most
    /// [`TIMELINE_LEN`] marks: a long trace keeps its start).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Mark>,
    #[serde(skip)]
    open: Option<(&'static str, Instant)>,
    #[serde(skip)]
    stopped_since: Option<Instant>,
    /// The first continue: the timeline's zero.
    #[serde(skip)]
    first_resume: Option<Instant>,
}

/// How many marks a client keeps.
pub const TIMELINE_LEN: usize = 256;

/// One moment of a client's timeline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mark {
    /// Milliseconds since the first continue.
    pub ms: f64,
    /// A request kind ([`kind_of`]) with its argument (`Z (insert)
    /// 80200420`), `stop` or `interrupted`, or the debug session's words
    /// (`trigger hart 0`, `hit hart 1`).
    pub what: String,
}

/// The kind a request is counted under: its packet's letter, or a name for
/// the multi-letter ones.
pub fn kind_of(command: &str) -> &'static str {
    let b = command.as_bytes();
    match b.first() {
        Some(b'p') => "p (register)",
        Some(b'P') => "P (register write)",
        Some(b'g') => "g (core registers)",
        Some(b'm') => "m (memory)",
        Some(b'M') => "M (memory write)",
        Some(b'Z') => "Z (insert)",
        Some(b'z') => "z (remove)",
        Some(b'H') => "Hg (select hart)",
        Some(b'?') => "? (halt reason)",
        _ if command.starts_with("qfThreadInfo") || command.starts_with("qsThreadInfo") => {
            "thread list"
        }
        _ if command.starts_with("qRcmd") => "qRcmd (monitor)",
        _ if command.starts_with("vCont;s") || command == "s" => "step",
        _ if command.starts_with("vCont;c") || command == "c" => "continue",
        _ => "other",
    }
}

impl RspCosts {
    /// A request of `kind` was sent.
    pub(crate) fn begin(&mut self, kind: &'static str) {
        self.kinds.entry(kind.to_string()).or_default().count += 1;
        self.open = Some((kind, Instant::now()));
    }

    /// Notes `command` in the timeline when it moves the target or changes
    /// its breakpoints (each `Z`/`z` may make QEMU drop its translated code).
    pub(crate) fn note_command(&mut self, command: &str) {
        let kind = kind_of(command);
        if kind == "continue" && self.first_resume.is_none() {
            self.first_resume = Some(Instant::now());
        }
        if matches!(kind, "Z (insert)" | "z (remove)" | "continue" | "step") {
            let argument = match kind {
                "Z (insert)" | "z (remove)" => command.get(1..).unwrap_or_default(),
                _ => command,
            };
            self.mark(format!("{kind} {argument}"));
        }
    }

    /// Adds `what` to the timeline now (nothing before the first continue,
    /// nothing once it is full).
    pub(crate) fn mark(&mut self, what: String) {
        let Some(zero) = self.first_resume else {
            return;
        };
        if self.timeline.len() < TIMELINE_LEN {
            self.timeline.push(Mark {
                ms: zero.elapsed().as_secs_f64() * 1000.0,
                what,
            });
        }
    }

    /// A reply packet of the open request arrived: its time so far is
    /// counted (a multi-packet answer adds each packet's wait).
    pub(crate) fn replied(&mut self) {
        if let Some((kind, since)) = self.open {
            let now = Instant::now();
            self.kinds.entry(kind.to_string()).or_default().micros += micros(now - since);
            self.open = Some((kind, now));
        }
    }

    /// The target was let run (a continue, not a step).
    pub(crate) fn resumed(&mut self) {
        self.replied();
        self.open = None;
        if let Some(since) = self.stopped_since.take() {
            self.stopped_micros += micros(since.elapsed());
        }
    }

    /// A stop reply came after a continue; `interrupt`: after 0x03.
    pub(crate) fn stopped(&mut self, interrupt: bool) {
        if interrupt {
            self.interrupt_stops += 1;
        } else {
            self.trap_stops += 1;
        }
        self.stopped_since = Some(Instant::now());
        self.mark(if interrupt { "interrupted" } else { "stop" }.to_string());
    }

    /// Round trips of all kinds but continue.
    pub fn round_trips(&self) -> u64 {
        self.kinds
            .iter()
            .filter(|(k, _)| k.as_str() != "continue")
            .map(|(_, c)| c.count)
            .sum()
    }

    /// Adds `other`'s figures to these; its timeline is kept when these
    /// have none (one run's clients: the one that ran the target has one).
    pub fn add(&mut self, other: &RspCosts) {
        if self.timeline.is_empty() {
            self.timeline = other.timeline.clone();
        }
        for (k, c) in &other.kinds {
            let e = self.kinds.entry(k.clone()).or_default();
            e.count += c.count;
            e.micros += c.micros;
        }
        self.trap_stops += other.trap_stops;
        self.interrupt_stops += other.interrupt_stops;
        self.stopped_micros += other.stopped_micros;
    }

    /// Appends these costs as one JSON line to the file [`COSTS_ENV`]
    /// names, when it names one. Best effort: a diagnostic must never fail a run.
    pub(crate) fn append_to_env_file(&self) {
        let Some(path) = std::env::var_os(COSTS_ENV) else {
            return;
        };
        let Ok(line) = serde_json::to_string(self) else {
            return;
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_requests() {
        assert_eq!(kind_of("p41"), "p (register)");
        assert_eq!(kind_of("Hgp1.2"), "Hg (select hart)");
        assert_eq!(kind_of("qfThreadInfo"), "thread list");
        assert_eq!(kind_of("qsThreadInfo"), "thread list");
        assert_eq!(kind_of("qRcmd,696e666f"), "qRcmd (monitor)");
        assert_eq!(kind_of("vCont;s:p1.1"), "step");
        assert_eq!(kind_of("vCont;c"), "continue");
        assert_eq!(kind_of("vCont;c:p1.1;c:p1.3"), "continue");
        assert_eq!(kind_of("Z0,80200000,4"), "Z (insert)");
        assert_eq!(kind_of("vCont?"), "other");
    }

    #[test]
    fn a_request_counts_once_and_a_resume_closes_the_stopped_time() {
        let mut c = RspCosts::default();
        c.stopped(false);
        c.begin("p (register)");
        c.replied();
        c.replied();
        c.begin("continue");
        c.resumed();
        assert_eq!(c.kinds["p (register)"].count, 1);
        assert_eq!(c.trap_stops, 1);
        assert_eq!(c.round_trips(), 1);
        assert!(c.stopped_since.is_none());
    }

    #[test]
    fn the_timeline_starts_at_the_first_continue_and_keeps_what_moves_the_target() {
        let mut c = RspCosts::default();
        c.note_command("Z0,80201372,4");
        c.mark("before any resume".to_string());
        assert!(c.timeline.is_empty(), "{:?}", c.timeline);
        c.note_command("vCont;c");
        c.stopped(false);
        c.mark("trigger hart 0".to_string());
        c.note_command("p20");
        c.note_command("z0,80201372,4");
        c.note_command("vCont;s:p1.1");
        let what: Vec<&str> = c.timeline.iter().map(|m| m.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "continue vCont;c",
                "stop",
                "trigger hart 0",
                "z (remove) 0,80201372,4",
                "step vCont;s:p1.1"
            ]
        );
        assert!(c.timeline.windows(2).all(|w| w[0].ms <= w[1].ms));
        for _ in 0..2 * TIMELINE_LEN {
            c.note_command("vCont;c");
        }
        assert_eq!(c.timeline.len(), TIMELINE_LEN);
        // Summing runs keeps the one timeline there is.
        let mut sum = RspCosts::default();
        sum.add(&RspCosts::default());
        sum.add(&c);
        assert_eq!(sum.timeline, c.timeline);
    }
}
