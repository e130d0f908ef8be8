//! Building the firmware under test with `make`.
//!
//! Several test processes may ask for the same build at once (nextest runs each
//! test in its own process), so builds are serialised with a file lock; `make`
//! itself makes the second build a no-op.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};

use crate::child::ChildError;

/// How long a firmware build may take.
pub(crate) const BUILD_TIMEOUT: Duration = Duration::from_secs(300);

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

/// Runs `make -C dir [args]`; see [`run_command`].
pub fn run_make(dir: &Path, out: &Path, args: &[&str]) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut argv = vec!["-C".to_string(), dir.to_string_lossy().into_owned()];
    argv.extend(args.iter().map(|a| a.to_string()));
    run_command(Path::new("."), "make", &argv)
}

/// Runs a build command in `cwd`, bounded by [`BUILD_TIMEOUT`], serialised with
/// every other build of this machine through one lock file in the system temp
/// directory; on failure the error carries the command's output.
pub fn run_command(cwd: &Path, program: &str, args: &[String]) -> Result<()> {
    let lock_path = std::env::temp_dir().join("hvharness-build.lock");
    let lock_file =
        File::create(&lock_path).with_context(|| format!("creating {}", lock_path.display()))?;
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .with_context(|| format!("locking {}", lock_path.display()))?;
    let shown = format!("{program} {}", args.join(" "));
    let log = tempfile::tempfile().context("creating the build log")?;
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(cwd);
    // In its own process group, killed with everything it started on every
    // way out: a timeout, a signal to the harness, or its own exit.
    let status = match crate::child::run_logged(cmd, &log, BUILD_TIMEOUT, crate::child::BUILD_LOG_LIMIT) {
        Ok(s) => s,
        Err(ChildError::Spawn(e)) => bail!(
            "running {shown}: {e} (is {program} installed? scripts/setup.sh installs the project's tools)"
        ),
        Err(ChildError::Timeout(_)) => {
            bail!("{shown} took longer than {} s", BUILD_TIMEOUT.as_secs())
        }
        Err(e) => bail!("{shown}: {e}"),
    };
    if !status.success() {
        let mut text = String::new();
        let mut log = log;
        let _ = log
            .seek(SeekFrom::Start(0))
            .and_then(|_| log.read_to_string(&mut text));
        bail!(
            "{shown} failed ({status}) in {}:\n{}",
            cwd.display(),
            text.trim_end()
        );
    }
    Ok(())
}
