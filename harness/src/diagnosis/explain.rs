//! Putting a fault's explanation together: cause name, place, backtrace,
//! page-table walk and root-cause findings.

use serde::{Deserialize, Serialize};

use super::backtrace::{self, FrameRegs};
use super::{rules, walk, FaultContext, Finding, PhysMemory, TrapTarget};
use crate::harts::HartState;
use crate::qemu::QemuVersion;
use crate::rsp::RspClient;
use crate::scenario::Scenario;

/// One fault, explained: what `diagnose --json` prints and the result
/// file keeps (and reads back).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultReport {
    pub context: FaultContext,
    pub(crate) cause_name: String,
    /// `function+offset at file:line`, innermost first.
    pub backtrace: Vec<String>,
    /// The page-table walk for a page fault, one line per level.
    pub walk: Vec<String>,
    pub findings: Vec<Finding>,
    /// The consoles' error lines that go with this fault (quoted as evidence).
    pub console: Vec<super::console::ConsoleLine>,
    /// The QEMU the fault was seen on (the rules that read the consoles
    /// run again once they are joined).
    #[serde(skip)]
    pub(crate) qemu: Option<QemuVersion>,
    /// What could not be explained and why (for the caller to show; not in the JSON).
    #[serde(skip)]
    pub(crate) notes: Vec<String>,
}

impl FaultReport {
    /// Joins the consoles' error lines that go with this fault, and applies
    /// the rules that read them: a hypervisor's own report can change what
    /// the fault means (an unmapped device page it meant to emulate).
    pub(crate) fn attach_console(&mut self, lines: Vec<super::console::ConsoleLine>) {
        self.console = lines;
        let mut e = rules::Evidence::new(&self.context);
        e.qemu = self.qemu;
        e.console = &self.console;
        if let Some(found) = super::emulation::emulation(&e) {
            // The deliberately unmapped page is no finding of its own.
            self.findings
                .retain(|f| !super::emulation::EXPLAINED_AWAY.contains(&f.rule.as_str()));
            self.findings.insert(0, found);
        }
    }
}

/// Explains one captured fault; `state` is its hart's live state (the
/// target must be stopped), `elfs` the scenario's ELF files when readable.
pub async fn explain(
    ctx: FaultContext,
    state: Option<&HartState>,
    scenario: &Scenario,
    elfs: Option<&crate::elf::ElfSet>,
    version: QemuVersion,
    rsp: &mut RspClient,
    csr_writes: Option<&crate::provenance::CsrWrites>,
) -> anyhow::Result<FaultReport> {
    let svadu = walk::qemu_has_svadu(version);
    let mut phys = walk::RspPhysMemory::new(rsp);
    let mut notes = Vec::new();
    let translation = match walk::walk_fault(&ctx, svadu, &mut phys).await {
        Ok(t) => Some(t),
        Err(e) => {
            notes.push(format!("no page-table walk: {e:#}"));
            None
        }
    };
    // The instruction at epc, through the hart's own translation.
    let mut code = None;
    if let Ok(regime) = walk::Regime::from_context(&ctx, svadu) {
        let pa = walk::Translated::new(&mut phys, regime)
            .physical(ctx.epc)
            .await
            .ok()
            .flatten();
        if let Some(pa) = pa {
            if let Ok(Some(word)) = phys.read_u64(pa).await {
                code = Some(word.to_le_bytes()[..4].to_vec());
            }
        }
    }
    let space = scenario.elf_for_virt(ctx.from.virt).map(|e| e.name.clone());
    // The live ra/sp/s0 are the faulting context's only when the hart is
    // still in that context (looping on the fault); a hart parked in the
    // hypervisor holds the hypervisor's.
    let same_context = ctx.to != TrapTarget::HS || ctx.from.virt != Some(true);
    let mut backtrace = Vec::new();
    if let (Some(st), true) = (state, same_context) {
        if let Ok(regime) = walk::Regime::from_context(&ctx, svadu) {
            let regs = FrameRegs {
                pc: ctx.epc,
                ra: st.ra,
                sp: st.sp,
                fp: st.fp,
            };
            let mut mem = walk::Translated::new(&mut phys, regime);
            if let Ok(bt) =
                backtrace::backtrace(regs, &mut mem, elfs, space.as_deref(), backtrace::MAX_DEPTH)
                    .await
            {
                backtrace = bt.render().lines().map(str::to_string).collect();
            }
        }
    }
    let guest_space = scenario.elf_for_virt(Some(true)).map(|e| e.name.clone());
    let host_space = scenario.elf_for_virt(Some(false)).map(|e| e.name.clone());
    let mut evidence = rules::Evidence::new(&ctx);
    evidence.walk = translation.as_ref();
    evidence.elfs = elfs;
    evidence.guest_space = guest_space.as_deref();
    evidence.hypervisor_space = host_space.as_deref();
    evidence.qemu = Some(version);
    evidence.code = code.as_deref();
    evidence.csr_writes = csr_writes;
    let findings = rules::diagnose(&evidence);
    let walk = translation
        .map(|t| t.render().lines().map(str::to_string).collect())
        .unwrap_or_default();
    Ok(FaultReport {
        cause_name: ctx.cause.to_string(),
        context: ctx,
        backtrace,
        walk,
        findings,
        console: Vec::new(),
        qemu: Some(version),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::console::ConsoleLine;
    use crate::riscv::{Cause, Level, PrivilegeLevel};
    use std::collections::BTreeMap;

    fn report(qemu: &str) -> FaultReport {
        let context = FaultContext {
            hart: 0,
            from: PrivilegeLevel {
                level: Level::Supervisor,
                virt: Some(true),
            },
            to: TrapTarget::HS,
            cause: Cause::exception(23),
            epc: 0x8020_1566,
            tval: 0x1000_0003,
            htval: Some(0x400_0000),
            htinst: Some(0),
            epc_place: Some("guest:uartinit+0xc".into()),
            sbi_calls_after: 0,
            csrs: BTreeMap::new(),
        };
        FaultReport {
            cause_name: context.cause.to_string(),
            context,
            backtrace: vec![],
            walk: vec![],
            findings: vec![Finding {
                rule: "unmapped-mmio".into(),
                summary: "access to unmapped MMIO".into(),
                details: vec![],
                fix: None,
            }],
            console: vec![],
            qemu: Some(qemu.parse().expect("a version")),
            notes: vec![],
        }
    }

    fn panic_line() -> Vec<ConsoleLine> {
        vec![ConsoleLine {
            console: "vm0".into(),
            text: "[PANIC hart 0] vuart: cannot emulate the store: htinst 0x0 holds no opcode"
                .into(),
            hart: Some(0),
        }]
    }

    #[test]
    fn the_consoles_turn_an_unmapped_page_into_an_emulation_failure_on_7_2() {
        let mut r = report("7.2.22");
        r.attach_console(panic_line());
        let rules: Vec<_> = r.findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(rules, ["emulation"]);
        assert_eq!(r.console.len(), 1);
        // QEMU >= 8.0 fills htinst: the finding stays what it was.
        let mut r = report("8.0.2");
        r.attach_console(panic_line());
        let rules: Vec<_> = r.findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(rules, ["unmapped-mmio"]);
    }
}
