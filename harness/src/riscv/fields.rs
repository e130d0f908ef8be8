//! Named bit fields of a register value, and how they are rendered.
//!
//! Every CSR decoder in this module produces a [`DecodedCsr`]: the raw value
//! plus a list of [`Field`]s, each with its bit range, value and a short
//! meaning. Two renderings exist: one line for logs and tables
//! (`henvcfg = 0xa000000000000000 { STCE=1 PBMTE=0 ADUE=1 ... }`) and one line
//! per field for snapshots (`henvcfg.ADUE = 1`), so that a QEMU upgrade shows
//! up as a diff of named bits.

use serde::Serialize;
use std::fmt;

/// One named bit field of a register value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Field {
    /// The field's name as the specification writes it (`ADUE`, `MODE`).
    pub(crate) name: String,
    /// Highest bit of the field (inclusive).
    pub(crate) msb: u32,
    /// Lowest bit of the field.
    pub(crate) lsb: u32,
    /// The field's value, shifted down to bit 0.
    pub(crate) value: u64,
    /// A symbolic name for an enumerated value (`Sv39`, `M`, `Dirty`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) symbol: Option<String>,
    /// A short explanation of what this value means.
    pub(crate) meaning: String,
    /// Where the value came from when not from the register's own bits
    /// (`from monitor`: QEMU < 10.0's `priv` hides V).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) source: Option<String>,
}

impl Field {
    /// Extracts bits `msb..=lsb` of `raw` into a field.
    pub(crate) fn extract(name: impl Into<String>, msb: u32, lsb: u32, raw: u64) -> Self {
        Field {
            name: name.into(),
            msb,
            lsb,
            value: bits(raw, msb, lsb),
            symbol: None,
            meaning: String::new(),
            source: None,
        }
    }

    /// Sets the symbolic name of the value.
    pub(crate) fn with_symbol(mut self, symbol: impl Into<String>) -> Self {
        self.symbol = Some(symbol.into());
        self
    }

    /// Sets the explanation of the value.
    pub(crate) fn with_meaning(mut self, meaning: impl Into<String>) -> Self {
        self.meaning = meaning.into();
        self
    }

    /// The bit range as the specification writes it: `61` or `63:60`.
    pub(crate) fn range(&self) -> String {
        if self.msb == self.lsb {
            self.msb.to_string()
        } else {
            format!("{}:{}", self.msb, self.lsb)
        }
    }

    /// The mask of this field's bits within the register.
    pub(crate) fn mask(&self) -> u64 {
        mask(self.msb, self.lsb)
    }

    /// The value as a number: decimal below 10, hex above (`0x80123`).
    pub(crate) fn value_text(&self) -> String {
        number(self.value)
    }
}

/// How a register's fields are best read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Independent fields; every one is shown.
    Fields,
    /// One bit per member of a set (delegation, pending interrupts); the
    /// one-line form lists only the members that are set.
    Set,
    /// Nothing is known about the register: raw hex only.
    Raw,
}

/// A register value decoded into named fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecodedCsr {
    /// The register's name, lower case (`henvcfg`).
    pub(crate) name: String,
    /// The raw value.
    pub(crate) value: u64,
    /// How to read the fields.
    pub(crate) shape: Shape,
    /// The fields, most significant first.
    pub(crate) fields: Vec<Field>,
    /// Bits that are set but belong to no known field (0 when none): a
    /// surprise worth showing rather than hiding.
    pub(crate) other_bits: u64,
}

impl DecodedCsr {
    /// Builds a decoded register; `fields` may come in any order.
    pub(crate) fn new(name: &str, value: u64, shape: Shape, mut fields: Vec<Field>) -> Self {
        fields.sort_by_key(|f| std::cmp::Reverse(f.msb));
        let known = fields.iter().fold(0u64, |m, f| m | f.mask());
        DecodedCsr {
            name: name.to_ascii_lowercase(),
            value,
            shape,
            fields,
            other_bits: value & !known,
        }
    }

    /// A register nothing is known about: raw hex only.
    pub(crate) fn raw(name: &str, value: u64) -> Self {
        DecodedCsr {
            name: name.to_ascii_lowercase(),
            value,
            shape: Shape::Raw,
            fields: Vec::new(),
            other_bits: 0,
        }
    }

    /// The field called `name` (case-insensitive), if this register has one.
    pub(crate) fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The value of the field called `name`, if this register has one.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.field(name).map(|f| f.value)
    }

    /// One name and value per field, for snapshots: (`henvcfg.ADUE`, `1`),
    /// (`satp.MODE`, `8 (Sv39)`). The first is the raw value.
    pub(crate) fn snapshot_entries(&self) -> Vec<(String, String)> {
        let mut entries = vec![(self.name.clone(), format!("{:#x}", self.value))];
        for f in &self.fields {
            let mut value = f.value_text();
            if let Some(sym) = &f.symbol {
                value.push_str(&format!(" ({sym})"));
            }
            if let Some(src) = &f.source {
                value.push_str(&format!(" ({src})"));
            }
            entries.push((format!("{}.{}", self.name, f.name), value));
        }
        if self.other_bits != 0 {
            entries.push((
                format!("{}.other_bits", self.name),
                format!("{:#x}", self.other_bits),
            ));
        }
        entries
    }

    /// [`snapshot_entries`](Self::snapshot_entries) as lines: `henvcfg.ADUE = 1`.
    pub(crate) fn snapshot_lines(&self) -> Vec<String> {
        self.snapshot_entries()
            .into_iter()
            .map(|(name, value)| format!("{name} = {value}"))
            .collect()
    }

    /// [`snapshot_lines`](Self::snapshot_lines) joined with newlines, with a
    /// trailing newline.
    pub fn snapshot(&self) -> String {
        let mut s = self.snapshot_lines().join("\n");
        s.push('\n');
        s
    }

    /// One line per field with its bit range and meaning, for a person
    /// reading a diagnosis: `  [61] ADUE = 1  hardware updates A/D bits`.
    pub fn explain(&self) -> String {
        let mut s = format!("{} = {:#x}\n", self.name, self.value);
        let width = self.fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
        for f in &self.fields {
            let value = match &f.symbol {
                Some(sym) => format!("{} ({sym})", f.value_text()),
                None => f.value_text(),
            };
            s.push_str(&format!(
                "  [{:>5}] {:<width$} = {:<12} {}\n",
                f.range(),
                f.name,
                value,
                f.meaning
            ));
        }
        if self.other_bits != 0 {
            s.push_str(&format!(
                "  bits outside known fields: {:#x}\n",
                self.other_bits
            ));
        }
        s
    }
}

impl fmt::Display for DecodedCsr {
    /// `henvcfg = 0xa000000000000000 { STCE=1 PBMTE=0 ADUE=1 ... }`; sets
    /// list their members (`hideleg = 0x444 { VSSI VSTI VSEI }`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {:#x}", self.name, self.value)?;
        if self.shape == Shape::Raw {
            return Ok(());
        }
        let mut parts: Vec<String> = match self.shape {
            Shape::Set => self
                .fields
                .iter()
                .filter(|fl| fl.value != 0)
                .map(|fl| fl.name.clone())
                .collect(),
            _ => self
                .fields
                .iter()
                .map(|fl| match (&fl.symbol, &fl.source) {
                    (Some(sym), _) => format!("{}={}", fl.name, sym),
                    (None, Some(src)) => format!("{}={} ({src})", fl.name, fl.value_text()),
                    (None, None) => format!("{}={}", fl.name, fl.value_text()),
                })
                .collect(),
        };
        if self.other_bits != 0 {
            parts.push(format!("other={:#x}", self.other_bits));
        }
        if parts.is_empty() {
            write!(f, " {{ }}")
        } else {
            write!(f, " {{ {} }}", parts.join(" "))
        }
    }
}

/// Bits `msb..=lsb` of `raw`, shifted down to bit 0.
pub(crate) fn bits(raw: u64, msb: u32, lsb: u32) -> u64 {
    (raw & mask(msb, lsb)) >> lsb
}

/// Whether bit `n` of `raw` is set.
pub(crate) fn bit(raw: u64, n: u32) -> bool {
    raw >> n & 1 == 1
}

/// The mask covering bits `msb..=lsb`.
pub(crate) fn mask(msb: u32, lsb: u32) -> u64 {
    debug_assert!(msb >= lsb && msb < 64);
    let width = msb - lsb + 1;
    let ones = if width == 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    ones << lsb
}

/// A number as fields show it: decimal below 10, hex from 10 on.
pub(crate) fn number(v: u64) -> String {
    if v < 10 {
        v.to_string()
    } else {
        format!("{v:#x}")
    }
}

/// A one-bit field whose meaning depends on whether it is set.
pub(crate) fn flag(name: &str, n: u32, raw: u64, on: &str, off: &str) -> Field {
    let f = Field::extract(name, n, n, raw);
    let meaning = if f.value == 1 { on } else { off };
    f.with_meaning(meaning)
}

/// A multi-bit field whose values have names.
pub(crate) fn enumerated(
    name: &str,
    msb: u32,
    lsb: u32,
    raw: u64,
    describe: impl Fn(u64) -> (&'static str, &'static str),
) -> Field {
    let f = Field::extract(name, msb, lsb, raw);
    let (symbol, meaning) = describe(f.value);
    f.with_symbol(symbol).with_meaning(meaning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_bits() {
        assert_eq!(mask(63, 60), 0xf000_0000_0000_0000);
        assert_eq!(mask(63, 0), u64::MAX);
        assert_eq!(mask(0, 0), 1);
        assert_eq!(bits(0xa000_0000_0000_0000, 63, 60), 0xa);
        assert!(bit(0xa000_0000_0000_0000, 61));
        assert!(!bit(0xa000_0000_0000_0000, 62));
    }

    #[test]
    fn range_and_value_text() {
        let f = Field::extract("MODE", 63, 60, 0x8000_0000_0000_0000);
        assert_eq!(f.range(), "63:60");
        assert_eq!(f.value_text(), "8");
        let f = Field::extract("PPN", 43, 0, 0x80123);
        assert_eq!(f.value_text(), "0x80123");
        assert_eq!(Field::extract("A", 6, 6, 0x40).range(), "6");
    }

    #[test]
    fn other_bits_are_reported() {
        let d = DecodedCsr::new(
            "x",
            0x13,
            Shape::Fields,
            vec![Field::extract("A", 0, 0, 0x13)],
        );
        assert_eq!(d.other_bits, 0x12);
        assert_eq!(d.to_string(), "x = 0x13 { A=1 other=0x12 }");
        assert_eq!(d.snapshot_lines().last().unwrap(), "x.other_bits = 0x12");
    }

    #[test]
    fn raw_renders_hex_only() {
        let d = DecodedCsr::raw("MTVAL", 0x80001000);
        assert_eq!(d.to_string(), "mtval = 0x80001000");
        assert_eq!(d.snapshot(), "mtval = 0x80001000\n");
    }
}
