//! A backtrace along the frame-pointer chain.
//!
//! Code built with `-fno-omit-frame-pointer` (the reference firmware is)
//! keeps s0 as the frame pointer: on RISC-V, GCC sets s0 to the stack
//! pointer at the function's entry (the CFA) and saves the return address
//! at s0-8 and the caller's s0 at s0-16. Leaf functions are the exception:
//! they save only s0, at s0-8, and leave the return address in ra. And at a
//! fault inside a prologue s0 still holds the caller's frame pointer.
//!
//! So the layout of each function is read from its prologue (the
//! `addi sp`, `sd ra`, `sd s0` and `addi s0, sp` before the body, in the
//! ELF file's bytes) rather than assumed; without an ELF file the standard
//! layout is used, with a guess for a leaf at the first frame.
//!
//! Memory is read through a [`VirtMemory`]: the stack lives at the
//! context's virtual addresses, so a guest with paging on needs
//! [`super::walk::Translated`], which reads through both stages.

use std::fmt;

use serde::Serialize;

use super::walk::VirtMemory;
use super::FaultContext;
use crate::elf::{ElfImage, ElfSet, SourceLine, SymbolHit};

mod prologue;

use prologue::prologue_in;
pub use prologue::Prologue;

/// The default bound on the number of frames.
pub const MAX_DEPTH: usize = 32;

/// The registers a backtrace starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FrameRegs {
    /// The pc of the innermost frame (epc at a fault).
    pub pc: u64,
    /// The return-address register.
    pub ra: u64,
    /// The stack pointer.
    pub(crate) sp: u64,
    /// s0, the frame pointer.
    pub(crate) fp: u64,
}

impl FrameRegs {
    /// The registers of a fault: pc = epc, and `ra`, `sp` and `s0` (or `fp`,
    /// QEMU's name for x8) from the context's registers. A trap does not
    /// change the general registers, so their values at the first
    /// instruction of the trap handler (or at a stop soon after the trap,
    /// before the handler touched them) are those at the fault.
    pub fn from_context(ctx: &FaultContext) -> Result<FrameRegs, String> {
        let get = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| ctx.csr(n))
                .ok_or_else(|| format!("register {} was not read at the trap", names[0]))
        };
        Ok(FrameRegs {
            pc: ctx.epc,
            ra: get(&["ra", "x1"])?,
            sp: get(&["sp", "x2"])?,
            fp: get(&["s0", "fp", "x8"])?,
        })
    }
}

/// Where a frame's pc came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FrameSource {
    /// The faulting pc itself.
    Pc,
    /// The ra register: the innermost function had not saved it (a leaf, or
    /// a fault in its prologue).
    RaRegister,
    /// Read from the stack at this address.
    Saved { at: u64 },
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// 0 for the faulting function, then each caller.
    pub(crate) index: usize,
    /// The pc: the faulting pc, then return addresses.
    pub(crate) pc: u64,
    /// The frame's frame pointer (its CFA), when known.
    pub(crate) fp: Option<u64>,
    /// Where the pc came from.
    pub(crate) source: FrameSource,
    /// The ELF file used to describe it.
    pub(crate) space: Option<String>,
    /// The function: for callers, that of the call (pc - 1), with the
    /// offset of the return address.
    pub(crate) function: Option<SymbolHit>,
    /// The source line (for callers, of the call).
    pub line: Option<SourceLine>,
}

impl Frame {
    /// `guest:kvminithart+0x1e at kernel/vm.c:94`, or as much as is known.
    pub(crate) fn place(&self) -> String {
        let mut s = String::new();
        if let (Some(space), Some(_)) = (&self.space, &self.function) {
            s.push_str(space);
            s.push(':');
        }
        match &self.function {
            Some(f) => s.push_str(&f.to_string()),
            None => s.push_str(&format!("{:#x}", self.pc)),
        }
        if let Some(l) = &self.line {
            s.push_str(&format!(" at {l}"));
        }
        s
    }
}

impl fmt::Display for Frame {
    /// `#1 0x80200248 guest:main+0x2c at kernel/main.c:20`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {:#x}", self.index, self.pc)?;
        if self.function.is_some() || self.line.is_some() {
            write!(f, " {}", self.place())?;
        }
        if self.source == FrameSource::RaRegister {
            write!(f, " (return address still in ra)")?;
        }
        Ok(())
    }
}

/// Why the chain ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum StopReason {
    /// A frame pointer of 0: the outermost frame (or s0 never set up).
    NullFp,
    /// A return address of 0: the outermost frame.
    NullReturnAddress,
    /// A frame pointer not aligned to 8 bytes.
    MisalignedFp { fp: u64 },
    /// A frame pointer that does not move up the stack (a loop, or garbage).
    Loop { fp: u64 },
    /// The stack could not be read there.
    Unreadable { address: u64 },
    /// The frame limit was reached.
    DepthLimit { depth: usize },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::NullFp => write!(f, "frame pointer 0: outermost frame"),
            StopReason::NullReturnAddress => write!(f, "return address 0: outermost frame"),
            StopReason::MisalignedFp { fp } => write!(f, "misaligned frame pointer {fp:#x}"),
            StopReason::Loop { fp } => {
                write!(f, "frame pointer {fp:#x} does not move up the stack")
            }
            StopReason::Unreadable { address } => {
                write!(f, "cannot read the stack at {address:#x}")
            }
            StopReason::DepthLimit { depth } => write!(f, "stopped after {depth} frames"),
        }
    }
}

/// A backtrace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backtrace {
    /// The frames, innermost first.
    pub frames: Vec<Frame>,
    /// Why the chain ended.
    pub(crate) stop: StopReason,
    /// Guesses made on the way (no ELF layout for a function, ...).
    pub(crate) notes: Vec<String>,
}

impl Backtrace {
    /// One line per frame, then the reason it stopped.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for fr in &self.frames {
            s.push_str(&format!("{fr}\n"));
        }
        s.push_str(&format!("(end: {})\n", self.stop));
        for n in &self.notes {
            s.push_str(&format!("(note: {n})\n"));
        }
        s
    }

    /// The function names, innermost first (for tests and summaries).
    pub fn functions(&self) -> Vec<&str> {
        self.frames
            .iter()
            .filter_map(|f| f.function.as_ref().map(|h| h.name.as_str()))
            .collect()
    }
}

impl fmt::Display for Backtrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

fn image_for<'e>(elfs: Option<&'e ElfSet>, space: Option<&str>, pc: u64) -> Option<&'e ElfImage> {
    let elfs = elfs?;
    match space {
        Some(name) => elfs.space(name).ok(),
        None => match elfs.spaces_containing(pc).as_slice() {
            [only] => Some(*only),
            _ => None,
        },
    }
}

fn describe(
    index: usize,
    pc: u64,
    fp: Option<u64>,
    source: FrameSource,
    image: Option<&ElfImage>,
) -> Frame {
    // A return address follows its call: describe the call (pc - 1), which
    // may be the last instruction of a function that never returns.
    let lookup = if index == 0 { pc } else { pc.wrapping_sub(1) };
    let function = image.and_then(|i| i.symbolize(lookup)).map(|mut h| {
        h.offset = pc.wrapping_sub(h.address);
        h
    });
    Frame {
        index,
        pc,
        fp,
        source,
        space: image.map(|i| i.name().to_string()),
        function,
        line: image.and_then(|i| i.line_for(lookup)),
    }
}

async fn read<M: VirtMemory>(mem: &mut M, at: u64) -> anyhow::Result<Result<u64, StopReason>> {
    Ok(mem
        .read_u64(at)
        .await?
        .ok_or(StopReason::Unreadable { address: at }))
}

/// Walks the frame-pointer chain from `regs`, at most `max_depth` frames.
/// `space` names the ELF file of the code that ran (the guest's for V=1);
/// `None` picks the only file containing each pc. Errors are the memory
/// reader's own failures (a broken connection); an unreadable or
/// implausible frame just ends the chain, with the reason in
/// [`Backtrace::stop`].
pub async fn backtrace<M: VirtMemory>(
    regs: FrameRegs,
    mem: &mut M,
    elfs: Option<&ElfSet>,
    space: Option<&str>,
    max_depth: usize,
) -> anyhow::Result<Backtrace> {
    let mut notes = Vec::new();
    let mut frames = Vec::new();
    let image0 = image_for(elfs, space, regs.pc);
    let layout0 = image0.and_then(|i| prologue_in(i, regs.pc, regs.pc));
    frames.push(describe(0, regs.pc, None, FrameSource::Pc, image0));
    if max_depth <= 1 {
        return Ok(done(frames, StopReason::DepthLimit { depth: 1 }, notes));
    }
    // A return address is plausible when it follows code of a known function.
    let plausible = |ret: u64| {
        ret != 0
            && image_for(elfs, space, ret)
                .and_then(|i| i.symbolize(ret.wrapping_sub(1)))
                .is_some_and(|h| h.exact)
    };

    // The innermost frame: where its return address and the caller's frame
    // pointer are depends on whether its prologue ran.
    let first = &mut frames[0];
    let caller = match layout0 {
        // No frame yet (or none at all): s0 is still the caller's, and
        // the return address is still in ra.
        Some(p) if !p.has_frame() => Ok(Caller {
            pc: regs.ra,
            source: FrameSource::RaRegister,
            fp: regs.fp,
        }),
        Some(p) => caller_of_framed(&regs, p, mem, first, &mut notes, &plausible).await?,
        None => caller_without_code(&regs, mem, first, &mut notes).await?,
    };
    match caller {
        Ok(caller) => walk_callers(caller, frames, notes, mem, elfs, space, max_depth).await,
        Err(stop) => Ok(done(frames, stop, notes)),
    }
}

/// A caller's frame as its callee's frame shows it: the return address,
/// where that was found, and the caller's frame pointer.
struct Caller {
    pc: u64,
    source: FrameSource,
    fp: u64,
}

/// The caller of an innermost frame whose prologue has set up its frame
/// (`first.fp` is set, or cleared when the saved return address is implausible).
async fn caller_of_framed<M: VirtMemory>(
    regs: &FrameRegs,
    p: Prologue,
    mem: &mut M,
    first: &mut Frame,
    notes: &mut Vec<String>,
    plausible: &impl Fn(u64) -> bool,
) -> anyhow::Result<Result<Caller, StopReason>> {
    first.fp = Some(regs.fp);
    if let Some(stop) = bad_fp(regs.fp, None) {
        return Ok(Err(stop));
    }
    let Some(fp_slot) = p.fp_slot else {
        notes.push(format!(
            "{:#x}: the prologue sets s0 without saving the caller's",
            regs.pc
        ));
        return Ok(Err(StopReason::NullFp));
    };
    let caller_fp = match read(mem, regs.fp.wrapping_add_signed(fp_slot)).await? {
        Ok(v) => v,
        Err(stop) => return Ok(Err(stop)),
    };
    let in_ra = Caller {
        pc: regs.ra,
        source: FrameSource::RaRegister,
        fp: caller_fp,
    };
    // A leaf: only s0 was saved.
    let Some(slot) = p.ra_slot else {
        return Ok(Ok(in_ra));
    };
    let at = regs.fp.wrapping_add_signed(slot);
    Ok(match read(mem, at).await? {
        Ok(ret) if plausible(ret) || !plausible(regs.ra) => Ok(Caller {
            pc: ret,
            source: FrameSource::Saved { at },
            fp: caller_fp,
        }),
        Ok(ret) => {
            // The frame found by a linear scan may belong to a path not
            // taken (shrink-wrapping): ra is the better witness.
            notes.push(format!(
                "{:#x}: the saved return address {ret:#x} is in no function; used ra",
                regs.pc
            ));
            first.fp = None;
            Ok(Caller {
                fp: regs.fp,
                ..in_ra
            })
        }
        Err(stop) => Err(stop),
    })
}

/// The caller of an innermost frame in code no ELF file describes: a leaf's
/// saved s0 when fp-8 looks like one, else the standard layout.
async fn caller_without_code<M: VirtMemory>(
    regs: &FrameRegs,
    mem: &mut M,
    first: &mut Frame,
    notes: &mut Vec<String>,
) -> anyhow::Result<Result<Caller, StopReason>> {
    first.fp = Some(regs.fp);
    if let Some(stop) = bad_fp(regs.fp, None) {
        return Ok(Err(stop));
    }
    let at8 = regs.fp.wrapping_sub(8);
    let v8 = match read(mem, at8).await? {
        Ok(v) => v,
        Err(stop) => return Ok(Err(stop)),
    };
    // A leaf saves only s0, at fp-8: a value just above fp on the
    // stack looks like the caller's frame pointer.
    if v8 > regs.fp && v8 - regs.fp <= 0x10_0000 && v8 % 8 == 0 {
        notes.push(format!(
            "no code known at {:#x}: fp-8 holds {v8:#x}, taken as a leaf's saved s0 (return address from ra)",
            regs.pc
        ));
        return Ok(Ok(Caller {
            pc: regs.ra,
            source: FrameSource::RaRegister,
            fp: v8,
        }));
    }
    notes.push(format!(
        "no code known at {:#x}: standard layout assumed (ra at fp-8, s0 at fp-16)",
        regs.pc
    ));
    Ok(read(mem, regs.fp.wrapping_sub(16)).await?.map(|fp| Caller {
        pc: v8,
        source: FrameSource::Saved { at: at8 },
        fp,
    }))
}

/// Follows the frame-pointer chain from the innermost frame's caller until
/// it ends or `max_depth` frames are listed.
async fn walk_callers<M: VirtMemory>(
    caller: Caller,
    mut frames: Vec<Frame>,
    mut notes: Vec<String>,
    mem: &mut M,
    elfs: Option<&ElfSet>,
    space: Option<&str>,
    max_depth: usize,
) -> anyhow::Result<Backtrace> {
    let Caller {
        mut pc,
        mut source,
        mut fp,
    } = caller;
    let mut previous_fp = frames[0].fp;
    loop {
        if pc == 0 {
            return Ok(done(frames, StopReason::NullReturnAddress, notes));
        }
        let image = image_for(elfs, space, pc);
        frames.push(describe(frames.len(), pc, Some(fp), source, image));
        if frames.len() >= max_depth {
            return Ok(done(
                frames,
                StopReason::DepthLimit { depth: max_depth },
                notes,
            ));
        }
        if let Some(stop) = bad_fp(fp, previous_fp) {
            return Ok(done(frames, stop, notes));
        }
        // A caller made a call, so its prologue (before the call) saved ra.
        let call = pc.wrapping_sub(1);
        let layout = image.and_then(|i| prologue_in(i, call, call));
        let (ra_slot, fp_slot) = match layout {
            Some(Prologue {
                ra_slot: Some(r),
                fp_slot: Some(f),
                ..
            }) => (r, f),
            _ => {
                notes.push(format!(
                    "no prologue found for {pc:#x}: standard layout assumed (ra at fp-8, s0 at fp-16)"
                ));
                (-8, -16)
            }
        };
        let at = fp.wrapping_add_signed(ra_slot);
        let next_pc = match read(mem, at).await? {
            Ok(v) => v,
            Err(stop) => return Ok(done(frames, stop, notes)),
        };
        let next_fp = match read(mem, fp.wrapping_add_signed(fp_slot)).await? {
            Ok(v) => v,
            Err(stop) => return Ok(done(frames, stop, notes)),
        };
        previous_fp = Some(fp);
        pc = next_pc;
        source = FrameSource::Saved { at };
        fp = next_fp;
    }
}

/// Why `fp` cannot be followed, if it cannot: 0, misaligned, or not above
/// the previous frame's (the stack grows down, so callers' frames are higher).
fn bad_fp(fp: u64, previous: Option<u64>) -> Option<StopReason> {
    if fp == 0 {
        Some(StopReason::NullFp)
    } else if !fp.is_multiple_of(8) {
        Some(StopReason::MisalignedFp { fp })
    } else if matches!(previous, Some(p) if fp <= p) {
        Some(StopReason::Loop { fp })
    } else {
        None
    }
}

fn done(frames: Vec<Frame>, stop: StopReason, notes: Vec<String>) -> Backtrace {
    Backtrace {
        frames,
        stop,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Virtual memory as a map of words.
    struct Stack(HashMap<u64, u64>);

    impl VirtMemory for Stack {
        async fn read_u64(&mut self, address: u64) -> anyhow::Result<Option<u64>> {
            Ok(self.0.get(&address).copied())
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// The backtrace without ELF files, up to `depth` frames.
    fn walk_without_elf<M: VirtMemory>(regs: FrameRegs, mem: &mut M, depth: usize) -> Backtrace {
        block_on(backtrace(regs, mem, None, None, depth)).unwrap()
    }

    /// The stack of the reference guest at the ADUE fault: kvminithart
    /// (a leaf, fp = 0x80209fd0) called from main (fp = 0x80209fe0), called
    /// from _entry with s0 = 0.
    fn adue_stack() -> (FrameRegs, Stack) {
        let mut m = HashMap::new();
        m.insert(0x8020_9fc8, 0x8020_9fe0); // kvminithart: saved s0 at fp-8
        m.insert(0x8020_9fd8, 0x8020_0014); // main: ra at fp-8 (into _entry)
        m.insert(0x8020_9fd0, 0); // main: saved s0 at fp-16
        let regs = FrameRegs {
            pc: 0x8020_05da,
            ra: 0x8020_0248,
            sp: 0x8020_9fc0,
            fp: 0x8020_9fd0,
        };
        (regs, Stack(m))
    }

    #[test]
    fn without_elf_guesses_the_leaf() {
        let (regs, mut stack) = adue_stack();
        let bt = walk_without_elf(regs, &mut stack, MAX_DEPTH);
        let pcs: Vec<u64> = bt.frames.iter().map(|f| f.pc).collect();
        assert_eq!(pcs, [0x8020_05da, 0x8020_0248, 0x8020_0014]);
        assert_eq!(bt.frames[1].source, FrameSource::RaRegister);
        assert_eq!(bt.frames[2].source, FrameSource::Saved { at: 0x8020_9fd8 });
        assert_eq!(bt.frames[2].fp, Some(0));
        assert_eq!(bt.stop, StopReason::NullFp);
        assert!(
            bt.notes[0].contains("taken as a leaf's saved s0"),
            "{:?}",
            bt.notes
        );
        let text = bt.render();
        assert!(text.starts_with("#0 0x802005da\n#1 0x80200248 (return address still in ra)\n#2 0x80200014\n(end: frame pointer 0: outermost frame)\n"), "{text}");
    }

    #[test]
    fn bounded_and_stops_on_bad_chains() {
        // A loop: the frame points at itself.
        let mut m = HashMap::new();
        m.insert(0x1000 - 8, 0x8000_0100);
        m.insert(0x1000 - 16, 0x1000);
        let regs = FrameRegs {
            pc: 0x8000_0000,
            ra: 0,
            sp: 0xff0,
            fp: 0x1000,
        };
        let bt = walk_without_elf(regs, &mut Stack(m.clone()), MAX_DEPTH);
        assert_eq!(bt.stop, StopReason::Loop { fp: 0x1000 });
        assert_eq!(bt.frames.len(), 2);

        // Unreadable stack.
        let regs = FrameRegs { fp: 0x2000, ..regs };
        let bt = walk_without_elf(regs, &mut Stack(m.clone()), MAX_DEPTH);
        assert_eq!(bt.stop, StopReason::Unreadable { address: 0x1ff8 });
        assert_eq!(bt.frames.len(), 1);

        // Misaligned and null frame pointers.
        let bt = walk_without_elf(FrameRegs { fp: 0x1003, ..regs }, &mut Stack(m.clone()), 8);
        assert_eq!(bt.stop, StopReason::MisalignedFp { fp: 0x1003 });
        let bt = walk_without_elf(FrameRegs { fp: 0, ..regs }, &mut Stack(m.clone()), 8);
        assert_eq!(bt.stop, StopReason::NullFp);

        // A long, well-formed chain is cut at the depth limit.
        let mut m = HashMap::new();
        for i in 0..100u64 {
            let fp = 0x10_0000 + i * 0x20;
            m.insert(fp - 8, 0x8000_0000 + i * 4);
            m.insert(fp - 16, fp + 0x20);
        }
        let regs = FrameRegs {
            pc: 0x8000_1000,
            ra: 0,
            sp: 0x10_0000 - 0x20,
            fp: 0x10_0000,
        };
        let bt = walk_without_elf(regs, &mut Stack(m), MAX_DEPTH);
        assert_eq!(bt.frames.len(), MAX_DEPTH);
        assert_eq!(bt.stop, StopReason::DepthLimit { depth: MAX_DEPTH });
    }

    #[test]
    fn registers_from_a_fault_context() {
        use crate::diagnosis::walk::tests::{adue_context, fixture};
        let f = fixture();
        let mut ctx = adue_context(&f);
        assert!(FrameRegs::from_context(&ctx).unwrap_err().contains("ra"));
        ctx.csrs.insert("ra".into(), 1);
        ctx.csrs.insert("sp".into(), 2);
        ctx.csrs.insert("fp".into(), 3);
        let r = FrameRegs::from_context(&ctx).unwrap();
        assert_eq!((r.pc, r.ra, r.sp, r.fp), (0x8020_05da, 1, 2, 3));
    }

    #[test]
    fn through_the_guest_page_tables() {
        // The same stack, placed in the fabricated guest's RAM and read
        // through its VS-stage and G-stage tables.
        use crate::diagnosis::walk::tests::{adue_context, fixture, gpa_to_host};
        use crate::diagnosis::walk::{Regime, Translated};
        let mut f = fixture();
        let (regs, stack) = adue_stack();
        for (va, v) in stack.0 {
            f.mem.words.insert(gpa_to_host(va), v);
        }
        let ctx = adue_context(&f);
        let regime = Regime::from_context(&ctx, true).unwrap();
        let mut mem = Translated::new(&mut f.mem, regime);
        let bt = walk_without_elf(regs, &mut mem, MAX_DEPTH);
        assert_eq!(bt.frames.len(), 3, "{bt}");
        assert_eq!(bt.stop, StopReason::NullFp);
    }
}
