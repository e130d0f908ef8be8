//! What the client's round trips cost: per kind of request, how many and how
//! long (send to last reply packet), and how long the target sat stopped
//! between a stop and the next resume. A stop's cost to the boot is the time
//! the target is stopped, and most of it is these round trips.
//!
//! Always counted (one clock read per packet); written out only when
//! [`COSTS_ENV`] names a file: each client appends one JSON line there when
//! it is dropped (the bench reads them back, see `examples/bench.rs`).

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
    #[serde(skip)]
    open: Option<(&'static str, Instant)>,
    #[serde(skip)]
    stopped_since: Option<Instant>,
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
    }

    /// Round trips of all kinds but continue.
    pub fn round_trips(&self) -> u64 {
        self.kinds
            .iter()
            .filter(|(k, _)| k.as_str() != "continue")
            .map(|(_, c)| c.count)
            .sum()
    }

    /// Adds `other`'s figures to these.
    pub fn add(&mut self, other: &RspCosts) {
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
}
