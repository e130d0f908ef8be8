//! A stop described for people: `0x80000026 in kvminithart+0x14 at
//! kernel/vm.c:67: csrw satp, a5`.

use super::disasm::Instruction;
use super::lines::SourceLine;
use super::symbols::SymbolHit;
use serde::Serialize;
use std::fmt;

/// Where a hart stopped, in the terms of an ELF file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stop {
    /// The pc.
    pub(crate) address: u64,
    /// The ELF file used to describe it, if one was chosen.
    pub(crate) space: Option<String>,
    /// The enclosing (or nearest preceding) symbol.
    pub symbol: Option<SymbolHit>,
    /// The source line.
    pub line: Option<SourceLine>,
    /// The instruction at the pc.
    pub(crate) instruction: Option<Instruction>,
    /// Whether the instruction was decoded from the ELF file's bytes
    /// instead of bytes read from the target.
    pub(crate) code_from_elf: bool,
}

impl Stop {
    /// `kvminithart+0x14 at kernel/vm.c:67`, or as much of it as is known,
    /// or the bare address.
    pub fn place(&self) -> String {
        match (&self.symbol, &self.line) {
            (Some(s), Some(l)) => format!("{s} at {l}"),
            (Some(s), None) => s.to_string(),
            (None, Some(l)) => format!("{:#x} at {l}", self.address),
            (None, None) => format!("{:#x}", self.address),
        }
    }
}

impl fmt::Display for Stop {
    /// `0x80000026 in kvminithart+0x14 at kernel/vm.c:67: csrw satp, a5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.symbol, &self.line) {
            (None, None) => write!(f, "{:#x}", self.address)?,
            (None, Some(l)) => write!(f, "{:#x} at {l}", self.address)?,
            _ => write!(f, "{:#x} in {}", self.address, self.place())?,
        }
        if let Some(ins) = &self.instruction {
            write!(f, ": {}", ins.text)?;
            if self.code_from_elf {
                write!(f, " (from the ELF file)")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::disasm::disassemble;
    use crate::elf::symbols::SymbolType;

    #[test]
    fn full_and_partial() {
        let mut stop = Stop {
            address: 0x8000_0026,
            space: Some("guest.elf".into()),
            symbol: Some(SymbolHit {
                name: "kvminithart".into(),
                address: 0x8000_0012,
                offset: 0x14,
                kind: SymbolType::Function,
                exact: true,
            }),
            line: Some(SourceLine {
                file: "kernel/vm.c".into(),
                path: "/src/kernel/vm.c".into(),
                line: 67,
                column: 3,
            }),
            instruction: disassemble(0x8000_0026, &0x1807_9073u32.to_le_bytes()),
            code_from_elf: false,
        };
        assert_eq!(stop.place(), "kvminithart+0x14 at kernel/vm.c:67");
        assert_eq!(
            stop.to_string(),
            "0x80000026 in kvminithart+0x14 at kernel/vm.c:67: csrw satp, a5"
        );
        stop.code_from_elf = true;
        assert!(stop
            .to_string()
            .ends_with("csrw satp, a5 (from the ELF file)"));
        stop.line = None;
        stop.instruction = None;
        assert_eq!(stop.to_string(), "0x80000026 in kvminithart+0x14");
        stop.symbol = None;
        assert_eq!(stop.to_string(), "0x80000026");
    }
}
