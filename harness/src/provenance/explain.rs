//! A missing CSR bit explained from the firmware's own code: where the CSR
//! is written, with what, whether any instruction sets the bit, and the
//! change that would (a one-line source diff when the value is a constant
//! of its function and the source is at hand). The diagnosis rules call it.

use super::trace::{CsrWrites, TracedWrite};
use super::writers::{find_writers, CsrWriter, Operand, WriteKind};
use crate::elf::csr_numbers::csr_number;
use crate::elf::ElfSet;
use crate::qemu::quirks::Quirk;
use crate::riscv::decode_csr;

/// The CSRs whose writers show where a hypervisor sets up its H-extension
/// state: where a missing henvcfg write belongs. The per-hart delegation
/// set-up first (henvcfg is per hart too), then what is set per VM.
const NEIGHBOURS: &[&str] = &["hedeleg", "hideleg", "hstatus", "hgatp"];

/// What the images do about one bit of a CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BitStory {
    /// The facts, one line each (the writers, the reset quirk, a proposed
    /// source change).
    pub(crate) details: Vec<String>,
    /// What to change, naming the line.
    pub(crate) fix: String,
}

/// The bit `bit` (named `field`) of `csr`, which a fault showed clear:
/// who writes the CSR in `elfs`, and whether anything sets the bit. `reset`
/// is the quirk under which QEMU's reset sets the bit (its upper bound is
/// the release from which the firmware must set it itself).
///
/// `recorded`: the run's traced writes, when it traced them: then each
/// writer says on which harts it ran and with what value.
pub(crate) fn missing_bit(
    elfs: &ElfSet,
    recorded: Option<&CsrWrites>,
    csr: &str,
    bit: u32,
    field: &str,
    reset: Option<&Quirk>,
) -> Option<BitStory> {
    let number = csr_number(csr)?;
    let writers = find_writers(elfs, number, csr);
    let mask = 1u64 << bit;
    let reset_text = reset.and_then(|q| {
        let until = q.until?;
        Some(format!(
            "QEMU >= {}.{} resets {csr} to 0 (quirk {})",
            until.major, until.minor, q.name
        ))
    });
    let mut details = Vec::new();
    if writers.is_empty() {
        let mut line = format!("no instruction in the images writes {csr}");
        if let Some(r) = &reset_text {
            line.push_str(&format!("; {r}, so {field} stays 0"));
        }
        details.push(line + ".");
        return Some(BitStory {
            details,
            fix: fix_without_writer(elfs, csr, bit, field),
        });
    }
    let ran = |w: &CsrWriter| -> Vec<&TracedWrite> {
        recorded
            .map(|r| {
                r.writes
                    .iter()
                    .filter(|t| {
                        t.csr == w.csr && t.place == w.place() && t.instruction == w.instruction
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // A value known statically, else the one the run recorded (the first).
    let value_of = |w: &CsrWriter| w.value.or_else(|| ran(w).iter().find_map(|t| t.value));
    let places: Vec<String> = writers
        .iter()
        .map(|w| written_at(w, value_of(w), &ran(w), recorded.is_some()))
        .collect();
    let setters: Vec<&CsrWriter> = writers
        .iter()
        .filter(|w| w.kind != WriteKind::Clear && value_of(w).is_some_and(|v| v & mask != 0))
        .collect();
    let unknown = writers.iter().filter(|w| value_of(w).is_none()).count();
    let mut line = format!("{csr} is written at {}", join(&places));
    if setters.is_empty() {
        line.push_str(&format!("; no instruction in the images sets bit {bit}"));
        if unknown > 0 {
            line.push_str(&format!(
                " as a constant ({unknown} value(s) known only at run time: `hvharness csr-trace` records them)"
            ));
        }
        if let Some(r) = &reset_text {
            line.push_str(&format!("; {r}, so {field} stays 0"));
        }
    } else {
        line.push_str(&format!(
            "; bit {bit} is set at {}, yet {field} reads 0: something clears it after, or it is read-only 0",
            join(&setters.iter().map(|w| w.place()).collect::<Vec<_>>())
        ));
    }
    details.push(line + ".");
    for o in recorded
        .iter()
        .flat_map(|r| &r.outside)
        .filter(|o| o.csr == csr)
    {
        details.push(format!(
            "{csr} changed {:#x} -> {:#x} on hart {} before {}: written outside the images we know.",
            o.was, o.became, o.hart, o.seen_at
        ));
    }
    let target = writers
        .iter()
        .find(|w| w.kind != WriteKind::Clear && w.value.is_some())
        .or_else(|| writers.iter().find(|w| w.kind != WriteKind::Clear));
    let Some(target) = target.filter(|_| setters.is_empty()) else {
        return Some(BitStory {
            details,
            fix: format!("Find what clears {csr} bit {bit} ({field}) after it is set, or why it cannot be set."),
        });
    };
    let in_function = target
        .function
        .as_ref()
        .map(|f| format!(" ({f})"))
        .unwrap_or_default();
    let mut fix = format!(
        "At {}{in_function}, add {csr} bit {bit} ({field}) to the value written there ({csr} |= 1 << {bit}).",
        target.place()
    );
    if let Some((old, new)) = target.value.and(source_diff(target, bit)) {
        details.push(format!("proposed change at {}:", target.place()));
        details.push(format!("-   {old}"));
        details.push(format!("+   {new}"));
        fix.push_str(" The one-line change is shown above.");
    }
    Some(BitStory { details, fix })
}

/// `hart.c:40 (`csrs henvcfg, a5`, a5 = 0x8000000000000000: STCE) on
/// harts 0 and 1`: the writer, its value (`value`: static or recorded) and,
/// when the run was traced (`traced`), the harts it ran on.
fn written_at(w: &CsrWriter, value: Option<u64>, ran: &[&TracedWrite], traced: bool) -> String {
    let operand = match (w.operand, value) {
        (Operand::Register(_), Some(v)) => {
            format!("{} = {v:#x}{}", w.operand.name(), field_names(&w.csr, v))
        }
        (Operand::Immediate(_), Some(v)) => format!("immediate {v:#x}{}", field_names(&w.csr, v)),
        (_, None) => w.operand_text(),
    };
    let mut harts: Vec<u32> = ran.iter().map(|t| t.hart).collect();
    harts.sort_unstable();
    harts.dedup();
    let on = match harts.as_slice() {
        [] if traced => " (it did not run)".to_string(),
        [] => String::new(),
        [h] => format!(" on hart {h}"),
        many => format!(
            " on harts {}",
            join(&many.iter().map(u32::to_string).collect::<Vec<_>>())
        ),
    };
    format!("{} (`{}`, {operand}){on}", w.place(), w.instruction)
}

/// `: STCE, PBMTE`: the named fields a value sets, or nothing.
pub(crate) fn field_names(csr: &str, value: u64) -> String {
    let decoded = decode_csr(csr, value);
    let names: Vec<String> = decoded
        .fields
        .iter()
        .filter(|f| f.value != 0)
        .map(|f| {
            if f.msb == f.lsb {
                f.name.clone()
            } else {
                format!("{}={}", f.name, f.value_text())
            }
        })
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(": {}", names.join(", "))
    }
}

fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The source line with `| (1UL << bit)` added to the value, for a line
/// that is one call whose last argument is the value (`csr_set(X, V);`,
/// `w_henvcfg(V);`): inline assembly and lines with more on them are left
/// alone.
fn source_diff(w: &CsrWriter, bit: u32) -> Option<(String, String)> {
    let text = w.source_text.as_ref()?;
    let code = text.split("//").next()?.trim_end();
    let head = code.strip_suffix(");")?;
    let callee = head.split('(').next()?.trim();
    let is_call = !callee.is_empty()
        && callee
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !callee.starts_with("asm")
        && !callee.starts_with("__asm");
    if !is_call || code.matches(';').count() != 1 {
        return None;
    }
    Some((text.clone(), format!("{head} | (1UL << {bit}));")))
}

/// Where to add a write of `csr` that nothing makes: beside the writes of
/// the hypervisor's other set-up CSRs.
fn fix_without_writer(elfs: &ElfSet, csr: &str, bit: u32, field: &str) -> String {
    let neighbour = NEIGHBOURS.iter().find_map(|n| {
        let number = csr_number(n)?;
        let writer = find_writers(elfs, number, n).into_iter().next()?;
        Some((n, writer))
    });
    match neighbour {
        Some((n, w)) => format!(
            "Write {csr} where the hypervisor writes {n}: in {} at {}, add `csrs {csr}` with bit {bit} ({field}) set ({csr} |= 1 << {bit}).",
            w.function.as_deref().unwrap_or("the function"),
            w.place()
        ),
        None => format!(
            "Set {csr} bit {bit} ({field}) in the hypervisor's per-hart set-up ({csr} |= 1 << {bit})."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::SourceLine;

    fn writer(text: &str) -> CsrWriter {
        CsrWriter {
            csr: "henvcfg".to_string(),
            space: "hypervisor".to_string(),
            address: 0x8020_0350,
            length: 4,
            instruction: "csrs henvcfg, a5".to_string(),
            kind: WriteKind::Set,
            operand: Operand::Register(15),
            symbol: Some("hart_init+0x30".to_string()),
            function: Some("hart_init".to_string()),
            line: Some(SourceLine {
                file: "hart.c".to_string(),
                path: "/src/hart.c".to_string(),
                line: 40,
                column: 2,
            }),
            source_text: Some(text.to_string()),
            value: Some(0x8000_0000_0000_0000),
        }
    }

    #[test]
    fn a_call_gets_the_bit_ored_in() {
        let w =
            writer("csr_set(CSR_HENVCFG, HENVCFG_STCE | (HV_HENVCFG_ADUE ? HENVCFG_ADUE : 0));");
        let (old, new) = source_diff(&w, 61).unwrap();
        assert!(old.starts_with("csr_set(CSR_HENVCFG"));
        assert_eq!(
            new,
            "csr_set(CSR_HENVCFG, HENVCFG_STCE | (HV_HENVCFG_ADUE ? HENVCFG_ADUE : 0) | (1UL << 61));"
        );
        assert_eq!(
            source_diff(&writer("w_henvcfg(x); // set up"), 61)
                .unwrap()
                .1,
            "w_henvcfg(x | (1UL << 61));"
        );
    }

    #[test]
    fn inline_assembly_and_busy_lines_are_left_alone() {
        assert_eq!(
            source_diff(
                &writer(r#"asm volatile("csrs henvcfg, %0" : : "r"(x));"#),
                61
            ),
            None
        );
        assert_eq!(source_diff(&writer("a(); b(x);"), 61), None);
        assert_eq!(source_diff(&writer("x = y;"), 61), None);
    }

    #[test]
    fn the_writer_reads_like_the_issue() {
        let w = writer("csr_set(CSR_HENVCFG, HENVCFG_STCE);");
        assert_eq!(
            written_at(&w, w.value, &[], false),
            "hart.c:40 (`csrs henvcfg, a5`, a5 = 0x8000000000000000: STCE)"
        );
        let ran = |hart| TracedWrite {
            csr: "henvcfg".into(),
            hart,
            privilege: "HS".into(),
            place: "hart.c:40".into(),
            instruction: "csrs henvcfg, a5".into(),
            operand: "a5".into(),
            value: Some(0x8000_0000_0000_0000),
            before: Some(0),
            after: Some(0x8000_0000_0000_0000),
            at_secs: 0.1,
        };
        let (one, two) = (ran(1), ran(0));
        assert_eq!(
            written_at(&w, w.value, &[&one, &two, &one], true),
            "hart.c:40 (`csrs henvcfg, a5`, a5 = 0x8000000000000000: STCE) on harts 0 and 1"
        );
        assert!(written_at(&w, w.value, &[], true).ends_with("(it did not run)"));
        assert_eq!(join(&["a".into(), "b".into(), "c".into()]), "a, b and c");
    }
}
