//! The hidden triggers the harness chooses for the scenario's breakpoints
//! ([`auto_arm`] from the milestone hints, [`call_graph`] from the machine
//! code), added to the session as breakpoints that the chosen ones wait for.

use std::collections::BTreeMap;
use std::ops::Range;

use anyhow::Result;

use super::{auto_arm, call_graph, ArmedBreakpoint, DebugSession};
use crate::qemu::page_samples::PAGE_SIZE;
use crate::rsp::ThreadId;
use crate::scenario::{BreakpointSpec, PrivilegeFilter, Scenario, WatchAccess, WatchSpec};

/// How far above a trigger's stack pointer the saved return address of the
/// call holding it is looked for: a boot's set-up frames are small.
const RETURN_SEARCH: usize = 512;

/// What the user can do when the harness finds no arming point.
const WHAT_TO_DO: &str = "if hot code shares its page, list the boot path in milestone_symbols \
     or give it an arm_after on a function the boot reaches after that code";

/// Where the harts that have not reached a call-graph trigger may wait
/// without passing the breakpoint: in its caller, before its last call site
/// (xv6's other harts spin in `main` until `started`).
#[derive(Debug, Clone)]
pub(super) struct WaitingRoom {
    /// The trigger's `at`.
    pub(super) trigger: String,
    pub(super) caller: Range<u64>,
    pub(super) last_site: u64,
}

/// A call-graph trigger below a call of the breakpoint's caller (xv6's
/// `mappages`, below `kvminit`): the breakpoint goes in when that call
/// returns, not at the trigger's stop. The rest of the call (all of xv6's
/// page-table pages zeroed by `memset` on the breakpoint's page) then runs
/// at full speed.
///
/// At the trigger's stop, the call's return address into the caller is
/// found in its frame, where every return path must read it back, and a
/// hidden read watchpoint there arms the breakpoint. A watchpoint slows no
/// code and its stop makes QEMU drop no translated code (a breakpoint or
/// step stop does: gdbstub's `tb_flush`). The breakpoint goes in at once,
/// as without it, when the address is not found (a frame larger than
/// [`RETURN_SEARCH`]) or another hart could reach the breakpoint meanwhile
/// (`DebugSession::others_wait`).
///
/// Inserted at a watchpoint stop, without QEMU flushing its translations,
/// the breakpoint still stops the first call: QEMU checks breakpoints
/// whenever it looks a block up, and only code that ran before is chained
/// past that look-up; the breakpoint's function has not run yet.
#[derive(Debug, Clone)]
pub(super) struct ReturnWatch {
    /// The trigger's `at`.
    pub(super) trigger: String,
    /// The call's name and its return address in the caller.
    pub(super) call: String,
    pub(super) returns_to: u64,
}

/// The address of the lowest 8-byte slot of `stack` (read from `sp` up)
/// that holds `value`: the nearest frame's.
fn slot_holding(stack: &[u8], sp: u64, value: u64) -> Option<u64> {
    stack
        .chunks_exact(8)
        .position(|w| <[u8; 8]>::try_from(w).ok().map(u64::from_le_bytes) == Some(value))
        .map(|i| sp + 8 * i as u64)
}

/// A hidden trigger the harness adds at `address` (see
/// [`ArmedBreakpoint::arming_point`]), not in the target yet.
fn hidden(spec: BreakpointSpec, address: u64) -> ArmedBreakpoint {
    ArmedBreakpoint {
        pending: false,
        arming_point: true,
        ..ArmedBreakpoint::new(spec, None, address)
    }
}

impl WaitingRoom {
    /// Whether a hart at `pc` is waiting there.
    pub(super) fn holds(&self, pc: u64) -> bool {
        self.caller.contains(&pc) && pc <= self.last_site
    }
}

impl DebugSession {
    /// For every code breakpoint that the scenario does not arm late itself,
    /// chooses a hidden trigger on another page that the boot reaches after
    /// the code sharing the breakpoint's page and before the breakpoint, and
    /// adds it; the breakpoint waits for it (`arm_after`).
    ///
    /// First the milestones (`milestone_symbols`, [`auto_arm::choose`]),
    /// unless the one chosen itself calls code on the breakpoint's page (its
    /// entry would come before that code: xv6's `kinit` frees RAM through
    /// `kfree` and `memset`); else the call graph ([`call_graph`]).
    ///
    /// The trigger is qualified as the breakpoint is (hart, privilege, else
    /// `milestone_privilege`) and counts once per hart. Harts reach it at
    /// different times: a hart's first stop there arms the breakpoint at
    /// once, unless another hart that has not stopped there yet is on its
    /// way to it: running code on the breakpoint's page or anywhere in the
    /// scenario's ELF files, and not waiting in the caller of a call-graph
    /// trigger's breakpoint (see [`WaitingRoom`]); then the hart is held
    /// there until no such hart is left (see [`super::hold`] and
    /// [`DebugSession::arm_dependents`]). Every hart whose boot path passes
    /// the trigger stops there before it can reach the breakpoint, and the
    /// breakpoint goes in while all harts are stopped: none of them gets
    /// past it unarmed.
    pub(super) fn choose_arming_points(&mut self, scenario: &Scenario) {
        let milestones: Vec<auto_arm::Milestone> = scenario
            .milestone_symbols
            .iter()
            .map(|m| {
                let (space, location) = scenario.split_space(m);
                auto_arm::Milestone {
                    name: m.clone(),
                    address: self
                        .elfs
                        .resolve_str(location, space)
                        .ok()
                        .map(|r| r.address),
                }
            })
            .collect();
        let occupied: Vec<u64> = self.breakpoints.iter().map(|b| b.address).collect();
        let mut maps: BTreeMap<String, call_graph::CodeMap> = BTreeMap::new();
        for i in 0..self.breakpoints.len() {
            let b = &self.breakpoints[i];
            // A trigger the scenario arms another breakpoint on was placed
            // by hand: it is not the harness's to move.
            let a_trigger = self
                .breakpoints
                .iter()
                .any(|d| d.spec.arm_after.as_deref() == Some(b.spec.at.as_str()));
            if b.pending || b.spec.watch.is_some() || a_trigger {
                continue;
            }
            let (at, address) = (b.spec.at.clone(), b.address);
            let (hart, privilege) = (
                b.spec.hart,
                b.spec.privilege.or(scenario.milestone_privilege),
            );
            let map = self.code_map(b.space.as_deref(), address, &mut maps);
            let hinted = auto_arm::choose(&at, address, &milestones, &occupied);
            let mut refused = None;
            if let Some(choice) = hinted {
                let entry = choice.after.as_ref().and_then(|after| {
                    milestones
                        .iter()
                        .find(|m| &m.name == after)
                        .and_then(|m| m.address)
                });
                let calls_onto_page = entry
                    .zip(map.as_ref())
                    .and_then(|(e, m)| m.callee_on_page(e, address & !(PAGE_SIZE - 1)));
                match (entry, calls_onto_page) {
                    (Some(e), None) => {
                        let after = choice.after.clone().unwrap_or_default();
                        self.wait_for_trigger(i, &after, e, hart, privilege);
                        self.auto_arming.push(choice);
                        continue;
                    }
                    (Some(_), Some(callee)) => {
                        refused = Some(format!(
                            "{} calls {callee} on its page",
                            choice.after.clone().unwrap_or_default()
                        ))
                    }
                    (None, _) => refused = Some(format!("milestones: {}", choice.why)),
                }
            }
            let found = match map.as_ref() {
                Some(m) => m.choose(address),
                None => Err("its ELF file is not known".to_string()),
            };
            let found = found.and_then(|t| match occupied.contains(&t.address) {
                true => Err(format!("a breakpoint of the scenario is on {}", t.name)),
                false => Ok(t),
            });
            let prefix = refused.map(|r| format!("{r}; ")).unwrap_or_default();
            let choice = match found {
                Ok(t) => {
                    let name = match &self.breakpoints[i].space {
                        Some(space) => format!("{space}:{}", t.name),
                        None => t.name.clone(),
                    };
                    self.wait_for_trigger(i, &name, t.address, hart, privilege);
                    self.waiting_rooms.push(WaitingRoom {
                        trigger: name.clone(),
                        caller: t.caller.clone(),
                        last_site: t.sites.iter().copied().max().unwrap_or_default(),
                    });
                    let mut why = format!("{prefix}{}", t.why);
                    if let Some((call, returns_to)) = t.returns_to.clone() {
                        why.push_str(&format!("; it goes in when {call} returns"));
                        self.return_watches.push(ReturnWatch {
                            trigger: name.clone(),
                            call,
                            returns_to,
                        });
                    }
                    auto_arm::AutoArm {
                        breakpoint: at,
                        after: Some(name),
                        why,
                    }
                }
                Err(why) => auto_arm::AutoArm {
                    breakpoint: at,
                    after: None,
                    why: format!("{prefix}{why}; {WHAT_TO_DO}"),
                },
            };
            self.auto_arming.push(choice);
        }
    }

    /// Arms the breakpoints waiting for hidden trigger `index`, at which
    /// `thread` has just stopped: when the trigger has a [`ReturnWatch`]
    /// and its return address is found, at that call's return (the
    /// breakpoints now wait for a hidden read watchpoint there); else now.
    pub(super) async fn arm_at_return(&mut self, index: usize, thread: ThreadId) -> Result<()> {
        let trigger = self.breakpoints[index].spec.at.clone();
        let watch = self
            .return_watches
            .iter()
            .find(|w| w.trigger == trigger)
            .cloned();
        let slot = match watch {
            Some(ref w) if self.others_wait(index, thread).await? => {
                self.saved_return(thread, w.returns_to).await
            }
            _ => None,
        };
        let (Some(w), Some(slot)) = (watch, slot) else {
            return self.arm_now(&trigger).await;
        };
        let name = format!("the return of {}", w.call);
        let hart = thread.hart_index().map(|h| h as u32);
        let privilege = self.breakpoints[index].spec.privilege;
        self.breakpoints.push(hidden(
            BreakpointSpec {
                at: name.clone(),
                hart,
                privilege,
                dump: Vec::new(),
                max_hits: 1,
                once_per_hart: false,
                arm_after: None,
                arm_on: None,
                watch: Some(WatchSpec {
                    access: WatchAccess::Read,
                    len: 8,
                }),
                read_after_step: Vec::new(),
                hits_per_hart: 1,
                completed_write: None,
            },
            slot,
        ));
        for b in self.breakpoints.iter_mut() {
            if b.pending && b.spec.arm_after.as_deref() == Some(trigger.as_str()) {
                b.spec.arm_after = Some(name.clone());
            }
        }
        self.insert(self.breakpoints.len() - 1).await
    }

    /// Whether every hart but `arrived` that can count at trigger `index`
    /// waits where it cannot reach the breakpoint before the boot hart
    /// lets it: in the trigger's [`WaitingRoom`] (xv6's harts spin in
    /// `main` until `started`, set after the boot hart's own call), or in
    /// code outside the scenario's ELF files (parked in the firmware, in
    /// SBI HSM's stopped state). Any other hart might get to the breakpoint
    /// while the call runs on: the breakpoint goes in at once for its sake.
    async fn others_wait(&mut self, index: usize, arrived: ThreadId) -> Result<bool> {
        let trigger = &self.breakpoints[index];
        let (at, only) = (trigger.spec.at.clone(), trigger.spec.hart);
        let Some(room) = self.waiting_rooms.iter().find(|w| w.trigger == at).cloned() else {
            return Ok(false);
        };
        for t in self.threads().await? {
            let hart = t.hart_index().unwrap_or(0) as u32;
            if t == arrived || only.is_some_and(|h| h != hart) {
                continue;
            }
            // Read when the stop was taken (the harts on breakpoints).
            let pc = self.rsp.read_thread_register(t, "pc").await?.as_u64();
            let waits =
                pc.is_some_and(|pc| room.holds(pc) || self.elfs.spaces_containing(pc).is_empty());
            if !waits {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Where `thread`'s stack holds `returns_to` (the lowest slot at most
    /// [`RETURN_SEARCH`] bytes above its stack pointer), if it does and can
    /// be read. The target is stopped.
    async fn saved_return(&mut self, thread: ThreadId, returns_to: u64) -> Option<u64> {
        let sp = self.rsp.read_thread_register(thread, "sp").await.ok()?;
        let sp = sp.as_u64()?;
        // `m` reads through the hart `Hg` selects (its address translation).
        self.rsp.select_register_thread(thread).await.ok()?;
        let stack = self.rsp.read_memory(sp, RETURN_SEARCH).await.ok()?;
        slot_holding(&stack, sp, returns_to)
    }

    /// The call graph of the ELF file holding the breakpoint (its space, else
    /// the one whose sections hold the address), decoded once per file.
    fn code_map(
        &self,
        space: Option<&str>,
        address: u64,
        maps: &mut BTreeMap<String, call_graph::CodeMap>,
    ) -> Option<call_graph::CodeMap> {
        let image = match space {
            Some(s) => self.elfs.space(s).ok()?,
            None => *self.elfs.spaces_containing(address).first()?,
        };
        let name = image.name().to_string();
        Some(
            maps.entry(name)
                .or_insert_with(|| call_graph::CodeMap::of(image))
                .clone(),
        )
    }

    /// Breakpoint `index` goes in only once the hidden trigger `after` (at
    /// `address`) has counted a stop.
    fn wait_for_trigger(
        &mut self,
        index: usize,
        after: &str,
        address: u64,
        hart: Option<u32>,
        privilege: Option<PrivilegeFilter>,
    ) {
        self.add_arming_point(after, address, hart, privilege);
        let b = &mut self.breakpoints[index];
        b.spec.arm_after = Some(after.to_string());
        b.pending = true;
    }

    /// Adds the hidden trigger at `after` (one per place: breakpoints
    /// sharing it widen its qualifiers to what any of them counts).
    fn add_arming_point(
        &mut self,
        after: &str,
        address: u64,
        hart: Option<u32>,
        privilege: Option<PrivilegeFilter>,
    ) {
        if let Some(p) = self
            .breakpoints
            .iter_mut()
            .find(|b| b.arming_point && b.spec.at == after)
        {
            if p.spec.hart != hart {
                p.spec.hart = None;
            }
            if p.spec.privilege != privilege {
                p.spec.privilege = None;
            }
            return;
        }
        self.breakpoints.push(hidden(
            BreakpointSpec {
                at: after.to_string(),
                hart,
                privilege,
                dump: Vec::new(),
                max_hits: self.harts,
                once_per_hart: true,
                arm_after: None,
                arm_on: None,
                watch: None,
                read_after_step: Vec::new(),
                hits_per_hart: 1,
                completed_write: None,
            },
            address,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_saved_return_address() {
        // kvminit's frame above mappages' entry: s0, then ra (main's return
        // address); further up main's own frame, which holds the same
        // value once more only by chance.
        let ret = 0x8020_0240u64;
        let words = [0x8020_1000u64, 0x8770_0000, ret, 0, ret];
        let stack: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        assert_eq!(slot_holding(&stack, 0x8021_1f00, ret), Some(0x8021_1f10));
        assert_eq!(slot_holding(&stack, 0x8021_1f00, 0x8020_0244), None);
        // A value split across two slots is no slot.
        assert_eq!(slot_holding(&stack[4..], 0x8021_1f04, 0x8770_0000), None);
    }
}
