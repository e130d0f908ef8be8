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
}
