//! Passing a run of breakpoints in straight-line code with one stop.
//!
//! Every breakpoint or step stop makes QEMU drop all its translated code,
//! for every hart, besides pausing every vCPU: its gdbstub flushes the
//! translation cache at each debug stop up to 10.1 (inserting or removing
//! a breakpoint flushes nothing since 6.1, nor does a look's interrupt
//! stop). A hart that writes four CSRs in a row paid a breakpoint stop and
//! a step for each. When the code from the hart's pc to the last of those
//! breakpoints runs straight (no branch, jump, call or return, nothing
//! [`Effect::Other`]), the hart runs alone past all of them to the
//! instruction after the last: their breakpoints taken out, one put there.
//! Each breakpoint's stop is recorded as if the hart had stopped there and
//! been stepped: its `dump` as it was at its address (a CSR read at the
//! start, which nothing before it in the run writes; an integer register
//! from the registers at the start and the run's arithmetic up to it,
//! [`Registers`]), its `read_after_step` read at the end (nothing after it
//! in the run writes them).
//!
//! The class: a hart's set-up writing CSRs in one function, each from a
//! register or an immediate set just before: ours (`csrw hedeleg, a5` ...
//! `csrs henvcfg, a5`), an xv6-style kernel's inlined `w_medeleg()`,
//! `w_mideleg()`, `w_sie()` in `start`, KVM-style `csr_write` runs. Not
//! passed, and stopped at one by one as before: writers with a branch or
//! call between them, a value loaded from memory or read from a CSR, the
//! same CSR written twice in the run, a register that changes by itself
//! (counters, `mip`, `mstatus`: only [`PASSABLE_CSRS`] and integer
//! registers are read this way).
//!
//! The cost of the shortcut: a write that traps in the run and is emulated
//! by a handler that returns just past it, within the alone run, reads as
//! completed. When the hart does not reach the end in time (an interrupt
//! handler runs long, or the host is slow), the target is interrupted: the
//! writes before its pc are recorded from there, the others' breakpoints go
//! back in; a hart that left the run (it trapped) has the run's writes
//! before the trap unrecorded, and the timeline says so.

use std::ops::Range;

use anyhow::{Context, Result};

use super::privilege::VirtSource;
use super::stop::{self, AfterStep, CsrReading};
use super::{ArmedBreakpoint, DebugSession, StopRecord};
use crate::elf::csr_numbers::csr_number;
use crate::elf::effects::Effect;
use crate::elf::evaluate::Registers;
use crate::elf::registers::register_number;
use crate::elf::{ElfImage, Instruction};
use crate::riscv::PrivilegeLevel;
use crate::rsp::{RspError, StopReply, ThreadId};

/// CSRs that only a CSR instruction changes (no trap, counter or pending
/// interrupt does): read at either end of a straight run, they show what
/// they were at each instruction of it that does not write them.
const PASSABLE_CSRS: [&str; 18] = [
    "medeleg",
    "mideleg",
    "hedeleg",
    "hideleg",
    "mcounteren",
    "scounteren",
    "hcounteren",
    "menvcfg",
    "senvcfg",
    "henvcfg",
    "satp",
    "vsatp",
    "hgatp",
    "mtvec",
    "stvec",
    "vstvec",
    "mscratch",
    "sscratch",
];

/// A register a straight run can read at either end of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Passable {
    Integer(u8),
    Csr(u16),
}

fn passable(name: &str) -> Option<Passable> {
    let lower = name.to_ascii_lowercase();
    if let Some(n) = register_number(&lower).filter(|n| *n != 0) {
        return Some(Passable::Integer(n));
    }
    PASSABLE_CSRS
        .contains(&lower.as_str())
        .then(|| csr_number(&lower).map(Passable::Csr))
        .flatten()
}

fn writes(effect: Effect, register: Passable) -> bool {
    match (effect, register) {
        (Effect::Straight { rd, .. }, Passable::Integer(n)) => rd == n,
        (Effect::Straight { csr, .. }, Passable::Csr(n)) => csr == Some(n),
        (Effect::Other, _) => true,
    }
}

/// The breakpoints one hart passes in one alone run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StraightRun {
    /// Each breakpoint's index in the session's list, and the length of
    /// its instruction; in address order.
    members: Vec<(usize, u64)>,
    /// Where the hart starts, and just past the last one's instruction,
    /// where it stops.
    start: u64,
    end: u64,
    /// The instructions from `start` to `end`.
    code: Vec<Instruction>,
}

impl StraightRun {
    /// How many of the members a hart whose pc is now `pc` has run: those
    /// before it while it is still in the run's code; none known when it
    /// is elsewhere (it trapped) or its pc could not be read.
    fn passed_before(&self, breakpoints: &[ArmedBreakpoint], pc: Option<u64>) -> usize {
        match pc {
            Some(pc) if (self.start..=self.end).contains(&pc) => self
                .members
                .iter()
                .take_while(|&&(i, len)| breakpoints[i].address + len <= pc)
                .count(),
            _ => 0,
        }
    }
}

/// The run of breakpoints `hart` (at `pc` in `image`, at `privilege`) can
/// pass in one go, if any: those ahead of it within `near` bytes in the
/// same function, up to the first that does not qualify, with straight
/// code all the way. `is_trigger`: a breakpoint others are armed after
/// (its stop may hold the hart, so it is stopped at).
pub(super) fn plan(
    image: &ElfImage,
    breakpoints: &[ArmedBreakpoint],
    pc: u64,
    near: u64,
    hart: u32,
    privilege: PrivilegeLevel,
    is_trigger: impl Fn(&ArmedBreakpoint) -> bool,
) -> Option<StraightRun> {
    let extent = function_extent(image, pc)?;
    let limit = extent.end.min(pc.saturating_add(near));
    let instructions = image.instructions(pc, limit);
    let code: Vec<(u64, u64, Effect)> = instructions
        .iter()
        .map(|i| (i.address, i.length as u64, i.effect()))
        .collect();
    let mut points: Vec<(usize, &ArmedBreakpoint)> = breakpoints
        .iter()
        .enumerate()
        .filter(|(_, b)| b.inserted && b.spec.watch.is_none())
        .filter(|(_, b)| b.address >= pc && b.address < limit)
        .collect();
    points.sort_by_key(|(_, b)| b.address);
    let occupied = |a: u64| {
        breakpoints
            .iter()
            .any(|b| b.inserted && b.spec.watch.is_none() && b.address == a)
    };
    let mut run: Option<StraightRun> = None;
    for (index, b) in points {
        let names = || b.spec.dump.iter().chain(&b.spec.read_after_step);
        let qualifies = b.address > pc
            && !b.arming_point
            && b.counts(hart, privilege)
            && !is_trigger(b)
            && names().all(|n| passable(n).is_some());
        let Some(at) = code.iter().position(|(a, ..)| *a == b.address) else {
            break;
        };
        if !qualifies || code[..=at].iter().any(|(.., e)| *e == Effect::Other) {
            break;
        }
        let end = b.address + code[at].1;
        if occupied(end) {
            break;
        }
        let mut members = run.as_ref().map_or_else(Vec::new, |r| r.members.clone());
        members.push((index, code[at].1));
        if !reads_hold(breakpoints, &members, &instructions, &code, pc, end) {
            break;
        }
        let code = instructions
            .iter()
            .take_while(|i| i.address < end)
            .cloned()
            .collect();
        run = Some(StraightRun {
            members,
            start: pc,
            end,
            code,
        });
    }
    run
}

/// Whether every member's `dump` is known at its address from the
/// registers at `start`: a CSR that no instruction before it in the run
/// writes, an integer register that the run's arithmetic sets or leaves
/// alone ([`Registers`]); and its `read_after_step` reads the same at `end`
/// as just past it (no instruction after it in the run writes them).
fn reads_hold(
    breakpoints: &[ArmedBreakpoint],
    members: &[(usize, u64)],
    instructions: &[Instruction],
    code: &[(u64, u64, Effect)],
    start: u64,
    end: u64,
) -> bool {
    members.iter().all(|&(index, length)| {
        let b = &breakpoints[index];
        let span = |from: u64, to: u64| {
            code.iter()
                .filter(move |(a, ..)| *a >= from && *a < to)
                .map(|(.., e)| *e)
        };
        // Whatever the registers hold at the start, the arithmetic before
        // the breakpoint gives a value for each integer register it reads.
        let mut known = Registers::known([Some(0); 32]);
        for ins in instructions.iter().filter(|i| i.address < b.address) {
            known.step(ins);
        }
        let dump_known = b
            .spec
            .dump
            .iter()
            .filter_map(|n| passable(n))
            .all(|r| match r {
                Passable::Integer(n) => known.get(n).is_some(),
                Passable::Csr(_) => span(start, b.address).all(|e| !writes(e, r)),
            });
        let after_kept = b
            .spec
            .read_after_step
            .iter()
            .filter_map(|n| passable(n))
            .all(|r| span(b.address + length, end).all(|e| !writes(e, r)));
        dump_known && after_kept
    })
}

/// The extent of the sized function symbol holding `pc`.
pub(super) fn function_extent(image: &ElfImage, pc: u64) -> Option<Range<u64>> {
    let function = image.symbolize(pc).filter(|s| s.exact)?;
    image
        .symbol_ranges(&function.name)
        .into_iter()
        .find(|e| e.contains(&pc))
}

/// How a straight run ended.
enum Ended {
    /// QEMU exited.
    Exited,
    /// At the end, or elsewhere (the stop that came, the hart's pc).
    Stopped(StopReply, Option<u64>),
}

impl DebugSession {
    /// Runs `thread` (hart `hart`, stopped at `privilege` as `source` found
    /// it) alone past `run`, and records its breakpoints' stops. `None`
    /// when QEMU exited; else the records, and the stop that came when the
    /// hart did not reach the end (handled as any other).
    pub(super) async fn pass_straight(
        &mut self,
        thread: ThreadId,
        hart: u32,
        at: (PrivilegeLevel, VirtSource),
        run: StraightRun,
    ) -> Result<Option<(Vec<StopRecord>, Option<StopReply>)>> {
        let (privilege, source) = at;
        let mut regs = Registers::known(self.integer_registers(thread).await?);
        let dumped: Vec<&str> = run
            .members
            .iter()
            .flat_map(|&(i, _)| self.breakpoints[i].spec.dump.iter())
            .map(String::as_str)
            .collect();
        self.rsp.prefetch_registers(thread, &dumped).await?;
        let mut code = run.code.iter().peekable();
        let mut records = Vec::new();
        for &(index, _) in &run.members {
            let b = &self.breakpoints[index];
            while let Some(ins) = code.next_if(|i| i.address < b.address) {
                regs.step(ins);
            }
            let place = stop::Place {
                hart,
                privilege,
                source,
                pc: b.address,
            };
            let mut record = stop::record(
                &mut self.rsp,
                &self.elfs,
                &b.spec,
                b.space.as_deref(),
                place,
                self.started.elapsed(),
            )
            .await?;
            // Read at the start: an integer register the run sets before
            // this breakpoint holds what the arithmetic gives.
            for reading in &mut record.csrs {
                if let Some(Passable::Integer(n)) = passable(&reading.name) {
                    *reading = CsrReading::of_value(&reading.name, regs.get(n), privilege, source);
                }
            }
            records.push(record);
        }
        for &(index, _) in &run.members {
            let address = self.breakpoints[index].address;
            self.rsp
                .clear_breakpoint(address)
                .await
                .context("taking out a breakpoint a hart runs past")?;
        }
        self.rsp
            .set_breakpoint(run.end)
            .await
            .context("inserting a breakpoint at the end of a straight run")?;
        self.rsp
            .mark(format!("straight hart {hart}: {}", run.members.len()));
        let (reply, pc) = match self.run_to_end(thread).await? {
            Ended::Exited => return Ok(None),
            Ended::Stopped(reply, pc) => (reply, pc),
        };
        self.rsp
            .clear_breakpoint(run.end)
            .await
            .context("removing the breakpoint at the end of a straight run")?;
        let reached = pc == Some(run.end);
        // Passed: the members before the hart's pc, when it is still in
        // the run's code.
        let passed = run.passed_before(&self.breakpoints, pc);
        let after_names: Vec<&str> = run
            .members
            .iter()
            .take(passed)
            .flat_map(|&(i, _)| self.breakpoints[i].spec.read_after_step.iter())
            .map(String::as_str)
            .collect();
        self.rsp.prefetch_registers(thread, &after_names).await?;
        if !reached {
            self.rsp.mark(format!(
                "straight hart {hart} cut short at {}",
                pc.map_or_else(|| "an unread pc".to_string(), |p| format!("{p:#x}"))
            ));
        }
        let mut kept = Vec::new();
        for (k, (mut record, &(index, length))) in records.into_iter().zip(&run.members).enumerate()
        {
            if k < passed {
                let names = self.breakpoints[index].spec.read_after_step.clone();
                let csrs =
                    stop::read_registers(&mut self.rsp, thread, &names, privilege, source).await?;
                record.after_step = Some(AfterStep {
                    pc: record.pc + length,
                    csrs,
                });
                record.confirm_completed_write();
                record.at_secs = self.started.elapsed().as_secs_f64();
                self.breakpoints[index].count(hart);
                kept.push(record);
            }
            if !self.breakpoints[index].done(self.harts) {
                let address = self.breakpoints[index].address;
                self.rsp
                    .set_breakpoint(address)
                    .await
                    .context("putting back a breakpoint a hart ran past")?;
            } else {
                self.breakpoints[index].inserted = false;
            }
        }
        Ok(Some((kept, (!reached).then_some(reply))))
    }

    /// x0..x31 of `thread` where it stands, from one `g` reply (`None`:
    /// not readable).
    async fn integer_registers(&mut self, thread: ThreadId) -> Result<[Option<u64>; 32]> {
        self.rsp.select_register_thread(thread).await?;
        let core = self
            .rsp
            .read_core_registers()
            .await
            .context("reading the integer registers of a hart about to run straight")?;
        let mut values = [None; 32];
        for (slot, (_, value)) in values.iter_mut().zip(core) {
            *slot = value.as_u64();
        }
        values[0] = Some(0);
        Ok(values)
    }

    /// Resumes `thread` alone and waits for its stop (interrupting after
    /// the alone limit); the stop and the hart's pc there.
    async fn run_to_end(&mut self, thread: ThreadId) -> Result<Ended> {
        self.rsp
            .resume_only(&[thread])
            .await
            .context("resuming one hart alone past its breakpoints")?;
        let reply = match self.rsp.wait_for_stop(super::run_alone::ALONE_LIMIT).await {
            Ok(r) => r,
            Err(RspError::Timeout { .. }) => match self.rsp.interrupt_and_wait().await {
                Ok(r) => r,
                Err(RspError::ConnectionClosed { .. }) => return Ok(Ended::Exited),
                Err(e) => return Err(e).context("stopping a hart that ran alone"),
            },
            Err(RspError::ConnectionClosed { .. }) => return Ok(Ended::Exited),
            Err(e) => return Err(e).context("waiting for a hart that ran alone"),
        };
        if !matches!(reply, StopReply::Signal(_)) {
            return Ok(Ended::Exited);
        }
        self.rsp.select_register_thread(thread).await?;
        let pc = self.rsp.read_register_u64("pc").await?;
        Ok(Ended::Stopped(reply, pc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::testelf;
    use crate::riscv::Level;

    /// A trace-style breakpoint at `address`: the CSR and the source
    /// register before, the CSR after.
    fn writer(address: u64, csr: &str, reg: &str, hart: Option<u32>) -> ArmedBreakpoint {
        let mut b = crate::debug::run_alone::tests::at(address, hart);
        b.spec.dump = vec![csr.to_string(), reg.to_string()];
        b.spec.read_after_step = vec![csr.to_string()];
        b
    }

    /// The function `name` of the test kernel: its start, and the address
    /// of each instruction whose text starts with one of `texts`, in order.
    fn function(image: &ElfImage, name: &str, texts: &[&str]) -> (u64, Vec<u64>) {
        let range = image
            .symbol_ranges(name)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{name} in the test kernel"));
        let len = (range.end - range.start) as usize;
        let code = crate::elf::disassemble_all(
            range.start,
            image.bytes_at(range.start, len).expect("function bytes"),
        );
        let at = texts
            .iter()
            .map(|t| {
                code.iter()
                    .find(|i| i.text.starts_with(t))
                    .unwrap_or_else(|| panic!("`{t}` in {name}"))
                    .address
            })
            .collect();
        (range.start, at)
    }

    fn hs() -> PrivilegeLevel {
        PrivilegeLevel {
            level: Level::Supervisor,
            virt: Some(false),
        }
    }

    fn members(run: &StraightRun, bps: &[ArmedBreakpoint]) -> Vec<u64> {
        run.members.iter().map(|&(i, _)| bps[i].address).collect()
    }

    #[test]
    fn writes_in_a_row_are_passed_to_the_instruction_after_the_last() {
        let Some(t) = testelf::get("straight_run") else {
            return;
        };
        let image = ElfImage::load(&t.path, Some("kernel"), 0).expect("test kernel loads");
        let (start, at) = function(
            &image,
            "setup_straight",
            &["csrw hideleg", "csrw hcounteren", "csrs henvcfg"],
        );
        let bps = vec![
            writer(at[0], "hideleg", "a5", None),
            writer(at[1], "hcounteren", "a4", None),
            writer(at[2], "henvcfg", "a5", None),
        ];
        let run = plan(&image, &bps, start, 256, 0, hs(), |_| false).expect("a straight run");
        assert_eq!(members(&run, &bps), at);
        assert_eq!(run.end, at[2] + 4, "stops just past the last write");
        assert_eq!(run.start, start);
        assert!(run.code.iter().all(|i| i.address < run.end));

        // The values the run's arithmetic gives at each write, whatever
        // the registers held at the start.
        let mut regs = Registers::known([Some(7); 32]);
        let mut seen = Vec::new();
        for ins in &run.code {
            if at.contains(&ins.address) {
                seen.push(ins.text.clone());
                let reg = if ins.text.contains("a4") { 14 } else { 15 };
                let want = match seen.len() {
                    1 => 0x444,
                    2 => u64::MAX,
                    _ => 0xa000_0000_0000_0000,
                };
                assert_eq!(regs.get(reg), Some(want), "at `{}`", ins.text);
            }
            regs.step(ins);
        }
        assert_eq!(seen.len(), 3);

        // Not for a hart the middle one does not count for: the run ends
        // before it. Not a breakpoint others are armed after.
        let mut other = bps.clone();
        other[1] = writer(at[1], "hcounteren", "a4", Some(1));
        let run = plan(&image, &other, start, 256, 0, hs(), |_| false).expect("a shorter run");
        assert_eq!(members(&run, &other), at[..1]);
        let run = plan(&image, &bps, start, 256, 0, hs(), |b| b.address == at[2]).expect("run");
        assert_eq!(members(&run, &bps), at[..2]);
        // Not past `near`, not from a breakpoint the hart stands on.
        assert!(plan(&image, &bps, start, at[0] - start, 0, hs(), |_| false).is_none());
        assert!(plan(&image, &bps, at[0], 256, 0, hs(), |_| false).is_none());
        // Cut short: the writes before the hart's pc count as run, none
        // when it left the run's code.
        let run = plan(&image, &bps, start, 256, 0, hs(), |_| false).expect("run");
        assert_eq!(run.passed_before(&bps, Some(run.end)), 3);
        assert_eq!(
            run.passed_before(&bps, Some(at[1])),
            1,
            "stopped on the second"
        );
        assert_eq!(run.passed_before(&bps, Some(at[1] + 4)), 2);
        assert_eq!(run.passed_before(&bps, Some(start)), 0);
        assert_eq!(
            run.passed_before(&bps, Some(0x8000_0000)),
            0,
            "in a trap handler"
        );
        assert_eq!(run.passed_before(&bps, None), 0);
        // A register that changes by itself is not read at either end.
        let mut counters = bps.clone();
        counters[0] = writer(at[0], "mip", "a5", None);
        assert!(plan(&image, &counters, start, 256, 0, hs(), |_| false).is_none());
    }

    #[test]
    fn a_branch_a_loaded_value_or_a_csr_written_again_ends_the_run() {
        let Some(t) = testelf::get("straight_run") else {
            return;
        };
        let image = ElfImage::load(&t.path, Some("kernel"), 0).expect("test kernel loads");
        let texts = [
            "csrw hideleg",
            "csrw hcounteren",
            "csrw hgatp",
            "csrs henvcfg, a5",
        ];
        let (start, at) = function(&image, "setup_crooked", &texts);
        let branch = || {
            vec![
                writer(at[0], "hideleg", "a5", None),
                writer(at[1], "hcounteren", "a4", None),
            ]
        };
        // hideleg is passed; the branch before hcounteren ends the run.
        let run = plan(&image, &branch(), start, 256, 0, hs(), |_| false).expect("run");
        assert_eq!(members(&run, &branch()), at[..1]);
        // From after the branch: hgatp's value comes from memory.
        let loaded = vec![writer(at[2], "hgatp", "a5", None)];
        assert!(plan(&image, &loaded, at[1], 256, 0, hs(), |_| false).is_none());
        // The two henvcfg writes: the second's "before" is the first's
        // write, so only the first is passed.
        let (_, twice) = function(&image, "setup_crooked", &["csrs henvcfg, a5"]);
        let code_after = twice[0];
        let second = {
            let len = 64;
            crate::elf::disassemble_all(code_after, image.bytes_at(code_after, len).expect("bytes"))
                .into_iter()
                .skip(1)
                .find(|i| i.text.starts_with("csrs henvcfg"))
                .expect("a second henvcfg write")
                .address
        };
        let both = vec![
            writer(twice[0], "henvcfg", "a5", None),
            writer(second, "henvcfg", "a5", None),
        ];
        let run = plan(&image, &both, at[2] + 4, 256, 0, hs(), |_| false).expect("run");
        assert_eq!(members(&run, &both), vec![twice[0]]);
    }

    /// On the fake target with the test kernel's symbols: hart 0 stops at
    /// the first of three CSR writes in a row, is stepped over it, and
    /// passes the other two in one alone run; all three come in one poll,
    /// the later two with the value `li` set just before (the fake runs no
    /// code: its a4 stays 0) and their CSR read after.
    #[tokio::test]
    async fn a_hart_passes_writes_in_a_row_on_the_fake() {
        passes_writes_in_a_row(true).await;
    }

    /// With breakpoints that stay in (a scenario's own, counting every
    /// hit), the hart's earlier stops in the run must not be taken for
    /// where it is: it was once run again "from" the second write.
    #[tokio::test]
    async fn a_hart_that_passed_its_writes_is_not_run_again_from_them() {
        passes_writes_in_a_row(false).await;
    }

    async fn passes_writes_in_a_row(once_per_hart: bool) {
        use crate::rsp::fake_target::Fake;
        use crate::scenario::Scenario;

        let Some(t) = testelf::get("straight_run_on_the_fake") else {
            return;
        };
        let image = ElfImage::load(&t.path, Some("kernel"), 0).expect("test kernel loads");
        let (_, at) = function(
            &image,
            "setup_wide",
            &["csrw hideleg", "csrw hcounteren", "csrs henvcfg"],
        );
        assert!(at.iter().all(|a| a % 4 == 0), "4-aligned: {at:x?}");
        let edit = |scenario: &mut Scenario| {
            for (b, (csr, reg)) in scenario.breakpoints.iter_mut().zip([
                ("hideleg", "a5"),
                ("hcounteren", "a4"),
                ("henvcfg", "a5"),
            ]) {
                b.dump = vec![csr.to_string(), reg.to_string()];
                b.read_after_step = vec![csr.to_string()];
                if once_per_hart {
                    // As the trace's: one hit per hart, then out of the target.
                    b.once_per_hart = true;
                    b.hits_per_hart = 1;
                    b.max_hits = u32::MAX;
                }
            }
        };
        let (polls, marks, mut session) =
            crate::debug::run_alone::tests::on_the_fake(&t.path, &at, Fake::new(), edit, 3).await;
        session.interrupt().await.unwrap();
        assert_eq!(marks, ["straight hart 0: 2"]);
        assert_eq!(polls.len(), 1, "all three in one poll");
        let records = &polls[0];
        assert_eq!(records.iter().map(|r| r.pc).collect::<Vec<_>>(), at);
        let raw = |r: &StopRecord, name: &str| r.csr(name).and_then(|c| c.raw);
        assert_eq!(raw(&records[1], "a4"), Some(u64::MAX), "from `li a4, -1`");
        assert_eq!(raw(&records[2], "a5"), Some(1), "from `li a5, 1`");
        for (r, a) in records.iter().zip(&at) {
            let after = r.after_step.as_ref().expect("read after the write");
            assert_eq!(after.pc, a + 4);
            assert_eq!(after.csrs.len(), 1);
        }
        // Passed once by hart 0, the only hart they count for: the two
        // passed stay out of the target, and the one stopped at is removed;
        // counting every hit, all three are back in.
        let inserted = session.breakpoints().iter().filter(|b| b.inserted).count();
        assert_eq!(inserted, if once_per_hart { 0 } else { 3 });
    }
}
