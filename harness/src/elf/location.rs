//! Locations as users write them: `kvminithart`, `kvminithart+0x1e`,
//! `kvminithart+30`, `vm.c:67`, `kernel/vm.c:67`, `0x80100e5e`.

use super::error::ElfError;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// A place in a program, before it is resolved to an address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Location {
    /// A symbol plus a byte offset.
    Symbol {
        /// The symbol's name.
        name: String,
        /// Bytes past the symbol's address.
        offset: u64,
    },
    /// A source line; `file` is a base name or a path suffix.
    Line {
        /// The file as written.
        file: String,
        /// The line number (from 1).
        line: u32,
    },
    /// An address (already a run-time address: no load offset is applied).
    Address(u64),
}

impl Location {
    /// Parses a location; see the module documentation for the forms.
    pub(crate) fn parse(text: &str) -> Result<Location, ElfError> {
        let t = text.trim();
        let bad = |reason: &str| ElfError::BadLocation {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        if t.is_empty() {
            return Err(bad("it is empty"));
        }
        if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            return u64::from_str_radix(hex, 16)
                .map(Location::Address)
                .map_err(|_| bad("not a hexadecimal address"));
        }
        if t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(
                "a bare number is ambiguous; write addresses in hex (0x...)",
            ));
        }
        // `file:line`; a symbol may itself contain `::` (Rust, C++), so only
        // a purely numeric tail after a single colon makes a line.
        if let Some((file, line)) = t.rsplit_once(':') {
            if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) && !file.ends_with(':')
            {
                if file.is_empty() {
                    return Err(bad("the file name is missing before ':'"));
                }
                let line: u32 = line.parse().map_err(|_| bad("line number too large"))?;
                if line == 0 {
                    return Err(bad("lines are numbered from 1"));
                }
                return Ok(Location::Line {
                    file: file.to_string(),
                    line,
                });
            }
        }
        if t.chars().any(char::is_whitespace) {
            return Err(bad("symbol names have no spaces"));
        }
        if let Some((name, off)) = t.rsplit_once('+') {
            if name.is_empty() {
                return Err(bad("the symbol name is missing before '+'"));
            }
            let offset =
                parse_offset(off).ok_or_else(|| bad("the offset after '+' is not a number"))?;
            return Ok(Location::Symbol {
                name: name.to_string(),
                offset,
            });
        }
        Ok(Location::Symbol {
            name: t.to_string(),
            offset: 0,
        })
    }
}

/// `0x1e` (hex) or `30` (decimal).
fn parse_offset(s: &str) -> Option<u64> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

impl FromStr for Location {
    type Err = ElfError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Location::parse(s)
    }
}

impl fmt::Display for Location {
    /// The canonical spelling; it parses back to the same location.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Symbol { name, offset: 0 } => write!(f, "{name}"),
            Location::Symbol { name, offset } => write!(f, "{name}+{offset:#x}"),
            Location::Line { file, line } => write!(f, "{file}:{line}"),
            Location::Address(a) => write!(f, "{a:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(name: &str, offset: u64) -> Location {
        Location::Symbol {
            name: name.into(),
            offset,
        }
    }

    #[test]
    fn forms() {
        assert_eq!(
            Location::parse("kvminithart").unwrap(),
            sym("kvminithart", 0)
        );
        assert_eq!(
            Location::parse("kvminithart+0x1e").unwrap(),
            sym("kvminithart", 0x1e)
        );
        assert_eq!(
            Location::parse("kvminithart+30").unwrap(),
            sym("kvminithart", 30)
        );
        assert_eq!(
            Location::parse("vm.c:67").unwrap(),
            Location::Line {
                file: "vm.c".into(),
                line: 67
            }
        );
        assert_eq!(
            Location::parse("kernel/vm.c:67").unwrap(),
            Location::Line {
                file: "kernel/vm.c".into(),
                line: 67
            }
        );
        assert_eq!(
            Location::parse("0x80100e5e").unwrap(),
            Location::Address(0x80100e5e)
        );
        assert_eq!(Location::parse("  0X10 ").unwrap(), Location::Address(0x10));
        // Linker symbols with odd characters stay symbols.
        assert_eq!(
            Location::parse("__global_pointer$").unwrap(),
            sym("__global_pointer$", 0)
        );
        assert_eq!(Location::parse("hv::main").unwrap(), sym("hv::main", 0));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (text, reason) in [
            ("", "empty"),
            ("0xzz", "hexadecimal"),
            ("1234", "bare number"),
            ("vm.c:0", "from 1"),
            (":12", "file name is missing"),
            ("kvminithart+", "offset"),
            ("kvminithart+0xq", "offset"),
            ("+4", "symbol name is missing"),
            ("a b", "spaces"),
        ] {
            let err = Location::parse(text).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(reason), "{text:?}: {msg}");
            assert!(matches!(err, ElfError::BadLocation { .. }));
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["kvminithart", "kvminithart+0x1e", "vm.c:67", "0x80100e5e"] {
            let loc: Location = text.parse().unwrap();
            assert_eq!(loc.to_string(), text);
        }
        assert_eq!(Location::parse("f+30").unwrap().to_string(), "f+0x1e");
    }
}
