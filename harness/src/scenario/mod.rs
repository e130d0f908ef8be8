//! Scenario files: TOML descriptions of a machine, its consoles, what a good
//! boot prints, and the outcome expected on each range of QEMU versions.
//!
//! Paths inside a scenario are relative to the scenario file's directory, so a
//! scenario works for firmware anywhere on disk. A mistake names the file, the
//! line and the key.

mod dialogue;
mod file;
mod position;
mod registers;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use regex::Regex;

use crate::qemu::{ConsoleAttach, MachineSpec, QemuVersion, VersionReq};

pub(crate) use dialogue::DialogueStep;
pub(crate) use file::ScenarioFile;

/// A loaded, checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// The scenario file.
    pub path: PathBuf,
    /// Command (argv) run in the scenario's directory before any boot.
    pub build: Option<Vec<String>>,
    pub machine: MachineSpec,
    pub consoles: Vec<ScenarioConsole>,
    /// How long a boot may take before it counts as hung.
    pub boot_timeout: Duration,
    /// Console silence plus a hart without traps this long, before the boot
    /// is done, makes the run look at that hart (parked, busy, not started:
    /// see `runner::hang`); not a verdict by itself.
    pub quiet_limit: Duration,
    /// Expected outcomes, first matching range wins.
    pub outcomes: Vec<ExpectedOutcome>,
    /// The ELF files whose symbols the scenario names.
    pub elfs: Vec<ScenarioElf>,
    /// Where to stop and what to dump there.
    pub breakpoints: Vec<BreakpointSpec>,
    /// The QEMU versions the scenario applies to; `None`: every version.
    pub qemu: Option<VersionReq>,
    /// Functions along the boot path in the order a good boot reaches them
    /// (`guest:kvminithart`), for `hvharness bisect milestones`.
    pub milestone_symbols: Vec<String>,
    /// The privilege level a milestone stop must be at (e.g. VS for a guest
    /// under a hypervisor linked at the same addresses).
    pub milestone_privilege: Option<PrivilegeFilter>,
    /// A code breakpoint without `arm_after` goes in only once the boot
    /// reaches a trigger on another page: an earlier milestone of
    /// `milestone_symbols` (`debug::auto_arm`), else a function found in the
    /// ELF's call graph (`debug::call_graph`); `auto_arm = false` turns that
    /// off.
    pub auto_arm: bool,
    /// CSRs whose writes every run records (`trace_csrs`): a breakpoint on
    /// each instruction in the ELF files that writes one
    /// ([`crate::provenance`]).
    pub trace_csrs: Vec<String>,
    /// How many writes per writer and hart the CSR trace records
    /// (`trace_hits_per_writer`, default 1); further hits are only counted,
    /// while the writer's breakpoint is in.
    pub trace_hits_per_writer: u32,
}

/// The most writes per writer and hart a CSR trace records: every recorded
/// write is a stop kept in memory until the run ends.
pub(crate) const MAX_TRACE_HITS: u32 = 1000;

/// The registers dumped at a breakpoint that names none.
pub(crate) const DEFAULT_DUMP: &[&str] = &[
    "mstatus", "hstatus", "scause", "stval", "sepc", "satp", "vsatp", "hgatp", "menvcfg", "henvcfg",
];

/// A breakpoint: where, on which harts and privilege levels, what to dump.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BreakpointSpec {
    /// The location as written: `guest:kvminithart`, `vm.c:67`, `0x80200000`.
    pub at: String,
    /// Only stops on this hart count.
    pub hart: Option<u32>,
    /// Only stops at this privilege level count.
    pub privilege: Option<PrivilegeFilter>,
    /// Registers to read at each counted stop, by target-description name.
    pub dump: Vec<String>,
    /// After this many counted stops the breakpoint is removed.
    pub max_hits: u32,
    /// Only a hart's first stop counts (its first `hits_per_hart`); the
    /// breakpoint is removed once every hart that can count (`hart`, else
    /// all) has, or at `max_hits`.
    pub once_per_hart: bool,
    /// With `once_per_hart`: how many stops of each hart count (1 from a
    /// scenario file; the CSR trace's `trace_hits_per_writer`).
    #[serde(skip_serializing_if = "is_one")]
    pub hits_per_hart: u32,
    /// Inserted only once the breakpoint whose `at` this names has counted
    /// its first stop (on any hart), so that the code on this one's page runs
    /// at full speed until then. The trigger must lie on the boot path before
    /// this breakpoint on every hart: then no hart gets here unarmed.
    pub arm_after: Option<String>,
    /// Inserted only once this event has happened (`arm_after = { milestone
    /// = ... }` or `{ trap = ... }`). The harness sees the event a few
    /// milliseconds after it happens (console and log are read as they
    /// come): the breakpoint must lie well after it on the boot path.
    pub arm_on: Option<ArmEvent>,
    /// A watchpoint on the data at `at` instead of a breakpoint on code.
    pub watch: Option<WatchSpec>,
    /// Registers read after the hart is stepped over the instruction at a
    /// counted stop (the harness's CSR trace: the CSR after the write);
    /// never set from a scenario file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub read_after_step: Vec<String>,
    /// The CSR trace's writer at this breakpoint, when it writes a
    /// hypervisor- or machine-level CSR: its 32-bit encoding. Such a write
    /// completes only with V=0 (from VS or VU it traps), so where `priv`
    /// does not show V (QEMU < 10.0) a hart whose instruction at the pc is
    /// this one is taken as V=0 without asking the monitor, and confirmed
    /// by the step over it. Never set from a scenario file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_write: Option<u32>,
}

/// serde: a `hits_per_hart` of 1 (the default) is left out.
fn is_one(n: &u32) -> bool {
    *n == 1
}

/// An event that arms a breakpoint, other than another breakpoint's stop.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArmEvent {
    /// A console printed this milestone (one of its `milestones`, as
    /// written): `console`, or any console when `None`.
    Milestone {
        console: Option<String>,
        milestone: String,
    },
    /// QEMU's interrupt log shows a first exception with this cause code.
    Trap { cause: u64 },
}

impl ArmEvent {
    /// Whether the milestone `pattern` printed on `console` is this event.
    pub(crate) fn is_milestone(&self, console: &str, pattern: &str) -> bool {
        matches!(self, ArmEvent::Milestone { console: c, milestone }
            if milestone == pattern && c.as_deref().is_none_or(|c| c == console))
    }
}

impl std::fmt::Display for ArmEvent {
    /// `milestone /init: starting sh/ on vm0`, `trap cause 0xd`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArmEvent::Milestone { console, milestone } => {
                write!(f, "milestone /{milestone}/")?;
                match console {
                    Some(c) => write!(f, " on {c}"),
                    None => Ok(()),
                }
            }
            ArmEvent::Trap { cause } => write!(f, "trap cause {cause:#x}"),
        }
    }
}

/// What a watchpoint watches: writes, reads or both, of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct WatchSpec {
    pub(crate) access: WatchAccess,
    pub(crate) len: u64,
}

/// The accesses a watchpoint stops on (`watch = "write"`, `"read"` or
/// `"access"` in a scenario).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum WatchAccess {
    Write,
    Read,
    Access,
}

impl WatchSpec {
    /// A watchpoint of `len` bytes, 1 to 8 (what QEMU's watchpoints take).
    pub(crate) fn new(access: WatchAccess, len: u64) -> Option<WatchSpec> {
        (1..=8).contains(&len).then_some(WatchSpec { access, len })
    }

    /// The RSP packet type (`Z2`, `Z3`, `Z4`).
    pub(crate) fn breakpoint_type(&self) -> crate::rsp::BreakpointType {
        match self.access {
            WatchAccess::Write => crate::rsp::BreakpointType::WriteWatch,
            WatchAccess::Read => crate::rsp::BreakpointType::ReadWatch,
            WatchAccess::Access => crate::rsp::BreakpointType::AccessWatch,
        }
    }
}

/// A privilege qualifier of a breakpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PrivilegeFilter {
    M,
    /// HS-mode (S with V=0).
    HS,
    /// S-mode with V unknown or either: matches HS and VS.
    S,
    VS,
    U,
    VU,
}

impl PrivilegeFilter {
    const ALL: [PrivilegeFilter; 6] = [
        PrivilegeFilter::M,
        PrivilegeFilter::HS,
        PrivilegeFilter::S,
        PrivilegeFilter::VS,
        PrivilegeFilter::U,
        PrivilegeFilter::VU,
    ];

    /// Parses `M`, `HS`, `S`, `VS`, `U` or `VU` (any case).
    pub(crate) fn parse(s: &str) -> Option<PrivilegeFilter> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
    }

    /// The allowed spellings, for an error: `M, HS, S, VS, U or VU`.
    pub(crate) fn allowed() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|p| p.name()).collect();
        let (last, rest) = names.split_last().unwrap_or((&"", &[]));
        format!("{} or {last}", rest.join(", "))
    }

    /// `M`, `HS`, `S`, `VS`, `U` or `VU`, as a scenario writes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PrivilegeFilter::M => "M",
            PrivilegeFilter::HS => "HS",
            PrivilegeFilter::S => "S",
            PrivilegeFilter::VS => "VS",
            PrivilegeFilter::U => "U",
            PrivilegeFilter::VU => "VU",
        }
    }

    /// Whether a hart at `level` with virtualization `virt` matches.
    pub(crate) fn matches(self, p: crate::riscv::PrivilegeLevel) -> bool {
        use crate::riscv::Level;
        match self {
            PrivilegeFilter::M => p.level == Level::Machine,
            PrivilegeFilter::S => p.level == Level::Supervisor,
            PrivilegeFilter::HS => p.level == Level::Supervisor && p.virt == Some(false),
            PrivilegeFilter::VS => p.level == Level::Supervisor && p.virt == Some(true),
            PrivilegeFilter::U => p.level == Level::User && p.virt != Some(true),
            PrivilegeFilter::VU => p.level == Level::User && p.virt == Some(true),
        }
    }
}

/// `privilege = "VS"` in any case; an error names the value and the
/// allowed ones.
impl<'de> serde::Deserialize<'de> for PrivilegeFilter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PrivilegeFilter::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is no privilege level: expected {} (any case)",
                PrivilegeFilter::allowed()
            ))
        })
    }
}

/// `henvcfg.ADUE == 1 at guest:kvminithart`: a register (or one of its
/// fields) must have a value at every counted stop of a breakpoint.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct CsrCheck {
    pub(crate) text: String,
    pub(crate) csr: String,
    pub(crate) field: Option<String>,
    pub(crate) value: u64,
    /// The breakpoint's `at`.
    pub(crate) at: String,
}

impl CsrCheck {
    /// Parses `CSR[.FIELD] == VALUE at LOCATION` (VALUE decimal or 0x hex).
    pub(crate) fn parse(text: &str) -> std::result::Result<CsrCheck, String> {
        let bad = || {
            format!("{text:?}: expected \"CSR[.FIELD] == VALUE at BREAKPOINT\", e.g. \"henvcfg.ADUE == 1 at guest:kvminithart\"")
        };
        let (lhs, rest) = text.split_once("==").ok_or_else(bad)?;
        let (value, at) = rest.split_once(" at ").ok_or_else(bad)?;
        let lhs = lhs.trim();
        let (csr, field) = match lhs.split_once('.') {
            Some((c, f)) => (c.trim().to_string(), Some(f.trim().to_string())),
            None => (lhs.to_string(), None),
        };
        let value = value.trim();
        let value = match value.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
            None => value.replace('_', "").parse(),
        }
        .map_err(|_| bad())?;
        let at = at.trim().to_string();
        if csr.is_empty() || at.is_empty() {
            return Err(bad());
        }
        Ok(CsrCheck {
            text: text.to_string(),
            csr,
            field,
            value,
            at,
        })
    }
}

/// An ELF file of the firmware: its own symbol space, loaded at `offset`.
#[derive(Debug, Clone)]
pub struct ScenarioElf {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    /// Added to every link-time address (modulo 2^64: a negative offset is
    /// stored in two's complement) to give the run-time address.
    pub(crate) offset: u64,
    /// Where the file's lowest loadable segment sits in physical memory
    /// when its program headers do not say (p_paddr == p_vaddr): code
    /// there is named too (pre-MMU code of a hypervisor linked high).
    pub(crate) load_address: Option<u64>,
    /// Whether this code runs with V=1 (a guest under the hypervisor), V=0
    /// (the hypervisor, or a kernel on bare QEMU), or either (unset).
    pub(crate) virt: Option<bool>,
}

/// A console with the milestones a good boot prints on it, in order.
#[derive(Debug, Clone)]
pub struct ScenarioConsole {
    pub name: String,
    pub milestones: Vec<Regex>,
    /// What to type once the boot is done, and what to wait for
    /// (`[[console.step]]`, see [`DialogueStep`]).
    pub steps: Vec<DialogueStep>,
}

/// What a run should end in (`expect = "boots"` or `"hangs"`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    Boots,
    Hangs,
}

/// `boots` or `hangs`, as the scenario file writes it.
impl std::fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OutcomeKind::Boots => "boots",
            OutcomeKind::Hangs => "hangs",
        })
    }
}

/// A trap a hang is expected to start with: an exception with this cause,
/// taken with its pc (epc) inside `symbol`, on `hart` when one is named. All
/// of it must match one record of QEMU's interrupt log: a cause alone also
/// matches OpenSBI's boot-time probes and the other VMs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExpectedTrap {
    /// The exception code (scause without the interrupt bit).
    pub(crate) cause: u64,
    /// The symbol the faulting pc lies in (`elfname:symbol` picks the file).
    pub(crate) symbol: String,
    /// The hart that takes it (checked against `smp` at load time).
    pub(crate) hart: Option<u32>,
}

/// The milestone a hang is expected to stop after: the last one printed on
/// `console`, or on every console that lists it when no console is named.
/// `milestone` is one of the scenario's milestone entries, as written
/// (checked at load time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LastMilestone {
    pub(crate) console: Option<String>,
    pub(crate) milestone: String,
}

/// The outcome expected on a range of QEMU versions.
#[derive(Debug, Clone)]
pub struct ExpectedOutcome {
    pub(crate) qemu: VersionReq,
    pub(crate) kind: OutcomeKind,
    /// For hangs: the last milestone printed before the hang.
    pub(crate) last_milestone: Option<LastMilestone>,
    pub(crate) trap: Option<ExpectedTrap>,
    /// Why this version behaves this way, shown in reports.
    pub(crate) because: Option<String>,
    /// Register values required at breakpoints.
    pub(crate) checks: Vec<CsrCheck>,
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading scenario {}", path.display()))?;
        let file = ScenarioFile::parse(&text, path)?;
        let scenario = file.into_scenario(path)?;
        scenario.check_files()?;
        Ok(scenario)
    }

    /// Checks the kernel and the `[[elf]]` files that exist (the build step
    /// makes the others; this runs again after it): ELF files must be
    /// RISC-V 64, and a kernel that is a text file is refused (QEMU would
    /// load it as a raw image and run garbage).
    pub(crate) fn check_files(&self) -> Result<()> {
        use crate::elf::arch::{file_kind, FileKind};
        let at = |key: &str, file: &Path, why: String| {
            anyhow::anyhow!("{}: {key}: {}: {why}", self.path.display(), file.display())
        };
        if let Some(kernel) = &self.machine.kernel {
            match file_kind(kernel) {
                Ok(FileKind::OtherElf(what)) => {
                    return Err(at(
                        "machine.kernel",
                        kernel,
                        format!("it is {what}, not RISC-V 64"),
                    ))
                }
                Ok(FileKind::Text) => {
                    return Err(at(
                        "machine.kernel",
                        kernel,
                        "a text file, not a kernel (an ELF file or a raw image)".into(),
                    ))
                }
                _ => {}
            }
        }
        for (i, e) in self.elfs.iter().enumerate() {
            let why = match file_kind(&e.path) {
                Ok(FileKind::OtherElf(what)) => format!("it is {what}, not RISC-V 64"),
                Ok(FileKind::Text | FileKind::Other) => "not an ELF file".to_string(),
                _ => continue,
            };
            return Err(at(&format!("elf[{i}].path"), &e.path, why));
        }
        Ok(())
    }

    /// Why the scenario does not apply to this QEMU version, if it does not.
    pub fn skip_reason(&self, version: QemuVersion) -> Option<String> {
        let req = self.qemu.as_ref()?;
        (!req.matches(version))
            .then(|| format!("{} applies to QEMU {req}, not {version}", self.name))
    }

    /// The expectation for this QEMU version, if the scenario states one.
    pub(crate) fn expected_for(&self, version: QemuVersion) -> Option<&ExpectedOutcome> {
        self.outcomes.iter().find(|o| o.qemu.matches(version))
    }

    /// The directory that relative paths in the scenario start from.
    pub(crate) fn base_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The CSRs to trace: the scenario's `trace_csrs` and `extra`, each once.
    pub(crate) fn trace_csrs_with(&self, extra: &[String]) -> Vec<String> {
        let mut all = self.trace_csrs.clone();
        for c in extra {
            if !all.iter().any(|a| a.eq_ignore_ascii_case(c)) {
                all.push(c.clone());
            }
        }
        all
    }

    /// Loads the scenario's ELF files, each as its own symbol space.
    pub fn load_elfs(&self) -> Result<crate::elf::ElfSet> {
        let mut set = crate::elf::ElfSet::new();
        for e in &self.elfs {
            // Two's complement: a negative offset as written.
            let image = crate::elf::ElfImage::load(&e.path, Some(&e.name), e.offset as i64)
                .with_context(|| format!("{}: loading elf \"{}\"", self.path.display(), e.name))?;
            set.add(match e.load_address {
                Some(at) => image.loaded_at(at),
                None => image,
            });
        }
        Ok(set)
    }

    /// Splits a breakpoint location into its ELF space (when the text starts
    /// with one of the scenario's ELF names and a colon) and the rest.
    pub fn split_space<'a>(&self, at: &'a str) -> (Option<&'a str>, &'a str) {
        if let Some((head, tail)) = at.split_once(':') {
            if self.elfs.iter().any(|e| e.name == head) {
                return (Some(head), tail);
            }
        }
        (None, at)
    }

    /// The ELF space for code that runs with V = `virt`: the one marked so,
    /// else the only unmarked one.
    pub fn elf_for_virt(&self, virt: Option<bool>) -> Option<&ScenarioElf> {
        if let Some(v) = virt {
            if let Some(e) = self.elfs.iter().find(|e| e.virt == Some(v)) {
                return Some(e);
            }
        }
        let unmarked: Vec<&ScenarioElf> = self.elfs.iter().filter(|e| e.virt.is_none()).collect();
        (unmarked.len() == 1).then(|| unmarked[0])
    }

    /// Runs the scenario's build command, if it has one.
    pub fn build(&self) -> Result<()> {
        let Some(argv) = &self.build else {
            return Ok(());
        };
        let Some((program, args)) = argv.split_first() else {
            bail!("{}: build.command is empty", self.path.display())
        };
        crate::firmware::run_command(self.base_dir(), program, args)
            .with_context(|| format!("building for scenario {}", self.name))?;
        self.check_files()
    }
}

/// `serial`, `pci-serial` or `device:NAME` (a non-empty NAME).
pub(crate) fn attach_from_str(s: &str) -> Option<ConsoleAttach> {
    match s {
        "serial" => Some(ConsoleAttach::Serial),
        "pci-serial" => Some(ConsoleAttach::PciSerial),
        other => other
            .strip_prefix("device:")
            .filter(|d| !d.is_empty())
            .map(|d| ConsoleAttach::Device(d.to_string())),
    }
}

#[cfg(test)]
mod tests;
