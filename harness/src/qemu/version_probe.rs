//! Asking a QEMU binary for its version: `BINARY --version`, bounded in time
//! and output, in its own process group (a wrapper script's children die with
//! it), and remembered per binary so that a slow wrapper costs its time once.
//!
//! The cache is one small JSON file, `$XDG_CACHE_HOME/hvharness/qemu-versions.json`
//! (else `~/.cache/...`), keyed by the binary's path, size and modification
//! time: rebuilding or editing the binary asks again. Only answers are kept
//! (a failure may be passing, e.g. a timeout on a loaded machine), and at most
//! [`CACHE_ENTRIES`] of them. A cache that cannot be read or written is
//! ignored: the probe just runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::version::QemuVersion;
use crate::child::{output_bounded, ChildError};

const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// QEMU prints about 150 bytes; a wrapper may add a banner, not megabytes.
const PROBE_OUTPUT_LIMIT: u64 = 1 << 20;
/// Binaries remembered; the oldest entries go first.
const CACHE_ENTRIES: usize = 64;
const CACHE_FILE: &str = "qemu-versions.json";

/// The version `binary --version` reports, from the cache when the binary
/// has not changed since it was last asked.
pub(crate) fn version_of(binary: &Path) -> Result<QemuVersion> {
    let key = Key::of(binary);
    let cache = cache_path();
    if let (Some(key), Some(path)) = (&key, &cache) {
        if let Some(v) = read_cache(path).lookup(key) {
            return Ok(v);
        }
    }
    let version = ask(binary, PROBE_TIMEOUT)?;
    if let (Some(key), Some(path)) = (key, cache) {
        let mut c = read_cache(&path);
        c.remember(key, version);
        // Not being able to remember is not an error: the next run asks again.
        let _ = write_cache(&path, &c);
    }
    Ok(version)
}

/// Runs `binary --version` and reads the version out of what it prints.
fn ask(binary: &Path, limit: Duration) -> Result<QemuVersion> {
    let shown = format!("{} --version", binary.display());
    let mut cmd = Command::new(binary);
    cmd.arg("--version");
    let out = match output_bounded(cmd, limit, PROBE_OUTPUT_LIMIT) {
        Ok(out) => out,
        Err(ChildError::Timeout(t)) => bail!(
            "{shown} gave no answer within {:.0} s (it and its children were killed)",
            t.as_secs_f64()
        ),
        Err(ChildError::TooMuchOutput(n)) => bail!(
            "{shown} printed more than {} KiB without exiting (killed); QEMU prints one line",
            n / 1024
        ),
        Err(e) => bail!("running {shown}: {e}"),
    };
    if !out.status.success() {
        bail!("{shown} exited with {}: {}", out.status, out.stderr.trim());
    }
    QemuVersion::from_version_output(&out.stdout).with_context(|| {
        let start: String = out.stdout.chars().take(200).collect();
        format!(
            "{shown} printed no QEMU version (expected \"QEMU emulator version X.Y.Z\"); it printed {} bytes, starting {start:?}",
            out.stdout.len()
        )
    })
}

/// What identifies one build of a binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Key {
    path: PathBuf,
    size: u64,
    mtime_ns: u64,
}

impl Key {
    fn of(binary: &Path) -> Option<Key> {
        // Through symlinks: a re-pointed link is another binary.
        let path = binary.canonicalize().ok()?;
        let meta = std::fs::metadata(&path).ok()?;
        let mtime_ns = u64::try_from(
            meta.modified()
                .ok()?
                .duration_since(UNIX_EPOCH)
                .ok()?
                .as_nanos(),
        )
        .ok()?;
        Some(Key {
            path,
            size: meta.len(),
            mtime_ns,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    #[serde(flatten)]
    key: Key,
    version: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cache {
    entries: Vec<Entry>,
}

impl Cache {
    fn lookup(&self, key: &Key) -> Option<QemuVersion> {
        self.entries
            .iter()
            .find(|e| &e.key == key)
            .and_then(|e| e.version.parse().ok())
    }

    fn remember(&mut self, key: Key, version: QemuVersion) {
        self.entries.retain(|e| e.key.path != key.path);
        self.entries.push(Entry {
            key,
            version: version.to_string(),
        });
        let extra = self.entries.len().saturating_sub(CACHE_ENTRIES);
        self.entries.drain(..extra);
    }
}

fn cache_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("hvharness").join(CACHE_FILE))
}

/// The cache, empty when missing, unreadable, absurdly large or not ours.
fn read_cache(path: &Path) -> Cache {
    let Ok(meta) = std::fs::metadata(path) else {
        return Cache::default();
    };
    if meta.len() > 1 << 20 {
        return Cache::default();
    }
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Writes through a temporary file and a rename: a reader in another
/// process sees the old cache or the new one, never half of one.
fn write_cache(path: &Path, cache: &Cache) -> Result<()> {
    let dir = path.parent().context("cache path without a directory")?;
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(&tmp, cache)?;
    tmp.persist(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Instant;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn a_wrapper_printing_more_than_a_pipe_holds_is_read() {
        let d = tempfile::tempdir().unwrap();
        let w = script(
            d.path(),
            "qemu-system-riscv64",
            "head -c 100000 /dev/zero | tr '\\0' '#'; echo; echo 'QEMU emulator version 9.2.0'",
        );
        assert_eq!(ask(&w, PROBE_TIMEOUT).unwrap(), QemuVersion::new(9, 2, 0));
    }

    #[test]
    fn a_wrapper_printing_without_end_is_refused_clearly() {
        let d = tempfile::tempdir().unwrap();
        let w = script(d.path(), "qemu-system-riscv64", "yes 'QEMU emulator'");
        let e = format!("{:#}", ask(&w, PROBE_TIMEOUT).unwrap_err());
        assert!(e.contains("printed more than 1024 KiB"), "{e}");
    }

    #[test]
    fn a_hanging_wrapper_leaves_no_child_behind() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("pid");
        let w = script(
            d.path(),
            "qemu-system-riscv64",
            &format!("sleep 300 & echo $! > {}; wait", pidfile.display()),
        );
        let e = format!("{:#}", ask(&w, Duration::from_millis(500)).unwrap_err());
        assert!(e.contains("no answer within"), "{e}");
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stat =
                std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
            if stat.is_empty() || stat.contains(") Z ") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the wrapper's sleep survived: {stat}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn no_version_in_the_output_is_said_with_what_was_printed() {
        let d = tempfile::tempdir().unwrap();
        let w = script(d.path(), "qemu-system-riscv64", "echo hello");
        let e = format!("{:#}", ask(&w, PROBE_TIMEOUT).unwrap_err());
        assert!(
            e.contains("printed no QEMU version") && e.contains("hello"),
            "{e}"
        );
        let w = script(d.path(), "q2", "echo broken >&2; exit 3");
        let e = format!("{:#}", ask(&w, PROBE_TIMEOUT).unwrap_err());
        assert!(e.contains("exited with") && e.contains("broken"), "{e}");
    }

    #[test]
    fn the_cache_is_keyed_by_path_size_and_mtime_and_bounded() {
        let d = tempfile::tempdir().unwrap();
        let w = script(d.path(), "q", "echo 'QEMU emulator version 8.0.2'");
        let key = Key::of(&w).unwrap();
        let path = d.path().join("cache").join(CACHE_FILE);
        let mut c = read_cache(&path);
        assert!(c.lookup(&key).is_none());
        c.remember(key.clone(), QemuVersion::new(8, 0, 2));
        write_cache(&path, &c).unwrap();
        assert_eq!(
            read_cache(&path).lookup(&key),
            Some(QemuVersion::new(8, 0, 2))
        );
        // Rewritten (another size): asked again.
        std::fs::write(&w, "#!/bin/sh\necho 'QEMU emulator version 10.0.2' # new\n").unwrap();
        let changed = Key::of(&w).unwrap();
        assert_ne!(changed, key);
        assert!(read_cache(&path).lookup(&changed).is_none());
        // Bounded: the oldest entries go.
        let mut c = Cache::default();
        for i in 0..CACHE_ENTRIES + 10 {
            c.remember(
                Key {
                    path: PathBuf::from(format!("/q/{i}")),
                    size: 1,
                    mtime_ns: 1,
                },
                QemuVersion::new(9, 2, 0),
            );
        }
        assert_eq!(c.entries.len(), CACHE_ENTRIES);
        assert_eq!(c.entries[0].key.path, PathBuf::from("/q/10"));
        // Garbage reads as empty.
        std::fs::write(&path, "not json").unwrap();
        assert!(read_cache(&path).entries.is_empty());
    }
}
