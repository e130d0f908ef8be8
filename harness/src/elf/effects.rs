//! What one instruction does to the code after it, for running a hart past
//! it without a stop: whether it falls through to the next instruction,
//! and which integer register and CSR it can write. Read from the
//! encoding, not the text, so that a CSR the disassembler has no name for
//! is still seen by number.

use super::Instruction;

/// What an instruction does, as far as passing it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Goes on to the next instruction unless it traps, writing at most
    /// x`rd` (0: none) and the CSR `csr`: integer arithmetic, `lui`,
    /// `auipc`, loads, stores, fences and the CSR instructions.
    Straight { rd: u8, csr: Option<u16> },
    /// Anything else: a branch, jump, call or return, `ecall`, `ebreak`,
    /// an xRET, `wfi`, a fence of the translation caches, atomics,
    /// floating point, or an encoding not understood.
    Other,
}

impl Instruction {
    /// What this instruction does ([`Effect`]).
    pub(crate) fn effect(&self) -> Effect {
        if self.illegal {
            return Effect::Other;
        }
        match self.length {
            4 => effect32(self.raw as u32),
            2 => effect16(self.raw as u16),
            _ => Effect::Other,
        }
    }
}

fn bits(raw: u32, hi: u32, lo: u32) -> u32 {
    (raw >> lo) & ((1 << (hi - lo + 1)) - 1)
}

fn writes(rd: u32) -> Effect {
    Effect::Straight {
        rd: rd as u8,
        csr: None,
    }
}

const NONE: Effect = Effect::Straight { rd: 0, csr: None };

fn effect32(raw: u32) -> Effect {
    let rd = bits(raw, 11, 7);
    match raw & 0x7f {
        // LOAD, OP-IMM, AUIPC, OP-IMM-32, OP, LUI, OP-32
        0x03 | 0x13 | 0x17 | 0x1b | 0x33 | 0x37 | 0x3b => writes(rd),
        // STORE
        0x23 => NONE,
        // MISC-MEM: fence (fence.i, funct3 1, drops translated code)
        0x0f if bits(raw, 14, 12) == 0 => NONE,
        // SYSTEM with funct3 != 0, 4: the CSR instructions
        0x73 => {
            let funct3 = bits(raw, 14, 12);
            if funct3 == 0 || funct3 == 4 {
                return Effect::Other;
            }
            // csrrs/csrrc with rs1 = x0 (and their immediate forms with 0)
            // only read.
            let source = bits(raw, 19, 15);
            let reads_only = matches!(funct3, 2 | 3 | 6 | 7) && source == 0;
            Effect::Straight {
                rd: rd as u8,
                csr: (!reads_only).then_some(bits(raw, 31, 20) as u16),
            }
        }
        _ => Effect::Other,
    }
}

fn effect16(raw: u16) -> Effect {
    let raw = u32::from(raw);
    let funct3 = bits(raw, 15, 13);
    let rd = bits(raw, 11, 7);
    // The 3-bit register fields name x8..x15.
    let rd_low = 8 + bits(raw, 4, 2);
    let rd_mid = 8 + bits(raw, 9, 7);
    match (raw & 3, funct3) {
        // c.addi4spn, c.lw, c.ld
        (0, 0) | (0, 2) | (0, 3) => writes(rd_low),
        // c.sw, c.sd
        (0, 6) | (0, 7) => NONE,
        // c.addi (c.nop), c.addiw, c.li, c.lui (c.addi16sp)
        (1, 0..=3) => writes(rd),
        // c.srli, c.srai, c.andi, c.sub, c.xor, c.or, c.and, c.subw, c.addw
        (1, 4) => writes(rd_mid),
        // c.slli, c.lwsp, c.ldsp
        (2, 0) | (2, 2) | (2, 3) => writes(rd),
        (2, 4) => {
            let (bit12, rs2) = (bits(raw, 12, 12), bits(raw, 6, 2));
            match (bit12, rs2) {
                // c.jr, c.jalr, c.ebreak
                (_, 0) => Effect::Other,
                // c.mv, c.add
                _ => writes(rd),
            }
        }
        // c.swsp, c.sdsp
        (2, 6) | (2, 7) => NONE,
        _ => Effect::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::disassemble;

    fn effect(raw: u32) -> Effect {
        let bytes = raw.to_le_bytes();
        let ins = disassemble(0x8020_0000, &bytes).expect("decodes");
        ins.effect()
    }

    fn effect_c(raw: u16) -> Effect {
        let ins = disassemble(0x8020_0000, &raw.to_le_bytes()).expect("decodes");
        assert_eq!(ins.length, 2, "{raw:04x} is compressed");
        ins.effect()
    }

    #[test]
    fn csr_writes_name_their_csr_and_reads_do_not() {
        // csrs henvcfg, a0 (csrrs x0, 0x60a, a0)
        assert_eq!(
            effect(0x60a5_2073),
            Effect::Straight {
                rd: 0,
                csr: Some(0x60a)
            }
        );
        // csrrw a5, hedeleg, a4
        assert_eq!(
            effect(0x6027_17f3),
            Effect::Straight {
                rd: 15,
                csr: Some(0x602)
            }
        );
        // csrr a5, henvcfg (csrrs a5, 0x60a, x0): a read
        assert_eq!(effect(0x60a0_27f3), Effect::Straight { rd: 15, csr: None });
        // csrsi henvcfg, 1 writes; csrci henvcfg, 0 only reads
        assert_eq!(
            effect(0x60a0_e073),
            Effect::Straight {
                rd: 0,
                csr: Some(0x60a)
            }
        );
        assert_eq!(effect(0x60a0_7073), Effect::Straight { rd: 0, csr: None });
    }

    #[test]
    fn arithmetic_loads_and_stores_go_straight_and_control_flow_does_not() {
        // li a5, -1 (addi a5, x0, -1)
        assert_eq!(effect(0xfff0_0793), Effect::Straight { rd: 15, csr: None });
        // lui a4, 0x1
        assert_eq!(effect(0x0000_1737), Effect::Straight { rd: 14, csr: None });
        // ld a5, 0(a0); sd a5, 0(a0)
        assert_eq!(effect(0x0005_3783), Effect::Straight { rd: 15, csr: None });
        assert_eq!(effect(0x00f5_3023), NONE);
        // fence rw,rw goes straight; fence.i does not
        assert_eq!(effect(0x0330_000f), NONE);
        assert_eq!(effect(0x0000_100f), Effect::Other);
        // beq, jal, jalr (ret), ecall, mret, wfi, sfence.vma, hfence.gvma
        for raw in [
            0x00b5_0463,
            0x0080_00ef,
            0x0000_8067,
            0x0000_0073,
            0x3020_0073,
            0x1050_0073,
            0x1200_0073,
            0x6200_0073,
        ] {
            assert_eq!(effect(raw), Effect::Other, "{raw:08x}");
        }
    }

    #[test]
    fn compressed_forms() {
        // c.li a5, 1; c.mv a0, a5; c.addi sp, -16; c.slli a5, 3
        assert_eq!(effect_c(0x4785), Effect::Straight { rd: 15, csr: None });
        assert_eq!(effect_c(0x853e), Effect::Straight { rd: 10, csr: None });
        assert_eq!(effect_c(0x1141), Effect::Straight { rd: 2, csr: None });
        assert_eq!(effect_c(0x078e), Effect::Straight { rd: 15, csr: None });
        // c.or a5, a4 (x8..x15 in the 3-bit field)
        assert_eq!(effect_c(0x8fd9), Effect::Straight { rd: 15, csr: None });
        // c.ld a5, 0(a0); c.sd a5, 0(a0)
        assert_eq!(effect_c(0x611c), Effect::Straight { rd: 15, csr: None });
        assert_eq!(effect_c(0xe11c), NONE);
        // c.ret (c.jr ra), c.jalr a5, c.j, c.beqz a5, c.ebreak
        for raw in [0x8082u16, 0x9782, 0xa001, 0xc391, 0x9002] {
            assert_eq!(effect_c(raw), Effect::Other, "{raw:04x}");
        }
    }
}
