//! Seeing a hang early instead of waiting out the boot timeout.
//!
//! [`HangWatch`] only raises suspicions, read from the streamed interrupt log
//! ([`crate::qemu::trap_log`]) and the consoles' output; the run loop confirms each
//! one by looking at the stopped machine ([`super::inspect`]) before it
//! becomes a verdict:
//! - a storm: a hart's exceptions end in [`STORM_REPEATS`] identical ones
//!   (same cause, pc and tval). Confirmed when execution never gets past the
//!   faulting instruction: the ADUE hang loops at pc 0 for ever, while a guest
//!   polling a trap-and-emulate register passes it after each trap.
//! - silence: no console printed, and a hart took no trap, for the scenario's
//!   `quiet_secs`. Confirmed when that hart sits in a tight loop of the
//!   scenario's code that changes nothing (`wfi`, `j .`); a hart in firmware
//!   outside every scenario ELF in M-mode (OpenSBI's HSM stopped state) has
//!   not been started yet, and a hart whose state changes is busy. Neither is
//!   a hang: the hart is looked at again after another quiet window.
//! - a loop under interrupts: no console printed, and a hart took nothing
//!   but interrupts, all at one tight loop's pcs, for `quiet_secs` (a guest
//!   stuck in its trap handler while the hypervisor's own timer ticks).
//!   Confirmed by [`super::guest_parked`]: a parking loop at VS with the
//!   guest's interrupts off.
//!
//! A guest idling at its prompt is not judged: the boot is done by then.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::qemu::trap_log::{LoggedTrap, SharedTrapLog};

/// Identical exceptions in a row that make a storm suspect.
pub(crate) const STORM_REPEATS: u64 = 64;
/// Storm suspects already looked at and found passing, kept at most.
const CLEARED_MAX: usize = 64;

/// What the log and the consoles suggest; to be confirmed by a look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Suspect {
    /// A hart repeats one exception.
    Storm(LoggedTrap),
    /// No console output, and these harts took only interrupts, all at one
    /// tight loop's pcs, for the quiet window: a guest stuck in a loop
    /// under a hypervisor whose own timer still ticks.
    Interrupted { harts: Vec<u32> },
    /// No console output, and these harts took no trap, for `quiet`.
    Quiet { harts: Vec<u32>, quiet: Duration },
}

/// Interrupts at one loop's pcs that make a hart an
/// [`Suspect::Interrupted`] (with the quiet window over too).
pub(crate) const LOOP_INTERRUPTS: u64 = 8;

/// Why a run makes no progress (confirmed): why a hang was called before
/// the boot timeout. The result file keeps it in words (its `Display`).
#[derive(Debug, Clone, PartialEq)]
pub enum NoProgress {
    Storm(LoggedTrap),
    /// A hart parked: `place` is where (`hypervisor:park+0x8`), `how` the
    /// loop (`wfi loop, HS`); `fault` the trap it is stuck on, in words,
    /// when it is stuck on one ([`super::stuck`]).
    Parked {
        hart: u32,
        quiet: Duration,
        place: String,
        how: String,
        fault: Option<String>,
    },
    /// A hart parked inside its guest, with the guest's interrupts off,
    /// while the hypervisor still interrupts it ([`super::guest_parked`]).
    GuestParked(super::guest_parked::GuestParked),
    /// A console's dialogue step could not type: the guest took no input.
    NoInput {
        console: String,
        waited: Duration,
    },
}

impl serde::Serialize for NoProgress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for NoProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoProgress::Storm(t) => write!(
                f,
                "hart {} takes the same fault again and again: cause {:#x} ({}) at pc {:#x}, tval {:#x}; \
                 execution never gets past that instruction",
                t.hart, t.cause, t.desc, t.epc, t.tval
            ),
            NoProgress::Parked {
                hart,
                quiet,
                place,
                how,
                fault: None,
            } => write!(
                f,
                "no console output, and no trap on hart {hart}, for {:.1} s: hart {hart} parked in {place} ({how})",
                quiet.as_secs_f64()
            ),
            // It trapped: the quiet window is the consoles', not "no trap".
            NoProgress::Parked {
                hart,
                quiet,
                place,
                how,
                fault: Some(fault),
            } => write!(
                f,
                "no console output for {:.1} s: hart {hart} is stuck on {fault}, parked in {place} ({how})",
                quiet.as_secs_f64()
            ),
            NoProgress::GuestParked(g) => write!(f, "{g}"),
            NoProgress::NoInput { console, waited } => write!(
                f,
                "console {console} took no input for {:.1} s",
                waited.as_secs_f64()
            ),
        }
    }
}

/// Watches the interrupt log and the consoles' output for the signs above.
pub(crate) struct HangWatch {
    log: Arc<SharedTrapLog>,
    quiet_limit: Duration,
    harts: u32,
    console_bytes: usize,
    last_output: Instant,
    /// Per hart: not suspected again before this (watching began, or a look
    /// found the hart busy or not started).
    excused_until: Vec<Instant>,
    /// Storm suspects a look found passing (an emulation loop).
    cleared: Vec<LoggedTrap>,
}

impl HangWatch {
    /// Watches `log` for a machine of `harts` harts, from now.
    pub(crate) fn new(log: Arc<SharedTrapLog>, quiet_limit: Duration, harts: u32) -> HangWatch {
        let now = Instant::now();
        let harts = harts.max(1);
        HangWatch {
            log,
            quiet_limit,
            harts,
            console_bytes: 0,
            last_output: now,
            excused_until: vec![now; harts as usize],
            cleared: Vec::new(),
        }
    }

    /// Looks once; `console_bytes` is the consoles' total output so far.
    pub(crate) fn check(&mut self, console_bytes: usize, now: Instant) -> Option<Suspect> {
        if console_bytes != self.console_bytes {
            self.console_bytes = console_bytes;
            self.last_output = now;
        }
        let (storms, last_traps, loops, gap) = self.log.with(|l| {
            let storms = l.storms(STORM_REPEATS);
            let last: Vec<Option<Instant>> = (0..self.harts as usize)
                .map(|h| l.hart(h).and_then(|h| h.last_trap_at))
                .collect();
            // When each hart's run of interrupts in one loop began, if long enough.
            let loops: Vec<Option<Instant>> = (0..self.harts as usize)
                .map(|h| {
                    l.hart(h)
                        .and_then(|h| h.interrupted_at.as_ref())
                        .filter(|r| r.count >= LOOP_INTERRUPTS)
                        .map(|r| r.since)
                })
                .collect();
            (storms, last, loops, l.last_gap_at)
        });
        if let Some((t, _)) = storms.into_iter().find(|(t, _)| !self.cleared.contains(t)) {
            return Some(Suspect::Storm(t));
        }
        let silent = now.saturating_duration_since(self.last_output);
        if silent < self.quiet_limit {
            return None;
        }
        let mut harts = Vec::new();
        let mut quiet = silent;
        for (h, last) in last_traps.iter().enumerate() {
            // The latest of: its last trap, a gap in the log, the excuse.
            let since = [*last, gap]
                .into_iter()
                .flatten()
                .fold(self.excused_until[h], Instant::max);
            let idle = now.saturating_duration_since(since);
            if idle >= self.quiet_limit {
                harts.push(h as u32);
                quiet = quiet.min(idle);
            }
        }
        if !harts.is_empty() {
            return Some(Suspect::Quiet { harts, quiet });
        }
        let mut looping = Vec::new();
        for (h, since) in loops.iter().enumerate() {
            let Some(since) = since else { continue };
            let since = [Some(*since), gap]
                .into_iter()
                .flatten()
                .fold(self.excused_until[h], Instant::max);
            let idle = now.saturating_duration_since(since);
            if idle >= self.quiet_limit {
                looping.push(h as u32);
            }
        }
        (!looping.is_empty()).then_some(Suspect::Interrupted { harts: looping })
    }

    /// A look found `hart` busy or not started: suspect it again only after
    /// another full quiet window.
    pub(crate) fn excuse(&mut self, hart: u32, now: Instant) {
        if let Some(slot) = self.excused_until.get_mut(hart as usize) {
            *slot = now;
        }
    }

    /// A look found the execution passing this repeated exception.
    pub(crate) fn clear_storm(&mut self, trap: LoggedTrap) {
        if self.cleared.len() == CLEARED_MAX {
            self.cleared.remove(0);
        }
        self.cleared.push(trap);
    }

    /// How many harts loop on a fault now.
    pub(crate) fn looping_harts(&self) -> usize {
        self.log.with(|l| l.storms(STORM_REPEATS).len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::trap_log::tests_support::line;
    use crate::qemu::LogSink;

    fn watch(harts: u32) -> (Arc<SharedTrapLog>, HangWatch) {
        let log = Arc::new(SharedTrapLog::new(harts as usize));
        let w = HangWatch::new(log.clone(), Duration::from_millis(500), harts);
        (log, w)
    }

    #[test]
    fn a_storm_is_suspected_until_cleared() {
        let (log, mut w) = watch(2);
        let now = Instant::now();
        for _ in 0..STORM_REPEATS {
            log.data(line(1, 0, 0x15, 0x8000_1000, 0x1000_0000).as_bytes());
        }
        let Some(Suspect::Storm(t)) = w.check(0, now) else {
            panic!("no storm suspected")
        };
        assert_eq!((t.hart, t.epc), (1, 0x8000_1000));
        w.clear_storm(t);
        assert_eq!(w.check(0, now), None);
        assert_eq!(w.looping_harts(), 1);
    }

    #[test]
    fn interrupts_in_one_loop_under_silent_consoles_are_suspected() {
        let (log, mut w) = watch(1);
        let start = Instant::now();
        let feed =
            |at: Instant, pc: u64| log.with_mut(|l| l.feed(line(0, 1, 5, pc, 0).as_bytes(), at));
        for _ in 0..LOOP_INTERRUPTS {
            feed(start, 0x8020_1b2c);
        }
        // Taking traps, so never quiet; one loop for the window: suspected.
        let later = start + Duration::from_millis(600);
        feed(later, 0x8020_1b2c);
        feed(later + Duration::from_millis(200), 0x8020_1b2c);
        assert_eq!(
            w.check(10, later),
            None,
            "the consoles' first reading starts their window"
        );
        let Some(Suspect::Interrupted { harts }) = w.check(10, later + Duration::from_millis(500))
        else {
            panic!("not suspected")
        };
        assert_eq!(harts, vec![0]);
        // The loop moving elsewhere starts a new run: not yet.
        feed(later + Duration::from_millis(500), 0x8020_4000);
        assert_eq!(w.check(10, later + Duration::from_millis(900)), None);
    }

    #[test]
    fn silence_names_the_harts_without_traps() {
        let (log, mut w) = watch(2);
        let start = Instant::now();
        assert_eq!(w.check(10, start), None);
        // Hart 0 keeps taking its timer; hart 1 takes nothing.
        let later = start + Duration::from_millis(600);
        log.with_mut(|l| {
            l.feed(
                line(0, 1, 5, 0x8000_0000, 0).as_bytes(),
                start + Duration::from_millis(400),
            )
        });
        let Some(Suspect::Quiet { harts, quiet }) = w.check(10, later) else {
            panic!("nothing suspected")
        };
        assert_eq!(harts, vec![1]);
        assert!(quiet >= Duration::from_millis(500));
        // Console output resets the window; an excuse postpones that hart.
        assert_eq!(w.check(11, later), None);
        w.excuse(1, later + Duration::from_millis(600));
        // Hart 1 is excused for a window; hart 0 has gone quiet meanwhile.
        let Some(Suspect::Quiet { harts, .. }) = w.check(11, later + Duration::from_millis(1000))
        else {
            panic!()
        };
        assert_eq!(harts, vec![0]);
    }
}
