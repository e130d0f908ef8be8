//! The root cause of a fault in plain words, from a small table of rules.
//!
//! Each rule is one short function from the [`Evidence`] (the fault, the
//! page-table walk behind it, the ELF files, the QEMU version) to an
//! optional [`Finding`]: what happened, the facts behind it, and the fix.
//! [`RULES`] lists them, root causes first and consequences (such as a
//! fault taken before the trap vector was set) last; [`diagnose`] runs them
//! all. To add a rule, write a function `fn my_rule(e: &Evidence) ->
//! Option<Finding>` and add a line to [`RULES`].

mod ad_updates;
mod delegation;
mod gstage;
mod instruction;
mod no_stvec;
mod page_fault;
#[cfg(test)]
mod test_support;

use std::fmt;
use std::ops::Range;

use super::console::ConsoleLine;
use super::walk::{access_name, trapped_from_guest, Missing, Stage, Translation};
pub use super::Finding;
use super::{emulation, FaultContext};
use crate::elf::{disassemble, ElfSet, Instruction};
use crate::qemu::QemuVersion;
use crate::riscv::cause::code;
use crate::riscv::Access;

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

/// A rule: a name, what it looks for, and the function that applies it.
#[derive(Clone, Copy)]
pub struct Rule {
    /// Short, stable, used in reports and tests: `adue`.
    pub(crate) name: &'static str,
    /// What it recognises, in one line (a function: some lines name QEMU
    /// releases, built from the quirk ranges).
    pub(crate) about: fn() -> String,
    /// The check.
    pub(crate) applies: fn(&Evidence) -> Option<Finding>,
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rule({}: {})", self.name, (self.about)())
    }
}

/// Every rule, root causes first, consequences last.
pub(crate) const RULES: &[Rule] = &[
    Rule {
        name: "adue",
        about: || {
            "a page fault on a PTE with A (or D) clear while hardware A/D updates are off".into()
        },
        applies: ad_updates::adue,
    },
    Rule {
        name: "undelegated",
        about: || "a guest exception the hypervisor did not delegate with hedeleg".into(),
        applies: delegation::undelegated,
    },
    Rule {
        name: "emulation",
        about: || {
            format!(
                "a trapped guest load/store the hypervisor could not decode: htinst 0 on {}",
                crate::qemu::quirks::FILLS_HTINST.without()
            )
        },
        applies: emulation::emulation,
    },
    Rule {
        name: "unmapped-mmio",
        about: || "a guest-page fault on a device address the G-stage does not map".into(),
        applies: gstage::unmapped_mmio,
    },
    Rule {
        name: "gstage-outside-ram",
        about: || "a guest-page fault beyond the VM's memory".into(),
        applies: gstage::gstage_outside_ram,
    },
    Rule {
        name: "gstage-hole",
        about: || "a guest-page fault inside the VM's RAM where the G-stage has a hole".into(),
        applies: gstage::gstage_hole,
    },
    Rule {
        name: "page-fault",
        about: || "a page fault on an unmapped address or a leaf without the permission".into(),
        applies: page_fault::page_fault,
    },
    Rule {
        name: "counters",
        about: || {
            "a counter read (rdtime, rdcycle, ...) trapping on a clear counter-enable bit".into()
        },
        applies: super::counters::counters,
    },
    Rule {
        name: "illegal-instruction",
        about: || "an illegal or virtual instruction, decoded".into(),
        applies: instruction::illegal_instruction,
    },
    Rule {
        name: "no-stvec",
        about: || "a fault taken before the kernel installed its trap vector".into(),
        applies: no_stvec::no_stvec,
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

pub(super) fn hex(v: u64) -> String {
    format!("{v:#x}")
}

/// The stage whose entries a page fault is about: the first stage for
/// codes 12/13/15, the G-stage for 20/21/23.
pub(super) fn faulting_stage(e: &Evidence) -> Option<Stage> {
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
pub(super) fn missing_at(walk: &Translation, stage: Stage) -> Vec<&Missing> {
    walk.missing.iter().filter(|m| m.stage == stage).collect()
}

/// `0x802005da (guest:kvminithart+0x1e)` for a fetch, `0x81000000 (a load
/// by guest:foo+0x20)` otherwise.
pub(super) fn address_and_place(e: &Evidence, address: u64, access: Access) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::walk::tests::{adue_context, fixture};
    use crate::diagnosis::walk::Regime;

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
        assert!(RULES.iter().all(|r| !(r.about)().is_empty()));
        let emulation = RULES
            .iter()
            .find(|r| r.name == "emulation")
            .expect("listed");
        assert!((emulation.about)().ends_with("htinst 0 on QEMU < 8.0"));
        // A rule table of one's own.
        fn always(_: &Evidence) -> Option<Finding> {
            Some(Finding {
                rule: "always".into(),
                summary: "s".into(),
                details: vec![],
                fix: Some("f".into()),
            })
        }
        let f = fixture();
        let ctx = adue_context(&f);
        let mine = [Rule {
            name: "always",
            about: || "test".into(),
            applies: always,
        }];
        assert_eq!(
            diagnose_with(&mine, &Evidence::new(&ctx))[0].to_string(),
            "cause [always]: s\nfix: f"
        );
        let _ = Regime::from_context(&ctx, true).unwrap();
    }
}
