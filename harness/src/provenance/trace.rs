//! CSR writes recorded at run time: a breakpoint on each writer, counted
//! once per hart and then removed, so the code around it runs at full speed
//! for the rest of the boot. At its stop the CSR and the source register are
//! read, the hart is stepped over the write, and the CSR is read again: one
//! stop per write (a breakpoint on the instruction after it would cost a
//! second stop, and insert and remove one more breakpoint). A value
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
/// writer's address, counted once per hart at the level its ELF file runs
/// at, that reads the CSR after a step over the write.
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
    // Per address: the ELF space, the registers before, the CSRs after.
    type Reads = (String, Vec<String>, Vec<String>);
    let mut reads: BTreeMap<u64, Reads> = BTreeMap::new();
    let add = |names: &mut Vec<String>, name: String| {
        if !names.contains(&name) {
            names.push(name);
        }
    };
    for w in writers {
        let entry = reads
            .entry(w.address)
            .or_insert_with(|| (w.space.clone(), Vec::new(), Vec::new()));
        add(&mut entry.1, w.csr.clone());
        if let Operand::Register(_) = w.operand {
            add(&mut entry.1, w.operand.name());
        }
        add(&mut entry.2, w.csr.clone());
    }
    reads
        .into_iter()
        .map(|(address, (space, dump, after))| BreakpointSpec {
            at: format!("{space}:{address:#x}"),
            hart: None,
            privilege: privilege_of(&space),
            dump,
            max_hits: u32::MAX,
            once_per_hart: true,
            arm_after: None,
            arm_on: None,
            watch: None,
            read_after_step: after,
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
    for stop in &ordered {
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
            // Read with the hart stepped over the write, unless the write
            // trapped (the step ended elsewhere).
            let after = stop
                .after_step
                .as_ref()
                .filter(|a| a.pc == w.address + w.length as u64)
                .and_then(|a| a.csrs.iter().find(|c| c.name.eq_ignore_ascii_case(&w.csr)))
                .and_then(|c| c.raw);
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
