//! Near matches for a misspelt name: edit distance and substrings.

/// At most this many suggestions are offered.
const MAX_SUGGESTIONS: usize = 5;

/// The names among `candidates` that look like `wanted`, best first: those
/// within a small edit distance, and those containing (or contained in)
/// `wanted`, compared without case.
pub fn near_matches<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let want = wanted.to_ascii_lowercase();
    let limit = (want.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = Vec::new();
    for name in candidates {
        let lower = name.to_ascii_lowercase();
        let shorter = lower.len().min(want.len());
        let substring = shorter >= 3 && (lower.contains(&want) || want.contains(&lower));
        let close = lower.len().abs_diff(want.len()) <= limit;
        if !substring && !close {
            continue;
        }
        let d = distance(&want, &lower);
        if substring || d <= limit {
            scored.push((d, name));
        }
    }
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// Levenshtein distance over characters.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("kvminithar", "kvminithart"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("same", "same"), 0);
    }

    #[test]
    fn the_error_message_example() {
        let names = [
            "kvminithart",
            "kvminit",
            "kvmmap",
            "main",
            "uartinit",
            "kvmmake",
        ];
        assert_eq!(
            near_matches("kvminithar", names),
            ["kvminithart", "kvminit"]
        );
    }

    #[test]
    fn case_and_substrings() {
        let names = ["KVMINITHART", "trapinithart", "plicinithart", "x"];
        assert_eq!(near_matches("kvminithart", names)[0], "KVMINITHART");
        let m = near_matches("inithart", names);
        assert!(m.contains(&"trapinithart".to_string()));
        assert!(!m.contains(&"x".to_string()));
        assert!(near_matches("zzzzzzzz", names).is_empty());
    }
}
