//! Who wrote a CSR: the instructions in the firmware's ELF files that can
//! write it ([`find_writers`]), with source line and statically known value.

mod constant;
pub(crate) mod explain;
pub(crate) mod csr_numbers;
mod registers;
mod source;
mod writers;

pub use writers::{find_writers, CsrWriter, Operand, WriteKind};
