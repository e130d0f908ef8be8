//! Fixtures (fabricated page tables in a map of words) and the walk's tests;
//! the rules' and the backtrace's tests build on the fixtures.

use std::collections::{BTreeMap, HashMap};

use super::regime::ad_control;
use super::*;
use crate::diagnosis::PhysMemory;
use crate::harts::FaultContext;
use crate::qemu::QemuVersion;
use crate::riscv::{AtpMode, Cause, PrivilegeLevel, Pte, TrapTarget};

pub(crate) const V: u64 = 1;
pub(crate) const R: u64 = 2;
pub(crate) const W: u64 = 4;
pub(crate) const X: u64 = 8;
pub(crate) const U: u64 = 0x10;
pub(crate) const A: u64 = 0x40;
pub(crate) const D: u64 = 0x80;

/// Physical memory as a map of 8-byte words; anything else is unreadable.
#[derive(Default, Debug)]
pub(crate) struct Mem {
    pub(crate) words: HashMap<u64, u64>,
    pub(crate) reads: usize,
    next_table: u64,
}

impl PhysMemory for Mem {
    async fn read_u64(&mut self, addr: u64) -> anyhow::Result<Option<u64>> {
        self.reads += 1;
        Ok(self.words.get(&addr).copied())
    }
}

pub(crate) fn pte(pa: u64, flags: u64) -> u64 {
    ((pa >> 12) << 10) | flags
}

impl Mem {
    pub(crate) fn new(first_free: u64) -> Mem {
        Mem {
            next_table: first_free,
            ..Mem::default()
        }
    }

    pub(crate) fn alloc(&mut self, size: u64) -> u64 {
        let t = self.next_table;
        self.next_table += size;
        for i in 0..size / 8 {
            self.words.insert(t + i * 8, 0);
        }
        t
    }

    /// Maps `va` -> `pa` with a leaf at `leaf_level` in the table rooted
    /// at physical `root`, allocating pointer tables as needed.
    /// `to_phys` turns a table address as stored in entries into the
    /// physical address where it is written (the G-stage for VS tables).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn map(
        &mut self,
        mode: AtpMode,
        root: u64,
        va: u64,
        pa: u64,
        flags: u64,
        leaf_level: u32,
        to_phys: &dyn Fn(u64) -> u64,
        alloc_table: &mut dyn FnMut(&mut Mem) -> u64,
    ) {
        let mut table = root;
        for level in (leaf_level..mode.levels()).rev() {
            let index = crate::riscv::pte::vpn(mode, va, level);
            let at = to_phys(table + index * 8);
            if level == leaf_level {
                self.words.insert(at, pte(pa, flags));
                return;
            }
            let e = self.words.get(&at).copied().unwrap_or(0);
            table = if e & V != 0 {
                Pte::new(e).address()
            } else {
                let t = alloc_table(self);
                self.words.insert(at, pte(t, V));
                t
            };
        }
    }
}

/// The reference firmware's layout, fabricated: guest RAM at
/// guest-physical 0x80000000 (16 MiB) mapped to host 0x84000000 by 2 MiB
/// G-stage pages (V R W X U A D), the UART page 0x10000000 by a 4 KiB
/// page; the guest's Sv39 kernel table at guest-physical 0x80300000 with
/// identity maps whose A and D bits are clear, like xv6's.
pub(crate) struct Fixture {
    pub(crate) mem: Mem,
    pub(crate) hgatp: u64,
    pub(crate) vsatp: u64,
    pub(crate) vs_root: u64,
}

pub(crate) const HOST_RAM: u64 = 0x8400_0000;
pub(crate) const GUEST_RAM: u64 = 0x8000_0000;
pub(crate) fn gpa_to_host(gpa: u64) -> u64 {
    gpa - GUEST_RAM + HOST_RAM
}

pub(crate) fn fixture() -> Fixture {
    fixture_with(|_| true)
}

/// The fixture without the G-stage pages for which `keep(gpa)` is false.
pub(crate) fn fixture_with(keep: impl Fn(u64) -> bool) -> Fixture {
    let mut mem = Mem::new(0x8028_0000);
    let hgatp = gstage(&mut mem, keep);
    let vs_root = guest_tables(&mut mem);
    let vsatp = (8u64 << 60) | (vs_root >> 12);
    Fixture {
        mem,
        hgatp,
        vsatp,
        vs_root,
    }
}

/// The G-stage (Sv39x4, in the "hypervisor's" memory): guest RAM by 2 MiB
/// pages, the UART by a 4 KiB page, except where `keep(gpa)` is false;
/// hgatp.
fn gstage(mem: &mut Mem, keep: impl Fn(u64) -> bool) -> u64 {
    // G-stage root: 16 KiB, in the "hypervisor's" memory.
    let g_root = mem.alloc(0x4000);
    let mut host_alloc = |m: &mut Mem| m.alloc(0x1000);
    let id = |a: u64| a;
    for i in 0..8 {
        let gpa = GUEST_RAM + i * 0x20_0000;
        if keep(gpa) {
            mem.map(
                AtpMode::Sv39x4,
                g_root,
                gpa,
                gpa_to_host(gpa),
                V | R | W | X | U | A | D,
                1,
                &id,
                &mut host_alloc,
            );
        }
    }
    if keep(0x1000_0000) {
        mem.map(
            AtpMode::Sv39x4,
            g_root,
            0x1000_0000,
            0x1000_0000,
            V | R | W | U | A | D,
            0,
            &id,
            &mut host_alloc,
        );
    }
    (8u64 << 60) | (1 << 44) | (g_root >> 12)
}

/// The guest's Sv39 kernel table: the UART, text read-execute, data
/// read-write, A and D clear; its root's guest-physical address.
fn guest_tables(mem: &mut Mem) -> u64 {
    // The guest's tables, in guest RAM at 0x80300000.. (host 0x84300000..).
    let mut next_gpa = 0x8030_0000u64;
    let mut guest_alloc = |m: &mut Mem| {
        let t = next_gpa;
        next_gpa += 0x1000;
        for i in 0..512 {
            m.words.insert(gpa_to_host(t) + i * 8, 0);
        }
        t
    };
    let vs_root = guest_alloc(mem);
    let to_host = |a: u64| gpa_to_host(a);
    mem.map(
        AtpMode::Sv39,
        vs_root,
        0x1000_0000,
        0x1000_0000,
        V | R | W,
        0,
        &to_host,
        &mut guest_alloc,
    );
    for page in (0x8020_0000..0x8020_6000).step_by(0x1000) {
        mem.map(
            AtpMode::Sv39,
            vs_root,
            page,
            page,
            V | R | X,
            0,
            &to_host,
            &mut guest_alloc,
        );
    }
    for page in (0x8020_6000..0x8021_0000).step_by(0x1000) {
        mem.map(
            AtpMode::Sv39,
            vs_root,
            page,
            page,
            V | R | W,
            0,
            &to_host,
            &mut guest_alloc,
        );
    }
    vs_root
}

/// The first fault of the ADUE hang as QEMU 10.0.2 shows it: an
/// instruction page fault in VS-mode at the instruction after `csrw satp`.
pub(crate) fn adue_context(f: &Fixture) -> FaultContext {
    let mut csrs = BTreeMap::new();
    csrs.insert("vsatp".to_string(), f.vsatp);
    csrs.insert("hgatp".to_string(), f.hgatp);
    csrs.insert("henvcfg".to_string(), 0x8000_0000_0000_0000);
    csrs.insert("menvcfg".to_string(), 0xa000_0000_0000_00f0);
    csrs.insert("vstvec".to_string(), 0);
    csrs.insert("hedeleg".to_string(), 0xb1ff);
    FaultContext {
        hart: 0,
        from: PrivilegeLevel::from_qemu_priv(5),
        to: TrapTarget::VS,
        cause: Cause::from_xcause(0xc),
        epc: 0x8020_05da,
        tval: 0x8020_05da,
        htval: None,
        htinst: None,
        epc_place: Some("guest:kvminithart+0x1e at kernel/vm.c:94".into()),
        sbi_calls_after: 0,
        csrs,
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn adue_hang_vs_leaf_has_a_clear() {
    let mut f = fixture();
    let ctx = adue_context(&f);
    let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
    assert_eq!(t.access, Access::Fetch);
    assert_eq!(t.first.stage, Stage::VS);
    assert_eq!(t.first.steps.len(), 3);
    assert_eq!(t.guest_physical, Some(0x8020_05da));
    assert_eq!(t.physical, Some(0x8420_05da));
    let leaf = t.first.leaf().unwrap();
    assert_eq!(leaf.level, 0);
    assert!(!leaf.pte.a && !leaf.pte.d && leaf.pte.x);
    // Each VS entry was read at its host-physical address.
    assert_eq!(leaf.read_at, gpa_to_host(leaf.pte_address));
    assert_eq!(leaf.mapped_by.unwrap().level, 1);
    let root = &t.first.steps[0];
    assert_eq!(root.pte_address, f.vs_root + 2 * 8);
    let g = t.gstage.as_ref().unwrap();
    assert_eq!(g.steps.len(), 2, "2 MiB G-stage leaf");
    assert_eq!(
        g.steps[0].index, 2,
        "gpa 0x80200000 >> 30 in the 11-bit root index"
    );
    assert_eq!(t.missing.len(), 1, "{:?}", t.missing);
    let m = &t.missing[0];
    assert_eq!((m.stage, m.level), (Stage::VS, Some(0)));
    match &m.kind {
        MissingKind::Accessed { because } => {
            assert!(because.starts_with("henvcfg.ADUE=0"), "{because}")
        }
        k => panic!("{k:?}"),
    }
    let text = t.render();
    let leaf_line = format!(
        "  VS L0 @{:#x} (host {:#x}) = {:#x}  V R - X - - A=0 D=0 -> ppn 0x80200   <- A=0 and henvcfg.ADUE=0 (menvcfg.ADUE=1): the hart does not set A in hardware",
        leaf.pte_address, leaf.read_at, leaf.pte.raw
    );
    assert!(text.contains(&leaf_line), "{text}");
    assert!(text.starts_with("VS-stage walk of 0x802005da for a fetch (Sv39, vsatp 0x8000000000080300, root 0x80300000):\n"), "{text}");
    assert!(text.contains("  -> guest-physical 0x802005da\n"), "{text}");
    assert!(
        text.contains("G-stage walk of guest-physical 0x802005da (Sv39x4, hgatp 0x80001"),
        "{text}"
    );
    assert!(text.contains("  -> physical 0x842005da\n"), "{text}");
    assert!(
        text.contains("missing for the fetch:\n  VS L0: A=0 and henvcfg.ADUE=0"),
        "{text}"
    );
    eprintln!("{text}");
}

#[test]
fn adue_set_or_no_svadu_means_no_fault() {
    let mut f = fixture();
    let mut ctx = adue_context(&f);
    let t = block_on(walk_fault(&ctx, false, &mut f.mem)).unwrap();
    assert!(
        t.missing.is_empty(),
        "QEMU 7.2 always sets A/D: {:?}",
        t.missing
    );
    assert!(t
        .render()
        .contains("the fetch is allowed by the page tables"));
    ctx.csrs.insert("henvcfg".into(), 0xa000_0000_0000_0000);
    let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
    assert!(t.missing.is_empty(), "{:?}", t.missing);
    // menvcfg.ADUE clear: henvcfg.ADUE cannot be 1; say so.
    ctx.csrs.insert("menvcfg".into(), 0x8000_0000_0000_00f0);
    ctx.csrs.insert("henvcfg".into(), 0x8000_0000_0000_0000);
    let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
    match &t.missing[0].kind {
        MissingKind::Accessed { because } => {
            assert!(because.contains("menvcfg.ADUE=0"), "{because}")
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn store_needs_w_and_d() {
    let mut f = fixture();
    let mut ctx = adue_context(&f);
    ctx.cause = Cause::exception(15);
    ctx.tval = 0x8020_1000; // text page: R X
    let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
    let kinds: Vec<_> = t.missing.iter().map(|m| m.kind.clone()).collect();
    assert!(
        kinds.contains(&MissingKind::Permission { bit: 'W' }),
        "{kinds:?}"
    );
    assert!(kinds
        .iter()
        .any(|k| matches!(k, MissingKind::Accessed { .. })));
    assert!(kinds.iter().any(|k| matches!(k, MissingKind::Dirty { .. })));
    let text = t.render();
    assert!(
        text.contains("<- W=0: the access needs W; A=0 and henvcfg.ADUE=0"),
        "{text}"
    );
}

#[test]
fn unmapped_virtual_address() {
    let mut f = fixture();
    let mut ctx = adue_context(&f);
    ctx.cause = Cause::exception(13);
    ctx.tval = 0x8100_0000; // PHYSTOP: not in the guest's table
    let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
    // Its 2 MiB region has no L0 table at all.
    assert_eq!(t.first.end, End::Invalid { level: 1 });
    assert!(t.gstage.is_none());
    assert_eq!(t.missing.len(), 1);
    assert_eq!(
        t.missing[0].kind,
        MissingKind::Mapping {
            end: End::Invalid { level: 1 }
        }
    );
    assert!(
        t.render()
            .contains("  stops: the VS L1 entry is invalid (V=0)\n"),
        "{}",
        t.render()
    );
}

#[test]
fn guest_page_fault_hole_in_gstage() {
    // The last 2 MiB of guest RAM unmapped in the G-stage.
    let mut f = fixture_with(|gpa| gpa != 0x80e0_0000);
    let mut ctx = adue_context(&f);
    ctx.to = TrapTarget::HS;
    ctx.cause = Cause::exception(23);
    ctx.tval = 0x80ff_f000;
    ctx.htval = Some(0x80ff_f000 >> 2);
    // Bare VS-stage (the guest before paging).
    ctx.csrs.insert("vsatp".into(), 0);
    let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
    assert_eq!(t.first.end, End::Bare);
    assert_eq!(t.guest_physical, Some(0x80ff_f000));
    let g = t.gstage.as_ref().unwrap();
    assert_eq!(g.end, End::Invalid { level: 1 });
    assert_eq!(t.missing[0].stage, Stage::G);
    let text = t.render();
    assert!(text.contains("VS-stage walk of 0x80fff000 for a store (Bare, vsatp 0x0):\n  -> 0x80fff000 (no translation)\n"), "{text}");
    assert!(
        text.contains("  stops: the G L1 entry is invalid (V=0)\n"),
        "{text}"
    );
}

#[test]
fn vs_table_outside_gstage() {
    // The guest's page-table page itself is not in the G-stage: the VS
    // walk stops at the root entry's guest-physical address.
    let mut f = fixture_with(|gpa| gpa != 0x8020_0000);
    let ctx = adue_context(&f);
    let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
    assert_eq!(
        t.first.end,
        End::PteNotInGStage {
            level: 2,
            gpa: f.vs_root + 16
        }
    );
    assert!(t.first.steps.is_empty());
    let g = t.first.pte_gstage.as_ref().unwrap();
    assert_eq!(g.end, End::Invalid { level: 1 });
    assert_eq!(t.missing.len(), 1);
    assert_eq!(t.missing[0].for_vs_level, Some(2));
    assert!(
        t.missing[0]
            .to_string()
            .starts_with("G L1 (reading the VS L2 entry): the G L1 entry is invalid"),
        "{}",
        t.missing[0]
    );
    assert!(t.stage(Stage::G).is_some());
    let text = t.render();
    let line = format!(
        "G-stage walk of guest-physical {:#x} (the VS L2 entry) (Sv39x4",
        f.vs_root + 16
    );
    assert!(text.contains(&line), "{text}");
}

#[test]
fn unreadable_table_and_g_stage_u_bit() {
    let mut f = fixture();
    // Point the guest's root entry for 0x80000000..0xbfffffff at memory
    // that does not exist.
    let root_entry = gpa_to_host(f.vs_root + 16);
    let old = f.mem.words[&root_entry];
    f.mem.words.insert(root_entry, pte(0x8060_0000, V));
    let ctx = adue_context(&f);
    let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
    assert_eq!(
        t.first.end,
        End::Unreadable {
            level: 1,
            address: 0x8460_0000 + crate::riscv::pte::vpn(AtpMode::Sv39, 0x8020_05da, 1) * 8
        }
    );
    assert_eq!(t.first.steps.len(), 1);
    f.mem.words.insert(root_entry, old);

    // A G-stage leaf without U.
    let g = t.regime.gstage.unwrap().root();
    let idx = g + 2 * 8;
    let l1 = Pte::new(f.mem.words[&idx]).address() + 8; // 0x80200000's 2 MiB page
    let leaf = f.mem.words[&l1];
    f.mem.words.insert(l1, leaf & !U);
    let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
    assert!(
        t.missing.iter().any(|m| m.stage == Stage::G
            && m.for_vs_level.is_some()
            && matches!(m.kind, MissingKind::User { .. })),
        "{:?}",
        t.missing
    );
    assert!(
        t.missing.iter().any(|m| m.stage == Stage::G
            && m.for_vs_level.is_none()
            && matches!(m.kind, MissingKind::User { .. })),
        "{:?}",
        t.missing
    );
}

#[test]
fn single_stage_satp_and_user_bit() {
    let mut mem = Mem::new(0x8100_0000);
    let root = mem.alloc(0x1000);
    let id = |a: u64| a;
    let mut alloc = |m: &mut Mem| m.alloc(0x1000);
    mem.map(
        AtpMode::Sv39,
        root,
        0x4000_0000,
        0x8800_0000,
        V | R | W | X | U,
        0,
        &id,
        &mut alloc,
    );
    mem.map(
        AtpMode::Sv39,
        root,
        0x8020_0000,
        0x8020_0000,
        V | R | X | A,
        0,
        &id,
        &mut alloc,
    );
    let mut csrs = BTreeMap::new();
    csrs.insert("satp".to_string(), (8u64 << 60) | (root >> 12));
    csrs.insert("menvcfg".to_string(), 0);
    let ctx = FaultContext {
        hart: 0,
        from: PrivilegeLevel::from_qemu_priv(1).with_virt(false),
        to: TrapTarget::HS,
        cause: Cause::exception(13),
        epc: 0x8020_0000,
        tval: 0x4000_0000,
        htval: None,
        htinst: None,
        epc_place: None,
        sbi_calls_after: 0,
        csrs,
    };
    let t = block_on(walk_fault(&ctx, true, &mut mem)).unwrap();
    assert_eq!(t.first.stage, Stage::S);
    assert!(t.gstage.is_none());
    assert_eq!(t.physical, Some(0x8800_0000));
    let kinds: Vec<_> = t.missing.iter().map(|m| &m.kind).collect();
    assert!(
        matches!(kinds[0], MissingKind::User { u: true, .. }),
        "{kinds:?}"
    );
    assert!(
        matches!(kinds[1], MissingKind::Accessed { because } if because == "menvcfg.ADUE=0"),
        "{kinds:?}"
    );
    // The kernel's own fetch is fine: A is set.
    let regime = Regime::from_context(&ctx, true).unwrap();
    let t = block_on(translate(&regime, 0x8020_0010, Access::Fetch, &mut mem)).unwrap();
    assert!(t.missing.is_empty(), "{:?}", t.missing);
}

#[test]
fn regime_needs_its_registers() {
    let f = fixture();
    let mut ctx = adue_context(&f);
    ctx.csrs.remove("hgatp");
    let e = Regime::from_context(&ctx, true).unwrap_err();
    assert_eq!(e.missing, "hgatp");
    assert!(e.to_string().contains("hgatp was not read"), "{e}");
    // V unknown from priv (QEMU < 10) but the trap went to VS: V=1.
    let mut ctx = adue_context(&f);
    ctx.from = PrivilegeLevel::from_qemu_priv(1);
    let r = Regime::from_context(&ctx, true).unwrap();
    assert!(r.virt && r.virt_inferred);
    // A trap into HS: hstatus.SPV tells.
    ctx.to = TrapTarget::HS;
    ctx.csrs.insert("hstatus".into(), 0x2_0000_0080);
    assert_eq!(trapped_from_guest(&ctx), Some(true));
    ctx.csrs.insert("hstatus".into(), 0x2_0000_0000);
    assert_eq!(trapped_from_guest(&ctx), Some(false));
}

#[test]
fn translated_reads_through_both_stages() {
    let mut f = fixture();
    f.mem.words.insert(0x8420_7ff8, 0x1122_3344_5566_7788);
    f.mem.words.insert(0x8420_8000, 0x99aa_bbcc_ddee_ff00);
    let ctx = adue_context(&f);
    let regime = Regime::from_context(&ctx, true).unwrap();
    let mut t = Translated::new(&mut f.mem, regime);
    assert_eq!(
        block_on(t.read_u64(0x8020_7ff8)).unwrap(),
        Some(0x1122_3344_5566_7788)
    );
    assert_eq!(
        block_on(t.read_u64(0x8020_7ffc)).unwrap(),
        Some(0xddee_ff00_1122_3344)
    );
    assert_eq!(block_on(t.read_u64(0x8100_0000)).unwrap(), None, "unmapped");
    assert_eq!(
        block_on(t.physical(0x8020_0123)).unwrap(),
        Some(0x8420_0123)
    );
    let reads = t.mem.reads;
    assert_eq!(
        block_on(t.physical(0x8020_0456)).unwrap(),
        Some(0x8420_0456)
    );
    assert_eq!(t.mem.reads, reads, "cached per page");
}

#[test]
fn envcfg_rules() {
    let vs = |m, h| ad_control(Stage::VS, true, m, h);
    assert!(vs(Some(1 << 61), Some(1 << 61)).hardware);
    assert!(!vs(Some(1 << 61), Some(0)).hardware);
    assert_eq!(vs(Some(1 << 61), Some(0)).register, Some("henvcfg"));
    assert!(!vs(Some(0), Some(1 << 61)).hardware);
    assert!(!vs(None, None).hardware);
    assert!(ad_control(Stage::G, true, Some(1 << 61), Some(0)).hardware);
    assert_eq!(
        ad_control(Stage::G, true, Some(0), None).register,
        Some("menvcfg")
    );
    assert!(ad_control(Stage::G, false, Some(0), None).hardware);
    assert!(!qemu_has_svadu(QemuVersion::new(7, 2, 22)));
    assert!(qemu_has_svadu(QemuVersion::new(8, 0, 2)));
    assert!(qemu_has_svadu(QemuVersion::new(10, 0, 2)));
}

#[test]
fn serializes() {
    let mut f = fixture();
    let ctx = adue_context(&f);
    let t = block_on(walk_fault(&ctx, true, &mut f.mem)).unwrap();
    let j = serde_json::to_value(&t).unwrap();
    assert_eq!(j["first"]["stage"], "VS");
    assert_eq!(j["first"]["end"]["kind"], "leaf");
    assert_eq!(j["missing"][0]["kind"]["kind"], "accessed");
    assert_eq!(j["first"]["steps"][2]["pte"]["a"], false);
}
