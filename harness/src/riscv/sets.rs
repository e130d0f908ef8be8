//! Registers that are sets of causes, one bit per cause code: the
//! delegation registers (medeleg, hedeleg, mideleg, hideleg) and the
//! interrupt pending/enable registers (mip, mie, sip, sie, hip, hie, hvip,
//! vsip, vsie).

use super::cause::{standard_exceptions, Cause};
use super::fields::{DecodedCsr, Field, Shape};

/// The interrupt codes each pending/enable register holds (bit = code).
const ALL_INTERRUPTS: &[u64] = &[1, 2, 3, 5, 6, 7, 9, 10, 11, 12, 13];
const S_INTERRUPTS: &[u64] = &[1, 5, 9, 13];
const H_INTERRUPTS: &[u64] = &[2, 6, 10, 12];
const HVIP_INTERRUPTS: &[u64] = &[2, 6, 10];
const HIDELEG_INTERRUPTS: &[u64] = &[2, 6, 10, 13];

/// Decodes medeleg or hedeleg: which exceptions go to the next lower mode.
pub(crate) fn decode_exception_delegation(name: &str, value: u64) -> DecodedCsr {
    let hypervisor = name.eq_ignore_ascii_case("hedeleg");
    let fields = standard_exceptions()
        .map(|c| {
            let f = Field::extract(c.short, c.code as u32, c.code as u32, value);
            let meaning = match (hypervisor, f.value == 1) {
                (true, true) => format!("{} delegated to VS-mode", c.name),
                (true, false) => format!("{} handled in HS-mode", c.name),
                (false, true) => format!("{} delegated to S-mode", c.name),
                (false, false) => format!("{} handled in M-mode", c.name),
            };
            f.with_meaning(meaning)
        })
        .collect();
    DecodedCsr::new(name, value, Shape::Set, fields)
}

/// Decodes mideleg or hideleg: which interrupts go to the next lower mode.
pub(crate) fn decode_interrupt_delegation(name: &str, value: u64) -> DecodedCsr {
    let hypervisor = name.eq_ignore_ascii_case("hideleg");
    let codes = if hypervisor {
        HIDELEG_INTERRUPTS
    } else {
        ALL_INTERRUPTS
    };
    let target = if hypervisor { "VS-mode" } else { "S-mode" };
    let fields = codes
        .iter()
        .map(|&code| {
            let c = Cause::interrupt(code);
            let f = Field::extract(c.short, code as u32, code as u32, value);
            let meaning = if f.value == 1 {
                format!("{} delegated to {target}", c.name)
            } else {
                format!("{} not delegated", c.name)
            };
            f.with_meaning(meaning)
        })
        .collect();
    DecodedCsr::new(name, value, Shape::Set, fields)
}

/// Whether a pending/enable register's bits mean "pending" or "enabled".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InterruptBits {
    /// xip: bits named `SSIP`, `STIP`, ...
    Pending,
    /// xie: bits named `SSIE`, `STIE`, ...
    Enable,
}

/// Decodes an interrupt pending or enable register by name (mip, mie, sip,
/// sie, hip, hie, hvip, vsip, vsie). Returns `None` for other names.
pub(crate) fn decode_interrupt_bits(name: &str, value: u64) -> Option<DecodedCsr> {
    let lower = name.to_ascii_lowercase();
    let (codes, kind) = match lower.as_str() {
        "mip" => (ALL_INTERRUPTS, InterruptBits::Pending),
        "mie" => (ALL_INTERRUPTS, InterruptBits::Enable),
        // vsip/vsie show VS-level interrupts at the S-level bit positions.
        "sip" | "vsip" => (S_INTERRUPTS, InterruptBits::Pending),
        "sie" | "vsie" => (S_INTERRUPTS, InterruptBits::Enable),
        "hip" => (H_INTERRUPTS, InterruptBits::Pending),
        "hie" => (H_INTERRUPTS, InterruptBits::Enable),
        "hvip" => (HVIP_INTERRUPTS, InterruptBits::Pending),
        _ => return None,
    };
    let (suffix, on, off) = match kind {
        InterruptBits::Pending => ("P", "pending", "not pending"),
        InterruptBits::Enable => ("E", "enabled", "disabled"),
    };
    let fields = codes
        .iter()
        .map(|&code| {
            let c = Cause::interrupt(code);
            let f = Field::extract(
                format!("{}{suffix}", c.short),
                code as u32,
                code as u32,
                value,
            );
            let state = if f.value == 1 { on } else { off };
            let meaning = if lower == "hvip" {
                format!("{} {state} (injected by the hypervisor)", c.name)
            } else {
                format!("{} {state}", c.name)
            };
            f.with_meaning(meaning)
        })
        .collect();
    Some(DecodedCsr::new(&lower, value, Shape::Set, fields))
}

/// The causes whose bits are set in a delegation or pending/enable value.
#[cfg(test)]
pub(crate) fn members(value: u64, interrupts: bool) -> Vec<Cause> {
    (0..64)
        .filter(|b| value >> b & 1 == 1)
        .map(|b| Cause::new(interrupts, b))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xv6_style_hedeleg() {
        // Breakpoint, ecall from U, the three page faults: delegated to VS.
        let v = (1 << 3) | (1 << 8) | (1 << 12) | (1 << 13) | (1 << 15);
        let d = decode_exception_delegation("hedeleg", v);
        assert_eq!(d.get("inst_page_fault"), Some(1));
        assert_eq!(d.get("ecall_vs"), Some(0));
        assert_eq!(
            d.to_string(),
            "hedeleg = 0xb108 { store_page_fault load_page_fault inst_page_fault ecall_u breakpoint }"
        );
        assert!(d
            .snapshot_lines()
            .contains(&"hedeleg.inst_page_fault = 1".to_string()));
        assert!(d
            .field("load_page_fault")
            .unwrap()
            .meaning
            .contains("VS-mode"));
    }

    #[test]
    fn medeleg_reserved_bits_show() {
        let d = decode_exception_delegation("medeleg", 1 << 14);
        assert_eq!(d.other_bits, 1 << 14);
        assert!(d.field("breakpoint").unwrap().meaning.contains("M-mode"));
    }

    #[test]
    fn hideleg_vs_interrupts() {
        let d = decode_interrupt_delegation("hideleg", 0x444);
        assert_eq!(d.to_string(), "hideleg = 0x444 { VSEI VSTI VSSI }");
        let d = decode_interrupt_delegation("mideleg", 0x1666);
        assert_eq!(
            d.to_string(),
            "mideleg = 0x1666 { SGEI VSEI SEI VSTI STI VSSI SSI }"
        );
    }

    #[test]
    fn pending_and_enable_bits() {
        let d = decode_interrupt_bits("mip", 0xa0).unwrap();
        assert_eq!(d.to_string(), "mip = 0xa0 { MTIP STIP }");
        let d = decode_interrupt_bits("hvip", 1 << 6).unwrap();
        assert_eq!(d.get("VSTIP"), Some(1));
        let d = decode_interrupt_bits("SIE", 1 << 9).unwrap();
        assert_eq!(d.name, "sie");
        assert_eq!(d.get("SEIE"), Some(1));
        let d = decode_interrupt_bits("hie", 1 << 12).unwrap();
        assert_eq!(d.get("SGEIE"), Some(1));
        assert!(decode_interrupt_bits("mcause", 0).is_none());
    }

    #[test]
    fn members_of_a_set() {
        let m = members(0x444, true);
        let names: Vec<_> = m.iter().map(|c| c.short).collect();
        assert_eq!(names, ["VSSI", "VSTI", "VSEI"]);
    }
}
