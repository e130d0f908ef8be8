//! The emulation rule: a hypervisor that emulates trapped guest loads and
//! stores (MMIO left out of the G-stage on purpose) and decodes them from
//! htinst alone fails on a QEMU that leaves htinst 0 (before 8.0, see
//! [`quirks::FILLS_HTINST`]): it panics on the first access and parks.
//!
//! The guest-page fault alone looks exactly like an unmapped device page, so
//! the rule needs the hypervisor's own word for it: a console error line
//! about the instruction it could not decode (`Bad opcode for store`,
//! `cannot emulate`, `htinst`). The fault reaches the rules only when its
//! hart is stuck on it (the capture's parked check: the hart never got past
//! it), which is the "did not recover" half of the rule.
//!
//! Instruction guest-page faults (cause 20) are left out: htinst is 0 for a
//! fetch on every QEMU (there is no instruction to transform), and a fetch
//! is never emulated.

use std::sync::OnceLock;

use regex::Regex;

use super::console::ConsoleLine;
use super::rules::{Evidence, Finding};
use super::TrapTarget;
use crate::qemu::quirks;
use crate::riscv::cause::code;
use crate::riscv::guest_physical_address;

/// Words of a hypervisor's report that it could not decode or emulate the
/// trapped instruction.
fn decode_failure() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)\b(opcode|decod\w*|emulat\w*|htinst|instruction)\b")
            .expect("a valid pattern")
    })
}

/// The console line in which the hypervisor says it could not decode the
/// trapped access, among the fault's own error lines.
fn decode_failure_line(console: &[ConsoleLine]) -> Option<&ConsoleLine> {
    console.iter().find(|l| decode_failure().is_match(&l.text))
}

/// The rule (see the module's doc).
pub(crate) fn emulation(e: &Evidence) -> Option<Finding> {
    let f = e.fault;
    let c = f.cause;
    let access = match c.code {
        _ if c.interrupt => return None,
        code::LOAD_GUEST_PAGE_FAULT => "load",
        code::STORE_GUEST_PAGE_FAULT => "store",
        _ => return None,
    };
    if f.to != TrapTarget::HS || e.from_guest() != Some(true) || f.htinst != Some(0) {
        return None;
    }
    let version = e.qemu?;
    if quirks::FILLS_HTINST.applies(version) {
        return None;
    }
    let line = decode_failure_line(e.console)?;
    let gpa = f
        .htval
        .filter(|&h| h != 0)
        .map(|h| {
            format!(
                " to guest-physical {:#x}",
                guest_physical_address(h, f.tval)
            )
        })
        .unwrap_or_default();
    Some(Finding {
        rule: "emulation".into(),
        summary: format!(
            "the hypervisor could not emulate the trapped {access} by {}{gpa}: it decodes the instruction from htinst, which QEMU {version} leaves 0 on guest-page faults, and it parked the hart, saying on console {}: \"{}\".",
            e.epc_place(),
            line.console,
            line.text
        ),
        details: vec![
            format!(
                "{c} at {}: stval {:#x}, htinst 0x0",
                e.epc_place(),
                f.tval
            ),
            format!("QEMU quirk {}", quirks::FILLS_HTINST),
            "the G-stage leaves this page unmapped on purpose (trap-and-emulate): the mapping is not the fault".into(),
        ],
        fix: Some(format!(
            "Read the trapped instruction from guest memory when htinst is 0 (hlvx.hu at sepc through the guest's own translation, twice for a 32-bit instruction) and decode that; htinst alone works only on {}.",
            quirks::FILLS_HTINST.with()
        )),
    })
}

/// The rules whose findings an emulation failure replaces: the G-stage
/// mapping rules (the page is left out on purpose).
pub(crate) const EXPLAINED_AWAY: &[&str] = &["unmapped-mmio", "gstage-outside-ram", "gstage-hole"];

/// Whether the emulation rule explains this fault: the G-stage rules then
/// step aside (the unmapped page is deliberate).
pub(crate) fn applies(e: &Evidence) -> bool {
    emulation(e).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::rules::diagnose;
    use crate::diagnosis::FaultContext;
    use crate::qemu::QemuVersion;
    use crate::riscv::{Cause, Level, PrivilegeLevel};
    use std::collections::BTreeMap;

    /// The emul-htinst fixture on QEMU 7.2.22: the store to LCR in
    /// uartinit, parked with htinst 0.
    fn store_to_uart(htinst: u64) -> FaultContext {
        FaultContext {
            hart: 0,
            from: PrivilegeLevel {
                level: Level::Supervisor,
                virt: Some(true),
            },
            to: TrapTarget::HS,
            cause: Cause::exception(code::STORE_GUEST_PAGE_FAULT),
            epc: 0x8020_1566,
            tval: 0x1000_0003,
            htval: Some(0x400_0000),
            htinst: Some(htinst),
            epc_place: Some("guest:uartinit+0xc at guest/kernel/uart.c:30".into()),
            sbi_calls_after: 0,
            csrs: BTreeMap::new(),
        }
    }

    fn line(text: &str) -> ConsoleLine {
        ConsoleLine {
            console: "vm0".into(),
            text: text.into(),
            hart: Some(0),
        }
    }

    const PANIC: &str =
        "[PANIC hart 0] vuart: cannot emulate the store at sepc 0x80201566: htinst 0x0 holds no opcode";

    fn rules(ctx: &FaultContext, qemu: &str, console: &[ConsoleLine]) -> Vec<Finding> {
        let mut e = Evidence::new(ctx);
        e.qemu = Some(qemu.parse::<QemuVersion>().expect("a version"));
        e.console = console;
        diagnose(&e)
    }

    #[test]
    fn htinst_0_on_7_2_with_a_decode_panic_is_an_emulation_failure() {
        let ctx = store_to_uart(0);
        let console = [line(PANIC)];
        let found = rules(&ctx, "7.2.22", &console);
        let names: Vec<_> = found.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(names, ["emulation"], "{found:?}");
        let f = &found[0];
        assert!(
            f.summary.starts_with(
                "the hypervisor could not emulate the trapped store by guest:uartinit+0xc to guest-physical 0x10000003"
            ),
            "{}",
            f.summary
        );
        assert!(f.summary.contains(PANIC), "the panic line is quoted");
        assert!(f.summary.contains("QEMU 7.2.22 leaves 0"), "{}", f.summary);
        assert!(
            f.fix
                .as_deref()
                .unwrap_or_default()
                .contains("guest memory"),
            "{}",
            f.fix.as_deref().unwrap_or_default()
        );
        assert!(f.summary.contains(&format!("console vm0: \"{PANIC}\"")));
        // The foreign hypervisor's wording counts too.
        let theirs = [line("[PANIC(0) virtual/vplic.c:307]: Bad opcode for store")];
        assert_eq!(rules(&ctx, "7.2.22", &theirs)[0].rule, "emulation");
    }

    #[test]
    fn not_an_emulation_failure_without_its_evidence() {
        // The same fault with the mmio-hole build's report: unmapped MMIO.
        let ctx = store_to_uart(0);
        let plain = [line(
            "hypervisor: unexpected trap from guest on hart 0, vm0",
        )];
        let names: Vec<_> = rules(&ctx, "7.2.22", &plain)
            .into_iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(names, ["unmapped-mmio"]);
        // No console at all (the rules before the consoles are joined).
        assert!(!rules(&ctx, "7.2.22", &[])
            .iter()
            .any(|f| f.rule == "emulation"));
        // QEMU >= 8.0 fills htinst: a 0 there is not this quirk.
        for v in ["8.0.2", "9.2.0", "10.0.2"] {
            let found = rules(&ctx, v, &[line(PANIC)]);
            assert!(!found.iter().any(|f| f.rule == "emulation"), "{v}");
        }
        // htinst given (the transformed sb): the hypervisor had it.
        let given = store_to_uart(0xe0_0023);
        assert!(!rules(&given, "7.2.22", &[line(PANIC)])
            .iter()
            .any(|f| f.rule == "emulation"));
        // A fetch is never emulated, and htinst is 0 for it everywhere.
        let mut fetch = store_to_uart(0);
        fetch.cause = Cause::exception(code::INST_GUEST_PAGE_FAULT);
        assert!(!rules(&fetch, "7.2.22", &[line(PANIC)])
            .iter()
            .any(|f| f.rule == "emulation"));
    }
}
