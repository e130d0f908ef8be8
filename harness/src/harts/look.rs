//! Looking at one stopped hart: is it parked, busy, waiting or not started?
//!
//! A look counts instructions, not host time, so a loaded host makes it
//! slower, never different: a quiet hart is single-stepped a few
//! instructions (the other harts stay stopped). A hart whose pc leaves a
//! small window, or whose registers differ when it comes back to the same
//! pc, is busy; one that stays in a `wfi` loop or a `j .` is parked. A step
//! that does not complete means the hart is halted in `wfi` with nothing to
//! wake it. A hart in M-mode outside every scenario ELF is in the firmware
//! (OpenSBI holding it in the HSM "stopped" state): not started yet.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::debug::{privilege_of, DebugSession, StopRecord};
use crate::riscv::{Level, PrivilegeLevel};
use crate::rsp::{RspError, ThreadId};

/// Instructions a quiet hart is stepped.
const STEPS: usize = 12;
/// A tight loop stays within this many bytes of code.
const TIGHT_SPAN: u64 = 16;
/// A step that takes longer has not happened: the hart is halted (in `wfi`).
/// A step takes microseconds; a loaded host that delays one past this only
/// matters when a `wfi` is right there, and then the hart is in a wfi loop
/// all the same.
const STEP_LIMIT: Duration = Duration::from_millis(300);

const WFI: u32 = 0x1050_0073;
/// `jal x0, 0` and `c.j 0`.
const JUMP_TO_SELF: u32 = 0x0000_006f;
const C_JUMP_TO_SELF: u16 = 0xa001;

/// What a hart's tight loop is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoopKind {
    /// Halted in `wfi`: a step never completed.
    WfiHalted,
    /// A loop around `wfi` (something wakes it, nothing changes).
    WfiLoop,
    /// `j .`
    JumpToSelf,
}

impl LoopKind {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            LoopKind::WfiHalted => "wfi loop, halted",
            LoopKind::WfiLoop => "wfi loop",
            LoopKind::JumpToSelf => "j . loop",
        }
    }
}

/// What a look at one quiet hart found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HartLook {
    /// Parked for good: a tight loop in the scenario's code that changes nothing.
    Parked {
        pc: u64,
        place: String,
        kind: LoopKind,
        privilege: PrivilegeLevel,
    },
    /// In M-mode outside every scenario ELF: the firmware holds it (SBI HSM).
    NotStarted { pc: u64 },
    /// Its state changes: working silently.
    Busy,
    /// A tight loop that changes nothing but is neither `wfi` nor `j .`
    /// (polling memory another hart will write): not called a hang.
    Waiting { pc: u64 },
}

impl HartLook {
    /// `hart 0 parked in hypervisor:park+0x8 (wfi loop, HS)`-style detail.
    pub(crate) fn parked_detail(&self) -> Option<(String, String)> {
        match self {
            HartLook::Parked {
                place,
                kind,
                privilege,
                ..
            } => Some((place.clone(), format!("{}, {}", kind.describe(), privilege))),
            _ => None,
        }
    }
}

/// Looks at each of `harts` (stops the machine, resumes it after). `None`
/// when QEMU exited meanwhile. Stops at scenario breakpoints that came in
/// between are added to `records`.
pub(crate) async fn look_at_harts(
    session: &mut DebugSession,
    harts: &[u32],
    records: &mut Vec<StopRecord>,
) -> Result<Option<Vec<(u32, HartLook)>>> {
    let Some(taken) = session.pause().await? else {
        return Ok(None);
    };
    records.extend(taken);
    let threads = session.threads().await?;
    let mut out = Vec::new();
    for &hart in harts {
        let Some(thread) = threads
            .iter()
            .copied()
            .find(|t| t.hart_index() == Some(hart as usize))
        else {
            continue;
        };
        let look = look_at(session, thread)
            .await
            .with_context(|| format!("looking at hart {hart}"))?;
        out.push((hart, look));
    }
    session.cont().await?;
    Ok(Some(out))
}

/// Looks at one hart while the machine stays stopped (a diagnosis, after
/// the verdict): the hart is single-stepped as in [`look_at_harts`], the
/// others do not move. `None` when the target has no such hart.
pub(crate) async fn look_at_stopped(
    session: &mut DebugSession,
    hart: u32,
) -> Result<Option<HartLook>> {
    let threads = session.threads().await?;
    let Some(thread) = threads
        .iter()
        .copied()
        .find(|t| t.hart_index() == Some(hart as usize))
    else {
        return Ok(None);
    };
    let look = look_at(session, thread)
        .await
        .with_context(|| format!("looking at hart {hart}"))?;
    Ok(Some(look))
}

/// The hart's pc and other core registers.
async fn core_state(session: &mut DebugSession, thread: ThreadId) -> Result<(u64, Vec<u64>)> {
    let rsp = session.rsp();
    rsp.select_register_thread(thread).await?;
    let regs = rsp
        .read_core_registers()
        .await
        .context("reading the core registers")?;
    let mut pc = None;
    let mut rest = Vec::new();
    for (name, v) in regs {
        let v = v.as_u64().unwrap_or(0);
        if name == "pc" {
            pc = Some(v);
        } else {
            rest.push(v);
        }
    }
    Ok((pc.context("no pc among the core registers")?, rest))
}

pub(crate) enum Step {
    Done,
    /// The step did not complete: the hart is halted.
    Halted,
}

/// Single-steps one hart, bounded by [`STEP_LIMIT`].
pub(crate) async fn step(session: &mut DebugSession, thread: ThreadId) -> Result<Step> {
    let rsp = session.rsp();
    let saved = rsp.config().reply_timeout;
    rsp.set_reply_timeout(STEP_LIMIT);
    let stepped = rsp.step(thread).await;
    rsp.set_reply_timeout(saved);
    match stepped {
        Ok(_) => Ok(Step::Done),
        Err(RspError::Timeout { .. }) => {
            rsp.interrupt_and_wait()
                .await
                .context("stopping a step that did not complete")?;
            Ok(Step::Halted)
        }
        Err(e) => Err(e).context("single-stepping"),
    }
}

async fn look_at(session: &mut DebugSession, thread: ThreadId) -> Result<HartLook> {
    let version = session.version();
    let privilege = privilege_of(session.rsp(), thread, version).await?;
    let (pc0, regs0) = core_state(session, thread).await?;
    let in_elf = !session.elfs().spaces_containing(pc0).is_empty();
    if !in_elf && privilege.level == Level::Machine {
        return Ok(HartLook::NotStarted { pc: pc0 });
    }
    let mut pcs = vec![pc0];
    let mut halted = false;
    for _ in 0..STEPS {
        let before = pcs.last().copied().unwrap_or(pc0);
        let result = step(session, thread).await?;
        let (pc, regs) = core_state(session, thread).await?;
        if pc == pc0 && regs != regs0 {
            return Ok(HartLook::Busy);
        }
        pcs.push(pc);
        if matches!(result, Step::Halted) && pc == before {
            halted = true;
            break;
        }
    }
    let (lo, hi) = (
        pcs.iter().min().copied().unwrap_or(pc0),
        pcs.iter().max().copied().unwrap_or(pc0),
    );
    if hi - lo > TIGHT_SPAN {
        return Ok(HartLook::Busy);
    }
    let start = lo.saturating_sub(4);
    let code = code_bytes(session, start, (hi - start + 4) as usize, privilege.virt).await;
    let Some(kind) = loop_kind(&code, start, &pcs, halted) else {
        return Ok(HartLook::Waiting { pc: pc0 });
    };
    if !in_elf && privilege.level != Level::Machine {
        // Code no scenario ELF describes (a guest loaded from a disk image):
        // still parked, named by address.
        return Ok(HartLook::Parked {
            pc: pc0,
            place: format!("{pc0:#x}"),
            kind,
            privilege,
        });
    }
    let place = place_in_elfs(session, pc0, privilege.virt).unwrap_or_else(|| format!("{pc0:#x}"));
    Ok(HartLook::Parked {
        pc: pc0,
        place,
        kind,
        privilege,
    })
}

/// What loop the visited `pcs` and the code there make, if a parking one.
pub(crate) fn loop_kind(code: &[u8], start: u64, pcs: &[u64], halted: bool) -> Option<LoopKind> {
    let word_at = |addr: u64| -> Option<u32> {
        let off = usize::try_from(addr.checked_sub(start)?).ok()?;
        let b = code.get(off..off.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let half_at = |addr: u64| -> Option<u16> {
        let off = usize::try_from(addr.checked_sub(start)?).ok()?;
        let b = code.get(off..off.checked_add(2)?)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    };
    // wfi leaves pc after itself when it halts; look at the instruction
    // before each visited pc as well as at it.
    let wfi_near = pcs
        .iter()
        .any(|&pc| word_at(pc) == Some(WFI) || word_at(pc.wrapping_sub(4)) == Some(WFI));
    if halted {
        return wfi_near.then_some(LoopKind::WfiHalted);
    }
    if wfi_near {
        return Some(LoopKind::WfiLoop);
    }
    let pc = pcs[0];
    let still = pcs.iter().all(|&p| p == pc);
    let self_jump = word_at(pc) == Some(JUMP_TO_SELF) || half_at(pc) == Some(C_JUMP_TO_SELF);
    (still && self_jump).then_some(LoopKind::JumpToSelf)
}

/// `len` bytes of code at `addr`: from a scenario ELF of the hart's V
/// (`virt`) when one has them, else read from the target (may be empty
/// when unreadable). A guest linked where the hypervisor is must not be
/// read from the hypervisor's file.
async fn code_bytes(
    session: &mut DebugSession,
    addr: u64,
    len: usize,
    virt: Option<bool>,
) -> Vec<u8> {
    for image in session.elfs_at(virt) {
        if let Some(b) = image.bytes_at(addr, len) {
            return b.to_vec();
        }
    }
    session
        .rsp()
        .read_memory(addr, len)
        .await
        .unwrap_or_default()
}

/// `space:symbol+offset` of `pc` in the scenario's ELF files of the hart's V.
fn place_in_elfs(session: &DebugSession, pc: u64, virt: Option<bool>) -> Option<String> {
    session.elfs_at(virt).into_iter().find_map(|i| {
        i.symbolize(pc)
            .filter(|h| h.exact)
            .map(|h| format!("{}:{h}", i.name()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    const NOP: u32 = 0x0000_0013;
    /// `j -4` (back to the instruction before).
    const J_BACK: u32 = 0xffdf_f06f;
    /// `lw a0, 0(a1)`; `beqz a0, -4`.
    const LW: u32 = 0x0005_a503;
    const BEQZ_BACK: u32 = 0xfe05_0ee3;

    #[test]
    fn a_halted_wfi_is_parked() {
        // pc sits after the wfi (QEMU leaves it there when the hart halts).
        let c = code(&[NOP, WFI, J_BACK]);
        assert_eq!(
            loop_kind(&c, 0x1000, &[0x1008, 0x1008], true),
            Some(LoopKind::WfiHalted)
        );
    }

    #[test]
    fn a_woken_wfi_loop_is_parked() {
        let c = code(&[NOP, WFI, J_BACK]);
        assert_eq!(
            loop_kind(&c, 0x1000, &[0x1004, 0x1008, 0x1004, 0x1008], false),
            Some(LoopKind::WfiLoop)
        );
    }

    #[test]
    fn a_jump_to_itself_is_parked() {
        let c = code(&[NOP, JUMP_TO_SELF, NOP]);
        assert_eq!(
            loop_kind(&c, 0x1000, &[0x1004, 0x1004, 0x1004], false),
            Some(LoopKind::JumpToSelf)
        );
        let mut c16 = code(&[NOP]);
        c16.extend_from_slice(&C_JUMP_TO_SELF.to_le_bytes());
        c16.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            loop_kind(&c16, 0x1000, &[0x1004, 0x1004], false),
            Some(LoopKind::JumpToSelf)
        );
    }

    #[test]
    fn polling_memory_is_not_parked() {
        let c = code(&[NOP, LW, BEQZ_BACK, NOP]);
        assert_eq!(
            loop_kind(&c, 0x1000, &[0x1004, 0x1008, 0x1004, 0x1008], false),
            None
        );
        // A step that did not complete without a wfi there is not called parked either.
        assert_eq!(loop_kind(&c, 0x1000, &[0x1004, 0x1004], true), None);
    }

    #[test]
    fn unreadable_code_is_not_parked() {
        assert_eq!(loop_kind(&[], 0x1000, &[0x1004, 0x1004], false), None);
    }
}
