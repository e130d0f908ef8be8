//! CSR name -> decoder, so any register dumped over the gdbstub can be
//! decoded by the name QEMU's target description gives it.

use super::atp::{decode_hgatp, decode_satp};
use super::cause::Cause;
use super::counteren::{self, Counteren};
use super::envcfg::{self, Envcfg};
use super::fields::{DecodedCsr, Field, Shape};
use super::privilege::PrivilegeLevel;
use super::sets::{
    decode_exception_delegation, decode_interrupt_bits, decode_interrupt_delegation,
};
use super::status::{decode_hstatus, decode_status, Status};

/// Every register name [`decode_csr`] decodes into fields; other names
/// render as raw hex.
pub const KNOWN_CSRS: &[&str] = &[
    "menvcfg", "henvcfg", "senvcfg", "satp", "vsatp", "hgatp", "mstatus", "sstatus", "vsstatus",
    "hstatus", "medeleg", "hedeleg", "mideleg", "hideleg", "mip", "mie", "sip", "sie", "hip",
    "hie", "hvip", "vsip", "vsie", "mcause", "scause", "vscause", "priv",
];

/// Decodes the register `name` (case-insensitive) holding `value`. Names
/// without a decoder give a [`Shape::Raw`] result that renders as hex.
///
/// ```
/// let d = hvharness::decode_csr("henvcfg", 0xa000000000000000);
/// assert_eq!(d.get("ADUE"), Some(1));
/// ```
pub fn decode_csr(name: &str, value: u64) -> DecodedCsr {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "menvcfg" => envcfg::decode(Envcfg::Machine, value),
        "henvcfg" => envcfg::decode(Envcfg::Hypervisor, value),
        "senvcfg" => envcfg::decode(Envcfg::Supervisor, value),
        "satp" | "vsatp" => decode_satp(&lower, value),
        "hgatp" => decode_hgatp(value),
        "mstatus" => decode_status(&lower, Status::Machine, value),
        "sstatus" | "vsstatus" => decode_status(&lower, Status::Supervisor, value),
        "hstatus" => decode_hstatus(value),
        "medeleg" | "hedeleg" => decode_exception_delegation(&lower, value),
        "mideleg" | "hideleg" => decode_interrupt_delegation(&lower, value),
        "mcause" | "scause" | "vscause" => decode_cause(&lower, value),
        "priv" => decode_priv(value),
        "mcounteren" => counteren::decode(Counteren::Machine, value),
        "hcounteren" => counteren::decode(Counteren::Hypervisor, value),
        "scounteren" => counteren::decode(Counteren::Supervisor, value),
        _ => decode_interrupt_bits(&lower, value).unwrap_or_else(|| DecodedCsr::raw(&lower, value)),
    }
}

/// Whether [`decode_csr`] knows the fields of `name`.
pub fn is_known_csr(name: &str) -> bool {
    KNOWN_CSRS.iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// Decodes mcause/scause/vscause: `Interrupt` (bit 63) and `Code`, whose
/// symbol is the cause's short name.
pub(crate) fn decode_cause(name: &str, value: u64) -> DecodedCsr {
    let cause = Cause::from_xcause(value);
    let fields = vec![
        Field::extract("Interrupt", 63, 63, value).with_meaning(if cause.interrupt {
            "interrupt"
        } else {
            "exception"
        }),
        Field::extract("Code", 62, 0, value)
            .with_symbol(cause.short)
            .with_meaning(cause.name),
    ];
    DecodedCsr::new(name, value, Shape::Fields, fields)
}

/// Decodes QEMU's `priv` register: level (1:0) and V (2, QEMU 10.x only;
/// see [`PrivilegeLevel`]).
pub(crate) fn decode_priv(value: u64) -> DecodedCsr {
    let p = PrivilegeLevel::from_qemu_priv(value);
    let level = Field::extract("level", 1, 0, value)
        .with_symbol(match value & 3 {
            0 => "U",
            1 => "S",
            2 => "reserved",
            _ => "M",
        })
        .with_meaning(format!("privilege {p}"));
    let v = Field::extract("V", 2, 2, value).with_meaning(if value & 4 != 0 {
        "virtualized (guest)".to_string()
    } else {
        format!(
            "not shown as virtualized ({} never shows V here)",
            crate::qemu::quirks::PRIV_SHOWS_V.without().in_words()
        )
    });
    DecodedCsr::new("priv", value, Shape::Fields, vec![level, v])
}

/// Decodes `priv` with the V the harness determined elsewhere (`virt`, from
/// `source`, e.g. `from monitor`): on QEMU < 10.0 the register reads 1 in
/// VS-mode, and a dump saying `V = 0` there would be wrong. The raw value is
/// kept as read.
pub(crate) fn decode_priv_as_seen(value: u64, virt: bool, source: &str) -> DecodedCsr {
    let mut d = decode_priv(value);
    let shown = PrivilegeLevel::from_qemu_priv(value).with_virt(virt);
    for f in &mut d.fields {
        if f.name == "V" {
            f.value = virt as u64;
            f.source = Some(source.to_string());
            f.meaning = if virt {
                "virtualized (guest)"
            } else {
                "not virtualized (host)"
            }
            .to_string();
        } else if f.name == "level" {
            f.meaning = format!("privilege {shown}");
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn henvcfg_by_name() {
        let d = decode_csr("henvcfg", 0xa000_0000_0000_0000);
        let s = d.to_string();
        assert!(
            s.starts_with("henvcfg = 0xa000000000000000 { STCE=1 PBMTE=0 ADUE=1 "),
            "{s}"
        );
        assert!(d.snapshot().contains("henvcfg.ADUE = 1\n"));
        assert_eq!(decode_csr("HENVCFG", 0).name, "henvcfg");
    }

    #[test]
    fn scause_instruction_page_fault() {
        let d = decode_csr("scause", 0xc);
        assert_eq!(
            d.to_string(),
            "scause = 0xc { Interrupt=0 Code=inst_page_fault }"
        );
        assert_eq!(d.field("Code").unwrap().meaning, "instruction page fault");
        assert!(d
            .snapshot_lines()
            .contains(&"scause.Code = 0xc (inst_page_fault)".to_string()));
        let d = decode_csr("mcause", 0x8000_0000_0000_0007);
        assert_eq!(d.get("Interrupt"), Some(1));
        assert_eq!(d.field("Code").unwrap().symbol.as_deref(), Some("MTI"));
    }

    #[test]
    fn priv_as_seen_keeps_the_raw_value_and_names_the_source() {
        let d = decode_priv_as_seen(1, true, "from monitor");
        assert_eq!(d.value, 1);
        assert_eq!(d.get("V"), Some(1));
        assert!(
            d.snapshot().contains("priv.V = 1 (from monitor)\n"),
            "{}",
            d.snapshot()
        );
        assert_eq!(d.to_string(), "priv = 0x1 { V=1 (from monitor) level=S }");
        assert!(d.explain().contains("privilege VS"), "{}", d.explain());
    }

    #[test]
    fn priv_register() {
        let d = decode_csr("priv", 5);
        assert_eq!(d.to_string(), "priv = 0x5 { V=1 level=S }");
        assert!(d.field("level").unwrap().meaning.contains("VS"));
        assert_eq!(decode_csr("priv", 1).get("V"), Some(0));
    }

    #[test]
    fn unknown_is_raw_hex() {
        let d = decode_csr("stval", 0x8010_0f56);
        assert_eq!(d.shape, Shape::Raw);
        assert_eq!(d.to_string(), "stval = 0x80100f56");
        assert_eq!(d.snapshot(), "stval = 0x80100f56\n");
    }

    #[test]
    fn every_known_name_decodes_to_fields() {
        for name in KNOWN_CSRS {
            let d = decode_csr(name, 0);
            assert_ne!(d.shape, Shape::Raw, "{name}");
            assert!(!d.fields.is_empty(), "{name}");
            assert!(is_known_csr(name));
            // JSON reports carry decoded registers.
            let json = serde_json::to_value(&d).unwrap();
            assert_eq!(json["name"], *name);
        }
        assert!(!is_known_csr("stval"));
    }

    #[test]
    fn write_up_table_as_snapshot() {
        // The rows of the write-up, as the snapshot files will show them.
        let before: String = ["menvcfg", "henvcfg"]
            .iter()
            .zip([0xa000_0000_0000_00f0u64, 0xa000_0000_0000_0000])
            .map(|(n, v)| decode_csr(n, v).snapshot())
            .collect();
        let after: String = ["menvcfg", "henvcfg"]
            .iter()
            .zip([0x8000_0000_0000_00f0u64, 0x8000_0000_0000_0000])
            .map(|(n, v)| decode_csr(n, v).snapshot())
            .collect();
        let changed: Vec<_> = before
            .lines()
            .zip(after.lines())
            .filter(|(a, b)| a != b)
            .map(|(_, b)| b.to_string())
            .collect();
        assert_eq!(
            changed,
            [
                "menvcfg = 0x80000000000000f0",
                "menvcfg.ADUE = 0",
                "henvcfg = 0x8000000000000000",
                "henvcfg.ADUE = 0"
            ]
        );
    }
}
