//! The G-stage rules: a guest-page fault on a device address the G-stage
//! does not map, beyond the VM's memory, or in a hole inside its RAM.

use super::{hex, Evidence, Finding};
use crate::diagnosis::emulation;
use crate::diagnosis::walk::{access_name, render_step, Stage};
use crate::qemu::quirks;
use crate::qemu::virt_map::{virt_device, VIRT_DRAM};
use crate::riscv::{guest_physical_address, Access};

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
pub(super) fn unmapped_mmio(e: &Evidence) -> Option<Finding> {
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
        details.push(format!(
            "{} leaves htinst 0 on guest-page faults: an emulator must read the instruction from guest memory.",
            quirks::FILLS_HTINST.without().in_words()
        ));
    }
    Some(Finding {
        rule: "unmapped-mmio".into(),
        summary: format!(
            "access to unmapped MMIO at {gpa:#x}{device}: a {access} by {} that the hypervisor's G-stage does not map for this VM.",
            e.epc_place()
        ),
        details,
        fix: Some(format!(
            "Map the device page {:#x} in the VM's G-stage table, or emulate the access in the hypervisor's guest-page-fault handler (decode the instruction from htinst, or from guest memory when htinst is 0) and step over it.",
            gpa & !0xfff
        )),
    })
}

/// The gstage-outside-ram rule: a guest-page fault beyond the VM's memory.
pub(super) fn gstage_outside_ram(e: &Evidence) -> Option<Finding> {
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
        rule: "gstage-outside-ram".into(),
        summary: format!(
            "guest-physical address {gpa:#x} is {how}: a {} by {} takes a guest-page fault.",
            fault_access_name(e),
            e.epc_place()
        ),
        details: guest_page_fault_details(e, gpa, implicit),
        fix: Some("Give the VM the memory its kernel expects (its RAM size, e.g. PHYSTOP), or find why the guest uses this address.".into()),
    })
}

/// The gstage-hole rule: a guest-page fault inside the VM's RAM.
pub(super) fn gstage_hole(e: &Evidence) -> Option<Finding> {
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
        rule: "gstage-hole".into(),
        summary: format!(
            "hole in the G-stage mapping at {gpa:#x}: the page {:#x} of the VM's RAM is not mapped, so a {} by {} takes a guest-page fault.",
            gpa & !0xfff,
            fault_access_name(e),
            e.epc_place()
        ),
        details,
        fix: Some(format!(
            "Map guest-physical page {:#x} in the VM's G-stage table (V R W X U, with A and D set).",
            gpa & !0xfff
        )),
    })
}

/// `fetch`, `load` or `store`: what the faulting instruction did (the
/// guest-page-fault rules' causes all say).
fn fault_access_name(e: &Evidence) -> &'static str {
    access_name(e.fault.cause.access().unwrap_or(Access::Load))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::diagnosis::walk::tests::{adue_context, fixture, fixture_with};
    use crate::diagnosis::{FaultContext, TrapTarget};
    use crate::riscv::Cause;

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
            found.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
            ["unmapped-mmio"]
        );
        assert_eq!(
            found[0].summary,
            "access to unmapped MMIO at 0x10000003 (QEMU virt's UART0, a 16550): a store by guest:kinit+0x68 that the hypervisor's G-stage does not map for this VM."
        );
        assert!(
            found[0]
                .fix
                .as_deref()
                .unwrap_or_default()
                .contains("Map the device page 0x10000000"),
            "{}",
            found[0].fix.as_deref().unwrap_or_default()
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
            found.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
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
            found.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
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
}
