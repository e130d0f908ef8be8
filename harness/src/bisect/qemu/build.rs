//! Building `qemu-system-riscv64` at one commit, incrementally, in the
//! persistent build directory.
//!
//! The default build configures QEMU for riscv64-softmmu with as few
//! features as boots a hypervisor (`--without-default-features --enable-slirp
//! --enable-fdt=system`, no docs, no -Werror, no downloads: each flag only
//! where the commit's `configure` knows it; the list is
//! `configure-flags.txt`, which CI hashes into its cache key), then runs
//! `ninja qemu-system-riscv64`. With ccache installed, its compiler
//! links (`/usr/lib/ccache`) go first in PATH: QEMU's configure names the
//! compiler `cc` for meson, which then does not look for ccache itself.
//!
//! Configure runs again only when the commit's build-system files (configure,
//! meson.build files, meson options, wrap files, Kconfig, the bundled Python
//! wheels) differ from the ones last configured: ninja's own regeneration is
//! what went wrong when bisecting by hand (it kept a newer tree's flags going
//! back in history, and with Debian's meson it dropped --disable-werror), so
//! any change there gets a fresh `configure` instead; a step that changes only
//! C sources is a plain incremental ninja build, which is what makes late
//! steps take seconds.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::failure::{self, Cause};
use super::ninja_work::{self, NinjaWork};
use crate::child::{run_logged, ChildError};

/// The binary a build must produce, in the build directory.
pub(crate) const BINARY: &str = "qemu-system-riscv64";
/// The firmware QEMU's virt machine loads with `-bios default`.
const OPENSBI: &str = "opensbi-riscv64-generic-fw_dynamic.bin";
/// Written into the build directory after a configure: its signature.
const CONFIGURED: &str = ".hvharness-configured";

/// How to build each step.
#[derive(Debug, Clone)]
pub(crate) struct BuildSpec {
    /// A shell command replacing the default build; it runs in the worktree
    /// with `HVHARNESS_QEMU_SRC` and `HVHARNESS_QEMU_BUILD` set and must
    /// leave `$HVHARNESS_QEMU_BUILD/qemu-system-riscv64`.
    pub(crate) command: Option<String>,
    pub(crate) timeout: Duration,
    /// Where the meson subprojects QEMU cannot download offline are.
    pub(crate) subprojects: Option<PathBuf>,
}

/// The persistent directory: the meson build, the worktree, the log, the state.
#[derive(Debug, Clone)]
pub(crate) struct BuildDir {
    pub(crate) root: PathBuf,
}

impl BuildDir {
    pub(crate) fn worktree(&self) -> PathBuf {
        self.root.join("worktree")
    }
    pub(crate) fn build(&self) -> PathBuf {
        self.root.join("build")
    }
    /// A link to the newest step's log (`build-<n>-<hash>.log`).
    pub(crate) fn log(&self) -> PathBuf {
        self.root.join("build.log")
    }
    pub(crate) fn state(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// A new log for a build of `commit`: `build-<n>-<hash>.log`, `n` one
    /// more than the highest there, `build.log` pointing at it; the oldest
    /// logs beyond [`LOGS_KEPT`] are removed.
    pub(crate) fn new_step_log(&self, commit: &str) -> Result<(PathBuf, File)> {
        let mut logs = self.step_logs();
        let n = logs.last().map_or(1, |(n, _)| n + 1);
        let path = self
            .root
            .join(format!("build-{n}-{}.log", super::report::short(commit)));
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let link = self.log();
        let _ = std::fs::remove_file(&link);
        if let Some(name) = path.file_name() {
            // Relative: the build directory may be moved.
            let _ = std::os::unix::fs::symlink(name, &link);
        }
        logs.push((n, path));
        let excess = logs.len().saturating_sub(LOGS_KEPT);
        for (_, old) in &logs[..excess] {
            let _ = std::fs::remove_file(old);
        }
        Ok((logs[logs.len() - 1].1.clone(), file))
    }

    /// The step logs there, oldest first.
    fn step_logs(&self) -> Vec<(u64, PathBuf)> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut logs: Vec<(u64, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let n = name
                    .strip_prefix("build-")?
                    .strip_suffix(".log")?
                    .split('-')
                    .next()?
                    .parse()
                    .ok()?;
                Some((n, e.path()))
            })
            .collect();
        logs.sort();
        logs
    }

    /// Makes the next default build configure afresh (the worktree is new:
    /// every file's mtime is, and ninja would regenerate on its own).
    pub(crate) fn forget_configuration(&self) {
        let _ = std::fs::remove_file(self.build().join(CONFIGURED));
    }
}

/// The entries of `path` that no build directory holds: a directory that
/// has any is not removed by `bisect clean` (a mistyped path must not cost
/// the user their files).
pub(crate) fn foreign_entries(path: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            let step_log = n.starts_with("build-") && n.ends_with(".log");
            !step_log
                && !matches!(
                    n.as_str(),
                    "lock" | "state.json" | "state.json.tmp" | "worktree" | "build" | "build.log"
                )
        })
        .collect())
}

/// How many step logs a build directory keeps.
pub(crate) const LOGS_KEPT: usize = 50;

/// One step's build.
#[derive(Debug)]
pub(crate) enum Built {
    Ok {
        binary: PathBuf,
        /// For `-L`: where this commit's OpenSBI is.
        data_dir: Option<PathBuf>,
        secs: f64,
        configured: bool,
        /// What ninja did (none for a `--build-cmd` that is not ninja).
        work: Option<NinjaWork>,
    },
    /// The commit does not build: skip it.
    Failed {
        /// Its first cause in words (see [`failure::first_cause`]).
        reason: String,
        tail: String,
        secs: f64,
        log: PathBuf,
    },
}

/// Builds the worktree's commit. An error (rather than `Failed`) means no
/// commit can build here: a missing system library or subproject, a build
/// directory that cannot be written.
pub(crate) fn build(spec: &BuildSpec, dir: &BuildDir, wt: &Path, commit: &str) -> Result<Built> {
    let started = Instant::now();
    let deadline = started + spec.timeout;
    let out = dir.build();
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let (log_path, mut log) = dir.new_step_log(commit)?;
    let _ = writeln!(log, "== hvharness: building {commit}");
    let binary = out.join(BINARY);
    // A stale binary must not pass for this commit's.
    match std::fs::remove_file(&binary) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing the previous {}", binary.display()))
        }
        _ => {}
    }
    link_subprojects(wt, spec.subprojects.as_deref(), &mut log)?;
    let (steps, configure_signature) = steps(spec, wt, &out)?;
    let configured = configure_signature.is_some();
    // Where the last step's output starts: ninja's, for the default build.
    let mut last_step_at = 0;
    for (i, (what, cmd)) in steps.into_iter().enumerate() {
        let _ = writeln!(log, "== hvharness: {what}");
        last_step_at = log.metadata().map_or(0, |m| m.len());
        let left = deadline.saturating_duration_since(Instant::now());
        let status = match run_logged(cmd, &log, left, crate::child::BUILD_LOG_LIMIT) {
            Ok(s) => s,
            Err(ChildError::Timeout(_)) => {
                return failed(
                    &log_path,
                    started,
                    format!(
                        "{what} took longer than the build timeout ({} s)",
                        spec.timeout.as_secs()
                    ),
                )
            }
            Err(ChildError::Spawn(e)) => bail!("cannot run {what}: {e} (is it installed?)"),
            Err(e) => bail!("{what}: {e}"),
        };
        if !status.success() {
            let reason = match failure::first_cause(&head(&log_path, CAUSE_SCAN_LIMIT)) {
                Cause::MissingLibrary {
                    library,
                    package,
                    line,
                } => {
                    return Err(missing_library_error(
                        commit, &library, package, &line, &log_path,
                    ))
                }
                Cause::MissingSubproject { line } => {
                    return Err(missing_subproject_error(commit, &line, &log_path))
                }
                cause => cause
                    .summary()
                    .unwrap_or_else(|| format!("{what} failed ({status})")),
            };
            return failed(&log_path, started, reason);
        }
        // The stamp says what build.ninja is configured for, so it is written
        // as soon as configure succeeds: a build cut short after that (Ctrl-C,
        // a compile error) must not configure again next time (it did, which
        // cost a resumed real bisection 45 s of configure and nothing else).
        if let (0, Some(signature)) = (i, &configure_signature) {
            std::fs::write(out.join(CONFIGURED), signature)
                .with_context(|| format!("writing {}", out.join(CONFIGURED).display()))?;
        }
    }
    if !binary.is_file() {
        return failed(
            &log_path,
            started,
            format!("the build succeeded but left no {}", binary.display()),
        );
    }
    let data_dir = [out.join("pc-bios"), wt.join("pc-bios")]
        .into_iter()
        .find(|d| d.join(OPENSBI).exists());
    Ok(Built::Ok {
        binary,
        data_dir,
        secs: started.elapsed().as_secs_f64(),
        configured,
        work: ninja_work::from_log(&log_path, last_step_at),
    })
}

/// How a build went, for a progress line: `incremental, 14 build commands`,
/// `configured, 1446 build commands`, and whether ninja regenerated by itself.
pub(crate) fn how_built(configured: bool, work: Option<NinjaWork>) -> String {
    let mut s = if configured {
        "configured"
    } else {
        "incremental"
    }
    .to_string();
    if let Some(w) = work {
        s.push_str(&format!(", {} build commands", w.commands));
        if w.regenerated {
            s.push_str("; ninja re-ran meson by itself");
        }
    }
    s
}

/// Build commands, each with what the log calls it.
type Steps = Vec<(String, Command)>;

/// The commands that build the worktree's commit, each with what it is
/// called in the log; when the first one configures the build directory
/// afresh, the build-system signature to stamp once it succeeds.
fn steps(spec: &BuildSpec, wt: &Path, out: &Path) -> Result<(Steps, Option<String>)> {
    let mut configure_signature = None;
    let steps = match &spec.command {
        Some(cmd) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(cmd)
                .current_dir(wt)
                .env("HVHARNESS_QEMU_SRC", wt)
                .env("HVHARNESS_QEMU_BUILD", out);
            vec![(format!("--build-cmd {cmd}"), c)]
        }
        None => {
            let mut steps = Vec::new();
            let signature = build_system_signature(wt)?;
            let stamp = out.join(CONFIGURED);
            let same = std::fs::read_to_string(&stamp).is_ok_and(|s| s == signature)
                && out.join("build.ninja").is_file();
            if !same {
                let _ = std::fs::remove_file(&stamp);
                steps.push(("configure".to_string(), configure_command(wt, out)?));
                configure_signature = Some(signature);
            }
            let mut ninja = Command::new("ninja");
            ninja.arg("-C").arg(out).arg(BINARY);
            steps.push((format!("ninja {BINARY}"), ninja));
            if let Some(dir) = ccache_links() {
                let path = std::env::var_os("PATH").unwrap_or_default();
                let mut dirs = vec![dir];
                dirs.extend(std::env::split_paths(&path));
                let joined = std::env::join_paths(dirs).context("PATH with ccache")?;
                for (_, c) in &mut steps {
                    c.env("PATH", &joined);
                }
            }
            steps
        }
    };
    Ok((steps, configure_signature))
}

/// Why no commit builds here when a meson subproject is missing, and how to
/// provide it offline.
fn missing_subproject_error(commit: &str, line: &str, log: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "the build of {commit} failed because a meson subproject is missing ({line}). Offline, QEMU \
         needs keycodemapdb, berkeley-softfloat-3 and berkeley-testfloat-3 in subprojects/: fetch them \
         into your checkout (`meson subprojects download` there while online, or clone them at the \
         revisions of subprojects/NAME.wrap and copy subprojects/packagefiles/NAME/ into them); hvharness \
         links them into each step's worktree from SOURCE/subprojects or --subprojects DIR. Log: {}",
        log.display()
    )
}

/// Why no commit builds here when a system library is missing, and the
/// package to install.
fn missing_library_error(
    commit: &str,
    library: &str,
    package: Option<&str>,
    line: &str,
    log: &Path,
) -> anyhow::Error {
    let fix = match package {
        Some(p) => format!("install it (Debian: sudo apt-get install {p})"),
        None => {
            format!("install the package that provides it (Debian: apt-file search {library}.pc)")
        }
    };
    anyhow::anyhow!(
        "the build of {commit} failed because the system library {library} is missing \
         (\"{line}\"): {fix}, then run the same command again. Log: {}",
        log.display()
    )
}

fn failed(log: &Path, started: Instant, reason: String) -> Result<Built> {
    Ok(Built::Failed {
        reason,
        tail: tail(log, 30),
        secs: started.elapsed().as_secs_f64(),
        log: log.to_path_buf(),
    })
}

/// How much of a step's log is searched for the first cause: more than
/// any configure prints before its error.
const CAUSE_SCAN_LIMIT: u64 = 16 << 20;

/// The first `limit` bytes of the log.
fn head(path: &Path, limit: u64) -> String {
    let Ok(f) = File::open(path) else {
        return String::new();
    };
    let mut bytes = Vec::new();
    let _ = f.take(limit).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The directory of ccache's compiler links, when ccache is installed.
pub(crate) fn ccache_links() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|d| d.join("ccache").is_file())?;
    [
        "/usr/lib/ccache",
        "/usr/lib64/ccache",
        "/usr/local/lib/ccache",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|d| d.join("cc").exists())
}

/// QEMU's configure with the flags this commit's tree knows.
fn configure_command(src: &Path, out: &Path) -> Result<Command> {
    let script = src.join("configure");
    if !script.is_file() {
        bail!(
            "{} has no configure script: is --source a QEMU repository?",
            src.display()
        );
    }
    let mut known = std::fs::read_to_string(&script).unwrap_or_default();
    known.push_str(
        &std::fs::read_to_string(src.join("scripts/meson-buildoptions.sh")).unwrap_or_default(),
    );
    let mut cmd = Command::new(&script);
    cmd.current_dir(out).arg("--target-list=riscv64-softmmu");
    for flag in configure_flags(&known) {
        cmd.arg(flag);
    }
    Ok(cmd)
}

/// The configure line, flag and sign per line (see the file).
const CONFIGURE_FLAGS: &str = include_str!("configure-flags.txt");

/// The optional flags, each only if the configure text (the script and its
/// meson option list) mentions it.
pub(crate) fn configure_flags(known: &str) -> Vec<&'static str> {
    CONFIGURE_FLAGS
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, key)| known.contains(key.trim()))
        .map(|(flag, _)| flag)
        .collect()
}

/// The blob ids of the commit's build-system files, one line each.
fn build_system_signature(wt: &Path) -> Result<String> {
    let tree = super::git::git_at(wt, &["ls-tree", "-r", "HEAD"])?;
    let mut lines: Vec<&str> = tree
        .lines()
        .filter(|l| is_build_system_file(l.rsplit('\t').next().unwrap_or("")))
        .collect();
    lines.sort_unstable();
    Ok(lines.join("\n"))
}

/// Whether a change to `path` can change what configure writes.
pub(crate) fn is_build_system_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    matches!(
        name,
        "configure"
            | "meson.build"
            | "meson_options.txt"
            | "meson.options"
            | "Kconfig"
            | "Kconfig.host"
    ) || name.ends_with(".wrap")
        || name.ends_with(".mak")
        || path.starts_with("python/wheels/")
        || path.starts_with("python/scripts/")
        || path == "scripts/meson-buildoptions.sh"
        || path.starts_with("subprojects/packagefiles/")
}

/// Links each `subprojects/NAME` that the commit's `NAME.wrap` asks for and
/// the worktree lacks, from `from`.
fn link_subprojects(worktree: &Path, from: Option<&Path>, log: &mut File) -> Result<()> {
    let (Some(from), Ok(entries)) = (from, std::fs::read_dir(worktree.join("subprojects"))) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".wrap") else {
            continue;
        };
        let target = worktree.join("subprojects").join(stem);
        let source = from.join(stem);
        if target.exists() || !source.is_dir() {
            continue;
        }
        std::os::unix::fs::symlink(&source, &target)
            .with_context(|| format!("linking {} to {}", target.display(), source.display()))?;
        let _ = writeln!(
            log,
            "== hvharness: subprojects/{stem} -> {}",
            source.display()
        );
    }
    Ok(())
}

/// The last `n` lines of the log (at most its last 64 KiB).
pub(crate) fn tail(path: &Path, n: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut bytes = Vec::new();
    let _ = f.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds with a `--build-cmd` that prints `log` and fails.
    fn failing_build(log: &str) -> Result<Built> {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, wt) = (
            BuildDir {
                root: tmp.path().join("b"),
            },
            tmp.path().join("wt"),
        );
        std::fs::create_dir_all(&dir.root).unwrap();
        std::fs::create_dir_all(&wt).unwrap();
        std::fs::write(tmp.path().join("log.txt"), log).unwrap();
        let spec = BuildSpec {
            command: Some(format!(
                "cat '{}'; exit 1",
                tmp.path().join("log.txt").display()
            )),
            timeout: Duration::from_secs(60),
            subprojects: None,
        };
        build(&spec, &dir, &wt, "0123456789abcdef0123")
    }

    #[test]
    fn a_missing_library_stops_with_its_package_and_a_compile_error_skips() {
        let slirp = "Run-time dependency slirp found: NO (tried pkgconfig)\n\
                     Looking for a fallback subproject for the dependency slirp\n\n\
                     ../meson.build:1074:10: ERROR: Automatic wrap-based subproject downloading is disabled\n";
        let err = format!("{:#}", failing_build(slirp).unwrap_err());
        assert!(
            err.contains("failed because the system library slirp is missing")
                && err.contains("sudo apt-get install libslirp-dev")
                && !err.contains("subproject is missing"),
            "{err}"
        );
        let keycodes = "../meson.build:3:0: ERROR: Subproject exists but has no meson.build file\n";
        let err = format!("{:#}", failing_build(keycodes).unwrap_err());
        assert!(err.contains("a meson subproject is missing"), "{err}");
        let cc = "../target/riscv/cpu.c:7:1: error: unknown type name 'x'\n";
        match failing_build(cc).unwrap() {
            Built::Failed { reason, log, .. } => {
                assert_eq!(
                    reason,
                    "compile error in target/riscv/cpu.c: ../target/riscv/cpu.c:7:1: error: unknown type name 'x'"
                );
                assert!(log.ends_with("build-1-0123456789ab.log"), "{log:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// Runs git in `dir` as a test user.
    fn git(dir: &Path, args: &[&str]) {
        let st = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@t.invalid"])
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "git {args:?}");
    }

    /// A committed tree whose `configure` counts its runs (in the returned
    /// file) and writes a build.ninja whose one command fails while
    /// `fail-once` exists (as a build cut short does), then makes the binary.
    fn fake_tree(tmp: &Path) -> (PathBuf, PathBuf) {
        let (wt, runs) = (tmp.join("wt"), tmp.join("configure-runs"));
        std::fs::create_dir_all(&wt).unwrap();
        let step = tmp.join("step.sh");
        let fail = tmp.join("fail-once");
        std::fs::write(
            &step,
            format!(
                "if [ -e '{}' ]; then rm '{}'; exit 1; fi\ntouch {BINARY}\n",
                fail.display(),
                fail.display()
            ),
        )
        .unwrap();
        let configure = wt.join("configure");
        std::fs::write(
            &configure,
            format!(
                "#!/bin/sh\necho run >> '{}'\nprintf 'rule step\\n  command = sh {}\\nbuild {BINARY}: step\\n' > build.ninja\n",
                runs.display(),
                step.display()
            ),
        )
        .unwrap();
        let mut perms = std::fs::metadata(&configure).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&configure, perms).unwrap();
        git(&wt, &["init", "-q"]);
        git(&wt, &["add", "-A"]);
        git(&wt, &["commit", "-qm", "tree"]);
        (wt, runs)
    }

    #[test]
    fn a_build_cut_short_after_configure_does_not_configure_again() {
        if Command::new("ninja").arg("--version").output().is_err() {
            eprintln!("skipped: ninja is not installed (Debian: ninja-build)");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let (wt, runs) = fake_tree(tmp.path());
        let dir = BuildDir {
            root: tmp.path().join("b"),
        };
        let spec = BuildSpec {
            command: None,
            timeout: Duration::from_secs(120),
            subprojects: None,
        };
        let configure_runs = || {
            std::fs::read_to_string(&runs)
                .unwrap_or_default()
                .lines()
                .count()
        };
        std::fs::write(tmp.path().join("fail-once"), "").unwrap();
        match build(&spec, &dir, &wt, "0123456789ab").unwrap() {
            Built::Failed { reason, .. } => assert!(reason.contains("ninja"), "{reason}"),
            other => panic!("the first build should fail in ninja: {other:?}"),
        }
        assert_eq!(configure_runs(), 1);
        // The next build of the same tree (a resumed run) goes straight to ninja.
        match build(&spec, &dir, &wt, "0123456789ab").unwrap() {
            Built::Ok {
                configured, work, ..
            } => {
                assert!(!configured);
                assert_eq!(work.map(|w| w.commands), Some(1));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            configure_runs(),
            1,
            "configure ran again on an unchanged tree"
        );
        // A changed build-system file configures again.
        std::fs::write(wt.join("meson.build"), "project('x')\n").unwrap();
        git(&wt, &["add", "meson.build"]);
        git(&wt, &["commit", "-qm", "meson"]);
        match build(&spec, &dir, &wt, "0123456789ab").unwrap() {
            Built::Ok { configured, .. } => assert!(configured),
            other => panic!("{other:?}"),
        }
        assert_eq!(configure_runs(), 2);
    }

    #[test]
    fn only_a_build_directory_is_taken_for_one() {
        let tmp = tempfile::tempdir().unwrap();
        for n in [
            "lock",
            "state.json",
            "build.log",
            "build-3-0123456789ab.log",
        ] {
            std::fs::write(tmp.path().join(n), "").unwrap();
        }
        std::fs::create_dir(tmp.path().join("worktree")).unwrap();
        assert!(foreign_entries(tmp.path()).unwrap().is_empty());
        std::fs::write(tmp.path().join("thesis.tex"), "").unwrap();
        assert_eq!(foreign_entries(tmp.path()).unwrap(), ["thesis.tex"]);
    }

    #[test]
    fn each_build_has_its_log_and_only_the_newest_are_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = BuildDir {
            root: tmp.path().to_path_buf(),
        };
        let (first, _) = dir.new_step_log("0123456789abcdef").unwrap();
        assert!(first.ends_with("build-1-0123456789ab.log"), "{first:?}");
        for i in 0..LOGS_KEPT + 5 {
            let (p, _) = dir.new_step_log(&format!("{i:040x}")).unwrap();
            assert_eq!(
                std::fs::read_link(dir.log()).unwrap(),
                Path::new(p.file_name().unwrap())
            );
        }
        let logs = dir.step_logs();
        assert_eq!(logs.len(), LOGS_KEPT);
        // Numbering goes on from the highest, across runs.
        assert_eq!(logs.last().unwrap().0, (LOGS_KEPT + 6) as u64);
        assert_eq!(logs[0].0, 7);
    }

    #[test]
    fn flags_follow_what_configure_knows() {
        let old = "--enable-slirp --disable-docs --disable-werror --without-default-features";
        assert_eq!(
            configure_flags(old),
            [
                "--without-default-features",
                "--enable-slirp",
                "--disable-docs",
                "--disable-werror"
            ]
        );
        let new = format!("{old} --enable-fdt --disable-download --disable-tcg-interpreter");
        assert_eq!(configure_flags(&new).len(), 7);
    }

    #[test]
    fn build_system_files() {
        for p in [
            "configure",
            "meson.build",
            "target/riscv/meson.build",
            "subprojects/keycodemapdb.wrap",
            "python/wheels/meson-1.2.3-py3-none-any.whl",
            "configs/devices/riscv64-softmmu/default.mak",
            "hw/riscv/Kconfig",
        ] {
            assert!(is_build_system_file(p), "{p}");
        }
        for p in [
            "target/riscv/cpu.c",
            "docs/meson.rst",
            "include/hw/riscv/virt.h",
        ] {
            assert!(!is_build_system_file(p), "{p}");
        }
    }
}
