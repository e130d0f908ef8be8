//! The root cause of a fault in plain words, from a small table of rules.
//!
//! Each rule is one short function from the [`Evidence`] (the fault, the
//! page-table walk behind it, the ELF files, the QEMU version) to an
//! optional [`Finding`]: what happened, the facts behind it, and the fix.
//! [`RULES`] lists them, root causes first and consequences (such as a
//! fault taken before the trap vector was set) last; [`diagnose`] runs them
//! all. To add a rule, write a function `fn my_rule(e: &Evidence) ->
//! Option<Finding>` and add a line to [`RULES`].

use std::fmt;
use std::ops::Range;

use serde::Serialize;

use super::console::ConsoleLine;
use super::walk::{
    access_name, render_step, trapped_from_guest, Missing, MissingKind, Stage, Translation,
};
use super::{emulation, FaultContext, TrapTarget};
use crate::elf::{disassemble, ElfSet, Instruction};
use crate::provenance;
use crate::qemu::virt_map::{virt_device, VIRT_DRAM};
use crate::qemu::{quirks, QemuVersion};
use crate::riscv::cause::code;
use crate::riscv::{envcfg, guest_physical_address, Access, Level};

/// What the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// The first unexpected trap.
    pub fault: &'a FaultContext,
    /// The page-table walk of the fault's address ([`super::walk::walk_fault`]).
    pub walk: Option<&'a Translation>,
    /// The ELF files.
    pub elfs: Option<&'a ElfSet>,
    /// The name of the guest's ELF space in `elfs` (code that ran at V=1).
    pub guest_space: Option<&'a str>,
    /// The name of the hypervisor's ELF space (code that ran at V=0).
    pub hypervisor_space: Option<&'a str>,
    /// The QEMU version in use.
    pub qemu: Option<QemuVersion>,
    /// The bytes at epc read from the target (through its physical
    /// address), for decoding the faulting instruction.
    pub code: Option<&'a [u8]>,
    /// The VM's RAM as guest-physical ranges. Without it, QEMU virt's layout
    /// is assumed: devices below 0x80000000, RAM from there on, its size
    /// judged from the G-stage table.
    pub(crate) guest_ram: Option<&'a [Range<u64>]>,
    /// The consoles' error lines that go with this fault (empty until the
    /// consoles are joined: see [`super::FaultReport::attach_console`]).
    pub(crate) console: &'a [ConsoleLine],
    /// The CSR writes the run recorded ([`crate::provenance`]), if traced.
    pub(crate) csr_writes: Option<&'a crate::provenance::CsrWrites>,
}

impl<'a> Evidence<'a> {
    /// Evidence holding only the fault.
    pub fn new(fault: &'a FaultContext) -> Evidence<'a> {
        Evidence {
            fault,
            walk: None,
            elfs: None,
            guest_space: None,
            hypervisor_space: None,
            qemu: None,
            code: None,
            guest_ram: None,
            console: &[],
            csr_writes: None,
        }
    }

    /// Whether the trap came from the guest (V=1); `None` when unknown.
    pub fn from_guest(&self) -> Option<bool> {
        trapped_from_guest(self.fault)
    }

    /// The ELF space of the code that trapped: the guest's at V=1, the
    /// hypervisor's at V=0 (or the only one given, for a kernel without a
    /// hypervisor).
    pub fn space(&self) -> Option<&'a str> {
        match self.from_guest() {
            Some(true) => self.guest_space,
            _ => self.hypervisor_space.or(self.guest_space),
        }
    }

    /// `guest:kvminithart+0x1e`, for an address in the trapping code's ELF.
    pub(crate) fn symbol(&self, address: u64) -> Option<String> {
        let space = self.space()?;
        let image = self.elfs?.space(space).ok()?;
        let hit = image.symbolize(address)?;
        hit.exact.then(|| format!("{space}:{hit}"))
    }

    /// Where the fault happened: the symbol of epc, else the capture's
    /// description of it, else the bare address.
    pub(crate) fn epc_place(&self) -> String {
        self.symbol(self.fault.epc)
            .or_else(|| {
                self.fault
                    .epc_place
                    .as_ref()
                    .map(|p| p.split(" at ").next().unwrap_or(p).to_string())
            })
            .unwrap_or_else(|| format!("{:#x}", self.fault.epc))
    }

    /// The faulting instruction: from tval when it holds the instruction
    /// bits (illegal instruction), else the bytes read at epc, else the
    /// ELF file's bytes there.
    pub(crate) fn instruction(&self) -> Option<Instruction> {
        let epc = self.fault.epc;
        if matches!(
            self.fault.cause.code,
            code::ILLEGAL_INST | code::VIRTUAL_INST
        ) && self.fault.tval != 0
        {
            let bytes = self.fault.tval.to_le_bytes();
            let len = if self.fault.tval & 3 == 3 { 4 } else { 2 };
            return disassemble(epc, &bytes[..len]);
        }
        if let Some(i) = self.code.and_then(|c| disassemble(epc, c)) {
            return Some(i);
        }
        let image = self.elfs?.space(self.space()?).ok()?;
        disassemble(
            epc,
            image.bytes_at(epc, 4).or_else(|| image.bytes_at(epc, 2))?,
        )
    }
}

/// One conclusion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's name.
    pub rule: &'static str,
    /// One or two sentences: what happened and why.
    pub summary: String,
    /// The facts behind it (register values, page-table entries).
    pub details: Vec<String>,
    /// What to change.
    pub fix: String,
}

impl fmt::Display for Finding {
    /// `[adue] summary`, the details indented, then `fix: ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[{}] {}", self.rule, self.summary)?;
        for d in &self.details {
            writeln!(f, "    {d}")?;
        }
        write!(f, "    fix: {}", self.fix)
    }
}

impl From<Finding> for super::Finding {
    /// The form diagnosis reports carry.
    fn from(f: Finding) -> Self {
        super::Finding {
            rule: f.rule.to_string(),
            summary: f.summary,
            details: f.details,
            fix: Some(f.fix),
        }
    }
}

/// A rule: a name, what it looks for, and the function that applies it.
#[derive(Clone, Copy)]
pub struct Rule {
    /// Short, stable, used in reports and tests: `adue`.
    pub(crate) name: &'static str,
    /// What it recognises, in one line.
    pub(crate) about: &'static str,
    /// The check.
    pub(crate) applies: fn(&Evidence) -> Option<Finding>,
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rule({}: {})", self.name, self.about)
    }
}

/// Every rule, root causes first, consequences last.
pub(crate) const RULES: &[Rule] = &[
    Rule {
        name: "adue",
        about: "a page fault on a PTE with A (or D) clear while hardware A/D updates are off",
        applies: adue,
    },
    Rule {
        name: "undelegated",
        about: "a guest exception the hypervisor did not delegate with hedeleg",
        applies: undelegated,
    },
    Rule {
        name: "emulation",
        about: "a trapped guest load/store the hypervisor could not decode: htinst 0 on QEMU < 8.0",
        applies: emulation::emulation,
    },
    Rule {
        name: "unmapped-mmio",
        about: "a guest-page fault on a device address the G-stage does not map",
        applies: unmapped_mmio,
    },
    Rule {
        name: "gstage-outside-ram",
        about: "a guest-page fault beyond the VM's memory",
        applies: gstage_outside_ram,
    },
    Rule {
        name: "gstage-hole",
        about: "a guest-page fault inside the VM's RAM where the G-stage has a hole",
        applies: gstage_hole,
    },
    Rule {
        name: "page-fault",
        about: "a page fault on an unmapped address or a leaf without the permission",
        applies: page_fault,
    },
    Rule {
        name: "counters",
        about: "a counter read (rdtime, rdcycle, ...) trapping on a clear counter-enable bit",
        applies: super::counters::counters,
    },
    Rule {
        name: "illegal-instruction",
        about: "an illegal or virtual instruction, decoded",
        applies: illegal_instruction,
    },
    Rule {
        name: "no-stvec",
        about: "a fault taken before the kernel installed its trap vector",
        applies: no_stvec,
    },
];

/// Applies every rule of [`RULES`], in order.
pub fn diagnose(e: &Evidence) -> Vec<Finding> {
    diagnose_with(RULES, e)
}

/// Applies `rules`, in order.
pub fn diagnose_with(rules: &[Rule], e: &Evidence) -> Vec<Finding> {
    rules.iter().filter_map(|r| (r.applies)(e)).collect()
}

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

/// The stage whose entries a page fault is about: the first stage for
/// codes 12/13/15, the G-stage for 20/21/23.
fn faulting_stage(e: &Evidence) -> Option<Stage> {
    let c = e.fault.cause;
    if c.interrupt {
        return None;
    }
    if c.is_first_stage_page_fault() {
        Some(if e.from_guest() == Some(true) {
            Stage::VS
        } else {
            Stage::S
        })
    } else if c.is_guest_page_fault() {
        Some(Stage::G)
    } else {
        None
    }
}

/// The missing items of the faulting stage.
fn missing_at(walk: &Translation, stage: Stage) -> Vec<&Missing> {
    walk.missing.iter().filter(|m| m.stage == stage).collect()
}

/// `0x802005da (guest:kvminithart+0x1e)` for a fetch, `0x81000000 (a load
/// by guest:foo+0x20)` otherwise.
fn address_and_place(e: &Evidence, address: u64, access: Access) -> String {
    if access == Access::Fetch {
        let place = e
            .symbol(address)
            .or_else(|| (address == e.fault.epc).then(|| e.epc_place()));
        match place {
            Some(s) => format!("{address:#x} ({s})"),
            None => format!("{address:#x}"),
        }
    } else {
        format!(
            "{address:#x} (a {} by {})",
            access_name(access),
            e.epc_place()
        )
    }
}

/// `A=0`, `D=0` or both when A and/or D are all that is missing, else None.
fn only_ad_missing(missing: &[&Missing]) -> Option<&'static str> {
    let is = |m: &&Missing, accessed: bool| match m.kind {
        MissingKind::Accessed { .. } => accessed,
        MissingKind::Dirty { .. } => !accessed,
        _ => false,
    };
    if missing.is_empty() || !missing.iter().all(|m| is(m, true) || is(m, false)) {
        return None;
    }
    let a = missing.iter().any(|m| is(m, true));
    let d = missing.iter().any(|m| is(m, false));
    Some(match (a, d) {
        (true, true) => "A=0 and D=0",
        (true, false) => "A=0",
        _ => "D=0",
    })
}

/// The ADUE rule: the faulting stage's leaf has A clear (or D clear on a
/// store) and nothing else is wrong with it, while the hart does not update
/// A/D in hardware (henvcfg.ADUE for the VS-stage, menvcfg.ADUE for the
/// G-stage and for satp at V=0).
fn adue(e: &Evidence) -> Option<Finding> {
    let stage = faulting_stage(e)?;
    let walk = e.walk?;
    let missing = missing_at(walk, stage);
    let bits = only_ad_missing(&missing)?;
    let first = missing[0];
    let control = if stage == Stage::G {
        &walk.regime.ad_gstage
    } else {
        &walk.regime.ad_first
    };
    let register = control.register.unwrap_or("menvcfg");
    let address = if stage == Stage::G {
        walk.guest_physical.unwrap_or(walk.address)
    } else {
        walk.address
    };
    let menvcfg = e.fault.csr("menvcfg");
    let henvcfg = e.fault.csr("henvcfg");
    let m_adue = menvcfg.map(envcfg::adue);
    let summary = format!(
        "{} PTE for {} has {bits} and {register}.ADUE=0: the hart does not set A/D in hardware, so the {} faults.",
        stage.name(),
        address_and_place(e, address, walk.access),
        access_name(walk.access),
    );
    let mut details = Vec::new();
    let w = walk.stage(stage)?;
    if let Some(step) = first.level.and_then(|l| w.step(l)) {
        details.push(format!(
            "{}   <- {}",
            render_step(stage, step),
            first.pointer()
        ));
    }
    for (name, v) in [("menvcfg", menvcfg), ("henvcfg", henvcfg)] {
        if let Some(v) = v {
            details.push(format!("{name} = {v:#x} (ADUE={})", envcfg::adue(v) as u8));
        }
    }
    if stage == Stage::VS {
        details.push(quirks::henvcfg_history(e.qemu));
    } else {
        details.push("G-stage and single-stage A/D updates follow menvcfg.ADUE, which M-mode firmware (OpenSBI) controls.".to_string());
    }
    let mut fix = adue_fix(stage, m_adue);
    // Who writes the A/D-update bit's register in the images, and the line
    // to change (the VS-stage's henvcfg is the hypervisor's to set).
    if let Some(story) = e.elfs.filter(|_| stage == Stage::VS).and_then(|elfs| {
        provenance::explain::missing_bit(
            elfs,
            e.csr_writes,
            "henvcfg",
            61,
            "ADUE",
            Some(&quirks::HENVCFG_RESET_ADUE),
        )
    }) {
        details.extend(story.details);
        fix = format!("{} Or set A and D in the guest's PTEs.", story.fix);
        if m_adue == Some(false) {
            fix.push_str(MENVCFG_TOO);
        }
    }
    Some(Finding {
        rule: "adue",
        summary,
        details,
        fix,
    })
}

/// Said after the VS-stage fix when menvcfg.ADUE is clear as well.
const MENVCFG_TOO: &str = " menvcfg.ADUE is 0 too, and henvcfg.ADUE stays read-only 0 until M-mode firmware sets menvcfg bit 61.";

/// What to change for an A/D fault at `stage` (`m_adue`: menvcfg.ADUE, if
/// read).
fn adue_fix(stage: Stage, m_adue: Option<bool>) -> String {
    let mut fix = match stage {
        Stage::VS => "Set henvcfg bit 61 (ADUE) in the hypervisor (henvcfg |= 1 << 61), or set A and D in the guest's PTEs.".to_string(),
        Stage::G => "Set A and D in the G-stage leaf PTEs in the hypervisor, or have M-mode firmware set menvcfg bit 61 (ADUE).".to_string(),
        Stage::S => "Set A and D in the kernel's PTEs, or have M-mode firmware set menvcfg bit 61 (ADUE).".to_string(),
    };
    if stage == Stage::VS && m_adue == Some(false) {
        fix.push_str(MENVCFG_TOO);
    }
    fix
}

/// The exceptions a guest kernel handles itself: misaligned accesses,
/// access faults, illegal instructions, breakpoints, system calls from its
/// user programs and page faults. (OpenSBI-style hypervisors keep ecall
/// from VS, guest-page faults and virtual instructions.)
pub(crate) const GUEST_HANDLED: &[u64] = {
    use code::*;
    &[
        INST_MISALIGNED,
        INST_ACCESS_FAULT,
        ILLEGAL_INST,
        BREAKPOINT,
        LOAD_MISALIGNED,
        LOAD_ACCESS_FAULT,
        STORE_MISALIGNED,
        STORE_ACCESS_FAULT,
        ECALL_U,
        INST_PAGE_FAULT,
        LOAD_PAGE_FAULT,
        STORE_PAGE_FAULT,
    ]
};

/// The undelegated rule: a guest-handled exception from V=1 came to HS-mode
/// because hedeleg lacks its bit.
fn undelegated(e: &Evidence) -> Option<Finding> {
    let c = e.fault.cause;
    if c.interrupt || e.fault.to != TrapTarget::HS || e.from_guest() != Some(true) {
        return None;
    }
    if !GUEST_HANDLED.contains(&c.code) {
        return None;
    }
    let hedeleg = e.fault.csr("hedeleg")?;
    if hedeleg >> c.code & 1 == 1 {
        return None;
    }
    let from = if e.fault.from.level == Level::User {
        "VU"
    } else {
        "VS"
    };
    Some(Finding {
        rule: "undelegated",
        summary: format!(
            "{c} from {from}-mode at {} went to the hypervisor: hedeleg ({hedeleg:#x}) lacks bit {} ({}), so the guest's own trap handler never sees it.",
            e.epc_place(),
            c.code,
            c.short
        ),
        details: vec![
            format!("hedeleg = {hedeleg:#x}, bit {} = 0", c.code),
            format!("sepc = {:#x}, stval = {:#x}", e.fault.epc, e.fault.tval),
        ],
        fix: format!(
            "Delegate it in the hypervisor: hedeleg |= 1 << {} (or forward it to the guest: set vsepc, vscause, vstval and enter vstvec).",
            c.code
        ),
    })
}

/// Where a guest-page fault's guest-physical address lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GpaKind {
    Mmio,
    OutsideRam,
    Hole,
}

/// The guest-physical address of a guest-page fault, whether it was an
/// implicit access (reading a VS-stage entry), and what kind of place it is.
fn guest_page_fault(e: &Evidence) -> Option<(u64, bool, GpaKind)> {
    let c = e.fault.cause;
    if !c.is_guest_page_fault() || emulation::applies(e) {
        return None;
    }
    // An implicit access (the hart reading a VS-stage entry) has its own,
    // 8-byte aligned address in htval: tval's low bits belong to the
    // original access.
    let implicit = matches!(e.fault.htinst, Some(0x3000 | 0x3020))
        || e.walk.is_some_and(|w| w.first.pte_gstage.is_some());
    let gpa = match e.fault.htval {
        Some(h) if implicit => h << 2,
        Some(h) => guest_physical_address(h, e.fault.tval),
        None => e.walk?.guest_physical?,
    };
    // The G-stage did translate it: something else is wrong (A/D,
    // permissions), which other rules explain.
    if e.walk
        .and_then(|w| w.stage(Stage::G))
        .is_some_and(|g| g.end.translated())
    {
        return None;
    }
    let kind = match e.guest_ram {
        Some(ram) if ram.iter().any(|r| r.contains(&gpa)) => GpaKind::Hole,
        Some(_) if gpa < VIRT_DRAM.start || virt_device(gpa).is_some() => GpaKind::Mmio,
        Some(_) => GpaKind::OutsideRam,
        None if gpa < VIRT_DRAM.start => GpaKind::Mmio,
        None => {
            // RAM size unknown: a walk that reached the last level found
            // other pages mapped around this one (a hole); one that stopped
            // higher found nothing mapped nearby (beyond RAM).
            let g = e.walk.and_then(|w| w.stage(Stage::G));
            match g.map(|g| &g.end) {
                Some(end) if end.level() == Some(0) => GpaKind::Hole,
                Some(_) => GpaKind::OutsideRam,
                None => GpaKind::OutsideRam,
            }
        }
    };
    Some((gpa, implicit, kind))
}

fn guest_page_fault_details(e: &Evidence, gpa: u64, implicit: bool) -> Vec<String> {
    let f = e.fault;
    let mut d = vec![format!(
        "{} at {}: stval {:#x}, htval {}, htinst {}",
        f.cause,
        e.epc_place(),
        f.tval,
        f.htval.map(hex).unwrap_or_else(|| "?".into()),
        f.htinst.map(hex).unwrap_or_else(|| "?".into()),
    )];
    if implicit {
        d.push(format!(
            "the guest-physical address {gpa:#x} is that of a VS-stage page-table entry the hart was reading"
        ));
    }
    if let Some(g) = e.walk.and_then(|w| w.stage(Stage::G)) {
        for s in &g.steps {
            d.push(render_step(Stage::G, s));
        }
        d.push(format!("G-stage: {}", g.end.describe(Stage::G)));
    }
    d
}

/// The unmapped-mmio rule: a guest-page fault on a device address.
fn unmapped_mmio(e: &Evidence) -> Option<Finding> {
    let (gpa, implicit, kind) = guest_page_fault(e)?;
    if kind != GpaKind::Mmio {
        return None;
    }
    let device = virt_device(gpa)
        .map(|d| format!(" (QEMU virt's {d})"))
        .unwrap_or_default();
    let access = fault_access_name(e);
    let mut details = guest_page_fault_details(e, gpa, implicit);
    if e.fault.htinst == Some(0) && e.qemu.is_some_and(|v| !quirks::FILLS_HTINST.applies(v)) {
        details.push("QEMU before 8.0 leaves htinst 0 on guest-page faults: an emulator must read the instruction from guest memory.".into());
    }
    Some(Finding {
        rule: "unmapped-mmio",
        summary: format!(
            "access to unmapped MMIO at {gpa:#x}{device}: a {access} by {} that the hypervisor's G-stage does not map for this VM.",
            e.epc_place()
        ),
        details,
        fix: format!(
            "Map the device page {:#x} in the VM's G-stage table, or emulate the access in the hypervisor's guest-page-fault handler (decode the instruction from htinst, or from guest memory when htinst is 0) and step over it.",
            gpa & !0xfff
        ),
    })
}

/// The gstage-outside-ram rule: a guest-page fault beyond the VM's memory.
fn gstage_outside_ram(e: &Evidence) -> Option<Finding> {
    let (gpa, implicit, kind) = guest_page_fault(e)?;
    if kind != GpaKind::OutsideRam {
        return None;
    }
    let how = if e.guest_ram.is_some() {
        "outside the VM's RAM"
    } else {
        "beyond the VM's memory (nothing is mapped in the G-stage around it)"
    };
    Some(Finding {
        rule: "gstage-outside-ram",
        summary: format!(
            "guest-physical address {gpa:#x} is {how}: a {} by {} takes a guest-page fault.",
            fault_access_name(e),
            e.epc_place()
        ),
        details: guest_page_fault_details(e, gpa, implicit),
        fix: "Give the VM the memory its kernel expects (its RAM size, e.g. PHYSTOP), or find why the guest uses this address.".into(),
    })
}

/// The gstage-hole rule: a guest-page fault inside the VM's RAM.
fn gstage_hole(e: &Evidence) -> Option<Finding> {
    let (gpa, implicit, kind) = guest_page_fault(e)?;
    if kind != GpaKind::Hole {
        return None;
    }
    let mut details = guest_page_fault_details(e, gpa, implicit);
    if e.guest_ram.is_none() {
        details.push(
            "the pages around it are mapped in the same G-stage table: a hole, not the end of RAM"
                .into(),
        );
    }
    Some(Finding {
        rule: "gstage-hole",
        summary: format!(
            "hole in the G-stage mapping at {gpa:#x}: the page {:#x} of the VM's RAM is not mapped, so a {} by {} takes a guest-page fault.",
            gpa & !0xfff,
            fault_access_name(e),
            e.epc_place()
        ),
        details,
        fix: format!(
            "Map guest-physical page {:#x} in the VM's G-stage table (V R W X U, with A and D set).",
            gpa & !0xfff
        ),
    })
}

/// `fetch`, `load` or `store`: what the faulting instruction did (the
/// guest-page-fault rules' causes all say).
fn fault_access_name(e: &Evidence) -> &'static str {
    access_name(e.fault.cause.access().unwrap_or(Access::Load))
}

/// The page-fault rule: the faulting stage has no usable leaf, or the leaf
/// lacks the permission (the A/D case is the adue rule's, guest-page
/// faults outside a mapping are the G-stage rules').
fn page_fault(e: &Evidence) -> Option<Finding> {
    let stage = faulting_stage(e)?;
    let walk = e.walk?;
    let first = missing_at(walk, stage).into_iter().find(|m| {
        !matches!(
            m.kind,
            MissingKind::Accessed { .. } | MissingKind::Dirty { .. }
        )
    })?;
    if stage == Stage::G && matches!(first.kind, MissingKind::Mapping { .. }) {
        return None;
    }
    let address = if stage == Stage::G {
        walk.guest_physical.unwrap_or(walk.address)
    } else {
        walk.address
    };
    let what = address_and_place(e, address, walk.access);
    let (summary, fix) = match &first.kind {
        MissingKind::Mapping { end } => (
            format!(
                "{} has no mapping for {what}: {}.",
                stage.name(),
                end.describe(stage)
            ),
            format!(
                "Map the address in the {} table ({}), or find why the code uses it.",
                stage.name(),
                stage.root_register()
            ),
        ),
        MissingKind::Permission { bit } => (
            format!(
                "the {} leaf for {what} lacks {bit}: the {} needs it.",
                stage.name(),
                access_name(walk.access)
            ),
            format!("Set {bit} in the leaf PTE, or find why the code makes this access."),
        ),
        MissingKind::User { u, reason } => (
            format!(
                "the {} leaf for {what} has U={}: {reason}.",
                stage.name(),
                *u as u8
            ),
            "Fix the U bit of the leaf PTE (or sstatus.SUM for kernel access to user pages)."
                .to_string(),
        ),
        MissingKind::Accessed { .. } | MissingKind::Dirty { .. } => unreachable!("filtered above"),
    };
    let mut details = Vec::new();
    if let Some(w) = walk.stage(stage) {
        for s in &w.steps {
            details.push(render_step(stage, s));
        }
    }
    details.push(format!("missing: {first}"));
    Some(Finding {
        rule: "page-fault",
        summary,
        details,
        fix,
    })
}

const INT_REGS: &[&str] = &[
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "fp", "s1", "a0", "a1", "a2", "a3",
    "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3",
    "t4", "t5", "t6",
];

/// What an instruction that trapped as illegal (or virtual) is, in words.
pub(crate) fn explain_instruction(ins: &Instruction, from: &str) -> String {
    let raw = ins.raw;
    if ins.length == 4 && raw == 0xc000_1073 {
        return "csrrw zero, cycle, zero, a write to the read-only CSR cycle: the canonical illegal instruction, always trapping".into();
    }
    if raw == 0 {
        return "all zero bits: the pc ran into zeroed memory or data, not code".into();
    }
    if (ins.length == 4 && raw == 0xffff_ffff) || (ins.length == 2 && raw == 0xffff) {
        return "all one bits: the pc ran into erased or uninitialised memory".into();
    }
    if ins.illegal {
        return "not a valid RV64GC instruction".into();
    }
    if ins.length == 4 && raw & 0x7f == 0x73 {
        let funct3 = (raw >> 12) & 7;
        if funct3 != 0 && funct3 != 4 {
            let csr = raw >> 20;
            let rs1 = (raw >> 15) & 0x1f;
            let writes = matches!(funct3, 1 | 5) || rs1 != 0;
            let name = ins
                .text
                .split([' ', ','])
                .skip(1)
                .map(str::trim)
                .find(|t| !t.is_empty() && !INT_REGS.contains(t) && t.parse::<i64>().is_err())
                .unwrap_or("?")
                .to_string();
            if writes && csr >> 10 == 3 {
                return format!("a write to the read-only CSR {name} ({csr:#x})");
            }
            let level = match (csr >> 8) & 3 {
                0 => "U",
                1 => "S",
                2 => "HS (hypervisor)",
                _ => "M",
            };
            return format!(
                "an access to CSR {name} ({csr:#x}), which needs {level}-mode or higher (and may not exist on this hart); it ran in {from}-mode"
            );
        }
        return format!("a privileged instruction not allowed in {from}-mode here");
    }
    "an instruction this hart does not implement or allow here".into()
}

/// The illegal-instruction rule: decode the instruction and say what it is.
fn illegal_instruction(e: &Evidence) -> Option<Finding> {
    let c = e.fault.cause;
    if c.interrupt || !matches!(c.code, code::ILLEGAL_INST | code::VIRTUAL_INST) {
        return None;
    }
    // A counter read with its enable bit clear is the counters rule's: it
    // names the bit; this one would only repeat the trap, less precisely.
    if super::counters::counters(e).is_some() {
        return None;
    }
    let from = e.fault.from.to_string();
    let ins = e.instruction();
    let (what, details) = match &ins {
        Some(i) => (
            format!(
                "{:#0w$x} is `{}`: {}",
                i.raw,
                i.text,
                explain_instruction(i, &from),
                w = i.length * 2 + 2
            ),
            vec![format!(
                "tval = {:#x}, epc = {:#x}",
                e.fault.tval, e.fault.epc
            )],
        ),
        None => (
            format!(
                "the instruction could not be read (tval {:#x})",
                e.fault.tval
            ),
            vec![],
        ),
    };
    let virtual_inst = c.is(code::VIRTUAL_INST);
    let kind = if virtual_inst {
        "virtual instruction (a hypervisor-only instruction or CSR used in VS/VU-mode)"
    } else {
        "illegal instruction"
    };
    Some(Finding {
        rule: "illegal-instruction",
        summary: format!("{kind} at {}: {what}.", e.epc_place()),
        details,
        fix: if virtual_inst {
            "Emulate the instruction in the hypervisor's virtual-instruction handler, or keep the guest from using it.".into()
        } else {
            "Correct the instruction (or the jump that led there); if it is meant to be emulated, the handler that receives cause 2 must do so.".into()
        },
    })
}

/// The no-stvec rule: a fault taken to VS (or S) while the trap vector is 0,
/// or still the kernel's entry point (OpenSBI leaves stvec = the payload's
/// entry for a kernel it boots directly).
fn no_stvec(e: &Evidence) -> Option<Finding> {
    let (name, value, who) = match e.fault.to {
        TrapTarget::VS => ("vstvec", e.fault.csr("vstvec")?, "the guest"),
        TrapTarget::HS if e.from_guest() != Some(true) => {
            ("stvec", e.fault.csr("stvec")?, "the kernel")
        }
        _ => return None,
    };
    let base = value & !3;
    let entry = e
        .space()
        .and_then(|s| e.elfs?.space(s).ok())
        .map(|i| i.entry())
        .filter(|&a| a != 0);
    let place = e.epc_place();
    let cause = e.fault.cause;
    let (summary, details) = if base == 0 {
        (
            format!(
                "{who} had not installed its trap vector yet ({name} = 0) when it took {cause} at {place}; the fault loops at pc 0 (the jump to 0 faults again)."
            ),
            vec![
                "at pc 0 the hart takes instruction page faults (or access faults) over and over; scause and stval there describe the loop, not this first fault".to_string(),
            ],
        )
    } else if Some(base) == entry {
        (
            format!(
                "{name} still holds the kernel's entry point {base:#x}, as OpenSBI leaves it, when {who} took {cause} at {place}: the fault restarts the kernel instead of reaching a trap handler."
            ),
            vec!["the boot banner shows twice, then the restarted kernel fails in its own way".to_string()],
        )
    } else {
        return None;
    };
    Some(Finding {
        rule: "no-stvec",
        summary,
        details,
        fix: "Install the trap vector (csrw stvec) before anything that can fault, and fix the fault itself (see the other findings).".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::walk::tests::{adue_context, fixture, fixture_with, Mem};
    use crate::diagnosis::walk::{walk_fault, Regime};
    use crate::riscv::{Cause, PrivilegeLevel};
    use std::collections::BTreeMap;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn walked(ctx: &FaultContext, mem: &mut Mem, svadu: bool) -> Translation {
        block_on(walk_fault(ctx, svadu, mem)).unwrap()
    }

    fn rules_fired(e: &Evidence) -> Vec<&'static str> {
        diagnose(e).iter().map(|f| f.rule).collect()
    }

    /// The findings for `ctx` with its translation walked in `mem`.
    fn diagnose_walked(
        ctx: &FaultContext,
        mem: &mut Mem,
        svadu: bool,
        qemu: Option<QemuVersion>,
    ) -> Vec<Finding> {
        let walk = walked(ctx, mem, svadu);
        let mut e = Evidence::new(ctx);
        e.walk = Some(&walk);
        e.qemu = qemu;
        diagnose(&e)
    }

    /// A trap on hart 0 to HS from `from` with `csrs` and nothing else known.
    fn bare_context(
        from: PrivilegeLevel,
        code: u64,
        epc: u64,
        tval: u64,
        csrs: BTreeMap<String, u64>,
    ) -> FaultContext {
        FaultContext {
            hart: 0,
            from,
            to: TrapTarget::HS,
            cause: Cause::exception(code),
            epc,
            tval,
            htval: None,
            htinst: None,
            epc_place: None,
            sbi_calls_after: 0,
            csrs,
        }
    }

    /// The ADUE hang with the write-up's values (QEMU 9.2.0: menvcfg
    /// 0x80000000000000f0, henvcfg 0x8000000000000000, scause 0xc at
    /// kvminithart+0x1e) and this machine's (QEMU 10.0.2: menvcfg with ADUE).
    #[test]
    fn adue_on_the_hang() {
        let mut f = fixture();
        let mut ctx = adue_context(&f);
        let found = diagnose_walked(&ctx, &mut f.mem, true, Some(QemuVersion::new(10, 0, 2)));
        let names: Vec<_> = found.iter().map(|f| f.rule).collect();
        assert_eq!(names, ["adue", "no-stvec"]);
        let a = &found[0];
        assert_eq!(
            a.summary,
            "VS-stage PTE for 0x802005da (guest:kvminithart+0x1e) has A=0 and henvcfg.ADUE=0: the hart does not set A/D in hardware, so the fetch faults."
        );
        assert!(
            a.fix
                .starts_with("Set henvcfg bit 61 (ADUE) in the hypervisor"),
            "{}",
            a.fix
        );
        assert!(!a.fix.contains("menvcfg.ADUE is 0"), "{}", a.fix);
        assert!(a.details[0].starts_with("VS L0 @0x"), "{:?}", a.details);
        assert!(
            a.details[0].contains("A=0 D=0 -> ppn 0x80200   <- A=0 and henvcfg.ADUE=0"),
            "{:?}",
            a.details
        );
        assert!(
            a.details.iter().any(|d| d.contains("this is 10.0.2")),
            "{:?}",
            a.details
        );
        let text = a.to_string();
        assert!(
            text.starts_with("[adue] VS-stage PTE for 0x802005da"),
            "{text}"
        );
        assert!(text.contains("\n    fix: Set henvcfg bit 61"), "{text}");

        // The write-up's QEMU 9.2.0 values: menvcfg.ADUE clear as well.
        ctx.csrs.insert("menvcfg".into(), 0x8000_0000_0000_00f0);
        ctx.csrs.insert("henvcfg".into(), 0x8000_0000_0000_0000);
        let a = &diagnose_walked(&ctx, &mut f.mem, true, Some(QemuVersion::new(9, 2, 0)))[0];
        assert_eq!(a.rule, "adue");
        assert!(
            a.summary.contains("has A=0 and henvcfg.ADUE=0"),
            "{}",
            a.summary
        );
        assert!(a.fix.contains("menvcfg.ADUE is 0 too"), "{}", a.fix);
        assert!(
            a.details
                .iter()
                .any(|d| d == "menvcfg = 0x80000000000000f0 (ADUE=0)"),
            "{:?}",
            a.details
        );

        // QEMU 7.2: no Svadu, the hart sets A itself: no ADUE finding.
        let found = diagnose_walked(&ctx, &mut f.mem, false, Some(QemuVersion::new(7, 2, 22)));
        assert!(!found.iter().any(|f| f.rule == "adue"), "{found:?}");
        // henvcfg.ADUE set: nothing wrong with the PTE.
        ctx.csrs.insert("menvcfg".into(), 0xa000_0000_0000_00f0);
        ctx.csrs.insert("henvcfg".into(), 0xa000_0000_0000_0000);
        let found = diagnose_walked(&ctx, &mut f.mem, true, None);
        assert!(!found.iter().any(|f| f.rule == "adue"), "{found:?}");
    }

    #[test]
    fn adue_on_a_store_and_in_the_g_stage() {
        // A store to a guest page whose PTE has A set but D clear.
        let mut f = fixture();
        let mut ctx = adue_context(&f);
        let leaf_at = {
            let w = walked(&ctx, &mut f.mem, true);
            w.first.leaf().unwrap().read_at
        };
        let old = f.mem.words[&leaf_at];
        f.mem.words.insert(leaf_at, old | 0x40 | 0x04 | 0x02);
        ctx.cause = Cause::exception(15);
        let a = &diagnose_walked(&ctx, &mut f.mem, true, None)[0];
        assert_eq!(a.rule, "adue");
        assert!(
            a.summary.starts_with(
                "VS-stage PTE for 0x802005da (a store by guest:kvminithart+0x1e) has D=0"
            ),
            "{}",
            a.summary
        );
        f.mem.words.insert(leaf_at, old);

        // G-stage leaf with A clear, menvcfg.ADUE=0: a guest-page fault.
        let g_leaf = walked(&ctx, &mut f.mem, true)
            .gstage
            .unwrap()
            .leaf()
            .unwrap()
            .read_at;
        let g_old = f.mem.words[&g_leaf];
        f.mem.words.insert(g_leaf, g_old & !0xc0);
        ctx.csrs.insert("menvcfg".into(), 0);
        ctx.csrs.insert("henvcfg".into(), 0);
        ctx.cause = Cause::exception(20);
        ctx.to = TrapTarget::HS;
        ctx.htval = Some(0x8020_05da >> 2);
        // With ADUE off for the VS-stage too, set the VS leaf's A so that only the G-stage is at fault.
        f.mem.words.insert(leaf_at, old | 0x40);
        let found = diagnose_walked(&ctx, &mut f.mem, true, None);
        assert_eq!(found[0].rule, "adue", "{found:?}");
        assert!(
            found[0].summary.starts_with("G-stage PTE for 0x802005da"),
            "{}",
            found[0].summary
        );
        assert!(
            found[0].summary.contains("menvcfg.ADUE=0"),
            "{}",
            found[0].summary
        );
        assert!(
            found[0].fix.contains("G-stage leaf PTEs"),
            "{}",
            found[0].fix
        );
        assert!(
            !found.iter().any(|f| f.rule.starts_with("gstage")),
            "{found:?}"
        );
    }

    #[test]
    fn undelegated_ecall_from_vu() {
        // The nodeleg build: hedeleg without bit 8, init's first write().
        let mut csrs = BTreeMap::new();
        csrs.insert("hedeleg".to_string(), 0xb0ff);
        csrs.insert("hstatus".to_string(), 0x2_0000_0080);
        let from = PrivilegeLevel::from_qemu_priv(0).with_virt(true);
        let ctx = FaultContext {
            htval: Some(0),
            htinst: Some(0),
            ..bare_context(from, 8, 0x4000_00a8, 0, csrs)
        };
        let e = Evidence::new(&ctx);
        let found = diagnose(&e);
        assert_eq!(found.len(), 1, "{found:?}");
        let f = &found[0];
        assert_eq!(f.rule, "undelegated");
        assert_eq!(
            f.summary,
            "exception 8 (environment call from U-mode or VU-mode) from VU-mode at 0x400000a8 went to the hypervisor: hedeleg (0xb0ff) lacks bit 8 (ecall_u), so the guest's own trap handler never sees it."
        );
        assert!(f
            .fix
            .starts_with("Delegate it in the hypervisor: hedeleg |= 1 << 8"));
        // Delegated: no finding. An ecall from VS (the SBI) is not the guest's.
        let mut ok = ctx.clone();
        ok.csrs.insert("hedeleg".into(), 0xb1ff);
        assert!(rules_fired(&Evidence::new(&ok)).is_empty());
        let mut sbi = ctx.clone();
        sbi.cause = Cause::exception(10);
        sbi.from = PrivilegeLevel::from_qemu_priv(5);
        assert!(rules_fired(&Evidence::new(&sbi)).is_empty());
        // From the hypervisor itself (V=0): not a delegation problem.
        let mut host = ctx.clone();
        host.from = PrivilegeLevel::from_qemu_priv(0).with_virt(false);
        assert!(rules_fired(&Evidence::new(&host)).is_empty());
        // V unknown from priv (QEMU < 10): hstatus.SPV says it was the guest.
        let mut old = ctx.clone();
        old.from = PrivilegeLevel::from_qemu_priv(0);
        assert_eq!(rules_fired(&Evidence::new(&old)), ["undelegated"]);
    }

    fn guest_page_fault_ctx(
        f: &crate::diagnosis::walk::tests::Fixture,
        tval: u64,
        code: u64,
    ) -> FaultContext {
        let mut ctx = adue_context(f);
        ctx.to = TrapTarget::HS;
        ctx.cause = Cause::exception(code);
        ctx.epc = 0x8020_02c4;
        ctx.tval = tval;
        ctx.htval = Some(tval >> 2);
        ctx.htinst = Some(0xc03021);
        ctx.csrs.insert("vsatp".into(), 0);
        ctx.csrs.insert("henvcfg".into(), 0xa000_0000_0000_0000);
        ctx.epc_place = Some("guest:kinit+0x68 at kernel/kalloc.c:30".into());
        ctx
    }

    #[test]
    fn guest_page_fault_on_unmapped_mmio() {
        // MMIO: VM0's UART page left out of the G-stage (the mmio-hole build).
        let mut f = fixture_with(|gpa| gpa != 0x1000_0000);
        let ctx = guest_page_fault_ctx(&f, 0x1000_0003, 23);
        let found = diagnose_walked(&ctx, &mut f.mem, true, None);
        assert_eq!(
            found.iter().map(|f| f.rule).collect::<Vec<_>>(),
            ["unmapped-mmio"]
        );
        assert_eq!(
            found[0].summary,
            "access to unmapped MMIO at 0x10000003 (QEMU virt's UART0, a 16550): a store by guest:kinit+0x68 that the hypervisor's G-stage does not map for this VM."
        );
        assert!(
            found[0].fix.contains("Map the device page 0x10000000"),
            "{}",
            found[0].fix
        );

        // Without a walk, htval alone places it.
        let ctx = guest_page_fault_ctx(&f, 0x0c00_2000, 21);
        assert_eq!(rules_fired(&Evidence::new(&ctx)), ["unmapped-mmio"]);
    }

    /// Splits the 2 MiB G-stage page holding `hole` into 4 KiB pages, all
    /// mapped but the last (`hole`'s).
    fn punch_gstage_hole(f: &mut crate::diagnosis::walk::tests::Fixture, hole: u64) {
        let g = walked(&guest_page_fault_ctx(f, hole, 23), &mut f.mem, true);
        let l1 = g.gstage.as_ref().unwrap().leaf().unwrap().read_at;
        let table = f.mem.alloc(0x1000);
        for i in 0..511u64 {
            let host = 0x84e0_0000 + i * 0x1000;
            f.mem
                .words
                .insert(table + i * 8, ((host >> 12) << 10) | 0xdf);
        }
        f.mem.words.insert(l1, ((table >> 12) << 10) | 1);
    }

    #[test]
    fn guest_page_fault_in_a_gstage_hole() {
        // A hole: one 4 KiB page missing from a 2 MiB region split into pages.
        let mut f = fixture();
        let hole = 0x80ff_f000u64;
        punch_gstage_hole(&mut f, hole);
        let ctx = guest_page_fault_ctx(&f, hole, 23);
        let found = diagnose_walked(&ctx, &mut f.mem, true, None);
        assert_eq!(
            found.iter().map(|f| f.rule).collect::<Vec<_>>(),
            ["gstage-hole"],
            "{found:?}"
        );
        assert_eq!(
            found[0].summary,
            "hole in the G-stage mapping at 0x80fff000: the page 0x80fff000 of the VM's RAM is not mapped, so a store by guest:kinit+0x68 takes a guest-page fault."
        );
        assert!(found[0].details.iter().any(|d| d.starts_with("G L0 @") || d == "G-stage: the G L0 entry is invalid (V=0)"), "{:?}", found[0].details);
    }

    #[test]
    #[allow(clippy::single_range_in_vec_init)]
    fn guest_page_fault_beyond_ram() {
        // Beyond RAM: nothing mapped in the 2 MiB around 0x81000000.
        let mut f = fixture();
        let ctx = guest_page_fault_ctx(&f, 0x8100_0000, 21);
        let walk = walked(&ctx, &mut f.mem, true);
        let mut e = Evidence::new(&ctx);
        e.walk = Some(&walk);
        let found = diagnose(&e);
        assert_eq!(
            found.iter().map(|f| f.rule).collect::<Vec<_>>(),
            ["gstage-outside-ram"],
            "{found:?}"
        );
        assert!(
            found[0]
                .summary
                .starts_with("guest-physical address 0x81000000 is beyond the VM's memory"),
            "{}",
            found[0].summary
        );

        // With the RAM known, the same address inside it is a hole.
        let ram = [0x8000_0000..0x8200_0000];
        e.guest_ram = Some(&ram);
        assert_eq!(rules_fired(&e), ["gstage-hole"]);
        let small = [0x8000_0000..0x8080_0000];
        e.guest_ram = Some(&small);
        assert_eq!(rules_fired(&e), ["gstage-outside-ram"]);
    }

    #[test]
    fn guest_page_fault_on_a_vs_page_table() {
        // The guest's page-table page is outside the G-stage: an implicit access.
        let mut f = fixture_with(|gpa| gpa != 0x8020_0000);
        let mut ctx = adue_context(&f);
        ctx.to = TrapTarget::HS;
        ctx.cause = Cause::exception(20);
        let walk = walked(&ctx, &mut f.mem, true);
        let gpa = match walk.first.end {
            crate::diagnosis::walk::End::PteNotInGStage { gpa, .. } => gpa,
            ref e => panic!("{e:?}"),
        };
        ctx.htval = Some(gpa >> 2);
        ctx.htinst = Some(0x3000);
        let mut e = Evidence::new(&ctx);
        e.walk = Some(&walk);
        let found = diagnose(&e);
        assert_eq!(found[0].rule, "gstage-outside-ram", "{found:?}");
        assert!(
            found[0]
                .details
                .iter()
                .any(|d| d.contains("VS-stage page-table entry")),
            "{:?}",
            found[0].details
        );
    }

    #[test]
    fn page_fault_on_unmapped_address_before_stvec() {
        // The nostvec build under the hypervisor: a load from 0x81000000
        // (PHYSTOP), unmapped in the kernel's table, with vstvec still 0.
        let mut f = fixture();
        let mut ctx = adue_context(&f);
        ctx.csrs.insert("henvcfg".into(), 0xa000_0000_0000_0000);
        ctx.cause = Cause::exception(13);
        ctx.epc = 0x8020_0a20;
        ctx.tval = 0x8100_0000;
        ctx.epc_place = Some("guest:fault_unmapped_load+0x20 at kernel/fault.c:20".into());
        let found = diagnose_walked(&ctx, &mut f.mem, true, None);
        assert_eq!(
            found.iter().map(|f| f.rule).collect::<Vec<_>>(),
            ["page-fault", "no-stvec"]
        );
        assert_eq!(
            found[0].summary,
            "VS-stage has no mapping for 0x81000000 (a load by guest:fault_unmapped_load+0x20): the VS L1 entry is invalid (V=0)."
        );
        assert_eq!(
            found[1].summary,
            "the guest had not installed its trap vector yet (vstvec = 0) when it took exception 13 (load page fault) at guest:fault_unmapped_load+0x20; the fault loops at pc 0 (the jump to 0 faults again)."
        );
        // A store to the kernel's text: W missing.
        ctx.cause = Cause::exception(15);
        ctx.tval = 0x8020_0100;
        let found = diagnose_walked(&ctx, &mut f.mem, true, None);
        assert_eq!(found[0].rule, "page-fault");
        assert!(
            found[0].summary.contains("lacks W: the store needs it"),
            "{}",
            found[0].summary
        );
    }

    #[test]
    fn no_stvec_standalone_under_opensbi() {
        // A kernel booted by OpenSBI directly (V=0, trap to S-mode): stvec
        // is the entry point until trapinithart.
        let mut csrs = BTreeMap::new();
        csrs.insert("stvec".to_string(), 0x8020_0000);
        csrs.insert("satp".to_string(), 0);
        let from = PrivilegeLevel::from_qemu_priv(1).with_virt(false);
        let ctx = FaultContext {
            epc_place: Some("guest:fault_unmapped_load+0x20".into()),
            ..bare_context(from, 13, 0x8020_0a20, 0x8100_0000, csrs)
        };
        // Without the ELF the entry point is unknown: no finding.
        assert!(!rules_fired(&Evidence::new(&ctx)).contains(&"no-stvec"));
        let mut zero = ctx.clone();
        zero.csrs.insert("stvec".into(), 0);
        let found = diagnose(&Evidence::new(&zero));
        assert_eq!(found[0].rule, "no-stvec");
        assert!(
            found[0]
                .summary
                .starts_with("the kernel had not installed its trap vector yet (stvec = 0)"),
            "{}",
            found[0].summary
        );
        // Traps into the hypervisor from a guest are not about stvec.
        let mut hv = zero.clone();
        hv.from = PrivilegeLevel::from_qemu_priv(1).with_virt(true);
        assert!(!rules_fired(&Evidence::new(&hv)).contains(&"no-stvec"));
    }

    #[test]
    fn illegal_instruction_decoded() {
        // The illegal build: `unimp` in the guest, tval = the instruction.
        let f = fixture();
        let mut ctx = adue_context(&f);
        ctx.csrs.insert("henvcfg".into(), 0xa000_0000_0000_0000);
        ctx.cause = Cause::exception(2);
        ctx.epc = 0x8020_0a14;
        ctx.tval = 0xc000_1073;
        ctx.csrs.insert("vstvec".into(), 0x8020_1000);
        ctx.epc_place = Some("guest:fault_illegal_insn+0x14".into());
        let found = diagnose(&Evidence::new(&ctx));
        assert_eq!(
            found.iter().map(|f| f.rule).collect::<Vec<_>>(),
            ["illegal-instruction"]
        );
        assert_eq!(
            found[0].summary,
            "illegal instruction at guest:fault_illegal_insn+0x14: 0xc0001073 is `unimp`: csrrw zero, cycle, zero, a write to the read-only CSR cycle: the canonical illegal instruction, always trapping."
        );
        // From the bytes read at epc when tval is 0: a write to satp from VU-mode.
        let mut ctx2 = ctx.clone();
        ctx2.tval = 0;
        ctx2.from = PrivilegeLevel::from_qemu_priv(4);
        let code = 0x1807_9073u32.to_le_bytes();
        let mut e = Evidence::new(&ctx2);
        e.code = Some(&code);
        let f2 = &diagnose(&e)[0];
        assert!(f2.summary.contains("0x18079073 is `csrw satp, a5`: an access to CSR satp (0x180), which needs S-mode or higher"), "{}", f2.summary);
        assert!(f2.summary.contains("it ran in VU-mode"), "{}", f2.summary);
        // Zeroed memory, compressed.
        let mut ctx3 = ctx.clone();
        ctx3.tval = 0;
        let zeros = [0u8; 4];
        let mut e = Evidence::new(&ctx3);
        e.code = Some(&zeros);
        assert!(
            diagnose(&e)[0].summary.contains("all zero bits"),
            "{}",
            diagnose(&e)[0].summary
        );
        // Nothing to decode.
        assert!(diagnose(&Evidence::new(&ctx3))[0]
            .summary
            .contains("could not be read"));
    }

    #[test]
    fn table_is_readable() {
        let names: Vec<_> = RULES.iter().map(|r| r.name).collect();
        assert_eq!(
            names,
            [
                "adue",
                "undelegated",
                "emulation",
                "unmapped-mmio",
                "gstage-outside-ram",
                "gstage-hole",
                "page-fault",
                "counters",
                "illegal-instruction",
                "no-stvec"
            ]
        );
        assert!(RULES.iter().all(|r| !r.about.is_empty()));
        // A rule table of one's own.
        fn always(_: &Evidence) -> Option<Finding> {
            Some(Finding {
                rule: "always",
                summary: "s".into(),
                details: vec![],
                fix: "f".into(),
            })
        }
        let f = fixture();
        let ctx = adue_context(&f);
        let mine = [Rule {
            name: "always",
            about: "test",
            applies: always,
        }];
        assert_eq!(
            diagnose_with(&mine, &Evidence::new(&ctx))[0].to_string(),
            "[always] s\n    fix: f"
        );
        let _ = Regime::from_context(&ctx, true).unwrap();
    }
}
