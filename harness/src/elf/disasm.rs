//! Disassembly of one RISC-V instruction, with the `disc-v` crate.
//!
//! disc-v decodes RV64GC with the compressed instructions, names CSRs
//! (`csrw satp,a0`) and knows the H extension (`hfence.gvma`, `hlv.d`). Its
//! text follows objdump's (`csrw satp,a0`); we add a space after each comma,
//! as gdb and most people write it (`csrw satp, a0`).

use serde::Serialize;
use std::fmt;

/// One decoded instruction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Instruction {
    /// Where it is.
    pub address: u64,
    /// Its length in bytes (2 for compressed, 4 otherwise).
    pub(crate) length: usize,
    /// The encoding, little-endian, in the low `length` bytes.
    pub(crate) raw: u64,
    /// The mnemonic as shown (compressed forms expanded, aliases applied).
    pub(crate) mnemonic: String,
    /// The whole instruction as text: `csrw satp, a0`.
    pub text: String,
    /// Whether the bytes are not a valid instruction.
    pub(crate) illegal: bool,
}

impl Instruction {
    /// The encoding as hex digits of its own width: `18079073`, `8082`.
    #[cfg(test)]
    pub(crate) fn raw_hex(&self) -> String {
        format!("{:0width$x}", self.raw, width = self.length * 2)
    }
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Decodes the instruction at the start of `bytes`, which were read from
/// `address`. `None` when `bytes` is shorter than the instruction (2 bytes
/// suffice for a compressed one, 4 for any RV64GC instruction).
pub fn disassemble(address: u64, bytes: &[u8]) -> Option<Instruction> {
    let ins = disc_v::decode_bytes(disc_v::Isa::Rv64, address, bytes)?;
    let operands = ins.operands().to_string();
    let text = if operands.is_empty() {
        ins.to_string()
    } else {
        // Display gives `mnemonic operands` with any .aq/.rl suffix; keep
        // its mnemonic part and re-space the operands.
        let shown = ins.to_string();
        let head = shown.strip_suffix(&operands).unwrap_or(&shown).trim_end();
        format!("{head} {}", operands.replace(',', ", "))
    };
    Some(Instruction {
        address,
        length: ins.length(),
        raw: ins.raw() & length_mask(ins.length()),
        mnemonic: ins.mnemonic().to_string(),
        text,
        illegal: ins.is_illegal(),
    })
}

/// Decodes consecutive instructions from `bytes`, stopping at a truncated
/// one.
pub fn disassemble_all(address: u64, bytes: &[u8]) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut offset = 0;
    while let Some(ins) = bytes
        .get(offset..)
        .and_then(|b| disassemble(address + offset as u64, b))
    {
        offset += ins.length;
        out.push(ins);
    }
    out
}

fn length_mask(length: usize) -> u64 {
    if length >= 8 {
        u64::MAX
    } else {
        (1u64 << (length * 8)) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(word: u32) -> String {
        disassemble(0x8000_0000, &word.to_le_bytes()).unwrap().text
    }

    #[test]
    fn csr_writes_name_the_csr() {
        assert_eq!(text(0x1807_9073), "csrw satp, a5");
        // csrs henvcfg, a0 (csrrs zero, 0x60a, a0)
        assert_eq!(text(0x60a5_2073), "csrs henvcfg, a0");
        // csrr a0, menvcfg
        assert_eq!(text(0x30a0_2573), "csrr a0, menvcfg");
    }

    #[test]
    fn hypervisor_and_system_instructions() {
        assert_eq!(text(0x6200_0073), "hfence.gvma");
        assert_eq!(text(0x1200_0073), "sfence.vma");
        assert_eq!(text(0x1020_0073), "sret");
        assert_eq!(text(0x3020_0073), "mret");
        assert_eq!(text(0x1050_0073), "wfi");
        // hlv.d a0, (a1)
        let s = text(0x6c05_c573);
        assert!(s.starts_with("hlv.d a0, "), "{s}");
    }

    #[test]
    fn compressed() {
        let ins = disassemble(0x8000_002e, &[0x82, 0x80]).unwrap();
        assert_eq!(ins.text, "ret");
        assert_eq!(ins.length, 2);
        assert_eq!(ins.raw_hex(), "8082");
        let ins = disassemble(0x1000, &[0x7d, 0x57, 0xff, 0xff]).unwrap();
        assert_eq!(ins.text, "li a4, -1");
        assert_eq!(ins.length, 2);
    }

    #[test]
    fn truncated_and_illegal() {
        assert!(disassemble(0, &[0x73]).is_none());
        assert!(
            disassemble(0, &[0x73, 0x90]).is_none(),
            "a 4-byte instruction needs 4 bytes"
        );
        let ins = disassemble(0, &[0, 0, 0, 0]).unwrap();
        assert!(ins.illegal);
        assert_eq!(ins.length, 2);
    }

    #[test]
    fn several() {
        // sfence.vma; ret
        let all = disassemble_all(0x10, &[0x73, 0x00, 0x00, 0x12, 0x82, 0x80, 0x01]);
        let texts: Vec<_> = all.iter().map(|i| (i.address, i.text.as_str())).collect();
        assert_eq!(texts, [(0x10, "sfence.vma"), (0x14, "ret")]);
    }
}
