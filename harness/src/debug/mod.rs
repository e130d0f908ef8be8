//! A debugging session on a running QEMU: breakpoints on named locations,
//! and at every stop the hart, its privilege level and V, the place in the
//! right ELF file, and the scenario's registers decoded into named fields.
//!
//! QEMU's breakpoints match the pc alone, whatever the privilege or V, and a
//! guest and a hypervisor linked at the same addresses both hit them; so each
//! stop is qualified (hart, privilege, V) before it counts.

mod arming_points;
pub(crate) mod auto_arm;
mod call_graph;
#[cfg(test)]
mod fake_target_tests;
mod hold;
mod privilege;
mod run_alone;
mod stop;
mod straight_run;
pub(crate) mod view;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::elf::ElfSet;
use crate::qemu::QemuVersion;
use crate::rsp::{HeldBy, RspClient, RspConfig, RspError, StopReply, ThreadId};
use crate::scenario::{BreakpointSpec, Scenario};

pub use privilege::privilege_of;
pub use stop::StopRecord;

/// A breakpoint as placed in the target.
#[derive(Debug, Clone)]
pub struct ArmedBreakpoint {
    pub spec: BreakpointSpec,
    /// The ELF space the location was resolved in, when it names one.
    pub space: Option<String>,
    pub address: u64,
    /// Stops that counted (qualifiers matched).
    pub hits: u32,
    /// Stops that did not count (another hart or privilege level).
    pub ignored: u32,
    /// The harts whose stops counted (one entry a stop), for `once_per_hart`.
    pub counted_harts: Vec<u32>,
    /// Per hart, the stops that qualified but came after its
    /// `hits_per_hart` (with `once_per_hart`): counted, not recorded, and
    /// only while the breakpoint stays in.
    pub beyond_quota: BTreeMap<u32, u64>,
    /// Still in the target.
    pub inserted: bool,
    /// Waiting for its `arm_after` trigger: not inserted yet.
    pub pending: bool,
    /// Seconds after the resume at which it went in late (`arm_after`).
    pub armed_at_secs: Option<f64>,
    /// A hidden trigger the harness chose ([`auto_arm`]), not the
    /// scenario's: its stops are never recorded, and it leaves the target
    /// once the breakpoints armed after it are in.
    pub arming_point: bool,
}

impl ArmedBreakpoint {
    /// The breakpoint `spec` at `address` (in ELF space `space`), not in
    /// the target yet; pending when it is armed late.
    pub(crate) fn new(spec: BreakpointSpec, space: Option<String>, address: u64) -> Self {
        let pending = spec.arm_after.is_some() || spec.arm_on.is_some();
        ArmedBreakpoint {
            spec,
            space,
            address,
            hits: 0,
            ignored: 0,
            counted_harts: Vec::new(),
            beyond_quota: BTreeMap::new(),
            inserted: false,
            pending,
            armed_at_secs: None,
            arming_point: false,
        }
    }

    /// Whether a stop of `hart` at `privilege` here counts: the qualifiers
    /// match and the hits are not used up.
    fn counts(&self, hart: u32, privilege: crate::riscv::PrivilegeLevel) -> bool {
        self.qualifies(hart, privilege) && self.hits < self.spec.max_hits && !self.quota_used(hart)
    }

    /// Whether a stop of `hart` at `privilege` matches the qualifiers.
    fn qualifies(&self, hart: u32, privilege: crate::riscv::PrivilegeLevel) -> bool {
        self.spec.hart.is_none_or(|h| h == hart)
            && self.spec.privilege.is_none_or(|p| p.matches(privilege))
    }

    /// With `once_per_hart`: whether `hart` has counted its `hits_per_hart`.
    fn quota_used(&self, hart: u32) -> bool {
        let counted = self.counted_harts.iter().filter(|h| **h == hart).count();
        self.spec.once_per_hart && counted >= self.spec.hits_per_hart.max(1) as usize
    }

    /// Tallies a stop that did not count: one that qualified on a hart past
    /// its quota goes to [`Self::beyond_quota`].
    fn pass(&mut self, hart: u32, privilege: crate::riscv::PrivilegeLevel) {
        self.ignored += 1;
        if self.qualifies(hart, privilege) && self.quota_used(hart) {
            *self.beyond_quota.entry(hart).or_default() += 1;
        }
    }

    /// Counts a stop of `hart` (one that [`Self::counts`] accepted).
    fn count(&mut self, hart: u32) {
        self.hits += 1;
        self.counted_harts.push(hart);
    }

    /// Whether it has counted every stop it will count, so that it can leave
    /// the target and its page run at full speed again: `max_hits` stops, or
    /// with `once_per_hart`, `hits_per_hart` on every hart that can count
    /// (its `hart`, else all `harts`). A stop that did not count never makes
    /// it done: a hart still to come must find it in place.
    fn done(&self, harts: u32) -> bool {
        if self.hits >= self.spec.max_hits {
            return true;
        }
        self.spec.once_per_hart
            && match self.spec.hart {
                Some(h) => self.quota_used(h),
                None => (0..harts).all(|h| self.quota_used(h)),
            }
    }
}

/// What one wait on the running target gave.
#[derive(Debug)]
pub enum Event {
    /// Nothing yet; the target still runs.
    Running,
    /// A stop was handled; the stops that counted and were recorded.
    Stopped(Vec<StopRecord>),
    /// QEMU's process ended (the guest shut the machine down).
    Exited,
}

/// A gdbstub connection plus the scenario's breakpoints and symbols.
pub struct DebugSession {
    rsp: RspClient,
    elfs: Arc<ElfSet>,
    version: QemuVersion,
    breakpoints: Vec<ArmedBreakpoint>,
    /// The harts (QEMU threads), listed at the first stop.
    threads: Vec<ThreadId>,
    /// The machine's hart count (the scenario's `smp`).
    harts: u32,
    /// Harts held just past an `arm_after` trigger until every hart that can
    /// count there has (see [`DebugSession::arm_dependents`]).
    hold: hold::Hold,
    started: std::time::Instant,
    /// Stops recorded just before a resume (harts found on breakpoints at
    /// a stop nobody had handled), handed out with the next stops.
    late: Vec<StopRecord>,
    /// The arming points chosen (or not) for the scenario's breakpoints.
    auto_arming: Vec<auto_arm::AutoArm>,
    /// Each scenario ELF's name and the V its code runs at (`None`: either).
    elf_virt: Vec<(String, Option<bool>)>,
    /// Where harts may wait without passing a call-graph trigger's breakpoint.
    waiting_rooms: Vec<arming_points::WaitingRoom>,
    /// Call-graph triggers whose breakpoints go in at a later return.
    return_watches: Vec<arming_points::ReturnWatch>,
    /// Which harts have the H extension, read once each.
    with_h: privilege::HartsWithH,
    /// Where a hart ran alone and did not reach the breakpoint ahead.
    alone_gave_up: run_alone::GaveUp,
}

impl DebugSession {
    /// Connects to QEMU's gdbstub (QEMU started paused) and inserts the
    /// scenario's breakpoints, resolved in `elfs` (the scenario's ELF files,
    /// [`Scenario::load_elfs`], read once per run by the caller). The target
    /// stays stopped.
    pub async fn attach(
        addr: SocketAddr,
        scenario: &Scenario,
        version: QemuVersion,
        elfs: Arc<ElfSet>,
    ) -> Result<DebugSession> {
        let rsp = RspClient::connect(addr, RspConfig::default()).await?;
        let mut session = DebugSession {
            rsp,
            elfs,
            version,
            breakpoints: Vec::new(),
            threads: Vec::new(),
            harts: scenario.machine.smp,
            hold: hold::Hold::default(),
            started: std::time::Instant::now(),
            late: Vec::new(),
            auto_arming: Vec::new(),
            elf_virt: scenario
                .elfs
                .iter()
                .map(|e| (e.name.clone(), e.virt))
                .collect(),
            waiting_rooms: Vec::new(),
            return_watches: Vec::new(),
            with_h: privilege::HartsWithH::default(),
            alone_gave_up: run_alone::GaveUp::default(),
        };
        for spec in &scenario.breakpoints {
            let (space, location) = scenario.split_space(&spec.at);
            let resolved = session.elfs.resolve_str(location, space).with_context(|| {
                format!("{}: breakpoint \"{}\"", scenario.path.display(), spec.at)
            })?;
            session.breakpoints.push(ArmedBreakpoint::new(
                spec.clone(),
                space.map(str::to_string),
                resolved.address,
            ));
        }
        if scenario.auto_arm {
            session.choose_arming_points(scenario);
        }
        for i in 0..session.breakpoints.len() {
            if !session.breakpoints[i].pending {
                session.insert(i).await?;
            }
        }
        Ok(session)
    }

    /// The arming points chosen for the scenario's breakpoints, or why none.
    pub fn auto_arming(&self) -> &[auto_arm::AutoArm] {
        &self.auto_arming
    }

    /// Puts breakpoint `index` into the target.
    async fn insert(&mut self, index: usize) -> Result<()> {
        let bp = &self.breakpoints[index];
        let (address, at) = (bp.address, bp.spec.at.clone());
        match bp.spec.watch {
            Some(w) => self
                .rsp
                .set_watchpoint(w.breakpoint_type(), address, w.len)
                .await
                .with_context(|| format!("inserting a watchpoint at {at} ({address:#x})"))?,
            None => self
                .rsp
                .set_breakpoint(address)
                .await
                .with_context(|| format!("inserting a breakpoint at {at} ({address:#x})"))?,
        }
        self.breakpoints[index].inserted = true;
        Ok(())
    }

    /// Removes the hidden triggers whose breakpoints are all in: their
    /// pages run at full speed again. The target is stopped.
    async fn remove_spent_arming_points(&mut self) -> Result<()> {
        for j in 0..self.breakpoints.len() {
            let b = &self.breakpoints[j];
            let waited_for = self
                .breakpoints
                .iter()
                .any(|d| d.pending && d.spec.arm_after.as_deref() == Some(b.spec.at.as_str()));
            if b.arming_point && b.inserted && !waited_for {
                let (address, watch) = (b.address, b.spec.watch);
                match watch {
                    Some(w) => self
                        .rsp
                        .remove_breakpoint(w.breakpoint_type(), address, w.len)
                        .await
                        .context("removing an arming watchpoint")?,
                    None => self
                        .rsp
                        .clear_breakpoint(address)
                        .await
                        .context("removing an arming point")?,
                }
                self.breakpoints[j].inserted = false;
            }
        }
        Ok(())
    }

    /// Whether a breakpoint still waits for an event that `fired` says has
    /// happened.
    pub(crate) fn waits_for(&self, fired: impl Fn(&crate::scenario::ArmEvent) -> bool) -> bool {
        self.breakpoints
            .iter()
            .any(|b| b.pending && b.spec.arm_on.as_ref().is_some_and(&fired))
    }

    /// Inserts every breakpoint waiting for an event that `fired` says has
    /// happened (`arm_after = { milestone | trap }`). The target must be
    /// stopped ([`DebugSession::pause`]).
    pub(crate) async fn arm_on_events(
        &mut self,
        fired: impl Fn(&crate::scenario::ArmEvent) -> bool,
    ) -> Result<()> {
        for j in 0..self.breakpoints.len() {
            let b = &self.breakpoints[j];
            if b.pending && b.spec.arm_on.as_ref().is_some_and(&fired) {
                self.breakpoints[j].pending = false;
                self.breakpoints[j].armed_at_secs = Some(self.started.elapsed().as_secs_f64());
                self.insert(j).await?;
            }
        }
        Ok(())
    }

    /// Lets the target run again: every hart, or the ones not held. The
    /// client steps every hart off the point it sits on first, so the stops
    /// there not handled yet are recorded now (see [`DebugSession::late`]).
    async fn run_on(&mut self) -> Result<()> {
        let late = self.handle_at_points().await?;
        self.late.extend(late);
        if self.hold.harts.is_empty() {
            return self.rsp.resume().await.context("resuming after a stop");
        }
        if self.threads.is_empty() {
            self.threads = self.rsp.known_threads().await.context("listing harts")?;
        }
        let others: Vec<ThreadId> = self
            .threads
            .iter()
            .copied()
            .filter(|t| !self.hold.harts.contains(t))
            .collect();
        if others.is_empty() {
            self.end_hold().await?;
            return self.rsp.resume().await.context("resuming after a stop");
        }
        self.rsp
            .resume_only(&others)
            .await
            .context("resuming the harts not held at a trigger")
    }

    /// The breakpoints and their hit counts.
    pub fn breakpoints(&self) -> &[ArmedBreakpoint] {
        &self.breakpoints
    }

    /// The RSP client, for requests while the target is stopped.
    pub fn rsp(&mut self) -> &mut RspClient {
        &mut self.rsp
    }

    /// The scenario's ELF files whose code runs at V = `virt` (all of them
    /// for `None`), in the scenario's order: a guest and a hypervisor
    /// linked at the same addresses are told apart by the hart's V.
    pub(crate) fn elfs_at(&self, virt: Option<bool>) -> Vec<&crate::elf::ElfImage> {
        self.elf_virt
            .iter()
            .filter(|(_, v)| virt.is_none() || v.is_none() || *v == virt)
            .filter_map(|(name, _)| self.elfs.space(name).ok())
            .collect()
    }

    /// The scenario's ELF files.
    pub fn elfs(&self) -> &ElfSet {
        &self.elfs
    }

    /// Lets every hart run.
    pub async fn resume(&mut self) -> Result<()> {
        self.started = std::time::Instant::now();
        self.rsp.resume().await.context("resuming the target")
    }

    /// Waits up to `limit` for a stop; handles it (records it when it counts,
    /// steps over the breakpoint) and lets the target run again.
    pub async fn poll(&mut self, limit: Duration) -> Result<Event> {
        if !self.late.is_empty() {
            return Ok(Event::Stopped(std::mem::take(&mut self.late)));
        }
        let limit = self.hold.wait_limit(limit);
        let reply = match self.rsp.wait_for_stop(limit).await {
            Ok(r) => r,
            Err(RspError::Timeout { .. }) => return self.hold_timed_out().await,
            // QEMU < 9 closes the gdbstub without a `W` packet when the guest powers off.
            Err(RspError::ConnectionClosed { .. }) => return Ok(Event::Exited),
            Err(e) => return Err(e).context("waiting for the target to stop"),
        };
        let Some(mut records) = self.take_stop(reply).await? else {
            return Ok(Event::Exited);
        };
        if !self.run_alone_while_near(&mut records).await? {
            return Ok(Event::Exited);
        }
        // The client steps every hart off its watched access or breakpoint
        // before it resumes; harts held at an arming trigger stay stopped.
        self.run_on().await.context("resuming after a stop")?;
        Ok(Event::Stopped(records))
    }

    /// Stops every hart for a look (the harness's own, not a scenario's):
    /// a breakpoint stop that comes instead of the interrupt's is handled as
    /// [`DebugSession::poll`] would. `None` when QEMU exited.
    pub(crate) async fn pause(&mut self) -> Result<Option<Vec<StopRecord>>> {
        if !self.rsp.is_running() {
            return Ok(Some(std::mem::take(&mut self.late)));
        }
        let reply = match self.rsp.interrupt_and_wait().await {
            Ok(r) => r,
            Err(RspError::ConnectionClosed { .. }) => return Ok(None),
            Err(e) => return Err(e).context("stopping the target for a look"),
        };
        self.take_stop(reply).await
    }

    /// Lets every hart run again after [`DebugSession::pause`].
    pub(crate) async fn cont(&mut self) -> Result<()> {
        self.run_on().await.context("resuming the target")
    }

    /// Handles a stop reply without resuming: the stops that counted, or
    /// `None` when QEMU exited.
    pub(crate) async fn take_stop(&mut self, reply: StopReply) -> Result<Option<Vec<StopRecord>>> {
        if !matches!(reply, StopReply::Signal(_)) {
            return Ok(None);
        }
        let mut records = std::mem::take(&mut self.late);
        records.extend(self.handle_at_points().await?);
        Ok(Some(records))
    }

    /// Handles every hart the client found on a breakpoint or before a
    /// watched access that has not been handled yet: not just the one the
    /// stop reply names (when two harts reach breakpoints together, QEMU
    /// reports one of them, and a watchpoint stop can leave another hart on
    /// a breakpoint). The client steps them off at the next resume.
    async fn handle_at_points(&mut self) -> Result<Vec<StopRecord>> {
        let found = self
            .rsp
            .take_unreported_at_points()
            .await
            .context("finding the harts stopped at breakpoints")?;
        let mut records = Vec::new();
        for at in found {
            let Some((index, place)) = self.counting_point(at.held_by, at.thread, at.pc).await?
            else {
                continue;
            };
            let record = match at.held_by {
                HeldBy::Watchpoint { addr } => {
                    self.handle_watch(index, addr, at.thread, place).await?
                }
                HeldBy::Breakpoint => self.handle_stop(index, at.thread, place).await?,
            };
            records.extend(record);
        }
        Ok(records)
    }

    /// The harts (QEMU threads), listed once.
    pub(crate) async fn threads(&mut self) -> Result<Vec<ThreadId>> {
        if self.threads.is_empty() {
            self.threads = self.rsp.known_threads().await.context("listing harts")?;
        }
        Ok(self.threads.clone())
    }

    /// The QEMU version on the other end.
    pub(crate) fn version(&self) -> QemuVersion {
        self.version
    }

    /// The inserted breakpoint (at `pc`) or watchpoint (on `addr`) that
    /// holds `thread`, with the stop's place, when the stop counts there;
    /// one that does not count (another hart or privilege level) is tallied
    /// as ignored.
    async fn counting_point(
        &mut self,
        held_by: HeldBy,
        thread: ThreadId,
        pc: u64,
    ) -> Result<Option<(usize, stop::Place)>> {
        let Some(index) = self.breakpoints.iter().position(|b| {
            b.inserted
                && match held_by {
                    HeldBy::Watchpoint { addr } => b.spec.watch.is_some() && b.address == addr,
                    HeldBy::Breakpoint => b.spec.watch.is_none() && b.address == pc,
                }
        }) else {
            return Ok(None);
        };
        let hart = thread.hart_index().unwrap_or(0) as u32;
        // What this stop reads if it counts, asked for in one go: a
        // register read that turns out unneeded costs bytes, not a wait.
        let wanted: Vec<String> = std::iter::once("priv".to_string())
            .chain(self.breakpoints[index].spec.dump.iter().cloned())
            .collect();
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        self.rsp.prefetch_registers(thread, &wanted).await?;
        let write = self.breakpoints[index].spec.completed_write;
        let at_write = match write {
            Some(w) if !crate::qemu::quirks::PRIV_SHOWS_V.applies(self.version) => {
                privilege::at_hypervisor_write(&mut self.rsp, thread, pc, w).await?
            }
            _ => None,
        };
        let (privilege, source) = match at_write {
            Some(known) => known,
            None => {
                privilege::privilege_known_h(&mut self.rsp, thread, self.version, &mut self.with_h)
                    .await?
            }
        };
        if !self.breakpoints[index].counts(hart, privilege) {
            self.breakpoints[index].pass(hart, privilege);
            return Ok(None);
        }
        let place = stop::Place {
            hart,
            privilege,
            source,
            pc,
        };
        Ok(Some((index, place)))
    }

    /// Handles a stop that counts at breakpoint `index` (see
    /// [`Self::counting_point`]): records it, unless the breakpoint is a
    /// hidden arming point; a breakpoint that is done leaves the target.
    async fn handle_stop(
        &mut self,
        index: usize,
        thread: ThreadId,
        at: stop::Place,
    ) -> Result<Option<StopRecord>> {
        let pc = at.pc;
        let role = match self.breakpoints[index].arming_point {
            true => "trigger",
            false => "hit",
        };
        self.rsp.mark(format!("{role} hart {}", at.hart));
        let record = if self.breakpoints[index].arming_point {
            // Hidden: counted for the arming, never recorded.
            self.breakpoints[index].count(at.hart);
            self.arm_dependents(index, Some(thread)).await?;
            self.remove_spent_arming_points().await?;
            None
        } else {
            let (privilege, source) = (at.privilege, at.source);
            let mut record = self.count_stop(index, at, Some(thread)).await?;
            let names = self.breakpoints[index].spec.read_after_step.clone();
            if !names.is_empty() {
                record.after_step =
                    stop::after_step(&mut self.rsp, thread, &names, privilege, source).await?;
                record.confirm_completed_write();
            }
            Some(record)
        };
        self.remove_if_done(index, pc).await?;
        Ok(record)
    }

    /// Records a stop of `thread` that counts at watchpoint `index` (on
    /// `addr`, the hart before the access), unless it is a hidden arming
    /// point (a call's return, see [`arming_points::ReturnWatch`]): that one
    /// arms its breakpoints. A watchpoint that has counted its hits is removed.
    async fn handle_watch(
        &mut self,
        index: usize,
        addr: u64,
        thread: ThreadId,
        at: stop::Place,
    ) -> Result<Option<StopRecord>> {
        let record = if self.breakpoints[index].arming_point {
            self.rsp.mark(format!("return hart {}", at.hart));
            self.breakpoints[index].count(at.hart);
            self.arm_dependents(index, Some(thread)).await?;
            self.remove_spent_arming_points().await?;
            None
        } else {
            Some(self.count_stop(index, at, None).await?)
        };
        self.remove_if_done(index, addr).await?;
        Ok(record)
    }

    /// Takes breakpoint or watchpoint `index` (at `addr`) out of the target
    /// once it has counted all its stops, so that its page runs at full
    /// speed again.
    async fn remove_if_done(&mut self, index: usize, addr: u64) -> Result<()> {
        let b = &self.breakpoints[index];
        if !b.inserted || !b.done(self.harts) {
            return Ok(());
        }
        match &b.spec.watch {
            Some(w) => self
                .rsp
                .remove_breakpoint(w.breakpoint_type(), addr, w.len)
                .await
                .context("removing a watchpoint that has counted its stops")?,
            None => self
                .rsp
                .clear_breakpoint(addr)
                .await
                .context("removing a breakpoint that has counted its stops")?,
        };
        self.breakpoints[index].inserted = false;
        Ok(())
    }

    /// Records a stop that counts at breakpoint or watchpoint `index`, counts
    /// it, and arms the breakpoints waiting for it (`held`: the hart to hold
    /// at a once-per-hart trigger, see `arm_dependents`).
    async fn count_stop(
        &mut self,
        index: usize,
        at: stop::Place,
        held: Option<ThreadId>,
    ) -> Result<StopRecord> {
        let hart = at.hart;
        let bp = &self.breakpoints[index];
        let record = stop::record(
            &mut self.rsp,
            &self.elfs,
            &bp.spec,
            bp.space.as_deref(),
            at,
            self.started.elapsed(),
        )
        .await?;
        self.breakpoints[index].count(hart);
        self.arm_dependents(index, held).await?;
        Ok(record)
    }

    /// Stops every hart (for a clean end of the session).
    pub async fn interrupt(&mut self) -> Result<()> {
        if self.rsp.is_running() {
            self.rsp
                .interrupt_and_wait()
                .await
                .context("interrupting the target")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::riscv::{Level, PrivilegeLevel};

    fn bp(hart: Option<u32>, max_hits: u32, once_per_hart: bool) -> ArmedBreakpoint {
        let spec = BreakpointSpec {
            at: "guest:kvminithart".into(),
            hart,
            privilege: None,
            dump: Vec::new(),
            max_hits,
            once_per_hart,
            watch: None,
            arm_after: None,
            arm_on: None,
            read_after_step: Vec::new(),
            hits_per_hart: 1,
            completed_write: None,
        };
        ArmedBreakpoint {
            inserted: true,
            ..ArmedBreakpoint::new(spec, None, 0x8020_05c0)
        }
    }

    fn count(b: &mut ArmedBreakpoint, hart: u32) -> bool {
        let vs = PrivilegeLevel {
            level: Level::Supervisor,
            virt: Some(true),
        };
        let counted = b.counts(hart, vs);
        if counted {
            b.count(hart);
        }
        counted
    }

    #[test]
    fn once_per_hart_is_done_when_every_hart_has_counted() {
        // Two harts: hart 0 passes twice before hart 1 arrives. The second
        // pass does not count and must not make it done, or hart 1 would run
        // past it unseen.
        let mut b = bp(None, 2, true);
        assert!(count(&mut b, 0));
        assert!(!count(&mut b, 0));
        assert!(!b.done(2));
        assert!(count(&mut b, 1));
        assert!(b.done(2));
    }

    #[test]
    fn a_hart_qualifier_needs_only_that_hart() {
        // max_hits defaults to smp (2) but only hart 1 can count, once.
        let mut b = bp(Some(1), 2, true);
        assert!(!count(&mut b, 0));
        assert!(!b.done(2));
        assert!(count(&mut b, 1));
        assert!(b.done(2), "no other hart can count: out it goes");
    }

    #[test]
    fn hits_per_hart_then_a_count_while_it_stays_in() {
        // Two per hart: hart 0's third and fourth stops are counted beyond
        // its quota, not recorded; a VS stop (the guest at the same
        // address) is neither. Out it goes once hart 1 has its two.
        let mut b = bp(None, u32::MAX, true);
        b.spec.hits_per_hart = 2;
        b.spec.privilege = Some(crate::scenario::PrivilegeFilter::HS);
        let hs = PrivilegeLevel {
            level: Level::Supervisor,
            virt: Some(false),
        };
        let vs = PrivilegeLevel {
            virt: Some(true),
            ..hs
        };
        let stop = |b: &mut ArmedBreakpoint, hart: u32, p: PrivilegeLevel| {
            let counted = b.counts(hart, p);
            if counted {
                b.count(hart);
            } else {
                b.pass(hart, p);
            }
            counted
        };
        assert!(stop(&mut b, 0, hs));
        assert!(stop(&mut b, 0, hs));
        assert!(!stop(&mut b, 0, hs));
        assert!(!stop(&mut b, 0, vs));
        assert!(!stop(&mut b, 0, hs));
        assert!(stop(&mut b, 1, hs));
        assert!(!b.done(2), "hart 1 has one of its two");
        assert!(stop(&mut b, 1, hs));
        assert!(b.done(2));
        assert_eq!(b.beyond_quota, BTreeMap::from([(0, 2)]));
        assert_eq!((b.hits, b.ignored), (4, 3));
    }

    #[test]
    fn without_once_per_hart_max_hits_decides() {
        let mut b = bp(None, 2, false);
        assert!(count(&mut b, 0));
        assert!(!b.done(2));
        assert!(count(&mut b, 0));
        assert!(b.done(2));
    }
}
