//! Traps read from QEMU's own interrupt log (`-d int`), as a stream.
//!
//! QEMU writes one line per trap it delivers:
//! `riscv_cpu_do_interrupt: hart:0, async:0, cause:000000000000000c, epc:0x..., tval:0x..., desc=exec_page_fault`.
//! The log shows every trap in order, so the first fault survives even when the
//! hart then loops on later ones (which overwrite scause/stval in the CSRs).
//!
//! A busy guest makes hundreds of thousands of traps a second (10-15 MB/s of
//! log), so the log is never stored: [`TrapLog`] is fed the bytes as QEMU
//! writes them and keeps, per hart, only what the verdicts and the diagnosis
//! read (last trap and when, the current run of identical exceptions, the head
//! of the current chain of faults, a ring of recent records). Its memory is
//! bounded by harts x a constant however long the run.
//!
//! The exception a scenario expects ([`TrapPattern`]: cause, the address
//! ranges of a symbol, a hart) is matched as the lines arrive: the first
//! record that matches all of it is kept, whatever came before it.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// One trap QEMU delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedTrap {
    pub hart: u64,
    /// True for interrupts.
    pub interrupt: bool,
    /// The cause code, without the interrupt bit.
    pub cause: u64,
    /// The pc the trap was taken at.
    pub epc: u64,
    pub tval: u64,
    /// QEMU's name for the cause, e.g. `exec_page_fault`.
    pub desc: String,
}

impl LoggedTrap {
    /// An environment call (causes 8 to 11): a request, never a fault.
    pub(crate) fn is_ecall(&self) -> bool {
        (8..=11).contains(&self.cause)
    }

    /// Same trap: hart, kind, cause, pc and tval.
    fn same_as(&self, o: &LoggedTrap) -> bool {
        self.hart == o.hart
            && self.interrupt == o.interrupt
            && self.cause == o.cause
            && self.epc == o.epc
            && self.tval == o.tval
    }
}

/// Parses one log line; anything else (other log items) gives `None`.
pub(crate) fn parse_line(line: &str) -> Option<LoggedTrap> {
    let rest = line.split("riscv_cpu_do_interrupt:").nth(1)?;
    let mut hart = None;
    let mut interrupt = None;
    let mut cause = None;
    let mut epc = None;
    let mut tval = None;
    let mut desc = String::new();
    for field in rest.split(',') {
        let field = field.trim();
        if let Some(d) = field.strip_prefix("desc=") {
            desc = d.trim().to_string();
            continue;
        }
        let (key, value) = field.split_once(':')?;
        let hex = |v: &str| u64::from_str_radix(v.trim().trim_start_matches("0x"), 16).ok();
        match key.trim() {
            "hart" => hart = value.trim().parse().ok(),
            "async" => interrupt = value.trim().parse::<u8>().ok().map(|a| a != 0),
            "cause" => cause = hex(value),
            "epc" => epc = hex(value),
            "tval" => tval = hex(value),
            _ => {}
        }
    }
    let cause = cause?;
    Some(LoggedTrap {
        hart: hart?,
        interrupt: interrupt?,
        // QEMU prints the cause with the interrupt bit on some paths; keep the code.
        cause: cause & !(1 << 63),
        epc: epc?,
        tval: tval?,
        desc,
    })
}

/// An exception a scenario expects: its cause, the run-time address ranges
/// its pc must lie in (the extents of the named symbol, resolved in the
/// scenario's ELF files once at the start of a run), and the hart when named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrapPattern {
    pub(crate) cause: u64,
    pub(crate) ranges: Vec<std::ops::Range<u64>>,
    pub(crate) hart: Option<u64>,
}

impl TrapPattern {
    /// Whether `t` is this exception: never an interrupt; cause, pc and hart as asked.
    pub(crate) fn matches(&self, t: &LoggedTrap) -> bool {
        !t.interrupt
            && t.cause == self.cause
            && self.hart.is_none_or(|h| h == t.hart)
            && self.ranges.iter().any(|r| r.contains(&t.epc))
    }
}

/// Harts beyond this index are not tracked (a garbled line must not make
/// the tables grow without bound).
const MAX_HARTS: usize = 256;
/// Records kept per hart for the report and the diagnosis.
pub(crate) const RECENT: usize = 32;
/// The first faults of a chain kept per hart (the first-fault candidates).
const CHAIN_HEAD: usize = 32;
/// Longest line kept; a longer one is not a trap record and is skipped.
const MAX_LINE: usize = 1024;
/// Lines that are not trap records, kept for the report.
const OTHER_LINES: usize = 16;

/// What the log says about one hart.
#[derive(Debug, Clone, Default)]
pub(crate) struct HartLog {
    /// Trap records seen for this hart.
    pub(crate) traps: u64,
    /// When the last one was read.
    pub(crate) last_trap_at: Option<Instant>,
    /// The last exception (not interrupt).
    pub(crate) last_exception: Option<LoggedTrap>,
    /// The last exception that is not an ecall, and what the hart did after
    /// it: a hypervisor that reports a fatal guest trap through SBI console
    /// calls before it parks keeps its fault here, where `last_exception`
    /// holds the last of its printing ecalls.
    pub(crate) last_fault: Option<LoggedTrap>,
    /// Records after `last_fault`, by kind.
    pub(crate) since_fault: SinceFault,
    /// The order of `last_fault` among all harts' records (the log's record
    /// count when it came): which hart got stuck first.
    pub(crate) last_fault_seq: u64,
    /// Timer interrupts (M, S/HS or VS level) since the run began: a hart
    /// whose kernel waits for a tick and has none never had a timer armed.
    pub(crate) timer_interrupts: u64,
    /// Ecalls by cause since the run began: from U (8), S/HS (9), VS (10),
    /// M (11). QEMU's log gives no a7/a6: which SBI function is not known.
    pub(crate) ecalls: [u64; 4],
    /// The current run of identical exceptions (interrupts in between do not
    /// break it: a hypervisor's timer keeps ticking under a looping guest).
    run: Option<(LoggedTrap, u64)>,
    /// The first faults of the current chain of exceptions that are not
    /// ecalls (an ecall means the hart got somewhere and asked for something).
    chain_head: Vec<LoggedTrap>,
    /// The last [`RECENT`] records.
    recent: VecDeque<LoggedTrap>,
    /// Exception codes below 64 this hart ever took, one bit each.
    exception_codes: u64,
    /// The current run of interrupts taken within a few bytes of one pc,
    /// with no exception between them: a hart whose code sits in a tight
    /// loop while something (a hypervisor's own timer) keeps interrupting it.
    pub(crate) interrupted_at: Option<InterruptRun>,
}

/// Interrupts in a row taken at pcs within [`INTERRUPT_SPAN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InterruptRun {
    /// The lowest and highest pc interrupted.
    pub(crate) lo: u64,
    pub(crate) hi: u64,
    /// How many interrupts.
    pub(crate) count: u64,
    /// When the first of them was read.
    pub(crate) since: Instant,
}

/// The widest span of pcs an [`InterruptRun`] covers: a loop of a few
/// instructions (`j .`, `wfi; j`).
pub(crate) const INTERRUPT_SPAN: u64 = 16;

impl HartLog {
    /// The current run of identical exceptions and its length.
    pub(crate) fn run(&self) -> Option<(&LoggedTrap, u64)> {
        self.run.as_ref().map(|(t, n)| (t, *n))
    }

    /// Whether this hart ever took exception `code` (below 64) in the log read.
    pub(crate) fn took_exception(&self, code: u64) -> bool {
        code < 64 && self.exception_codes >> code & 1 == 1
    }

    /// The last records, oldest first.
    pub(crate) fn recent(&self) -> impl Iterator<Item = &LoggedTrap> {
        self.recent.iter()
    }

    /// Extends the run of interrupts at one place, or starts a new one.
    fn note_interrupt_at(&mut self, epc: u64, now: Instant) {
        if let Some(r) = self.interrupted_at.as_mut() {
            let (lo, hi) = (r.lo.min(epc), r.hi.max(epc));
            if hi - lo <= INTERRUPT_SPAN {
                (r.lo, r.hi, r.count) = (lo, hi, r.count + 1);
                return;
            }
        }
        self.interrupted_at = Some(InterruptRun {
            lo: epc,
            hi: epc,
            count: 1,
            since: now,
        });
    }

    fn record(&mut self, t: LoggedTrap, now: Instant, seq: u64) {
        self.traps += 1;
        self.last_trap_at = Some(now);
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(t.clone());
        if t.interrupt {
            self.note_interrupt_at(t.epc, now);
            self.since_fault.interrupts += 1;
            if matches!(t.cause, 5..=7) {
                self.timer_interrupts += 1;
            }
            return;
        }
        // An ecall from S/HS or M is the interrupting side's own work (a
        // hypervisor re-arming its timer through SBI), not the loop's.
        if !matches!(t.cause, 9 | 11) {
            self.interrupted_at = None;
        }
        if t.cause < 64 {
            self.exception_codes |= 1 << t.cause;
        }
        if t.is_ecall() {
            if let Some(n) = self.since_fault.ecalls.get_mut((t.cause - 8) as usize) {
                *n += 1;
            }
            if let Some(n) = self.ecalls.get_mut((t.cause - 8) as usize) {
                *n += 1;
            }
        } else {
            self.last_fault = Some(t.clone());
            self.since_fault = SinceFault::default();
            self.last_fault_seq = seq;
        }
        match &mut self.run {
            Some((r, n)) if r.same_as(&t) => *n += 1,
            _ => self.run = Some((t.clone(), 1)),
        }
        if t.is_ecall() {
            self.chain_head.clear();
        } else if self.chain_head.len() < CHAIN_HEAD {
            self.chain_head.push(t.clone());
        }
        self.last_exception = Some(t);
    }
}

/// What a hart did after its last fault (only ecalls and interrupts can
/// follow it: another exception becomes the last fault).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct SinceFault {
    /// Ecalls by cause: from U (8), S/HS (9), VS (10), M (11).
    pub(crate) ecalls: [u64; 4],
    pub(crate) interrupts: u64,
}

impl SinceFault {
    /// Ecalls with this cause code (8 to 11) since the fault.
    pub(crate) fn ecalls_with(&self, cause: u64) -> u64 {
        cause
            .checked_sub(8)
            .and_then(|i| self.ecalls.get(i as usize))
            .copied()
            .unwrap_or(0)
    }
}

/// How much was read, and how much had to be dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogStats {
    pub bytes: u64,
    pub(crate) records: u64,
    /// Bytes skipped because the reader fell behind QEMU (QEMU is never
    /// made to wait for the harness).
    pub dropped_bytes: u64,
    /// Lines in those bytes.
    pub(crate) dropped_lines: u64,
}

/// The interrupt log, read incrementally: per-hart summaries, bounded.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrapLog {
    harts: Vec<HartLog>,
    /// The first exception of each cause code (codes are below 64).
    first_by_cause: BTreeMap<u64, LoggedTrap>,
    /// The exception the scenario expects, and the first record matching it.
    wanted: Option<TrapPattern>,
    first_wanted: Option<LoggedTrap>,
    /// The end of the last chunk when it was not a whole line.
    partial: Vec<u8>,
    /// Skip to the next newline (after a drop, or a line too long to keep).
    resync: bool,
    /// Lines that were not trap records (QEMU's other log items).
    other: VecDeque<String>,
    stats: LogStats,
    /// When bytes were last dropped: every hart may have trapped then.
    pub(crate) last_gap_at: Option<Instant>,
    /// Timer samples on breakpoint pages (see `hot_pages`).
    hot: super::page_samples::Profiler,
}

/// The index of `hart`'s entry in `per_hart`, grown to hold it; none for a
/// hart number past [`MAX_HARTS`] (a garbled line).
pub(crate) fn hart_slot<T: Clone + Default>(per_hart: &mut Vec<T>, hart: u64) -> Option<usize> {
    let index = usize::try_from(hart).ok().filter(|&i| i < MAX_HARTS)?;
    if index >= per_hart.len() {
        per_hart.resize(index + 1, T::default());
    }
    Some(index)
}

impl TrapLog {
    /// An empty log for `harts` harts (more are added as records name them).
    pub(crate) fn new(harts: usize) -> TrapLog {
        TrapLog {
            harts: vec![HartLog::default(); harts.min(MAX_HARTS)],
            ..TrapLog::default()
        }
    }

    /// An empty log that also keeps the first exception matching `wanted`
    /// (see [`TrapLog::first_match`]).
    pub(crate) fn expecting(harts: usize, wanted: Option<TrapPattern>) -> TrapLog {
        TrapLog {
            wanted,
            ..TrapLog::new(harts)
        }
    }

    /// Takes the next bytes QEMU wrote (any split: lines are put back together).
    pub(crate) fn feed(&mut self, mut bytes: &[u8], now: Instant) {
        self.stats.bytes += bytes.len() as u64;
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            let (head, tail) = bytes.split_at(nl);
            bytes = &tail[1..];
            if self.resync {
                self.resync = false;
                self.partial.clear();
                continue;
            }
            if self.partial.is_empty() {
                self.line(head, now);
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(head);
                self.line(&whole, now);
                whole.clear();
                self.partial = whole;
            }
        }
        if self.resync {
            return;
        }
        if self.partial.len() + bytes.len() > MAX_LINE {
            self.partial.clear();
            self.resync = true;
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    /// Notes bytes the reader skipped. Every hart may have trapped in them,
    /// so each hart counts as active now, and no run continues across them.
    pub(crate) fn dropped(&mut self, bytes: u64, lines: u64, now: Instant) {
        self.stats.dropped_bytes += bytes;
        self.stats.dropped_lines += lines;
        self.resync = true;
        self.last_gap_at = Some(now);
        for h in &mut self.harts {
            h.last_trap_at = Some(now);
            h.run = None;
            h.interrupted_at = None;
        }
    }

    fn line(&mut self, line: &[u8], now: Instant) {
        let text = String::from_utf8_lossy(line);
        let Some(t) = parse_line(&text) else {
            let text = text.trim();
            if !text.is_empty() {
                if self.other.len() == OTHER_LINES {
                    self.other.pop_front();
                }
                self.other.push_back(text.to_string());
            }
            return;
        };
        let Some(index) = hart_slot(&mut self.harts, t.hart) else {
            return;
        };
        self.stats.records += 1;
        self.hot.sample(&t);
        if !t.interrupt && t.cause < 64 && !self.first_by_cause.contains_key(&t.cause) {
            self.first_by_cause.insert(t.cause, t.clone());
        }
        if self.first_wanted.is_none() && self.wanted.as_ref().is_some_and(|w| w.matches(&t)) {
            self.first_wanted = Some(t.clone());
        }
        let seq = self.stats.records;
        self.harts[index].record(t, now, seq);
    }

    /// What was read and dropped.
    pub(crate) fn stats(&self) -> LogStats {
        self.stats
    }

    /// One hart's summary.
    pub(crate) fn hart(&self, hart: usize) -> Option<&HartLog> {
        self.harts.get(hart)
    }

    /// Every hart's summary, by index.
    pub(crate) fn harts(&self) -> &[HartLog] {
        &self.harts
    }

    /// The first exception (not interrupt) with this cause code, wherever
    /// it was taken: on its own it says nothing about an expectation (OpenSBI
    /// probes CSRs with illegal instructions at boot); see [`TrapLog::first_match`].
    pub(crate) fn first_exception(&self, cause: u64) -> Option<&LoggedTrap> {
        self.first_by_cause.get(&cause)
    }

    /// The first exception matching the pattern given to [`TrapLog::expecting`].
    pub(crate) fn first_match(&self) -> Option<&LoggedTrap> {
        self.first_wanted.as_ref()
    }

    /// Every hart whose exceptions end in a run of at least `min_repeats`
    /// identical ones (same cause, pc and tval): no progress. Ecalls are left
    /// out (polling an SBI call is legitimate), and so are interrupts.
    pub(crate) fn storms(&self, min_repeats: u64) -> Vec<(LoggedTrap, u64)> {
        self.harts
            .iter()
            .filter_map(|h| h.run())
            .filter(|(t, n)| *n >= min_repeats && !t.is_ecall())
            .map(|(t, n)| (t.clone(), n))
            .collect()
    }

    /// The first fault of a storm: over the storming hart's current chain of
    /// non-ecall exceptions, the earliest one whose pc is in the firmware
    /// (`in_firmware`), else the earliest. For the ADUE hang that is the
    /// fault in kvminithart, not the loop at pc 0; the firmware test skips
    /// OpenSBI's own boot-time traps.
    pub(crate) fn first_fault_of_storm(
        &self,
        storm: &LoggedTrap,
        in_firmware: impl Fn(u64) -> bool,
    ) -> Option<LoggedTrap> {
        let head = &self
            .harts
            .get(usize::try_from(storm.hart).ok()?)?
            .chain_head;
        head.iter()
            .find(|c| in_firmware(c.epc))
            .or(head.first())
            .cloned()
    }

    /// The timer samples on breakpoint pages.
    pub(crate) fn hot_pages(&self) -> &super::page_samples::Profiler {
        &self.hot
    }

    /// The profiler, to say which breakpoints are armed.
    pub(crate) fn hot_pages_mut(&mut self) -> &mut super::page_samples::Profiler {
        &mut self.hot
    }

    /// The log's last lines that were not trap records.
    #[cfg(test)]
    pub(crate) fn other_lines(&self) -> impl Iterator<Item = &str> {
        self.other.iter().map(String::as_str)
    }
}

/// A [`TrapLog`] the log reader thread fills and the run loop reads.
#[derive(Debug, Default)]
pub struct SharedTrapLog(std::sync::Mutex<TrapLog>);

impl SharedTrapLog {
    /// An empty log for `harts` harts.
    pub fn new(harts: usize) -> SharedTrapLog {
        SharedTrapLog(std::sync::Mutex::new(TrapLog::new(harts)))
    }

    /// An empty log that keeps the first exception matching `wanted`.
    pub(crate) fn expecting(harts: usize, wanted: Option<TrapPattern>) -> SharedTrapLog {
        SharedTrapLog(std::sync::Mutex::new(TrapLog::expecting(harts, wanted)))
    }

    /// Runs `f` on the log as it is now.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&TrapLog) -> R) -> R {
        match self.0.lock() {
            Ok(g) => f(&g),
            Err(p) => {
                let g = p.into_inner();
                f(&g)
            }
        }
    }

    /// A copy of the log as it is now (bounded: harts x a constant).
    pub(crate) fn snapshot(&self) -> TrapLog {
        self.with(TrapLog::clone)
    }

    /// Runs `f` on the log to change it.
    pub(crate) fn with_mut(&self, f: impl FnOnce(&mut TrapLog)) {
        match self.0.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => {
                let mut g = p.into_inner();
                f(&mut g)
            }
        }
    }
}

impl crate::qemu::LogSink for SharedTrapLog {
    fn data(&self, bytes: &[u8]) {
        let now = Instant::now();
        self.with_mut(|l| l.feed(bytes, now));
    }

    fn dropped(&self, bytes: u64, lines: u64) {
        let now = Instant::now();
        self.with_mut(|l| l.dropped(bytes, lines, now));
    }
}

/// Log lines as QEMU writes them, for tests.
#[cfg(test)]
pub(crate) mod tests_support {
    /// One `riscv_cpu_do_interrupt` line.
    pub(crate) fn line(hart: u64, is_async: u8, cause: u64, epc: u64, tval: u64) -> String {
        format!(
            "riscv_cpu_do_interrupt: hart:{hart}, async:{is_async}, cause:{cause:016x}, epc:0x{epc:016x}, tval:0x{tval:016x}, desc=x\n"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::line;
    use super::*;

    #[test]
    fn parses_qemu_lines() {
        let t = parse_line(
            "riscv_cpu_do_interrupt: hart:1, async:0, cause:000000000000000c, epc:0x0000000080200f56, tval:0x0000000080200f56, desc=exec_page_fault",
        )
        .unwrap();
        assert_eq!(
            t,
            LoggedTrap {
                hart: 1,
                interrupt: false,
                cause: 0xc,
                epc: 0x80200f56,
                tval: 0x80200f56,
                desc: "exec_page_fault".into()
            }
        );
        let i = parse_line(
            "riscv_cpu_do_interrupt: hart:0, async:1, cause:0000000000000005, epc:0x0000000080201000, tval:0x0000000000000000, desc=supervisor_timer",
        )
        .unwrap();
        assert!(i.interrupt);
        assert_eq!(i.cause, 5);
        assert!(parse_line("Servicing hardware INT=7").is_none());
        assert!(parse_line("riscv_cpu_do_interrupt: hart:x").is_none());
    }

    fn fed(text: &str) -> TrapLog {
        let mut log = TrapLog::new(2);
        log.feed(text.as_bytes(), Instant::now());
        log
    }

    #[test]
    fn timer_interrupts_and_ecalls_are_counted_per_hart_for_the_whole_run() {
        // Hart 0: a VS ecall, an HS ecall, an S and a VS timer tick, then a
        // fault (which resets since_fault, not the run's counts). Hart 1:
        // user ecalls and an external interrupt only.
        let text = [
            line(0, 0, 10, 0x8020_0000, 0),
            line(0, 0, 9, 0x8000_1000, 0),
            line(0, 1, 5, 0x8020_0004, 0),
            line(0, 1, 6, 0x8020_0008, 0),
            line(0, 0, 0x17, 0x8020_1566, 0x1000_0003),
            line(1, 0, 8, 0x1000, 0),
            line(1, 0, 8, 0x1000, 0),
            line(1, 1, 9, 0x8020_0000, 0),
        ]
        .concat();
        let log = fed(&text);
        let h0 = log.hart(0).expect("hart 0");
        assert_eq!(h0.timer_interrupts, 2);
        assert_eq!(h0.ecalls, [0, 1, 1, 0]);
        assert_eq!(h0.since_fault.ecalls, [0; 4]);
        let h1 = log.hart(1).expect("hart 1");
        assert_eq!(h1.timer_interrupts, 0, "an external interrupt is no tick");
        assert_eq!(h1.ecalls, [2, 0, 0, 0]);
    }

    #[test]
    fn finds_a_storm_and_its_first_fault() {
        let mut text = String::new();
        text += &line(0, 0, 9, 0x80201000, 0); // an SBI call
        text += &line(1, 1, 5, 0x80200400, 0); // the other hart's timer
        text += &line(0, 0, 0xc, 0x802005da, 0x802005da); // the first fault
        for _ in 0..100 {
            text += &line(0, 0, 0xc, 0, 0);
            text += &line(1, 1, 5, 0x80200400, 0);
        }
        let log = fed(&text);
        let storms = log.storms(64);
        assert_eq!(storms.len(), 1);
        let (storm, n) = &storms[0];
        assert_eq!((storm.hart, storm.cause, storm.epc, *n), (0, 0xc, 0, 100));
        let first = log.first_fault_of_storm(storm, |_| true).unwrap();
        assert_eq!(first.epc, 0x802005da);
        let skip_low = log
            .first_fault_of_storm(storm, |pc| pc >= 0x80200000)
            .unwrap();
        assert_eq!(skip_low.epc, 0x802005da);
        assert_eq!(log.first_exception(0xc).unwrap().epc, 0x802005da);
        assert_eq!(log.stats().records, 203);
    }

    /// OpenSBI's boot probes and the other VM take the expected cause first,
    /// elsewhere: only a record with the cause, inside the symbol and on the
    /// hart named, matches (by cause alone, the probe would have).
    #[test]
    fn an_expected_trap_matches_cause_symbol_and_hart() {
        let wanted = TrapPattern {
            cause: 2,
            ranges: std::iter::once(0x8020_0100..0x8020_0140).collect(),
            hart: Some(1),
        };
        let mut text = String::new();
        text += &line(0, 0, 2, 0x8000_0a3c, 0xf1402573); // OpenSBI's CSR probe, hart 0
        text += &line(1, 0, 2, 0x8000_0a3c, 0xf1402573); // the same on hart 1
        text += &line(1, 1, 2, 0x8020_0110, 0); // an interrupt with code 2 in the symbol
        text += &line(0, 0, 2, 0x8020_0114, 0xc0001073); // the right place, the other VM's hart
        text += &line(1, 0, 2, 0x8020_0140, 0); // one past the symbol's end
        text += &line(1, 0, 0xc, 0x8020_0114, 0); // the right place, another cause
        text += &line(1, 0, 2, 0x8020_0114, 0xc0001073); // the one
        text += &line(1, 0, 2, 0x8020_0118, 0); // later ones do not replace it
        for chunk in [1, 5, 4096] {
            let mut log = TrapLog::expecting(2, Some(wanted.clone()));
            for piece in text.as_bytes().chunks(chunk) {
                log.feed(piece, Instant::now());
            }
            let m = log.first_match().expect("the trap in the symbol on hart 1");
            assert_eq!((m.hart, m.epc, m.tval), (1, 0x8020_0114, 0xc0001073));
            // By cause alone, the first is OpenSBI's probe.
            assert_eq!(log.first_exception(2).unwrap().epc, 0x8000_0a3c);
        }
        let any_hart = TrapPattern {
            hart: None,
            ..wanted.clone()
        };
        let mut log = TrapLog::expecting(2, Some(any_hart));
        log.feed(text.as_bytes(), Instant::now());
        assert_eq!(log.first_match().map(|m| m.hart), Some(0));
        // Nowhere in the symbol: no match, though the cause is everywhere.
        let elsewhere = TrapPattern {
            ranges: std::iter::once(0x8020_0200..0x8020_0300).collect(),
            ..wanted
        };
        let mut log = TrapLog::expecting(2, Some(elsewhere));
        log.feed(text.as_bytes(), Instant::now());
        assert!(log.first_match().is_none());
        assert!(log.first_exception(2).is_some());
    }

    #[test]
    fn ecall_polling_and_timers_are_not_storms() {
        let mut text = String::new();
        for _ in 0..200 {
            text += &line(0, 0, 10, 0x80201000, 0);
            text += &line(1, 1, 5, 0x80200400, 0);
        }
        assert!(fed(&text).storms(64).is_empty());
    }

    #[test]
    fn lines_split_anywhere_are_put_back_together() {
        let mut text = String::new();
        for i in 0..50 {
            text += &line(i % 2, 0, 0xd, 0x1000 + i, 0);
            text += "some other log item\n";
        }
        for chunk in [1, 3, 7, 64, 4096] {
            let mut log = TrapLog::new(2);
            for piece in text.as_bytes().chunks(chunk) {
                log.feed(piece, Instant::now());
            }
            assert_eq!(log.stats().records, 50, "chunks of {chunk}");
            assert_eq!(
                log.hart(1).unwrap().last_exception.as_ref().unwrap().epc,
                0x1000 + 49
            );
            assert_eq!(log.other_lines().count(), OTHER_LINES);
        }
    }

    /// A flood from one hart does not hide another hart's records, wherever
    /// they fall (the old reader looked only at the last 256 KiB of each part).
    #[test]
    fn a_flood_does_not_hide_a_quiet_harts_records() {
        let mut log = TrapLog::new(2);
        let early = Instant::now();
        log.feed(line(1, 1, 5, 0x80200400, 0).as_bytes(), early);
        let flood: String = (0..20_000)
            .map(|i| line(0, 0, 8, 0x4000_0000 + (i % 7) * 4, 0))
            .collect();
        let later = early + std::time::Duration::from_millis(5);
        // About 2.6 MB, with hart 1's one timer interrupt in the middle.
        log.feed(flood.as_bytes(), later);
        log.feed(line(1, 1, 5, 0x80200404, 0).as_bytes(), later);
        log.feed(flood.as_bytes(), later);
        let quiet = log.hart(1).unwrap();
        assert_eq!(quiet.traps, 2);
        assert_eq!(quiet.last_trap_at, Some(later));
        assert_eq!(quiet.recent().last().unwrap().epc, 0x80200404);
        assert_eq!(log.hart(0).unwrap().traps, 40_000);
        // Bounded, however long the flood.
        assert_eq!(log.hart(0).unwrap().recent().count(), RECENT);
    }

    #[test]
    fn interrupts_in_one_tight_loop_make_a_run_that_an_exception_ends() {
        let mut log = TrapLog::new(1);
        let t0 = Instant::now();
        let later = t0 + std::time::Duration::from_millis(30);
        // A hypervisor's timer interrupting a `wfi; j` loop at two pcs.
        for (i, pc) in [0x8020_1950u64, 0x8020_1954, 0x8020_1950]
            .iter()
            .enumerate()
        {
            let at = if i == 0 { t0 } else { later };
            log.feed(line(0, 1, 5, *pc, 0).as_bytes(), at);
        }
        let run = log.hart(0).unwrap().interrupted_at.clone().expect("a run");
        assert_eq!(
            (run.lo, run.hi, run.count, run.since),
            (0x8020_1950, 0x8020_1954, 3, t0)
        );
        // Elsewhere: a new run; an exception: none.
        log.feed(line(0, 1, 5, 0x8020_2000, 0).as_bytes(), later);
        let run = log.hart(0).unwrap().interrupted_at.clone().expect("a run");
        assert_eq!((run.lo, run.count, run.since), (0x8020_2000, 1, later));
        // The interrupting side's SBI calls (ecall from S) do not end it.
        log.feed(line(0, 0, 9, 0x8020_0950, 0).as_bytes(), later);
        assert_eq!(
            log.hart(0)
                .unwrap()
                .interrupted_at
                .as_ref()
                .map(|r| r.count),
            Some(1)
        );
        log.feed(line(0, 0, 22, 0x8020_2000, 0).as_bytes(), later);
        assert_eq!(log.hart(0).unwrap().interrupted_at, None);
    }

    #[test]
    fn a_gap_marks_every_hart_active_and_breaks_runs() {
        let mut text = String::new();
        for _ in 0..100 {
            text += &line(0, 0, 0xc, 0, 0);
        }
        let mut log = fed(&text);
        assert_eq!(log.storms(64).len(), 1);
        let now = Instant::now();
        log.dropped(1000, 8, now);
        assert!(log.storms(64).is_empty());
        assert_eq!(log.hart(1).unwrap().last_trap_at, Some(now));
        // The partial line after the gap is skipped, the next whole one read.
        log.feed(b"ause:000c, epc:0x0\n", now);
        log.feed(line(1, 0, 0xd, 0x10, 0).as_bytes(), now);
        assert_eq!(log.hart(1).unwrap().traps, 1);
        assert_eq!(log.stats().dropped_bytes, 1000);
    }

    #[test]
    fn garbage_stays_bounded() {
        let mut log = TrapLog::new(1);
        log.feed(&vec![b'x'; 1 << 20], Instant::now());
        log.feed(b"\n", Instant::now());
        log.feed(line(100_000, 0, 2, 0, 0).as_bytes(), Instant::now());
        assert_eq!(log.harts().len(), 1);
        assert!(log.partial.is_empty());
    }
}
