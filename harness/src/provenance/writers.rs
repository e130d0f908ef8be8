//! The instructions that can write a CSR, found statically: every
//! executable section of every ELF file walked instruction by instruction
//! (2- or 4-byte, so compressed code stays aligned), each Zicsr instruction
//! with that CSR number that writes (not the read-only forms), with its
//! symbol, source line and, when the value is built from constants in the
//! same function, that value.

use serde::Serialize;

use super::constant::register_value_before;
use super::source::SourceTexts;
use crate::elf::registers::abi_name;
use crate::elf::{disassemble, ElfImage, ElfSet, SourceLine};

/// How a Zicsr instruction changes the CSR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteKind {
    /// csrrw/csrrwi (`csrw`): the CSR becomes the value.
    Write,
    /// csrrs/csrrsi (`csrs`): the value's bits are set.
    Set,
    /// csrrc/csrrci (`csrc`): the value's bits are cleared.
    Clear,
}

/// Where the written value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operand {
    /// An integer register (its number, 1-31).
    Register(u8),
    /// The 5-bit immediate of the `i` forms.
    Immediate(u8),
}

impl Operand {
    /// `a5`, or the immediate in decimal.
    pub(crate) fn name(self) -> String {
        match self {
            Operand::Register(r) => abi_name(r).to_string(),
            Operand::Immediate(i) => i.to_string(),
        }
    }
}

/// A decoded CSR write: which CSR, how, from what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CsrWrite {
    pub(crate) csr: u16,
    pub(crate) kind: WriteKind,
    pub(crate) operand: Operand,
}

/// The CSR write an instruction encoding makes, if it is a Zicsr
/// instruction that writes: csrrw/csrrwi always do; csrrs/csrrc with rs1 =
/// x0 and csrrsi/csrrci with uimm = 0 only read (`csrr`).
pub(crate) fn decode_write(raw: u64, length: usize) -> Option<CsrWrite> {
    const SYSTEM: u64 = 0x73;
    if length != 4 || raw & 0x7f != SYSTEM {
        return None;
    }
    let funct3 = (raw >> 12) & 7;
    let field = ((raw >> 15) & 31) as u8;
    let csr = ((raw >> 20) & 0xfff) as u16;
    let (kind, operand) = match funct3 {
        1 => (WriteKind::Write, Operand::Register(field)),
        2 => (WriteKind::Set, Operand::Register(field)),
        3 => (WriteKind::Clear, Operand::Register(field)),
        5 => (WriteKind::Write, Operand::Immediate(field)),
        6 => (WriteKind::Set, Operand::Immediate(field)),
        7 => (WriteKind::Clear, Operand::Immediate(field)),
        _ => return None,
    };
    // `csrrw rd, csr, x0` writes 0; the set/clear forms with nothing to
    // set or clear do not write at all.
    if kind != WriteKind::Write && field == 0 {
        return None;
    }
    Some(CsrWrite { csr, kind, operand })
}

/// One instruction that can write the CSR.
#[derive(Debug, Clone, Serialize)]
pub struct CsrWriter {
    /// The CSR's name (`henvcfg`).
    pub csr: String,
    /// The ELF space it was found in.
    pub space: String,
    /// Its run-time address.
    pub address: u64,
    /// Its length in bytes (always 4: Zicsr has no compressed forms).
    pub(crate) length: usize,
    /// The instruction's encoding (CSR instructions are 32-bit).
    #[serde(skip)]
    pub(crate) encoding: u32,
    /// As disassembled: `csrs henvcfg, a5`.
    pub instruction: String,
    /// Write, set or clear.
    pub kind: WriteKind,
    /// The register or immediate written.
    pub operand: Operand,
    /// `hart_init+0x30`, when a symbol covers it.
    pub symbol: Option<String>,
    /// The function's name alone (`hart_init`).
    pub(crate) function: Option<String>,
    /// The source line, from DWARF.
    pub line: Option<SourceLine>,
    /// The source line's text, when the source file is at hand.
    pub source_text: Option<String>,
    /// The value written, when known without running: the immediate, or a
    /// register built from constants in the same function (li/lui/slli/or).
    pub value: Option<u64>,
}

impl CsrWriter {
    /// `hypervisor/hart.c:40`, else `hart_init+0x30`, else the address.
    pub fn place(&self) -> String {
        match (&self.line, &self.symbol) {
            (Some(l), _) => l.to_string(),
            (None, Some(s)) => format!("{}:{s}", self.space),
            (None, None) => format!("{:#x}", self.address),
        }
    }

    /// The name of the function holding it (`hart_init`).
    pub fn function_name(&self) -> Option<&str> {
        self.function.as_deref()
    }

    /// `a5 = 0x8000000000000000`, `a5` when the value is not known, or the
    /// immediate.
    pub fn operand_text(&self) -> String {
        match (self.operand, self.value) {
            (Operand::Immediate(i), _) => format!("immediate {i:#x}"),
            (Operand::Register(_), Some(v)) => format!("{} = {v:#x}", self.operand.name()),
            (Operand::Register(_), None) => {
                format!("{} (not a constant of its function)", self.operand.name())
            }
        }
    }
}

/// Every instruction in `elfs` that can write CSR `csr` (named `name`), in
/// space order, then address order.
pub fn find_writers(elfs: &ElfSet, csr: u16, name: &str) -> Vec<CsrWriter> {
    let mut sources = SourceTexts::default();
    elfs.images()
        .iter()
        .flat_map(|image| writers_in(image, csr, name, &mut sources))
        .collect()
}

fn writers_in(image: &ElfImage, csr: u16, name: &str, sources: &mut SourceTexts) -> Vec<CsrWriter> {
    let mut out = Vec::new();
    for range in image.code_ranges() {
        let mut address = range.start;
        while address < range.end {
            let bytes = image
                .bytes_at(address, 4)
                .or_else(|| image.bytes_at(address, 2));
            let Some(ins) = bytes.and_then(|b| disassemble(address, b)) else {
                break;
            };
            let length = ins.length as u64;
            if let Some(write) = decode_write(ins.raw, ins.length).filter(|w| w.csr == csr) {
                out.push(describe(image, &ins, write, name, sources));
            }
            address += length;
        }
    }
    out
}

fn describe(
    image: &ElfImage,
    ins: &crate::elf::Instruction,
    write: CsrWrite,
    name: &str,
    sources: &mut SourceTexts,
) -> CsrWriter {
    let hit = image.symbolize(ins.address).filter(|h| h.exact);
    let line = image.line_for(ins.address);
    let value = match write.operand {
        Operand::Immediate(i) => Some(u64::from(i)),
        Operand::Register(r) => {
            let start = hit.as_ref().map_or(ins.address, |h| h.address);
            register_value_before(image, start, ins.address, r)
        }
    };
    CsrWriter {
        csr: name.to_string(),
        space: image.name().to_string(),
        address: ins.address,
        length: ins.length,
        encoding: ins.raw as u32,
        instruction: ins.text.clone(),
        kind: write.kind,
        operand: write.operand,
        symbol: hit.as_ref().map(|h| h.to_string()),
        function: hit.as_ref().map(|h| h.name.clone()),
        source_text: line.as_ref().and_then(|l| sources.line(l)),
        line,
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(funct3: u64, field: u64, csr: u64) -> u64 {
        (csr << 20) | (field << 15) | (funct3 << 12) | (5 << 7) | 0x73
    }

    #[test]
    fn writes_and_reads_told_apart() {
        let w = decode_write(word(2, 15, 0x60a), 4).unwrap();
        assert_eq!(w.csr, 0x60a);
        assert_eq!(w.kind, WriteKind::Set);
        assert_eq!(w.operand, Operand::Register(15));
        // csrr (csrrs rd, csr, x0) and csrrc with x0: reads.
        assert_eq!(decode_write(word(2, 0, 0x60a), 4), None);
        assert_eq!(decode_write(word(3, 0, 0x60a), 4), None);
        // csrrsi/csrrci with uimm 0: reads; with 4: writes.
        assert_eq!(decode_write(word(6, 0, 0x60a), 4), None);
        assert_eq!(decode_write(word(7, 0, 0x60a), 4), None);
        let w = decode_write(word(6, 4, 0x60a), 4).unwrap();
        assert_eq!(w.operand, Operand::Immediate(4));
        // csrw csr, zero writes 0; csrwi writes the immediate.
        assert_eq!(
            decode_write(word(1, 0, 0x180), 4).unwrap().kind,
            WriteKind::Write
        );
        assert_eq!(
            decode_write(word(5, 0, 0x180), 4).unwrap().kind,
            WriteKind::Write
        );
        // Not Zicsr: ecall (funct3 0), a load, a compressed instruction.
        assert_eq!(decode_write(0x73, 4), None);
        assert_eq!(decode_write(0x0007_b783, 4), None);
        assert_eq!(decode_write(0x9073, 2), None);
    }
}
