//! The illegal-instruction rule: the instruction that trapped, decoded and
//! said in words.

use super::{Evidence, Finding};
use crate::elf::Instruction;
use crate::riscv::cause::code;

const INT_REGS: &[&str] = &[
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "fp", "s1", "a0", "a1", "a2", "a3",
    "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3",
    "t4", "t5", "t6",
];

/// What an instruction that trapped as illegal (or virtual) is, in words.
pub(crate) fn explain_instruction(ins: &Instruction, from: &str) -> String {
    let raw = ins.raw;
    if ins.length == 4 && raw == 0xc000_1073 {
        return "csrrw zero, cycle, zero, a write to the read-only CSR cycle: the canonical illegal instruction, always trapping".into();
    }
    if raw == 0 {
        return "all zero bits: the pc ran into zeroed memory or data, not code".into();
    }
    if (ins.length == 4 && raw == 0xffff_ffff) || (ins.length == 2 && raw == 0xffff) {
        return "all one bits: the pc ran into erased or uninitialised memory".into();
    }
    if ins.illegal {
        return "not a valid RV64GC instruction".into();
    }
    if ins.length == 4 && raw & 0x7f == 0x73 {
        let funct3 = (raw >> 12) & 7;
        if funct3 != 0 && funct3 != 4 {
            let csr = raw >> 20;
            let rs1 = (raw >> 15) & 0x1f;
            let writes = matches!(funct3, 1 | 5) || rs1 != 0;
            let name = ins
                .text
                .split([' ', ','])
                .skip(1)
                .map(str::trim)
                .find(|t| !t.is_empty() && !INT_REGS.contains(t) && t.parse::<i64>().is_err())
                .unwrap_or("?")
                .to_string();
            if writes && csr >> 10 == 3 {
                return format!("a write to the read-only CSR {name} ({csr:#x})");
            }
            let level = match (csr >> 8) & 3 {
                0 => "U",
                1 => "S",
                2 => "HS (hypervisor)",
                _ => "M",
            };
            return format!(
                "an access to CSR {name} ({csr:#x}), which needs {level}-mode or higher (and may not exist on this hart); it ran in {from}-mode"
            );
        }
        return format!("a privileged instruction not allowed in {from}-mode here");
    }
    "an instruction this hart does not implement or allow here".into()
}

/// The illegal-instruction rule: decode the instruction and say what it is.
pub(super) fn illegal_instruction(e: &Evidence) -> Option<Finding> {
    let c = e.fault.cause;
    if c.interrupt || !matches!(c.code, code::ILLEGAL_INST | code::VIRTUAL_INST) {
        return None;
    }
    // A counter read with its enable bit clear is the counters rule's: it
    // names the bit; this one would only repeat the trap, less precisely.
    if crate::diagnosis::counters::counters(e).is_some() {
        return None;
    }
    let from = e.fault.from.to_string();
    let ins = e.instruction();
    let (what, details) = match &ins {
        Some(i) => (
            format!(
                "{:#0w$x} is `{}`: {}",
                i.raw,
                i.text,
                explain_instruction(i, &from),
                w = i.length * 2 + 2
            ),
            vec![format!(
                "tval = {:#x}, epc = {:#x}",
                e.fault.tval, e.fault.epc
            )],
        ),
        None => (
            format!(
                "the instruction could not be read (tval {:#x})",
                e.fault.tval
            ),
            vec![],
        ),
    };
    let virtual_inst = c.is(code::VIRTUAL_INST);
    let kind = if virtual_inst {
        "virtual instruction (a hypervisor-only instruction or CSR used in VS/VU-mode)"
    } else {
        "illegal instruction"
    };
    Some(Finding {
        rule: "illegal-instruction".into(),
        summary: format!("{kind} at {}: {what}.", e.epc_place()),
        details,
        fix: Some(if virtual_inst {
            "Emulate the instruction in the hypervisor's virtual-instruction handler, or keep the guest from using it.".into()
        } else {
            "Correct the instruction (or the jump that led there); if it is meant to be emulated, the handler that receives cause 2 must do so.".into()
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use crate::diagnosis::walk::tests::{adue_context, fixture};
    use crate::riscv::{Cause, PrivilegeLevel};

    #[test]
    fn illegal_instruction_decoded() {
        // The illegal build: `unimp` in the guest, tval = the instruction.
        let f = fixture();
        let mut ctx = adue_context(&f);
        ctx.csrs.insert("henvcfg".into(), 0xa000_0000_0000_0000);
        ctx.cause = Cause::exception(2);
        ctx.epc = 0x8020_0a14;
        ctx.tval = 0xc000_1073;
        ctx.csrs.insert("vstvec".into(), 0x8020_1000);
        ctx.epc_place = Some("guest:fault_illegal_insn+0x14".into());
        let found = diagnose(&Evidence::new(&ctx));
        assert_eq!(
            found.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
            ["illegal-instruction"]
        );
        assert_eq!(
            found[0].summary,
            "illegal instruction at guest:fault_illegal_insn+0x14: 0xc0001073 is `unimp`: csrrw zero, cycle, zero, a write to the read-only CSR cycle: the canonical illegal instruction, always trapping."
        );
        // From the bytes read at epc when tval is 0: a write to satp from VU-mode.
        let mut ctx2 = ctx.clone();
        ctx2.tval = 0;
        ctx2.from = PrivilegeLevel::from_qemu_priv(4);
        let code = 0x1807_9073u32.to_le_bytes();
        let mut e = Evidence::new(&ctx2);
        e.code = Some(&code);
        let f2 = &diagnose(&e)[0];
        assert!(f2.summary.contains("0x18079073 is `csrw satp, a5`: an access to CSR satp (0x180), which needs S-mode or higher"), "{}", f2.summary);
        assert!(f2.summary.contains("it ran in VU-mode"), "{}", f2.summary);
        // Zeroed memory, compressed.
        let mut ctx3 = ctx.clone();
        ctx3.tval = 0;
        let zeros = [0u8; 4];
        let mut e = Evidence::new(&ctx3);
        e.code = Some(&zeros);
        assert!(
            diagnose(&e)[0].summary.contains("all zero bits"),
            "{}",
            diagnose(&e)[0].summary
        );
        // Nothing to decode.
        assert!(diagnose(&Evidence::new(&ctx3))[0]
            .summary
            .contains("could not be read"));
    }
}
