//! Interrupts a hart is waiting for: which are pending and which enabled,
//! by field name, and the rule that names the missing link when a pending
//! interrupt reaches nobody (a VS timer interrupt raised in hvip but not
//! delegated in hideleg, delegated but disabled in vsie, ...).
//!
//! Everything here is read from the CSRs of a stopped hart; a register the
//! target does not show is left out, never assumed to be 0.
//!
//! Every rule here speaks only for a hart that runs a vCPU
//! ([`super::vcpu::runs_vcpu`]: it has been at V=1): a VS-level interrupt
//! pending on a hart whose vCPU never started reaches nobody because nobody
//! is there yet, which is no fault. Ours, the reference fixture
//! `hypervisor-highboot`: idle harts set up by the hypervisor (hideleg
//! delegates VSTI), vstimecmp still at its reset value 0 under
//! henvcfg.STCE, so hip.VSTIP is pending and vsie is 0: silent. Other shapes
//! of the same class, and what the rules do with each:
//! - Harts held in OpenSBI's HSM stopped state (M-mode `wfi`, waiting for
//!   an IPI, mie.MTIE possibly 0 with MTIP pending): never at V=1, so no
//!   finding, the M-level timer rule included.
//! - Harts spinning in the hypervisor on a per-hart flag (`j .` or a
//!   polling loop) before their vCPU is started, with an hvip bit a
//!   previous owner left set: never at V=1, silent.
//! - A hart whose vCPU ran and was stopped again (the guest's SBI HSM
//!   `hart_stop`, a vCPU migrated to another hart): it has been at V=1
//!   (SPV or the log says so), so the rules still speak for it, and a
//!   pending VS interrupt left behind is reported: not told apart.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Finding;
use crate::elf::ElfSet;
use crate::harts::INTERRUPT_CSRS;
use crate::provenance;
use crate::provenance::explain::BitQuestion;
use crate::provenance::CsrWrites;
use crate::riscv::decode_csr;

/// A compare register the target description does not offer ({csr}).
const NO_COMPARE: &str = "{csr} not read: this QEMU's gdbstub does not offer it (7.2.22 to 10.0.2 offer neither stimecmp nor vstimecmp)";

/// What the run's interrupt log says about one hart's timer: timer
/// interrupts and SBI calls (ecalls from VS) since the run began.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimerHistory {
    pub(crate) timer_interrupts: u64,
    pub(crate) vs_ecalls: u64,
    /// Log lines dropped under load (the counts are then lower bounds, and
    /// "no timer interrupt" is not known).
    pub(crate) dropped_lines: u64,
}

/// The timer-never-armed rule: a guest that enabled its timer interrupt
/// (vsie.STIE, delegated in hideleg) waits for a tick that nothing will
/// raise: nothing is pending, the guest's own Sstc compare holds no
/// deadline, and the run's log shows not one timer interrupt on this hart.
/// `virt` is the hart's V at the stop. Without the log's history no
/// finding: the compare registers cannot be read on QEMU, and a healthy
/// guest between two ticks looks the same in its CSRs.
pub(crate) fn timer_never_armed(
    csrs: &BTreeMap<String, u64>,
    virt: Option<bool>,
    history: Option<TimerHistory>,
) -> Option<Finding> {
    let get = |n: &str| csrs.get(n).copied();
    let history = history?;
    // A dropped log line may have been the very tick: then nothing is known.
    if history.timer_interrupts > 0 || history.dropped_lines > 0 {
        return None;
    }
    // The guest waits for its timer: enabled in vsie and delegated.
    let vsie = get("vsie").filter(|v| bit(*v, 5))?;
    let hideleg = get("hideleg").filter(|v| bit(*v, 6))?;
    // Nothing on its way (a pending one is the other rules' business).
    let pending = [("hip", 6), ("hvip", 6), ("mip", 5), ("mip", 6)]
        .iter()
        .any(|&(r, b)| get(r).is_some_and(|v| bit(v, b)));
    if pending {
        return None;
    }
    let mut details = vec![format!(
        "vsie {vsie:#x}: STIE set; hideleg {hideleg:#x}: VSTI delegated; nothing pending (hip, hvip, mip)"
    )];
    let compare_seen = no_deadline_in_compares(csrs, virt, &mut details)?;
    details.push(log_history(history));
    Some(Finding {
        rule: "timer-never-armed".to_string(),
        summary: format!(
            "the guest enabled its timer interrupt (vsie.STIE) and waits for a tick, but no timer was ever armed: not one timer interrupt on this hart since the run began, and none pending{}.",
            if compare_seen {
                "; no compare register it has holds a deadline"
            } else {
                " (no timer compare register could be read here)"
            }
        ),
        details,
        fix: Some(
            "Arm the timer before waiting on it: the guest calls SBI set_timer (extension TIME 0x54494d45, function 0) with a deadline, or writes stimecmp under Sstc (henvcfg.STCE); the hypervisor forwards the deadline to its own timer and raises hvip.VSTIP when it fires.".to_string(),
        ),
    })
}

/// What the Sstc compare registers say, added to `details`: `None` when
/// one holds a deadline (the timer is armed: no finding), else whether any
/// compare register was read at all.
fn no_deadline_in_compares(
    csrs: &BTreeMap<String, u64>,
    virt: Option<bool>,
    details: &mut Vec<String>,
) -> Option<bool> {
    let get = |n: &str| csrs.get(n).copied();
    const NEVER: [u64; 2] = [0, u64::MAX];
    let deadline = |v: u64| match v {
        0 => "0, never written".to_string(),
        u64::MAX => "all ones, no deadline".to_string(),
        v => format!("{v:#x}"),
    };
    let stce = |r: &str| get(r).map(|v| bit(v, 63));
    let mut compare_seen = false;
    // The guest's own compare (Sstc with henvcfg.STCE).
    match (stce("henvcfg"), get("vstimecmp")) {
        (Some(true), Some(v)) if !NEVER.contains(&v) => return None,
        (Some(true), Some(v)) => {
            compare_seen = true;
            details.push(format!("vstimecmp {}", deadline(v)))
        }
        (Some(false), _) => {
            details.push("henvcfg.STCE 0: the guest has no stimecmp of its own".to_string())
        }
        (Some(true), None) => details.push(NO_COMPARE.replace("{csr}", "vstimecmp")),
        (None, _) => details.push(
            "henvcfg not read: whether the guest has a stimecmp of its own is not known"
                .to_string(),
        ),
    }
    // The hypervisor's, readable only while V=0.
    match (virt, stce("menvcfg"), get("stimecmp")) {
        (Some(false), Some(true), Some(v)) if !NEVER.contains(&v) => return None,
        (Some(false), Some(true), Some(v)) => {
            compare_seen = true;
            details.push(format!("the hypervisor's stimecmp {}", deadline(v)))
        }
        (_, Some(true), None) => {
            details.push(NO_COMPARE.replace("{csr}", "the hypervisor's stimecmp"))
        }
        _ => {}
    }
    Some(compare_seen)
}

/// The interrupt log's part of the evidence: no tick, and the SBI calls.
fn log_history(history: TimerHistory) -> String {
    let calls = match history.vs_ecalls {
        0 => "and no SBI call at all from its guest: set_timer was never called".to_string(),
        n => format!(
            "and {n} SBI call(s) from its guest (the log does not record a7/a6: whether one was set_timer is not known)"
        ),
    };
    format!(
        "QEMU's interrupt log: no timer interrupt on this hart since the run began (M, HS or VS), {calls}"
    )
}

/// VS-level interrupts: (bit in hip/hvip/hideleg, name, bit in vsip/vsie,
/// the guest's name for it).
const VS_LEVEL: &[(u32, &str, u32, &str)] = &[
    (2, "VSSI", 1, "supervisor software interrupt"),
    (6, "VSTI", 5, "supervisor timer interrupt"),
    (10, "VSEI", 9, "supervisor external interrupt"),
];

/// One hart's interrupts, decoded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InterruptState {
    /// `hip: VSTIP`-style lines: each register's bits that are set.
    pub decoded: Vec<String>,
    pub findings: Vec<Finding>,
}

/// The pending/enabled bits of each interrupt register in `csrs`, by name.
fn decoded(csrs: &BTreeMap<String, u64>) -> Vec<String> {
    let mut out = Vec::new();
    for name in INTERRUPT_CSRS.iter().chain(["hideleg", "mideleg"].iter()) {
        let Some(&v) = csrs.get(*name) else { continue };
        let d = decode_csr(name, v);
        let set: Vec<&str> = d
            .fields
            .iter()
            .filter(|f| f.value == 1)
            .map(|f| f.name.as_str())
            .collect();
        let bits = if set.is_empty() {
            "none".to_string()
        } else {
            set.join(" ")
        };
        out.push(format!("{name} {v:#x}: {bits}"));
    }
    out
}

/// The interrupts of a hart whose registers are `csrs` (architectural
/// names: `vsie` and `vsstatus` are the guest's own), decoded; the rules'
/// findings only when the hart runs a vCPU (`runs_vcpu`, see the module).
/// `code`: the firmware's code and the run's recorded CSR writes, for
/// saying where a register behind a finding is written (hart `hart`).
pub(crate) fn interrupt_state(
    csrs: &BTreeMap<String, u64>,
    runs_vcpu: bool,
    hart: u32,
    code: Option<FirmwareCode>,
) -> InterruptState {
    InterruptState {
        decoded: decoded(csrs),
        findings: if runs_vcpu {
            missing_links(csrs, hart, code)
        } else {
            Vec::new()
        },
    }
}

/// The firmware's ELF files and, when the run traced them, its CSR writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FirmwareCode<'a> {
    pub(crate) elfs: &'a ElfSet,
    pub(crate) recorded: Option<&'a CsrWrites>,
}

/// Where the images write hideleg and why bit `hbit` (`name`) is clear,
/// added to `finding`: the writer's line, and the change as the fix.
fn hideleg_story(finding: &mut Finding, hbit: u32, name: &str, hart: u32, code: FirmwareCode) {
    let question = BitQuestion {
        csr: "hideleg",
        bit: hbit,
        field: name,
        reset: None,
        hart: Some(hart),
    };
    if let Some(story) = provenance::explain::missing_bit(code.elfs, code.recorded, &question) {
        finding.details.extend(story.details);
        finding.fix = Some(format!(
            "{} Then the guest takes its interrupt through hideleg bit {hbit} ({name}).",
            story.fix
        ));
    }
}

fn bit(v: u64, n: u32) -> bool {
    v >> n & 1 == 1
}

/// A pending interrupt that reaches nobody: the rules.
fn missing_links(
    csrs: &BTreeMap<String, u64>,
    hart: u32,
    code: Option<FirmwareCode>,
) -> Vec<Finding> {
    let get = |n: &str| csrs.get(n).copied();
    let mut out = Vec::new();
    // VS-level interrupts: pending in hip (or injected through hvip).
    let pending = match (get("hip"), get("hvip")) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) | b.unwrap_or(0)),
    };
    if let (Some(pending), Some(hideleg)) = (pending, get("hideleg")) {
        for &(hbit, name, vsbit, guest_name) in VS_LEVEL {
            if !bit(pending, hbit) {
                continue;
            }
            let injected = get("hvip").is_some_and(|v| bit(v, hbit));
            let shown = if injected { "hvip" } else { "hip" };
            if !bit(hideleg, hbit) {
                let hie = get("hie");
                if hie.is_some_and(|h| bit(h, hbit)) {
                    continue; // enabled at HS: the hypervisor takes it itself
                }
                let mut finding = Finding {
                    rule: "interrupt-undelegated".to_string(),
                    summary: format!(
                        "{name} is pending ({shown}.{name}P) but hideleg does not delegate it and hie does not enable it: \
                         the interrupt reaches nobody, and the guest waits for its {guest_name} for ever."
                    ),
                    details: vec![
                        format!("hideleg {hideleg:#x}: bit {hbit} ({name}) is 0"),
                        format!(
                            "hie {}: bit {hbit} ({name}E) is 0",
                            hie.map_or("not read".to_string(), |h| format!("{h:#x}"))
                        ),
                    ],
                    fix: Some(format!(
                        "Delegate it to the guest: set hideleg bit {hbit} ({name}), as the guest expects its {guest_name} there."
                    )),
                };
                if let Some(code) = code {
                    hideleg_story(&mut finding, hbit, name, hart, code);
                }
                out.push(finding);
                continue;
            }
            // Delegated: the guest sees it as its own S-level interrupt.
            if let Some(vsie) = get("vsie").filter(|v| !bit(*v, vsbit)) {
                out.push(Finding {
                    rule: "interrupt-disabled".to_string(),
                    summary: format!(
                        "{name} is pending ({shown}.{name}P) and delegated, but the guest's vsie has it disabled: \
                         the guest never takes its {guest_name}."
                    ),
                    details: vec![format!("vsie {vsie:#x}: bit {vsbit} is 0")],
                    fix: Some(format!(
                        "The guest must enable it (sie bit {vsbit} while V=1), or the hypervisor must not expect it to."
                    )),
                });
            }
        }
    }
    // An M-level timer pending with mie clear: the firmware never sees it.
    if let (Some(mip), Some(mie)) = (get("mip"), get("mie")) {
        if bit(mip, 7) && !bit(mie, 7) && get("mideleg").is_some_and(|d| !bit(d, 7)) {
            out.push(Finding {
                rule: "interrupt-disabled".to_string(),
                summary: "the machine timer interrupt is pending (mip.MTIP) but mie.MTIE is 0: M-mode never takes it.".to_string(),
                details: vec![format!("mip {mip:#x}, mie {mie:#x}")],
                fix: Some("Set mie.MTIE where the timer is armed.".to_string()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csrs(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_vs_timer_raised_but_not_delegated_reaches_nobody() {
        // The no-vsti fixture: hvip.VSTIP set, hideleg without bit 6, hie 0.
        let s = interrupt_state(
            &csrs(&[
                ("hip", 1 << 6),
                ("hvip", 1 << 6),
                ("hie", 0),
                ("hideleg", 1 << 2 | 1 << 10),
                ("vsie", 1 << 5),
            ]),
            true,
            0,
            None,
        );
        assert_eq!(s.findings.len(), 1, "{:?}", s.findings);
        let f = &s.findings[0];
        assert_eq!(f.rule, "interrupt-undelegated");
        assert!(
            f.summary.starts_with("VSTI is pending (hvip.VSTIP)"),
            "{}",
            f.summary
        );
        assert!(f
            .fix
            .as_deref()
            .is_some_and(|x| x.contains("hideleg bit 6")));
        assert!(
            s.decoded.iter().any(|l| l == "hvip 0x40: VSTIP"),
            "{:?}",
            s.decoded
        );
    }

    /// The notimer fault build at a VS stop (QEMU 7.2.22's values).
    fn notimer() -> BTreeMap<String, u64> {
        csrs(&[
            ("mip", 0),
            ("hip", 0),
            ("hvip", 0),
            ("vsie", 1 << 5),
            ("hideleg", 0x444),
        ])
    }

    fn quiet_log(vs_ecalls: u64) -> Option<TimerHistory> {
        Some(TimerHistory {
            timer_interrupts: 0,
            vs_ecalls,
            dropped_lines: 0,
        })
    }

    #[test]
    fn a_timer_never_armed_is_named_with_its_evidence() {
        let f = timer_never_armed(&notimer(), Some(true), quiet_log(0)).expect("a finding");
        assert_eq!(f.rule, "timer-never-armed");
        assert!(
            f.summary.contains("no timer was ever armed"),
            "{}",
            f.summary
        );
        assert!(f.fix.as_deref().is_some_and(|x| x.contains("set_timer")));
        assert!(
            f.details
                .iter()
                .any(|d| d.contains("set_timer was never called")),
            "{:?}",
            f.details
        );
        assert!(
            f.details.iter().any(|d| d.starts_with("henvcfg not read")),
            "{:?}",
            f.details
        );
        // Sstc on at both levels, as QEMU's stops read: the compare registers
        // are missing from the target description, and the text says so.
        let mut sstc_on = notimer();
        sstc_on.insert("henvcfg".into(), 1 << 63);
        sstc_on.insert("menvcfg".into(), 1 << 63);
        let f = timer_never_armed(&sstc_on, Some(true), quiet_log(0)).expect("a finding");
        for csr in ["vstimecmp", "the hypervisor's stimecmp"] {
            let want = format!("{csr} not read: this QEMU's gdbstub does not offer it (7.2.22 to 10.0.2 offer neither stimecmp nor vstimecmp)");
            assert!(f.details.contains(&want), "{:?}", f.details);
        }
        // SBI calls seen: which ones is not known, and the text says so.
        let f = timer_never_armed(&notimer(), Some(true), quiet_log(3)).expect("a finding");
        assert!(f
            .details
            .iter()
            .any(|d| d.contains("whether one was set_timer is not known")));
    }

    #[test]
    fn no_timer_finding_where_a_timer_runs_or_the_evidence_is_missing() {
        // Ticks were taken: the timer was armed.
        let ticked = Some(TimerHistory {
            timer_interrupts: 40,
            ..Default::default()
        });
        assert!(timer_never_armed(&notimer(), Some(true), ticked).is_none());
        // No log: CSRs alone cannot tell a wait between two ticks.
        assert!(timer_never_armed(&notimer(), Some(true), None).is_none());
        // Log lines dropped under load: a dropped line may have been a tick.
        let dropped = Some(TimerHistory {
            dropped_lines: 3,
            ..Default::default()
        });
        assert!(timer_never_armed(&notimer(), Some(true), dropped).is_none());
        // A tick pending: the delivery rules speak, not this one.
        let mut pending = notimer();
        pending.insert("hvip".into(), 1 << 6);
        assert!(timer_never_armed(&pending, Some(true), quiet_log(0)).is_none());
        // The guest's timer interrupt is off: it waits for nothing.
        let mut off = notimer();
        off.insert("vsie".into(), 0);
        assert!(timer_never_armed(&off, Some(true), quiet_log(0)).is_none());
        // The guest armed its own Sstc compare.
        let mut sstc = notimer();
        sstc.insert("henvcfg".into(), 1 << 63);
        sstc.insert("vstimecmp".into(), 0x1234_5678);
        assert!(timer_never_armed(&sstc, Some(true), quiet_log(0)).is_none());
        sstc.insert("vstimecmp".into(), u64::MAX);
        let f = timer_never_armed(&sstc, Some(true), quiet_log(0)).expect("a finding");
        assert!(f
            .details
            .iter()
            .any(|d| d == "vstimecmp all ones, no deadline"));
        // At V=0 the hypervisor's stimecmp is read: a deadline there counts.
        let mut hs = notimer();
        hs.insert("menvcfg".into(), 1 << 63);
        hs.insert("stimecmp".into(), 0x9999);
        assert!(timer_never_armed(&hs, Some(false), quiet_log(0)).is_none());
    }

    #[test]
    fn no_finding_for_a_hart_without_a_vcpu() {
        // The highboot fixture's idle harts: VSTI pending (vstimecmp 0 under
        // STCE), delegated, disabled in vsie; and OpenSBI-style MTIP pending
        // with mie.MTIE 0. Nobody runs there yet.
        let idle = csrs(&[
            ("hip", 1 << 6),
            ("hvip", 0),
            ("hideleg", 0x444),
            ("vsie", 0),
            ("mip", 1 << 7),
            ("mie", 0),
            ("mideleg", 0),
        ]);
        let s = interrupt_state(&idle, false, 0, None);
        assert!(s.findings.is_empty(), "{:?}", s.findings);
        assert!(
            s.decoded.iter().any(|l| l == "hip 0x40: VSTIP"),
            "{:?}",
            s.decoded
        );
        // The same registers on a hart whose guest ran: both rules speak.
        let rules: Vec<String> = interrupt_state(&idle, true, 0, None)
            .findings
            .into_iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(rules, ["interrupt-disabled", "interrupt-disabled"]);
    }

    #[test]
    fn delegated_but_disabled_in_vsie() {
        let s = interrupt_state(
            &csrs(&[("hvip", 1 << 6), ("hideleg", 1 << 6), ("vsie", 0)]),
            true,
            0,
            None,
        );
        assert_eq!(s.findings.len(), 1);
        assert_eq!(s.findings[0].rule, "interrupt-disabled");
    }

    #[test]
    fn nothing_when_the_interrupt_is_delivered_or_not_readable() {
        // Delegated and enabled: the guest takes it.
        let ok = interrupt_state(
            &csrs(&[("hvip", 1 << 6), ("hideleg", 1 << 6), ("vsie", 1 << 5)]),
            true,
            0,
            None,
        );
        assert!(ok.findings.is_empty());
        // Enabled at HS: the hypervisor takes it.
        let hs = interrupt_state(
            &csrs(&[("hip", 1 << 6), ("hideleg", 0), ("hie", 1 << 6)]),
            true,
            0,
            None,
        );
        assert!(hs.findings.is_empty());
        // hideleg not read: no guess.
        assert!(interrupt_state(&csrs(&[("hvip", 1 << 6)]), true, 0, None)
            .findings
            .is_empty());
    }
}
