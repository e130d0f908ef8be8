//! Interrupts a hart is waiting for: which are pending and which enabled,
//! by field name, and the rule that names the missing link when a pending
//! interrupt reaches nobody (a VS timer interrupt raised in hvip but not
//! delegated in hideleg, delegated but disabled in vsie, ...).
//!
//! Everything here is read from the CSRs of a stopped hart; a register the
//! target does not show is left out, never assumed to be 0.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Finding;
use crate::riscv::decode_csr;

/// The interrupt registers a diagnosis reads, when the target has them.
pub(crate) const INTERRUPT_CSRS: &[&str] = &["mip", "mie", "hip", "hie", "hvip", "vsie", "vsip"];

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
/// names: `vsie` and `vsstatus` are the guest's own).
pub(crate) fn interrupt_state(csrs: &BTreeMap<String, u64>) -> InterruptState {
    InterruptState {
        decoded: decoded(csrs),
        findings: missing_links(csrs),
    }
}

fn bit(v: u64, n: u32) -> bool {
    v >> n & 1 == 1
}

/// A pending interrupt that reaches nobody: the rules.
fn missing_links(csrs: &BTreeMap<String, u64>) -> Vec<Finding> {
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
                out.push(Finding {
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
                });
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
        let s = interrupt_state(&csrs(&[
            ("hip", 1 << 6),
            ("hvip", 1 << 6),
            ("hie", 0),
            ("hideleg", 1 << 2 | 1 << 10),
            ("vsie", 1 << 5),
        ]));
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

    #[test]
    fn delegated_but_disabled_in_vsie() {
        let s = interrupt_state(&csrs(&[("hvip", 1 << 6), ("hideleg", 1 << 6), ("vsie", 0)]));
        assert_eq!(s.findings.len(), 1);
        assert_eq!(s.findings[0].rule, "interrupt-disabled");
    }

    #[test]
    fn nothing_when_the_interrupt_is_delivered_or_not_readable() {
        // Delegated and enabled: the guest takes it.
        let ok = interrupt_state(&csrs(&[
            ("hvip", 1 << 6),
            ("hideleg", 1 << 6),
            ("vsie", 1 << 5),
        ]));
        assert!(ok.findings.is_empty());
        // Enabled at HS: the hypervisor takes it.
        let hs = interrupt_state(&csrs(&[("hip", 1 << 6), ("hideleg", 0), ("hie", 1 << 6)]));
        assert!(hs.findings.is_empty());
        // hideleg not read: no guess.
        assert!(interrupt_state(&csrs(&[("hvip", 1 << 6)]))
            .findings
            .is_empty());
    }
}
