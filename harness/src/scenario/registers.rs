//! Register names and CSR fields in a scenario (`dump`, `csr` checks),
//! checked at load time so that a typo is an error with near matches
//! instead of a failed run.
//!
//! Names are those of QEMU's RISC-V target description: the ratified CSRs
//! by their specification names (privileged spec 1.13, the H, Sstc, AIA,
//! Smstateen and debug extensions), the integer and FP registers by their
//! ABI and `x`/`f` names, `pc`, and QEMU's `priv`. Fields are those the
//! register decoders in [`crate::riscv`] know.

use crate::elf::near_matches;
use crate::riscv::{decode_csr, is_known_csr, KNOWN_CSRS};

/// Single names (numbered families are in [`NUMBERED`]).
const NAMES: &[&str] = &[
    "pc",
    "priv",
    "zero",
    "ra",
    "sp",
    "gp",
    "tp",
    "fp",
    // unprivileged
    "fflags",
    "frm",
    "fcsr",
    "cycle",
    "time",
    "instret",
    "vstart",
    "vxsat",
    "vxrm",
    "vcsr",
    "vl",
    "vtype",
    "vlenb",
    "seed",
    "jvt",
    // supervisor
    "sstatus",
    "sie",
    "stvec",
    "scounteren",
    "senvcfg",
    "scountinhibit",
    "sscratch",
    "sepc",
    "scause",
    "stval",
    "sip",
    "scountovf",
    "satp",
    "scontext",
    "stimecmp",
    "siselect",
    "sireg",
    "stopei",
    "stopi",
    // hypervisor and virtual supervisor
    "hstatus",
    "hedeleg",
    "hideleg",
    "hie",
    "hcounteren",
    "hgeie",
    "htval",
    "hip",
    "hvip",
    "htinst",
    "hgeip",
    "henvcfg",
    "hgatp",
    "hcontext",
    "htimedelta",
    "hvien",
    "hvictl",
    "hviprio1",
    "hviprio2",
    "vsstatus",
    "vsie",
    "vstvec",
    "vsscratch",
    "vsepc",
    "vscause",
    "vstval",
    "vsip",
    "vsatp",
    "vstimecmp",
    "vsiselect",
    "vsireg",
    "vstopei",
    "vstopi",
    // machine
    "mvendorid",
    "marchid",
    "mimpid",
    "mhartid",
    "mconfigptr",
    "mstatus",
    "misa",
    "medeleg",
    "mideleg",
    "mie",
    "mtvec",
    "mcounteren",
    "menvcfg",
    "mcountinhibit",
    "mscratch",
    "mepc",
    "mcause",
    "mtval",
    "mip",
    "mtinst",
    "mtval2",
    "mseccfg",
    "mcycle",
    "minstret",
    "mvien",
    "mvip",
    "miselect",
    "mireg",
    "mtopei",
    "mtopi",
    "mnscratch",
    "mnepc",
    "mncause",
    "mnstatus",
    // debug and trigger
    "tselect",
    "tdata1",
    "tdata2",
    "tdata3",
    "tinfo",
    "tcontrol",
    "mcontext",
    "dcsr",
    "dpc",
    "dscratch0",
    "dscratch1",
];

/// Families `prefixN` with N in the range (inclusive).
const NUMBERED: &[(&str, u32, u32)] = &[
    ("x", 0, 31),
    ("f", 0, 31),
    ("v", 0, 31),
    ("t", 0, 6),
    ("s", 0, 11),
    ("a", 0, 7),
    ("ft", 0, 11),
    ("fs", 0, 11),
    ("fa", 0, 7),
    ("hpmcounter", 3, 31),
    ("mhpmcounter", 3, 31),
    ("mhpmevent", 3, 31),
    ("pmpcfg", 0, 15),
    ("pmpaddr", 0, 63),
    ("mstateen", 0, 3),
    ("hstateen", 0, 3),
    ("sstateen", 0, 3),
];

/// Whether `name` (any case) is a register name the target can have.
fn is_register(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if NAMES.contains(&lower.as_str()) {
        return true;
    }
    NUMBERED.iter().any(|(prefix, lo, hi)| {
        lower
            .strip_prefix(prefix)
            .filter(|n| *n == "0" || (!n.is_empty() && !n.starts_with('0')))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (*lo..=*hi).contains(&n))
    })
}

/// Every name, for near matches.
fn all_names() -> Vec<String> {
    let mut all: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
    for (prefix, lo, hi) in NUMBERED {
        all.extend((*lo..=*hi).map(|n| format!("{prefix}{n}")));
    }
    all
}

/// `Err` says why `name` is not a register, with near matches.
pub(super) fn check_register(name: &str) -> Result<(), String> {
    if is_register(name) {
        return Ok(());
    }
    let all = all_names();
    Err(format!(
        "{name:?} is not a RISC-V register name{}",
        did_you_mean(&near_matches(name, all.iter().map(String::as_str)))
    ))
}

/// `Err` says why `name` is no CSR whose writers can be traced (a name
/// the disassembler knows, or a number), with near matches.
pub(super) fn check_traced_csr(name: &str) -> Result<(), String> {
    use crate::elf::csr_numbers::{csr_number, near_csr_names};
    if csr_number(name).is_some() {
        return Ok(());
    }
    Err(format!(
        "{name:?} is not a CSR name or number{}",
        did_you_mean(&near_csr_names(name))
    ))
}

/// `Err` says why `csr.field` cannot be read, with near matches.
pub(super) fn check_field(csr: &str, field: &str) -> Result<(), String> {
    check_register(csr)?;
    if !is_known_csr(csr) {
        return Err(format!(
            "hvharness does not decode the fields of {csr} (it decodes {}); compare the whole \
             register: \"{csr} == VALUE at ...\"",
            KNOWN_CSRS.join(", ")
        ));
    }
    let fields = field_names(csr);
    if fields.iter().any(|f| f.eq_ignore_ascii_case(field)) {
        return Ok(());
    }
    let near = near_matches(field, fields.iter().map(String::as_str));
    Err(format!(
        "{csr} has no field {field:?}{}; its fields: {}",
        did_you_mean(&near),
        fields.join(" ")
    ))
}

/// The fields the decoder shows for `csr`, whatever its value (some
/// decoders name fields by mode, so both all-zero and all-one are asked).
fn field_names(csr: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for value in [0, u64::MAX] {
        for f in decode_csr(csr, value).fields {
            if !names.contains(&f.name) {
                names.push(f.name);
            }
        }
    }
    names
}

fn did_you_mean(near: &[String]) -> String {
    if near.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", near.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_of_every_kind_are_known() {
        for n in [
            "henvcfg",
            "HENVCFG",
            "priv",
            "pc",
            "a0",
            "x31",
            "s11",
            "pmpaddr63",
            "mhpmcounter3",
            "vsatp",
            "fa7",
        ] {
            assert!(check_register(n).is_ok(), "{n}");
        }
        for n in [
            "henvcgf",
            "x32",
            "a8",
            "pmpaddr64",
            "hpmcounter2",
            "x01",
            "",
            "mstatus.ADUE",
        ] {
            assert!(check_register(n).is_err(), "{n}");
        }
        let e = check_register("henvcgf").unwrap_err();
        assert!(e.contains("did you mean henvcfg"), "{e}");
    }

    #[test]
    fn fields_come_from_the_decoders() {
        assert!(check_field("henvcfg", "ADUE").is_ok());
        assert!(check_field("henvcfg", "adue").is_ok());
        assert!(check_field("satp", "MODE").is_ok());
        let e = check_field("henvcfg", "NOPE").unwrap_err();
        assert!(e.contains("henvcfg has no field \"NOPE\""), "{e}");
        assert!(e.contains("ADUE"), "the fields are listed: {e}");
        let e = check_field("henvcfg", "ADEU").unwrap_err();
        assert!(e.contains("did you mean ADUE"), "{e}");
        let e = check_field("mtvec", "BASE").unwrap_err();
        assert!(e.contains("does not decode the fields of mtvec"), "{e}");
    }
}
