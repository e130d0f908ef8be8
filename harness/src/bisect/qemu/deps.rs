//! What building QEMU needs on the machine, checked before the first build:
//! a missing package found after a configure of several minutes (or, worse,
//! reported as a missing subproject) costs the user far more than a look now.
//!
//! On Debian (dpkg-query present) each package's status decides; elsewhere
//! the commands are looked for on PATH and the libraries with pkg-config.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Result};

/// A Debian package the default build needs, and how to see it elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Requirement {
    pub(crate) package: &'static str,
    pub(crate) probe: Probe,
}

/// How to tell, without dpkg, that a requirement is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// A command on PATH.
    Command(&'static str),
    /// A pkg-config module.
    PkgConfig(&'static str),
    /// A Python module (`python3 -c 'import NAME'`).
    Python(&'static str),
    /// A C header in /usr/include or /usr/local/include (libfdt has no
    /// pkg-config file on Debian 12).
    Header(&'static str),
}

/// The packages of README "Bisecting QEMU itself" (QEMU >= 9 brings its
/// own meson in python/wheels; older trees need Debian's).
pub(crate) const REQUIREMENTS: [Requirement; 11] = [
    Requirement {
        package: "build-essential",
        probe: Probe::Command("cc"),
    },
    Requirement {
        package: "ninja-build",
        probe: Probe::Command("ninja"),
    },
    Requirement {
        package: "meson",
        probe: Probe::Command("meson"),
    },
    Requirement {
        package: "flex",
        probe: Probe::Command("flex"),
    },
    Requirement {
        package: "bison",
        probe: Probe::Command("bison"),
    },
    Requirement {
        package: "pkg-config",
        probe: Probe::Command("pkg-config"),
    },
    Requirement {
        package: "python3-venv",
        probe: Probe::Python("ensurepip"),
    },
    Requirement {
        package: "libglib2.0-dev",
        probe: Probe::PkgConfig("glib-2.0"),
    },
    Requirement {
        package: "libpixman-1-dev",
        probe: Probe::PkgConfig("pixman-1"),
    },
    Requirement {
        package: "libslirp-dev",
        probe: Probe::PkgConfig("slirp"),
    },
    Requirement {
        package: "libfdt-dev",
        probe: Probe::Header("libfdt.h"),
    },
];

/// How the machine answers, so that the rule is testable without it.
pub(crate) trait Machine {
    /// Whether dpkg-query exists (a Debian-like system).
    fn has_dpkg(&self) -> bool;
    /// Whether the Debian package is installed (only asked when `has_dpkg`).
    fn installed(&self, package: &str) -> bool;
    /// Whether the probe finds the requirement.
    fn probe(&self, probe: Probe) -> bool;
}

/// The requirements the machine lacks.
pub(crate) fn missing(machine: &dyn Machine) -> Vec<Requirement> {
    let dpkg = machine.has_dpkg();
    REQUIREMENTS
        .iter()
        .filter(|r| {
            if dpkg {
                !machine.installed(r.package)
            } else {
                !machine.probe(r.probe)
            }
        })
        .copied()
        .collect()
}

/// The error for what is missing, naming it and the apt-get line.
pub(crate) fn missing_error(missing: &[Requirement]) -> Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|r| r.package).collect();
    let what: Vec<String> = missing
        .iter()
        .map(|r| match r.probe {
            Probe::Command(c) => format!("{} (command {c})", r.package),
            Probe::PkgConfig(m) => format!("{} (library {m})", r.package),
            Probe::Python(m) => format!("{} (python module {m})", r.package),
            Probe::Header(h) => format!("{} (header {h})", r.package),
        })
        .collect();
    bail!(
        "building QEMU needs packages this machine lacks: {}. Install them \
         (Debian: sudo apt-get install {}) and run the same command again; \
         or pass --build-cmd to build your own way",
        what.join(", "),
        packages.join(" ")
    )
}

/// This machine, asked through dpkg-query, PATH, pkg-config and python3.
pub(crate) struct Host;

/// Each question is local and quick; one that hangs is cut off.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

fn succeeds(cmd: Command) -> bool {
    crate::child::output_bounded(cmd, PROBE_TIMEOUT, 1 << 20).is_ok_and(|o| o.status.success())
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            let f = d.join(name);
            f.is_file() && is_executable(&f)
        })
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

impl Machine for Host {
    fn has_dpkg(&self) -> bool {
        on_path("dpkg-query")
    }

    fn installed(&self, package: &str) -> bool {
        let mut cmd = Command::new("dpkg-query");
        cmd.args(["-W", "-f=${db:Status-Status}", package]);
        crate::child::output_bounded(cmd, PROBE_TIMEOUT, 1 << 20)
            .is_ok_and(|o| o.status.success() && o.stdout.trim() == "installed")
    }

    fn probe(&self, probe: Probe) -> bool {
        match probe {
            Probe::Command(c) => on_path(c),
            Probe::PkgConfig(m) => {
                let mut cmd = Command::new("pkg-config");
                cmd.args(["--exists", m]);
                succeeds(cmd)
            }
            Probe::Python(m) => {
                let mut cmd = Command::new("python3");
                cmd.args(["-c", &format!("import {m}")]);
                succeeds(cmd)
            }
            Probe::Header(h) => ["/usr/include", "/usr/local/include"]
                .iter()
                .any(|d| Path::new(d).join(h).is_file()),
        }
    }
}

/// Checks this machine: an error naming what is missing.
pub(crate) fn check() -> Result<()> {
    missing_error(&missing(&Host))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        dpkg: bool,
        installed: &'static [&'static str],
        found: &'static [Probe],
    }

    impl Machine for Fake {
        fn has_dpkg(&self) -> bool {
            self.dpkg
        }
        fn installed(&self, package: &str) -> bool {
            self.installed.contains(&package)
        }
        fn probe(&self, probe: Probe) -> bool {
            self.found.contains(&probe)
        }
    }

    const ALL: [&str; 11] = [
        "build-essential",
        "ninja-build",
        "meson",
        "flex",
        "bison",
        "pkg-config",
        "python3-venv",
        "libglib2.0-dev",
        "libpixman-1-dev",
        "libslirp-dev",
        "libfdt-dev",
    ];

    #[test]
    fn dpkg_decides_on_debian() {
        let m = Fake {
            dpkg: true,
            installed: &["build-essential", "pkg-config", "python3-venv"],
            // PATH would say otherwise: dpkg wins.
            found: &[Probe::Command("ninja")],
        };
        let names: Vec<&str> = missing(&m).iter().map(|r| r.package).collect();
        assert_eq!(names.len(), 8, "{names:?}");
        assert!(names.contains(&"ninja-build") && !names.contains(&"pkg-config"));
        let err = missing_error(&missing(&m)).unwrap_err().to_string();
        assert!(
            err.contains("sudo apt-get install ninja-build meson flex bison libglib2.0-dev libpixman-1-dev libslirp-dev libfdt-dev"),
            "{err}"
        );
        assert!(err.contains("ninja-build (command ninja)"), "{err}");
        assert!(err.contains("libslirp-dev (library slirp)"), "{err}");
    }

    #[test]
    fn probes_decide_elsewhere_and_nothing_missing_is_ok() {
        let m = Fake {
            dpkg: false,
            installed: &[],
            found: &[
                Probe::Command("cc"),
                Probe::Command("ninja"),
                Probe::Command("meson"),
                Probe::Command("flex"),
                Probe::Command("bison"),
                Probe::Command("pkg-config"),
                Probe::Python("ensurepip"),
                Probe::PkgConfig("glib-2.0"),
                Probe::PkgConfig("pixman-1"),
                Probe::Header("libfdt.h"),
            ],
        };
        let names: Vec<&str> = missing(&m).iter().map(|r| r.package).collect();
        assert_eq!(names, ["libslirp-dev"]);
        let all = Fake {
            dpkg: true,
            installed: &ALL,
            found: &[],
        };
        assert!(missing(&all).is_empty());
        assert!(missing_error(&missing(&all)).is_ok());
    }
}
