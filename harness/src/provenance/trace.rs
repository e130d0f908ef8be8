//! CSR writes recorded at run time: a breakpoint on each writer, its first
//! `trace_hits_per_writer` stops on each hart recorded, and removed once
//! every hart has had them, so the code around it runs at full speed for
//! the rest of the boot. A hart's later stops there, while the breakpoint is
//! still in, are counted only ([`UnrecordedHits`]): memory stays bounded
//! however long the run, and the count says honestly until when it ran.
//! At its stop the CSR and the source register are
//! read, the hart is stepped over the write, and the CSR is read again: one
//! stop per write (a breakpoint on the instruction after it would cost a
//! second stop, and insert and remove one more breakpoint). A value
//! that changes between two recorded writes on a hart, without a writer of
//! ours in between, was written outside the images we know (M-mode
//! firmware such as OpenSBI, on the hypervisor's behalf).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::writers::{CsrWriter, Operand};
use crate::debug::{ArmedBreakpoint, StopRecord};
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
    /// The writer's address (two writers can share a line).
    pub address: u64,
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

/// A writer's hits on a hart beyond the ones recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnrecordedHits {
    pub csr: String,
    /// The writer's `file:line` (or symbol).
    pub place: String,
    pub instruction: String,
    pub hart: u32,
    /// The writes recorded on this hart (the scenario's `trace_hits_per_writer`).
    pub recorded: u32,
    /// The further hits counted.
    pub more: u64,
    /// Until when they were counted.
    pub counted: CountedUntil,
}

/// Until when a writer's further hits were counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountedUntil {
    /// The breakpoint stayed in to the end of the run (some hart never had
    /// all its recorded writes there): the count is complete.
    EndOfRun,
    /// The breakpoint was removed once every hart had its recorded writes:
    /// later hits were not seen.
    BreakpointRemoved,
}

impl UnrecordedHits {
    /// `2 more hits not recorded (counted to the end of the run)`, as the
    /// text and the HTML report say it.
    pub(crate) fn text(&self) -> String {
        let more = match self.more {
            0 => "no more hits".to_string(),
            1 => "1 more hit not recorded".to_string(),
            n => format!("{n} more hits not recorded"),
        };
        match self.counted {
            CountedUntil::EndOfRun => {
                format!("{more} (the breakpoint stayed in: counted to the end of the run)")
            }
            CountedUntil::BreakpointRemoved => format!(
                "{more} before the count stopped: the breakpoint was removed once every hart had {} recorded",
                self.recorded
            ),
        }
    }
}

/// A trace breakpoint's location: `hypervisor:0x80200350`.
fn location(space: &str, address: u64) -> String {
    format!("{space}:{address:#x}")
}

/// Whether a 32-bit CSR instruction accesses a hypervisor- or
/// machine-level CSR (address bits 9:8 = 2 or 3), which only V=0 can write.
fn writes_only_with_v0(encoding: u32) -> bool {
    (encoding >> 28) & 3 >= 2
}

/// The breakpoints that record `writers` in `scenario`'s run: one per
/// writer's address, counted `trace_hits_per_writer` times per hart at the
/// level its ELF file runs at, that reads the CSR after a step over the write.
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
    // Per address: the ELF space, the registers before, the CSRs after,
    // the write's encoding when only V=0 completes it.
    type Reads = (String, Vec<String>, Vec<String>, Option<u32>);
    let mut reads: BTreeMap<u64, Reads> = BTreeMap::new();
    let add = |names: &mut Vec<String>, name: String| {
        if !names.contains(&name) {
            names.push(name);
        }
    };
    for w in writers {
        let only_v0 = (w.length == 4 && writes_only_with_v0(w.encoding)).then_some(w.encoding);
        let entry = reads
            .entry(w.address)
            .or_insert_with(|| (w.space.clone(), Vec::new(), Vec::new(), only_v0));
        add(&mut entry.1, w.csr.clone());
        // x0 reads 0: no round trip for it.
        if let Operand::Register(1..) = w.operand {
            add(&mut entry.1, w.operand.name());
        }
        add(&mut entry.2, w.csr.clone());
    }
    reads
        .into_iter()
        .map(|(address, (space, dump, after, only_v0))| BreakpointSpec {
            at: location(&space, address),
            hart: None,
            privilege: privilege_of(&space),
            dump,
            max_hits: u32::MAX,
            once_per_hart: true,
            hits_per_hart: scenario.trace_hits_per_writer,
            arm_after: None,
            arm_on: None,
            watch: None,
            read_after_step: after,
            // A guest's write of such a CSR traps: its V must be read.
            completed_write: only_v0.filter(|_| privilege_of(&space) != Some(PrivilegeFilter::VS)),
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
                Operand::Register(0) => Some(0),
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
                address: w.address,
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
    /// The writes that ran, in time order (per writer, the first
    /// `hits_per_writer` on each hart).
    pub writes: Vec<TracedWrite>,
    /// The writes recorded per writer and hart (`trace_hits_per_writer`).
    pub hits_per_writer: u32,
    /// Per writer and hart that had all its recorded writes: the further
    /// hits counted, and until when.
    pub unrecorded: Vec<UnrecordedHits>,
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
    hits_per_writer: u32,
    harts: u32,
}

/// What the debug session counted at one trace breakpoint beyond the
/// recorded stops, taken before the session ends ([`TracePlan::tally`]).
#[derive(Debug, Clone)]
pub(crate) struct BeyondQuota {
    /// The breakpoint's location, as the plan wrote it.
    at: String,
    /// Per hart, the stops past its recorded ones.
    more: BTreeMap<u32, u64>,
    /// Whether it was still in the target at the end.
    still_in: bool,
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
            hits_per_writer: scenario.trace_hits_per_writer,
            harts: scenario.machine.smp,
        }))
    }

    /// `scenario` with the trace's breakpoints added.
    pub(crate) fn scenario(&self, scenario: &Scenario) -> Scenario {
        let mut traced = scenario.clone();
        traced.breakpoints.extend(self.specs.iter().cloned());
        traced
    }

    /// The hits beyond the recorded ones that the session counted at the
    /// trace's breakpoints.
    pub(crate) fn tally(&self, breakpoints: &[ArmedBreakpoint]) -> Vec<BeyondQuota> {
        breakpoints
            .iter()
            .filter(|b| self.specs.iter().any(|t| t.at == b.spec.at))
            .map(|b| BeyondQuota {
                at: b.spec.at.clone(),
                more: b.beyond_quota.clone(),
                still_in: b.inserted,
            })
            .collect()
    }

    /// Takes the trace's stops out of `stops` (the scenario's own stay, so
    /// snapshots and checks see what they saw without the trace) and
    /// turns them into writes; `beyond` is [`Self::tally`]'s.
    pub(crate) fn finish(self, stops: &mut Vec<StopRecord>, beyond: &[BeyondQuota]) -> CsrWrites {
        let (ours, theirs): (Vec<StopRecord>, Vec<StopRecord>) = std::mem::take(stops)
            .into_iter()
            .partition(|s| self.specs.iter().any(|t| t.at == s.breakpoint));
        *stops = theirs;
        let (writes, outside) = collect(&self.writers, &self.specs, &ours);
        let unrecorded = unrecorded(
            &self.writers,
            &writes,
            beyond,
            self.hits_per_writer,
            self.harts,
        );
        CsrWrites {
            csrs: self.csrs,
            writers: self.writers,
            writes,
            hits_per_writer: self.hits_per_writer,
            unrecorded,
            outside,
        }
    }
}

/// Per writer and hart with all `quota` writes recorded: the further hits
/// the session counted (`beyond`), and whether the count ran to the end
/// of the run. A hart with fewer recorded writes had no further hits: its
/// next one would have been recorded.
fn unrecorded(
    writers: &[CsrWriter],
    writes: &[TracedWrite],
    beyond: &[BeyondQuota],
    quota: u32,
    harts: u32,
) -> Vec<UnrecordedHits> {
    let mut out = Vec::new();
    for w in writers {
        let at = location(&w.space, w.address);
        let tally = beyond.iter().find(|b| b.at == at);
        for hart in 0..harts {
            let recorded = writes
                .iter()
                .filter(|t| t.hart == hart && t.csr == w.csr && t.address == w.address)
                .count() as u32;
            if recorded < quota {
                continue;
            }
            out.push(UnrecordedHits {
                csr: w.csr.clone(),
                place: w.place(),
                instruction: w.instruction.clone(),
                hart,
                recorded,
                more: tally.and_then(|t| t.more.get(&hart).copied()).unwrap_or(0),
                counted: match tally.is_some_and(|t| t.still_in) {
                    true => CountedUntil::EndOfRun,
                    false => CountedUntil::BreakpointRemoved,
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(hart: u32, address: u64) -> TracedWrite {
        TracedWrite {
            csr: "henvcfg".into(),
            hart,
            privilege: "HS".into(),
            place: "hart.c:51".into(),
            address,
            instruction: "csrs henvcfg, a5".into(),
            operand: "a5".into(),
            value: Some(1 << 63),
            before: Some(1 << 63),
            after: Some(1 << 63),
            at_secs: 0.1,
        }
    }

    /// A writer without line or symbol: its place is its address.
    fn writer(address: u64) -> CsrWriter {
        CsrWriter {
            csr: "henvcfg".into(),
            space: "hypervisor".into(),
            address,
            length: 4,
            encoding: 0x60a7_a073,
            instruction: "csrs henvcfg, a5".into(),
            kind: super::super::WriteKind::Set,
            operand: Operand::Register(15),
            symbol: None,
            function: None,
            line: None,
            source_text: None,
            value: None,
        }
    }

    #[test]
    fn hits_beyond_the_quota_per_writer_and_hart_and_until_when() {
        let (again, once) = (0x8020_0400, 0x8020_0350);
        let writers = [writer(again), writer(once)];
        // Quota 1: hart 0 ran `again` three times (two counted beyond, the
        // breakpoint still in: hart 1 never runs it); `once` ran once on
        // each hart and was removed.
        let writes = [write(0, again), write(0, once), write(1, once)];
        let beyond = [
            BeyondQuota {
                at: location("hypervisor", again),
                more: BTreeMap::from([(0, 2)]),
                still_in: true,
            },
            BeyondQuota {
                at: location("hypervisor", once),
                more: BTreeMap::new(),
                still_in: false,
            },
        ];
        let u = unrecorded(&writers, &writes, &beyond, 1, 2);
        let seen: Vec<(&str, u32, u32, u64, CountedUntil)> = u
            .iter()
            .map(|u| (u.place.as_str(), u.hart, u.recorded, u.more, u.counted))
            .collect();
        assert_eq!(
            seen,
            [
                ("0x80200400", 0, 1, 2, CountedUntil::EndOfRun),
                ("0x80200350", 0, 1, 0, CountedUntil::BreakpointRemoved),
                ("0x80200350", 1, 1, 0, CountedUntil::BreakpointRemoved),
            ]
        );
        assert_eq!(
            u[0].text(),
            "2 more hits not recorded (the breakpoint stayed in: counted to the end of the run)"
        );
        assert_eq!(
            u[1].text(),
            "no more hits before the count stopped: the breakpoint was removed once every hart had 1 recorded"
        );
        // Quota 2: each hart has fewer recorded writes than that, so no hit
        // went unrecorded (the next one would have been recorded).
        assert!(unrecorded(&writers, &writes, &beyond, 2, 2).is_empty());
    }

    #[test]
    fn only_writes_to_hypervisor_and_machine_csrs_need_v0() {
        let csrs = |csr: u32| (csr << 20) | (15 << 15) | (2 << 12) | 0x73;
        // henvcfg, hedeleg, menvcfg, vsatp: HS or M only.
        for csr in [0x60a, 0x602, 0x30a, 0x280] {
            assert!(writes_only_with_v0(csrs(csr)), "{csr:#x}");
        }
        // satp, sstatus: a guest writes them too, in VS-mode.
        for csr in [0x180, 0x100] {
            assert!(!writes_only_with_v0(csrs(csr)), "{csr:#x}");
        }
    }
}
