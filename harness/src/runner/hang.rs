//! Seeing a hang early instead of waiting out the boot timeout.
//!
//! Two signs, both read while the boot is still incomplete:
//! - a trap storm: a hart takes the same fault at the same pc again and again
//!   (QEMU's interrupt log ends in a run of identical exceptions) — the ADUE
//!   hang loops at pc 0 within milliseconds of its first fault;
//! - silence: no console prints, and some hart takes no trap at all, for the
//!   scenario's `quiet_secs` — that hart is parked (a hypervisor that stops a
//!   hart after an unexpected trap) or spinning with interrupts off, while an
//!   idle hart would still take its timer interrupts.
//!
//! A guest idling at its prompt is not judged: the boot is done by then, and
//! an idle guest still takes timer interrupts.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::trap_log::{self, LoggedTrap};

/// Identical exceptions in a row that make a storm.
pub const STORM_REPEATS: usize = 64;
/// A trap loop writes the log this fast; past this size the run is a hang
/// whatever else happens, and QEMU is stopped before the disk fills.
pub const LOG_CAP: u64 = 64 << 20;
/// How often the log's end is read for a storm.
const STORM_CHECK_EVERY: Duration = Duration::from_millis(50);

/// How often the log's new part is read for which harts trapped.
const ACTIVITY_CHECK_EVERY: Duration = Duration::from_millis(100);
/// At most this much of the log's new part is read per check.
const ACTIVITY_READ_MAX: u64 = 256 << 10;

/// Why a run makes no progress.
#[derive(Debug, Clone)]
pub enum NoProgress {
    Storm(LoggedTrap),
    /// No console printed, and this hart took no trap, for this long.
    Quiet { hart: u64, quiet: Duration },
    LogFlood,
}

impl fmt::Display for NoProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoProgress::Storm(t) => write!(
                f,
                "hart {} takes the same fault again and again: cause {:#x} ({}) at pc {:#x}, tval {:#x}",
                t.hart, t.cause, t.desc, t.epc, t.tval
            ),
            NoProgress::Quiet { hart, quiet } => write!(
                f,
                "no console output, and no trap on hart {hart}, for {:.1} s: the hart is parked or spinning",
                quiet.as_secs_f64()
            ),
            NoProgress::LogFlood => write!(f, "the interrupt log passed {} MiB: a trap loop", LOG_CAP >> 20),
        }
    }
}

/// Watches the interrupt log and the consoles' output for the signs above.
pub struct HangWatch {
    log: PathBuf,
    quiet_limit: Duration,
    log_len: u64,
    console_bytes: usize,
    last_output: Instant,
    last_storm_check: Instant,
    /// How far the log has been read for activity, and when.
    activity_offset: u64,
    last_activity_check: Instant,
    /// When each hart last took a trap (or when watching began).
    hart_last_trap: Vec<Instant>,
}

impl HangWatch {
    /// Watches `log` for a machine of `harts` harts.
    pub fn new(log: &Path, quiet_limit: Duration, harts: u32) -> HangWatch {
        let now = Instant::now();
        HangWatch {
            log: log.to_path_buf(),
            quiet_limit,
            log_len: 0,
            console_bytes: 0,
            last_output: now,
            last_storm_check: now,
            activity_offset: 0,
            last_activity_check: now,
            hart_last_trap: vec![now; harts.max(1) as usize],
        }
    }

    /// Marks the harts with records in the log's new part as active.
    fn read_activity(&mut self, now: Instant) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let start = self.activity_offset.max(self.log_len.saturating_sub(ACTIVITY_READ_MAX));
        if start >= self.log_len {
            return Ok(());
        }
        let mut file = std::fs::File::open(&self.log).with_context(|| format!("opening {}", self.log.display()))?;
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::new();
        file.take(self.log_len - start).read_to_end(&mut buf)?;
        // Only whole lines; the rest is read next time.
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else { return Ok(()) };
        for line in String::from_utf8_lossy(&buf[..end]).lines() {
            if let Some(t) = trap_log::parse_line(line) {
                if let Some(slot) = self.hart_last_trap.get_mut(t.hart as usize) {
                    *slot = now;
                }
            }
        }
        self.activity_offset = start + end as u64 + 1;
        Ok(())
    }

    /// Looks once; `console_bytes` is the consoles' total output so far.
    pub fn check(&mut self, console_bytes: usize) -> Result<Option<NoProgress>> {
        let now = Instant::now();
        let log_len = std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        if log_len > LOG_CAP {
            return Ok(Some(NoProgress::LogFlood));
        }
        let grew = log_len != self.log_len;
        if console_bytes != self.console_bytes {
            self.last_output = now;
        }
        self.log_len = log_len;
        self.console_bytes = console_bytes;
        if now.duration_since(self.last_activity_check) >= ACTIVITY_CHECK_EVERY {
            self.last_activity_check = now;
            self.read_activity(now)?;
        }
        if grew && now.duration_since(self.last_storm_check) >= STORM_CHECK_EVERY {
            self.last_storm_check = now;
            let storm = trap_log::storm_in_tail(&self.log, STORM_REPEATS)
                .with_context(|| format!("reading {}", self.log.display()))?;
            if let Some((trap, _)) = storm {
                return Ok(Some(NoProgress::Storm(trap)));
            }
        }
        let silent = now.duration_since(self.last_output);
        if silent < self.quiet_limit {
            return Ok(None);
        }
        let idle = self.hart_last_trap.iter().enumerate().map(|(h, t)| (h, now.duration_since(*t))).max_by_key(|(_, d)| *d);
        Ok(match idle {
            Some((hart, quiet)) if quiet >= self.quiet_limit => {
                Some(NoProgress::Quiet { hart: hart as u64, quiet: quiet.min(silent) })
            }
            _ => None,
        })
    }
}

/// How many harts currently loop on a fault, per the log's end.
pub fn looping_harts(log: &Path) -> Result<usize> {
    Ok(trap_log::storms_in_tail(log, STORM_REPEATS).with_context(|| format!("reading {}", log.display()))?.len())
}
