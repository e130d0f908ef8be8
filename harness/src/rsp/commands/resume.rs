//! Running the target: `vCont`, `c`, `s`, the interrupt byte, and `?`.
//!
//! GDB manual, "Packets": `vCont?` lists the supported actions (QEMU:
//! `vCont;c;C;s;S`); `vCont;c` continues every thread; `vCont;s:TID` steps one
//! thread and leaves the others stopped. The stop reply ("Stop Reply Packets",
//! [`super::stop`]) arrives when the target halts, which may be never: every
//! wait here has a timeout, and a timeout leaves the target running.
//!
//! "Interrupts": while the target runs, the client sends the single raw byte
//! 0x03 to stop it; the stub answers with a stop reply (QEMU: `T02`). QEMU
//! pauses the VM *without* a stop reply on any other byte, so the client sends
//! nothing else until the stop reply came (requests fail with
//! [`RspError::TargetRunning`]). A 0x03 sent to a halted QEMU is ignored.
//!
//! Seen on QEMU 7.2.22 and 10.0.2 (and what the client does about it):
//! - A hart resumed while its pc sits on a breakpoint reports that breakpoint
//!   again at once, without executing anything; when two harts sit on it, the
//!   stops alternate between them forever. A debugger has to step over it:
//!   [`RspClient::resume`] removes the breakpoints at such a hart's pc, steps
//!   it, and puts them back before continuing (as gdb does). Which harts sit
//!   where is [`super::at_points`]'s to know.
//! - A stop halts every hart; `vCont;s:TID` moves only that hart (the others
//!   stay where they are); stepping from a breakpoint address works.
//! - Watchpoints stop *before* the access: pc is the load or store, memory
//!   is unchanged, and resuming with the watchpoint still inserted hits it
//!   again. `watch:` carries the watchpoint's start address (not the accessed
//!   one); 7.2 prints it with 16 digits. [`RspClient::resume`] steps the hart
//!   of the last watchpoint stop with the watchpoints removed first.
//! - `?` deletes the breakpoints and watchpoints of the *current* hart only
//!   (other harts keep theirs, and a later `z` then answers `E22`).
//!   [`RspClient::halt_reason`] therefore removes everything it inserted
//!   before sending `?` and inserts it again afterwards.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::rsp::client::{RspClient, RunState};
use crate::rsp::commands::breakpoints::command as breakpoint_command;
use crate::rsp::commands::stop::{parse_console_output, StopReply};
use crate::rsp::commands::threads::ThreadId;
use crate::rsp::costs::kind_of;
use crate::rsp::error::{Result, RspError};

/// Parses a `vCont?` reply into its actions (`["c", "C", "s", "S"]`).
pub(crate) fn parse_vcont_actions(reply: &[u8]) -> Option<Vec<String>> {
    let text = std::str::from_utf8(reply).ok()?;
    let rest = text.strip_prefix("vCont")?;
    Some(
        rest.split(';')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

impl<S: AsyncRead + AsyncWrite + Unpin> RspClient<S> {
    /// The actions of `vCont?` (cached; empty when the stub has no vCont).
    pub async fn vcont_actions(&mut self) -> Result<Vec<String>> {
        if let Some(a) = &self.vcont {
            return Ok(a.clone());
        }
        let reply = self.request("vCont?").await?;
        let actions = parse_vcont_actions(&reply).unwrap_or_default();
        self.vcont = Some(actions.clone());
        Ok(actions)
    }

    async fn resume_with(&mut self, command: &str) -> Result<()> {
        self.send_command(command).await?;
        if kind_of(command) == "continue" {
            self.costs.resumed();
        }
        self.state = RunState::Running(command.to_string());
        // QEMU points Hg at the hart that stops: forget our choice.
        self.register_thread = None;
        Ok(())
    }

    /// Resumes every hart (`vCont;c`, or `c` without vCont) and returns at once.
    /// Then wait with [`RspClient::wait_for_stop`], or stop it with
    /// [`RspClient::interrupt`].
    ///
    /// Harts whose pc sits on a breakpoint inserted by this client are first
    /// stepped over it (see the module docs). If such a step stops for
    /// another reason (a watchpoint, an exit), the target is not resumed and
    /// [`RspClient::wait_for_stop`] returns that stop.
    pub async fn resume(&mut self) -> Result<()> {
        self.check_can_send("vCont;c")?;
        if self.step_off_or_hold().await? {
            return Ok(());
        }
        self.resume_raw().await
    }

    /// Steps every hart off the point it sits on
    /// ([`RspClient::harts_at_points`]); true when a step stopped for
    /// another reason, which [`RspClient::wait_for_stop`] then returns.
    async fn step_off_or_hold(&mut self) -> Result<bool> {
        match self.step_off_points().await? {
            Some(stop) => {
                self.state = RunState::Running("a step over a breakpoint".into());
                self.pending_stop = Some(stop);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Resumes every hart like [`RspClient::resume`], but without stepping
    /// over breakpoints first: a hart on a breakpoint stops again at once.
    pub async fn resume_raw(&mut self) -> Result<()> {
        self.check_can_send("vCont;c")?;
        let command = if self.vcont_actions().await?.iter().any(|a| a == "c") {
            "vCont;c"
        } else {
            "c"
        };
        self.resume_with(command).await?;
        self.forget_at_points();
        Ok(())
    }

    /// Resumes every hart and waits up to `timeout` for the stop reply.
    pub async fn continue_until_stop(&mut self, timeout: Duration) -> Result<StopReply> {
        self.resume().await?;
        self.wait_for_stop(timeout).await
    }

    /// Continues only `threads` (`vCont;c:TID;...`) and returns at once; the
    /// other harts stay stopped (QEMU leaves a thread without an action
    /// where it is). First, like [`RspClient::resume`], every hart on a
    /// point is stepped off it, the ones left stopped too (they stay just
    /// past it). Needs vCont's `c`.
    pub async fn resume_only(&mut self, threads: &[ThreadId]) -> Result<()> {
        let multiprocess = self.multiprocess();
        let mut command = String::from("vCont");
        for t in threads {
            command.push_str(&format!(";c:{}", t.to_wire(multiprocess)));
        }
        self.check_can_send(&command)?;
        if !self.vcont_actions().await?.iter().any(|a| a == "c") {
            return Err(RspError::Unsupported { command });
        }
        if self.step_off_or_hold().await? {
            return Ok(());
        }
        self.resume_with(&command).await?;
        self.forget_at_points();
        Ok(())
    }

    /// Single-steps one hart (`vCont;s:TID`; the others stay stopped) and
    /// waits for the stop reply, bounded by the reply timeout. QEMU masks
    /// interrupts and timers while stepping by default (`qqemu.sstep=0x7`).
    pub async fn step(&mut self, thread: ThreadId) -> Result<StopReply> {
        self.step_reading(thread, &[]).await
    }

    /// [`RspClient::step`], then reads `names` of `thread` there with its
    /// pc, in one exchange, into the stop's cache (when the step ended in
    /// a stop).
    pub(crate) async fn step_reading(
        &mut self,
        thread: ThreadId,
        names: &[&str],
    ) -> Result<StopReply> {
        self.check_can_send("vCont;s")?;
        let command = if self.vcont_actions().await?.iter().any(|a| a == "s") {
            format!("vCont;s:{}", thread.to_wire(self.multiprocess()))
        } else {
            self.request_ok(&format!("Hc{}", thread.to_wire(self.multiprocess())))
                .await?;
            "s".to_string()
        };
        let listed = self.at_points_listed;
        let was_at = self
            .at_points
            .iter()
            .find(|e| e.thread == thread)
            .map(|e| e.pc);
        self.resume_with(&command).await?;
        let timeout = self.config.reply_timeout;
        let stop = self.wait_for_stop(timeout).await;
        if let Ok(StopReply::Signal(_)) = &stop {
            if was_at.is_some() || !names.is_empty() {
                let wanted: Vec<&str> =
                    std::iter::once("pc").chain(names.iter().copied()).collect();
                self.prefetch_registers(thread, &wanted).await?;
            }
        }
        // A listed hart whose pc did not change did not run its instruction
        // (the stop was another hart's, taken first): it stays listed, as
        // reported, so that the same hit is not counted twice when it comes.
        let stayed = match (was_at, &stop) {
            (Some(pc), Ok(StopReply::Signal(_))) => {
                self.read_thread_register(thread, "pc").await?.as_u64() == Some(pc)
            }
            _ => false,
        };
        if !stayed {
            self.moved(thread);
        }
        // A plain step moved that hart alone: the list of the others
        // stands (one that lands on a breakpoint reports it at the resume).
        if let Ok(s) = &stop {
            if s.is_trap() && s.signal().is_some_and(|s| s.watch.is_none()) {
                self.at_points_listed = listed;
            }
        }
        stop
    }

    /// Waits up to `timeout` for the stop reply of a running target. `O`
    /// console packets on the way are collected (see
    /// [`RspClient::take_console_output`]). A timeout is
    /// [`RspError::Timeout`] and leaves the target running: wait again, or
    /// interrupt.
    pub async fn wait_for_stop(&mut self, timeout: Duration) -> Result<StopReply> {
        if let Some(reason) = &self.broken {
            return Err(RspError::Broken(reason.clone()));
        }
        let resumed_by = match &self.state {
            RunState::Running(c) => c.clone(),
            _ => return Err(RspError::NotRunning),
        };
        if let Some(stop) = self.pending_stop.take() {
            self.state = stop_state(&stop);
            self.last_stop = Some(stop.clone());
            self.at_points_stale();
            return Ok(stop);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let what = format!("a stop reply after {resumed_by:?}");
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let packet = match self.conn.recv_packet(&what, left).await {
                Ok(p) => p,
                // Still running: nothing is pending in the stream.
                Err(RspError::Timeout { waiting_for, .. }) => {
                    return Err(RspError::Timeout {
                        waiting_for,
                        timeout,
                    })
                }
                Err(e) => return Err(self.poison_on(e)),
            };
            self.note("<", &packet);
            if let Some(text) = parse_console_output(&packet) {
                let room = self
                    .config
                    .max_monitor_output
                    .saturating_sub(self.console.len());
                self.console
                    .push_str(&String::from_utf8_lossy(&text[..text.len().min(room)]));
                continue;
            }
            let stop = StopReply::parse(&packet).ok_or_else(|| {
                self.poison_on(RspError::bad_reply(
                    &resumed_by,
                    "expected a stop reply",
                    &packet,
                ))
            })?;
            if kind_of(&resumed_by) == "continue" {
                self.costs.stopped(stop.is_interrupt());
            } else {
                self.costs.replied();
            }
            // QEMU points Hg at the hart a stop reply names (it makes that
            // hart the stop CPU): `p` reads it without another `Hg`.
            if let Some(t) = stop.thread() {
                self.register_thread = Some(t);
            }
            self.state = stop_state(&stop);
            self.last_stop = Some(stop.clone());
            self.at_points_stale();
            return Ok(stop);
        }
    }

    /// Sends the interrupt byte 0x03 to a running target. The stop reply
    /// (QEMU: `T02`) still has to be collected with [`RspClient::wait_for_stop`].
    pub async fn interrupt(&mut self) -> Result<()> {
        if let Some(reason) = &self.broken {
            return Err(RspError::Broken(reason.clone()));
        }
        if !self.is_running() {
            return Err(RspError::NotRunning);
        }
        if self.pending_stop.is_some() {
            // Already halted: the stop is waiting for wait_for_stop.
            return Ok(());
        }
        let timeout = self.config.reply_timeout;
        let r = self.conn.send_interrupt(timeout).await;
        r.map_err(|e| self.poison_on(e))
    }

    /// Interrupts a running target and waits (reply timeout) for its stop reply.
    pub async fn interrupt_and_wait(&mut self) -> Result<StopReply> {
        self.interrupt().await?;
        let timeout = self.config.reply_timeout;
        self.wait_for_stop(timeout).await
    }

    /// `?`: why is the target halted.
    ///
    /// QEMU deletes breakpoints and watchpoints when it gets `?` (those of
    /// the current hart only), so this removes everything the client inserted
    /// first and inserts it again afterwards.
    pub async fn halt_reason(&mut self) -> Result<StopReply> {
        self.check_can_send("?")?;
        let inserted = self.breakpoints.clone();
        for &(ty, addr, kind) in &inserted {
            self.request_ok(&breakpoint_command(false, ty, addr, kind))
                .await?;
        }
        let reply = self.request_checked("?").await;
        for &(ty, addr, kind) in &inserted {
            self.request_ok(&breakpoint_command(true, ty, addr, kind))
                .await?;
        }
        let reply = reply?;
        let stop = StopReply::parse(&reply)
            .ok_or_else(|| RspError::bad_reply("?", "expected a stop reply", &reply))?;
        self.register_thread = None;
        Ok(stop)
    }
}

/// The run state after a stop reply.
fn stop_state(stop: &StopReply) -> RunState {
    match stop {
        StopReply::Exited { status, .. } => RunState::Exited(format!("W{status:02x}")),
        StopReply::Terminated { signal, .. } => RunState::Exited(format!("X{signal:02x}")),
        _ => RunState::Stopped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcont_actions() {
        assert_eq!(
            parse_vcont_actions(b"vCont;c;C;s;S").unwrap(),
            vec!["c", "C", "s", "S"]
        );
        assert_eq!(parse_vcont_actions(b"vCont").unwrap(), Vec::<String>::new());
        assert_eq!(parse_vcont_actions(b""), None);
        assert_eq!(parse_vcont_actions(b"OK"), None);
    }
}
