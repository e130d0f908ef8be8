//! Traps read from QEMU's own interrupt log (`-d int`).
//!
//! QEMU writes one line per trap it delivers:
//! `riscv_cpu_do_interrupt: hart:0, async:0, cause:000000000000000c, epc:0x..., tval:0x..., desc=exec_page_fault`.
//! The log shows every trap in order, so the first fault survives even when the
//! hart then loops on later ones (which overwrite scause/stval in the CSRs).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Serialize;

/// One trap QEMU delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// Parses one log line; anything else (other log items) gives `None`.
pub fn parse_line(line: &str) -> Option<LoggedTrap> {
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

/// The first logged exception (not interrupt) matching `want`, read in order.
pub fn first_exception(path: &Path, mut want: impl FnMut(&LoggedTrap) -> bool) -> std::io::Result<Option<LoggedTrap>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        // A line still being written has no newline yet: leave it for a later read.
        if line.last() != Some(&b'\n') {
            return Ok(None);
        }
        if let Some(t) = parse_line(&String::from_utf8_lossy(&line)) {
            if !t.interrupt && want(&t) {
                return Ok(Some(t));
            }
        }
    }
}

/// How much of the log's end [`storm_in_tail`] reads.
const TAIL_BYTES: u64 = 256 << 10;

/// A hart that takes the same exception (same cause, pc and tval) again and
/// again with nothing else in between: it makes no progress. Ecalls are left
/// out (polling an SBI call is legitimate), and so are interrupts.
pub fn storm_in_tail(path: &Path, min_repeats: usize) -> std::io::Result<Option<(LoggedTrap, usize)>> {
    Ok(storms_in_tail(path, min_repeats)?.into_iter().next())
}

/// Every hart's storm in the log's end (see [`storm_in_tail`]), by hart.
pub fn storms_in_tail(path: &Path, min_repeats: usize) -> std::io::Result<Vec<(LoggedTrap, usize)>> {
    storms_in_last(path, min_repeats, TAIL_BYTES)
}

/// Like [`storms_in_tail`] over the last `window` bytes: one fast-looping hart
/// can fill the log's end, so a stopped machine is examined over more of it.
pub fn storms_in_last(path: &Path, min_repeats: usize, window: u64) -> std::io::Result<Vec<(LoggedTrap, usize)>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(window)))?;
    let mut buf = Vec::new();
    file.take(window).read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    // Drop a partial first line (cut by the seek) and a partial last one.
    let mut lines: Vec<&str> = text.split('\n').collect();
    lines.pop();
    if len > window && !lines.is_empty() {
        lines.remove(0);
    }
    let traps: Vec<LoggedTrap> = lines.iter().filter_map(|l| parse_line(l)).collect();
    let harts: std::collections::BTreeSet<u64> = traps.iter().map(|t| t.hart).collect();
    let mut storms = Vec::new();
    for hart in harts {
        // Interrupts taken in between (the hypervisor's timer) are no progress.
        let mine: Vec<&LoggedTrap> = traps.iter().filter(|t| t.hart == hart && !t.interrupt).collect();
        let Some(last) = mine.last() else { continue };
        if (8..=11).contains(&last.cause) {
            continue;
        }
        let repeats = mine.iter().rev().take_while(|t| *t == last).count();
        if repeats >= min_repeats {
            storms.push(((*last).clone(), repeats));
        }
    }
    Ok(storms)
}

/// The first fault of a storm. Walking back from where `storm` started on
/// its hart, over that hart's consecutive non-ecall exceptions: the earliest
/// one whose pc is in the firmware (`in_firmware`), else the earliest. For
/// the ADUE hang that is the fault in kvminithart, not the loop at pc 0; the
/// firmware test skips OpenSBI's own boot-time traps.
pub fn first_fault_of_storm(
    path: &Path,
    storm: &LoggedTrap,
    in_firmware: impl Fn(u64) -> bool,
) -> std::io::Result<Option<LoggedTrap>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    // This hart's current run of non-ecall exceptions, up to the storm.
    let mut chain: Vec<LoggedTrap> = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
            return Ok(None);
        }
        let Some(t) = parse_line(&String::from_utf8_lossy(&line)) else { continue };
        if t.hart != storm.hart || t.interrupt {
            continue;
        }
        if (8..=11).contains(&t.cause) {
            chain.clear();
            continue;
        }
        let is_storm = t == *storm;
        chain.push(t);
        if is_storm {
            let first = chain.iter().find(|c| in_firmware(c.epc)).unwrap_or(&chain[0]);
            return Ok(Some(first.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qemu_lines() {
        let t = parse_line(
            "riscv_cpu_do_interrupt: hart:1, async:0, cause:000000000000000c, epc:0x0000000080200f56, tval:0x0000000080200f56, desc=exec_page_fault",
        )
        .unwrap();
        assert_eq!(
            t,
            LoggedTrap { hart: 1, interrupt: false, cause: 0xc, epc: 0x80200f56, tval: 0x80200f56, desc: "exec_page_fault".into() }
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

    fn line(hart: u64, is_async: u8, cause: u64, epc: u64, tval: u64) -> String {
        format!(
            "riscv_cpu_do_interrupt: hart:{hart}, async:{is_async}, cause:{cause:016x}, epc:0x{epc:016x}, tval:0x{tval:016x}, desc=x\n"
        )
    }

    #[test]
    fn finds_a_storm_and_its_first_fault() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("int.log");
        let mut text = String::new();
        text += &line(0, 0, 9, 0x80201000, 0); // an SBI call
        text += &line(1, 1, 5, 0x80200400, 0); // the other hart's timer
        text += &line(0, 0, 0xc, 0x802005da, 0x802005da); // the first fault
        for _ in 0..100 {
            text += &line(0, 0, 0xc, 0, 0);
            text += &line(1, 1, 5, 0x80200400, 0);
        }
        std::fs::write(&path, &text).unwrap();
        let (storm, n) = storm_in_tail(&path, 64).unwrap().expect("a storm");
        assert_eq!((storm.hart, storm.cause, storm.epc, n), (0, 0xc, 0, 100));
        let first = first_fault_of_storm(&path, &storm, |_| true).unwrap().unwrap();
        assert_eq!(first.epc, 0x802005da);
        let skip_low = first_fault_of_storm(&path, &storm, |pc| pc >= 0x80200000).unwrap().unwrap();
        assert_eq!(skip_low.epc, 0x802005da);
    }

    #[test]
    fn ecall_polling_and_timers_are_not_storms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("int.log");
        let mut text = String::new();
        for _ in 0..200 {
            text += &line(0, 0, 10, 0x80201000, 0);
            text += &line(1, 1, 5, 0x80200400, 0);
        }
        std::fs::write(&path, &text).unwrap();
        assert!(storm_in_tail(&path, 64).unwrap().is_none());
        assert!(storm_in_tail(&dir.path().join("missing"), 64).unwrap().is_none());
    }
}
