//! `hvharness diagnose`: run a scenario and, on a hang, say which trap, where,
//! which page-table entry, which CSR bit, and why.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use super::run::select_builds;
use crate::diagnosis::diagnose_one;
use crate::qemu::QemuBuild;
use crate::runner::{self, Observed};
use crate::scenario::Scenario;

/// Runs the diagnosis on each selected QEMU; exit 0 when everything boots,
/// 1 when a hang (or an early exit) was diagnosed.
pub(crate) async fn diagnose(
    path: &Path,
    qemu: &[String],
    json: bool,
    no_build: bool,
    gdb: bool,
    root: Option<PathBuf>,
) -> Result<ExitCode> {
    let reg = super::discover_registry(root.as_deref());
    let builds = select_builds(&reg, qemu)?;
    let scenario = Scenario::load(path)?;
    super::run::build_scenario(&scenario, no_build).await?;
    if gdb && builds.len() != 1 {
        anyhow::bail!("--gdb needs exactly one QEMU: add --qemu VERSION");
    }
    let mut all = Vec::new();
    let mut bad = false;
    for build in &builds {
        if let Some(why) = scenario.skip_reason(build.version) {
            eprintln!("hvharness: skipped: {why}");
            continue;
        }
        eprintln!(
            "hvharness: diagnosing {} on QEMU {} ...",
            scenario.name, build.version
        );
        let (diagnosis, live) = diagnose_one(&scenario, build, gdb).await?;
        for note in &diagnosis.notes {
            eprintln!("hvharness: {note}");
        }
        bad |= !matches!(diagnosis.observed, Observed::Booted);
        if !json {
            crate::out!("{}", crate::report::render_diagnosis(&diagnosis));
        }
        all.push(diagnosis);
        if let Some(live) = live {
            hand_off(&scenario, build, live).await?;
        }
    }
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Leaves QEMU stopped at the failure and tells a human how to attach gdb;
/// returns when interrupted (Ctrl-C kills QEMU through the signal handler).
async fn hand_off(scenario: &Scenario, build: &QemuBuild, live: runner::LiveRun) -> Result<()> {
    let runner::LiveRun { qemu, session, .. } = live;
    let Some(addr) = qemu.gdb_addr() else {
        return Ok(());
    };
    // QEMU's gdbstub takes one client: ours leaves, the VM stays stopped.
    drop(session);
    crate::outln!("{}", gdb_command_line(scenario, addr));
    crate::outln!(
        "QEMU {} (pid {}) is stopped at the failure; its consoles stay as they were. Press Ctrl-C to end it.",
        build.version,
        qemu.pid()
    );
    // Until SIGINT, SIGTERM or SIGHUP: the signal handler kills QEMU and exits (130/143/129).
    std::future::pending::<()>().await;
    drop(qemu);
    Ok(())
}

/// The gdb-multiarch command that attaches to the stopped QEMU with every
/// symbol file of the scenario (offsets applied; a file with a
/// `load_address` is added a second time where it runs before the MMU).
pub(crate) fn gdb_command_line(scenario: &Scenario, addr: std::net::SocketAddr) -> String {
    let files: Vec<GdbSymbolFile> = scenario
        .elfs
        .iter()
        .map(|e| GdbSymbolFile {
            path: e.path.canonicalize().unwrap_or_else(|_| e.path.clone()),
            offset: e.offset,
            // The file was loaded for the diagnosis already; if it no longer
            // loads, gdb gets the link-time copy only.
            low_offset: e.load_address.and_then(|at| {
                let image = crate::elf::ElfImage::load(&e.path, Some(&e.name), 0).ok()?;
                Some(at.wrapping_sub(image.lowest_segment()?))
            }),
        })
        .collect();
    gdb_command_text(&files, addr)
}

/// One symbol file as gdb gets it.
struct GdbSymbolFile {
    path: PathBuf,
    /// Run-time minus link-time address, two's complement.
    offset: u64,
    /// The same for the copy at the load address (run-time there minus
    /// link-time), when the scenario gives one.
    low_offset: Option<u64>,
}

fn gdb_command_text(files: &[GdbSymbolFile], addr: std::net::SocketAddr) -> String {
    let mut cmd = String::from("gdb-multiarch -q -ex 'set architecture riscv:rv64'");
    for (i, f) in files.iter().enumerate() {
        let path = f.path.display();
        if i == 0 && f.offset == 0 {
            cmd.push_str(&format!(" -ex 'file {path}'"));
        } else {
            let o = signed_hex(f.offset);
            cmd.push_str(&format!(" -ex 'add-symbol-file {path} -o {o}'"));
        }
        if let Some(low) = f.low_offset {
            let o = signed_hex(low);
            cmd.push_str(&format!(" -ex 'add-symbol-file {path} -o {o}'"));
        }
    }
    cmd.push_str(&format!(" -ex 'target remote {addr}'"));
    cmd
}

/// An offset stored in two's complement as gdb reads it: `-0x...` when
/// negative, so it is not taken for a huge positive number.
fn signed_hex(v: u64) -> String {
    let s = v as i64;
    if s < 0 {
        format!("-{:#x}", s.unsigned_abs())
    } else {
        format!("{v:#x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdb_gets_signed_offsets_and_the_load_address_copy() {
        let addr: std::net::SocketAddr = "127.0.0.1:1234".parse().expect("an address");
        let files = [
            GdbSymbolFile {
                path: PathBuf::from("/fw/hv.elf"),
                offset: 0,
                // Linked at 0xffffffc080200000, loaded at 0x80200000.
                low_offset: Some(0x8020_0000u64.wrapping_sub(0xffff_ffc0_8020_0000)),
            },
            GdbSymbolFile {
                path: PathBuf::from("/fw/guest.elf"),
                offset: (-0x1000i64) as u64,
                low_offset: None,
            },
            GdbSymbolFile {
                path: PathBuf::from("/fw/high.elf"),
                offset: 0x2000,
                low_offset: None,
            },
        ];
        assert_eq!(
            gdb_command_text(&files, addr),
            "gdb-multiarch -q -ex 'set architecture riscv:rv64' \
             -ex 'file /fw/hv.elf' \
             -ex 'add-symbol-file /fw/hv.elf -o 0x4000000000' \
             -ex 'add-symbol-file /fw/guest.elf -o -0x1000' \
             -ex 'add-symbol-file /fw/high.elf -o 0x2000' \
             -ex 'target remote 127.0.0.1:1234'"
        );
    }

    #[test]
    fn signed_hex_reads_twos_complement() {
        assert_eq!(signed_hex(0), "0x0");
        assert_eq!(signed_hex(0x8020_0000), "0x80200000");
        assert_eq!(signed_hex(u64::MAX), "-0x1");
        assert_eq!(signed_hex(1 << 63), "-0x8000000000000000");
    }
}
