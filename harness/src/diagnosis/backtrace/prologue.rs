//! A function's frame layout, read from its prologue: the `addi sp`,
//! `sd ra`, `sd s0` and `addi s0, sp` before the body (compressed or not).

use serde::Serialize;

use crate::elf::ElfImage;

/// A function's frame layout at a point in it, read from its code.
/// Offsets are in bytes from the frame pointer (s0) once it is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Prologue {
    /// The function's first instruction.
    pub start: u64,
    /// Where the return address is saved (`None` in a leaf function).
    pub(crate) ra_slot: Option<i64>,
    /// Where the caller's s0 is saved.
    pub(crate) fp_slot: Option<i64>,
    /// The instruction that set s0 (`addi s0, sp, N`) before the point
    /// analysed; `None` when none did: s0 still holds the caller's frame
    /// pointer there (a function without a frame, or one whose prologue is
    /// shrink-wrapped onto a path not taken yet).
    pub(crate) fp_set_at: Option<u64>,
}

impl Prologue {
    /// Whether s0 is this function's own frame pointer at the point analysed.
    pub(crate) fn has_frame(&self) -> bool {
        self.fp_set_at.is_some()
    }
}

/// The most code read from a function's start when looking for its prologue.
const SCAN_LIMIT: usize = 4096;

const RA: u32 = 1;
const SP: u32 = 2;
const S0: u32 = 8;

/// One decoded prologue instruction.
#[derive(Debug, PartialEq, Eq)]
enum Op {
    /// `addi rd, rs1, imm`.
    Addi {
        rd: u32,
        rs1: u32,
        imm: i64,
    },
    /// `ret` (`jalr zero, 0(ra)`, or `c.jr ra`).
    Ret,
    /// `sd rs2, imm(rs1)`.
    Sd {
        rs2: u32,
        rs1: u32,
        imm: i64,
    },
    Other,
}

fn sign_extend(value: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((value << shift) as i64) >> shift
}

/// Decodes the few instruction forms a prologue uses (RV64GC, compressed
/// ones included); returns the operation and the instruction's length.
fn decode(code: &[u8]) -> Option<(Op, usize)> {
    let lo = u16::from_le_bytes([*code.first()?, *code.get(1)?]) as u64;
    if lo & 3 != 3 {
        let funct3 = lo >> 13;
        let op = match (lo & 3, funct3) {
            // c.addi4spn rd', sp, nzuimm
            (0, 0) if lo != 0 => {
                let imm = ((lo >> 11) & 3) << 4
                    | ((lo >> 7) & 0xf) << 6
                    | ((lo >> 6) & 1) << 2
                    | ((lo >> 5) & 1) << 3;
                Op::Addi {
                    rd: ((lo >> 2) & 7) as u32 + 8,
                    rs1: SP,
                    imm: imm as i64,
                }
            }
            // c.addi rd, imm (rd == sp in a prologue)
            (1, 0) => {
                let rd = ((lo >> 7) & 0x1f) as u32;
                let imm = sign_extend(((lo >> 12) & 1) << 5 | ((lo >> 2) & 0x1f), 6);
                Op::Addi { rd, rs1: rd, imm }
            }
            // c.addi16sp (rd == sp) / c.lui
            (1, 3) if (lo >> 7) & 0x1f == SP as u64 => {
                let imm = ((lo >> 12) & 1) << 9
                    | ((lo >> 6) & 1) << 4
                    | ((lo >> 5) & 1) << 6
                    | ((lo >> 3) & 3) << 7
                    | ((lo >> 2) & 1) << 5;
                Op::Addi {
                    rd: SP,
                    rs1: SP,
                    imm: sign_extend(imm, 10),
                }
            }
            // c.jr ra
            (2, 4) if lo == 0x8082 => Op::Ret,
            // c.sdsp rs2, uimm(sp)
            (2, 7) => {
                let imm = ((lo >> 10) & 7) << 3 | ((lo >> 7) & 7) << 6;
                Op::Sd {
                    rs2: ((lo >> 2) & 0x1f) as u32,
                    rs1: SP,
                    imm: imm as i64,
                }
            }
            _ => Op::Other,
        };
        return Some((op, 2));
    }
    let word = u32::from_le_bytes([code[0], code[1], *code.get(2)?, *code.get(3)?]) as u64;
    let rd = ((word >> 7) & 0x1f) as u32;
    let rs1 = ((word >> 15) & 0x1f) as u32;
    let rs2 = ((word >> 20) & 0x1f) as u32;
    let op = match word & 0x707f {
        0x0067 if word == 0x0000_8067 => Op::Ret,
        0x0013 => Op::Addi {
            rd,
            rs1,
            imm: sign_extend(word >> 20, 12),
        },
        0x3023 => Op::Sd {
            rs2,
            rs1,
            imm: sign_extend((word >> 25) << 5 | ((word >> 7) & 0x1f), 12),
        },
        _ => Op::Other,
    };
    Some((op, 4))
}

/// Reads the frame layout of the function starting at `start` (`code`
/// holds its bytes) as it is at `upto` (a pc, or a call site): the first
/// `addi s0, sp, N` before `upto` and the `sd ra`/`sd s0` to the stack before
/// it. The scan is linear, which suits GCC's layout: a prologue that
/// shrink-wrapping moved after an early `ret` is found after that `ret`
/// (what the fast path saved is forgotten at a `ret`).
pub(crate) fn analyze_prologue(start: u64, code: &[u8], upto: u64) -> Prologue {
    let mut sp_delta: i64 = 0; // sp relative to an arbitrary origin
    let mut ra_at = None; // where ra/s0 were stored, on the same origin
    let mut s0_at = None;
    let mut offset = 0usize;
    let frameless = Prologue {
        start,
        ra_slot: None,
        fp_slot: None,
        fp_set_at: None,
    };
    while start + (offset as u64) < upto {
        let Some((op, len)) = code.get(offset..).and_then(decode) else {
            return frameless;
        };
        let addr = start + offset as u64;
        match op {
            Op::Addi {
                rd: SP,
                rs1: SP,
                imm,
            } => sp_delta += imm,
            Op::Sd { rs2, rs1: SP, imm } if rs2 == RA => ra_at = Some(sp_delta + imm),
            Op::Sd { rs2, rs1: SP, imm } if rs2 == S0 => s0_at = Some(sp_delta + imm),
            Op::Addi {
                rd: S0,
                rs1: SP,
                imm,
            } => {
                let fp_at = sp_delta + imm;
                return Prologue {
                    start,
                    ra_slot: ra_at.map(|o| o - fp_at),
                    fp_slot: s0_at.map(|o| o - fp_at),
                    fp_set_at: Some(addr),
                };
            }
            Op::Ret => {
                ra_at = None;
                s0_at = None;
            }
            _ => {}
        }
        offset += len;
    }
    frameless
}

/// The layout at `upto` of the function containing `at` in `image`, from
/// the ELF file's bytes. `None` when `at` is in no known function.
pub(super) fn prologue_in(image: &ElfImage, at: u64, upto: u64) -> Option<Prologue> {
    let hit = image.symbolize(at)?;
    if !hit.exact {
        return None;
    }
    let want = (upto.saturating_sub(hit.address) as usize + 4).min(SCAN_LIMIT);
    let code = [want, want.saturating_sub(2), want.saturating_sub(4)]
        .iter()
        .find_map(|&n| image.bytes_at(hit.address, n))?;
    Some(analyze_prologue(hit.address, code, upto))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(halves: &[u16]) -> Vec<u8> {
        halves.iter().flat_map(|h| h.to_le_bytes()).collect()
    }

    #[test]
    fn leaf_prologue_of_the_reference_guest() {
        // kvminithart: add sp,sp,-16; sd s0,8(sp); add s0,sp,16; sfence.vma
        let code = bytes(&[0x1141, 0xe422, 0x0800, 0x0073, 0x1200]);
        let p = analyze_prologue(0x8020_05bc, &code, 0x8020_05da);
        assert!(p.has_frame());
        assert_eq!(p.ra_slot, None);
        assert_eq!(p.fp_slot, Some(-8));
        assert_eq!(p.fp_set_at, Some(0x8020_05c0));
        // At the addi s0 itself, it has not run yet.
        assert!(!analyze_prologue(0x8020_05bc, &code, 0x8020_05c0).has_frame());
    }

    #[test]
    fn non_leaf_prologues() {
        let end = u64::MAX;
        // main: add sp,sp,-16; sd ra,8(sp); sd s0,0(sp); add s0,sp,16
        let code = bytes(&[0x1141, 0xe406, 0xe022, 0x0800]);
        let p = analyze_prologue(0x8020_021c, &code, end);
        assert_eq!((p.ra_slot, p.fp_slot), (Some(-8), Some(-16)));
        // hart_init: add sp,sp,-32; sd s0,16(sp); sd ra,24(sp); sd s1,8(sp); add s0,sp,32
        let code = bytes(&[0x1101, 0xe822, 0xec06, 0xe426, 0x1000]);
        let p = analyze_prologue(0x8020_02bc, &code, end);
        assert_eq!((p.ra_slot, p.fp_slot), (Some(-8), Some(-16)));
        assert_eq!(p.fp_set_at, Some(0x8020_02bc + 8));
        // 32-bit forms: addi sp,sp,-48; sd ra,40(sp); sd s0,32(sp); addi s0,sp,48
        let words: [u32; 4] = [0xfd01_0113, 0x0211_3423, 0x0281_3023, 0x0301_0413];
        let code: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let p = analyze_prologue(0x1000, &code, end);
        assert_eq!((p.ra_slot, p.fp_slot), (Some(-8), Some(-16)));
        assert_eq!(p.fp_set_at, Some(0x100c));
        // c.addi16sp sp,-64 (0x7139); c.sdsp ra,56(sp) (0xfc06); c.sdsp s0,48(sp) (0xf822); c.addi4spn s0,sp,64 (0x0080)
        let code = bytes(&[0x7139, 0xfc06, 0xf822, 0x0080]);
        let p = analyze_prologue(0x2000, &code, end);
        assert_eq!((p.ra_slot, p.fp_slot), (Some(-8), Some(-16)));
        // No frame pointer at all: ret.
        assert!(!analyze_prologue(0x3000, &bytes(&[0x8082, 0x0001]), end).has_frame());
    }

    #[test]
    fn shrink_wrapped_prologue() {
        // Like the reference guest's kinit: a fast path without a frame
        // (ending in ret), then the prologue on the slow path.
        let code = bytes(&[
            0x76fd, 0x8f75, 0x8082, // lui a3; and a4,a4,a3; ret
            0x1141, 0xe022, 0xe406,
            0x0800, // add sp,-16; sd s0,0(sp); sd ra,8(sp); add s0,sp,16
            0x0001, // nop
        ]);
        let p = analyze_prologue(0x100, &code, 0x102);
        assert!(!p.has_frame(), "no frame on the fast path");
        let p = analyze_prologue(0x100, &code, 0x10e);
        assert_eq!(p.fp_set_at, Some(0x10c));
        assert_eq!((p.ra_slot, p.fp_slot), (Some(-8), Some(-16)));
        // A fast path that saved and dropped registers before its ret.
        let code = bytes(&[0xe406, 0x8082, 0x1141, 0xe022, 0x0800, 0x0001]);
        let p = analyze_prologue(0x100, &code, 0x10a);
        assert_eq!((p.ra_slot, p.fp_slot), (None, Some(-16)));
    }
}
