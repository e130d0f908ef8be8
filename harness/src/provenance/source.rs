//! Source lines' text, read from the files DWARF names when they are at
//! hand (each file read once).

use std::collections::HashMap;

use crate::elf::SourceLine;

/// Source files read so far, by path (`None`: not readable).
#[derive(Default)]
pub(crate) struct SourceTexts {
    files: HashMap<String, Option<Vec<String>>>,
}

impl SourceTexts {
    /// The text of `line`, trimmed; `None` when its file cannot be read.
    pub(crate) fn line(&mut self, line: &SourceLine) -> Option<String> {
        let lines = self.files.entry(line.path.clone()).or_insert_with(|| {
            std::fs::read_to_string(&line.path)
                .ok()
                .map(|t| t.lines().map(str::to_string).collect())
        });
        let index = usize::try_from(line.line).ok()?.checked_sub(1)?;
        lines.as_ref()?.get(index).map(|l| l.trim().to_string())
    }
}
