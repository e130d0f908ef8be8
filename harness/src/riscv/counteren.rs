//! mcounteren, hcounteren and scounteren: which counters the next lower
//! privilege may read.
//!
//! One bit per counter CSR, from the privileged specification 1.13
//! (Zicntr, Zihpm): bit i gates the counter at CSR number 0xC00 + i. CY
//! (bit 0) is `cycle`, TM (bit 1) `time`, IR (bit 2) `instret`, HPM3 to
//! HPM31 `hpmcounter3` to `hpmcounter31`. A clear bit makes a read from the
//! level below trap:
//!
//! | reader | mcounteren bit clear | hcounteren bit clear | scounteren bit clear |
//! |---|---|---|---|
//! | HS/S | illegal instruction (to M) | - | - |
//! | U (V=0) | illegal instruction | - | illegal instruction |
//! | VS | illegal instruction | virtual instruction (to HS) | - |
//! | VU | illegal instruction | virtual instruction | virtual instruction |
//!
//! (For VU, scounteren is the guest's own, read at V=1 under that name.)
//! Sstc's `stimecmp` and Smcntrpmf's filters also look at the TM bit; the
//! rules here need only the reads.

use super::fields::{DecodedCsr, Field, Shape};

/// The first counter CSR (`cycle`); counter i is at `COUNTER_BASE + i`.
pub(crate) const COUNTER_BASE: u32 = 0xc00;
/// Counters per register: `cycle` to `hpmcounter31`.
pub(crate) const COUNTERS: u32 = 32;

/// Which of the three counter-enable registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counteren {
    /// mcounteren: M-mode lets S/HS-mode (and below) read.
    Machine,
    /// hcounteren: HS-mode lets VS and VU read.
    Hypervisor,
    /// scounteren: S-mode (or the guest, as VS) lets its U-mode read.
    Supervisor,
}

impl Counteren {
    /// The register's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Counteren::Machine => "mcounteren",
            Counteren::Hypervisor => "hcounteren",
            Counteren::Supervisor => "scounteren",
        }
    }
}

/// The field name of counter `i` (0-31): `CY`, `TM`, `IR`, `HPM3`...
pub(crate) fn field_name(i: u32) -> String {
    match i {
        0 => "CY".into(),
        1 => "TM".into(),
        2 => "IR".into(),
        _ => format!("HPM{i}"),
    }
}

/// The counter CSR's name for counter `i` (0-31): `cycle`, `time`,
/// `instret`, `hpmcounter3`...
pub(crate) fn counter_name(i: u32) -> String {
    match i {
        0 => "cycle".into(),
        1 => "time".into(),
        2 => "instret".into(),
        _ => format!("hpmcounter{i}"),
    }
}

/// The counter index of a counter CSR number: 0xC00-0xC1F (and their RV32
/// high halves 0xC80-0xC9F); `None` for any other CSR.
pub(crate) fn counter_of_csr(csr: u32) -> Option<u32> {
    match csr {
        0xc00..=0xc1f => Some(csr - 0xc00),
        0xc80..=0xc9f => Some(csr - 0xc80),
        _ => None,
    }
}

/// Whether counter `i` is enabled in `value`.
pub(crate) fn enabled(value: u64, i: u32) -> bool {
    i < COUNTERS && value >> i & 1 == 1
}

/// Decodes a counter-enable register: one flag per counter.
pub(crate) fn decode(which: Counteren, value: u64) -> DecodedCsr {
    let below = match which {
        Counteren::Machine => "S/HS-mode and below",
        Counteren::Hypervisor => "VS and VU",
        Counteren::Supervisor => "U-mode",
    };
    let fields = (0..COUNTERS)
        .rev()
        .map(|i| {
            let f = Field::extract(field_name(i), i, i, value);
            let meaning = if f.value == 1 {
                format!("{below} may read {}", counter_name(i))
            } else {
                format!("a read of {} from {below} traps", counter_name(i))
            };
            f.with_meaning(meaning)
        })
        .collect();
    DecodedCsr::new(which.name(), value, Shape::Fields, fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_named_per_counter() {
        let d = decode(Counteren::Hypervisor, 0b101);
        assert_eq!(d.get("CY"), Some(1));
        assert_eq!(d.get("TM"), Some(0));
        assert_eq!(d.get("IR"), Some(1));
        assert_eq!(d.get("HPM3"), Some(0));
        assert_eq!(d.get("HPM31"), Some(0));
        let tm = d.field("TM").expect("TM decoded");
        assert!(
            tm.meaning.contains("time from VS and VU traps"),
            "{}",
            tm.meaning
        );
    }

    #[test]
    fn counter_csrs_map_to_their_bits() {
        assert_eq!(counter_of_csr(0xc01), Some(1));
        assert_eq!(counter_of_csr(0xc03), Some(3));
        assert_eq!(counter_of_csr(0xc81), Some(1));
        assert_eq!(counter_of_csr(0xc20), None);
        assert_eq!(counter_of_csr(0x100), None);
        assert_eq!(counter_name(1), "time");
        assert_eq!(field_name(17), "HPM17");
        assert!(enabled(2, 1) && !enabled(2, 0) && !enabled(u64::MAX, 32));
    }
}
