//! The hidden triggers the harness chooses for the scenario's breakpoints
//! ([`auto_arm`] from the milestone hints, [`call_graph`] from the machine
//! code), added to the session as breakpoints that the chosen ones wait for.

use std::collections::BTreeMap;
use std::ops::Range;

use super::{auto_arm, call_graph, ArmedBreakpoint, DebugSession};
use crate::qemu::page_samples::PAGE_SIZE;
use crate::scenario::{BreakpointSpec, PrivilegeFilter, Scenario};

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
    /// once, unless another hart that has not stopped there yet is running
    /// code on the breakpoint's page (and is not waiting in the caller of a
    /// call-graph trigger's breakpoint, see [`WaitingRoom`]); then the hart
    /// is held there, as at an `arm_after` trigger (see
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
                    auto_arm::AutoArm {
                        breakpoint: at,
                        after: Some(name),
                        why: format!("{prefix}{}", t.why),
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
        self.breakpoints.push(ArmedBreakpoint {
            spec: BreakpointSpec {
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
            space: None,
            address,
            hits: 0,
            ignored: 0,
            counted_harts: Vec::new(),
            beyond_quota: Default::default(),
            inserted: false,
            pending: false,
            armed_at_secs: None,
            arming_point: true,
        });
    }
}
