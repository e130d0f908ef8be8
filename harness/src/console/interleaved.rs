//! A milestone with another writer's line inside it.
//!
//! One console is often written by more than one writer with no lock in
//! common: the hypervisor's own `printf` and a guest that reaches the same
//! UART through a G-stage passthrough (seen on the reference hypervisor:
//! hart 1's "hypervisor: hart 1 parked" report cut vm0's "guest kernel is
//! booting" into `g` + `ed\r\n` + `uest kernel is booting`). Other shapes
//! of the same class: OpenSBI's or an M-mode monitor's messages beside a
//! kernel's; a kernel whose harts print without a console lock (xv6's
//! `uartputc_sync` from a panicking hart, "hart 2 starting" lines); a
//! hypervisor logging on the UART it also forwards a guest's SBI console
//! calls to. Whole foreign lines (line-buffered writers) and line tails
//! (byte-at-a-time writers) both land inside the milestone.
//!
//! What is taken for a foreign run is deliberately narrow: text with no
//! line end, then one line end (`\n`, with or without `\r` before it),
//! that is, the rest of another writer's line, or a whole one. Words
//! inserted without a line end are never skipped: "guest kernel is not
//! booting" is a different line, not an interleaving. Only literal
//! milestones of [`MIN_LITERAL`] bytes or more are tried, with at most
//! [`MAX_RUNS`] foreign runs of at most [`MAX_RUN`] bytes each: a short
//! pattern such as a `$ ` prompt could be pieced together from anything.
//! Bytes of two writers mixed inside one line with no line end between
//! them cannot be told from other text and are not matched.

use std::ops::Range;

/// Literal milestones shorter than this are only matched whole.
pub(crate) const MIN_LITERAL: usize = 8;
/// Foreign runs one match may skip.
pub(crate) const MAX_RUNS: usize = 2;
/// The longest foreign run skipped, line end included.
pub(crate) const MAX_RUN: usize = 160;

/// How far before the already-searched end a new search must start to
/// find every interleaved match of a `literal_len`-byte literal that
/// straddles the old end.
pub(crate) fn look_back(literal_len: usize) -> usize {
    literal_len + MAX_RUNS * MAX_RUN
}

/// The bytes `pattern` (a regex) matches when it matches exactly one
/// literal text of [`MIN_LITERAL`] bytes or more with no line end; `None`
/// for any other pattern. Escaped punctuation (`\$`, `\.`) is literal;
/// any other metacharacter or escape makes it not one.
pub(crate) fn literal_of(pattern: &str) -> Option<Vec<u8>> {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => out.push(e),
                _ => return None,
            },
            '.' | '^' | '$' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' => {
                return None
            }
            c => out.push(c),
        }
    }
    (out.len() >= MIN_LITERAL && !out.contains('\n')).then(|| out.into_bytes())
}

/// `with other output inside: "gd\r\nuest kernel is booting"`: a match
/// found with other output inside it, as printed (control characters
/// escaped), for the reports.
pub(crate) fn in_words(text: &str) -> String {
    format!("with other output inside: \"{}\"", text.escape_debug())
}

/// Where a partial match stands after the byte just read.
#[derive(Clone, Copy)]
enum Partial {
    /// Nothing.
    None,
    /// The last byte was a byte of the literal; the match began at `start`.
    Matching { start: usize },
    /// Inside a foreign run, `len` bytes so far, no line end yet.
    Foreign { start: usize, len: usize },
    /// A foreign run just ended with its line end: the next byte must be
    /// the literal's.
    AfterForeign { start: usize },
}

/// The earliest-ending span of `hay` from `from` on that holds `literal`
/// with one to [`MAX_RUNS`] foreign runs inside it (see the module docs);
/// `None` when there is none (a whole match is the regex's to find).
pub(crate) fn find(hay: &[u8], from: usize, literal: &[u8]) -> Option<Range<usize>> {
    let n = literal.len();
    if n < 2 {
        return None;
    }
    // state[k][r]: `k` bytes of the literal taken (1..n), `r` runs used.
    let mut state = vec![[Partial::None; MAX_RUNS + 1]; n];
    let mut next = state.clone();
    for (i, &b) in hay.iter().enumerate().skip(from) {
        for row in next.iter_mut() {
            *row = [Partial::None; MAX_RUNS + 1];
        }
        let mut found: Option<usize> = None;
        for k in 1..n {
            for r in 0..=MAX_RUNS {
                match state[k][r] {
                    Partial::None => {}
                    Partial::Matching { start } => {
                        if b == literal[k] {
                            advance(&mut next, &mut found, n, k + 1, r, start);
                        }
                        if r < MAX_RUNS {
                            let p = if b == b'\n' {
                                Partial::AfterForeign { start }
                            } else {
                                Partial::Foreign { start, len: 1 }
                            };
                            keep(&mut next[k][r + 1], p);
                        }
                    }
                    Partial::Foreign { start, len } => {
                        if b == b'\n' {
                            keep(&mut next[k][r], Partial::AfterForeign { start });
                        } else if len + 1 < MAX_RUN {
                            keep(
                                &mut next[k][r],
                                Partial::Foreign {
                                    start,
                                    len: len + 1,
                                },
                            );
                        }
                    }
                    Partial::AfterForeign { start } => {
                        if b == literal[k] {
                            advance(&mut next, &mut found, n, k + 1, r, start);
                        }
                    }
                }
            }
        }
        if b == literal[0] {
            keep(&mut next[1][0], Partial::Matching { start: i });
        }
        if let Some(start) = found {
            return Some(start..i + 1);
        }
        std::mem::swap(&mut state, &mut next);
    }
    None
}

/// Takes literal byte `k - 1`: a complete match (with a run in it) is
/// `found`, a partial one goes on.
fn advance(
    next: &mut [[Partial; MAX_RUNS + 1]],
    found: &mut Option<usize>,
    n: usize,
    k: usize,
    r: usize,
    start: usize,
) {
    if k == n {
        if r > 0 {
            // The latest start: the tightest span.
            *found = Some(found.map_or(start, |f| f.max(start)));
        }
    } else {
        keep(&mut next[k][r], Partial::Matching { start });
    }
}

/// Keeps the better of two partial matches in the same place: the one
/// with the shorter foreign run so far (more room left), then the later
/// start.
fn keep(slot: &mut Partial, p: Partial) {
    let rank = |p: &Partial| match *p {
        Partial::None => None,
        Partial::Matching { start } | Partial::AfterForeign { start } => Some((0, start)),
        Partial::Foreign { start, len } => Some((usize::MAX - len, start)),
    };
    if rank(&p) > rank(slot) {
        *slot = p;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(hay: &[u8], lit: &str) -> Option<String> {
        find(hay, 0, lit.as_bytes()).map(|r| String::from_utf8_lossy(&hay[r]).into_owned())
    }

    /// vm0's console in a CI run of fault-nodeleg on QEMU 8.0.2 under load:
    /// hart 1's report cut vm0's boot line.
    const CUT_BY_A_REPORT: &[u8] = b"hypervisor: hart 1: henvcfg 0xa000000000000000\r\n\
hypervisor: unexpected trap from guest on hart 1, vm1\r\n\
hypervisor:   scause 0x8 sepc 0x400000a8 stval 0x0\r\n\
hypervisor: hart 1 parkgd\r\nuest kernel is booting\r\n\
hypervisor: unexpected trap from guest on hart 0, vm0\r\n";

    #[test]
    fn the_rest_of_another_writers_line_inside_a_milestone_is_skipped() {
        assert_eq!(
            text_of(CUT_BY_A_REPORT, "guest kernel is booting").as_deref(),
            Some("gd\r\nuest kernel is booting")
        );
    }

    #[test]
    fn whole_foreign_lines_inside_a_milestone_are_skipped_up_to_the_bound() {
        let two = b"init: sta[hv] vm1 halted\r\nrting [hv] vm0 tick\nsh\r\n";
        assert_eq!(
            text_of(two, "init: starting sh").as_deref(),
            Some("init: sta[hv] vm1 halted\r\nrting [hv] vm0 tick\nsh")
        );
        let three = b"init: [a]\nsta[b]\nrting[c]\n sh\r\n";
        assert_eq!(text_of(three, "init: starting sh"), None, "three runs");
        let long = format!("init: sta{}\nrting sh", "x".repeat(MAX_RUN));
        assert_eq!(text_of(long.as_bytes(), "init: starting sh"), None);
    }

    #[test]
    fn words_without_a_line_end_are_not_a_foreign_run() {
        assert_eq!(
            text_of(
                b"guest kernel is not booting\r\n",
                "guest kernel is booting"
            ),
            None
        );
        // Two lines of the guest's own: a line end inside, but text after
        // it on the new line before the rest.
        assert_eq!(
            text_of(
                b"init: starting\r\nexec failed: no sh\r\n",
                "init: starting sh"
            ),
            None
        );
    }

    #[test]
    fn the_earliest_end_is_found_and_from_is_honoured() {
        let hay = b"boot st[a]\nage one; boot s[b]\ntage one";
        let r = find(hay, 0, b"boot stage one").expect("the first");
        assert_eq!(&hay[r], b"boot st[a]\nage one");
        let r = find(hay, 1, b"boot stage one").expect("the second");
        assert_eq!(&hay[r], b"boot s[b]\ntage one");
        assert_eq!(find(hay, 25, b"boot stage one"), None);
    }

    #[test]
    fn only_long_literals_are_tried() {
        assert_eq!(literal_of(r"\$ "), None, "too short");
        assert_eq!(
            literal_of("guest kernel is booting").as_deref(),
            Some(&b"guest kernel is booting"[..])
        );
        assert_eq!(
            literal_of(r"xv6 kernel is booting\.").as_deref(),
            Some(&b"xv6 kernel is booting."[..])
        );
        assert_eq!(literal_of("hart [0-9] starting"), None);
        assert_eq!(literal_of(r"\d+ harts started"), None);
        assert_eq!(literal_of("init: (starting|running) sh"), None);
    }
}
