//! Which harts a stop left sitting on a breakpoint or a watchpoint, and
//! stepping them off: the one place that knows, for the client's own
//! [`RspClient::resume`] and for whoever records stops (the debug session).
//!
//! QEMU checks a breakpoint before the instruction at it runs, and a
//! watchpoint before the access, so a hart resumed there stops again at once
//! without moving. A stop halts every hart but names one: other harts may sit
//! on breakpoints too. After each stop the client lists them all
//! ([`RspClient::harts_at_points`]): every hart whose pc holds a code
//! breakpoint it inserted, and the hart a watchpoint stop names. A caller
//! that records stops takes the entries it has not seen yet
//! ([`RspClient::take_unreported_at_points`]); resuming steps each listed
//! hart off (a step passes code breakpoints; watchpoints are taken out for
//! it), so no hart ever leaves a point before its stop could be taken.
//!
//! A hart leaves the list only when it moves (a step, a resume). When one
//! of the steps off stops for another reason (the next instruction is a
//! watched store), the steps end there and that stop is reported next; the
//! harts not stepped yet stay listed as reported, so no stop is taken twice.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::rsp::client::RspClient;
use crate::rsp::commands::breakpoints::{command as breakpoint_command, BreakpointType};
use crate::rsp::commands::stop::StopReply;
use crate::rsp::commands::threads::ThreadId;
use crate::rsp::error::Result;

/// What holds a hart where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldBy {
    /// A code breakpoint at its pc.
    Breakpoint,
    /// The watchpoint whose start address is `addr` (as the stop reply said).
    Watchpoint { addr: u64 },
}

/// A hart the last stop left on a breakpoint or before a watched access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HartAtPoint {
    pub(crate) thread: ThreadId,
    pub(crate) pc: u64,
    pub(crate) held_by: HeldBy,
    /// Already handed out by [`RspClient::take_unreported_at_points`] (at
    /// this stop, or at an earlier one the hart has not moved since).
    pub(crate) reported: bool,
}

impl HartAtPoint {
    fn same_place(&self, o: &HartAtPoint) -> bool {
        self.thread == o.thread && self.pc == o.pc && self.held_by == o.held_by
    }
}

fn is_code(ty: BreakpointType) -> bool {
    matches!(ty, BreakpointType::Software | BreakpointType::Hardware)
}

impl<S: AsyncRead + AsyncWrite + Unpin> RspClient<S> {
    /// The harts the last stop left on a point of this client (see the
    /// module docs); empty while the target runs or after it exited.
    pub async fn harts_at_points(&mut self) -> Result<Vec<HartAtPoint>> {
        self.list_at_points().await?;
        Ok(self.at_points.clone())
    }

    /// The entries of [`RspClient::harts_at_points`] not handed out before;
    /// they count as reported from now on.
    pub(crate) async fn take_unreported_at_points(&mut self) -> Result<Vec<HartAtPoint>> {
        self.list_at_points().await?;
        let mut fresh = Vec::new();
        for e in self.at_points.iter_mut().filter(|e| !e.reported) {
            e.reported = true;
            fresh.push(*e);
        }
        Ok(fresh)
    }

    /// A stop reply arrived: the list is to be made again for it.
    pub(crate) fn at_points_stale(&mut self) {
        self.at_points_listed = false;
    }

    /// Every hart is let run freely: nobody is held anywhere any more.
    pub(crate) fn forget_at_points(&mut self) {
        self.at_points.clear();
        self.at_points_listed = true;
    }

    /// `thread` moved (a step): it no longer sits where it was listed.
    pub(crate) fn moved(&mut self, thread: ThreadId) {
        self.at_points.retain(|e| e.thread != thread);
    }

    /// The threads, listed at the first call only: QEMU's harts exist from
    /// the machine's start to its end, and a list at every stop would cost
    /// a round trip or two each time.
    pub(crate) async fn known_threads(&mut self) -> Result<Vec<ThreadId>> {
        if let Some(t) = &self.known_threads {
            return Ok(t.clone());
        }
        let listed = self.threads().await?;
        self.known_threads = Some(listed.clone());
        Ok(listed)
    }

    /// Lists the harts on points for the current stop, once. Entries of
    /// the list before stay: a hart leaves the list only when it moves (a
    /// step, a resume), so one still listed has not moved since, and keeps
    /// its `reported` flag (a hart whose step-off was cut short by another stop).
    async fn list_at_points(&mut self) -> Result<()> {
        if self.at_points_listed || self.check_can_send("?").is_err() {
            return Ok(());
        }
        self.at_points_listed = true;
        let watch = self
            .last_stop
            .as_ref()
            .and_then(|s| Some((s.thread()?, s.signal()?.watch?.addr)));
        let any_code = self.breakpoints.iter().any(|(ty, ..)| is_code(*ty));
        // Without a register map there is no pc to compare.
        if (watch.is_none() && !any_code) || self.register_info("pc").is_err() {
            return Ok(());
        }
        let mut found = Vec::new();
        if let Some((thread, addr)) = watch {
            if let Some(pc) = self.read_thread_register(thread, "pc").await?.as_u64() {
                found.push((thread, pc, HeldBy::Watchpoint { addr }));
            }
        }
        if any_code {
            // The hart Hg points at first: its pc needs no `Hg`.
            let mut threads = self.known_threads().await?;
            if let Some(i) = threads
                .iter()
                .position(|t| Some(*t) == self.register_thread)
            {
                threads[..=i].rotate_right(1);
            }
            self.prefetch_register_of_threads("pc", &threads).await?;
            for thread in threads {
                let Some(pc) = self.read_thread_register(thread, "pc").await?.as_u64() else {
                    continue;
                };
                if self
                    .breakpoints
                    .iter()
                    .any(|&(ty, a, _)| is_code(ty) && a == pc)
                {
                    found.push((thread, pc, HeldBy::Breakpoint));
                }
            }
        }
        for (thread, pc, held_by) in found {
            let entry = HartAtPoint {
                thread,
                pc,
                held_by,
                reported: false,
            };
            if !self.at_points.iter().any(|e| e.same_place(&entry)) {
                self.at_points.push(entry);
            }
        }
        Ok(())
    }

    /// Steps every listed hart off its point (the points at its place
    /// removed for the step, then put back). Returns the first step's stop
    /// that is not a plain step completion, if one happens; the harts not
    /// stepped yet stay listed.
    pub(crate) async fn step_off_points(&mut self) -> Result<Option<StopReply>> {
        self.list_at_points().await?;
        while let Some(entry) = self.at_points.first().copied() {
            // A hart before a watched access passes every watchpoint, taken
            // out for its step. A single step passes the code breakpoints
            // at its pc without their removal (QEMU ignores breakpoints
            // while it steps; tests/rsp_qemu.rs checks it on every
            // version), which saves two round trips. (Removal and insertion
            // flush nothing in QEMU's translated code; the step's own stop
            // does, as every debug stop does up to QEMU 10.1.)
            let before_watch = self.at_points.iter().any(|e| {
                e.thread == entry.thread && matches!(e.held_by, HeldBy::Watchpoint { .. })
            });
            let on_code = self
                .breakpoints
                .iter()
                .any(|&(ty, a, _)| is_code(ty) && a == entry.pc);
            let watchpoints = self.watchpoints_to_pass(before_watch);
            if !on_code && watchpoints.is_empty() {
                // Its points were taken out meanwhile: it runs on freely.
                self.moved(entry.thread);
                continue;
            }
            if let Some(stop) = self
                .step_with_removed(entry.thread, &watchpoints, &[])
                .await?
            {
                return Ok(Some(stop));
            }
        }
        Ok(None)
    }

    /// Steps `thread`, listed on a point, off it now rather than at the
    /// next resume (the caller reads what the instruction did, `then_read`
    /// in the same exchange as the pc); true when
    /// the step completed plainly. Any other stop (the step ran into a
    /// watched access) becomes the current stop, listed again at the next
    /// look. False for a hart not listed.
    pub(crate) async fn step_off_now(
        &mut self,
        thread: ThreadId,
        then_read: &[&str],
    ) -> Result<bool> {
        let listed: Vec<HartAtPoint> = self
            .at_points
            .iter()
            .filter(|e| e.thread == thread)
            .copied()
            .collect();
        if listed.is_empty() {
            return Ok(false);
        }
        let before_watch = listed
            .iter()
            .any(|e| matches!(e.held_by, HeldBy::Watchpoint { .. }));
        let watchpoints = self.watchpoints_to_pass(before_watch);
        Ok(self
            .step_with_removed(thread, &watchpoints, then_read)
            .await?
            .is_none())
    }

    /// The watchpoints a step must remove: all of them for a hart before a
    /// watched access (it passes every one), none for one on code.
    fn watchpoints_to_pass(&self, before_watch: bool) -> Vec<(BreakpointType, u64, u64)> {
        self.breakpoints
            .iter()
            .filter(|&&(ty, ..)| !is_code(ty) && before_watch)
            .copied()
            .collect()
    }

    /// Removes `points` at the stub, steps `thread`, inserts them again;
    /// `then_read`: registers to read there ([`RspClient::step_reading`]).
    /// Returns the step's stop if it was anything but a plain step completion.
    async fn step_with_removed(
        &mut self,
        thread: ThreadId,
        points: &[(BreakpointType, u64, u64)],
        then_read: &[&str],
    ) -> Result<Option<StopReply>> {
        for &(ty, addr, kind) in points {
            self.request_ok(&breakpoint_command(false, ty, addr, kind))
                .await?;
        }
        let stepped = self.step_reading(thread, then_read).await;
        for &(ty, addr, kind) in points {
            self.request_ok(&breakpoint_command(true, ty, addr, kind))
                .await?;
        }
        let stop = stepped?;
        // A hart still listed did not move: the stop was another's.
        let moved = !self.at_points.iter().any(|e| e.thread == thread);
        let plain = moved && stop.is_trap() && stop.signal().is_some_and(|s| s.watch.is_none());
        Ok((!plain).then_some(stop))
    }
}
