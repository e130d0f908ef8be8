//! The page-fault rule: no usable leaf for the address, or a leaf without
//! the permission the access needs.

use super::{address_and_place, faulting_stage, missing_at, Evidence, Finding};
use crate::diagnosis::walk::{access_name, render_step, MissingKind, Stage};

/// The page-fault rule: the faulting stage has no usable leaf, or the leaf
/// lacks the permission (the A/D case is the adue rule's, guest-page
/// faults outside a mapping are the G-stage rules').
pub(super) fn page_fault(e: &Evidence) -> Option<Finding> {
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
        rule: "page-fault".into(),
        summary,
        details,
        fix: Some(fix),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::diagnosis::walk::tests::{adue_context, fixture};
    use crate::riscv::Cause;

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
            found.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
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
}
