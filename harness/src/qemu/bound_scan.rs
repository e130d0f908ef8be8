//! Keeps QEMU version bounds in one place: a scan of every string literal in
//! `harness/src` for prose such as `QEMU < 8.0`, `QEMU before 9.0` or
//! `9.0 and later`. Such a bound belongs to a quirk's range in
//! [`super::quirks`]; a text builds it with [`super::quirks::Quirk::with`] or
//! [`super::quirks::Quirk::without`], so a new QEMU release that moves a
//! bound is one edit. Test modules (a file's `#[cfg(test)] mod tests` and
//! `tests.rs` files) may quote the texts they check.

use std::path::{Path, PathBuf};

use regex::Regex;

/// The file that owns the bounds.
const HOME: &str = "qemu/quirks.rs";
/// This file, whose own tests quote bounds.
const SELF: &str = "qemu/bound_scan.rs";

/// Prose that states a bound on QEMU releases.
const BOUND: &str = r"(?x)
    QEMU \s* (<|>|<=|>=) \s* \d
  | QEMU \s+ (before|after|since|from|until|up\ to) \s+ \d
  | \b (before|since|until) \s+ \d+\.\d+ \b
  | \b \d+\.\d+ \s+ (and|or) \s+ (later|newer|above|earlier|older) \b
  | \b (QEMU \s+)? \d+\.x \b
";

/// The string literals of Rust source `text`, each with its line, up to
/// the file's test module. Comments and char literals are skipped; raw
/// strings are read to their closing quote and hashes.
fn string_literals(text: &str) -> Vec<(usize, String)> {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(end) => &text[..end],
        None => text,
    };
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let (mut i, mut line) = (0usize, 1usize);
    let next = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c == '/' && next(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next(i + 1) == '*' {
            let end = code_index(&chars, i + 2, &['*', '/']);
            line += chars[i..end].iter().filter(|&&c| c == '\n').count();
            i = end;
        } else if c == '\'' && (next(i + 1) == '\\' || next(i + 2) == '\'') {
            // A char literal ('"', '\n'); a lifetime has no closing quote.
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if c == 'r' && matches!(next(i + 1), '"' | '#') && !ident_before(&chars, i) {
            let hashes = chars[i + 1..].iter().take_while(|&&c| c == '#').count();
            let open = i + 1 + hashes;
            if next(open) != '"' {
                i += 1;
                continue;
            }
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let end = code_index(&chars, open + 1, &close);
            let body: String = chars[open + 1..end - close.len()].iter().collect();
            found.push((line, body.clone()));
            line += body.matches('\n').count();
            i = end;
        } else if c == '"' {
            let start = line;
            let mut body = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    // `\` before a line break continues the literal on the next line.
                    if next(i + 1) == '\n' {
                        line += 1;
                        i += 2;
                        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
                            i += 1;
                        }
                        continue;
                    }
                    body.push(next(i + 1));
                    i += 2;
                    continue;
                }
                if chars[i] == '\n' {
                    line += 1;
                }
                body.push(chars[i]);
                i += 1;
            }
            found.push((start, body));
            i += 1;
        } else {
            i += 1;
        }
    }
    found
}

/// Whether the character before `i` ends an identifier (`bar"` is no raw string).
fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// Just past the first `pattern` at or after `from` (the end when none).
fn code_index(chars: &[char], from: usize, pattern: &[char]) -> usize {
    (from..chars.len())
        .find(|&k| chars[k..].starts_with(pattern))
        .map_or(chars.len(), |k| k + pattern.len())
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// `file:line: "text"` for each string literal under `src` that states a
/// QEMU version bound outside [`HOME`].
fn bounds_outside_home(src: &Path) -> Vec<String> {
    let bound = Regex::new(BOUND).expect("a valid pattern");
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let rel = path.strip_prefix(src).unwrap_or(&path);
        let rel = rel.to_string_lossy();
        if rel == HOME || rel == SELF || rel.ends_with("tests.rs") {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (line, s) in string_literals(&text) {
            if bound.is_match(&s) {
                out.push(format!("{rel}:{line}: {s:?}"));
            }
        }
    }
    out
}

#[test]
fn the_pattern_knows_a_bound_when_it_sees_one() {
    let bound = Regex::new(BOUND).expect("a valid pattern");
    for text in [
        "no Svadu (QEMU < 8.0): the hart always sets A/D",
        "htinst alone works only on QEMU >= 8.0.",
        "QEMU before 9.0 answers p/P only after that",
        "(QEMU 9.0 and later reset henvcfg to 0)",
        "8.x reset it with ADUE set, and before 8.0 the hart",
    ] {
        assert!(bound.is_match(text), "{text}");
    }
    for text in [
        "QEMU 9.2.0 hangs",
        "the scenario states nothing for QEMU 7.2.22",
        "expected e.g. \"<9.0\"",
        "verdict after 3.25 s",
        "7.2.22 to 10.0.2 offer neither stimecmp nor vstimecmp",
    ] {
        assert!(!bound.is_match(text), "{text}");
    }
}

#[test]
fn string_literals_are_read_as_the_compiler_reads_them() {
    let src = "let a = '\"'; // \"QEMU < 8.0\"\n/* \"x\" */ f(\"one \\\n    two\", r#\"raw \"q\" \"#, 'b', &'static str);\n#[cfg(test)]\nmod tests { \"after\" }";
    let found = string_literals(src);
    assert_eq!(
        found,
        [(2, "one two".to_string()), (3, "raw \"q\" ".to_string())]
    );
}

/// No string literal in `harness/src` states a QEMU version bound by hand.
#[test]
fn version_bounds_are_built_from_the_quirk_ranges() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = bounds_outside_home(&src);
    assert!(
        found.is_empty(),
        "QEMU version bounds written by hand (build them from a quirk in {HOME}: \
         quirk.with() / quirk.without(), .in_words()):\n{}",
        found.join("\n")
    );
}
