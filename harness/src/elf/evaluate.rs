//! Integer register values through straight-line code, from the
//! disassembler's text: what `li`, `lui`, `addi`, `slli`, `or` and the
//! like leave in their destination, given what their sources held. A
//! destination written by anything not understood (a load, a CSR read)
//! becomes unknown; a branch, jump or call forgets everything.

use super::registers::register_number;
use super::Instruction;

/// The instruction's mnemonic and operands, split.
pub(crate) fn parts(ins: &Instruction) -> (&str, Vec<&str>) {
    let mut split = ins.text.splitn(2, ' ');
    let mnemonic = split.next().unwrap_or("");
    let operands = split
        .next()
        .map(|o| o.split(", ").map(str::trim).collect())
        .unwrap_or_default();
    (mnemonic, operands)
}

fn is_control_flow(mnemonic: &str) -> bool {
    mnemonic.starts_with('b')
        || mnemonic.starts_with('j')
        || matches!(
            mnemonic,
            "call" | "tail" | "ret" | "mret" | "sret" | "ecall" | "ebreak" | "wfi"
        )
}

fn is_store(mnemonic: &str) -> bool {
    matches!(mnemonic, "sb" | "sh" | "sw" | "sd" | "fsh" | "fsw" | "fsd")
}

/// An immediate as the disassembler writes it: `-1`, `63`, `0x3f`.
pub(crate) fn number(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let magnitude = match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok()? as i64,
        None => digits.parse::<i64>().ok()?,
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// Known register values.
#[derive(Debug, Clone, Default)]
pub(crate) struct Registers([Option<u64>; 32]);

impl Registers {
    /// Registers holding `values` (x0 reads 0 whatever it is given).
    pub(crate) fn known(values: [Option<u64>; 32]) -> Self {
        Registers(values)
    }

    pub(crate) fn get(&self, reg: u8) -> Option<u64> {
        if reg == 0 {
            return Some(0);
        }
        self.0.get(usize::from(reg)).copied().flatten()
    }

    /// A register operand's value, or an immediate operand.
    fn operand(&self, text: &str) -> Option<u64> {
        match register_number(text) {
            Some(r) => self.get(r),
            None => number(text).map(|n| n as u64),
        }
    }

    pub(crate) fn step(&mut self, ins: &Instruction) {
        let (mnemonic, ops) = parts(ins);
        if is_control_flow(mnemonic) {
            *self = Registers::default();
            return;
        }
        if is_store(mnemonic) {
            return;
        }
        let Some(rd) = ops.first().and_then(|o| register_number(o)) else {
            return;
        };
        let value = self.evaluate(mnemonic, &ops);
        if let Some(slot) = self.0.get_mut(usize::from(rd)).filter(|_| rd != 0) {
            *slot = value;
        }
    }

    fn evaluate(&self, mnemonic: &str, ops: &[&str]) -> Option<u64> {
        let a = || self.operand(ops.get(1)?);
        let b = || self.operand(ops.get(2)?);
        let sext32 = |v: u64| v as u32 as i32 as i64 as u64;
        match mnemonic {
            "li" => a(),
            "lui" => Some(sext32(a()? << 12)),
            "mv" => a(),
            "not" => Some(!a()?),
            "neg" => Some(a()?.wrapping_neg()),
            "sext.w" => Some(sext32(a()?)),
            "addi" | "add" => Some(a()?.wrapping_add(b()?)),
            "addiw" | "addw" => Some(sext32(a()?.wrapping_add(b()?))),
            "sub" => Some(a()?.wrapping_sub(b()?)),
            "ori" | "or" => Some(a()? | b()?),
            "andi" | "and" => Some(a()? & b()?),
            "xori" | "xor" => Some(a()? ^ b()?),
            "slli" | "sll" => Some(a()? << (b()? & 63)),
            "srli" | "srl" => Some(a()? >> (b()? & 63)),
            "srai" | "sra" => Some(((a()? as i64) >> (b()? & 63)) as u64),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(text: &str) -> Instruction {
        Instruction {
            address: 0,
            length: 4,
            raw: 0,
            mnemonic: text.split(' ').next().unwrap_or("").to_string(),
            text: text.to_string(),
            illegal: false,
        }
    }

    fn run(lines: &[&str]) -> Registers {
        let mut r = Registers::default();
        for l in lines {
            r.step(&ins(l));
        }
        r
    }

    #[test]
    fn lui_addi_and_unknowns() {
        let r = run(&["lui a5, 0xb", "addi a5, a5, 511"]);
        assert_eq!(r.get(15), Some(0xb1ff));
        let r = run(&["lui a5, 0x80000"]);
        assert_eq!(r.get(15), Some(0xffff_ffff_8000_0000));
        // A load, a CSR read and a call make values unknown.
        let r = run(&["li a5, 1", "ld a5, 8(sp)"]);
        assert_eq!(r.get(15), None);
        let r = run(&["li a5, 1", "csrr a5, henvcfg"]);
        assert_eq!(r.get(15), None);
        let r = run(&["li s1, 1", "call 0x80200ade"]);
        assert_eq!(r.get(9), None);
        // A store keeps them.
        let r = run(&["li a5, 1", "sd a5, 8(sp)"]);
        assert_eq!(r.get(15), Some(1));
        assert_eq!(r.get(0), Some(0));
    }

    #[test]
    fn numbers() {
        assert_eq!(number("-1"), Some(-1));
        assert_eq!(number("0x3f"), Some(63));
        assert_eq!(number("63"), Some(63));
        assert_eq!(number("a5"), None);
    }

    #[test]
    fn the_reference_hypervisors_henvcfg_value() {
        // hart_init: li a4, -1; ...; slli a5, a4, 63; csrs henvcfg, a5
        let r = run(&["li a4, -1", "csrw hcounteren, a4", "slli a5, a4, 63"]);
        assert_eq!(r.get(15), Some(0x8000_0000_0000_0000));
        // ... | 1 << 61
        let r = run(&[
            "li a5, -1",
            "slli a5, a5, 63",
            "li a4, 1",
            "slli a4, a4, 61",
            "or a5, a5, a4",
        ]);
        assert_eq!(r.get(15), Some(0xa000_0000_0000_0000));
    }
}
