//! The on-disk TOML form of a scenario and its checks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Result};
use regex::Regex;
use serde::Deserialize;

use super::dialogue::{check_steps, StepSection};
use super::position::{key_at, locate, position};
use super::{
    attach_from_str, ArmEvent, BreakpointSpec, CsrCheck, ExpectedOutcome, ExpectedTrap,
    LastMilestone, OutcomeKind, PrivilegeFilter, Scenario, ScenarioConsole, ScenarioElf,
    WatchAccess, WatchSpec, DEFAULT_DUMP, MAX_TRACE_HITS,
};
use crate::qemu::{ConsoleAttach, ConsoleSpec, MachineSpec};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScenarioFile {
    name: Option<String>,
    #[serde(default)]
    description: String,
    build: Option<BuildSection>,
    machine: MachineSection,
    #[serde(default, rename = "console")]
    consoles: Vec<ConsoleSection>,
    #[serde(default)]
    boot: BootSection,
    #[serde(default, rename = "outcome")]
    outcomes: Vec<OutcomeSection>,
    #[serde(default, rename = "elf")]
    elfs: Vec<ElfSection>,
    #[serde(default, rename = "breakpoint")]
    breakpoints: Vec<toml::Spanned<BreakpointSection>>,
    /// Functions along the boot path, in the order a good boot reaches them.
    #[serde(default)]
    milestone_symbols: Vec<String>,
    /// The privilege level every milestone stop must be at.
    milestone_privilege: Option<toml::Spanned<PrivilegeFilter>>,
    /// CSRs whose writes every run records (`trace_csrs = ["henvcfg"]`).
    #[serde(default)]
    trace_csrs: Vec<String>,
    /// Writes recorded per writer and hart (`trace_hits_per_writer = 3`,
    /// default 1); later hits are counted only.
    trace_hits_per_writer: Option<u32>,
    /// Whether breakpoints on milestone symbols without `arm_after` are
    /// armed after an earlier milestone automatically (default: yes).
    auto_arm: Option<bool>,
    /// The QEMU versions the scenario applies to (a range); others are skipped.
    qemu: Option<String>,
    /// The file's text, for the line numbers of later errors.
    #[serde(skip)]
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BreakpointSection {
    at: String,
    hart: Option<u32>,
    privilege: Option<PrivilegeFilter>,
    dump: Option<Vec<String>>,
    max_hits: Option<u32>,
    watch: Option<WatchAccess>,
    len: Option<toml::Spanned<u64>>,
    #[serde(default)]
    once_per_hart: bool,
    arm_after: Option<ArmAfterSection>,
}

/// `arm_after = "guest:memset"` (an earlier breakpoint's `at`), or
/// `arm_after = { milestone = "...", console = "vm0" }`, or
/// `arm_after = { trap = 0xd }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ArmAfterSection {
    Breakpoint(String),
    Event(ArmEventSection),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArmEventSection {
    milestone: Option<String>,
    console: Option<String>,
    trap: Option<u64>,
}

impl ArmEventSection {
    /// Checks the event against the consoles' milestones; `Err` is the message.
    fn check(&self, consoles: &[ScenarioConsole]) -> std::result::Result<ArmEvent, String> {
        match (&self.milestone, self.trap, &self.console) {
            (Some(m), None, console) => {
                let on: Vec<&ScenarioConsole> = match console {
                    Some(name) => match consoles.iter().find(|c| &c.name == name) {
                        Some(c) => vec![c],
                        None => return Err(format!("no [[console]] named {name:?}")),
                    },
                    None => consoles.iter().collect(),
                };
                if !on.iter().any(|c| c.milestones.iter().any(|r| r.as_str() == m)) {
                    let known: Vec<&str> = on
                        .iter()
                        .flat_map(|c| c.milestones.iter().map(|r| r.as_str()))
                        .collect();
                    return Err(format!(
                        "{m:?} is not a milestone of {}; write one as listed: {known:?}",
                        console
                            .as_ref()
                            .map(|c| format!("console {c:?}"))
                            .unwrap_or_else(|| "any console".into())
                    ));
                }
                Ok(ArmEvent::Milestone {
                    console: console.clone(),
                    milestone: m.clone(),
                })
            }
            (None, Some(cause), None) if cause < 64 => Ok(ArmEvent::Trap { cause }),
            (None, Some(cause), None) => Err(format!("trap = {cause}: an exception code is below 64")),
            (None, Some(_), Some(_)) => Err("console goes with milestone, not with trap".into()),
            _ => Err("expected a breakpoint's `at` (\"guest:memset\"), \
                 { milestone = \"...\", console = \"NAME\" } (console optional) or { trap = CAUSE }"
                .into()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ElfSection {
    name: String,
    path: PathBuf,
    #[serde(default)]
    offset: Offset,
    load_address: Option<u64>,
    virt: Option<bool>,
}

/// `offset = 0x1000`, `offset = -4096` or, for what a TOML integer cannot
/// hold (TOML hex has no sign and stops at 2^63), `offset =
/// "-0xffffffff00000000"`: a signed amount of at most 2^64 - 1 either way,
/// kept modulo 2^64.
#[derive(Debug, Default, Clone, Copy)]
struct Offset(u64);

impl<'de> Deserialize<'de> for Offset {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Int(i64),
            Text(String),
        }
        let bad = |what: &str| {
            serde::de::Error::custom(format!(
                "{what}: expected an integer or a string such as \"-0xffffffff00000000\" \
                 (an optional -, then decimal or 0x hex, below 2^64)"
            ))
        };
        match Written::deserialize(d).map_err(|_: D::Error| bad("not an offset"))? {
            Written::Int(n) => Ok(Offset(n as u64)),
            Written::Text(t) => parse_offset(&t)
                .map(Offset)
                .ok_or_else(|| bad(&format!("{t:?}"))),
        }
    }
}

/// `-0x10`, `0x10`, `16`, `-16` (underscores allowed), modulo 2^64.
fn parse_offset(text: &str) -> Option<u64> {
    let t = text.trim().replace('_', "");
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(&t)),
    };
    let magnitude = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None if digits.starts_with(|c: char| c.is_ascii_digit()) => digits.parse().ok()?,
        None => return None,
    };
    Some(if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    })
}

/// A console's `attach`: `serial`, `pci-serial` or `device:NAME`.
#[derive(Debug)]
struct Attach(ConsoleAttach);

impl<'de> Deserialize<'de> for Attach {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        attach_from_str(&text).map(Attach).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?}: expected serial, pci-serial or device:NAME (a QEMU device taking \
                 chardev=, e.g. device:virtconsole)"
            ))
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildSection {
    command: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MachineSection {
    #[serde(default = "default_machine")]
    machine: String,
    cpu: String,
    #[serde(default = "default_smp")]
    smp: u32,
    #[serde(default = "default_memory")]
    memory: String,
    bios: Option<String>,
    kernel: Option<PathBuf>,
    /// Further QEMU options, checked by [`crate::qemu::arg_policy`].
    args: Option<toml::Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsoleSection {
    name: String,
    attach: Attach,
    #[serde(default)]
    milestones: Vec<String>,
    #[serde(default, rename = "step")]
    steps: Vec<toml::Spanned<StepSection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BootSection {
    #[serde(default = "default_boot_timeout")]
    timeout_secs: f64,
    #[serde(default = "default_quiet")]
    quiet_secs: f64,
}

impl Default for BootSection {
    fn default() -> Self {
        BootSection {
            timeout_secs: default_boot_timeout(),
            quiet_secs: default_quiet(),
        }
    }
}

fn default_quiet() -> f64 {
    3.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeSection {
    qemu: String,
    expect: toml::Spanned<OutcomeKind>,
    last_milestone: Option<toml::Spanned<LastMilestoneSection>>,
    trap: Option<toml::Spanned<TrapSection>>,
    because: Option<String>,
    #[serde(default)]
    csr: Vec<String>,
}

/// `last_milestone = "entry"` or `last_milestone = { console = "vm0", milestone = "entry" }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum LastMilestoneSection {
    Any(String),
    On { console: String, milestone: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrapSection {
    cause: u64,
    symbol: String,
    hart: Option<u32>,
}

fn default_machine() -> String {
    "virt".into()
}
fn default_smp() -> u32 {
    1
}
fn default_memory() -> String {
    "128M".into()
}
fn default_boot_timeout() -> f64 {
    60.0
}

/// What arms a breakpoint late: an earlier breakpoint (`arm_after = "at"`)
/// or an event; `Err` is the message.
fn arming(
    b: &BreakpointSection,
    earlier: &[BreakpointSpec],
    consoles: &[ScenarioConsole],
) -> std::result::Result<(Option<String>, Option<ArmEvent>), String> {
    match &b.arm_after {
        None => Ok((None, None)),
        Some(ArmAfterSection::Breakpoint(trigger)) => {
            if earlier.iter().any(|x| &x.at == trigger) {
                Ok((Some(trigger.clone()), None))
            } else if trigger == &b.at {
                Err("names this breakpoint itself".to_string())
            } else {
                Err(format!(
                    "{trigger:?} is not the `at` of an earlier [[breakpoint]]"
                ))
            }
        }
        Some(ArmAfterSection::Event(e)) => Ok((None, Some(e.check(consoles)?))),
    }
}

/// A scenario must be able to fail: a run that observes nothing must not
/// pass. Something observable is a console milestone, a console step that
/// waits for text, a CSR check at a breakpoint, or an expected trap; each
/// `boots` outcome needs one (a boot with none is "booted" the moment QEMU
/// starts, whatever runs), and a `hangs` outcome needs something that can
/// be missing.
/// `at` makes an error about a key (`outcome[1]`).
fn can_fail(
    path: &Path,
    consoles: &[ScenarioConsole],
    outcomes: &[ExpectedOutcome],
    at: impl Fn(&str, String) -> anyhow::Error,
) -> Result<()> {
    let prints = consoles
        .iter()
        .any(|c| !c.milestones.is_empty() || c.steps.iter().any(|s| s.expect.is_some()));
    if prints {
        return Ok(());
    }
    let what = if consoles.is_empty() {
        "the scenario has no [[console]]"
    } else {
        "no [[console]] has milestones or a step that waits for text"
    };
    for (i, o) in outcomes.iter().enumerate() {
        match o.kind {
            OutcomeKind::Boots if o.checks.is_empty() => {
                return Err(at(
                    &format!("outcome[{i}].expect"),
                    format!(
                        "expect = \"boots\" cannot fail: {what}, and the outcome has no csr check, \
                         so any run (even of a kernel that does nothing) would pass; list what a \
                         good boot prints in a [[console]]'s milestones, or add csr = [...] at a \
                         [[breakpoint]]"
                    ),
                ))
            }
            OutcomeKind::Hangs => {
                return Err(at(
                    &format!("outcome[{i}].expect"),
                    format!(
                        "expect = \"hangs\" can never be observed: {what}, and a hang is a \
                         milestone that does not appear; list what a good boot prints in a \
                         [[console]]'s milestones"
                    ),
                ))
            }
            OutcomeKind::Boots => {}
        }
    }
    if outcomes.is_empty() {
        return Err(anyhow!(
            "{}: nothing in this scenario can fail: {what} and there is no [[outcome]]; list what a \
             good boot prints in a [[console]]'s milestones",
            path.display()
        ));
    }
    Ok(())
}

impl ScenarioFile {
    /// Checks that a `last_milestone` names a milestone entry of the named
    /// console (or of some console); errors say `file:line: key: message`.
    /// Checks an expected trap against the machine and the ELF files: the
    /// hart must exist, and `elf:symbol` must name one of the `[[elf]]`s
    /// (the symbol itself is looked up when a run starts).
    fn expected_trap(
        &self,
        t: &toml::Spanned<TrapSection>,
        path: &Path,
        key: &str,
    ) -> Result<ExpectedTrap> {
        let (line, col) = position(&self.source, t.span().start);
        let fail = |msg: String| anyhow!("{}:{line}:{col}: {key}: {msg}", path.display());
        let t = t.get_ref();
        if let Some(h) = t.hart {
            if h >= self.machine.smp {
                return Err(fail(format!(
                    "hart {h} does not exist with smp = {}",
                    self.machine.smp
                )));
            }
        }
        let names: Vec<&str> = self.elfs.iter().map(|e| e.name.as_str()).collect();
        if names.is_empty() {
            return Err(fail(format!(
                "symbol \"{}\" needs the ELF file it is in: add an [[elf]]",
                t.symbol
            )));
        }
        if let Some((space, name)) = t.symbol.split_once(':') {
            if !names.contains(&space) || name.is_empty() {
                return Err(fail(format!(
                    "\"{}\": write SYMBOL or ELF:SYMBOL with ELF one of {}",
                    t.symbol,
                    names.join(", ")
                )));
            }
        }
        Ok(ExpectedTrap {
            cause: t.cause,
            symbol: t.symbol.clone(),
            hart: t.hart,
        })
    }

    fn last_milestone(
        &self,
        m: &toml::Spanned<LastMilestoneSection>,
        consoles: &[ScenarioConsole],
        path: &Path,
        key: &str,
    ) -> Result<LastMilestone> {
        let (line, col) = position(&self.source, m.span().start);
        let fail = |msg: String| anyhow!("{}:{line}:{col}: {key}: {msg}", path.display());
        let (console, milestone) = match m.get_ref() {
            LastMilestoneSection::Any(text) => (None, text),
            LastMilestoneSection::On { console, milestone } => (Some(console), milestone),
        };
        let candidates: Vec<&ScenarioConsole> = match console {
            Some(name) => match consoles.iter().find(|c| &c.name == name) {
                Some(c) => vec![c],
                None => return Err(fail(format!("no [[console]] named {name:?}"))),
            },
            None => consoles.iter().collect(),
        };
        let listed = candidates.iter().any(|c| {
            c.milestones
                .iter()
                .any(|r| r.as_str() == milestone.as_str())
        });
        if !listed {
            // Quoted as a TOML literal string: a milestone is a regex, and
            // its backslashes stand as written.
            let known: Vec<String> = candidates
                .iter()
                .flat_map(|c| c.milestones.iter().map(|r| format!("'{}'", r.as_str())))
                .collect();
            return Err(fail(format!(
                "'{milestone}' is not a milestone of {}; write one of the milestones as listed: {}",
                console
                    .map(|c| format!("console {c:?}"))
                    .unwrap_or_else(|| "any console".into()),
                known.join(", ")
            )));
        }
        Ok(LastMilestone {
            console: console.cloned(),
            milestone: milestone.clone(),
        })
    }

    /// An error about `key`: `file:line:col: key: message`, at where the
    /// file writes the key (`file: key: message` for a default).
    fn error_at(&self, path: &Path, key: &str, msg: String) -> anyhow::Error {
        match locate(&self.source, key) {
            Some((line, col)) => anyhow!("{}:{line}:{col}: {key}: {msg}", path.display()),
            None => anyhow!("{}: {key}: {msg}", path.display()),
        }
    }

    /// Parses the TOML; errors say `file:line:col: key: message` (the key
    /// as the later checks write it, `breakpoint[0].privilege`).
    pub(crate) fn parse(text: &str, path: &Path) -> Result<ScenarioFile> {
        let parsed: Result<ScenarioFile> = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let (l, c) = position(text, s.start);
                    let key = key_at(text, s.start)
                        .map(|k| format!(" {k}:"))
                        .unwrap_or_default();
                    format!(":{l}:{c}:{key}")
                })
                .unwrap_or_else(|| ":".into());
            anyhow!("{}{at} {}", path.display(), e.message().trim_end())
        });
        parsed.map(|file| ScenarioFile {
            source: text.to_string(),
            ..file
        })
    }

    /// Checks the values and resolves paths against the file's directory.
    pub(crate) fn into_scenario(self, path: &Path) -> Result<Scenario> {
        let where_ = |key: &str, msg: String| self.error_at(path, key, msg);
        let base = path.parent().unwrap_or(Path::new("."));
        let name = self.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        if self.machine.smp == 0 {
            return Err(where_("machine.smp", "must be at least 1".into()));
        }
        let (specs, consoles) = self.consoles(path)?;
        let extra_args = self.qemu_args(path, &consoles)?;
        let (boot_timeout, quiet_limit) = self.boot_limits(path)?;
        let breakpoints = self.breakpoints(path, &consoles)?;
        let (milestone_symbols, milestone_privilege) = self.milestone_symbols(path)?;
        let outcomes = self.outcomes(path, &consoles, &breakpoints)?;
        for (i, csr) in self.trace_csrs.iter().enumerate() {
            super::registers::check_traced_csr(csr)
                .map_err(|msg| where_(&format!("trace_csrs[{i}]"), msg))?;
        }
        let trace_hits_per_writer = self.trace_hits_per_writer.unwrap_or(1);
        if !(1..=MAX_TRACE_HITS).contains(&trace_hits_per_writer) {
            return Err(where_(
                "trace_hits_per_writer",
                format!("must be 1 to {MAX_TRACE_HITS} (writes recorded per writer and hart)"),
            ));
        }
        can_fail(path, &consoles, &outcomes, |k, msg| {
            self.error_at(path, k, msg)
        })?;
        let elfs = self.elfs(path, base)?;
        let qemu = self
            .qemu
            .as_deref()
            .map(|q| q.parse().map_err(|e| where_("qemu", format!("{e}"))))
            .transpose()?;
        let kernel = self.machine.kernel.as_ref().map(|k| base.join(k));
        Ok(Scenario {
            name,
            description: self.description,
            path: path.to_path_buf(),
            build: self.build.map(|b| b.command),
            machine: MachineSpec {
                machine: self.machine.machine,
                cpu: self.machine.cpu,
                smp: self.machine.smp,
                memory: self.machine.memory,
                bios: self.machine.bios,
                kernel,
                consoles: specs,
                extra_args,
            },
            consoles,
            boot_timeout,
            quiet_limit,
            outcomes,
            elfs,
            breakpoints,
            qemu,
            milestone_symbols,
            milestone_privilege,
            auto_arm: self.auto_arm.unwrap_or(true),
            trace_csrs: self.trace_csrs,
            trace_hits_per_writer,
        })
    }

    /// `[boot]`: the boot timeout and the quiet limit, checked.
    fn boot_limits(&self, path: &Path) -> Result<(Duration, Duration)> {
        let b = &self.boot;
        if !(b.timeout_secs > 0.0 && b.timeout_secs < 86_400.0) {
            return Err(self.error_at(
                path,
                "boot.timeout_secs",
                "must be between 0 and 86400".into(),
            ));
        }
        if !(b.quiet_secs > 0.0 && b.quiet_secs <= b.timeout_secs) {
            return Err(self.error_at(
                path,
                "boot.quiet_secs",
                "must be above 0 and at most boot.timeout_secs".into(),
            ));
        }
        Ok((
            Duration::from_secs_f64(b.timeout_secs),
            Duration::from_secs_f64(b.quiet_secs),
        ))
    }

    /// `machine.args`, as the argument policy allows them (refused options
    /// are an error naming the option and why, at the key's line).
    fn qemu_args(&self, path: &Path, consoles: &[ScenarioConsole]) -> Result<Vec<String>> {
        let Some(args) = &self.machine.args else {
            return Ok(Vec::new());
        };
        let names: Vec<String> = consoles.iter().map(|c| c.name.clone()).collect();
        let (line, col) = position(&self.source, args.span().start);
        crate::qemu::arg_policy::check(args.get_ref(), &names)
            .map_err(|e| anyhow!("{}:{line}:{col}: machine.args: {e:#}", path.display()))?;
        Ok(args.get_ref().clone())
    }

    /// The `[[console]]` tables: QEMU's serial ports and what each should print.
    fn consoles(&self, path: &Path) -> Result<(Vec<ConsoleSpec>, Vec<ScenarioConsole>)> {
        let where_ = |key: &str, msg: String| self.error_at(path, key, msg);
        let mut specs = Vec::new();
        let mut consoles = Vec::new();
        for (i, c) in self.consoles.iter().enumerate() {
            let key = format!("console[{i}]");
            if c.name.is_empty()
                || !c
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
            {
                return Err(where_(
                    &format!("{key}.name"),
                    format!("\"{}\": use letters, digits, - and _", c.name),
                ));
            }
            if consoles.iter().any(|x: &ScenarioConsole| x.name == c.name) {
                return Err(where_(
                    &format!("{key}.name"),
                    format!("console \"{}\" is named twice", c.name),
                ));
            }
            let attach = c.attach.0.clone();
            let milestones = c
                .milestones
                .iter()
                .enumerate()
                .map(|(j, m)| {
                    Regex::new(m)
                        .map_err(|e| where_(&format!("{key}.milestones[{j}]"), e.to_string()))
                })
                .collect::<Result<Vec<_>>>()?;
            let steps = check_steps(&c.steps, &key, path, |offset| {
                position(&self.source, offset)
            })?;
            specs.push(ConsoleSpec {
                name: c.name.clone(),
                attach,
            });
            consoles.push(ScenarioConsole {
                name: c.name.clone(),
                milestones,
                steps,
            });
        }
        Ok((specs, consoles))
    }

    /// The `[[breakpoint]]` tables, in order (`arm_after` names an earlier one).
    fn breakpoints(
        &self,
        path: &Path,
        consoles: &[ScenarioConsole],
    ) -> Result<Vec<BreakpointSpec>> {
        let mut breakpoints: Vec<BreakpointSpec> = Vec::new();
        for (i, spanned) in self.breakpoints.iter().enumerate() {
            let (line, col) = position(&self.source, spanned.span().start);
            let key = format!("breakpoint[{i}]");
            let at_line =
                |k: &str, msg: String| anyhow!("{}:{line}:{col}: {key}.{k}: {msg}", path.display());
            let b = spanned.get_ref();
            let mut bp = self.breakpoint(b, &breakpoints, consoles, at_line)?;
            bp.watch = self.watch(b, &key, path)?;
            breakpoints.push(bp);
        }
        Ok(breakpoints)
    }

    /// One `[[breakpoint]]`, checked against the earlier ones and the
    /// consoles. `at_line` makes an error that names the table's line.
    fn breakpoint(
        &self,
        b: &BreakpointSection,
        earlier: &[BreakpointSpec],
        consoles: &[ScenarioConsole],
        at_line: impl Fn(&str, String) -> anyhow::Error,
    ) -> Result<BreakpointSpec> {
        if earlier.iter().any(|x| x.at == b.at) {
            return Err(at_line("at", format!("\"{}\" is set twice", b.at)));
        }
        if let Some(h) = b.hart.filter(|&h| h >= self.machine.smp) {
            return Err(at_line(
                "hart",
                format!("hart {h} does not exist with smp = {}", self.machine.smp),
            ));
        }
        let dump = b
            .dump
            .clone()
            .unwrap_or_else(|| DEFAULT_DUMP.iter().map(|s| s.to_string()).collect());
        for (j, name) in dump.iter().enumerate() {
            super::registers::check_register(name)
                .map_err(|why| at_line(&format!("dump[{j}]"), why))?;
        }
        let (arm_after, arm_on) =
            arming(b, earlier, consoles).map_err(|why| at_line("arm_after", why))?;
        Ok(BreakpointSpec {
            watch: None,
            at: b.at.clone(),
            hart: b.hart,
            privilege: b.privilege,
            dump,
            max_hits: b.max_hits.unwrap_or(self.machine.smp),
            once_per_hart: b.once_per_hart,
            arm_after,
            arm_on,
            read_after_step: Vec::new(),
            hits_per_hart: 1,
            completed_write: None,
        })
    }

    /// A breakpoint's watchpoint (`watch` and `len`), if it has one;
    /// `key` is the breakpoint's (`breakpoint[2]`).
    fn watch(&self, b: &BreakpointSection, key: &str, path: &Path) -> Result<Option<WatchSpec>> {
        let len_error = |len: &toml::Spanned<u64>, why: &str| {
            let (line, col) = position(&self.source, len.span().start);
            Err(anyhow!("{}:{line}:{col}: {key}.len: {why}", path.display()))
        };
        match (b.watch, &b.len) {
            (None, None) => Ok(None),
            (None, Some(len)) => len_error(
                len,
                "len only applies to a watchpoint (watch = \"write\", \"read\" or \"access\")",
            ),
            (Some(access), None) => Ok(WatchSpec::new(access, 8)),
            (Some(access), Some(len)) => match WatchSpec::new(access, *len.get_ref()) {
                Some(w) => Ok(Some(w)),
                None => len_error(
                    len,
                    &format!("{}: a watchpoint covers 1 to 8 bytes", len.get_ref()),
                ),
            },
        }
    }

    /// `milestone_symbols` and the privilege level their stops count at.
    fn milestone_symbols(&self, path: &Path) -> Result<(Vec<String>, Option<PrivilegeFilter>)> {
        let where_ = |key: &str, msg: String| self.error_at(path, key, msg);
        let mut milestone_symbols: Vec<String> = Vec::new();
        for (i, m) in self.milestone_symbols.iter().enumerate() {
            let key = format!("milestone_symbols[{i}]");
            if m.trim().is_empty() {
                return Err(where_(
                    &key,
                    "is empty: name a function, e.g. \"guest:kvminithart\"".into(),
                ));
            }
            if milestone_symbols.contains(m) {
                return Err(where_(&key, format!("{m:?} is listed twice")));
            }
            milestone_symbols.push(m.clone());
        }
        let milestone_privilege = self.milestone_privilege.as_ref();
        if let (Some(p), true) = (milestone_privilege, milestone_symbols.is_empty()) {
            let (line, col) = position(&self.source, p.span().start);
            return Err(anyhow!(
                "{}:{line}:{col}: milestone_privilege: given without milestone_symbols (it says \
                 at which privilege level their stops count)",
                path.display()
            ));
        }
        Ok((milestone_symbols, milestone_privilege.map(|p| *p.get_ref())))
    }

    /// The `[[outcome]]` tables, checked against the consoles and breakpoints.
    fn outcomes(
        &self,
        path: &Path,
        consoles: &[ScenarioConsole],
        breakpoints: &[BreakpointSpec],
    ) -> Result<Vec<ExpectedOutcome>> {
        let where_ = |key: &str, msg: String| self.error_at(path, key, msg);
        let mut outcomes = Vec::new();
        for (i, o) in self.outcomes.iter().enumerate() {
            let key = format!("outcome[{i}]");
            let qemu = o
                .qemu
                .parse()
                .map_err(|e| where_(&format!("{key}.qemu"), format!("{e}")))?;
            let kind = o.expect.get_ref().clone();
            let last_milestone = o
                .last_milestone
                .as_ref()
                .map(|m| self.last_milestone(m, consoles, path, &format!("{key}.last_milestone")))
                .transpose()?;
            if kind == OutcomeKind::Boots && (last_milestone.is_some() || o.trap.is_some()) {
                return Err(self.error_at(
                    path,
                    &format!("{key}.expect"),
                    "last_milestone and trap only apply to expect = \"hangs\"".into(),
                ));
            }
            let trap = o
                .trap
                .as_ref()
                .map(|t| self.expected_trap(t, path, &format!("{key}.trap")))
                .transpose()?;
            outcomes.push(ExpectedOutcome {
                qemu,
                kind,
                last_milestone,
                trap,
                because: o.because.clone(),
                checks: self.csr_checks(o, &key, breakpoints, path)?,
            });
        }
        Ok(outcomes)
    }

    /// An outcome's `csr` checks: known registers and fields, each at a
    /// breakpoint that dumps the register.
    fn csr_checks(
        &self,
        o: &OutcomeSection,
        key: &str,
        breakpoints: &[BreakpointSpec],
        path: &Path,
    ) -> Result<Vec<CsrCheck>> {
        let mut checks = Vec::new();
        for (j, text) in o.csr.iter().enumerate() {
            let at = |msg: String| self.error_at(path, &format!("{key}.csr[{j}]"), msg);
            let check = CsrCheck::parse(text).map_err(at)?;
            match &check.field {
                Some(f) => super::registers::check_field(&check.csr, f),
                None => super::registers::check_register(&check.csr),
            }
            .map_err(|why| at(format!("{text:?}: {why}")))?;
            let Some(bp) = breakpoints.iter().find(|b| b.at == check.at) else {
                return Err(at(format!("no [[breakpoint]] with at = \"{}\"", check.at)));
            };
            if !bp.dump.iter().any(|d| d.eq_ignore_ascii_case(&check.csr)) {
                return Err(at(format!(
                    "breakpoint \"{}\" does not dump {}",
                    bp.at, check.csr
                )));
            }
            checks.push(check);
        }
        Ok(checks)
    }

    /// The `[[elf]]` tables, with paths relative to the scenario file.
    fn elfs(&self, path: &Path, base: &Path) -> Result<Vec<ScenarioElf>> {
        let where_ = |key: &str, msg: String| self.error_at(path, key, msg);
        let mut elfs: Vec<ScenarioElf> = Vec::new();
        for (i, e) in self.elfs.iter().enumerate() {
            if elfs.iter().any(|x| x.name == e.name) {
                return Err(where_(
                    &format!("elf[{i}].name"),
                    format!("\"{}\" is named twice", e.name),
                ));
            }
            elfs.push(ScenarioElf {
                name: e.name.clone(),
                path: base.join(&e.path),
                offset: e.offset.0,
                load_address: e.load_address,
                virt: e.virt,
            });
        }
        Ok(elfs)
    }
}
