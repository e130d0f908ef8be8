//! ELF symbols and DWARF source lines for the firmware under test.
//!
//! Each ELF file (the hypervisor's, each guest's) is its own symbol space
//! ([`ElfImage`]) with a name and an optional load offset; an [`ElfSet`]
//! holds them side by side. Users name places as [`Location`](location::Location)s
//! (`kvminithart`, `kvminithart+0x1e`, `vm.c:67`, `0x80100e5e`), which
//! resolve to run-time addresses (text may name its file first:
//! `guest:kvminithart`); addresses come back as `symbol+offset`
//! and `file:line`, and a [`Stop`](stop::Stop) puts it together with the disassembled
//! instruction.
//!
//! ```no_run
//! use hvharness::internals::elf::ElfSet;
//!
//! let mut elfs = ElfSet::new();
//! elfs.load("target/firmware/guest.elf", Some("guest"), 0)?;
//! let bp = elfs.resolve_str("kvminithart", Some("guest"))?;
//! println!("{}", elfs.describe_stop(bp.address, Some("guest"), None)?);
//! # Ok::<(), hvharness::internals::elf::ElfError>(())
//! ```

pub(crate) mod arch;
pub(crate) mod csr_numbers;
pub(crate) mod disasm;
pub(crate) mod effects;
mod error;
pub(crate) mod evaluate;
mod image;
mod lines;
mod location;
pub(crate) mod registers;
mod set;
mod stop;
pub(crate) mod suggest;
mod symbols;

#[cfg(test)]
pub(crate) mod testelf;

pub use disasm::{disassemble, disassemble_all, Instruction};
pub use error::ElfError;
pub use image::{files_read_on_this_thread, ElfImage};
pub use lines::SourceLine;
pub use set::ElfSet;
pub use suggest::near_matches;
pub use symbols::{SymbolHit, SymbolType};
