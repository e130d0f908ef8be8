//! Where in a scenario file a byte offset is: `line:column`, and the key
//! written there (`breakpoint[1].privilege`), so that an error the TOML
//! parser or serde reports names the same key as the harness's own checks.

/// `(line, column)`, both from 1, of a byte offset.
pub(super) fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The dotted key at a byte offset, with array-of-tables indices as the
/// harness's messages write them: `console[0].step[1].expect`,
/// `outcome[2].trap.cause`, `machine`. `None` before any table or key.
///
/// A line scanner, not a TOML parser: it follows `[table]` and
/// `[[array]]` headers and the `key =` pairs on the offset's own line,
/// which is what the files this reads are written as.
pub(super) fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = &text[..floor_char_boundary(text, offset)];
    let (done, current) = match before.rfind('\n') {
        Some(i) => (&before[..i], &before[i + 1..]),
        None => ("", before),
    };
    let mut tables = Tables::default();
    for line in done.lines() {
        tables.header(line.trim());
    }
    let mut parts: Vec<String> = tables.path.into_iter().collect();
    parts.extend(keys_on_line(current));
    (!parts.is_empty()).then(|| parts.join("."))
}

/// `(line, column)` of where `key` (as [`key_at`] names keys) is written:
/// its value, or its table's header for a table (`outcome[1]`); an element
/// of an array (`milestones[2]`) is found as the array. `None` for a key
/// the file does not write (a default).
pub(super) fn locate(text: &str, key: &str) -> Option<(usize, usize)> {
    let value_of = |k: &str| {
        text.match_indices('=').find_map(|(i, _)| {
            let after = &text[i + 1..];
            let start = i + 1 + (after.len() - after.trim_start_matches([' ', '\t']).len());
            (key_at(text, start).as_deref() == Some(k)).then_some(start)
        })
    };
    let header_of = |k: &str| {
        let mut offset = 0;
        text.split_inclusive('\n').find_map(|line| {
            let start = offset;
            offset += line.len();
            (line.trim_start().starts_with('[') && key_at(text, offset).as_deref() == Some(k))
                .then_some(start)
        })
    };
    let array = key
        .strip_suffix(']')
        .and_then(|k| k.rsplit_once('['))
        .map(|(k, _)| k);
    value_of(key)
        .or_else(|| header_of(key))
        .or_else(|| array.and_then(value_of))
        .map(|at| position(text, at))
}

/// The table headers seen so far.
#[derive(Default)]
struct Tables {
    /// The current table's key, indices included (`console[1].step[0]`).
    path: Option<String>,
    /// How many elements each array of tables has, by its indexed key.
    counts: std::collections::HashMap<String, usize>,
}

impl Tables {
    /// Follows a `[a.b]` or `[[a.b]]` header line; other lines are ignored.
    fn header(&mut self, line: &str) {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            let key = self.indexed_prefix(name.trim());
            let n = self.counts.entry(key.clone()).or_insert(0);
            self.path = Some(format!("{key}[{n}]"));
            *n += 1;
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            self.path = Some(self.indexed_prefix(name.trim()));
        }
    }

    /// `console.step` as `console[1].step` when `console[1]` is the current
    /// element of that array.
    fn indexed_prefix(&self, name: &str) -> String {
        let parts: Vec<&str> = name.split('.').map(str::trim).collect();
        let mut out = String::new();
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            out.push_str(part);
            // The header's own last part is the table, not an element of it.
            if i + 1 < parts.len() {
                if let Some(n) = self.counts.get(&out) {
                    out.push_str(&format!("[{}]", n.saturating_sub(1)));
                }
            }
        }
        out
    }
}

/// The keys of a line up to the offset: the last `key =`, and each earlier
/// one whose value is an inline table still open (`trap = { cause = `).
fn keys_on_line(line: &str) -> Vec<String> {
    let mut keys: Vec<(String, bool)> = Vec::new();
    let mut rest = line;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq]
            .trim_end()
            .rsplit(|c: char| c.is_whitespace() || c == '{' || c == ',')
            .next()
            .unwrap_or("")
            .trim_matches('"');
        rest = &rest[eq + 1..];
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            // An `=` inside a string value, not a key.
            continue;
        }
        let opens = rest.trim_start().starts_with('{');
        keys.push((key.to_string(), opens));
    }
    let last = keys.len().saturating_sub(1);
    keys.into_iter()
        .enumerate()
        .filter(|(i, (_, opens))| *i == last || *opens)
        .map(|(_, (k, _))| k)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(text: &str, needle: &str) -> Option<String> {
        key_at(text, text.find(needle).expect("the needle is in the text"))
    }

    #[test]
    fn keys_with_array_indices() {
        let text = "name = \"x\"\n[machine]\ncpu = \"rv64\"\n[[console]]\nname = \"a\"\n\
                    [[console]]\nname = \"b\"\n[[console.step]]\nexpect = 'X'\n\
                    [[console.step]]\nsend = 'Y'\n[[outcome]]\nexpect = \"flies\"\n\
                    trap = { cause = \"c\", symbol = \"s\" }\n";
        assert_eq!(key_of(text, "\"x\"").as_deref(), Some("name"));
        assert_eq!(key_of(text, "\"rv64\"").as_deref(), Some("machine.cpu"));
        assert_eq!(key_of(text, "\"b\"").as_deref(), Some("console[1].name"));
        assert_eq!(
            key_of(text, "'Y'").as_deref(),
            Some("console[1].step[1].send")
        );
        assert_eq!(
            key_of(text, "\"flies\"").as_deref(),
            Some("outcome[0].expect")
        );
        assert_eq!(
            key_of(text, "\"c\"").as_deref(),
            Some("outcome[0].trap.cause")
        );
        assert_eq!(
            key_of(text, "\"s\"").as_deref(),
            Some("outcome[0].trap.symbol")
        );
        // At a key itself (an unknown field): the table.
        assert_eq!(key_of(text, "cpu").as_deref(), Some("machine"));
        assert_eq!(key_at(text, 0), None);
    }

    #[test]
    fn keys_are_located() {
        let text = "milestone_symbols = [\"a\", \"a\"]\n[[console]]\nname = \"x\"\n\
                    milestones = [\"(\"]\n[[outcome]]\nqemu = \"*\"\n[[outcome]]\n\
                    trap = { cause = 1, symbol = \"s\" }\n";
        assert_eq!(locate(text, "milestone_symbols[1]"), Some((1, 21)));
        assert_eq!(locate(text, "console[0].milestones[0]"), Some((4, 14)));
        assert_eq!(locate(text, "outcome[0].qemu"), Some((6, 8)));
        assert_eq!(locate(text, "outcome[1]"), Some((7, 1)));
        assert_eq!(locate(text, "outcome[1].trap.symbol"), Some((8, 30)));
        assert_eq!(locate(text, "outcome[1].because"), None);
    }

    #[test]
    fn positions_count_characters() {
        let text = "a = \"é\"\nb = 1\n";
        assert_eq!(position(text, text.find('b').unwrap()), (2, 1));
        assert_eq!(position(text, text.find('"').unwrap() + 3), (1, 7));
        // Inside a character: its start.
        assert_eq!(position(text, 6), (1, 6));
        assert_eq!(position(text, 10_000), (3, 1));
    }
}
