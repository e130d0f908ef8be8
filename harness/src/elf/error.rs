//! Errors of ELF loading and location resolution. Each message says what
//! was asked, where it was looked for, and what would have matched.
//!
//! A cause (the I/O error behind [`ElfError::Io`]) is part of the message and
//! not also returned by `source()`: a `{:#}` chain prints it once.

use std::path::PathBuf;

/// Why an ELF file could not be used or a location could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// The file could not be read.
    #[error("cannot read ELF file {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (in the message, not a `source()`).
        error: std::io::Error,
    },

    /// The file is not an ELF file this module can read.
    #[error("{path} is not a usable ELF file: {reason}")]
    Parse {
        /// The file (or the space name, for in-memory images).
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// The text is not a location.
    #[error(
        "cannot read location \"{text}\": {reason} (write a symbol such as kvminithart, \
         kvminithart+0x1e, a source line such as vm.c:67, or an address such as 0x80100e5e)"
    )]
    BadLocation {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },

    /// No symbol of that name; `suggestions` holds near matches.
    #[error("no symbol \"{name}\" in {space}{}", did_you_mean(suggestions))]
    NoSymbol {
        /// The name asked for.
        name: String,
        /// Where it was looked for: an ELF file's name, or a list of them.
        space: String,
        /// Symbols with similar names, best first.
        suggestions: Vec<String>,
    },

    /// Within one ELF file, the name matches symbols at different
    /// addresses (static functions of different files).
    #[error("symbol \"{name}\" is ambiguous: {}; name the ELF file or use an address", candidates.join(", "))]
    AmbiguousSymbol {
        /// The name asked for.
        name: String,
        /// `space: address` for each candidate.
        candidates: Vec<String>,
    },

    /// No source file matches the name given in a `file:line` location.
    #[error(
        "no source file \"{file}\" in the line table of {space}{}",
        did_you_mean(suggestions)
    )]
    NoSourceFile {
        /// The file name asked for.
        file: String,
        /// Where it was looked for.
        space: String,
        /// Source files with similar names.
        suggestions: Vec<String>,
    },

    /// The location resolves in several ELF files, at different addresses.
    #[error("\"{location}\" is in several ELF files: {}; name the ELF file", candidates.join(", "))]
    AmbiguousLocation {
        /// The location as given.
        location: String,
        /// `space: address` for each candidate.
        candidates: Vec<String>,
    },

    /// The file name matches several source files.
    #[error("\"{file}\" matches several source files: {}; give more of the path", candidates.join(", "))]
    AmbiguousSourceFile {
        /// The file name asked for.
        file: String,
        /// The paths it matches.
        candidates: Vec<String>,
    },

    /// The file exists, but neither that line nor any later one has code.
    #[error("no code at or after {file}:{line} in {space}")]
    NoCodeAtLine {
        /// The file.
        file: String,
        /// The line asked for.
        line: u32,
        /// Where it was looked for.
        space: String,
    },

    /// A `file:line` location in an ELF file without DWARF line information.
    #[error("{space} has no DWARF line information (build it with -g)")]
    NoLineInfo {
        /// The ELF file's name.
        space: String,
    },

    /// The DWARF data could not be read.
    #[error("cannot read DWARF data of {space}: {reason}")]
    Dwarf {
        /// The ELF file's name.
        space: String,
        /// What went wrong.
        reason: String,
    },

    /// No ELF file was registered under that name.
    #[error("no ELF file named \"{name}\" (known: {})", known.join(", "))]
    NoSpace {
        /// The name asked for.
        name: String,
        /// The names that exist.
        known: Vec<String>,
    },
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean: {}?", suggestions.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cause is in the message once, and not again as a source: a
    /// `{:#}` chain (how the CLI prints errors) says it once.
    #[test]
    fn an_io_cause_is_printed_once() {
        let e = ElfError::Io {
            path: "/no/such/guest.elf".into(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file here"),
        };
        assert!(std::error::Error::source(&e).is_none());
        let chain = format!("{:#}", anyhow::Error::new(e).context("loading guest"));
        assert_eq!(
            chain,
            "loading guest: cannot read ELF file /no/such/guest.elf: no such file here"
        );
    }
}
