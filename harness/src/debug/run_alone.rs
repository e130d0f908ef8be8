//! Running one hart alone to a breakpoint just ahead of it.
//!
//! A stop costs more than its round trips. QEMU takes a breakpoint stop in
//! its main loop, which must pause every vCPU first; while the other harts
//! run hot code, on a host with no more free cores than busy vCPU threads
//! (CI's 2 cores, QEMU's 2 harts), the main loop waits for a core: a few ms
//! a stop, measured on the reference hypervisor, where a hart writes
//! hedeleg, hideleg, hcounteren and henvcfg within ten instructions and the
//! stops between them took 3 to 4 ms on one hart and 0.3 ms on the other.
//!
//! So a hart that stopped with another of its breakpoints close ahead in
//! the same function (one that still counts for it) is resumed alone, the
//! others left stopped where they are: it reaches that breakpoint at once
//! and its stop needs no other vCPU paused. The class is any run of
//! breakpoints close together on a path one hart takes: the CSR writes of
//! a hart's set-up in one function (ours, an xv6-style `w_hedeleg()`
//! inlined into `hartinit`, a `csr_write` sequence in OpenSBI-style C), or
//! a scenario's breakpoints on consecutive lines. Writers in separate,
//! non-inlined helpers are further apart than a function and are reached
//! the ordinary way.
//!
//! Where the code up to those breakpoints runs straight, the hart passes
//! them all in one alone run instead ([`super::straight_run`]): each stop
//! also makes QEMU drop its translated code.
//!
//! An ordinary alone run decides nothing about what a stop counts or
//! records: it ends in an ordinary stop, handled as any other. If the hart
//! does not get there within [`ALONE_LIMIT`] (it branched away, waits for
//! another hart, or the host is slow), the target is interrupted and every
//! hart runs on as it would have: only the time differs, never what is
//! seen.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result};

use super::privilege::VirtSource;
use super::{straight_run, ArmedBreakpoint, DebugSession, StopRecord};
use crate::elf::{ElfImage, ElfSet};
use crate::riscv::PrivilegeLevel;
use crate::rsp::RspError;

/// How far ahead of the hart's pc (bytes) a breakpoint may be.
pub(super) const NEAR: u64 = 256;

/// How long one hart runs alone before every hart is let go.
pub(super) const ALONE_LIMIT: Duration = Duration::from_millis(20);

/// At most this many runs alone in a row, so that a hart looping over
/// breakpoints close together (a writer in a loop) does not keep the
/// others stopped for the whole loop.
const MAX_RUNS: usize = 16;

/// The places (hart, pc) from which a hart ran alone and did not reach
/// the breakpoint ahead in time: it is not tried again from there, so a
/// hart that waits for another between two breakpoints in a loop costs
/// [`ALONE_LIMIT`] once, not once a turn. Bounded by harts times
/// breakpoints.
#[derive(Debug, Default)]
pub(super) struct GaveUp(BTreeSet<(u32, u64)>);

impl DebugSession {
    /// While a hart of the latest stops has a breakpoint close ahead,
    /// runs it there alone and handles its stop, adding to `records` what
    /// counted. False when QEMU exited.
    pub(super) async fn run_alone_while_near(
        &mut self,
        records: &mut Vec<StopRecord>,
    ) -> Result<bool> {
        let mut latest = 0;
        for _ in 0..MAX_RUNS {
            if !self.hold.harts.is_empty() {
                break;
            }
            let Some(ahead) = hart_with_breakpoint_ahead(
                &records[latest..],
                &self.breakpoints,
                &self.elfs,
                &self.alone_gave_up,
            ) else {
                break;
            };
            let (hart, from) = (ahead.hart, ahead.from);
            latest = records.len();
            let Some(thread) = self
                .threads()
                .await?
                .into_iter()
                .find(|t| t.hart_index() == Some(hart as usize))
            else {
                break;
            };
            let straight = self.elfs.space(&ahead.space).ok().and_then(|image| {
                straight_run::plan(
                    image,
                    &self.breakpoints,
                    from,
                    NEAR,
                    hart,
                    ahead.privilege,
                    |b| self.waited_for(&b.spec.at),
                )
            });
            if let Some(run) = straight {
                let at = (ahead.privilege, ahead.source);
                let Some((passed, cut)) = self.pass_straight(thread, hart, at, run).await? else {
                    return Ok(false);
                };
                records.extend(passed);
                let Some(reply) = cut else {
                    continue;
                };
                // Cut short: where the hart is, its records no longer say;
                // everyone runs on.
                self.alone_gave_up.0.insert((hart, from));
                match self.take_stop(reply).await? {
                    Some(more) => records.extend(more),
                    None => return Ok(false),
                }
                break;
            }
            self.rsp.mark(format!("alone hart {hart}"));
            self.rsp
                .resume_only(&[thread])
                .await
                .context("resuming one hart alone")?;
            let reply = match self.rsp.wait_for_stop(ALONE_LIMIT).await {
                Ok(r) => r,
                Err(RspError::Timeout { .. }) => {
                    self.alone_gave_up.0.insert((hart, from));
                    match self.rsp.interrupt_and_wait().await {
                        Ok(r) => r,
                        Err(RspError::ConnectionClosed { .. }) => return Ok(false),
                        Err(e) => return Err(e).context("stopping a hart that ran alone"),
                    }
                }
                Err(RspError::ConnectionClosed { .. }) => return Ok(false),
                Err(e) => return Err(e).context("waiting for a hart that ran alone"),
            };
            match self.take_stop(reply).await? {
                Some(more) => records.extend(more),
                None => return Ok(false),
            }
        }
        Ok(true)
    }
}

/// A hart with a breakpoint close ahead: where it is, and as what.
struct Ahead {
    hart: u32,
    /// Its pc: past the instruction it was stepped over, or on it.
    from: u64,
    privilege: PrivilegeLevel,
    source: VirtSource,
    /// The ELF space of the breakpoint it stopped at.
    space: String,
}

/// The hart of `records` (the latest first) that has a breakpoint close
/// ahead of where its latest record leaves it ([`breakpoint_ahead`]), and
/// the pc it would run alone from; not from a place where it `gave_up`
/// before.
fn hart_with_breakpoint_ahead(
    records: &[StopRecord],
    breakpoints: &[ArmedBreakpoint],
    elfs: &ElfSet,
    gave_up: &GaveUp,
) -> Option<Ahead> {
    // Only a hart's latest record says where it is now (a straight run
    // records several stops of one hart).
    let mut seen = BTreeSet::new();
    records.iter().rev().find_map(|r| {
        if !seen.insert(r.hart) {
            return None;
        }
        // A hart stepped over its instruction is past it; one left on its
        // breakpoint steps off it when it is resumed.
        let pc = r.after_step.as_ref().map_or(r.pc, |a| a.pc);
        if gave_up.0.contains(&(r.hart, pc)) {
            return None;
        }
        let space = breakpoints
            .iter()
            .find(|b| b.spec.at == r.breakpoint)?
            .space
            .as_deref()?;
        let image = elfs.space(space).ok()?;
        breakpoint_ahead(image, breakpoints, pc, r.hart, r.privilege).then(|| Ahead {
            hart: r.hart,
            from: pc,
            privilege: r.privilege,
            source: r.privilege_source,
            space: space.to_string(),
        })
    })
}

/// Whether `hart`, at `pc` in `image` at `privilege`, has a breakpoint
/// within [`NEAR`] bytes ahead in the same function that still counts for
/// it: a code breakpoint of the scenario (not a watchpoint, not a hidden
/// trigger).
fn breakpoint_ahead(
    image: &ElfImage,
    breakpoints: &[ArmedBreakpoint],
    pc: u64,
    hart: u32,
    privilege: PrivilegeLevel,
) -> bool {
    let Some(extent) = straight_run::function_extent(image, pc) else {
        return false;
    };
    breakpoints.iter().any(|b| {
        b.inserted
            && b.spec.watch.is_none()
            && !b.arming_point
            && b.address > pc
            && b.address - pc <= NEAR
            && extent.contains(&b.address)
            && b.counts(hart, privilege)
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::elf::testelf;
    use crate::riscv::Level;
    use crate::scenario::BreakpointSpec;
    use std::time::Duration;

    /// A breakpoint of the test kernel at `address`, inserted, reading nothing.
    pub(in crate::debug) fn at(address: u64, hart: Option<u32>) -> ArmedBreakpoint {
        let spec = BreakpointSpec {
            at: format!("kernel:{address:#x}"),
            hart,
            privilege: None,
            dump: Vec::new(),
            max_hits: u32::MAX,
            once_per_hart: true,
            hits_per_hart: 1,
            watch: None,
            arm_after: None,
            arm_on: None,
            read_after_step: Vec::new(),
            completed_write: None,
        };
        ArmedBreakpoint {
            inserted: true,
            ..ArmedBreakpoint::new(spec, Some("kernel".into()), address)
        }
    }

    #[test]
    fn a_breakpoint_counts_as_ahead_only_close_in_the_same_function_and_still_counting() {
        let Some(t) = testelf::get("run_alone") else {
            return;
        };
        let image = ElfImage::load(&t.path, Some("kernel"), 0).expect("test kernel loads");
        let range = |name: &str| {
            image
                .symbol_ranges(name)
                .into_iter()
                .next()
                .unwrap_or_else(|| panic!("{name} in the test kernel"))
        };
        let (start, hfence) = (range("_start"), range("hfence"));
        let s = PrivilegeLevel {
            level: Level::Supervisor,
            virt: None,
        };
        let pc = start.start;
        let later = start.end - 4;
        assert!(later - pc <= NEAR, "_start is small: {start:x?}");
        let ahead = |bps: &[ArmedBreakpoint], hart: u32| breakpoint_ahead(&image, bps, pc, hart, s);

        assert!(ahead(&[at(later, None)], 0), "later in the same function");
        assert!(!ahead(&[at(pc, None)], 0), "the pc itself is not ahead");
        assert!(!ahead(&[at(hfence.start, None)], 0), "another function");
        assert!(
            !ahead(&[at(later, Some(1))], 0),
            "a breakpoint for hart 1 only"
        );
        assert!(ahead(&[at(later, Some(1))], 1));
        let mut used = at(later, None);
        used.counted_harts.push(0);
        assert!(!ahead(&[used.clone()], 0), "hart 0 has had its hit there");
        assert!(ahead(&[used], 1));
        let mut out = at(later, None);
        out.inserted = false;
        assert!(!ahead(&[out], 0), "taken out of the target");
        let mut trigger = at(later, None);
        trigger.arming_point = true;
        assert!(!ahead(&[trigger], 0), "a hidden trigger");
        // Outside any sized function (past the image's code) nothing is ahead.
        assert!(!breakpoint_ahead(
            &image,
            &[at(0x9000_0004, None)],
            0x9000_0000,
            0,
            s
        ));
    }

    /// On the fake target with the test kernel's symbols: hart 0 stops at
    /// the first of two breakpoints in the function at its start and runs
    /// alone to the second, so both stops come in one poll; when the hart
    /// stalls alone (it waits for the other), the harness gives up after
    /// ALONE_LIMIT, every hart runs on, and the second stop still comes.
    async fn two_breakpoints_in_one_function(
        stall: bool,
    ) -> Option<(Vec<Vec<u64>>, Vec<String>, [u64; 2])> {
        use crate::rsp::fake_target::{Fake, START_PC};

        let t = testelf::get("run_alone_on_the_fake")?;
        let image = ElfImage::load(&t.path, Some("kernel"), 0).expect("test kernel loads");
        // A function of 20 bytes or more below hart 1's start (0x100 up):
        // only hart 0, walking up from START_PC, passes it.
        let (name, extent) = image
            .functions()
            .into_iter()
            .filter(|(_, e)| e.start >= START_PC && e.end <= START_PC + 0x100)
            .find(|(_, e)| e.end - e.start >= 20)
            .expect("a function of 20 bytes or more at the test kernel's start");
        // The fake's harts move 4 bytes a step from START_PC.
        let first = (extent.start + 7) & !3;
        let second = first + 8;
        assert!(extent.contains(&second), "{name} is {extent:x?}");
        let mut fake = Fake::new();
        fake.stall_alone = stall;
        let (polls, marks, mut session) =
            on_the_fake(&t.path, &[first, second], fake, |_| {}, 2).await;
        session.interrupt().await.unwrap();
        let polls = polls
            .iter()
            .map(|p| p.iter().map(|r| r.pc).collect())
            .collect();
        Some((polls, marks, [first, second]))
    }

    /// The test kernel `elf` on the fake target (two harts), with hart 0's
    /// breakpoints at `at` (`edit` adjusts the scenario), resumed and
    /// polled until `records` stops have come or the target exits: the
    /// polls, the session's run marks (alone, straight, interrupted), and
    /// the session, still attached.
    pub(in crate::debug) async fn on_the_fake(
        elf: &std::path::Path,
        at: &[u64],
        fake: crate::rsp::fake_target::Fake,
        edit: impl FnOnce(&mut crate::scenario::Scenario),
        records: usize,
    ) -> (Vec<Vec<StopRecord>>, Vec<String>, DebugSession) {
        use crate::debug::Event;
        use crate::rsp::fake_target::serve;
        use crate::scenario::Scenario;

        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("fake.toml");
        let mut text = format!(
            "[machine]\ncpu = \"rv64,h=true\"\nsmp = 2\n[[console]]\nname = \"console\"\n\
             attach = \"serial\"\nmilestones = [\"never\"]\n[[elf]]\nname = \"kernel\"\npath = \"{}\"\n",
            elf.display()
        );
        for a in at {
            text.push_str(&format!(
                "[[breakpoint]]\nat = \"kernel:{a:#x}\"\nhart = 0\n"
            ));
        }
        std::fs::write(&path, text).expect("write the scenario");
        let mut scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"));
        edit(&mut scenario);
        let elfs = std::sync::Arc::new(scenario.load_elfs().expect("the test kernel"));
        let mut session =
            DebugSession::attach(serve(fake), &scenario, "10.0.2".parse().unwrap(), elfs)
                .await
                .unwrap_or_else(|e| panic!("{e:#}"));
        session.resume().await.unwrap();
        let mut polls: Vec<Vec<StopRecord>> = Vec::new();
        for _ in 0..200 {
            match session.poll(Duration::from_millis(100)).await.unwrap() {
                Event::Stopped(r) => polls.push(r),
                Event::Running => {}
                Event::Exited => break,
            }
            if polls.iter().flatten().count() >= records {
                break;
            }
        }
        let marks = session
            .rsp
            .costs()
            .timeline
            .iter()
            .map(|m| m.what.clone())
            .filter(|w| w.starts_with("alone") || w.starts_with("straight") || w == "interrupted")
            .collect();
        (polls, marks, session)
    }

    #[tokio::test]
    async fn a_hart_runs_alone_to_the_breakpoint_ahead() {
        let Some((polls, marks, [a, b])) = two_breakpoints_in_one_function(false).await else {
            return;
        };
        assert_eq!(polls, [vec![a, b]], "both in one poll");
        assert_eq!(marks, ["alone hart 0"]);
    }

    #[tokio::test]
    async fn a_hart_that_stalls_alone_is_given_up_and_everyone_runs_on() {
        let Some((polls, marks, [a, b])) = two_breakpoints_in_one_function(true).await else {
            return;
        };
        assert_eq!(polls, [vec![a], vec![b]]);
        assert_eq!(marks, ["alone hart 0", "interrupted"]);
    }
}
