//! What the consoles said about a fault: the error lines a hypervisor or a
//! kernel prints before it parks (`[PANIC(0) virtual/vplic.c:307]: Bad opcode
//! for store`, `hypervisor: unexpected trap from guest on hart 0`). They are
//! evidence for the diagnosis of the hart they name, never a sign that the
//! hart went on.

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Error lines kept per console (the last ones: the report of the fault
/// that stopped the machine comes last).
const PER_CONSOLE: usize = 6;

/// One error line a console printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleLine {
    pub(crate) console: String,
    /// The line, without ANSI colour codes or surrounding blanks.
    pub text: String,
    /// The hart the line names (`hart 0`, `PANIC(0)`), when it names one.
    pub(crate) hart: Option<u32>,
}

fn error_word() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)\b(panic|error|fatal|unexpected trap|abort|bad opcode)\b")
            .expect("a valid pattern")
    })
}

fn hart_named() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)\bhart[ :#]*(\d{1,4})\b|\b(?:panic|error)\((\d{1,4})\)")
            .expect("a valid pattern")
    })
}

fn ansi() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\x1b\[[0-9;?]*[ -/]*[@-~]").expect("a valid pattern"))
}

/// The error lines of each console (`transcripts`: name and full text),
/// the last [`PER_CONSOLE`] of each, in the order printed.
pub(crate) fn error_lines(transcripts: &[(String, String)]) -> Vec<ConsoleLine> {
    let mut out = Vec::new();
    for (console, text) in transcripts {
        let mut lines: Vec<ConsoleLine> = text
            .lines()
            .map(|l| ansi().replace_all(l, "").trim().to_string())
            .filter(|l| error_word().is_match(l))
            .map(|text| ConsoleLine {
                console: console.clone(),
                hart: hart_named().captures(&text).and_then(|c| {
                    c.get(1)
                        .or_else(|| c.get(2))
                        .and_then(|m| m.as_str().parse().ok())
                }),
                text,
            })
            .collect();
        let skip = lines.len().saturating_sub(PER_CONSOLE);
        out.extend(lines.drain(skip..));
    }
    out
}

/// The lines that go with the fault of `hart`: those naming it, and, for
/// the first stuck hart (`first`), those naming no hart at all.
pub(crate) fn lines_for(lines: &[ConsoleLine], hart: u32, first: bool) -> Vec<ConsoleLine> {
    lines
        .iter()
        .filter(|l| l.hart == Some(hart) || (first && l.hart.is_none()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_name_their_hart_without_colour_codes() {
        let text = "hypervisor: boot hart 0, 1 VM\n\
                    \x1b[31m[PANIC(2) virtual/vplic.c:307]: Bad opcode for store\x1b[0m\n\
                    [ERROR] hart 0: fatal guest trap, scause 0x14\n\
                    [PANIC] hart 0 parked\n\
                    kernel panic: out of memory\n";
        let lines = error_lines(&[("vm0".to_string(), text.to_string())]);
        let texts: Vec<(&str, Option<u32>)> =
            lines.iter().map(|l| (l.text.as_str(), l.hart)).collect();
        assert_eq!(
            texts,
            vec![
                (
                    "[PANIC(2) virtual/vplic.c:307]: Bad opcode for store",
                    Some(2)
                ),
                ("[ERROR] hart 0: fatal guest trap, scause 0x14", Some(0)),
                ("[PANIC] hart 0 parked", Some(0)),
                ("kernel panic: out of memory", None),
            ]
        );
        let for0 = lines_for(&lines, 0, true);
        assert_eq!(for0.len(), 3, "hart 0's lines and the one naming no hart");
        assert_eq!(lines_for(&lines, 2, false).len(), 1);
    }

    #[test]
    fn only_the_last_lines_of_a_chatty_console_are_kept() {
        let text: String = (0..20).map(|i| format!("error {i}\n")).collect();
        let lines = error_lines(&[("c".to_string(), text)]);
        assert_eq!(lines.len(), PER_CONSOLE);
        assert_eq!(lines[PER_CONSOLE - 1].text, "error 19");
        // "boot hart 0" alone is no error line, and neither is a word
        // that only starts like one.
        let quiet = "boot hart 0\nerrors go through SBI\n";
        assert!(error_lines(&[("c".into(), quiet.into())]).is_empty());
    }
}
