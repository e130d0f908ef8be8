//! `hvharness diagnose`: run a scenario and, on a hang, say which trap, where,
//! which page-table entry, which CSR bit, and why.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use super::run::select_builds;
use crate::diagnosis::harts::HartSummary;
use crate::diagnosis::{diagnose_one, Diagnosis};
use crate::qemu::{QemuBuild, QemuRegistry};
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
    let reg = QemuRegistry::discover(root.as_deref());
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
        bad |= !matches!(diagnosis.observed, Observed::Booted);
        if !json {
            crate::out!("{}", render(&diagnosis));
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

/// The human-readable diagnosis.
pub fn render(d: &Diagnosis) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "== {} on QEMU {}: {} (verdict after {:.2} s)",
        d.scenario,
        d.qemu,
        d.observed.class(),
        d.verdict_secs
    );
    match &d.observed {
        Observed::Booted => {
            let _ = writeln!(s, "it boots: nothing to diagnose");
            return s;
        }
        Observed::Hung { early, .. } => {
            let _ = writeln!(s, "{}", d.observed);
            if let Some(e) = early {
                let _ = writeln!(s, "{e}");
            }
        }
        Observed::Exited { .. } => {
            let _ = writeln!(s, "{}", d.observed);
        }
    }
    let waiting = d.harts.iter().any(|h| !h.interrupts.findings.is_empty());
    if d.faults.is_empty() && !waiting {
        let _ = writeln!(s, "no hart is stuck on a trap: no fault to explain");
    } else if d.faults.is_empty() {
        let _ = writeln!(
            s,
            "no hart is stuck on a trap; an interrupt reaches nobody:"
        );
    }
    render_other_harts(&mut s, d);
    for f in &d.faults {
        render_fault(&mut s, f, d.harts.iter().find(|h| h.hart == f.context.hart));
    }
    s
}

/// The harts that are not stuck on a trap: where each is and, where that is
/// the story, what it waits for.
fn render_other_harts(s: &mut String, d: &Diagnosis) {
    use std::fmt::Write as _;
    let others: Vec<&HartSummary> = d.harts.iter().filter(|h| !h.stuck).collect();
    if others.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "{}:",
        if d.faults.is_empty() {
            "harts"
        } else {
            "other harts"
        }
    );
    for h in others {
        let _ = writeln!(s, "  {}", h.line());
        // Where nothing trapped, what each hart waits for is the story.
        if d.faults.is_empty() || !h.interrupts.findings.is_empty() {
            for l in &h.interrupts.decoded {
                let _ = writeln!(s, "    {l}");
            }
        }
        for finding in &h.interrupts.findings {
            render_finding(s, finding, "    ");
        }
    }
}

/// One stuck hart's fault: the trap, where its hart is now, the evidence
/// (console, backtrace, page-table walk) and the findings.
fn render_fault(s: &mut String, f: &crate::diagnosis::FaultReport, now: Option<&HartSummary>) {
    use std::fmt::Write as _;
    let c = &f.context;
    let _ = writeln!(
        s,
        "\nhart {}: {} from {} taken to {}",
        c.hart,
        f.cause_name,
        c.from.name(),
        c.to
    );
    let _ = writeln!(
        s,
        "  at   {:#x} {}",
        c.epc,
        c.epc_place.as_deref().unwrap_or("")
    );
    // A trap taken to VS is the guest's own: QEMU shows its registers
    // under the s-mode names while V=1.
    let guest_view = if c.to == crate::diagnosis::TrapTarget::VS {
        " (the guest's stval: vstval, shown as stval while V=1)"
    } else {
        ""
    };
    let _ = writeln!(s, "  tval {:#x}{guest_view}", c.tval);
    if let Some(h) = c.htval_text() {
        let _ = writeln!(s, "  htval {h}");
    }
    if let Some(h) = c.htinst {
        let _ = writeln!(s, "  htinst {h:#x}");
    }
    if let Some(h) = now {
        let _ = writeln!(s, "  now  {}", h.line());
    }
    if c.sbi_calls_after > 0 {
        let _ = writeln!(
            s,
            "  after the trap: {} SBI call(s) from HS (a report through the SBI console), then no progress",
            c.sbi_calls_after
        );
    }
    if !f.console.is_empty() {
        let _ = writeln!(s, "  console:");
        for l in &f.console {
            let _ = writeln!(s, "    {}: {}", l.console, l.text);
        }
    }
    render_list(s, "backtrace", &f.backtrace);
    render_list(s, "page-table walk", &f.walk);
    for finding in &f.findings {
        render_finding(s, finding, "  ");
    }
}

/// `  title:` and the items under it, when there are any.
fn render_list<T: std::fmt::Display>(s: &mut String, title: &str, items: &[T]) {
    use std::fmt::Write as _;
    if items.is_empty() {
        return;
    }
    let _ = writeln!(s, "  {title}:");
    for item in items {
        let _ = writeln!(s, "    {item}");
    }
}

/// `cause [rule]: summary`, its details, and the fix, indented.
fn render_finding(s: &mut String, finding: &crate::diagnosis::Finding, indent: &str) {
    use std::fmt::Write as _;
    let _ = writeln!(s, "{indent}cause [{}]: {}", finding.rule, finding.summary);
    for d in &finding.details {
        let _ = writeln!(s, "{indent}  {d}");
    }
    if let Some(fix) = &finding.fix {
        let _ = writeln!(s, "{indent}fix: {fix}");
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
