//! One recorded stop: where, which hart, which privilege, the registers.

use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use super::privilege::VirtSource;
use super::view::{view_of, CsrView};
use crate::elf::ElfSet;
use crate::riscv::{decode_csr, registry::decode_priv_as_seen, DecodedCsr, PrivilegeLevel};
use crate::rsp::{RegisterValue, RspClient, ThreadId};
use crate::scenario::BreakpointSpec;
use crate::snapshot::Section;

/// One register read at a stop.
#[derive(Debug, Clone, Serialize)]
pub struct CsrReading {
    pub(crate) name: String,
    /// The raw value; `None` when the target listed it but could not read it.
    pub raw: Option<u64>,
    /// Named fields, when the value was read.
    pub decoded: Option<DecodedCsr>,
    /// Why it has no value.
    pub(crate) missing: Option<NoValue>,
    /// Whose value it shows, when not plain (an s-mode name while V=1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) view: Option<CsrView>,
}

/// Why a dumped register has no value; the result file keeps the words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NoValue {
    /// The target listed it but could not read it (`E14`).
    #[serde(rename = "unavailable")]
    Unavailable,
    /// The target description does not list it.
    #[serde(rename = "not in the target description")]
    NotListed,
}

impl std::fmt::Display for NoValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NoValue::Unavailable => "unavailable",
            NoValue::NotListed => "not in the target description",
        })
    }
}

/// A stop at a breakpoint that counted.
#[derive(Debug, Clone, Serialize)]
pub struct StopRecord {
    /// The breakpoint's location as written.
    pub breakpoint: String,
    pub hart: u32,
    pub(crate) privilege: PrivilegeLevel,
    /// Where V came from: the `priv` register, or the monitor on QEMU < 10.0.
    pub(crate) privilege_source: VirtSource,
    /// `VS`, `HS`, `M`, ...
    pub privilege_name: String,
    pub pc: u64,
    /// `kvminithart at guest/kernel/vm.c:67` (in the breakpoint's ELF space).
    pub place: String,
    pub(crate) instruction: Option<String>,
    pub(crate) csrs: Vec<CsrReading>,
    /// The breakpoint's `read_after_step` registers, read with the hart
    /// stepped over the instruction; `None` when it has none, or the step
    /// stopped for another reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) after_step: Option<AfterStep>,
    /// Seconds since the target was resumed.
    pub at_secs: f64,
}

/// A hart just stepped over the instruction it stopped at, and the
/// registers read there.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AfterStep {
    /// Where the step took it: the next instruction, or a trap vector when
    /// the instruction trapped.
    pub(crate) pc: u64,
    pub(crate) csrs: Vec<CsrReading>,
}

impl StopRecord {
    /// The reading of `name`, if dumped.
    pub fn csr(&self, name: &str) -> Option<&CsrReading> {
        self.csrs.iter().find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// A stop taken as HS because its CSR write can only complete with V=0
    /// ([`super::privilege::at_hypervisor_write`]) keeps that only when the
    /// step over the 4-byte write completed (the pc moved to the next
    /// instruction); otherwise the write trapped and V is unknown.
    pub(crate) fn confirm_completed_write(&mut self) {
        if self.privilege_source != VirtSource::CompletedWrite {
            return;
        }
        let completed = self
            .after_step
            .as_ref()
            .is_some_and(|a| a.pc == self.pc.wrapping_add(4));
        if !completed {
            self.privilege.virt = None;
            self.privilege_source = VirtSource::Unknown;
            self.privilege_name = self.privilege.name().to_string();
        }
    }

    /// This stop as a snapshot section: timing-free, fields by name.
    pub fn snapshot_section(&self) -> Section {
        let mut entries = vec![("pc".to_string(), self.place.clone())];
        for c in &self.csrs {
            match (&c.decoded, &c.missing) {
                (Some(d), _) => entries.extend(d.snapshot_entries()),
                (None, Some(why)) => entries.push((c.name.clone(), format!("<{why}>"))),
                (None, None) => entries.push((c.name.clone(), "<no value>".to_string())),
            }
            if let (Some(v), Some(_)) = (&c.view, c.raw) {
                entries.push((format!("{}.view", c.name), v.to_string()));
            }
        }
        Section {
            title: format!(
                "{} hart {} {}",
                self.breakpoint, self.hart, self.privilege_name
            ),
            entries,
        }
    }
}

/// Where a hart stopped, as determined before its registers are dumped.
pub(super) struct Place {
    pub hart: u32,
    pub privilege: PrivilegeLevel,
    pub(crate) source: VirtSource,
    pub(crate) pc: u64,
}

/// Reads `names` of `thread` where it stands, in one exchange, each
/// decoded as a dumped register at `privilege` (as `source` found it).
pub(super) async fn read_registers(
    rsp: &mut RspClient,
    thread: ThreadId,
    names: &[String],
    privilege: PrivilegeLevel,
    source: VirtSource,
) -> Result<Vec<CsrReading>> {
    let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    rsp.prefetch_registers(thread, &wanted).await?;
    rsp.select_register_thread(thread).await?;
    let mut csrs = Vec::new();
    for name in names {
        csrs.push(read_dumped(rsp, name, privilege, source).await?);
    }
    Ok(csrs)
}

/// One register of a breakpoint's `dump` list, read and decoded at a stop
/// in `privilege` (as `source` found it).
async fn read_dumped(
    rsp: &mut RspClient,
    name: &str,
    privilege: PrivilegeLevel,
    source: VirtSource,
) -> Result<CsrReading> {
    let listed = rsp
        .target_description()
        .is_some_and(|t| t.register(name).is_some());
    if !listed {
        return Ok(CsrReading::without_value(name, NoValue::NotListed));
    }
    let value = rsp
        .read_register(name)
        .await
        .with_context(|| format!("reading {name}"))?;
    if let RegisterValue::Unavailable = value {
        return Ok(CsrReading::without_value(name, NoValue::Unavailable));
    }
    Ok(CsrReading::of_value(
        name,
        value.as_u64(),
        privilege,
        source,
    ))
}

impl CsrReading {
    /// `name` holding `raw` (`None`: no value) at `privilege` (as `source`
    /// found it), decoded.
    pub(super) fn of_value(
        name: &str,
        raw: Option<u64>,
        privilege: PrivilegeLevel,
        source: VirtSource,
    ) -> Self {
        let decoded = raw.map(|v| {
            match (
                name.eq_ignore_ascii_case("priv"),
                privilege.virt,
                source.note(),
            ) {
                (true, Some(virt), Some(note)) => decode_priv_as_seen(v, virt, note),
                _ => decode_csr(name, v),
            }
        });
        CsrReading {
            name: name.to_string(),
            raw,
            decoded,
            missing: None,
            view: view_of(name, privilege),
        }
    }

    /// A register that has no value at this stop, and why.
    fn without_value(name: &str, why: NoValue) -> Self {
        CsrReading {
            name: name.to_string(),
            raw: None,
            decoded: None,
            missing: Some(why),
            view: None,
        }
    }
}

/// Reads the breakpoint's registers. A dumped `priv` shows the V the harness
/// determined, with its source, where QEMU < 10.0's register hides it.
pub(super) async fn record(
    rsp: &mut RspClient,
    elfs: &ElfSet,
    spec: &BreakpointSpec,
    space: Option<&str>,
    at: Place,
    since_resume: Duration,
) -> Result<StopRecord> {
    let Place {
        hart,
        privilege,
        source,
        pc,
    } = at;
    if let Some(thread) = rsp.register_thread() {
        let names: Vec<&str> = spec.dump.iter().map(String::as_str).collect();
        rsp.prefetch_registers(thread, &names).await?;
    }
    let mut csrs = Vec::new();
    for name in &spec.dump {
        csrs.push(read_dumped(rsp, name, privilege, source).await?);
    }
    let (place, instruction) = match elfs.describe_stop(pc, space, None) {
        Ok(stop) => (
            stop.place(),
            stop.instruction.as_ref().map(|i| i.to_string()),
        ),
        Err(_) => (format!("{pc:#x}"), None),
    };
    Ok(StopRecord {
        breakpoint: spec.at.clone(),
        hart,
        privilege,
        privilege_source: source,
        privilege_name: privilege.name().to_string(),
        pc,
        place,
        instruction,
        csrs,
        after_step: None,
        at_secs: since_resume.as_secs_f64(),
    })
}

/// Steps `thread`, stopped on a breakpoint in `privilege` (as `source`
/// found it), over its instruction now and reads `names` there. `None` when
/// the step stopped for another reason (the client takes that stop as the
/// current one) or left the pc unreadable.
pub(super) async fn after_step(
    rsp: &mut RspClient,
    thread: ThreadId,
    names: &[String],
    privilege: PrivilegeLevel,
    source: VirtSource,
) -> Result<Option<AfterStep>> {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    if !rsp
        .step_off_now(thread, &names)
        .await
        .context("stepping over the instruction at a breakpoint")?
    {
        return Ok(None);
    }
    rsp.select_register_thread(thread).await?;
    let Some(pc) = rsp.read_register_u64("pc").await? else {
        return Ok(None);
    };
    let mut csrs = Vec::new();
    for name in names {
        csrs.push(read_dumped(rsp, name, privilege, source).await?);
    }
    Ok(Some(AfterStep { pc, csrs }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stop(csrs: Vec<CsrReading>) -> StopRecord {
        StopRecord {
            breakpoint: "guest:kvminithart".into(),
            hart: 0,
            privilege: PrivilegeLevel::from_qemu_priv(1),
            privilege_source: VirtSource::Priv,
            privilege_name: "HS".into(),
            pc: 0x8020_0000,
            place: "kvminithart".into(),
            instruction: None,
            csrs,
            after_step: None,
            at_secs: 0.0,
        }
    }

    /// A write taken as HS stays HS when the step completed it, and
    /// becomes S with V unknown when the step ended anywhere else (a trap).
    #[test]
    fn a_completed_write_confirms_hs_and_a_trapped_one_does_not() {
        let at_write = |after_pc: Option<u64>| {
            let mut s = stop(Vec::new());
            s.privilege = PrivilegeLevel::from_qemu_priv(1).with_virt(false);
            s.privilege_source = VirtSource::CompletedWrite;
            s.after_step = after_pc.map(|pc| AfterStep {
                pc,
                csrs: Vec::new(),
            });
            s.confirm_completed_write();
            (s.privilege_name, s.privilege_source)
        };
        assert_eq!(
            at_write(Some(0x8020_0004)),
            ("HS".to_string(), VirtSource::CompletedWrite)
        );
        for trapped in [Some(0x8020_1000), None] {
            assert_eq!(at_write(trapped), ("S".to_string(), VirtSource::Unknown));
        }
    }

    /// The section takes the decoded fields' names and values as they are,
    /// and a register without a value says why in the file's words.
    #[test]
    fn a_stops_section_lists_fields_and_why_a_value_is_missing() {
        let henvcfg = decode_csr("henvcfg", 1 << 61);
        let s = stop(vec![
            CsrReading {
                name: "henvcfg".into(),
                raw: Some(1 << 61),
                decoded: Some(henvcfg.clone()),
                missing: None,
                view: None,
            },
            CsrReading {
                name: "vsatp".into(),
                raw: None,
                decoded: None,
                missing: Some(NoValue::Unavailable),
                view: None,
            },
            CsrReading {
                name: "mseccfg".into(),
                raw: None,
                decoded: None,
                missing: Some(NoValue::NotListed),
                view: None,
            },
        ]);
        let entries = s.snapshot_section().entries;
        let fields = henvcfg.snapshot_entries();
        assert_eq!(entries[1..=fields.len()], fields[..]);
        assert!(entries.contains(&("henvcfg.ADUE".to_string(), "1".to_string())));
        assert_eq!(
            entries[fields.len() + 1..],
            [
                ("vsatp".to_string(), "<unavailable>".to_string()),
                (
                    "mseccfg".to_string(),
                    "<not in the target description>".to_string()
                )
            ]
        );
        let json = serde_json::to_value(&s.csrs).unwrap();
        assert_eq!(json[1]["missing"], "unavailable");
        assert_eq!(json[2]["missing"], "not in the target description");
        assert!(json[0]["missing"].is_null());
    }
}
