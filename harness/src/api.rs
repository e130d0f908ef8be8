//! The library's front door: find a QEMU, build the firmware, run or
//! diagnose a scenario, each with the typed [`Error`] a caller can decide on.

use std::fmt;

use crate::diagnosis::{diagnose_one, Diagnosis};
use crate::qemu::{QemuBuild, QemuRegistry};
use crate::runner::{EndedFromOutside, RunReport};
use crate::scenario::Scenario;

/// What went wrong on the way from a scenario to a [`RunReport`], by what a
/// caller can do about it. Each holds the whole chain of causes; `{e}`
/// prints them all, outermost first.
#[derive(Debug)]
pub enum Error {
    /// The scenario file does not read or names files that are not there.
    Scenario(anyhow::Error),
    /// No known QEMU build matches what was asked for (the message says how
    /// to install or register one).
    QemuMissing(anyhow::Error),
    /// The scenario's build command failed.
    BuildFailed(anyhow::Error),
    /// QEMU was ended from outside during the run (a signal the harness did
    /// not send, or a crash): the run says nothing about the firmware.
    EndedFromOutside(anyhow::Error),
    /// Anything else: QEMU did not start, the debugger lost it, a file
    /// could not be written.
    Internal(anyhow::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.chain())
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The error with its causes, as the harness built it.
    pub fn chain(&self) -> &anyhow::Error {
        match self {
            Error::Scenario(e)
            | Error::QemuMissing(e)
            | Error::BuildFailed(e)
            | Error::EndedFromOutside(e)
            | Error::Internal(e) => e,
        }
    }
}

/// Reads a scenario file.
pub fn load_scenario(path: &std::path::Path) -> Result<Scenario, Error> {
    Scenario::load(path).map_err(Error::Scenario)
}

/// The QEMU build for what a user typed: a version (`10.0.2`), a range
/// (`>=9.0`, the newest match) or a path to a binary.
pub fn find_qemu(registry: &QemuRegistry, spec: &str) -> Result<QemuBuild, Error> {
    registry.select(spec).map_err(Error::QemuMissing)
}

/// Runs the scenario's build command, when it has one (blocking).
pub fn build_firmware(scenario: &Scenario) -> Result<(), Error> {
    scenario.build().map_err(Error::BuildFailed)
}

/// Runs `scenario` on `build` (the firmware built) and judges the run
/// against the scenario's expectation for that version.
pub async fn run(scenario: &Scenario, build: &QemuBuild) -> Result<RunReport, Error> {
    crate::runner::run(scenario, build).await.map_err(of_run)
}

/// Runs `scenario` on `build` (the firmware built) like [`run`] and, when
/// the boot does not finish, explains why: the first fault behind the hang,
/// the page-table walk, the rule that names a cause and its fix. The
/// [`Diagnosis`] holds the run's observation too; [`crate::render_diagnosis`]
/// puts it all in words. QEMU is stopped before this returns.
pub async fn diagnose(scenario: &Scenario, build: &QemuBuild) -> Result<Diagnosis, Error> {
    let (diagnosis, _) = diagnose_one(scenario, build, false).await.map_err(of_run)?;
    Ok(diagnosis)
}

/// A run's error by kind: QEMU ended from outside, or anything else.
fn of_run(e: anyhow::Error) -> Error {
    if e.downcast_ref::<EndedFromOutside>().is_some() {
        Error::EndedFromOutside(e)
    } else {
        Error::Internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU ended from outside is told apart however deep the runner put
    /// it, and the message keeps every cause once.
    #[test]
    fn runs_ended_from_outside_are_told_apart() {
        let outside = anyhow::anyhow!("reading the console").context(EndedFromOutside(
            "QEMU was killed by SIGKILL, during the run".into(),
        ));
        let e = of_run(outside);
        assert!(matches!(e, Error::EndedFromOutside(_)), "{e}");
        assert_eq!(
            e.to_string(),
            "QEMU was killed by SIGKILL, during the run: reading the console"
        );
        let other = of_run(anyhow::anyhow!("starting QEMU 9.2.0"));
        assert!(matches!(other, Error::Internal(_)), "{other}");
    }
}
