//! What a register holds at an instruction when the function builds it from
//! constants (li, lui, addi, slli, or, ...): a forward walk of the
//! function's straight-line code. Anything not understood makes its
//! destination unknown; a branch, jump or call, and any branch target,
//! forgets everything, so a value is only claimed where one path leads.

use crate::elf::evaluate::{number, parts, Registers};
use crate::elf::{ElfImage, Instruction};

/// The value of x`reg` just before the instruction at `at`, when the code
/// from `start` (the function's first instruction) builds it from
/// constants alone.
pub(crate) fn register_value_before(image: &ElfImage, start: u64, at: u64, reg: u8) -> Option<u64> {
    if reg == 0 {
        return Some(0);
    }
    let end = function_end(image, at).max(at);
    let code = image.instructions(start, end);
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

/// Where a branch or jump goes, when the instruction names the address.
fn branch_target(ins: &Instruction) -> Option<u64> {
    let (mnemonic, operands) = parts(ins);
    if !(mnemonic.starts_with('b') || mnemonic.starts_with('j')) {
        return None;
    }
    operands.last().and_then(|o| number(o)).map(|n| n as u64)
}
