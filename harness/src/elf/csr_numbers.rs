//! CSR names and numbers, both ways, as the crate's disassembler names them
//! (so that what a writer list says and what `csrs henvcfg, a5` shows agree).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::elf::{disassemble, near_matches};

/// The x-register `csrr` reads into while probing names (a0).
const PROBE_RD: u32 = 10;

/// Every CSR number the disassembler has a name for, by name.
fn names() -> &'static HashMap<String, u16> {
    static NAMES: OnceLock<HashMap<String, u16>> = OnceLock::new();
    NAMES.get_or_init(|| {
        (0u16..4096)
            .filter_map(|n| {
                let name = disassembled_name(n)?;
                Some((name, n))
            })
            .collect()
    })
}

/// The name in `csrr a0, NAME` for CSR `number`, when it is a name and not
/// a bare number.
fn disassembled_name(number: u16) -> Option<String> {
    // csrrs a0, number, zero
    let word = (u32::from(number) << 20) | (2 << 12) | (PROBE_RD << 7) | 0x73;
    let ins = disassemble(0, &word.to_le_bytes())?;
    let name = ins.text.strip_prefix("csrr a0, ")?;
    let numeric = name.starts_with("0x") || name.chars().all(|c| c.is_ascii_digit());
    (!numeric).then(|| name.to_string())
}

/// The number of the CSR named `name` (any case), or written as a number
/// (`0x60a`, `1546`).
pub(crate) fn csr_number(name: &str) -> Option<u16> {
    let lower = name.trim().to_ascii_lowercase();
    let number = match lower.strip_prefix("0x") {
        Some(hex) => u16::from_str_radix(hex, 16).ok(),
        None => lower.parse::<u16>().ok(),
    };
    match number {
        Some(n) if n < 4096 => Some(n),
        Some(_) => None,
        None => names().get(&lower).copied(),
    }
}

/// The name of CSR `number`, or `0x...` when it has none.
pub(crate) fn csr_name(number: u16) -> String {
    disassembled_name(number).unwrap_or_else(|| format!("{number:#x}"))
}

/// Names close to `name`, for an error message.
pub(crate) fn near_csr_names(name: &str) -> Vec<String> {
    let mut all: Vec<&str> = names().keys().map(String::as_str).collect();
    all.sort_unstable();
    near_matches(name, all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_both_ways() {
        assert_eq!(csr_number("henvcfg"), Some(0x60a));
        assert_eq!(csr_number("HENVCFG"), Some(0x60a));
        assert_eq!(csr_number("menvcfg"), Some(0x30a));
        assert_eq!(csr_number("hedeleg"), Some(0x602));
        assert_eq!(csr_number("0x60a"), Some(0x60a));
        assert_eq!(csr_number("1546"), Some(0x60a));
        assert_eq!(csr_number("0x1000"), None);
        assert_eq!(csr_number("henvcgf"), None);
        assert_eq!(csr_name(0x60a), "henvcfg");
        assert_eq!(csr_name(0x180), "satp");
    }

    #[test]
    fn typos_get_near_matches() {
        let near = near_csr_names("henvcgf");
        assert!(near.iter().any(|n| n == "henvcfg"), "{near:?}");
    }
}
