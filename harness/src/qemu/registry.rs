//! The QEMU builds the harness knows about.
//!
//! Sources, in order: the project's own prefixes (`.qemu/<version>/`, or
//! `$HVHARNESS_QEMU_PREFIXES/<version>/`, made by `scripts/setup.sh`), prefixes
//! installed with `hvharness qemu install`
//! (`$XDG_DATA_HOME/hvharness/qemu/<version>/`, found by a scan), builds the
//! user registered (the `HVHARNESS_QEMU` environment variable, a
//! `:`-separated list of binaries, and the config file written by
//! `hvharness qemu add`), then `qemu-system-riscv64` on `PATH`.
//! When two entries have the same version the first one wins.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::version::{QemuVersion, VersionReq};

/// Environment variable with extra QEMU binaries, separated by `:`.
pub(crate) const QEMU_ENV: &str = "HVHARNESS_QEMU";
/// Environment variable that overrides the config file's location.
pub(crate) const CONFIG_ENV: &str = "HVHARNESS_CONFIG";

const BINARY: &str = "qemu-system-riscv64";

/// Where a build came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Origin {
    /// `.qemu/<version>/` inside the project.
    Project,
    /// `hvharness qemu install` into the data directory.
    Installed,
    /// `HVHARNESS_QEMU` or the config file.
    Registered,
    /// `qemu-system-riscv64` on `PATH`.
    Path,
}

/// `project`, `installed`, `registered` or `path`.
impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Origin::Project => "project",
            Origin::Installed => "installed",
            Origin::Registered => "registered",
            Origin::Path => "path",
        })
    }
}

/// One usable QEMU: its version, binary and firmware directory (`-L`).
#[derive(Debug, Clone, Serialize)]
pub struct QemuBuild {
    pub version: QemuVersion,
    pub binary: PathBuf,
    /// Passed as `-L`; `None` lets QEMU use its built-in search path.
    pub data_dir: Option<PathBuf>,
    pub(crate) origin: Origin,
}

/// Every known QEMU build, oldest version first.
#[derive(Debug, Clone, Default)]
pub struct QemuRegistry {
    builds: Vec<QemuBuild>,
    /// Builds left out because an earlier source has their version.
    shadowed: Vec<Shadowed>,
    /// What discovery left out and why, for the caller to show.
    warnings: Vec<String>,
}

/// A build left out because another of the same version came first.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Shadowed {
    /// The build left out.
    pub(crate) build: QemuBuild,
    /// The binary used for that version instead.
    pub(crate) winner: PathBuf,
    pub(crate) winner_origin: Origin,
}

/// `QEMU 9.2.0 at B (registered) is shadowed by W (project), which wins ...`.
impl std::fmt::Display for Shadowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "QEMU {} at {} ({}) is not used: {} ({}) has the same version and wins \
             (order: project .qemu/, installed, registered, PATH)",
            self.build.version,
            self.build.binary.display(),
            self.build.origin,
            self.winner.display(),
            self.winner_origin
        )
    }
}

/// One `[[qemu]]` entry of the config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ConfigEntry {
    binary: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    qemu: Vec<ConfigEntry>,
}

impl QemuRegistry {
    /// Looks in every source. Entries that fail to run are left out, each with
    /// a line in [`QemuRegistry::warnings`]: a broken registration must not
    /// hide the working builds.
    pub fn discover(project_root: Option<&Path>) -> QemuRegistry {
        let mut reg = QemuRegistry::default();
        if let Some(root) = project_root {
            let dir = crate::project::qemu_prefixes_dir(root);
            for build in project_builds(&dir, &mut reg.warnings) {
                reg.insert(build);
            }
        }
        if let Some(dir) = super::install::install_root() {
            for build in super::install::installed_builds(&dir) {
                reg.insert(build);
            }
        }
        for entry in registered_entries(&mut reg.warnings) {
            match probe(&entry.binary, entry.data_dir.clone(), Origin::Registered) {
                Ok(b) => {
                    reg.insert(b);
                    // The user asked for this one: say so when it is not used.
                    if let Some(s) = reg
                        .shadowed
                        .last()
                        .filter(|s| s.build.binary == entry.binary)
                    {
                        let line = format!("warning: {s}");
                        reg.warnings.push(line);
                    }
                }
                Err(e) => reg
                    .warnings
                    .push(format!("ignoring registered QEMU: {e:#}")),
            }
        }
        if let Some(bin) = which(BINARY) {
            if let Ok(b) = probe(&bin, None, Origin::Path) {
                reg.insert(b);
            }
        }
        reg.builds.sort_by_key(|b| b.version);
        reg
    }

    fn insert(&mut self, build: QemuBuild) {
        match self.builds.iter().find(|b| b.version == build.version) {
            None => self.builds.push(build),
            Some(w) if same_file(&w.binary, &build.binary) => {}
            Some(w) => self.shadowed.push(Shadowed {
                winner: w.binary.clone(),
                winner_origin: w.origin,
                build,
            }),
        }
    }

    /// What discovery left out and why (`ignoring ...`, `warning: ...`), one
    /// line each, for the caller to show; the CLI prints them on stderr.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Builds left out because another of the same version came first.
    pub(crate) fn shadowed(&self) -> &[Shadowed] {
        &self.shadowed
    }

    /// All builds, oldest first.
    pub fn builds(&self) -> &[QemuBuild] {
        &self.builds
    }

    /// The build of exactly this version.
    pub fn get(&self, version: QemuVersion) -> Option<&QemuBuild> {
        self.builds.iter().find(|b| b.version == version)
    }

    /// The builds whose version is in `req`.
    pub fn matching(&self, req: &VersionReq) -> Vec<&QemuBuild> {
        self.builds
            .iter()
            .filter(|b| req.matches(b.version))
            .collect()
    }

    /// Resolves what a user typed: a version (`10.0.2`), a range (`>=9.0`, newest
    /// match wins) or a path to a binary.
    pub fn select(&self, spec: &str) -> Result<QemuBuild> {
        let path = Path::new(spec);
        if spec.contains('/') || path.is_file() {
            return probe(path, None, Origin::Registered);
        }
        if let Ok(v) = spec.parse::<QemuVersion>() {
            return self
                .get(v)
                .cloned()
                .with_context(|| not_registered(&v.to_string(), self));
        }
        let req: VersionReq = spec.parse()?;
        match self.matching(&req).last() {
            Some(b) => Ok((*b).clone()),
            None => bail!(not_registered(spec, self)),
        }
    }
}

/// Whether two paths name one file (a PATH entry may be a project binary).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// How to make a missing version available, for error messages and skipped cells.
pub fn how_to_register(version: &str) -> String {
    format!(
        "install a prefix tarball with `hvharness qemu install --from qemu-{version}-....tar.xz`, or build QEMU {version} \
         from its release tarball (README: 'Other QEMU versions') and register it with \
         `hvharness qemu add PATH/TO/qemu-system-riscv64` or {QEMU_ENV}=PATH; scripts/setup.sh installs 7.2, 8.0.2, 9.2.0 and 10.0"
    )
}

/// What to say when no QEMU is known at all.
pub(crate) fn none_known() -> String {
    format!(
        "no QEMU known. Run scripts/setup.sh, or {}",
        how_to_register("X.Y.Z")
    )
}

fn not_registered(spec: &str, reg: &QemuRegistry) -> String {
    let known: Vec<String> = reg.builds.iter().map(|b| b.version.to_string()).collect();
    let known = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    format!(
        "QEMU {spec} is not registered (known: {known}). To add it: {}",
        how_to_register(spec)
    )
}

/// The project's prefixes: `.qemu/<dir>/usr/bin/qemu-system-riscv64`.
fn project_builds(dir: &Path, warnings: &mut Vec<String>) -> Vec<QemuBuild> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let prefix = entry.path();
        let bin = prefix.join("usr/bin").join(BINARY);
        if !bin.is_file() {
            continue;
        }
        match probe(&bin, Some(prefix.join("usr/share/qemu")), Origin::Project) {
            Ok(b) => out.push(b),
            Err(e) => warnings.push(format!("ignoring {}: {e:#}", prefix.display())),
        }
    }
    out
}

fn registered_entries(warnings: &mut Vec<String>) -> Vec<ConfigEntry> {
    let mut out = Vec::new();
    if let Some(list) = std::env::var_os(QEMU_ENV) {
        for p in std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()) {
            out.push(ConfigEntry {
                binary: p,
                data_dir: None,
            });
        }
    }
    if let Some(path) = config_path() {
        match read_config(&path) {
            Ok(cfg) => out.extend(cfg.qemu),
            Err(e) => warnings.push(format!("{e:#}")),
        }
    }
    out
}

/// The config file: `$HVHARNESS_CONFIG`, else `$XDG_CONFIG_HOME/hvharness/qemu.toml`,
/// else `~/.config/hvharness/qemu.toml`.
pub(crate) fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(CONFIG_ENV) {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("hvharness").join("qemu.toml"))
}

fn read_config(path: &Path) -> Result<ConfigFile> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Registers a QEMU binary in the config file after checking that it runs.
pub(crate) fn register(binary: &Path, data_dir: Option<PathBuf>) -> Result<QemuBuild> {
    let binary = binary
        .canonicalize()
        .with_context(|| format!("{} does not exist", binary.display()))?;
    let build = probe(&binary, data_dir.clone(), Origin::Registered)?;
    let path = config_path().context("no config location: set HOME or HVHARNESS_CONFIG")?;
    let mut cfg = read_config(&path)?;
    cfg.qemu.retain(|e| e.binary != binary);
    cfg.qemu.push(ConfigEntry { binary, data_dir });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = toml::to_string_pretty(&cfg).context("encoding the QEMU config")?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(build)
}

/// Asks `BINARY --version` (bounded, remembered per binary: see
/// [`super::version_probe`]) and builds the entry.
pub(crate) fn probe(binary: &Path, data_dir: Option<PathBuf>, origin: Origin) -> Result<QemuBuild> {
    let version = super::version_probe::version_of(binary)?;
    Ok(QemuBuild {
        version,
        binary: binary.to_path_buf(),
        data_dir,
        origin,
    })
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
