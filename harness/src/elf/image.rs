//! One ELF file as a symbol space: its name, load offset, symbols, line
//! table and loadable bytes.

use super::error::ElfError;
use super::lines::{LineAddresses, LineTable, SourceLine};
use super::location::Location;
use super::suggest::near_matches;
use super::symbols::{SymbolHit, SymbolTable};
use object::{Object, ObjectSegment};
use serde::Serialize;
use std::path::Path;

/// A location resolved to a run-time address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Resolved {
    /// What was asked for.
    pub(crate) location: Location,
    /// The run-time address (load offset applied, for symbols and lines).
    pub address: u64,
    /// The ELF file it was found in; `None` for a bare address resolved
    /// without naming one.
    pub space: Option<String>,
    /// Other ELF files where the same location gives the same address
    /// (two guests built from one image).
    pub(crate) also_in: Vec<String>,
    /// For a `file:line` location: the line that has code, which is a later
    /// one when the line asked for has none.
    pub line: Option<u32>,
    /// For a `file:line` location: how many other statement addresses the
    /// line has (inlined copies); the lowest one was taken.
    pub(crate) other_addresses: usize,
}

/// One loadable segment's file-backed bytes, at its link-time address.
#[derive(Clone, Debug)]
struct Segment {
    address: u64,
    /// Where it is loaded (p_paddr): differs from `address` for code that
    /// runs at its load address before the MMU is on.
    physical: u64,
    memory_size: u64,
    data: Vec<u8>,
}

thread_local! {
    static FILES_READ: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many ELF files [`ElfImage::load`] has read on this thread: lets a
/// test check that a run reads each of its files once (a tokio test runs
/// on one thread).
pub fn files_read_on_this_thread() -> u64 {
    FILES_READ.with(|n| n.get())
}

/// One ELF file as a symbol space.
#[derive(Clone, Debug)]
pub struct ElfImage {
    name: String,
    offset: i64,
    entry: u64,
    symbols: SymbolTable,
    lines: LineTable,
    segments: Vec<Segment>,
}

impl ElfImage {
    /// Loads an ELF file. `name` defaults to the file name; `offset` is
    /// added to every link-time address to give the run-time address (0 for
    /// code that runs where it was linked).
    pub fn load(
        path: impl AsRef<Path>,
        name: Option<&str>,
        offset: i64,
    ) -> Result<ElfImage, ElfError> {
        let path = path.as_ref();
        FILES_READ.with(|n| n.set(n.get() + 1));
        let data = std::fs::read(path).map_err(|error| ElfError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let name = match name {
            Some(n) => n.to_string(),
            None => path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
        };
        ElfImage::parse_with_path(&data, &name, path, offset)
    }

    /// Parses an ELF image held in memory.
    #[cfg(test)]
    pub(crate) fn parse(data: &[u8], name: &str, offset: i64) -> Result<ElfImage, ElfError> {
        ElfImage::parse_with_path(data, name, Path::new(name), offset)
    }

    fn parse_with_path(
        data: &[u8],
        name: &str,
        path: &Path,
        offset: i64,
    ) -> Result<ElfImage, ElfError> {
        let parse_err = |reason: String| ElfError::Parse {
            path: path.to_path_buf(),
            reason,
        };
        super::arch::check_riscv64(data).map_err(parse_err)?;
        let file = object::File::parse(data).map_err(|e| parse_err(e.to_string()))?;
        if file.format() != object::BinaryFormat::Elf {
            return Err(parse_err(format!(
                "it is {}, not ELF",
                format_name(file.format())
            )));
        }
        let physical = load_addresses(&file);
        let mut segments = Vec::new();
        for seg in file.segments() {
            let bytes = seg
                .data()
                .map_err(|e| parse_err(format!("segment data: {e}")))?;
            segments.push(Segment {
                address: seg.address(),
                physical: physical
                    .iter()
                    .find(|(v, _)| *v == seg.address())
                    .map_or(seg.address(), |(_, p)| *p),
                memory_size: seg.size(),
                data: bytes.to_vec(),
            });
        }
        let symbols = SymbolTable::from_object(&file);
        let zero_is_code = segments.iter().any(|s| s.address == 0 && s.memory_size > 0);
        let lines = LineTable::from_object(&file, name, zero_is_code)?;
        Ok(ElfImage {
            name: name.to_string(),
            offset,
            entry: file.entry(),
            symbols,
            lines,
            segments,
        })
    }

    /// The image with its lowest loadable segment placed at run-time
    /// address `load_address`, the others as far from it as in the file,
    /// for a file whose program headers do not say where it is loaded
    /// (p_paddr == p_vaddr): a hypervisor linked high that a loader puts
    /// at a low physical address runs its first instructions there. Code
    /// is then named at both addresses; segments with their own p_paddr
    /// keep it.
    pub fn loaded_at(mut self, load_address: u64) -> ElfImage {
        let Some(lowest) = self
            .segments
            .iter()
            .filter(|s| s.memory_size > 0)
            .map(|s| s.address)
            .min()
        else {
            return self;
        };
        // `physical` is compared with run-time addresses less the offset.
        let base = self.to_link(load_address);
        for s in self.segments.iter_mut() {
            if s.physical == s.address {
                s.physical = base.wrapping_add(s.address - lowest);
            }
        }
        self
    }

    /// The lowest link-time address of a loadable segment: what
    /// [`ElfImage::loaded_at`] places at the load address.
    pub(crate) fn lowest_segment(&self) -> Option<u64> {
        self.segments
            .iter()
            .filter(|s| s.memory_size > 0)
            .map(|s| s.address)
            .min()
    }

    /// The space's name (the file name unless given).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The run-time entry point.
    pub(crate) fn entry(&self) -> u64 {
        self.to_runtime(self.entry)
    }

    /// The symbol table (link-time addresses).
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    fn to_runtime(&self, link: u64) -> u64 {
        link.wrapping_add(self.offset as u64)
    }

    fn to_link(&self, runtime: u64) -> u64 {
        runtime.wrapping_sub(self.offset as u64)
    }

    /// The link-time address of a run-time one; an address that is no
    /// link-time address of the file but lies in a segment's load range
    /// (p_paddr, when it differs from p_vaddr) is taken there: code that
    /// runs at its load address before the MMU is switched on.
    fn link_of(&self, runtime: u64) -> u64 {
        let link = self.to_link(runtime);
        if self.is_linked(link) {
            return link;
        }
        self.load_copy_of(link)
            .map_or(link, |s| s.address + (link - s.physical))
    }

    /// Whether a link-time address lies in an allocated section or a
    /// loadable segment.
    fn is_linked(&self, link: u64) -> bool {
        self.symbols.in_sections(link)
            || self
                .segments
                .iter()
                .any(|s| link >= s.address && link - s.address < s.memory_size)
    }

    /// The segment whose load range (p_paddr, where it differs from
    /// p_vaddr) holds `link` (an address less the offset).
    fn load_copy_of(&self, link: u64) -> Option<&Segment> {
        self.segments
            .iter()
            .filter(|s| s.physical != s.address)
            .find(|s| link >= s.physical && link - s.physical < s.memory_size)
    }

    /// Whether the run-time address is where the file is loaded but not
    /// where it is linked: code there runs before the MMU maps the image
    /// at its link address (a hypervisor linked high, loaded low).
    pub(crate) fn is_load_address_only(&self, runtime: u64) -> bool {
        let link = self.to_link(runtime);
        !self.is_linked(link) && self.load_copy_of(link).is_some()
    }

    /// Whether the run-time address is one of the file's link-time
    /// addresses (plus its offset), in a section or a loadable segment.
    pub(crate) fn is_link_address(&self, runtime: u64) -> bool {
        self.is_linked(self.to_link(runtime))
    }

    /// Whether the run-time address lies in one of the file's allocated
    /// sections or loadable segments.
    pub fn contains(&self, address: u64) -> bool {
        let link = self.link_of(address);
        self.symbols.in_sections(link)
            || self
                .segments
                .iter()
                .any(|s| link >= s.address && link - s.address < s.memory_size)
    }

    /// The run-time address of the symbol `name`. Several symbols of that
    /// name at different addresses (static functions in different files)
    /// are an error; an unknown name lists near matches.
    pub fn symbol_address(&self, name: &str) -> Result<u64, ElfError> {
        let found = self.symbols.named(name);
        let Some(first) = found.first() else {
            return Err(ElfError::NoSymbol {
                name: name.to_string(),
                space: self.name.clone(),
                suggestions: near_matches(name, self.symbols.names()),
            });
        };
        // Functions rank first; only equally good candidates compete.
        let rivals: Vec<u64> = found
            .iter()
            .filter(|s| s.kind == first.kind && s.address != first.address)
            .map(|s| s.address)
            .collect();
        if !rivals.is_empty() {
            let mut candidates = vec![format!(
                "{}: {:#x}",
                self.name,
                self.to_runtime(first.address)
            )];
            candidates.extend(
                rivals
                    .iter()
                    .map(|a| format!("{}: {:#x}", self.name, self.to_runtime(*a))),
            );
            return Err(ElfError::AmbiguousSymbol {
                name: name.to_string(),
                candidates,
            });
        }
        Ok(self.to_runtime(first.address))
    }

    /// The run-time extents of the symbols called `name` (several for a
    /// static function defined in several files); a label without a size
    /// reaches to the next symbol in its section.
    pub fn symbol_ranges(&self, name: &str) -> Vec<std::ops::Range<u64>> {
        self.symbols
            .named(name)
            .iter()
            .map(|s| self.symbols.extent(s))
            .filter(|r| !r.is_empty())
            .map(|r| {
                let start = self.to_runtime(r.start);
                start..start.wrapping_add(r.end - r.start)
            })
            .collect()
    }

    /// Every sized function symbol: its name and run-time extent.
    pub(crate) fn functions(&self) -> Vec<(String, std::ops::Range<u64>)> {
        self.symbols
            .symbols()
            .iter()
            .filter(|s| s.kind == crate::elf::SymbolType::Function && s.size > 0)
            .map(|s| {
                let start = self.to_runtime(s.address);
                (s.name.clone(), start..start.wrapping_add(s.size))
            })
            .collect()
    }

    /// Describes a run-time address as `symbol+offset`.
    pub fn symbolize(&self, address: u64) -> Option<SymbolHit> {
        let link = self.link_of(address);
        let (sym, exact) = self.symbols.lookup(link)?;
        Some(SymbolHit {
            name: sym.name.clone(),
            address: self.to_runtime(sym.address),
            offset: link - sym.address,
            kind: sym.kind,
            exact,
        })
    }

    /// The source line of a run-time address.
    pub fn line_for(&self, address: u64) -> Option<SourceLine> {
        self.lines.line_for(self.link_of(address))
    }

    /// The run-time statement addresses of `file:line`.
    pub(crate) fn line_addresses(&self, file: &str, line: u32) -> Result<LineAddresses, ElfError> {
        let mut found = self.lines.addresses_for(file, line, &self.name)?;
        for a in &mut found.addresses {
            *a = self.to_runtime(*a);
        }
        Ok(found)
    }

    /// Resolves a location in this file.
    pub(crate) fn resolve(&self, location: &Location) -> Result<Resolved, ElfError> {
        let resolved = |address, line, other_addresses| Resolved {
            location: location.clone(),
            address,
            space: Some(self.name.clone()),
            also_in: Vec::new(),
            line,
            other_addresses,
        };
        match location {
            Location::Address(a) => Ok(resolved(*a, None, 0)),
            Location::Symbol { name, offset } => Ok(resolved(
                self.symbol_address(name)?.wrapping_add(*offset),
                None,
                0,
            )),
            Location::Line { file, line } => {
                let found = self.line_addresses(file, *line)?;
                // addresses_for never returns an empty list; stay safe anyway.
                let first = *found
                    .addresses
                    .first()
                    .ok_or_else(|| ElfError::NoCodeAtLine {
                        file: file.clone(),
                        line: *line,
                        space: self.name.clone(),
                    })?;
                Ok(resolved(first, Some(found.line), found.addresses.len() - 1))
            }
        }
    }

    /// Resolves a location written as text.
    pub fn resolve_str(&self, text: &str) -> Result<Resolved, ElfError> {
        self.resolve(&Location::parse(text)?)
    }

    /// The run-time ranges of the executable sections, in address order.
    pub(crate) fn code_ranges(&self) -> Vec<std::ops::Range<u64>> {
        self.symbols
            .code_ranges()
            .into_iter()
            .map(|r| self.to_runtime(r.start)..self.to_runtime(r.end))
            .collect()
    }

    /// The file's bytes at a run-time address, from its loadable segments.
    /// `None` when the range is not all file-backed (such as .bss). Useful
    /// when the target's memory cannot be read at a virtual address (a PTE
    /// with A clear makes the debugger's own reads fault too).
    pub fn bytes_at(&self, address: u64, len: usize) -> Option<&[u8]> {
        let link = self.link_of(address);
        self.segments.iter().find_map(|s| {
            let start = usize::try_from(link.checked_sub(s.address)?).ok()?;
            s.data.get(start..start.checked_add(len)?)
        })
    }

    /// The instructions from `start` up to `end`, decoded one after the
    /// other; fewer where the bytes run out or do not decode.
    pub(crate) fn instructions(&self, start: u64, end: u64) -> Vec<super::Instruction> {
        let mut out = Vec::new();
        let mut address = start;
        while address < end {
            let bytes = self
                .bytes_at(address, 4)
                .or_else(|| self.bytes_at(address, 2));
            let Some(ins) = bytes.and_then(|b| super::disassemble(address, b)) else {
                break;
            };
            address += ins.length as u64;
            out.push(ins);
        }
        out
    }
}

/// The load address (p_paddr) of each loadable segment, by p_vaddr.
fn load_addresses(file: &object::File<'_>) -> Vec<(u64, u64)> {
    use object::read::elf::ProgramHeader as _;
    let load = |kind: u32| kind == object::elf::PT_LOAD;
    match file {
        object::File::Elf64(e) => e
            .elf_program_headers()
            .iter()
            .filter(|p| load(p.p_type(e.endian())))
            .map(|p| (p.p_vaddr(e.endian()), p.p_paddr(e.endian())))
            .collect(),
        object::File::Elf32(e) => e
            .elf_program_headers()
            .iter()
            .filter(|p| load(p.p_type(e.endian())))
            .map(|p| {
                (
                    u64::from(p.p_vaddr(e.endian())),
                    u64::from(p.p_paddr(e.endian())),
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// An object file format in words, for an error.
fn format_name(format: object::BinaryFormat) -> &'static str {
    match format {
        object::BinaryFormat::Coff => "a COFF object",
        object::BinaryFormat::Pe => "a PE (Windows) executable",
        object::BinaryFormat::MachO => "a Mach-O (macOS) file",
        object::BinaryFormat::Wasm => "WebAssembly",
        object::BinaryFormat::Elf => "ELF",
        _ => "another object format",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::disasm::disassemble_all;
    use crate::elf::testelf;
    use crate::elf::SymbolType;

    fn guest(test: &str) -> Option<(&'static testelf::TestElf, ElfImage)> {
        let t = testelf::get(test)?;
        let image = ElfImage::load(&t.path, Some("guest"), 0).expect("test kernel loads");
        Some((t, image))
    }

    /// An image linked high (0xffffffc080200000) and loaded low
    /// (p_paddr 0x80200000), built with the cross compiler, as hypervisors
    /// that switch the MMU on early are; `None` (reported) without one.
    fn linked_high_loaded_low(test: &str) -> Option<(tempfile::TempDir, ElfImage)> {
        linked_high(test, "AT(0x80200000)")
    }

    /// An image linked at 0xffffffc080200000; `at` is the output section's
    /// load address clause (empty: p_paddr == p_vaddr).
    fn linked_high(test: &str, at: &str) -> Option<(tempfile::TempDir, ElfImage)> {
        let cc = match testelf::find_compiler() {
            Ok(cc) => cc,
            Err(why) => {
                testelf::skip(test, &why);
                return None;
            }
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        let src = dir.path().join("start.S");
        let ld = dir.path().join("high.ld");
        let out = dir.path().join("high.elf");
        std::fs::write(
            &src,
            ".section .text\n.globl _start\n_start:\n  nop\n  nop\n  j _start\n",
        )
        .expect("writing the source");
        std::fs::write(
            &ld,
            format!("ENTRY(_start)\nSECTIONS {{\n  . = 0xffffffc080200000;\n  .text : {at} {{ *(.text*) }}\n}}\n"),
        )
        .expect("writing the linker script");
        let built = std::process::Command::new(&cc)
            .args([
                "-nostdlib",
                "-march=rv64imac",
                "-mabi=lp64",
                "-mcmodel=medany",
            ])
            .args(["-Wl,--build-id=none", "-T"])
            .arg(&ld)
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .output()
            .expect("running the cross compiler");
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let image = ElfImage::load(&out, Some("hv"), 0).expect("the image loads");
        Some((dir, image))
    }

    #[test]
    fn code_run_at_its_load_address_is_named_too() {
        let Some((_dir, image)) =
            linked_high_loaded_low("code_run_at_its_load_address_is_named_too")
        else {
            return;
        };
        // Before the MMU is on, the same code runs at p_paddr.
        named_at_both(&image, 0xffff_ffc0_8020_0000);
        assert!(image.symbolize(0x9000_0000).is_none());
    }

    /// `_start+0x4` is named exactly at `linked + 4` and at 0x80200004,
    /// and the file's bytes are the same at both.
    fn named_at_both(image: &ElfImage, linked: u64) {
        for at in [linked + 4, 0x8020_0004] {
            let hit = image.symbolize(at).expect("a symbol");
            assert_eq!(
                (hit.to_string(), hit.exact),
                ("_start+0x4".to_string(), true)
            );
            assert!(image.contains(at));
        }
        assert_eq!(image.bytes_at(0x8020_0000, 4), image.bytes_at(linked, 4));
        // Which copy an address is: the boot-jump rule asks.
        assert!(image.is_load_address_only(0x8020_0004));
        assert!(!image.is_link_address(0x8020_0004));
        assert!(image.is_link_address(linked + 4));
        assert!(!image.is_load_address_only(linked + 4));
        assert!(!image.is_load_address_only(0x9000_0000));
    }

    #[test]
    fn a_load_address_names_code_the_headers_do_not_place() {
        let Some((_dir, image)) =
            linked_high("a_load_address_names_code_the_headers_do_not_place", "")
        else {
            return;
        };
        // p_paddr == p_vaddr: nothing says where it runs before the MMU is on.
        assert!(image.symbolize(0x8020_0004).is_none());
        assert!(!image.contains(0x8020_0004));
        // At the load address, and still at the linked one.
        named_at_both(&image.clone().loaded_at(0x8020_0000), 0xffff_ffc0_8020_0000);
        // With an offset, the load address is a run-time address too.
        let shifted = ElfImage {
            offset: 0x1000,
            ..image
        };
        named_at_both(&shifted.loaded_at(0x8020_0000), 0xffff_ffc0_8020_1000);
    }

    #[test]
    fn a_load_address_keeps_the_headers_own_p_paddr() {
        let Some((_dir, image)) =
            linked_high_loaded_low("a_load_address_keeps_the_headers_own_p_paddr")
        else {
            return;
        };
        let image = image.loaded_at(0x9000_0000);
        assert!(image.symbolize(0x8020_0004).is_some());
        assert!(image.symbolize(0x9000_0004).is_none());
    }

    /// The address of the `csrw satp` in kvminithart, found by disassembly.
    fn csrw_satp(image: &ElfImage) -> u64 {
        let start = image.symbol_address("kvminithart").unwrap();
        let size = image.symbols().named("kvminithart")[0].size as usize;
        let code = image.bytes_at(start, size).expect("kvminithart's bytes");
        disassemble_all(start, code)
            .into_iter()
            .find(|i| i.text.starts_with("csrw satp, "))
            .expect("kvminithart writes satp")
            .address
    }

    #[test]
    fn symbols_and_offsets() {
        let Some((_, image)) = guest("symbols_and_offsets") else {
            return;
        };
        let kvm = image.symbol_address("kvminithart").unwrap();
        assert_eq!(kvm % 2, 0);
        assert_eq!(
            image.resolve_str("kvminithart+0x4").unwrap().address,
            kvm + 4
        );
        assert_eq!(image.resolve_str("kvminithart+4").unwrap().address, kvm + 4);
        let hit = image.symbolize(kvm + 4).unwrap();
        assert_eq!(hit.to_string(), "kvminithart+0x4");
        assert_eq!(hit.kind, SymbolType::Function);
        assert!(hit.exact);
        assert_eq!(image.symbolize(kvm).unwrap().to_string(), "kvminithart");
        assert_eq!(image.entry(), image.symbol_address("_start").unwrap());
    }

    #[test]
    fn data_symbols() {
        let Some((_, image)) = guest("data_symbols") else {
            return;
        };
        let buf = image.symbol_address("buf").unwrap();
        let hit = image.symbolize(buf + 0x10).unwrap();
        assert_eq!(hit.to_string(), "buf+0x10");
        assert_eq!(hit.kind, SymbolType::Object);
        assert!(image.contains(buf));
        // .bss has no file bytes.
        assert!(image.bytes_at(buf, 4).is_none());
    }

    #[test]
    fn unknown_symbol_suggests() {
        let Some((_, image)) = guest("unknown_symbol_suggests") else {
            return;
        };
        let err = image.symbol_address("kvminithar").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no symbol \"kvminithar\" in guest; did you mean: kvminithart, kvminit?"
        );
        let ElfError::NoSymbol { suggestions, .. } = err else {
            panic!("wrong error")
        };
        assert_eq!(suggestions, ["kvminithart", "kvminit"]);
    }

    #[test]
    fn duplicate_statics_are_ambiguous() {
        let Some((_, image)) = guest("duplicate_statics_are_ambiguous") else {
            return;
        };
        let err = image.symbol_address("count").unwrap_err();
        assert!(
            matches!(err, ElfError::AmbiguousSymbol { ref candidates, .. } if candidates.len() == 2)
        );
        assert!(err.to_string().contains("ambiguous"), "{err}");
    }

    #[test]
    fn address_to_line() {
        let Some((t, image)) = guest("address_to_line") else {
            return;
        };
        let csrw = csrw_satp(&image);
        let line = image.line_for(csrw).unwrap();
        // The csrw is w_satp's body, inlined into kvminithart: the innermost
        // position is riscv.h; an older compiler may report the call site.
        let inline_line = t.line_of("kernel/riscv.h", "MARK:csrw");
        let call_line = t.line_of("kernel/vm.c", "MARK:w_satp");
        assert!(
            (line.file == "kernel/riscv.h" && line.line == inline_line)
                || (line.file == "kernel/vm.c" && line.line == call_line),
            "{line}"
        );
        // The full path joins the compilation directory.
        assert!(line.path.starts_with('/'));
        assert!(
            line.path.ends_with(&format!("/{}", line.file)),
            "{}",
            line.path
        );
    }

    #[test]
    fn line_to_address() {
        let Some((t, image)) = guest("line_to_address") else {
            return;
        };
        let kvm = image.symbol_address("kvminithart").unwrap();
        let size = image.symbols().named("kvminithart")[0].size;
        let n = t.line_of("kernel/vm.c", "MARK:w_satp");
        let r = image.resolve_str(&format!("vm.c:{n}")).unwrap();
        assert!(
            r.address > kvm && r.address < kvm + size,
            "{:#x}",
            r.address
        );
        assert_eq!(r.line, Some(n));
        // The same through a path suffix, and back again.
        assert_eq!(
            image
                .resolve_str(&format!("kernel/vm.c:{n}"))
                .unwrap()
                .address,
            r.address
        );
        assert_eq!(
            image.line_for(r.address).map(|l| l.file).as_deref(),
            Some("kernel/vm.c")
        );
        // A comment line moves to the next line with code, as gdb does.
        let blank = t.line_of("kernel/vm.c", "MARK:blank-before-code");
        let r = image.resolve_str(&format!("vm.c:{blank}")).unwrap();
        assert_eq!(r.line, Some(t.line_of("kernel/vm.c", "MARK:first-sfence")));
        assert_eq!(r.address, kvm);
        // sfence_vma() is inlined twice: its line has two addresses.
        let sfence = t.line_of("kernel/riscv.h", "sfence.vma zero, zero");
        let found = image.line_addresses("riscv.h", sfence).unwrap();
        assert_eq!(found.addresses.len(), 2, "{found:?}");
        assert_eq!(
            image
                .resolve_str(&format!("riscv.h:{sfence}"))
                .unwrap()
                .other_addresses,
            1
        );
    }

    #[test]
    fn line_errors() {
        let Some((_, image)) = guest("line_errors") else {
            return;
        };
        let err = image.resolve_str("vn.c:19").unwrap_err();
        assert!(matches!(err, ElfError::NoSourceFile { .. }));
        assert!(err.to_string().contains("did you mean: vm.c"), "{err}");
        let err = image.resolve_str("ernel/vm.c:19").unwrap_err();
        assert!(matches!(err, ElfError::NoSourceFile { .. }), "{err}");
        let err = image.resolve_str("vm.c:9999").unwrap_err();
        assert!(
            matches!(err, ElfError::NoCodeAtLine { line: 9999, .. }),
            "{err}"
        );
    }

    #[test]
    fn load_offset_applies_everywhere() {
        let Some((t, plain)) = guest("load_offset_applies_everywhere") else {
            return;
        };
        let moved = ElfImage::load(&t.path, Some("moved"), 0x1000).unwrap();
        let kvm = plain.symbol_address("kvminithart").unwrap();
        assert_eq!(moved.symbol_address("kvminithart").unwrap(), kvm + 0x1000);
        assert_eq!(
            moved.symbolize(kvm + 0x1004).unwrap().to_string(),
            "kvminithart+0x4"
        );
        assert_eq!(moved.line_for(kvm + 0x1000), plain.line_for(kvm));
        assert_eq!(moved.bytes_at(kvm + 0x1000, 4), plain.bytes_at(kvm, 4));
        let n = t.line_of("kernel/vm.c", "MARK:w_satp");
        assert_eq!(
            moved.resolve_str(&format!("vm.c:{n}")).unwrap().address,
            plain.resolve_str(&format!("vm.c:{n}")).unwrap().address + 0x1000
        );
        let negative = ElfImage::load(&t.path, None, -0x1000).unwrap();
        assert_eq!(
            negative.symbol_address("kvminithart").unwrap(),
            kvm - 0x1000
        );
        assert_eq!(negative.name(), "kernel.elf");
    }

    #[test]
    fn not_elf_and_missing_file() {
        let err = ElfImage::parse(b"definitely not an ELF file", "junk", 0).unwrap_err();
        assert!(matches!(err, ElfError::Parse { .. }), "{err}");
        let err = ElfImage::load("/nonexistent/guest.elf", None, 0).unwrap_err();
        assert!(matches!(err, ElfError::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/guest.elf"));
    }
}
