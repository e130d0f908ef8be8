//! What a register holds at an instruction when the function builds it from
//! constants (li, lui, addi, slli, or, ...): a forward walk of the
//! function's straight-line code. Anything not understood makes its
//! destination unknown; a branch, jump or call, and any branch target,
//! forgets everything, so a value is only claimed where one path leads.

use crate::elf::evaluate::{number, parts, Registers};
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

/// Where a branch or jump goes, when the instruction names the address.
fn branch_target(ins: &Instruction) -> Option<u64> {
    let (mnemonic, operands) = parts(ins);
    if !(mnemonic.starts_with('b') || mnemonic.starts_with('j')) {
        return None;
    }
    operands.last().and_then(|o| number(o)).map(|n| n as u64)
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
