//! Holding a hart at an `arm_after` trigger: left stopped just past it
//! while the other harts run, until every hart that will stop there has,
//! so that a breakpoint armed after the trigger does not slow the hot code
//! a lagging hart still has to run on the breakpoint's page (QEMU runs a
//! page holding a breakpoint one instruction per translation block, for
//! every hart).
//!
//! A scenario's own trigger holds for every hart that can count there, up
//! to [`HOLD_LIMIT`]. A hidden trigger (the harness's, [`super::auto_arm`])
//! holds only for the harts on their way to it ([`on_its_way`]), and while
//! it holds it looks at them every [`LOOK_EVERY`]: once none is on its way
//! any more, the hold ends at once; while one still runs code on the
//! breakpoint's page, it may last up to [`HOT_HOLD_LIMIT`].
//!
//! The class handled: a hart that will reach the trigger by itself later
//! but is elsewhere when the first hart arrives. Its shapes:
//! - two VMs, one per hart: the other hart is still in the hypervisor
//!   (handling its guest's traps), in its own guest's code on other pages
//!   (uartinit, printf), in the firmware for a timer interrupt or an SBI
//!   call from either, or in the hot scrub on the page (under load, for
//!   seconds);
//! - a second hart started later through SBI HSM: held for once its pc is
//!   in the hypervisor's ELF; while parked in the firmware it is not;
//! - an SMP xv6 whose other harts are still in entry/start when the boot
//!   hart arrives: held for until they reach `main`'s wait for `started`
//!   (the trigger's [`super::arming_points::WaitingRoom`]), then the hold
//!   ends at the next look.
//!
//! Not handled, or at a cost:
//! - a hart in the scenario's code that never reaches the trigger (it idles
//!   in the hypervisor's `wfi`, or its guest boots another path): it is
//!   held for until [`HOLD_LIMIT`] ([`HOT_HOLD_LIMIT`] when it idles on the
//!   breakpoint's page), then the breakpoint goes in (as before);
//! - a hart that lags by more than those limits: the breakpoint goes in
//!   then and that hart runs its hot code slowly (first hits still stop);
//! - SMP xv6 with a milestone trigger (no waiting room): harts spinning in
//!   `main` on the breakpoint's page for `started` are held for until
//!   [`HOT_HOLD_LIMIT`]; the call-graph trigger, with its room, does not;
//! - a hart parked in the firmware whose mepc still points into the files
//!   (stopped through SBI HSM `hart_stop` from the scenario's code): taken
//!   for one in an SBI call, held for until [`HOLD_LIMIT`];
//! - a hart in the firmware with no trap from the files to return to, but
//!   about to enter them (an HSM start under way): not held for.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::arming_points::WaitingRoom;
use super::{DebugSession, Event};
use crate::qemu::page_samples::PAGE_SIZE;
use crate::rsp::{RspError, ThreadId};

/// How long a hart is held at an `arm_after` trigger for the other harts.
pub(super) const HOLD_LIMIT: Duration = Duration::from_secs(2);

/// How long a hidden trigger's hold may last while a look still finds an
/// awaited hart running code on a waiting breakpoint's page: armed now,
/// the rest of that code would run about 20 times slower (one instruction
/// per block; the bench's unmitigated runs), so waiting for it is the
/// cheaper side as long as it gets through; the bound is for a hart that
/// idles on that page and never comes. Under load a hart's hot loop takes
/// seconds longer than [`HOLD_LIMIT`] (auto_arm under 3 spinners).
const HOT_HOLD_LIMIT: Duration = Duration::from_secs(10);

/// How often the harts a hidden trigger waits for are looked at while a
/// hart is held there: an interrupt stop (QEMU drops no translated code for
/// it), a pc read per awaited hart, and a resume of the others.
const LOOK_EVERY: Duration = Duration::from_millis(30);

/// The harts held just past a trigger, until when, and what for.
#[derive(Debug, Default)]
pub(super) struct Hold {
    /// Left stopped while the others run.
    pub(super) harts: Vec<ThreadId>,
    /// When the hold began, and when it ends whatever the others do.
    since: Option<Instant>,
    until: Option<Instant>,
    /// The hidden triggers held at, each with the first hart held there
    /// (whose stack holds the trigger call's return address).
    hidden: Vec<(usize, ThreadId)>,
    /// When the harts awaited at a hidden trigger are looked at next.
    next_look: Option<Instant>,
}

impl Hold {
    /// Holds `thread` (stopped at trigger `index`; `hidden`: a hidden one).
    fn add(&mut self, thread: ThreadId, index: usize, hidden: bool) {
        if !self.harts.contains(&thread) {
            self.harts.push(thread);
        }
        let now = Instant::now();
        self.since.get_or_insert(now);
        self.until.get_or_insert(now + HOLD_LIMIT);
        if hidden && !self.hidden.iter().any(|(i, _)| *i == index) {
            self.hidden.push((index, thread));
            self.next_look.get_or_insert(now + LOOK_EVERY);
        }
    }

    /// How long to wait for a stop, at most `limit`: not past the hold's
    /// end or its next look.
    pub(super) fn wait_limit(&self, limit: Duration) -> Duration {
        let now = Instant::now();
        [self.until, self.next_look]
            .into_iter()
            .flatten()
            .map(|t| t.saturating_duration_since(now))
            .fold(limit, Duration::min)
    }

    /// A hart awaited runs hot code: the hold may last [`HOT_HOLD_LIMIT`].
    fn keep_for_hot_code(&mut self) {
        if let (Some(since), Some(until)) = (self.since, self.until) {
            self.until = Some(until.max(since + HOT_HOLD_LIMIT));
        }
    }

    /// Whether the hold has lasted as long as it may.
    fn ran_out(&self) -> bool {
        self.until.is_some_and(|u| Instant::now() >= u)
    }

    /// Whether the awaited harts are due for a look.
    fn look_due(&self) -> bool {
        self.next_look.is_some_and(|t| Instant::now() >= t)
    }
}

/// A hart a hidden trigger waits for, where a look found it.
#[derive(Debug, Clone, Copy)]
struct Awaited {
    hart: u32,
    pc: u64,
    /// On a page of a breakpoint waiting for the trigger.
    in_hot_code: bool,
}

/// Where a stopped hart is, as far as [`on_its_way`] needs it.
#[derive(Debug, Clone, Copy)]
struct Whereabouts {
    pc: u64,
    /// In M-mode: where its trap returns to (`mepc`).
    trap_return: Option<u64>,
}

/// Whether a hart that has yet to stop at a hidden trigger is on its way
/// there, so that the first hart to arrive waits for it: it runs code on a
/// page of a breakpoint waiting for the trigger (`hot_pages`), or anywhere
/// in the scenario's ELF files (`in_elf`: any space, any privilege), or
/// it is in the firmware for a trap or an SBI call from that code (in
/// M-mode outside the files, its trap returning into them: a timer
/// interrupt, a `set_timer`); unless it waits in the trigger's `room`.
/// A hart in the room, or outside every file with no way back into them
/// (parked in the firmware, SBI HSM's stopped state), is not: it gets to
/// the trigger only after the boot hart has let it, so waiting for it
/// would only delay the arming by [`HOLD_LIMIT`].
fn on_its_way(
    at: Whereabouts,
    hot_pages: &[u64],
    room: Option<&WaitingRoom>,
    in_elf: impl Fn(u64) -> bool,
) -> bool {
    let waits = |pc: u64| room.is_some_and(|r| r.holds(pc));
    if waits(at.pc) {
        return false;
    }
    if hot_pages.contains(&(at.pc & !(PAGE_SIZE - 1))) || in_elf(at.pc) {
        return true;
    }
    at.trap_return.is_some_and(|r| in_elf(r) && !waits(r))
}

impl DebugSession {
    /// Breakpoint `index` has just counted a stop of `thread`: inserts the
    /// pending breakpoints armed after it, or holds the hart.
    ///
    /// Harts run the same code at different times, and a breakpoint is in
    /// for all of them: armed at the first hart's trigger stop, it would slow
    /// the hot code that the other harts are still running on its page. So
    /// when the trigger counts once per hart and other harts have yet to
    /// count there, this hart is held (left stopped just past the trigger,
    /// the others run) and the dependents go in when the last expected hart
    /// arrives, or after [`HOLD_LIMIT`]. No hart gets past the trigger
    /// before they are in, so each still stops at them. A hidden trigger
    /// holds only while another hart is on its way to it ([`on_its_way`]);
    /// when it does not hold, it arms them at a later return where it can
    /// ([`super::arming_points::ReturnWatch`]).
    pub(super) async fn arm_dependents(
        &mut self,
        index: usize,
        thread: Option<ThreadId>,
    ) -> Result<()> {
        let trigger = self.breakpoints[index].spec.at.clone();
        if !self.waited_for(&trigger) {
            return Ok(());
        }
        let bp = &self.breakpoints[index];
        let hidden = bp.arming_point;
        if let (Some(t), true, false) = (thread, bp.spec.once_per_hart, bp.done(self.harts)) {
            let coming = match hidden {
                true => self.others_on_their_way(index).await?,
                false => None,
            };
            if hidden && coming.is_none() {
                return self.arm_at_return(index, t).await;
            }
            let awaited =
                coming.map_or_else(String::new, |a| format!(": hart {} at {:#x}", a.hart, a.pc));
            self.rsp.mark(format!("hold at {trigger}{awaited}"));
            self.hold.add(t, index, hidden);
            if coming.is_some_and(|a| a.in_hot_code) {
                self.hold.keep_for_hot_code();
            }
            return Ok(());
        }
        match (thread, hidden) {
            (Some(t), true) => self.arm_at_return(index, t).await,
            _ => self.arm_now(&trigger).await,
        }
    }

    /// Whether a pending breakpoint waits for `trigger`.
    pub(super) fn waited_for(&self, trigger: &str) -> bool {
        self.breakpoints
            .iter()
            .any(|b| b.pending && b.spec.arm_after.as_deref() == Some(trigger))
    }

    /// Lets the held harts go and inserts the breakpoints armed after
    /// `trigger`. The target is stopped.
    pub(super) async fn arm_now(&mut self, trigger: &str) -> Result<()> {
        self.release_held();
        for j in 0..self.breakpoints.len() {
            let bp = &self.breakpoints[j];
            if bp.pending && bp.spec.arm_after.as_deref() == Some(trigger) {
                self.breakpoints[j].pending = false;
                self.breakpoints[j].armed_at_secs = Some(self.started.elapsed().as_secs_f64());
                self.insert(j).await?;
            }
        }
        Ok(())
    }

    /// A hart that has yet to stop at hidden trigger `index` (and can count
    /// there) and is on its way to it ([`on_its_way`]), one in hot code
    /// first; `None` when there is none. The target is stopped.
    async fn others_on_their_way(&mut self, index: usize) -> Result<Option<Awaited>> {
        let trigger = &self.breakpoints[index];
        let (at, only, counted) = (
            trigger.spec.at.clone(),
            trigger.spec.hart,
            trigger.counted_harts.clone(),
        );
        let pages: Vec<u64> = self
            .breakpoints
            .iter()
            .filter(|b| b.pending && b.spec.arm_after.as_deref() == Some(at.as_str()))
            .map(|b| b.address & !(PAGE_SIZE - 1))
            .collect();
        let awaited: Vec<ThreadId> = self
            .threads()
            .await?
            .into_iter()
            .filter(|t| {
                let hart = t.hart_index().unwrap_or(0) as u32;
                only.is_none_or(|h| h == hart) && !counted.contains(&hart)
            })
            .collect();
        let room = self.waiting_rooms.iter().find(|w| w.trigger == at).cloned();
        let elfs = std::sync::Arc::clone(&self.elfs);
        let in_elf = |pc: u64| !elfs.spaces_containing(pc).is_empty();
        let mut found = None;
        for t in awaited {
            // At a breakpoint stop, read when the stop was taken.
            let Some(pc) = self.rsp.read_thread_register(t, "pc").await?.as_u64() else {
                continue;
            };
            let trap_return = match in_elf(pc) {
                true => None,
                false => self.trap_return(t).await?,
            };
            let place = Whereabouts { pc, trap_return };
            if !on_its_way(place, &pages, room.as_ref(), in_elf) {
                continue;
            }
            let a = Awaited {
                hart: t.hart_index().unwrap_or(0) as u32,
                pc,
                in_hot_code: pages.contains(&(pc & !(PAGE_SIZE - 1))),
            };
            if a.in_hot_code {
                return Ok(Some(a));
            }
            found = found.or(Some(a));
        }
        Ok(found)
    }

    /// Where `thread`'s trap returns to (`mepc`) when it is in M-mode;
    /// `None` in another mode or when either is not shown (a register the
    /// target description lacks, or that answers unavailable). The target
    /// is stopped.
    async fn trap_return(&mut self, thread: ThreadId) -> Result<Option<u64>> {
        let level = self.shown_register(thread, "priv").await?;
        if level.is_none_or(|l| l & 3 != 3) {
            return Ok(None);
        }
        self.shown_register(thread, "mepc").await
    }

    /// Register `name` of `thread`, `None` when the target does not show it.
    async fn shown_register(&mut self, thread: ThreadId, name: &str) -> Result<Option<u64>> {
        match self.rsp.read_thread_register(thread, name).await {
            Ok(v) => Ok(v.as_u64()),
            Err(RspError::UnknownRegister { .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {name} of a hart awaited")),
        }
    }

    /// Lets every held hart go (at the next resume).
    pub(super) fn release_held(&mut self) {
        self.hold = Hold::default();
    }

    /// The hold ran out: inserts every breakpoint whose trigger has counted
    /// a stop, and lets the held harts go. The target is stopped.
    pub(super) async fn end_hold(&mut self) -> Result<()> {
        self.release_held();
        for j in 0..self.breakpoints.len() {
            let Some(trigger) = self.breakpoints[j].spec.arm_after.clone() else {
                continue;
            };
            let fired = self
                .breakpoints
                .iter()
                .any(|b| b.spec.at == trigger && b.hits > 0);
            if self.breakpoints[j].pending && fired {
                self.breakpoints[j].pending = false;
                self.breakpoints[j].armed_at_secs = Some(self.started.elapsed().as_secs_f64());
                self.insert(j).await?;
            }
        }
        self.remove_spent_arming_points().await
    }

    /// What a wait for a stop that timed out means while a hart is held:
    /// at [`HOLD_LIMIT`], the other harts are stopped, everything whose
    /// trigger fired is armed and everyone goes on; at a look, see
    /// [`Self::look_while_holding`]. Else the target still runs.
    pub(super) async fn hold_timed_out(&mut self) -> Result<Event> {
        if self.hold.ran_out() {
            self.rsp.mark("hold ran out".to_string());
            self.rsp
                .interrupt_and_wait()
                .await
                .context("interrupting to end a hold")?;
            self.end_hold().await?;
            self.run_on().await.context("resuming after a hold")?;
        } else if self.hold.look_due() {
            return self.look_while_holding().await;
        }
        Ok(Event::Running)
    }

    /// Stops the target for a look at the harts a hidden trigger waits for
    /// (a breakpoint stop that comes instead is handled as
    /// [`DebugSession::poll`] would); when none of them is on its way any
    /// more, ends the hold at once: the held hart goes on and the trigger's
    /// breakpoints are armed (at its call's return where it can). Then the
    /// target runs again.
    async fn look_while_holding(&mut self) -> Result<Event> {
        self.hold.next_look = Some(Instant::now() + LOOK_EVERY);
        let reply = match self.rsp.interrupt_and_wait().await {
            Ok(r) => r,
            Err(RspError::ConnectionClosed { .. }) => return Ok(Event::Exited),
            Err(e) => return Err(e).context("stopping the target to look at the harts awaited"),
        };
        let Some(records) = self.take_stop(reply).await? else {
            return Ok(Event::Exited);
        };
        for (index, thread) in self.hold.hidden.clone() {
            let trigger = self.breakpoints[index].spec.at.clone();
            if !self.waited_for(&trigger) {
                continue;
            }
            match self.others_on_their_way(index).await? {
                None => {
                    self.rsp.mark(format!("hold settled at {trigger}"));
                    self.release_held();
                    self.arm_at_return(index, thread).await?;
                }
                Some(a) if a.in_hot_code => self.hold.keep_for_hot_code(),
                Some(_) => {}
            }
        }
        self.remove_spent_arming_points().await?;
        self.run_on()
            .await
            .context("resuming after a look at the harts awaited")?;
        Ok(match records.is_empty() {
            true => Event::Running,
            false => Event::Stopped(records),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xv6-like: the breakpoint's page at 0x8020_0000, main (the caller)
    /// at 0x8020_0100..0x8020_0200 with its last call at 0x8020_0180.
    fn room() -> WaitingRoom {
        WaitingRoom {
            trigger: "guest:mappages".into(),
            caller: 0x8020_0100..0x8020_0200,
            last_site: 0x8020_0180,
        }
    }

    /// A hart at `pc`, not in M-mode.
    fn at(pc: u64) -> Whereabouts {
        Whereabouts {
            pc,
            trap_return: None,
        }
    }

    #[test]
    fn a_hart_anywhere_in_the_elf_files_is_on_its_way() {
        let hot = [0x8020_0000];
        let in_elf = |pc: u64| (0x8020_0000..0x8021_0000).contains(&pc);
        // On the hot page, and (a lagging hart) in code on other pages.
        assert!(on_its_way(at(0x8020_0040), &hot, Some(&room()), in_elf));
        assert!(on_its_way(at(0x8020_5000), &hot, Some(&room()), in_elf));
        // In main, past its last call: it comes out to the breakpoint.
        assert!(on_its_way(at(0x8020_01c0), &hot, Some(&room()), in_elf));
        // In the firmware for a trap from a guest's code on another page.
        let in_sbi = Whereabouts {
            pc: 0x8000_1234,
            trap_return: Some(0x8020_5000),
        };
        assert!(on_its_way(in_sbi, &hot, Some(&room()), in_elf));
        // On the hot page outside every ELF file (no files at all).
        assert!(on_its_way(at(0x8020_0040), &hot, None, |_| false));
    }

    #[test]
    fn a_hart_waiting_or_parked_outside_the_elf_files_is_not() {
        let hot = [0x8020_0000];
        let in_elf = |pc: u64| (0x8020_0000..0x8021_0000).contains(&pc);
        // Waiting for `started` in main, on the hot page or not.
        assert!(!on_its_way(at(0x8020_0140), &hot, Some(&room()), in_elf));
        // Parked in the firmware (OpenSBI's HSM stopped state): in M-mode
        // with nowhere in the files to return to, or not in M-mode.
        let parked = Whereabouts {
            pc: 0x8000_1234,
            trap_return: Some(0x8000_0100),
        };
        assert!(!on_its_way(parked, &hot, Some(&room()), in_elf));
        assert!(!on_its_way(at(0x8000_1234), &hot, Some(&room()), in_elf));
        // In the firmware for a trap from the room (a timer interrupt).
        let from_room = Whereabouts {
            pc: 0x8000_1234,
            trap_return: Some(0x8020_0140),
        };
        assert!(!on_its_way(from_room, &hot, Some(&room()), in_elf));
    }

    #[test]
    fn the_wait_ends_at_the_next_look_or_the_limit() {
        let mut hold = Hold::default();
        let long = Duration::from_secs(60);
        assert_eq!(hold.wait_limit(long), long, "nobody held");
        let t = ThreadId::qemu_hart(0);
        hold.add(t, 3, false);
        assert!(hold.wait_limit(long) <= HOLD_LIMIT);
        assert!(hold.next_look.is_none(), "a scenario's trigger: no looks");
        hold.add(t, 4, true);
        assert!(hold.wait_limit(long) <= LOOK_EVERY);
        assert_eq!((hold.harts.len(), hold.hidden.len()), (1, 1));
        // A hart in hot code: the end moves out to HOT_HOLD_LIMIT from the
        // hold's start, and a second call moves it no further.
        let until = hold.until.expect("an end");
        hold.keep_for_hot_code();
        let hot = hold.until.expect("an end");
        assert!(hot > until);
        assert_eq!(hold.since.map(|s| s + HOT_HOLD_LIMIT), Some(hot));
        hold.keep_for_hot_code();
        assert_eq!(hold.until, Some(hot));
    }
}
