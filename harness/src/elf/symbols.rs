//! The symbol table of one ELF file: name -> address, and address ->
//! `symbol+offset`.

use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind, SymbolSection};
use serde::Serialize;
use std::fmt;

/// What a symbol names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SymbolType {
    /// STT_FUNC.
    Function,
    /// STT_OBJECT.
    Object,
    /// Anything else with an address: assembly labels, linker symbols.
    Other,
}

/// One symbol, at its link-time address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Symbol {
    /// The name.
    pub name: String,
    /// The link-time address.
    pub address: u64,
    /// The size in bytes (0 when the ELF does not say).
    pub size: u64,
    /// What it names.
    pub kind: SymbolType,
    /// Whether it is global or weak (not local to one object file).
    pub(crate) global: bool,
    /// Whether it lives in an executable section.
    pub(crate) code: bool,
}

impl Symbol {
    /// Whether `address` falls inside this symbol's extent.
    pub(crate) fn contains(&self, address: u64) -> bool {
        address >= self.address && address - self.address < self.size
    }
}

/// A section's link-time address range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SectionRange {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) code: bool,
}

/// An address described relative to a symbol: `kvminithart+0x1e`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SymbolHit {
    /// The symbol's name.
    pub name: String,
    /// The symbol's run-time address (load offset applied).
    pub(crate) address: u64,
    /// Bytes from the symbol's address to the address asked about.
    pub(crate) offset: u64,
    /// What the symbol names.
    pub(crate) kind: SymbolType,
    /// Whether the address lies within the symbol's size (false when only
    /// the nearest preceding symbol was found).
    pub exact: bool,
}

impl fmt::Display for SymbolHit {
    /// `kvminithart` or `kvminithart+0x1e`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.offset == 0 {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}+{:#x}", self.name, self.offset)
        }
    }
}

/// All symbols of one ELF file, sorted by address.
#[derive(Clone, Debug, Default)]
pub struct SymbolTable {
    symbols: Vec<Symbol>,
    sections: Vec<SectionRange>,
}

impl SymbolTable {
    /// Reads the symbol table (falling back to the dynamic one) and the
    /// allocated sections' ranges.
    pub(crate) fn from_object(file: &object::File<'_>) -> SymbolTable {
        let mut sections = Vec::new();
        let mut code_sections = Vec::new();
        for s in file.sections() {
            if s.address() == 0 && s.size() == 0 {
                continue;
            }
            let code = s.kind() == SectionKind::Text;
            if code {
                code_sections.push(s.index());
            }
            if is_allocated(s.kind()) {
                sections.push(SectionRange {
                    start: s.address(),
                    end: s.address() + s.size(),
                    code,
                });
            }
        }
        let mut symbols: Vec<Symbol> = Vec::new();
        let table: Vec<_> = if file.symbols().next().is_some() {
            file.symbols().collect()
        } else {
            file.dynamic_symbols().collect()
        };
        for sym in table {
            let kind = match sym.kind() {
                SymbolKind::Text => SymbolType::Function,
                SymbolKind::Data => SymbolType::Object,
                SymbolKind::Unknown | SymbolKind::Label => SymbolType::Other,
                _ => continue,
            };
            let section = match sym.section() {
                SymbolSection::Section(i) => Some(i),
                SymbolSection::Absolute => None,
                _ => continue,
            };
            let Ok(name) = sym.name() else { continue };
            if !is_interesting(name) {
                continue;
            }
            symbols.push(Symbol {
                name: name.to_string(),
                address: sym.address(),
                size: sym.size(),
                kind,
                global: sym.is_global(),
                code: section.is_some_and(|i| code_sections.contains(&i)),
            });
        }
        symbols.sort_by(|a, b| {
            a.address
                .cmp(&b.address)
                .then_with(|| rank(b).cmp(&rank(a)))
        });
        sections.sort_by_key(|s| s.start);
        SymbolTable { symbols, sections }
    }

    /// Every symbol, sorted by address.
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// The symbols called `name`, best candidate first (functions, then
    /// globals).
    pub fn named(&self, name: &str) -> Vec<&Symbol> {
        let mut found: Vec<&Symbol> = self.symbols.iter().filter(|s| s.name == name).collect();
        found.sort_by_key(|s| std::cmp::Reverse(rank(s)));
        found
    }

    /// The names of all symbols, for suggestions.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.symbols.iter().map(|s| s.name.as_str())
    }

    /// Describes the link-time address `address`: the function containing
    /// it, else a sized object containing it, else the nearest preceding
    /// symbol in the same section. `None` outside every allocated section.
    pub(crate) fn lookup(&self, address: u64) -> Option<(&Symbol, bool)> {
        // Symbols at or before the address; the ones just before it are at
        // the end of this slice.
        let upto = self.symbols.partition_point(|s| s.address <= address);
        let before = &self.symbols[..upto];
        let containing = |kind: SymbolType| {
            before
                .iter()
                .rev()
                .find(|s| s.kind == kind && s.contains(address))
        };
        if let Some(s) = containing(SymbolType::Function).or_else(|| containing(SymbolType::Object))
        {
            return Some((s, true));
        }
        let section = self
            .sections
            .iter()
            .find(|r| address >= r.start && address < r.end)?;
        let preceding = before
            .iter()
            .rev()
            .take_while(|s| s.address >= section.start)
            .find(|s| s.code == section.code || s.kind == SymbolType::Function)?;
        // Several symbols can share the address; take the best of them.
        let best = before
            .iter()
            .rev()
            .take_while(|s| s.address == preceding.address)
            .max_by_key(|s| rank(s))
            .unwrap_or(preceding);
        // A label (an assembly entry point: no size) covers everything up to
        // the next symbol, and `best` is the nearest one before `address`.
        Some((best, best.contains(address) || best.size == 0))
    }

    /// The link-time extent of `s`: its size when it has one; for a label,
    /// up to the next symbol at a higher address, within its section.
    pub(crate) fn extent(&self, s: &Symbol) -> std::ops::Range<u64> {
        if s.size > 0 {
            return s.address..s.address.wrapping_add(s.size);
        }
        let Some(section) = self
            .sections
            .iter()
            .find(|r| s.address >= r.start && s.address < r.end)
        else {
            return s.address..s.address;
        };
        let after = self.symbols.partition_point(|x| x.address <= s.address);
        let next = self
            .symbols
            .get(after)
            .map_or(section.end, |n| n.address.min(section.end));
        s.address..next
    }

    /// The link-time ranges of the executable sections (`.text` and the
    /// like), in address order: where instructions can be found.
    pub(crate) fn code_ranges(&self) -> Vec<std::ops::Range<u64>> {
        self.sections
            .iter()
            .filter(|s| s.code)
            .map(|s| s.start..s.end)
            .collect()
    }

    /// Whether the link-time address lies in an allocated section.
    pub(crate) fn in_sections(&self, address: u64) -> bool {
        self.sections
            .iter()
            .any(|r| address >= r.start && address < r.end)
    }
}

/// Preference among symbols at one address: functions, then sized
/// objects, then globals, then the rest.
fn rank(s: &Symbol) -> u8 {
    let kind = match s.kind {
        SymbolType::Function => 4,
        SymbolType::Object => 2,
        SymbolType::Other => 0,
    };
    kind + u8::from(s.global)
}

fn is_allocated(kind: SectionKind) -> bool {
    matches!(
        kind,
        SectionKind::Text
            | SectionKind::Data
            | SectionKind::ReadOnlyData
            | SectionKind::ReadOnlyDataWithRel
            | SectionKind::ReadOnlyString
            | SectionKind::UninitializedData
            | SectionKind::Tls
            | SectionKind::UninitializedTls
    )
}

/// Symbols a person would name: not empty, not local labels (`.L...`),
/// not RISC-V mapping symbols (`$x`, `$d`, `$xrv64i2p1...`).
fn is_interesting(name: &str) -> bool {
    !name.is_empty() && !name.starts_with(".L") && !name.starts_with('$')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_labels() {
        assert!(is_interesting("kvminithart"));
        assert!(is_interesting("__global_pointer$"));
        assert!(!is_interesting("$xrv64i2p1_m2p0"));
        assert!(!is_interesting("$d"));
        assert!(!is_interesting(".L12"));
        assert!(!is_interesting(""));
    }

    #[test]
    fn hit_display() {
        let hit = |offset| SymbolHit {
            name: "kvminithart".into(),
            address: 0x8000_0012,
            offset,
            kind: SymbolType::Function,
            exact: true,
        };
        assert_eq!(hit(0).to_string(), "kvminithart");
        assert_eq!(hit(0x1e).to_string(), "kvminithart+0x1e");
    }

    fn table() -> SymbolTable {
        let sym = |name: &str, address, size, kind, code| Symbol {
            name: name.into(),
            address,
            size,
            kind,
            global: true,
            code,
        };
        let mut symbols = vec![
            sym("_entry", 0x1000, 0, SymbolType::Other, true),
            sym("f", 0x1010, 0x10, SymbolType::Function, true),
            sym("g", 0x1020, 0x8, SymbolType::Function, true),
            sym("etext", 0x1030, 0, SymbolType::Other, true),
            sym("buf", 0x2000, 0x100, SymbolType::Object, false),
            sym("marker", 0x2000, 0, SymbolType::Other, false),
        ];
        symbols.sort_by(|a, b| {
            a.address
                .cmp(&b.address)
                .then_with(|| rank(b).cmp(&rank(a)))
        });
        SymbolTable {
            symbols,
            sections: vec![
                SectionRange {
                    start: 0x1000,
                    end: 0x1040,
                    code: true,
                },
                SectionRange {
                    start: 0x2000,
                    end: 0x3000,
                    code: false,
                },
            ],
        }
    }

    #[test]
    fn a_label_covers_the_code_up_to_the_next_symbol() {
        let t = table();
        let entry = t.named("_entry")[0].clone();
        assert_eq!(entry.size, 0);
        // Its first instruction and the ones after it, up to `main`.
        let (hit, exact) = t.lookup(0x1000).expect("a symbol");
        assert_eq!((hit.name.as_str(), exact), ("_entry", true));
        let (hit, exact) = t.lookup(0x1008).expect("a symbol");
        assert_eq!((hit.name.as_str(), exact), ("_entry", true));
        assert_eq!(t.extent(&entry), 0x1000..0x1010);
        // The last label of a section ends with it.
        let etext = t.named("etext")[0].clone();
        assert_eq!(t.extent(&etext), 0x1030..0x1040);
    }

    #[test]
    fn lookup_prefers_containing_function() {
        let t = table();
        let (s, exact) = t.lookup(0x1014).unwrap();
        assert_eq!((s.name.as_str(), exact), ("f", true));
        // A label covers the code up to the next symbol (issue 13: it was
        // not exact, and `diagnose` showed a bare address).
        let (s, exact) = t.lookup(0x1004).unwrap();
        assert_eq!((s.name.as_str(), exact), ("_entry", true));
        // Past g's end: the nearest label, etext.
        let (s, _) = t.lookup(0x1032).unwrap();
        assert_eq!(s.name, "etext");
        // A sized object beats a label at the same address.
        let (s, exact) = t.lookup(0x2010).unwrap();
        assert_eq!((s.name.as_str(), exact), ("buf", true));
        // Past buf, inside .data: nearest preceding is buf/marker; buf wins.
        let (s, exact) = t.lookup(0x2800).unwrap();
        assert_eq!((s.name.as_str(), exact), ("buf", false));
        assert!(t.lookup(0x5000).is_none());
        assert!(t.lookup(0x0fff).is_none());
    }
}
