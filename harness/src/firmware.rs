//! Building the firmware under test with `make`.
//!
//! Several test processes may ask for the same build at once (nextest runs each
//! test in its own process), so builds of one output directory are serialised
//! with a file lock; `make` itself makes the second build a no-op.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};

/// How long a firmware build may take.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(300);

/// The reference firmware's three ELF files.
#[derive(Debug, Clone)]
pub struct ReferenceFirmware {
    pub guest: PathBuf,
    pub hypervisor: PathBuf,
    pub hypervisor_noadue: PathBuf,
}

/// Runs `make -C <root>/hypervisor` and returns the reference firmware's paths.
pub fn build_reference(root: &Path) -> Result<ReferenceFirmware> {
    let out = crate::project::firmware_dir(root);
    run_make(&root.join("hypervisor"), &out, &[])?;
    let fw = ReferenceFirmware {
        guest: out.join("guest.elf"),
        hypervisor: out.join("hypervisor.elf"),
        hypervisor_noadue: out.join("hypervisor-noadue.elf"),
    };
    for p in [&fw.guest, &fw.hypervisor, &fw.hypervisor_noadue] {
        if !p.is_file() {
            bail!("make succeeded but did not produce {}", p.display());
        }
    }
    Ok(fw)
}

/// Runs `make -C dir [args]` with the output directory locked, bounded by
/// [`BUILD_TIMEOUT`]; on failure the error carries make's output.
pub fn run_make(dir: &Path, out: &Path, args: &[&str]) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let lock_path = out.join(".build.lock");
    let lock_file = File::create(&lock_path).with_context(|| format!("creating {}", lock_path.display()))?;
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .with_context(|| format!("locking {}", lock_path.display()))?;

    let log_path = out.join(".build.log");
    let log = File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let mut child = Command::new("make")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("duplicating the build log handle")?)
        .stderr(log)
        .spawn()
        .context("running make (is GNU make installed? scripts/setup.sh installs it)")?;
    let deadline = Instant::now() + BUILD_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().context("waiting for make")? {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("make -C {} took longer than {BUILD_TIMEOUT:?}", dir.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        bail!("make -C {} failed ({status}):\n{}", dir.display(), text.trim_end());
    }
    Ok(())
}
