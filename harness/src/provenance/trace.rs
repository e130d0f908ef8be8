//! CSR writes recorded at run time: a breakpoint on each writer (the CSR
//! and the source register read there) and one on the instruction after it
//! (the CSR again), both counted once per hart and then removed, so the
//! code around them runs at full speed for the rest of the boot. A value
//! that changes between two recorded writes on a hart, without a writer of
//! ours in between, was written outside the images we know (M-mode
//! firmware such as OpenSBI, on the hypervisor's behalf).

use std::collections::BTreeMap;

use serde::Serialize;

use super::writers::{CsrWriter, Operand};
use crate::debug::StopRecord;
use crate::scenario::{BreakpointSpec, PrivilegeFilter, Scenario};

/// One write, as it happened on a hart.
#[derive(Debug, Clone, Serialize)]
pub struct TracedWrite {
    pub csr: String,
    pub hart: u32,
    /// `HS`, `VS`, ...
    pub privilege: String,
    /// The writer's `file:line` (or symbol).
    pub place: String,
    /// `csrs henvcfg, a5`.
    pub instruction: String,
    /// `a5` or the immediate.
    pub operand: String,
    /// The register's value at the write (the immediate for the `i` forms).
    pub value: Option<u64>,
    /// The CSR just before, and just after the write.
    pub before: Option<u64>,
    pub after: Option<u64>,
    /// Seconds since the target was resumed.
    pub at_secs: f64,
}

/// A value that changed between two stops on a hart with no writer of
/// ours in between.
#[derive(Debug, Clone, Serialize)]
pub struct OutsideChange {
    pub csr: String,
    pub hart: u32,
    /// The value after the last recorded write (or at the earlier stop).
    pub was: u64,
    /// The value at the next stop.
    pub became: u64,
    /// The writer whose stop saw the new value.
    pub seen_at: String,
}

/// The breakpoints that record `writers` in `scenario`'s run: one per
/// address (a writer's, or the instruction after one), counted once per
/// hart at the level its ELF file runs at.
fn trace_breakpoints(scenario: &Scenario, writers: &[CsrWriter]) -> Vec<BreakpointSpec> {
    let any_guest = scenario.elfs.iter().any(|e| e.virt == Some(true));
    let privilege_of = |space: &str| {
        let virt = scenario
            .elfs
            .iter()
            .find(|e| e.name == space)
            .and_then(|e| e.virt);
        match virt {
            Some(true) => Some(PrivilegeFilter::VS),
            _ if any_guest => Some(PrivilegeFilter::HS),
            _ => None,
        }
    };
    let mut dumps: BTreeMap<u64, (String, Vec<String>)> = BTreeMap::new();
    for w in writers {
        let mut add = |address: u64, names: Vec<String>| {
            let entry = dumps
                .entry(address)
                .or_insert_with(|| (w.space.clone(), Vec::new()));
            for n in names {
                if !entry.1.contains(&n) {
                    entry.1.push(n);
                }
            }
        };
        let mut before = vec![w.csr.clone()];
        if let Operand::Register(_) = w.operand {
            before.push(w.operand.name());
        }
        add(w.address, before);
        add(w.address + w.length as u64, vec![w.csr.clone()]);
    }
    dumps
        .into_iter()
        .map(|(address, (space, dump))| BreakpointSpec {
            at: format!("{space}:{address:#x}"),
            hart: None,
            privilege: privilege_of(&space),
            dump,
            max_hits: u32::MAX,
            once_per_hart: true,
            arm_after: None,
            arm_on: None,
            watch: None,
        })
        .collect()
}

/// The writes `stops` recorded, in time order, and the changes nothing of
/// ours made.
/// `trace` is what [`trace_breakpoints`] gave: only their stops count.
fn collect(
    writers: &[CsrWriter],
    trace: &[BreakpointSpec],
    stops: &[StopRecord],
) -> (Vec<TracedWrite>, Vec<OutsideChange>) {
    let mut ordered: Vec<&StopRecord> = stops
        .iter()
        .filter(|s| trace.iter().any(|t| t.at == s.breakpoint))
        .collect();
    ordered.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
    let raw = |s: &StopRecord, name: &str| s.csr(name).and_then(|c| c.raw);
    let mut writes = Vec::new();
    let mut outside = Vec::new();
    // Per hart and CSR: the last value seen (after a write, or at a stop).
    let mut last: BTreeMap<(u32, String), u64> = BTreeMap::new();
    for (i, stop) in ordered.iter().enumerate() {
        for w in writers.iter().filter(|w| w.address == stop.pc) {
            let before = raw(stop, &w.csr);
            if let (Some(b), Some(was)) = (before, last.get(&(stop.hart, w.csr.clone()))) {
                if b != *was {
                    outside.push(OutsideChange {
                        csr: w.csr.clone(),
                        hart: stop.hart,
                        was: *was,
                        became: b,
                        seen_at: w.place(),
                    });
                }
            }
            let value = match w.operand {
                Operand::Immediate(i) => Some(u64::from(i)),
                Operand::Register(_) => raw(stop, &w.operand.name()),
            };
            // The next stop of this hart, if it is the instruction after.
            let after = ordered[i + 1..]
                .iter()
                .find(|s| s.hart == stop.hart)
                .filter(|s| s.pc == w.address + w.length as u64)
                .and_then(|s| raw(s, &w.csr));
            if let Some(a) = after.or(before) {
                last.insert((stop.hart, w.csr.clone()), a);
            }
            writes.push(TracedWrite {
                csr: w.csr.clone(),
                hart: stop.hart,
                privilege: stop.privilege_name.clone(),
                place: w.place(),
                instruction: w.instruction.clone(),
                operand: w.operand.name(),
                value,
                before,
                after,
                at_secs: stop.at_secs,
            });
        }
    }
    (writes, outside)
}

/// The writes of one run and the changes nothing of ours made.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CsrWrites {
    /// The CSRs traced.
    pub csrs: Vec<String>,
    /// Every instruction in the images that can write them.
    pub writers: Vec<CsrWriter>,
    /// The writes that ran, in time order (per writer, the first on each hart).
    pub writes: Vec<TracedWrite>,
    /// Values that changed between recorded writes with no writer of ours
    /// in between: written outside the images we know.
    pub outside: Vec<OutsideChange>,
}

/// The trace of one run: the writers, and the breakpoints that record them.
#[derive(Debug, Clone)]
pub(crate) struct TracePlan {
    csrs: Vec<String>,
    writers: Vec<CsrWriter>,
    specs: Vec<BreakpointSpec>,
}

impl TracePlan {
    /// The plan for tracing `csrs` (names or numbers) in `scenario`'s run;
    /// `None` when there is nothing to trace.
    pub(crate) fn new(
        scenario: &Scenario,
        elfs: &crate::elf::ElfSet,
        csrs: &[String],
    ) -> anyhow::Result<Option<TracePlan>> {
        if csrs.is_empty() {
            return Ok(None);
        }
        let mut names = Vec::new();
        let mut writers = Vec::new();
        for csr in csrs {
            let (name, found) = super::writers_of(elfs, csr)?;
            if !names.contains(&name) {
                names.push(name);
                writers.extend(found);
            }
        }
        let specs = trace_breakpoints(scenario, &writers);
        Ok(Some(TracePlan {
            csrs: names,
            writers,
            specs,
        }))
    }

    /// `scenario` with the trace's breakpoints added.
    pub(crate) fn scenario(&self, scenario: &Scenario) -> Scenario {
        let mut traced = scenario.clone();
        traced.breakpoints.extend(self.specs.iter().cloned());
        traced
    }

    /// Takes the trace's stops out of `stops` (the scenario's own stay, so
    /// snapshots and checks see what they saw without the trace) and
    /// turns them into writes.
    pub(crate) fn finish(self, stops: &mut Vec<StopRecord>) -> CsrWrites {
        let (ours, theirs): (Vec<StopRecord>, Vec<StopRecord>) = std::mem::take(stops)
            .into_iter()
            .partition(|s| self.specs.iter().any(|t| t.at == s.breakpoint));
        *stops = theirs;
        let (writes, outside) = collect(&self.writers, &self.specs, &ours);
        CsrWrites {
            csrs: self.csrs,
            writers: self.writers,
            writes,
            outside,
        }
    }
}
