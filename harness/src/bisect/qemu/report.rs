//! The answer of a QEMU bisection: the commit, what it touched under
//! target/riscv and hw/riscv, and the lines of its diff that mention the CSR
//! a diagnosis of the bad end named.

use std::fmt::Write as _;

use serde::Serialize;

use super::git::CommitInfo;
use super::state::StepRecord;
use crate::bisect::versions::OutcomeClass;

/// Where RISC-V changes live in QEMU's tree.
pub(crate) const RISCV_DIRS: [&str; 2] = ["target/riscv", "hw/riscv"];

/// One line of the culprit's diff that mentions a diagnosed CSR.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct CsrLine {
    /// The CSR field the diagnosis named (`henvcfg.ADUE`).
    pub(crate) field: String,
    pub(crate) file: String,
    /// The diff line, `+` or `-` first.
    pub(crate) line: String,
}

/// The commit found.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Culprit {
    #[serde(flatten)]
    pub(crate) commit: CommitInfo,
    pub(crate) is_merge: bool,
    /// Files it changed under target/riscv and hw/riscv.
    pub(crate) riscv_files: Vec<String>,
    pub(crate) csr_lines: Vec<CsrLine>,
}

/// One line of commits searched: the first-parent chain, then a merged branch.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Phase {
    /// What the line is, in words.
    pub(crate) what: String,
    pub(crate) commits: usize,
    /// The first commit of the line that behaves like the bad end, if one was pinned down.
    pub(crate) first_bad: Option<String>,
}

/// The whole bisection, for the report and `--json`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct QemuBisection {
    pub(crate) scenario: String,
    pub(crate) source: String,
    pub(crate) good: CommitInfo,
    pub(crate) bad: CommitInfo,
    /// `--good` as the user gave it (a tag, a branch, a hash).
    pub(crate) good_ref: String,
    /// `--bad` as the user gave it.
    pub(crate) bad_ref: String,
    /// The good end's outcome, measured.
    pub(crate) good_outcome: OutcomeClass,
    pub(crate) bad_outcome: OutcomeClass,
    /// Judged by the scenario's expectation rather than by outcome.
    pub(crate) expect: bool,
    /// Every commit judged, in order (ends first); replayed ones from an
    /// interrupted run included.
    pub(crate) steps: Vec<StepRecord>,
    pub(crate) phases: Vec<Phase>,
    /// The first commit whose outcome differs, when the search pinned one down.
    pub(crate) culprit: Option<Culprit>,
    /// When skipped commits left a range: the commits that may be the first.
    pub(crate) candidates: Vec<CommitInfo>,
    /// The CSR fields a diagnosis of the bad end named.
    pub(crate) diagnosed: Vec<String>,
    pub(crate) answer: String,
    pub(crate) build_dir: String,
}

/// The CSR fields (`henvcfg.ADUE`) a diagnosis finding names: words of the
/// form `csrname.FIELD` with a lower-case CSR name and an upper-case field.
pub(crate) fn csr_fields(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_')) {
        let Some((csr, field)) = word.split_once('.') else {
            continue;
        };
        let csr_ok = csr.len() >= 3
            && csr
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let field_ok = !field.is_empty()
            && field
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        let word = format!("{csr}.{field}");
        if csr_ok && field_ok && !out.contains(&word) {
            out.push(word);
        }
    }
    out
}

/// The changed lines of `diff` (unified, as git prints it) mentioning the
/// CSR of each field, case-insensitively, with their files.
pub(crate) fn csr_lines(diff: &str, fields: &[String]) -> Vec<CsrLine> {
    let mut out = Vec::new();
    let mut file = String::new();
    for line in diff.lines() {
        if let Some(path) = line.strip_prefix("+++ b/") {
            file = path.to_string();
            continue;
        }
        if line.starts_with("+++")
            || line.starts_with("---")
            || !(line.starts_with('+') || line.starts_with('-'))
        {
            continue;
        }
        let lower = line.to_ascii_lowercase();
        for field in fields {
            let csr = field.split('.').next().unwrap_or(field);
            if lower.contains(csr) {
                out.push(CsrLine {
                    field: field.clone(),
                    file: file.clone(),
                    line: line.to_string(),
                });
            }
        }
    }
    out
}

/// The report as text.
pub(crate) fn render(b: &QemuBisection) -> String {
    let mut s = String::new();
    let good = named(&b.good_ref, &b.good.hash);
    let bad = named(&b.bad_ref, &b.bad.hash);
    let _ = writeln!(
        s,
        "== {}: QEMU commits from {good} to {bad} ({})",
        b.scenario, b.source
    );
    let _ = writeln!(
        s,
        "good end {good} {}; bad end {bad} {}{}",
        b.good_outcome.verb(),
        b.bad_outcome.verb(),
        if b.expect {
            " (judged by the scenario's expectation)"
        } else {
            ""
        }
    );
    for p in &b.phases {
        let _ = writeln!(
            s,
            "searched {}: {} commits{}",
            p.what,
            p.commits,
            p.first_bad
                .as_deref()
                .map(|c| format!(", first bad {}", short(c)))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(s, "{} steps:", b.steps.len());
    for (i, st) in b.steps.iter().enumerate() {
        let commit = if st.commit == b.good.hash {
            named(&b.good_ref, &st.commit)
        } else if st.commit == b.bad.hash {
            named(&b.bad_ref, &st.commit)
        } else {
            short(&st.commit).to_string()
        };
        let _ = writeln!(
            s,
            "  {:>2}. {} {:<4} build {:>6.1} s{} run {:>5.1} s  {}  ({})",
            i + 1,
            commit,
            st.verdict,
            st.build_secs,
            how_built(st.configured, st.build_commands),
            st.run_secs,
            truncate(&st.subject, 60),
            st.reason
        );
    }
    let _ = writeln!(s, "{}", b.answer);
    if let Some(c) = &b.culprit {
        let _ = writeln!(s, "commit {}", c.commit.hash);
        let _ = writeln!(s, "Author: {}", c.commit.author);
        let _ = writeln!(s, "Date:   {}", c.commit.date);
        let _ = writeln!(s, "    {}", c.commit.subject);
        if c.riscv_files.is_empty() {
            let _ = writeln!(s, "changes nothing under target/riscv or hw/riscv");
        } else {
            let _ = writeln!(
                s,
                "changes under target/riscv and hw/riscv: {}",
                c.riscv_files.join(", ")
            );
        }
        for l in &c.csr_lines {
            let _ = writeln!(s, "  {} ({}): {}", l.file, l.field, l.line.trim_end());
        }
    }
    if !b.candidates.is_empty() {
        let _ = writeln!(s, "candidates (skipped commits could not be told apart):");
        for c in &b.candidates {
            let _ = writeln!(s, "  {} {}", c.short(), c.subject);
        }
    }
    if !b.diagnosed.is_empty() {
        let _ = writeln!(s, "diagnosis of the bad end: {}", b.diagnosed.join(", "));
    }
    s
}

/// `v9.0.0 (c25df57ae8f9)` for a ref the user gave by name; the short
/// hash alone when they gave (a prefix of) the hash.
pub(crate) fn named(given: &str, hash: &str) -> String {
    if given.is_empty() || hash.starts_with(given) {
        short(hash).to_string()
    } else {
        format!("{given} ({})", short(hash))
    }
}

pub(crate) fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// A step's build in the table: ` (configured, 160 cmds)`, ` (12 cmds)`,
/// ` (configured)` when the count is not known, or nothing.
fn how_built(configured: bool, commands: Option<u64>) -> String {
    match (configured, commands) {
        (true, Some(n)) => format!(" (configured, {n} cmds)"),
        (false, Some(n)) => format!(" ({n} cmds)"),
        (true, None) => " (configured)".to_string(),
        (false, None) => String::new(),
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n - 3).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_the_user_gave_stand_beside_the_hashes() {
        let hash = "c25df57ae8f9b1a3e9c4cf0c5c1ba7bd0c06e3f2";
        assert_eq!(named("v9.0.0", hash), "v9.0.0 (c25df57ae8f9)");
        assert_eq!(named("c25df57a", hash), "c25df57ae8f9");
        assert_eq!(named(hash, hash), "c25df57ae8f9");
    }

    #[test]
    fn the_table_says_how_each_step_was_built() {
        assert_eq!(how_built(true, Some(160)), " (configured, 160 cmds)");
        assert_eq!(how_built(false, Some(12)), " (12 cmds)");
        assert_eq!(how_built(true, None), " (configured)");
        assert_eq!(how_built(false, None), "");
    }

    #[test]
    fn csr_fields_from_a_finding() {
        let summary = "VS-stage PTE for 0x80001000 (guest:kvminithart+0x1e) has A=0 and henvcfg.ADUE=0: the hart does not set A/D.";
        assert_eq!(csr_fields(summary), ["henvcfg.ADUE"]);
        assert!(csr_fields("nothing here. A.B").is_empty());
    }

    #[test]
    fn diff_lines_mentioning_the_csr() {
        let diff = "diff --git a/target/riscv/cpu.c b/target/riscv/cpu.c\n--- a/target/riscv/cpu.c\n+++ b/target/riscv/cpu.c\n@@ -1 +1 @@\n context henvcfg\n-    env->henvcfg = (cfg->ext_svpbmt ? HENVCFG_PBMTE : 0) |\n-                   (cfg->ext_svadu ? HENVCFG_ADUE : 0);\n+    env->henvcfg = 0;\n";
        let lines = csr_lines(diff, &["henvcfg.ADUE".to_string()]);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines.iter().all(|l| l.file == "target/riscv/cpu.c"));
        assert_eq!(lines[2].line, "+    env->henvcfg = 0;");
    }
}
