//! A debugging session on a running QEMU: breakpoints on named locations,
//! and at every stop the hart, its privilege level and V, the place in the
//! right ELF file, and the scenario's registers decoded into named fields.
//!
//! QEMU's breakpoints match the pc alone, whatever the privilege or V, and a
//! guest and a hypervisor linked at the same addresses both hit them; so each
//! stop is qualified (hart, privilege, V) before it counts.

mod privilege;
mod stop;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::elf::ElfSet;
use crate::qemu::QemuVersion;
use crate::rsp::{RspClient, RspConfig, RspError, StopReply, ThreadId};
use crate::scenario::{BreakpointSpec, Scenario};

pub use privilege::{privilege_of, privilege_with_source, VirtSource};
pub use stop::{CsrReading, StopRecord};

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
    /// The harts whose stops counted, for `once_per_hart`.
    pub counted_harts: Vec<u32>,
    /// Still in the target.
    pub inserted: bool,
}

impl ArmedBreakpoint {
    /// Whether a stop of `hart` at `privilege` here counts: the qualifiers
    /// match and the hits are not used up.
    fn counts(&self, hart: u32, privilege: crate::riscv::PrivilegeLevel) -> bool {
        self.spec.hart.is_none_or(|h| h == hart)
            && self.spec.privilege.is_none_or(|p| p.matches(privilege))
            && self.hits < self.spec.max_hits
            && !(self.spec.once_per_hart && self.counted_harts.contains(&hart))
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
    elfs: ElfSet,
    version: QemuVersion,
    breakpoints: Vec<ArmedBreakpoint>,
    /// The harts (QEMU threads), listed at the first stop.
    threads: Vec<ThreadId>,
    started: std::time::Instant,
}

impl DebugSession {
    /// Connects to QEMU's gdbstub (QEMU started paused) and inserts the
    /// scenario's breakpoints. The target stays stopped.
    pub async fn attach(addr: SocketAddr, scenario: &Scenario, version: QemuVersion) -> Result<DebugSession> {
        let rsp = RspClient::connect(addr, RspConfig::default()).await?;
        let elfs = scenario.load_elfs()?;
        let mut session = DebugSession {
            rsp,
            elfs,
            version,
            breakpoints: Vec::new(),
            threads: Vec::new(),
            started: std::time::Instant::now(),
        };
        for spec in &scenario.breakpoints {
            let (space, location) = scenario.split_space(&spec.at);
            let resolved = session
                .elfs
                .resolve_str(location, space)
                .with_context(|| format!("{}: breakpoint {:?}", scenario.path.display(), spec.at))?;
            match &spec.watch {
                Some(w) => session
                    .rsp
                    .set_watchpoint(w.breakpoint_type(), resolved.address, w.len)
                    .await
                    .with_context(|| format!("inserting a watchpoint at {} ({:#x})", spec.at, resolved.address))?,
                None => session
                    .rsp
                    .set_breakpoint(resolved.address)
                    .await
                    .with_context(|| format!("inserting a breakpoint at {} ({:#x})", spec.at, resolved.address))?,
            }
            session.breakpoints.push(ArmedBreakpoint {
                spec: spec.clone(),
                space: space.map(str::to_string),
                address: resolved.address,
                hits: 0,
                ignored: 0,
                counted_harts: Vec::new(),
                inserted: true,
            });
        }
        Ok(session)
    }

    /// The breakpoints and their hit counts.
    pub fn breakpoints(&self) -> &[ArmedBreakpoint] {
        &self.breakpoints
    }

    /// The RSP client, for requests while the target is stopped.
    pub fn rsp(&mut self) -> &mut RspClient {
        &mut self.rsp
    }

    /// The ELF files.
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
        let reply = match self.rsp.wait_for_stop(limit).await {
            Ok(r) => r,
            Err(RspError::Timeout { .. }) => return Ok(Event::Running),
            // QEMU < 9 closes the gdbstub without a `W` packet when the guest powers off.
            Err(RspError::ConnectionClosed { .. }) => return Ok(Event::Exited),
            Err(e) => return Err(e).context("waiting for the target to stop"),
        };
        let Some(records) = self.take_stop(reply).await? else { return Ok(Event::Exited) };
        // The client steps a hart past a watched access or a breakpoint before it resumes.
        self.rsp.resume().await.context("resuming after a stop")?;
        Ok(Event::Stopped(records))
    }

    /// Stops every hart for a look (the harness's own, not a scenario's):
    /// a breakpoint stop that comes instead of the interrupt's is handled as
    /// [`DebugSession::poll`] would. `None` when QEMU exited.
    pub async fn pause(&mut self) -> Result<Option<Vec<StopRecord>>> {
        if !self.rsp.is_running() {
            return Ok(Some(Vec::new()));
        }
        let reply = match self.rsp.interrupt_and_wait().await {
            Ok(r) => r,
            Err(RspError::ConnectionClosed { .. }) => return Ok(None),
            Err(e) => return Err(e).context("stopping the target for a look"),
        };
        self.take_stop(reply).await
    }

    /// Lets every hart run again after [`DebugSession::pause`].
    pub async fn cont(&mut self) -> Result<()> {
        self.rsp.resume().await.context("resuming the target")
    }

    /// Handles a stop reply without resuming: the stops that counted, or
    /// `None` when QEMU exited.
    pub(crate) async fn take_stop(&mut self, reply: StopReply) -> Result<Option<Vec<StopRecord>>> {
        let signal = match reply {
            StopReply::Signal(s) => s,
            _ => return Ok(None),
        };
        if let (Some(hit), Some(thread)) = (signal.watch, signal.thread) {
            let record = self.handle_watch(hit.addr, thread).await?;
            return Ok(Some(record.into_iter().collect()));
        }
        // Every hart, not just the one the stop reply names: when two harts
        // reach breakpoints together QEMU reports one of them, and the other
        // is left sitting on its breakpoint.
        let mut records = Vec::new();
        for thread in self.threads().await? {
            if let Some(r) = self.handle_stop(thread).await? {
                records.push(r);
            }
        }
        Ok(Some(records))
    }

    /// The harts (QEMU threads), listed once.
    pub async fn threads(&mut self) -> Result<Vec<ThreadId>> {
        if self.threads.is_empty() {
            self.threads = self.rsp.threads().await.context("listing harts")?;
        }
        Ok(self.threads.clone())
    }

    /// The QEMU version on the other end.
    pub fn version(&self) -> QemuVersion {
        self.version
    }

    /// Handles a hart that sits on one of our breakpoints; other harts are left alone.
    async fn handle_stop(&mut self, thread: ThreadId) -> Result<Option<StopRecord>> {
        self.rsp.select_register_thread(thread).await.context("selecting a hart")?;
        let pc = self.rsp.read_register_u64("pc").await?.context("pc is unavailable")?;
        let Some(index) = self.breakpoints.iter().position(|b| b.address == pc && b.inserted && b.spec.watch.is_none())
        else {
            return Ok(None);
        };
        let hart = thread.hart_index().unwrap_or(0) as u32;
        let (privilege, source) = privilege_with_source(&mut self.rsp, thread, self.version).await?;
        let bp = &self.breakpoints[index];
        let record = if bp.counts(hart, privilege) {
            let spec = bp.spec.clone();
            let space = bp.space.clone();
            let at = stop::Place { hart, privilege, source, pc };
            let record = stop::record(&mut self.rsp, &self.elfs, &spec, space.as_deref(), at, self.started.elapsed()).await?;
            self.breakpoints[index].hits += 1;
            self.breakpoints[index].counted_harts.push(hart);
            Some(record)
        } else {
            self.breakpoints[index].ignored += 1;
            None
        };
        self.step_over(index, thread).await?;
        Ok(record)
    }

    /// Records a watchpoint stop when it counts; a watchpoint that has
    /// counted its hits is removed.
    async fn handle_watch(&mut self, addr: u64, thread: ThreadId) -> Result<Option<StopRecord>> {
        let Some(index) = self.breakpoints.iter().position(|b| b.inserted && b.spec.watch.is_some() && b.address == addr)
        else {
            return Ok(None);
        };
        self.rsp.select_register_thread(thread).await.context("selecting a hart")?;
        let pc = self.rsp.read_register_u64("pc").await?.context("pc is unavailable")?;
        let hart = thread.hart_index().unwrap_or(0) as u32;
        let (privilege, source) = privilege_with_source(&mut self.rsp, thread, self.version).await?;
        let bp = &self.breakpoints[index];
        if !bp.counts(hart, privilege) {
            self.breakpoints[index].ignored += 1;
            return Ok(None);
        }
        let (spec, space) = (bp.spec.clone(), bp.space.clone());
        let at = stop::Place { hart, privilege, source, pc };
        let record = stop::record(&mut self.rsp, &self.elfs, &spec, space.as_deref(), at, self.started.elapsed()).await?;
        self.breakpoints[index].hits += 1;
        if self.breakpoints[index].hits >= spec.max_hits {
            if let Some(w) = &spec.watch {
                self.rsp.remove_breakpoint(w.breakpoint_type(), addr, w.len).await.context("removing a watchpoint")?;
            }
            self.breakpoints[index].inserted = false;
        }
        Ok(Some(record))
    }

    /// Steps the hart past the breakpoint at its pc; the breakpoint goes back
    /// in unless it has been hit as often as it may be.
    async fn step_over(&mut self, index: usize, thread: ThreadId) -> Result<()> {
        let address = self.breakpoints[index].address;
        self.rsp.clear_breakpoint(address).await.context("removing a breakpoint to step over it")?;
        self.breakpoints[index].inserted = false;
        let reply = self.rsp.step(thread).await.context("stepping over a breakpoint")?;
        if !matches!(reply, StopReply::Signal(_)) {
            return Ok(());
        }
        let bp = &self.breakpoints[index];
        if bp.hits < bp.spec.max_hits {
            self.rsp.set_breakpoint(address).await.context("reinserting a breakpoint")?;
            self.breakpoints[index].inserted = true;
        }
        Ok(())
    }

    /// Stops every hart (for a clean end of the session).
    pub async fn interrupt(&mut self) -> Result<()> {
        if self.rsp.is_running() {
            self.rsp.interrupt_and_wait().await.context("interrupting the target")?;
        }
        Ok(())
    }
}
