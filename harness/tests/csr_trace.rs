//! Who wrote henvcfg, on the reference hypervisor and every QEMU version:
//! the writers found in the ELF files (file:line, the value when it is a
//! constant) and the writes recorded while booting (hart, value, henvcfg
//! before and after), for the no-ADUE build (the write-up's bug), the fixed
//! build (bit 61 in the value) and a build that never writes henvcfg; and
//! the ADUE diagnosis naming the line where the hang shows (QEMU >= 9.0).

mod common;

use std::path::Path;

use hvharness::internals::elf::ElfSet;
use hvharness::internals::provenance::{self, WriteKind};
use hvharness::internals::qemu::quirks::{HENVCFG_RESET_ADUE, SVADU};
use hvharness::internals::runner::csr_trace::{self, CsrTrace};
use hvharness::{Diagnosis, QemuVersion, Scenario};

const STCE: u64 = 1 << 63;
const ADUE: u64 = 1 << 61;

fn shipped(file: &str) -> Scenario {
    Scenario::load(&common::root().join("scenarios").join(file)).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The no-ADUE scenario around hypervisor-nohenvcfg.elf (same outcomes:
/// the CSR stays as reset left it), written into `dir`.
fn nohenvcfg(dir: &Path) -> Scenario {
    let shipped = common::root().join("scenarios/hypervisor-noadue-2vm.toml");
    let text = std::fs::read_to_string(&shipped).expect("the shipped no-ADUE scenario");
    let fw = common::root().join("target/firmware");
    let text = text
        .replace("hypervisor-noadue.elf", "hypervisor-nohenvcfg.elf")
        .replace("\"../target/firmware/", &format!("\"{}/", fw.display()));
    let path = dir.join("hypervisor-nohenvcfg-2vm.toml");
    std::fs::write(&path, text).expect("writing the scenario");
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The line of hypervisor/hart.c that writes henvcfg.
fn henvcfg_line() -> u32 {
    let text = std::fs::read_to_string(common::root().join("hypervisor/hart.c")).expect("hart.c");
    let index = text
        .lines()
        .position(|l| l.trim_start().starts_with("csr_set(CSR_HENVCFG"))
        .expect("hart.c sets henvcfg");
    index as u32 + 1
}

async fn traced(scenario: &Scenario, version: &str) -> Option<CsrTrace> {
    let build = common::qemu_or_skip(version, &scenario.name)?;
    common::firmware();
    let trace = csr_trace::trace(scenario, &build, &["henvcfg".to_string()])
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    Some(trace)
}

async fn diagnosed(scenario: &Scenario, version: &str) -> Option<Diagnosis> {
    let build = common::qemu_or_skip(version, &scenario.name)?;
    let d = hvharness::diagnose(scenario, &build)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    Some(d)
}

/// Whether `version` hangs without a henvcfg.ADUE write (Svadu, and reset
/// no longer sets it).
fn hangs_without_adue(version: QemuVersion) -> bool {
    SVADU.applies(version) && !HENVCFG_RESET_ADUE.applies(version)
}

/// The ADUE finding's lines, all of them.
fn adue_text(d: &Diagnosis) -> (String, String) {
    let f = d
        .faults
        .iter()
        .flat_map(|f| &f.findings)
        .find(|f| f.rule == "adue")
        .unwrap_or_else(|| panic!("no adue finding: {}", hvharness::render_diagnosis(d)));
    (f.details.join("\n"), f.fix.clone().unwrap_or_default())
}

/// Each of harts 0 and 1 wrote henvcfg once at hart.c's line, with the
/// value `value`; henvcfg after = before | value, as far as the hart keeps
/// the bits (`kept`).
fn check_writes(trace: &CsrTrace, value: u64, kept: u64) {
    let line = format!("hart.c:{}", henvcfg_line());
    let mut harts: Vec<u32> = trace.writes.writes.iter().map(|w| w.hart).collect();
    harts.sort_unstable();
    assert_eq!(harts, [0, 1], "{trace}");
    for w in &trace.writes.writes {
        assert_eq!(w.place, line, "{trace}");
        assert_eq!(w.instruction, "csrs henvcfg, a5", "{trace}");
        assert_eq!(w.privilege, "HS", "{trace}");
        assert_eq!(w.value, Some(value), "{trace}");
        let (before, after) = (w.before.expect("before"), w.after.expect("after"));
        assert_eq!(after, (before | value) & (before | kept), "{trace}");
    }
    assert!(trace.writes.outside.is_empty(), "{trace}");
}

async fn noadue(version: &str) {
    common::firmware();
    let scenario = shipped("hypervisor-noadue-2vm.toml");
    let Some(trace) = traced(&scenario, version).await else {
        return;
    };
    let [w] = trace.writes.writers.as_slice() else {
        panic!("one henvcfg writer expected: {trace}");
    };
    assert_eq!(w.place(), format!("hart.c:{}", henvcfg_line()));
    assert_eq!(w.kind, WriteKind::Set);
    assert_eq!(w.value, Some(STCE), "a5 is built from constants: {trace}");
    assert!(w
        .source_text
        .as_deref()
        .is_some_and(|t| t.starts_with("csr_set(CSR_HENVCFG")));
    check_writes(&trace, STCE, STCE | ADUE);
    let text = trace.to_string();
    assert!(text.contains("a5 = 0x8000000000000000: STCE"), "{text}");
    if HENVCFG_RESET_ADUE.applies(trace.qemu) {
        // QEMU 8.x: reset set ADUE, the write keeps it.
        assert!(
            trace
                .writes
                .writes
                .iter()
                .all(|w| w.after.unwrap_or(0) & ADUE != 0),
            "{text}"
        );
    }
    if !hangs_without_adue(trace.qemu) {
        return;
    }
    for w in &trace.writes.writes {
        assert_eq!(w.before, Some(0), "QEMU >= 9.0 resets henvcfg to 0: {text}");
        assert_eq!(w.after, Some(STCE), "{text}");
    }
    let Some(d) = diagnosed(&scenario, version).await else {
        return;
    };
    let (details, fix) = adue_text(&d);
    let line = henvcfg_line();
    assert!(
        details.contains(&format!(
            "henvcfg is written at hart.c:{line} (`csrs henvcfg, a5`, a5 = 0x8000000000000000: STCE) on harts 0 and 1; \
             no instruction in the images sets bit 61; QEMU >= 9.0 resets henvcfg to 0 (quirk henvcfg-reset-adue), so ADUE stays 0."
        )),
        "{details}"
    );
    assert!(
        details.contains("+   csr_set(CSR_HENVCFG, HENVCFG_STCE | (HV_HENVCFG_ADUE ? HENVCFG_ADUE : 0) | (1UL << 61));"),
        "{details}"
    );
    assert!(
        fix.starts_with(&format!(
            "At hart.c:{line} (hart_init), add henvcfg bit 61 (ADUE)"
        )),
        "{fix}"
    );
}

async fn fixed(version: &str) {
    common::firmware();
    let scenario = shipped("hypervisor-2vm.toml");
    let Some(trace) = traced(&scenario, version).await else {
        return;
    };
    let [w] = trace.writes.writers.as_slice() else {
        panic!("one henvcfg writer expected: {trace}");
    };
    assert_eq!(w.value, Some(STCE | ADUE), "{trace}");
    // QEMU < 8.0 has no ADUE bit to keep.
    let kept = if SVADU.applies(trace.qemu) {
        STCE | ADUE
    } else {
        STCE
    };
    check_writes(&trace, STCE | ADUE, kept);
    if SVADU.applies(trace.qemu) {
        assert!(
            trace
                .writes
                .writes
                .iter()
                .all(|w| w.after.unwrap_or(0) & ADUE != 0),
            "{trace}"
        );
    }
}

async fn never_written(version: &str) {
    common::firmware();
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = nohenvcfg(dir.path());
    let Some(trace) = traced(&scenario, version).await else {
        return;
    };
    assert!(trace.writes.writers.is_empty(), "{trace}");
    assert!(trace.writes.writes.is_empty(), "{trace}");
    let text = trace.to_string();
    assert!(
        text.contains("henvcfg: no instruction in the images writes it"),
        "{text}"
    );
    if !hangs_without_adue(trace.qemu) {
        return;
    }
    let Some(d) = diagnosed(&scenario, version).await else {
        return;
    };
    let (details, fix) = adue_text(&d);
    assert!(
        details.contains(
            "no instruction in the images writes henvcfg; QEMU >= 9.0 resets henvcfg to 0 (quirk henvcfg-reset-adue), so ADUE stays 0."
        ),
        "{details}"
    );
    assert!(
        fix.starts_with(
            "Write henvcfg where the hypervisor writes hedeleg: in hart_init at hart.c:"
        ),
        "{fix}"
    );
}

/// The shipped no-ADUE scenario with `trace_csrs = {csrs}`, written into
/// `dir`; its path.
fn traced_noadue(dir: &Path, csrs: &str) -> std::path::PathBuf {
    let shipped = common::root().join("scenarios/hypervisor-noadue-2vm.toml");
    let text = std::fs::read_to_string(&shipped).expect("the shipped no-ADUE scenario");
    let fw = common::root().join("target/firmware");
    let text = format!("trace_csrs = {csrs}\n{text}")
        .replace("\"../target/firmware/", &format!("\"{}/", fw.display()));
    let path = dir.join("traced.toml");
    std::fs::write(&path, text).expect("writing the scenario");
    path
}

/// The HTML report of a traced matrix cell: the CSR writes part, per CSR
/// the writer's file:line, the hart, the value and henvcfg before and
/// after; menvcfg, which nothing in the images writes, said so.
fn in_html_report(version: &str) {
    common::firmware();
    if common::qemu_or_skip(version, "trace_csrs in the HTML report").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = traced_noadue(dir.path(), "[\"henvcfg\", \"menvcfg\"]");
    let results = dir.path().join("all.json");
    let html = dir.path().join("report.html");
    let path = |p: &Path| p.display().to_string();
    common::hvharness_ok(&[
        "matrix",
        &path(&scenario),
        "--no-build",
        "--qemu",
        version,
        "--results",
        &path(&results),
    ]);
    common::hvharness_ok(&["report", "html", &path(&results), "-o", &path(&html)]);
    let page = std::fs::read_to_string(&html).expect("report.html");
    assert!(page.contains("<h3>CSR writes</h3>"), "{page}");
    let line = henvcfg_line();
    for hart in [0, 1] {
        let row = format!(
            "<td class=\"name\">hart.c:{line}</td><td><code>csrs henvcfg, a5</code></td><td>{hart} (HS)</td><td>a5 = {STCE:#x}</td>"
        );
        assert!(page.contains(&row), "no row {row:?}:\n{page}");
    }
    assert!(
        page.contains(
            "<h4>menvcfg</h4><p class=\"note\">no instruction in the images writes it</p>"
        ),
        "{page}"
    );
}

/// `trace_csrs` in a scenario: the run report carries the writes (what
/// `run --json` prints), and the scenario's own stops are only its own.
async fn in_run_report(version: &str) {
    common::firmware();
    let Some(build) = common::qemu_or_skip(version, "trace_csrs") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = traced_noadue(dir.path(), "[\"henvcfg\"]");
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"));
    let report = hvharness::run(&scenario, &build)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(!report.verdict.is_failure(), "{:?}", report.verdict);
    assert!(
        report
            .stops
            .iter()
            .all(|s| s.breakpoint == "guest:kvminithart"),
        "only the scenario's stops: {:?}",
        report
            .stops
            .iter()
            .map(|s| &s.breakpoint)
            .collect::<Vec<_>>()
    );
    let writes = report.csr_writes.as_ref().expect("csr_writes");
    assert_eq!(writes.csrs, ["henvcfg"]);
    assert_eq!(writes.writes.len(), 2, "{writes:?}");
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(
        json["csr_writes"]["writes"][0]["value"],
        serde_json::json!(STCE)
    );
}

/// The static finder on the real ELF files, without QEMU: hart_init's
/// writers of the hypervisor's set-up CSRs, with lines and values, and
/// none in the guest (it runs in VS-mode, where these CSRs do not exist).
#[test]
fn writers_in_the_reference_firmware() {
    let fw = common::firmware();
    let mut elfs = ElfSet::new();
    elfs.load(&fw.hypervisor_noadue, Some("hypervisor"), 0)
        .unwrap_or_else(|e| panic!("{e}"));
    elfs.load(&fw.guest, Some("guest"), 0)
        .unwrap_or_else(|e| panic!("{e}"));
    let (name, henvcfg) =
        provenance::writers_of(&elfs, "0x60a").unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(name, "henvcfg");
    let [w] = henvcfg.as_slice() else {
        panic!("{henvcfg:?}")
    };
    assert_eq!(w.space, "hypervisor");
    assert_eq!(w.function_name(), Some("hart_init"));
    assert_eq!(
        w.line.as_ref().map(|l| l.to_string()),
        Some(format!("hart.c:{}", henvcfg_line()))
    );
    // hedeleg and hideleg are written once each, with constants.
    for (csr, value) in [("hedeleg", 0xb1ffu64), ("hideleg", 0x444)] {
        let (_, found) = provenance::writers_of(&elfs, csr).unwrap_or_else(|e| panic!("{e:#}"));
        let [w] = found.as_slice() else {
            panic!("{csr}: {found:?}")
        };
        assert_eq!(w.kind, WriteKind::Write, "{csr}");
        assert_eq!(w.value, Some(value), "{csr}");
    }
    // satp: the guest's kvminithart writes it (csrw satp), and reads are
    // not writers.
    let (_, satp) = provenance::writers_of(&elfs, "satp").unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        satp.iter()
            .any(|w| w.space == "guest" && w.function_name() == Some("kvminithart")),
        "{satp:?}"
    );
    assert!(
        satp.iter().all(|w| w.instruction.starts_with("csrw")),
        "{satp:?}"
    );
    let err = provenance::writers_of(&elfs, "henvcgf").expect_err("a typo");
    assert!(err.to_string().contains("did you mean henvcfg"), "{err:#}");
}

common::per_version! {
    async noadue;
    async fixed;
    async never_written;
    async in_run_report;
    fn in_html_report;
}
