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

/// The question a rule asks: which bit of which CSR a fault showed clear.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BitQuestion<'a> {
    /// The CSR's name (`hedeleg`).
    pub(crate) csr: &'a str,
    /// The bit found clear.
    pub(crate) bit: u32,
    /// Its name (`ADUE`, `ECALL_U`, `VSTI`, `TM`).
    pub(crate) field: &'a str,
    /// The quirk under which QEMU's reset sets the bit (its upper bound is
    /// the release from which the firmware must set it itself).
    pub(crate) reset: Option<&'a Quirk>,
    /// The hart the fault showed the bit clear on, when one did.
    pub(crate) hart: Option<u32>,
}

/// The bit `q.bit` of `q.csr`, which a fault showed clear: who writes the
/// CSR in `elfs`, and whether anything sets the bit, or sets it and clears
/// it again.
///
/// `recorded`: the run's traced writes, when it traced them: then each
/// writer says on which harts it ran and with what value, and a hart the
/// writes never ran on is named.
///
/// Shapes of the class, beyond ours (a constant written with csrw/csrs in
/// the per-hart set-up): a value loaded from memory or a table (not known
/// statically: the recorded value stands in, the fix names the line
/// without a diff); a write in a loop per vCPU (one writer, several hits:
/// the first per hart is kept); a helper taking the value as an argument
/// (the writer is the helper's csrw, its value the recorded one; the diff
/// would belong in the caller, so none is proposed); a write made on hart 0
/// only (the other harts' faults say their hart never ran it); a bit set
/// and then cleared again (by a later csrc, or a csrw of a value without
/// it: the clearing line is the one to change); an M-mode CSR (menvcfg,
/// mcounteren) that only M-mode firmware we have no ELF for writes.
pub(crate) fn missing_bit(
    elfs: &ElfSet,
    recorded: Option<&CsrWrites>,
    q: &BitQuestion,
) -> Option<BitStory> {
    let csr = q.csr;
    let number = csr_number(csr)?;
    let writers = find_writers(elfs, number, csr);
    let neighbour = || neighbour_writer(elfs, csr);
    Some(bit_story(&writers, recorded, q, number, neighbour))
}

/// [`missing_bit`] on the writers found (`number`: the CSR's); `neighbour`
/// finds the writer of another set-up CSR, asked only when nothing writes
/// this one.
fn bit_story(
    writers: &[CsrWriter],
    recorded: Option<&CsrWrites>,
    q: &BitQuestion,
    number: u16,
    neighbour: impl FnOnce() -> Option<(&'static str, CsrWriter)>,
) -> BitStory {
    let BitQuestion {
        csr, bit, field, ..
    } = *q;
    let mask = 1u64 << bit;
    let reset_text = q.reset.and_then(|r| {
        let zeroed = crate::qemu::quirks::Releases::From(r.until?);
        Some(format!("{zeroed} resets {csr} to 0 (quirk {})", r.name))
    });
    let mut details = Vec::new();
    if writers.is_empty() {
        let mut line = format!("no instruction in the images writes {csr}");
        if is_machine_csr(number) {
            line.push_str(
                ": it is an M-mode register, written by the M-mode firmware (OpenSBI), outside the images we know",
            );
        }
        if let Some(r) = &reset_text {
            line.push_str(&format!("; {r}, so {field} stays 0"));
        }
        details.push(line + ".");
        let fix = if is_machine_csr(number) {
            machine_fix(q)
        } else {
            fix_without_writer(q, neighbour())
        };
        return BitStory { details, fix };
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
    // A csrc of the bit, or a csrw of a value without it.
    let clearers: Vec<&CsrWriter> = writers
        .iter()
        .filter(|w| match (w.kind, value_of(w)) {
            (WriteKind::Clear, Some(v)) => v & mask != 0,
            (WriteKind::Write, Some(v)) => v & mask == 0,
            _ => false,
        })
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
    } else if !clearers.is_empty() {
        line.push_str(&format!(
            "; bit {bit} ({field}) is set at {} and cleared again at {}",
            join(&setters.iter().map(|w| w.place()).collect::<Vec<_>>()),
            join(&clearers.iter().map(|w| w.place()).collect::<Vec<_>>())
        ));
    } else {
        line.push_str(&format!(
            "; bit {bit} is set at {}, yet {field} reads 0: something clears it after, or it is read-only 0",
            join(&setters.iter().map(|w| w.place()).collect::<Vec<_>>())
        ));
    }
    details.push(line + ".");
    if let Some(line) = recorded.and_then(|r| never_on_hart(r, q)) {
        details.push(line);
    }
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
    if !setters.is_empty() {
        let fix = match clearers.first() {
            Some(c) => stop_clearing(c, q, value_of(c), &mut details),
            None => format!(
                "Find what clears {csr} bit {bit} ({field}) after it is set, or why it cannot be set."
            ),
        };
        return BitStory { details, fix };
    }
    let target = writers
        .iter()
        .find(|w| w.kind != WriteKind::Clear && w.value.is_some())
        .or_else(|| writers.iter().find(|w| w.kind != WriteKind::Clear));
    let Some(target) = target else {
        return BitStory {
            details,
            fix: format!(
                "{csr} is only ever cleared in the images: set bit {bit} ({field}) where the hypervisor sets up its other per-hart CSRs ({csr} |= 1 << {bit})."
            ),
        };
    };
    let mut fix = format!(
        "At {}{}, add {csr} bit {bit} ({field}) to the value written there ({csr} |= 1 << {bit}).",
        target.place(),
        in_function(target)
    );
    if let Some((old, new)) = target.value.and(source_diff(target, bit, Change::OrIn)) {
        push_diff(&mut details, target, &old, new.as_deref());
        fix.push_str(" The one-line change is shown above.");
    } else if target.value.is_none() {
        fix.push_str(" The value is not a constant of its function (read from memory, or passed in by a caller): change it where it is made.");
    }
    BitStory { details, fix }
}

/// ` (hart_init)`, or nothing.
fn in_function(w: &CsrWriter) -> String {
    w.function
        .as_ref()
        .map(|f| format!(" ({f})"))
        .unwrap_or_default()
}

/// Whether CSR `number` is an M-mode register (bits 9:8 = 3).
fn is_machine_csr(number: u16) -> bool {
    number >> 8 & 3 == 3
}

/// The fault's hart, when the run recorded writes of `q.csr` on other
/// harts but none on it: a per-hart register set up on some harts only.
fn never_on_hart(recorded: &CsrWrites, q: &BitQuestion) -> Option<String> {
    let hart = q.hart?;
    let mut on: Vec<u32> = recorded
        .writes
        .iter()
        .filter(|t| t.csr == q.csr)
        .map(|t| t.hart)
        .collect();
    on.sort_unstable();
    on.dedup();
    if on.is_empty() || on.contains(&hart) {
        return None;
    }
    let harts: Vec<String> = on.iter().map(u32::to_string).collect();
    Some(format!(
        "hart {hart} never ran a write of {} (the recorded writes ran on hart{} {} only): it is a per-hart register, so each hart must write it.",
        q.csr,
        if on.len() == 1 { "" } else { "s" },
        join(&harts)
    ))
}

/// The fix when `clearer` clears the bit that another line sets: stop
/// clearing it, with the one-line change when the value is a constant.
fn stop_clearing(
    clearer: &CsrWriter,
    q: &BitQuestion,
    value: Option<u64>,
    details: &mut Vec<String>,
) -> String {
    let BitQuestion {
        csr, bit, field, ..
    } = *q;
    let mut fix = format!(
        "At {}{}, stop clearing {csr} bit {bit} ({field}): {}.",
        clearer.place(),
        in_function(clearer),
        match clearer.kind {
            WriteKind::Clear => format!("leave it out of the value cleared there (or drop the `{}`)", clearer.instruction),
            _ => format!("the value written there overwrites the earlier set-up; add bit {bit} to it ({csr} |= 1 << {bit})"),
        }
    );
    let change = match (clearer.kind, value) {
        (WriteKind::Clear, Some(v)) if v == 1 << bit => Change::Drop,
        (WriteKind::Clear, Some(_)) => Change::MaskOut,
        _ => Change::OrIn,
    };
    if let Some((old, new)) = clearer.value.and(source_diff(clearer, bit, change)) {
        push_diff(details, clearer, &old, new.as_deref());
        fix.push_str(" The one-line change is shown above.");
    }
    fix
}

/// `proposed change at file:line:` and the diff's lines (`new` absent: the
/// line goes).
fn push_diff(details: &mut Vec<String>, w: &CsrWriter, old: &str, new: Option<&str>) {
    details.push(format!("proposed change at {}:", w.place()));
    details.push(format!("-   {old}"));
    if let Some(new) = new {
        details.push(format!("+   {new}"));
    }
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

/// More set fields than this are counted, not named.
const MAX_FIELDS_NAMED: usize = 12;

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
    match names.len() {
        0 => String::new(),
        // An all-ones value (hcounteren = ~0) would list every field.
        n if n > MAX_FIELDS_NAMED => format!(": {n} fields set"),
        _ => format!(": {}", names.join(", ")),
    }
}

fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// How a source line's value changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// `| (1UL << bit)` added: the bit written too.
    OrIn,
    /// `& ~(1UL << bit)` added: the bit no longer cleared.
    MaskOut,
    /// The line goes: it clears nothing else.
    Drop,
}

/// The source line and its replacement (`None`: deleted), for a line that
/// is one call whose last argument is the value (`csr_set(X, V);`,
/// `w_henvcfg(V);`): inline assembly and lines with more on them are left
/// alone.
fn source_diff(w: &CsrWriter, bit: u32, change: Change) -> Option<(String, Option<String>)> {
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
    let new = match change {
        Change::OrIn => Some(format!("{head} | (1UL << {bit}));")),
        Change::MaskOut => {
            let (call, value) = last_argument(head)?;
            let space = if call.ends_with('(') { "" } else { " " };
            Some(format!("{call}{space}({value}) & ~(1UL << {bit}));"))
        }
        Change::Drop => None,
    };
    Some((text.clone(), new))
}

/// The fix for an M-mode CSR's bit: the hypervisor cannot write it.
fn machine_fix(q: &BitQuestion) -> String {
    let BitQuestion {
        csr, bit, field, ..
    } = *q;
    format!(
        "Have the M-mode firmware set {csr} bit {bit} ({field}) ({csr} |= 1 << {bit}): the hypervisor runs in HS-mode and cannot write {csr}.{}",
        if csr == "menvcfg" && bit == 61 {
            " (QEMU's reset sets menvcfg.ADUE when the CPU has Svadu and not Svade: firmware that rewrites menvcfg without the bit, or a CPU with svade=on, leaves it 0.)"
        } else {
            ""
        }
    )
}

/// The first writer of another of the hypervisor's set-up CSRs than `csr`.
fn neighbour_writer(elfs: &ElfSet, csr: &str) -> Option<(&'static str, CsrWriter)> {
    NEIGHBOURS.iter().filter(|n| **n != csr).find_map(|n| {
        let number = csr_number(n)?;
        let writer = find_writers(elfs, number, n).into_iter().next()?;
        Some((*n, writer))
    })
}

/// `csr_clear(X, ` and `A | B` for `csr_clear(X, A | B`: a call's text up
/// to its last argument, and that argument (commas inside parentheses are
/// the argument's own).
fn last_argument(head: &str) -> Option<(&str, &str)> {
    let mut depth = 0;
    let mut start = None;
    for (i, c) in head.char_indices() {
        match c {
            '(' => {
                depth += 1;
                if depth == 1 {
                    start = Some(i + 1);
                }
            }
            ')' => depth -= 1,
            ',' if depth == 1 => start = Some(i + 1),
            _ => {}
        }
    }
    let start = start?;
    let value = head[start..].trim();
    (!value.is_empty()).then(|| (head[..start].trim_end(), value))
}

/// Where to add a write of `q.csr` that nothing makes: beside `neighbour`,
/// the write of another of the hypervisor's set-up CSRs.
fn fix_without_writer(q: &BitQuestion, neighbour: Option<(&str, CsrWriter)>) -> String {
    let BitQuestion {
        csr, bit, field, ..
    } = *q;
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
            encoding: 0x60a7_a073,
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
        let (old, new) = source_diff(&w, 61, Change::OrIn).unwrap();
        assert!(old.starts_with("csr_set(CSR_HENVCFG"));
        assert_eq!(
            new.as_deref(),
            Some("csr_set(CSR_HENVCFG, HENVCFG_STCE | (HV_HENVCFG_ADUE ? HENVCFG_ADUE : 0) | (1UL << 61));")
        );
        assert_eq!(
            source_diff(&writer("w_henvcfg(x); // set up"), 61, Change::OrIn)
                .unwrap()
                .1
                .as_deref(),
            Some("w_henvcfg(x | (1UL << 61));")
        );
    }

    #[test]
    fn inline_assembly_and_busy_lines_are_left_alone() {
        assert_eq!(
            source_diff(
                &writer(r#"asm volatile("csrs henvcfg, %0" : : "r"(x));"#),
                61,
                Change::OrIn
            ),
            None
        );
        assert_eq!(source_diff(&writer("a(); b(x);"), 61, Change::OrIn), None);
        assert_eq!(source_diff(&writer("x = y;"), 61, Change::Drop), None);
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
            address: 0x8020_0350,
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

    /// A writer of `csr` at `file:line` in `function`, of `kind`, with its
    /// value known statically (`value`) and the source text `text`.
    fn writer_at(
        csr: &str,
        kind: WriteKind,
        value: Option<u64>,
        (file, line, function): (&str, u32, &str),
        text: &str,
    ) -> CsrWriter {
        let verb = match kind {
            WriteKind::Write => "csrw",
            WriteKind::Set => "csrs",
            WriteKind::Clear => "csrc",
        };
        CsrWriter {
            csr: csr.to_string(),
            instruction: format!("{verb} {csr}, a5"),
            kind,
            function: Some(function.to_string()),
            symbol: Some(format!("{function}+0x10")),
            line: Some(SourceLine {
                file: file.to_string(),
                path: format!("/src/{file}"),
                line,
                column: 2,
            }),
            source_text: Some(text.to_string()),
            value,
            ..writer(text)
        }
    }

    fn question<'a>(csr: &'a str, bit: u32, field: &'a str, hart: Option<u32>) -> BitQuestion<'a> {
        BitQuestion {
            csr,
            bit,
            field: if field.is_empty() { "F" } else { field },
            reset: None,
            hart,
        }
    }

    fn story(writers: &[CsrWriter], recorded: Option<&CsrWrites>, q: &BitQuestion) -> BitStory {
        let number = csr_number(q.csr).expect("a known CSR");
        let hedeleg = writer_at(
            "hedeleg",
            WriteKind::Write,
            Some(0xb1ff),
            ("hart.c", 13, "hart_init"),
            "csr_write(CSR_HEDELEG, x);",
        );
        bit_story(writers, recorded, q, number, || Some(("hedeleg", hedeleg)))
    }

    #[test]
    fn a_bit_set_and_cleared_again_names_the_clearing_line() {
        // The nodeleg shape: hart_init delegates ecall from U, a later
        // helper clears exactly that bit with csrc.
        let set = writer_at(
            "hedeleg",
            WriteKind::Write,
            Some(0xb1ff),
            ("hart.c", 13, "hart_init"),
            "csr_write(CSR_HEDELEG,",
        );
        let clear = writer_at(
            "hedeleg",
            WriteKind::Clear,
            Some(0x100),
            ("fault.c", 57, "fault_hedeleg"),
            "\tcsr_clear(CSR_HEDELEG, 1UL << EXC_ECALL_U);",
        );
        let s = story(
            &[set, clear],
            None,
            &question("hedeleg", 8, "ecall_u", Some(0)),
        );
        assert!(
            s.details[0].ends_with(
                "; bit 8 (ecall_u) is set at hart.c:13 and cleared again at fault.c:57."
            ),
            "{:?}",
            s.details
        );
        assert_eq!(
            s.details[1..],
            [
                "proposed change at fault.c:57:",
                "-   \tcsr_clear(CSR_HEDELEG, 1UL << EXC_ECALL_U);"
            ]
        );
        assert!(
            s.fix.starts_with("At fault.c:57 (fault_hedeleg), stop clearing hedeleg bit 8 (ecall_u): leave it out of the value cleared there"),
            "{}",
            s.fix
        );
    }

    #[test]
    fn an_overwrite_without_the_bit_or_a_wider_clear_gets_its_change() {
        // The nocounters shape: csrw hcounteren of ~0, then of 0.
        let set = writer_at(
            "hcounteren",
            WriteKind::Write,
            Some(!0),
            ("hart.c", 28, "hart_init"),
            "csr_write(CSR_HCOUNTEREN, ~0UL);",
        );
        let zero = writer_at(
            "hcounteren",
            WriteKind::Write,
            Some(0),
            ("fixture.c", 152, "fixture_counteren"),
            "csr_write(CSR_HCOUNTEREN, 0);",
        );
        let s = story(
            &[set, zero],
            None,
            &question("hcounteren", 1, "TM", Some(0)),
        );
        assert!(
            s.details
                .contains(&"+   csr_write(CSR_HCOUNTEREN, 0 | (1UL << 1));".to_string()),
            "{:?}",
            s.details
        );
        assert!(s.fix.contains("hcounteren |= 1 << 1"), "{}", s.fix);
        // A csrc of more bits than the one: mask it out of the value.
        let set = writer_at(
            "hideleg",
            WriteKind::Write,
            Some(0x444),
            ("hart.c", 24, "hart_init"),
            "csr_write(CSR_HIDELEG, x);",
        );
        let clear = writer_at(
            "hideleg",
            WriteKind::Clear,
            Some(0x440),
            ("vm.c", 90, "vm_quiesce"),
            "csr_clear(CSR_HIDELEG, VS_TIMER | VS_EXT);",
        );
        let s = story(
            &[set, clear],
            None,
            &question("hideleg", 6, "VSTI", Some(0)),
        );
        assert!(
            s.details.contains(
                &"+   csr_clear(CSR_HIDELEG, (VS_TIMER | VS_EXT) & ~(1UL << 6));".to_string()
            ),
            "{:?}",
            s.details
        );
    }

    #[test]
    fn an_m_mode_register_nothing_writes_is_the_firmwares() {
        let s = story(&[], None, &question("menvcfg", 61, "ADUE", Some(0)));
        assert_eq!(
            s.details,
            ["no instruction in the images writes menvcfg: it is an M-mode register, written by the M-mode firmware (OpenSBI), outside the images we know."]
        );
        assert!(
            s.fix.starts_with("Have the M-mode firmware set menvcfg bit 61 (ADUE) (menvcfg |= 1 << 61): the hypervisor runs in HS-mode and cannot write menvcfg."),
            "{}",
            s.fix
        );
        // A hypervisor register nothing writes: beside its neighbour.
        let s = story(&[], None, &question("hideleg", 6, "VSTI", Some(0)));
        assert_eq!(s.details, ["no instruction in the images writes hideleg."]);
        assert!(
            s.fix.starts_with(
                "Write hideleg where the hypervisor writes hedeleg: in hart_init at hart.c:13"
            ),
            "{}",
            s.fix
        );
    }

    #[test]
    fn a_value_from_memory_and_a_write_on_hart_0_only() {
        // csrw of a register loaded from a per-vCPU table: not a constant;
        // the run recorded it on hart 0 alone.
        let table = writer_at(
            "hideleg",
            WriteKind::Write,
            None,
            ("vcpu.c", 40, "vcpu_load"),
            "csr_write(CSR_HIDELEG, v->hideleg);",
        );
        let recorded = CsrWrites {
            csrs: vec!["hideleg".into()],
            writers: vec![table.clone()],
            writes: vec![TracedWrite {
                csr: "hideleg".into(),
                hart: 0,
                privilege: "HS".into(),
                place: "vcpu.c:40".into(),
                address: 0x8020_0350,
                instruction: "csrw hideleg, a5".into(),
                operand: "a5".into(),
                value: Some(0x404),
                before: Some(0),
                after: Some(0x404),
                at_secs: 0.1,
            }],
            outside: vec![],
            ..CsrWrites::default()
        };
        let s = story(
            &[table],
            Some(&recorded),
            &question("hideleg", 6, "VSTI", Some(1)),
        );
        assert!(
            s.details[0]
                .starts_with("hideleg is written at vcpu.c:40 (`csrw hideleg, a5`, a5 = 0x404"),
            "{:?}",
            s.details
        );
        assert!(
            s.details[0].contains(" on hart 0; no instruction in the images sets bit 6"),
            "{:?}",
            s.details
        );
        assert!(
            s.details.contains(&"hart 1 never ran a write of hideleg (the recorded writes ran on hart 0 only): it is a per-hart register, so each hart must write it.".to_string()),
            "{:?}",
            s.details
        );
        assert!(
            !s.details.iter().any(|d| d.starts_with("proposed change")),
            "{:?}",
            s.details
        );
        assert!(
            s.fix.contains("not a constant of its function"),
            "{}",
            s.fix
        );
        // The fault on hart 0, where it ran: no such line.
        let s = story(
            &recorded.writers,
            Some(&recorded),
            &question("hideleg", 6, "VSTI", Some(0)),
        );
        assert!(
            !s.details.iter().any(|d| d.contains("never ran")),
            "{:?}",
            s.details
        );
    }
}
