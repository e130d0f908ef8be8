//! The DWARF line table of one ELF file, read once with gimli into plain
//! vectors: address -> `file:line`, and `file:line` -> address.

use super::error::ElfError;
use super::suggest::near_matches;
use object::{Object, ObjectSection};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// A source position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceLine {
    /// The path as the build recorded it, relative to the compilation
    /// directory when it lies inside it (`kernel/vm.c`).
    pub file: String,
    /// The full path (compilation directory joined).
    pub(crate) path: String,
    /// The line, from 1.
    pub(crate) line: u32,
    /// The column, 0 when unknown.
    pub(crate) column: u32,
}

impl fmt::Display for SourceLine {
    /// `kernel/vm.c:67`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// The code addresses of one source line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineAddresses {
    /// The file, as [`SourceLine::file`] writes it.
    pub(crate) file: String,
    /// The line that has code: the one asked for, or the next line with
    /// code when the one asked for has none (as gdb does).
    pub(crate) line: u32,
    /// Link-time addresses that start a statement of that line, lowest
    /// first. Inlined code can give a line several.
    pub(crate) addresses: Vec<u64>,
}

#[derive(Clone, Debug)]
struct SourceFile {
    file: String,
    path: String,
}

#[derive(Clone, Copy, Debug)]
struct Row {
    address: u64,
    file: u32,
    line: u32,
    column: u32,
    is_stmt: bool,
}

/// One contiguous run of machine code described by the line program.
#[derive(Clone, Debug)]
struct Sequence {
    start: u64,
    end: u64,
    rows: Vec<Row>,
}

/// The line table of one ELF file.
#[derive(Clone, Debug, Default)]
pub struct LineTable {
    files: Vec<SourceFile>,
    sequences: Vec<Sequence>,
}

impl LineTable {
    /// Reads `.debug_line` (and what it refers to). An ELF file without
    /// DWARF gives an empty table. `keep_zero` keeps sequences that start at
    /// address 0, which the linker leaves behind for discarded code unless
    /// something really is linked there.
    pub(crate) fn from_object(
        file: &object::File<'_>,
        space: &str,
        keep_zero: bool,
    ) -> Result<LineTable, ElfError> {
        let dwarf_err = |e: gimli::Error| ElfError::Dwarf {
            space: space.to_string(),
            reason: e.to_string(),
        };
        let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, ElfError> {
            match file.section_by_name(id.name()) {
                Some(section) => section.uncompressed_data().map_err(|e| ElfError::Dwarf {
                    space: space.to_string(),
                    reason: format!("{}: {e}", id.name()),
                }),
                None => Ok(Cow::Borrowed(&[])),
            }
        };
        let sections = gimli::DwarfSections::load(load)?;
        let endian = if file.is_little_endian() {
            gimli::RunTimeEndian::Little
        } else {
            gimli::RunTimeEndian::Big
        };
        let dwarf = sections.borrow(|data| gimli::EndianSlice::new(data, endian));

        let mut table = LineTable::default();
        let mut file_ids: HashMap<String, u32> = HashMap::new();
        let mut units = dwarf.units();
        while let Some(header) = units.next().map_err(dwarf_err)? {
            let unit = dwarf.unit(header).map_err(dwarf_err)?;
            table
                .add_unit(&dwarf, &unit, &mut file_ids, keep_zero)
                .map_err(dwarf_err)?;
        }
        table.sequences.sort_by_key(|s| s.start);
        Ok(table)
    }

    /// Adds one compilation unit's line program: its sequences (see
    /// [`LineTable::from_object`] for `keep_zero`), and the files they name
    /// that `file_ids` does not know yet.
    fn add_unit<R: gimli::Reader>(
        &mut self,
        dwarf: &gimli::Dwarf<R>,
        unit: &gimli::Unit<R>,
        file_ids: &mut HashMap<String, u32>,
        keep_zero: bool,
    ) -> Result<(), gimli::Error> {
        let Some(program) = unit.line_program.clone() else {
            return Ok(());
        };
        let comp_dir = match &unit.comp_dir {
            Some(d) => d.to_string_lossy()?.into_owned(),
            None => String::new(),
        };
        // Line-program file index -> our file id, for this unit.
        let mut local: HashMap<u64, u32> = HashMap::new();
        let mut rows = program.rows();
        let mut current: Vec<Row> = Vec::new();
        while let Some((header, row)) = rows.next_row()? {
            if row.end_sequence() {
                let start = current.first().map(|r| r.address);
                if let Some(start) = start {
                    if start != 0 || keep_zero {
                        self.sequences.push(Sequence {
                            start,
                            end: row.address(),
                            rows: std::mem::take(&mut current),
                        });
                    }
                }
                current.clear();
                continue;
            }
            let index = row.file_index();
            let id = match local.get(&index) {
                Some(&id) => id,
                None => {
                    let path = match row.file(header) {
                        Some(entry) => file_path(dwarf, unit, header, entry, &comp_dir),
                        None => String::from("<unknown>"),
                    };
                    let id = *file_ids.entry(path.clone()).or_insert_with(|| {
                        self.files.push(SourceFile {
                            file: display_path(&path, &comp_dir),
                            path,
                        });
                        (self.files.len() - 1) as u32
                    });
                    local.insert(index, id);
                    id
                }
            };
            let column = match row.column() {
                gimli::ColumnType::LeftEdge => 0,
                gimli::ColumnType::Column(c) => c.get() as u32,
            };
            current.push(Row {
                address: row.address(),
                file: id,
                line: row.line().map_or(0, |l| l.get() as u32),
                column,
                is_stmt: row.is_stmt(),
            });
        }
        Ok(())
    }

    /// Whether the ELF file had any line information.
    pub(crate) fn is_empty(&self) -> bool {
        self.sequences.is_empty()
    }

    /// The source line of the link-time address `address`.
    pub(crate) fn line_for(&self, address: u64) -> Option<SourceLine> {
        let seq = self
            .sequences
            .iter()
            .find(|s| address >= s.start && address < s.end)?;
        // The last row at or before the address: with several rows at one
        // address (inlining), the last is the innermost position.
        let at = seq
            .rows
            .partition_point(|r| r.address <= address)
            .checked_sub(1)?;
        let row = seq.rows[at];
        if row.line == 0 {
            return None;
        }
        let f = &self.files[row.file as usize];
        Some(SourceLine {
            file: f.file.clone(),
            path: f.path.clone(),
            line: row.line,
            column: row.column,
        })
    }

    /// The statement addresses of `file:line`. `file` matches a source file
    /// by base name (`vm.c`) or by path suffix on a `/` boundary
    /// (`kernel/vm.c`). A line without code moves to the next line with code.
    pub(crate) fn addresses_for(
        &self,
        file: &str,
        line: u32,
        space: &str,
    ) -> Result<LineAddresses, ElfError> {
        if self.is_empty() {
            return Err(ElfError::NoLineInfo {
                space: space.to_string(),
            });
        }
        let wanted = normalize(file);
        let mut matching: Vec<u32> = Vec::new();
        let mut matched_paths: Vec<&str> = Vec::new();
        for (id, f) in self.files.iter().enumerate() {
            if path_matches(&f.path, &wanted) {
                matching.push(id as u32);
                matched_paths.push(&f.path);
            }
        }
        matched_paths.sort();
        matched_paths.dedup();
        if matching.is_empty() {
            let names: Vec<&str> = self.files.iter().map(|f| f.file.as_str()).collect();
            let bases: Vec<&str> = self.files.iter().map(|f| basename(&f.path)).collect();
            let mut suggestions = near_matches(basename(&wanted), bases);
            if suggestions.is_empty() {
                suggestions = near_matches(&wanted, names);
            }
            return Err(ElfError::NoSourceFile {
                file: file.to_string(),
                space: space.to_string(),
                suggestions,
            });
        }
        if matched_paths.len() > 1 {
            return Err(ElfError::AmbiguousSourceFile {
                file: file.to_string(),
                candidates: matched_paths.iter().map(|p| p.to_string()).collect(),
            });
        }
        let stmts = || {
            self.sequences
                .iter()
                .flat_map(|s| s.rows.iter())
                .filter(|r| r.is_stmt && matching.contains(&r.file))
        };
        let best_line = stmts()
            .map(|r| r.line)
            .filter(|&l| l >= line)
            .min()
            .ok_or_else(|| ElfError::NoCodeAtLine {
                file: file.to_string(),
                line,
                space: space.to_string(),
            })?;
        let mut addresses: Vec<u64> = stmts()
            .filter(|r| r.line == best_line)
            .map(|r| r.address)
            .collect();
        addresses.sort_unstable();
        addresses.dedup();
        Ok(LineAddresses {
            file: self.files[matching[0] as usize].file.clone(),
            line: best_line,
            addresses,
        })
    }
}

/// The full path of a line-program file entry.
fn file_path<R: gimli::Reader>(
    dwarf: &gimli::Dwarf<R>,
    unit: &gimli::Unit<R>,
    header: &gimli::LineProgramHeader<R>,
    entry: &gimli::FileEntry<R>,
    comp_dir: &str,
) -> String {
    let text = |attr| {
        dwarf
            .attr_string(unit, attr)
            .ok()
            .and_then(|r| r.to_string_lossy().ok().map(|s| s.into_owned()))
            .unwrap_or_default()
    };
    let name = text(entry.path_name());
    if name.starts_with('/') {
        return normalize(&name);
    }
    let dir = entry.directory(header).map(text).unwrap_or_default();
    let dir = if dir.starts_with('/') || comp_dir.is_empty() {
        dir
    } else if dir.is_empty() {
        comp_dir.to_string()
    } else {
        format!("{comp_dir}/{dir}")
    };
    if dir.is_empty() {
        normalize(&name)
    } else {
        normalize(&format!("{dir}/{name}"))
    }
}

/// The path relative to the compilation directory when inside it.
fn display_path(path: &str, comp_dir: &str) -> String {
    let comp = normalize(comp_dir);
    if !comp.is_empty() {
        if let Some(rest) = path.strip_prefix(&comp).and_then(|r| r.strip_prefix('/')) {
            return rest.to_string();
        }
    }
    path.to_string()
}

/// Removes `.` components and folds `dir/..` without touching the disk.
fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `wanted` (normalized) names `path`: equal, or a suffix of it that
/// starts at a `/` boundary.
fn path_matches(path: &str, wanted: &str) -> bool {
    if wanted.is_empty() {
        return false;
    }
    path == wanted
        || path
            .strip_suffix(wanted)
            .is_some_and(|head| head.ends_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizing() {
        assert_eq!(normalize("/a/./b/../c.c"), "/a/c.c");
        assert_eq!(normalize("kernel//vm.c"), "kernel/vm.c");
        assert_eq!(normalize("./vm.c"), "vm.c");
        assert_eq!(normalize("../x/vm.c"), "../x/vm.c");
    }

    #[test]
    fn matching_by_suffix() {
        assert!(path_matches("/src/xv6/kernel/vm.c", "vm.c"));
        assert!(path_matches("/src/xv6/kernel/vm.c", "kernel/vm.c"));
        assert!(!path_matches("/src/xv6/kernel/kvm.c", "vm.c"));
        assert!(!path_matches("/src/xv6/kernel/vm.c", "ernel/vm.c"));
        assert!(path_matches("/src/xv6/kernel/vm.c", "/src/xv6/kernel/vm.c"));
    }

    #[test]
    fn display_relative_to_comp_dir() {
        assert_eq!(
            display_path("/src/xv6/kernel/vm.c", "/src/xv6"),
            "kernel/vm.c"
        );
        assert_eq!(
            display_path("/usr/include/x.h", "/src/xv6"),
            "/usr/include/x.h"
        );
        assert_eq!(display_path("/src/xv6x/a.c", "/src/xv6"), "/src/xv6x/a.c");
    }
}
