//! The trap a hang is expected to start with, as the run looks for it: the
//! scenario's `trap = { cause, symbol, hart }` resolved once, at the start
//! of the run, into the address ranges of the symbol in the scenario's ELF
//! files ([`pattern`]), matched against every record of QEMU's interrupt log
//! as it streams past ([`crate::qemu::trap_log::TrapLog::first_match`]), and
//! explained when nothing matched ([`not_seen`]).

use anyhow::{bail, Result};

use crate::elf::{near_matches, ElfSet};
use crate::qemu::trap_log::{LoggedTrap, TrapPattern};
use crate::scenario::ExpectedTrap;

/// The address ranges of `want.symbol` (`elf:symbol` looks in that file
/// only), with its cause and hart. An unknown symbol, or one without a
/// size, is an error that names near matches.
pub(crate) fn pattern(want: &ExpectedTrap, elfs: &ElfSet) -> Result<TrapPattern> {
    let (space, name) = elfs.split_space(&want.symbol);
    let images: Vec<_> = elfs
        .images()
        .iter()
        .filter(|i| space.is_none_or(|s| s == i.name()))
        .collect();
    let ranges: Vec<_> = images.iter().flat_map(|i| i.symbol_ranges(name)).collect();
    if ranges.is_empty() {
        let known = images.iter().any(|i| !i.symbols().named(name).is_empty());
        if known {
            bail!(
                "expected trap: symbol {} has no size in its ELF file, so no pc can be placed inside it",
                want.symbol
            );
        }
        let near = near_matches(name, images.iter().flat_map(|i| i.symbols().names()));
        let hint = if near.is_empty() {
            String::new()
        } else {
            format!(" (near: {})", near.join(", "))
        };
        bail!(
            "expected trap: no symbol {} in the scenario's ELF files{hint}",
            want.symbol
        );
    }
    Ok(TrapPattern {
        cause: want.cause,
        ranges,
        hart: want.hart.map(u64::from),
    })
}

/// `cause 0x2 in guest:fault_illegal_insn` (`on hart 1` when one is named).
pub(crate) fn describe(want: &ExpectedTrap) -> String {
    let hart = want
        .hart
        .map(|h| format!(" on hart {h}"))
        .unwrap_or_default();
    format!("cause {:#x} in {}{hart}", want.cause, want.symbol)
}

/// Why the expectation was not met: what was looked for, and where the
/// first exception with that cause was taken instead, if anywhere.
pub(crate) fn not_seen(
    want: &ExpectedTrap,
    first_of_cause: Option<&LoggedTrap>,
    elfs: &ElfSet,
) -> String {
    let wanted = describe(want);
    match first_of_cause {
        None => format!(
            "hung, but QEMU's interrupt log shows no exception with cause {:#x} at all (expected {wanted})",
            want.cause
        ),
        Some(t) => {
            let places = super::judge::trap_places(elfs, t.epc);
            let place = if places.is_empty() {
                "no known symbol".to_string()
            } else {
                places.join(" or ")
            };
            format!(
                "hung, but QEMU's interrupt log shows no exception {wanted}; the first with cause {:#x} was on hart {} at {:#x} ({place})",
                want.cause, t.hart, t.epc
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_elf(test: &str) -> Option<ElfSet> {
        let elf = crate::elf::testelf::get(test)?;
        let mut set = ElfSet::new();
        set.load(&elf.path, Some("guest"), 0)
            .expect("the test kernel loads");
        Some(set)
    }

    fn want(symbol: &str) -> ExpectedTrap {
        ExpectedTrap {
            cause: 0xc,
            symbol: symbol.into(),
            hart: Some(1),
        }
    }

    #[test]
    fn a_symbol_becomes_its_extents() {
        let Some(set) = test_elf("a_symbol_becomes_its_extents") else {
            return;
        };
        let p = pattern(&want("guest:kvminithart"), &set).unwrap();
        let start = set
            .space("guest")
            .unwrap()
            .symbol_address("kvminithart")
            .unwrap();
        assert_eq!(p.ranges.len(), 1);
        assert_eq!(p.ranges[0].start, start);
        assert!(p.ranges[0].end > start);
        assert_eq!((p.cause, p.hart), (0xc, Some(1)));
        assert_eq!(pattern(&want("kvminithart"), &set).unwrap(), p);
        // A static function of two files: both extents.
        assert_eq!(pattern(&want("count"), &set).unwrap().ranges.len(), 2);
        let err = format!(
            "{:#}",
            pattern(&want("guest:kvminithar"), &set).unwrap_err()
        );
        assert!(err.contains("near: kvminithart"), "{err}");
    }
}
