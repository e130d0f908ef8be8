//! Several ELF files side by side (the hypervisor's, each guest's), each
//! its own symbol space, with lookups in one named space or across all.

use super::disasm::disassemble;
use super::error::ElfError;
use super::image::{ElfImage, Resolved};
use super::location::Location;
use super::stop::Stop;
use super::suggest::near_matches;
use std::path::Path;

/// A set of ELF files, each a named symbol space.
#[derive(Clone, Debug, Default)]
pub struct ElfSet {
    images: Vec<ElfImage>,
}

impl ElfSet {
    /// An empty set.
    pub fn new() -> ElfSet {
        ElfSet::default()
    }

    /// Adds an image. A second image with the same name replaces the first.
    pub fn add(&mut self, image: ElfImage) {
        self.images.retain(|i| i.name() != image.name());
        self.images.push(image);
    }

    /// Loads and adds an ELF file; see [`ElfImage::load`].
    pub fn load(
        &mut self,
        path: impl AsRef<Path>,
        name: Option<&str>,
        offset: i64,
    ) -> Result<&ElfImage, ElfError> {
        let image = ElfImage::load(path, name, offset)?;
        let name = image.name().to_string();
        self.add(image);
        self.space(&name)
    }

    /// Every image, in the order added.
    pub fn images(&self) -> &[ElfImage] {
        &self.images
    }

    /// The names of the spaces.
    pub fn names(&self) -> Vec<String> {
        self.images.iter().map(|i| i.name().to_string()).collect()
    }

    /// The image called `name`.
    pub fn space(&self, name: &str) -> Result<&ElfImage, ElfError> {
        self.images
            .iter()
            .find(|i| i.name() == name)
            .ok_or_else(|| ElfError::NoSpace {
                name: name.to_string(),
                known: self.names(),
            })
    }

    /// The images whose sections contain a run-time address.
    pub fn spaces_containing(&self, address: u64) -> Vec<&ElfImage> {
        self.images.iter().filter(|i| i.contains(address)).collect()
    }

    /// Resolves a location in the space `space`, or in every space when
    /// `None`. Across spaces, a location found in several of them at
    /// different addresses is [`ElfError::AmbiguousLocation`]; at one address
    /// it resolves, with the other spaces listed in
    /// [`Resolved::also_in`]. A bare address needs no space.
    pub fn resolve(&self, location: &Location, space: Option<&str>) -> Result<Resolved, ElfError> {
        if let Some(name) = space {
            return self.space(name)?.resolve(location);
        }
        if let Location::Address(a) = location {
            return Ok(Resolved {
                location: location.clone(),
                address: *a,
                space: None,
                also_in: Vec::new(),
                line: None,
                other_addresses: 0,
            });
        }
        let mut found: Vec<Resolved> = Vec::new();
        let mut first_error: Option<ElfError> = None;
        for image in &self.images {
            match image.resolve(location) {
                Ok(r) => found.push(r),
                // A miss in one space is normal; remember only real trouble.
                Err(
                    ElfError::NoSymbol { .. }
                    | ElfError::NoSourceFile { .. }
                    | ElfError::NoLineInfo { .. },
                ) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if found.is_empty() {
            if let Some(e) = first_error {
                return Err(e);
            }
            return Err(self.not_found(location));
        }
        let mut addresses: Vec<u64> = found.iter().map(|r| r.address).collect();
        addresses.sort_unstable();
        addresses.dedup();
        if addresses.len() > 1 {
            return Err(ElfError::AmbiguousLocation {
                location: location.to_string(),
                candidates: found
                    .iter()
                    .map(|r| format!("{}: {:#x}", r.space.as_deref().unwrap_or("?"), r.address))
                    .collect(),
            });
        }
        let mut first = found.remove(0);
        first.also_in = found.into_iter().filter_map(|r| r.space).collect();
        Ok(first)
    }

    /// Parses and resolves a location written as text. The text may name
    /// its ELF file first, `guest:kvminithart` or `guest:vm.c:67`, when the
    /// prefix is the name of a loaded space; it then takes the place of
    /// `space`, which must agree if given.
    pub fn resolve_str(&self, text: &str, space: Option<&str>) -> Result<Resolved, ElfError> {
        let (prefix, rest) = self.split_space(text);
        match (prefix, space) {
            (Some(p), Some(s)) if p != s => Err(ElfError::BadLocation {
                text: text.to_string(),
                reason: format!("it names ELF file {p}, but {s} was asked for"),
            }),
            (Some(p), _) => self.resolve(&Location::parse(rest)?, Some(p)),
            (None, _) => self.resolve(&Location::parse(text)?, space),
        }
    }

    /// Splits `space:location` when `space` is a loaded space's name.
    pub fn split_space<'t>(&self, text: &'t str) -> (Option<&'t str>, &'t str) {
        let t = text.trim();
        match t.split_once(':') {
            Some((p, rest)) if !rest.is_empty() && self.images.iter().any(|i| i.name() == p) => {
                (Some(p), rest)
            }
            _ => (None, t),
        }
    }

    /// The error for a location found in no space, with suggestions drawn
    /// from all of them.
    fn not_found(&self, location: &Location) -> ElfError {
        let where_ = match self.images.len() {
            0 => "any ELF file (none loaded)".to_string(),
            1 => self.images[0].name().to_string(),
            _ => format!("any of {}", self.names().join(", ")),
        };
        match location {
            Location::Line { file, .. } => ElfError::NoSourceFile {
                file: file.clone(),
                space: where_,
                suggestions: Vec::new(),
            },
            Location::Symbol { name, .. } => ElfError::NoSymbol {
                name: name.clone(),
                space: where_,
                suggestions: near_matches(
                    name,
                    self.images.iter().flat_map(|i| i.symbols().names()),
                ),
            },
            Location::Address(_) => unreachable!("addresses always resolve"),
        }
    }

    /// Describes a stop at run-time address `pc`: symbol, source line and
    /// instruction. `space` names the ELF file to use; `None` picks the
    /// only one containing `pc` (none when several do: guests and
    /// hypervisor often overlap, so callers that know the privilege level
    /// should say which). `code` holds bytes read from the target at `pc`;
    /// when absent or too short the ELF's own bytes are used.
    pub fn describe_stop(
        &self,
        pc: u64,
        space: Option<&str>,
        code: Option<&[u8]>,
    ) -> Result<Stop, ElfError> {
        let image = match space {
            Some(name) => Some(self.space(name)?),
            None => match self.spaces_containing(pc).as_slice() {
                [only] => Some(*only),
                _ => None,
            },
        };
        let from_target = code.and_then(|b| disassemble(pc, b));
        let from_elf = || {
            let image = image?;
            let bytes = image.bytes_at(pc, 4).or_else(|| image.bytes_at(pc, 2))?;
            disassemble(pc, bytes)
        };
        let code_from_elf = from_target.is_none();
        let instruction = from_target.or_else(from_elf);
        Ok(Stop {
            code_from_elf: code_from_elf && instruction.is_some(),
            address: pc,
            space: image.map(|i| i.name().to_string()),
            symbol: image.and_then(|i| i.symbolize(pc)),
            line: image.and_then(|i| i.line_for(pc)),
            instruction,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::testelf;

    fn set(test: &str, spaces: &[(&str, i64)]) -> Option<ElfSet> {
        let t = testelf::get(test)?;
        let mut set = ElfSet::new();
        for (name, offset) in spaces {
            set.load(&t.path, Some(name), *offset).unwrap();
        }
        Some(set)
    }

    #[test]
    fn identical_guests_share_addresses() {
        let Some(set) = set(
            "identical_guests_share_addresses",
            &[("guest0", 0), ("guest1", 0)],
        ) else {
            return;
        };
        let r = set.resolve_str("kvminithart", None).unwrap();
        assert_eq!(r.space.as_deref(), Some("guest0"));
        assert_eq!(r.also_in, ["guest1"]);
        let r1 = set.resolve_str("kvminithart", Some("guest1")).unwrap();
        assert_eq!(r1.address, r.address);
        assert!(r1.also_in.is_empty());
    }

    #[test]
    fn different_addresses_are_ambiguous() {
        let Some(set) = set(
            "different_addresses_are_ambiguous",
            &[("hv", 0x1000), ("guest", 0)],
        ) else {
            return;
        };
        let err = set.resolve_str("kvminithart", None).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("hv: 0x") && msg.contains("guest: 0x"), "{msg}");
        assert!(matches!(err, ElfError::AmbiguousLocation { .. }));
        // Naming the space settles it.
        assert!(set.resolve_str("kvminithart", Some("hv")).is_ok());
        // A bare address needs no space.
        assert_eq!(set.resolve_str("0x80000000", None).unwrap().space, None);
    }

    #[test]
    fn space_prefix() {
        let Some(set) = set("space_prefix", &[("hv", 0x1000), ("guest", 0)]) else {
            return;
        };
        let hv = set.resolve_str("hv:kvminithart", None).unwrap();
        let guest = set.resolve_str("guest:kvminithart", None).unwrap();
        assert_eq!(hv.space.as_deref(), Some("hv"));
        assert_eq!(hv.address, guest.address + 0x1000);
        assert_eq!(
            set.resolve_str("guest:kvminithart", Some("guest")).unwrap(),
            guest
        );
        let err = set
            .resolve_str("hv:kvminithart", Some("guest"))
            .unwrap_err();
        assert!(
            err.to_string().contains("names ELF file hv, but guest"),
            "{err}"
        );
        let line = set.resolve_str("guest:vm.c:19", None).unwrap();
        assert_eq!(line.space.as_deref(), Some("guest"));
        // A prefix that is no space's name stays part of the location.
        assert_eq!(set.split_space("vm.c:19"), (None, "vm.c:19"));
        assert!(matches!(
            set.resolve_str("other:kvminithart", None),
            Err(ElfError::NoSymbol { .. })
        ));
    }

    #[test]
    fn unknown_names() {
        let Some(set) = set("unknown_names", &[("hv", 0x1000), ("guest", 0)]) else {
            return;
        };
        let err = set.resolve_str("kvminithar", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no symbol \"kvminithar\" in any of hv, guest; did you mean: kvminithart, kvminit?"
        );
        let err = set.resolve_str("kvminithart", Some("guets")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no ELF file named \"guets\" (known: hv, guest)"
        );
        let err = set.resolve_str("nosuch.c:3", None).unwrap_err();
        assert!(matches!(err, ElfError::NoSourceFile { .. }), "{err}");
    }

    #[test]
    fn describe_a_stop_at_csrw_satp() {
        let Some(set) = set("describe_a_stop_at_csrw_satp", &[("guest", 0)]) else {
            return;
        };
        let guest = set.space("guest").unwrap();
        let kvm = guest.symbol_address("kvminithart").unwrap();
        let size = guest.symbols().named("kvminithart")[0].size as usize;
        let code = guest.bytes_at(kvm, size).unwrap();
        let csrw = crate::elf::disassemble_all(kvm, code)
            .into_iter()
            .find(|i| i.text.starts_with("csrw satp"))
            .unwrap();
        // Bytes from the target.
        let bytes = code[(csrw.address - kvm) as usize..].to_vec();
        let stop = set
            .describe_stop(csrw.address, Some("guest"), Some(&bytes))
            .unwrap();
        let text = stop.to_string();
        let want = format!(
            "{:#x} in kvminithart+{:#x} at ",
            csrw.address,
            csrw.address - kvm
        );
        assert!(text.starts_with(&want), "{text}");
        assert!(text.contains(": csrw satp, a"), "{text}");
        assert!(!stop.code_from_elf);
        // Without target bytes the ELF's are used, and the only space
        // containing the pc is picked.
        let stop = set.describe_stop(csrw.address, None, None).unwrap();
        assert!(stop.code_from_elf);
        assert_eq!(stop.space.as_deref(), Some("guest"));
        assert!(stop.to_string().ends_with("(from the ELF file)"));
        // Outside every space: the bare address.
        let stop = set.describe_stop(0x10, None, None).unwrap();
        assert_eq!(stop.to_string(), "0x10");
        // JSON reports carry stops.
        let json = serde_json::to_value(&stop).unwrap();
        assert_eq!(json["address"], 0x10);
    }

    #[test]
    fn overlapping_spaces_need_a_name() {
        let Some(set) = set("overlapping_spaces_need_a_name", &[("a", 0), ("b", 0)]) else {
            return;
        };
        let kvm = set
            .space("a")
            .unwrap()
            .symbol_address("kvminithart")
            .unwrap();
        assert_eq!(set.spaces_containing(kvm).len(), 2);
        let stop = set.describe_stop(kvm, None, None).unwrap();
        assert_eq!(stop.space, None);
        assert_eq!(stop.symbol, None);
        let stop = set.describe_stop(kvm, Some("b"), None).unwrap();
        assert_eq!(stop.symbol.unwrap().name, "kvminithart");
    }
}
