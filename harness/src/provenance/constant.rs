//! What a register holds at an instruction when the function builds it from
//! constants (li, lui, addi, slli, or, ...): a forward walk of the
//! function's straight-line code. Anything not understood makes its
//! destination unknown; a branch, jump or call, and any branch target,
//! forgets everything, so a value is only claimed where one path leads.

use super::registers::register_number;
use crate::elf::{disassemble, ElfImage, Instruction};

/// The value of x`reg` just before the instruction at `at`, when the code
/// from `start` (the function's first instruction) builds it from
/// constants alone.
pub(crate) fn register_value_before(image: &ElfImage, start: u64, at: u64, reg: u8) -> Option<u64> {
    if reg == 0 {
        return Some(0);
    }
    let end = function_end(image, at).max(at);
    let code = instructions(image, start, end);
    let targets: Vec<u64> = code.iter().filter_map(branch_target).collect();
    let mut regs = Registers::default();
    for ins in code.iter().take_while(|i| i.address < at) {
        if targets.contains(&ins.address) {
            regs = Registers::default();
        }
        regs.step(ins);
    }
    if targets.contains(&at) {
        return None;
    }
    regs.get(reg)
}

/// The end of the function holding `at` (its symbol's size), or `at`.
fn function_end(image: &ElfImage, at: u64) -> u64 {
    let Some(hit) = image.symbolize(at).filter(|h| h.exact) else {
        return at;
    };
    image
        .symbol_ranges(&hit.name)
        .into_iter()
        .find(|r| r.contains(&at))
        .map_or(at, |r| r.end)
}

fn instructions(image: &ElfImage, start: u64, end: u64) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut address = start;
    while address < end {
        let bytes = image
            .bytes_at(address, 4)
            .or_else(|| image.bytes_at(address, 2));
        let Some(ins) = bytes.and_then(|b| disassemble(address, b)) else {
            break;
        };
        address += ins.length as u64;
        out.push(ins);
    }
    out
}

/// The instruction's mnemonic and operands, split.
fn parts(ins: &Instruction) -> (&str, Vec<&str>) {
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

/// Where a branch or jump goes, when the instruction names the address.
fn branch_target(ins: &Instruction) -> Option<u64> {
    let (mnemonic, operands) = parts(ins);
    if !(mnemonic.starts_with('b') || mnemonic.starts_with('j')) {
        return None;
    }
    operands.last().and_then(|o| number(o)).map(|n| n as u64)
}

/// An immediate as the disassembler writes it: `-1`, `63`, `0x3f`.
fn number(text: &str) -> Option<i64> {
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
#[derive(Default)]
struct Registers([Option<u64>; 32]);

impl Registers {
    fn get(&self, reg: u8) -> Option<u64> {
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

    fn step(&mut self, ins: &Instruction) {
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
        crate::elf::Instruction {
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
}
