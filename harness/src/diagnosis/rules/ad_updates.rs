//! The ADUE rule: a page fault on a PTE whose A (or D) bit is clear while
//! the hart does not update A/D in hardware (the write-up's hang).

use super::{address_and_place, faulting_stage, missing_at, Evidence, Finding};
use crate::diagnosis::walk::{access_name, render_step, Missing, MissingKind, Stage};
use crate::provenance;
use crate::provenance::explain::BitQuestion;
use crate::qemu::quirks;
use crate::riscv::envcfg;

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
pub(super) fn adue(e: &Evidence) -> Option<Finding> {
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
            &BitQuestion {
                csr: "henvcfg",
                bit: 61,
                field: "ADUE",
                reset: Some(&quirks::HENVCFG_RESET_ADUE),
                hart: Some(e.fault.hart),
            },
        )
    }) {
        details.extend(story.details);
        fix = format!("{} Or set A and D in the guest's PTEs.", story.fix);
        if m_adue == Some(false) {
            fix.push_str(MENVCFG_TOO);
        }
    }
    // menvcfg.ADUE clear: M-mode's register, usually written by firmware
    // we have no ELF for; said so, or its writer named when we have one.
    if let Some(story) = e.elfs.filter(|_| m_adue == Some(false)).and_then(|elfs| {
        let q = BitQuestion {
            csr: "menvcfg",
            bit: 61,
            field: "ADUE",
            reset: None,
            hart: Some(e.fault.hart),
        };
        provenance::explain::missing_bit(elfs, e.csr_writes, &q)
    }) {
        details.extend(story.details);
        if stage != Stage::VS {
            fix = format!("{} Or {}", story.fix, ptes_instead(stage));
        }
    }
    Some(Finding {
        rule: "adue".into(),
        summary,
        details,
        fix: Some(fix),
    })
}

/// The other way out of an A/D fault at `stage`: A and D set by software.
fn ptes_instead(stage: Stage) -> &'static str {
    match stage {
        Stage::G => "set A and D in the G-stage leaf PTEs in the hypervisor.",
        _ => "set A and D in the kernel's PTEs.",
    }
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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{diagnose, Evidence};
    use crate::diagnosis::walk::tests::{adue_context, fixture};
    use crate::diagnosis::TrapTarget;
    use crate::qemu::QemuVersion;
    use crate::riscv::Cause;

    /// The ADUE hang with the write-up's values (QEMU 9.2.0: menvcfg
    /// 0x80000000000000f0, henvcfg 0x8000000000000000, scause 0xc at
    /// kvminithart+0x1e) and this machine's (QEMU 10.0.2: menvcfg with ADUE).
    #[test]
    fn adue_on_the_hang() {
        let mut f = fixture();
        let mut ctx = adue_context(&f);
        let found = diagnose_walked(&ctx, &mut f.mem, true, Some(QemuVersion::new(10, 0, 2)));
        let names: Vec<_> = found.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(names, ["adue", "no-stvec"]);
        let a = &found[0];
        assert_eq!(
            a.summary,
            "VS-stage PTE for 0x802005da (guest:kvminithart+0x1e) has A=0 and henvcfg.ADUE=0: the hart does not set A/D in hardware, so the fetch faults."
        );
        assert!(
            a.fix
                .as_deref()
                .unwrap_or_default()
                .starts_with("Set henvcfg bit 61 (ADUE) in the hypervisor"),
            "{}",
            a.fix.as_deref().unwrap_or_default()
        );
        assert!(
            !a.fix
                .as_deref()
                .unwrap_or_default()
                .contains("menvcfg.ADUE is 0"),
            "{}",
            a.fix.as_deref().unwrap_or_default()
        );
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
            text.starts_with("cause [adue]: VS-stage PTE for 0x802005da"),
            "{text}"
        );
        assert!(text.contains("\nfix: Set henvcfg bit 61"), "{text}");

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
        assert!(
            a.fix
                .as_deref()
                .unwrap_or_default()
                .contains("menvcfg.ADUE is 0 too"),
            "{}",
            a.fix.as_deref().unwrap_or_default()
        );
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
            found[0]
                .fix
                .as_deref()
                .unwrap_or_default()
                .contains("G-stage leaf PTEs"),
            "{}",
            found[0].fix.as_deref().unwrap_or_default()
        );
        assert!(
            !found.iter().any(|f| f.rule.starts_with("gstage")),
            "{found:?}"
        );

        // With the images at hand and none writing menvcfg (M-mode's):
        // said so, and the fix is the firmware's.
        let walk = walked(&ctx, &mut f.mem, true);
        let elfs = crate::elf::ElfSet::new();
        let mut e = Evidence::new(&ctx);
        e.walk = Some(&walk);
        e.elfs = Some(&elfs);
        let a = &diagnose(&e)[0];
        assert!(
            a.details.iter().any(|d| d == "no instruction in the images writes menvcfg: it is an M-mode register, written by the M-mode firmware (OpenSBI), outside the images we know."),
            "{:?}",
            a.details
        );
        assert!(
            a.fix.as_deref().unwrap_or_default()
                .starts_with("Have the M-mode firmware set menvcfg bit 61 (ADUE) (menvcfg |= 1 << 61): the hypervisor runs in HS-mode and cannot write menvcfg.")
                && a.fix.as_deref().unwrap_or_default().ends_with("Or set A and D in the G-stage leaf PTEs in the hypervisor."),
            "{}",
            a.fix.as_deref().unwrap_or_default()
        );
    }
}
