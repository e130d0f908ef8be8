//! Whose value a register read at a stop shows, and whether a zero cause
//! register records a trap at all.
//!
//! While V=1, QEMU keeps the guest's live values under the s-mode names:
//! `scause` read over the gdbstub at a VS stop is the guest's vscause. The
//! vs-names then read QEMU's copy taken when the hart last entered the guest,
//! not the live value. Seen on 7.2.22, 8.0.2, 9.2.0 and 10.0.2 with the
//! reference firmware at `guest:usertrap` (VS): scause 0x8 (the guest's
//! ecall from U), vscause 0; satp the user page table, vsatp the guest
//! kernel's (the hypervisor itself runs with satp 0).
//!
//! A zero scause reads as exception 0 (`inst_misaligned`). It is a record of
//! no trap when QEMU's interrupt log, read in full, has no exception 0 on
//! that hart: nothing ever wrote 0 there as a cause. With bytes of the log
//! skipped the harness cannot know, and says nothing.

use serde::Serialize;

use super::StopRecord;
use crate::qemu::trap_log::TrapLog;
use crate::riscv::PrivilegeLevel;

/// The s-mode names QEMU redirects to the guest's registers while V=1.
const GUEST_WHILE_V: &[(&str, &str)] = &[
    ("sstatus", "vsstatus"),
    ("sie", "vsie"),
    ("stvec", "vstvec"),
    ("sscratch", "vsscratch"),
    ("sepc", "vsepc"),
    ("scause", "vscause"),
    ("stval", "vstval"),
    ("sip", "vsip"),
    ("satp", "vsatp"),
];

/// Whose value a register reading shows, when that is not plain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CsrView {
    /// An s-mode name read while V=1: the guest's own register `of`.
    Guest { of: &'static str },
    /// A vs-register read while V=1: the copy QEMU took when the hart last
    /// entered the guest (the live value is under the s-mode name).
    GuestAtEntry { live: &'static str },
}

impl std::fmt::Display for CsrView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CsrView::Guest { of } => write!(f, "the guest's {of} (V=1)"),
            CsrView::GuestAtEntry { live } => {
                write!(f, "copy from the guest's last entry (V=1); live: {live}")
            }
        }
    }
}

/// The view register `name` shows when read at `privilege`, if not plain.
pub(crate) fn view_of(name: &str, privilege: PrivilegeLevel) -> Option<CsrView> {
    if privilege.virt != Some(true) {
        return None;
    }
    GUEST_WHILE_V.iter().find_map(|&(s, vs)| {
        if name.eq_ignore_ascii_case(s) {
            Some(CsrView::Guest { of: vs })
        } else if name.eq_ignore_ascii_case(vs) {
            Some(CsrView::GuestAtEntry { live: s })
        } else {
            None
        }
    })
}

/// Marks every zero cause register (`scause`, `vscause`, `mcause`) at the
/// stops as recording no trap, where `log` (read to its end, nothing
/// skipped) shows that hart never took exception 0.
pub(crate) fn mark_untrapped(stops: &mut [StopRecord], log: &TrapLog) {
    if log.stats().dropped_bytes > 0 {
        return;
    }
    for stop in stops {
        let Some(hart) = log.hart(stop.hart as usize) else {
            continue;
        };
        if hart.took_exception(0) {
            continue;
        }
        for c in &mut stop.csrs {
            if c.raw != Some(0) || !is_cause_register(&c.name) {
                continue;
            }
            if let Some(code) = c
                .decoded
                .as_mut()
                .and_then(|d| d.fields.iter_mut().find(|f| f.name == "Code"))
            {
                code.symbol = Some("no trap recorded".to_string());
                code.meaning =
                    "no trap wrote it: QEMU's log has no exception 0 on this hart".to_string();
            }
        }
    }
}

fn is_cause_register(name: &str) -> bool {
    ["scause", "vscause", "mcause"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debug::privilege::VirtSource;
    use crate::debug::stop::CsrReading;
    use crate::qemu::trap_log::{tests_support::line, SharedTrapLog};
    use crate::qemu::LogSink;
    use crate::riscv::decode_csr;

    fn stop(hart: u32, virt: bool, scause: u64) -> StopRecord {
        let privilege = PrivilegeLevel::from_qemu_priv(1).with_virt(virt);
        StopRecord {
            breakpoint: "guest:kvminithart".into(),
            hart,
            privilege,
            privilege_source: VirtSource::Priv,
            privilege_name: privilege.name().into(),
            pc: 0x8020_0000,
            place: "kvminithart".into(),
            instruction: None,
            csrs: vec![CsrReading {
                name: "scause".into(),
                raw: Some(scause),
                decoded: Some(decode_csr("scause", scause)),
                missing: None,
                view: view_of("scause", privilege),
            }],
            after_step: None,
            at_secs: 0.0,
        }
    }

    fn code_symbol(s: &StopRecord) -> Option<String> {
        s.csrs[0].decoded.as_ref()?.field("Code")?.symbol.clone()
    }

    #[test]
    fn s_names_at_v1_are_the_guests_and_vs_names_its_entry_copy() {
        let vs = PrivilegeLevel::from_qemu_priv(1).with_virt(true);
        let hs = PrivilegeLevel::from_qemu_priv(1).with_virt(false);
        assert_eq!(
            view_of("scause", vs),
            Some(CsrView::Guest { of: "vscause" })
        );
        assert_eq!(
            view_of("vsatp", vs),
            Some(CsrView::GuestAtEntry { live: "satp" })
        );
        assert_eq!(view_of("scause", hs), None);
        assert_eq!(view_of("hgatp", vs), None);
        assert_eq!(
            CsrView::Guest { of: "vscause" }.to_string(),
            "the guest's vscause (V=1)"
        );
    }

    #[test]
    fn a_zero_cause_records_no_trap_only_where_the_log_says_so() {
        let log = SharedTrapLog::new(2);
        // Hart 0 made SBI calls (exception 10); hart 1 once took exception 0.
        log.data(line(0, 0, 10, 0x8020_0100, 0).as_bytes());
        log.data(line(1, 0, 0, 0x8020_0101, 0x8020_0101).as_bytes());
        let mut stops = vec![stop(0, true, 0), stop(1, true, 0), stop(0, true, 8)];
        mark_untrapped(&mut stops, &log.snapshot());
        assert_eq!(code_symbol(&stops[0]).as_deref(), Some("no trap recorded"));
        assert_eq!(code_symbol(&stops[1]).as_deref(), Some("inst_misaligned"));
        assert_eq!(code_symbol(&stops[2]).as_deref(), Some("ecall_u"));
        let entries = stops[0].snapshot_section().entries;
        assert!(
            entries.contains(&("scause.Code".into(), "0 (no trap recorded)".into())),
            "{entries:?}"
        );
    }
}
