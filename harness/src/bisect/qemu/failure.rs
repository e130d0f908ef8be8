//! Why a QEMU build failed, named by its first cause in the step's log.
//!
//! A configure that misses a system library prints, in this order,
//! `Run-time dependency slirp found: NO (tried pkgconfig)`, `Looking for a
//! fallback subproject for the dependency slirp`, then an error about the
//! subproject it could not download offline: the cause is the library, not
//! the subproject. A subproject is named only when it is one QEMU needs as
//! such (keycodemapdb, berkeley-softfloat-3, berkeley-testfloat-3). A
//! compile error is named by the first `error:` line, which carries its file.

/// The first cause of a failed build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cause {
    /// A system library configure looked for and did not find.
    MissingLibrary {
        /// As configure names it (`slirp`, `glib-2.0`, `fdt`).
        library: String,
        /// The Debian package that provides it, when known.
        package: Option<&'static str>,
        /// The log line that says so.
        line: String,
    },
    /// One of QEMU's own meson subprojects is absent (offline builds).
    MissingSubproject { line: String },
    /// The compiler or the linker failed: the first error line.
    Compile { file: Option<String>, line: String },
    /// None of the above: the failing command's status says it all.
    Unknown,
}

impl Cause {
    /// The cause in a few words, for a step's reason.
    pub(crate) fn summary(&self) -> Option<String> {
        match self {
            Cause::MissingLibrary {
                library, package, ..
            } => Some(match package {
                Some(p) => format!("the system library {library} is missing (Debian: {p})"),
                None => format!("the system library {library} is missing"),
            }),
            Cause::MissingSubproject { line } => {
                Some(format!("a meson subproject is missing ({line})"))
            }
            Cause::Compile {
                file: Some(f),
                line,
            } => Some(format!("compile error in {f}: {line}")),
            Cause::Compile { file: None, line } => Some(format!("build error: {line}")),
            Cause::Unknown => None,
        }
    }
}

/// QEMU's meson subprojects that are subprojects and nothing else: no
/// system package replaces them.
pub(crate) const OWN_SUBPROJECTS: [&str; 3] = [
    "keycodemapdb",
    "berkeley-softfloat-3",
    "berkeley-testfloat-3",
];

/// Libraries QEMU's configure looks for (pkg-config or compiler names) and
/// the Debian packages that provide them.
const PACKAGES: [(&str, &str); 16] = [
    ("slirp", "libslirp-dev"),
    ("glib-2.0", "libglib2.0-dev"),
    ("gthread-2.0", "libglib2.0-dev"),
    ("gmodule-2.0", "libglib2.0-dev"),
    ("gmodule-no-export-2.0", "libglib2.0-dev"),
    ("gio-2.0", "libglib2.0-dev"),
    ("gio-unix-2.0", "libglib2.0-dev"),
    ("pixman-1", "libpixman-1-dev"),
    ("fdt", "libfdt-dev"),
    ("zlib", "zlib1g-dev"),
    ("libpcre2-8", "libpcre2-dev"),
    ("gnutls", "libgnutls28-dev"),
    ("libcap-ng", "libcap-ng-dev"),
    ("ncursesw", "libncurses-dev"),
    ("libzstd", "libzstd-dev"),
    ("sdl2", "libsdl2-dev"),
];

/// The Debian package providing `library`, when the table knows it.
pub(crate) fn package_of(library: &str) -> Option<&'static str> {
    PACKAGES
        .iter()
        .find(|(l, _)| *l == library)
        .map(|(_, p)| *p)
}

/// Lines that say a subproject could not be found or downloaded.
const SUBPROJECT_SIGNS: [&str; 7] = [
    // QEMU's configure, before meson runs (seen with v8.2-era trees).
    "ERROR: missing subprojects",
    "subprojects were not",
    "wrap-based subproject downloading is disabled",
    "Subproject exists but has no meson.build",
    "Neither a subproject directory nor a",
    "Subproject directory not found",
    "ERROR: Subproject",
];

/// The first cause in `log` (one step's whole log, oldest line first).
pub(crate) fn first_cause(log: &str) -> Cause {
    // The library most recently reported missing, and whether meson then
    // went looking for a subproject to replace it.
    let mut not_found: Option<(String, String)> = None;
    let mut fallback: Option<String> = None;
    for raw in log.lines() {
        let line = raw.trim();
        if let Some(lib) = library_not_found(line) {
            not_found = Some((lib, line.to_string()));
            continue;
        }
        if let Some(lib) = line
            .strip_prefix("Looking for a fallback subproject for the dependency ")
            .map(|l| l.trim().to_string())
        {
            fallback = Some(lib);
            continue;
        }
        if let Some(lib) = dependency_error(line) {
            return missing_library(lib, line);
        }
        if SUBPROJECT_SIGNS.iter().any(|s| line.contains(s)) {
            let own = OWN_SUBPROJECTS.iter().any(|s| line.contains(s));
            return match (&fallback, own) {
                (Some(lib), false) => {
                    let said = not_found
                        .as_ref()
                        .filter(|(l, _)| l == lib)
                        .map(|(_, said)| said.clone())
                        .unwrap_or_else(|| line.to_string());
                    missing_library(lib.clone(), &said)
                }
                _ => Cause::MissingSubproject {
                    line: line.to_string(),
                },
            };
        }
        if is_meson_error(line) {
            // A configure error right after a library was not found.
            if let Some((lib, said)) = not_found.take().filter(|(l, _)| package_of(l).is_some()) {
                return missing_library(lib, &said);
            }
        }
        if let Some(cause) = compile_error(line) {
            return cause;
        }
    }
    Cause::Unknown
}

fn missing_library(library: String, line: &str) -> Cause {
    Cause::MissingLibrary {
        package: package_of(&library),
        library,
        line: line.to_string(),
    }
}

/// `Run-time dependency slirp found: NO ...`, `Dependency zlib found: NO`,
/// `Library fdt found: NO`, `Package glib-2.0 was not found in the
/// pkg-config search path.`: the library's name.
fn library_not_found(line: &str) -> Option<String> {
    if let Some(rest) = line.strip_prefix("Package ") {
        let (name, tail) = rest.split_once(' ')?;
        return tail
            .starts_with("was not found")
            .then(|| name.trim_matches(['\'', '"']).to_string());
    }
    let rest = ["Run-time dependency ", "Dependency ", "Library "]
        .iter()
        .find_map(|p| line.strip_prefix(p))?;
    let (name, verdict) = rest.split_once(" found: ")?;
    verdict.starts_with("NO").then(|| name.trim().to_string())
}

/// meson's `ERROR: Dependency "glib-2.0" not found, ...` or `ERROR: C
/// library 'fdt' not found`: the library's name.
fn dependency_error(line: &str) -> Option<String> {
    let (_, msg) = line.split_once("ERROR: ")?;
    let rest = msg
        .strip_prefix("Dependency ")
        .or_else(|| msg.strip_prefix("C library "))
        .or_else(|| msg.strip_prefix("C shared or static library "))?;
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let name = rest[1..].split(quote).next()?;
    rest[1 + name.len()..]
        .contains("not found")
        .then(|| name.to_string())
}

fn is_meson_error(line: &str) -> bool {
    line.starts_with("ERROR:") || line.contains(": ERROR: ")
}

/// `../target/riscv/cpu.c:12:5: error: ...` (file named), a linker's
/// `undefined reference`, or another tool's `error:` line.
fn compile_error(line: &str) -> Option<Cause> {
    if line.contains(" error: ") || line.starts_with("error: ") {
        let head = line.split(": error: ").next().unwrap_or("");
        let file = head
            .split(':')
            .next()
            .filter(|f| f.contains('.') && !f.contains(' '))
            .map(|f| f.trim_start_matches("../").to_string());
        return Some(Cause::Compile {
            file,
            line: line.to_string(),
        });
    }
    if line.contains("undefined reference to") {
        return Some(Cause::Compile {
            file: None,
            line: line.to_string(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What configure prints without libslirp-dev (QEMU 8.2.50, offline): the
    /// library first, then the subproject meson falls back to.
    const NO_SLIRP: &str = "\
Run-time dependency libudev found: NO (tried pkgconfig)
Library fdt found: YES
Run-time dependency slirp found: NO (tried pkgconfig)
Looking for a fallback subproject for the dependency slirp

../meson.build:1074:10: ERROR: Automatic wrap-based subproject downloading is disabled

A full log can be found at /b/meson-logs/meson-log.txt

ERROR: meson setup failed
";

    #[test]
    fn a_missing_library_behind_a_subproject_fallback_is_the_library() {
        let cause = first_cause(NO_SLIRP);
        assert_eq!(
            cause,
            Cause::MissingLibrary {
                library: "slirp".into(),
                package: Some("libslirp-dev"),
                line: "Run-time dependency slirp found: NO (tried pkgconfig)".into(),
            }
        );
        assert_eq!(
            cause.summary().as_deref(),
            Some("the system library slirp is missing (Debian: libslirp-dev)")
        );
    }

    #[test]
    fn a_missing_own_subproject_is_a_subproject() {
        // An optional library was not found earlier: not the cause.
        let log = "\
Run-time dependency libudev found: NO (tried pkgconfig)
Executing subproject keycodemapdb

../meson.build:3:0: ERROR: Subproject exists but has no meson.build file
";
        assert_eq!(
            first_cause(log),
            Cause::MissingSubproject {
                line: "../meson.build:3:0: ERROR: Subproject exists but has no meson.build file"
                    .into()
            }
        );
        let configure = "\nERROR: missing subprojects\n\n--disable-download specified but subprojects were not\nchecked out.";
        assert!(matches!(
            first_cause(configure),
            Cause::MissingSubproject { line } if line == "ERROR: missing subprojects"
        ));
        let softfloat = "Looking for a fallback subproject for the dependency slirp\nSubproject directory not found: berkeley-softfloat-3\n";
        assert!(matches!(
            first_cause(softfloat),
            Cause::MissingSubproject { .. }
        ));
    }

    #[test]
    fn required_libraries_named_by_meson_and_pkg_config() {
        let glib = "Run-time dependency glib-2.0 found: NO (tried pkgconfig)\n\n../meson.build:890:7: ERROR: Dependency \"glib-2.0\" not found, tried pkgconfig\n";
        assert!(matches!(
            first_cause(glib),
            Cause::MissingLibrary { library, package: Some("libglib2.0-dev"), .. } if library == "glib-2.0"
        ));
        let fdt =
            "Library fdt found: NO\n\n../meson.build:2110:8: ERROR: C library 'fdt' not found\n";
        assert!(matches!(
            first_cause(fdt),
            Cause::MissingLibrary { library, package: Some("libfdt-dev"), .. } if library == "fdt"
        ));
        let pkg = "Package pixman-1 was not found in the pkg-config search path.\nPerhaps you should add the directory containing `pixman-1.pc'\nERROR: pixman >= 0.21.8 not present.\n";
        assert!(matches!(
            first_cause(pkg),
            Cause::MissingLibrary { library, package: Some("libpixman-1-dev"), .. } if library == "pixman-1"
        ));
        // A library the table does not know is still named.
        let odd = "../meson.build:9:0: ERROR: Dependency \"libfoo\" not found, tried pkgconfig\n";
        assert_eq!(
            first_cause(odd).summary().as_deref(),
            Some("the system library libfoo is missing")
        );
    }

    #[test]
    fn a_compile_error_quotes_its_first_error_line() {
        let log = "\
[412/1140] Compiling C object libqemu-riscv64-softmmu.fa.p/target_riscv_cpu.c.o
FAILED: libqemu-riscv64-softmmu.fa.p/target_riscv_cpu.c.o
../target/riscv/cpu.c:1021:5: error: 'HENVCFG_ADUE' undeclared (first use in this function)
../target/riscv/cpu.c:1022:5: error: expected ';' before '}' token
ninja: build stopped: subcommand failed.
";
        let cause = first_cause(log);
        assert_eq!(
            cause,
            Cause::Compile {
                file: Some("target/riscv/cpu.c".into()),
                line: "../target/riscv/cpu.c:1021:5: error: 'HENVCFG_ADUE' undeclared (first use in this function)".into()
            }
        );
        assert!(cause
            .summary()
            .is_some_and(|s| s.starts_with("compile error in target/riscv/cpu.c: ")));
        let link = "/usr/bin/ld: cpu.c:(.text+0x1f): undefined reference to `riscv_reset'\ncollect2: error: ld returned 1 exit status\n";
        assert!(
            matches!(first_cause(link), Cause::Compile { file: None, line } if line.contains("undefined reference"))
        );
    }

    #[test]
    fn optional_libraries_not_found_in_a_good_log_name_nothing() {
        let log = "Run-time dependency libudev found: NO (tried pkgconfig)\nLibrary rt found: YES\nninja: no work to do.\n";
        assert_eq!(first_cause(log), Cause::Unknown);
    }
}
