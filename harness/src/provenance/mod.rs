//! Who wrote a CSR: the instructions in the firmware's ELF files that can
//! write it ([`find_writers`]), with source line and statically known value.

mod constant;
pub(crate) mod explain;
mod source;
mod trace;
mod writers;

#[cfg(test)]
pub(crate) use trace::CountedUntil;
pub use trace::CsrWrites;
pub(crate) use trace::TracePlan;
pub use trace::UnrecordedHits;
pub use writers::{find_writers, CsrWriter, WriteKind};

use anyhow::Result;

use crate::elf::csr_numbers;
use crate::elf::ElfSet;

/// Every writer of the CSR `csr` (a name, or a number such as `0x60a`) in
/// `elfs`; an unknown name is an error listing near matches.
/// Gives the CSR's name too.
pub fn writers_of(elfs: &ElfSet, csr: &str) -> Result<(String, Vec<CsrWriter>)> {
    let Some(number) = csr_numbers::csr_number(csr) else {
        let near = csr_numbers::near_csr_names(csr);
        let hint = if near.is_empty() {
            String::new()
        } else {
            format!(" (did you mean {}?)", near.join(", "))
        };
        anyhow::bail!(
            "unknown CSR \"{csr}\"{hint}: give a CSR name such as henvcfg, or its number (0x60a)"
        );
    };
    let name = csr_numbers::csr_name(number);
    let writers = find_writers(elfs, number, &name);
    Ok((name, writers))
}
