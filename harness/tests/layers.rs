//! The crate's layers: no import cycle between the top-level modules of
//! `harness/src` (each directory or file under it; `lib.rs` is the root and
//! `main.rs` the binary, neither a module here).
//!
//! A module depends on another when its code names it: `crate::other` (in a
//! `use` or a path, also inside `crate::{...}` groups and as `$crate::` in a
//! macro), `super::` paths that climb to the crate root, and calls of a
//! `macro_rules!` macro defined in the other module. Comments and string
//! literals do not count.
//!
//! The cycles that exist today are listed in [`KNOWN_CYCLES`] (issue 21): a
//! ratchet. A new cycle, or a known one that grows, fails; a known one that
//! is gone fails too, until it is taken off the list, so the list stays
//! exactly what is true.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Cycles between top-level modules that remain (issue 21: "strict layers,
/// no cycle"), each as the sorted names of one strongly connected group.
/// Remove a line once its cycle is broken; never add one.
const KNOWN_CYCLES: &[&[&str]] = &[];

/// Where one dependency is written: a file and a line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Site {
    file: String,
    line: usize,
}

/// Dependencies between top-level modules, each with the first place that makes it.
type Graph = BTreeMap<String, BTreeMap<String, Site>>;

// ---------------------------------------------------------------------------
// Reading Rust source as tokens (enough for paths: identifiers and punctuation).

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// The tokens of `text` with their line numbers; comments, string, byte-string
/// and char literals left out. Lifetimes (`'a`) are not char literals.
fn tokens(text: &str) -> Vec<(Tok, usize)> {
    let b: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| b.get(i).copied().unwrap_or('\0');
    while i < b.len() {
        let c = b[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            '/' if at(i + 1) == '/' => {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
            }
            '/' if at(i + 1) == '*' => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == '/' && at(i + 1) == '*' {
                        depth += 1;
                        i += 2;
                    } else if b[i] == '*' && at(i + 1) == '/' {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if b[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            '"' => i = skip_string(&b, i + 1, &mut line),
            'r' | 'b' if raw_string_start(&b, i).is_some() => {
                let (hashes, body) = raw_string_start(&b, i).unwrap_or_default();
                i = body;
                let closing: Vec<char> = format!("\"{}", "#".repeat(hashes)).chars().collect();
                while i < b.len() && !b[i..].starts_with(&closing) {
                    if b[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += closing.len();
            }
            'b' if at(i + 1) == '"' => i = skip_string(&b, i + 2, &mut line),
            'b' if at(i + 1) == '\'' => i = skip_char(&b, i + 1),
            '\'' => {
                // 'x' or '\n' is a char literal; 'a without a closing quote a lifetime.
                if at(i + 1) == '\\' || at(i + 2) == '\'' {
                    i = skip_char(&b, i);
                } else {
                    i += 1;
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
                out.push((Tok::Ident(b[start..i].iter().collect()), line));
            }
            ':' if at(i + 1) == ':' => {
                out.push((Tok::PathSep, line));
                i += 2;
            }
            c if c.is_whitespace() || c.is_ascii_digit() => i += 1,
            c => {
                out.push((Tok::Punct(c), line));
                i += 1;
            }
        }
    }
    out
}

/// Past the end of a `"..."` literal whose body starts at `i`.
fn skip_string(b: &[char], mut i: usize, line: &mut usize) -> usize {
    while i < b.len() && b[i] != '"' {
        match b[i] {
            '\\' => i += 2,
            '\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    i + 1
}

/// Past the end of a char literal starting at its opening quote `i`.
fn skip_char(b: &[char], mut i: usize) -> usize {
    i += 1;
    while i < b.len() && b[i] != '\'' {
        i += if b[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

/// For `r"`, `r#"`, `br##"` ... at `i`: the number of `#` and where the body starts.
fn raw_string_start(b: &[char], i: usize) -> Option<(usize, usize)> {
    // Not the tail of an identifier such as `for` or `bar`.
    if i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if b.get(j) == Some(&'b') {
        j += 1;
    }
    if b.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = b[j..].iter().take_while(|c| **c == '#').count();
    j += hashes;
    (b.get(j) == Some(&'"')).then_some((hashes, j + 1))
}

// ---------------------------------------------------------------------------
// Dependencies between top-level modules.

/// The module path of a file relative to `src/`: `diagnosis/walk.rs` ->
/// [diagnosis, walk], `diagnosis/mod.rs` -> [diagnosis], `lib.rs` -> [].
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" && stem != "lib" {
            parts.push(stem.to_string());
        }
    }
    parts
}

/// The top-level modules named by one file's code, with the line of each
/// first mention; `macros` maps crate macros to their modules.
fn named_modules(
    path: &[String],
    toks: &[(Tok, usize)],
    tops: &BTreeSet<String>,
    macros: &BTreeMap<String, String>,
) -> Vec<(String, usize)> {
    let ident = |k: usize| match toks.get(k) {
        Some((Tok::Ident(s), _)) => Some(s.as_str()),
        _ => None,
    };
    let is = |k: usize, t: &Tok| toks.get(k).map(|(x, _)| x) == Some(t);
    let mut found = Vec::new();
    // Inline `mod name { ... }` blocks open at this point, with the brace depth they close at.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    for k in 0..toks.len() {
        let line = toks[k].1;
        match &toks[k].0 {
            Tok::Punct('{') => {
                depth += 1;
                if k >= 2 && ident(k - 2) == Some("mod") {
                    if let Some(name) = ident(k - 1) {
                        inline.push((name.to_string(), depth));
                    }
                }
            }
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(word) if word == "crate" && is(k + 1, &Tok::PathSep) => {
                if is(k + 2, &Tok::Punct('{')) {
                    // crate::{a, b::c, d as e}: the first name of each item.
                    let mut level = 0;
                    let mut item_start = true;
                    for (t, l) in &toks[k + 2..] {
                        match t {
                            Tok::Punct('{') => {
                                level += 1;
                                if level == 1 {
                                    item_start = true;
                                }
                            }
                            Tok::Punct('}') => {
                                level -= 1;
                                if level == 0 {
                                    break;
                                }
                            }
                            Tok::Punct(',') if level == 1 => item_start = true,
                            Tok::Ident(name) if level == 1 && item_start => {
                                found.push((name.clone(), *l));
                                item_start = false;
                            }
                            _ => item_start = false,
                        }
                    }
                } else if let Some(name) = ident(k + 2) {
                    found.push((name.to_string(), line));
                }
            }
            Tok::Ident(word) if word == "super" && (k == 0 || !is(k - 1, &Tok::PathSep)) => {
                let mut here: Vec<String> = path.to_vec();
                here.extend(inline.iter().map(|(n, _)| n.clone()));
                let mut j = k;
                while ident(j) == Some("super") && is(j + 1, &Tok::PathSep) {
                    here.pop();
                    j += 2;
                }
                if here.is_empty() {
                    if let Some(name) = ident(j) {
                        found.push((name.to_string(), line));
                    }
                }
            }
            // NAME!(...), not NAME != ...
            Tok::Ident(name) if is(k + 1, &Tok::Punct('!')) && !is(k + 2, &Tok::Punct('=')) => {
                let defining = k >= 2 && ident(k - 2) == Some("macro_rules");
                if let (false, Some(home)) = (defining, macros.get(name)) {
                    found.push((home.clone(), line));
                }
            }
            _ => {}
        }
    }
    found.retain(|(name, _)| tops.contains(name));
    found
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// One file read: its module path, its path under `src/`, its tokens.
type ModuleFile<'a> = (Vec<String>, &'a PathBuf, Vec<(Tok, usize)>);

/// The dependency graph of a source tree given as (path under `src/`, text).
fn graph(files: &[(PathBuf, String)]) -> Graph {
    let modules: Vec<ModuleFile> = files
        .iter()
        .filter(|(rel, _)| rel != Path::new("main.rs"))
        .map(|(rel, text)| (module_path(rel), rel, tokens(text)))
        .collect();
    let tops: BTreeSet<String> = modules
        .iter()
        .filter_map(|(path, _, _)| path.first().cloned())
        .collect();
    // macro_rules! NAME, by the top-level module that defines it.
    let mut macros = BTreeMap::new();
    for (path, _, toks) in &modules {
        for w in toks.windows(3) {
            if let (Tok::Ident(m), Tok::Punct('!'), Tok::Ident(name)) = (&w[0].0, &w[1].0, &w[2].0)
            {
                if m == "macro_rules" {
                    if let Some(top) = path.first() {
                        macros.insert(name.clone(), top.clone());
                    }
                }
            }
        }
    }
    let mut g = Graph::new();
    for (path, rel, toks) in &modules {
        let Some(from) = path.first() else {
            continue; // lib.rs: the root declares every module
        };
        for (to, line) in named_modules(path, toks, &tops, &macros) {
            if &to != from {
                let site = Site {
                    file: rel.display().to_string(),
                    line,
                };
                let edges = g.entry(from.clone()).or_default();
                let first = edges.entry(to).or_insert_with(|| site.clone());
                if site < *first {
                    *first = site;
                }
            }
        }
    }
    g
}

/// The strongly connected groups of more than one module, each sorted (Tarjan).
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    struct Walk<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        groups: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.g.get(v).into_iter().flat_map(|e| e.keys()) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    group.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.groups.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        groups: Vec::new(),
    };
    for v in g.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.groups.sort();
    walk.groups
}

/// A cycle's edges inside its group, each with where it is written.
fn describe(g: &Graph, group: &[String]) -> String {
    let mut lines = vec![format!("  {}:", group.join(" <-> "))];
    for from in group {
        for (to, site) in g.get(from).into_iter().flatten() {
            if group.contains(to) {
                lines.push(format!(
                    "    {from} -> {to} (first at src/{}:{})",
                    site.file, site.line
                ));
            }
        }
    }
    lines.join("\n")
}

fn crate_sources() -> Vec<(PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            let rel = p.strip_prefix(&src).expect("under src/").to_path_buf();
            (rel, text)
        })
        .collect()
}

#[test]
fn no_new_import_cycle_between_top_level_modules() {
    let g = graph(&crate_sources());
    let found = cycles(&g);
    let known: Vec<Vec<String>> = KNOWN_CYCLES
        .iter()
        .map(|c| c.iter().map(|s| s.to_string()).collect())
        .collect();
    let new: Vec<String> = found
        .iter()
        .filter(|c| !known.contains(c))
        .map(|c| describe(&g, c))
        .collect();
    let gone: Vec<String> = known
        .iter()
        .filter(|c| !found.contains(c))
        .map(|c| format!("  {}", c.join(" <-> ")))
        .collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "{}{}",
        if new.is_empty() {
            String::new()
        } else {
            format!(
                "import cycles between top-level modules that are not in KNOWN_CYCLES \
                 (break them: move the shared part below both):\n{}\n",
                new.join("\n")
            )
        },
        if gone.is_empty() {
            String::new()
        } else {
            format!(
                "cycles in KNOWN_CYCLES that no longer exist (take them off the list):\n{}",
                gone.join("\n")
            )
        }
    );
}

// ---------------------------------------------------------------------------
// The reader itself, on small trees.

fn tree(files: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
    files
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect()
}

fn edges(g: &Graph) -> Vec<String> {
    g.iter()
        .flat_map(|(from, to)| to.keys().map(move |t| format!("{from}->{t}")))
        .collect()
}

#[test]
fn every_way_of_naming_a_module_counts() {
    let g = graph(&tree(&[
        ("lib.rs", "pub mod a; pub mod b; pub mod c; pub mod d; pub mod e;"),
        ("a.rs", "use crate::b::Thing;\nfn f() { crate::c::g(); }"),
        (
            "b/mod.rs",
            "use crate::{\n    d::X,\n    e as other,\n};\nmod inner { fn f() { super::super::a::f(); } }",
        ),
        ("b/part.rs", "fn f() { say!(\"hi\"); }"),
        ("e.rs", "macro_rules! say { ($t:tt) => { $crate::d::out($t) }; }"),
        ("c.rs", "fn g() { super::d::h(); }"),
        ("d.rs", "fn h() {}"),
        ("main.rs", "use crate::a::f;"),
    ]));
    assert_eq!(
        edges(&g),
        ["a->b", "a->c", "b->a", "b->d", "b->e", "c->d", "e->d"]
    );
    assert_eq!(cycles(&g), vec![vec!["a".to_string(), "b".to_string()]]);
    let text = describe(&g, &cycles(&g)[0]);
    assert!(text.contains("a -> b (first at src/a.rs:1)"), "{text}");
    assert!(text.contains("b -> a (first at src/b/mod.rs:5)"), "{text}");
}

#[test]
fn comments_strings_and_inner_supers_do_not_count() {
    let g = graph(&tree(&[
        ("lib.rs", "pub mod a; pub mod b;"),
        (
            "a/mod.rs",
            "// crate::b::x\n/* crate::b /* nested */ crate::b */\nconst S: &str = \"crate::b::y\";\n\
             const R: &str = r#\"crate::b \"quoted\"\"#;\nconst C: char = '\"';\nfn f<'a>(x: &'a str) {}\n\
             mod t { use super::*; fn g() { super::super::a::f(); } }",
        ),
        ("a/deep.rs", "fn f() { super::other::g(); }"),
        ("b.rs", "use crate::a::f;"),
    ]));
    assert_eq!(edges(&g), ["b->a"]);
    assert!(cycles(&g).is_empty());
}
