//! An ELF linked high whose program headers do not say where it is loaded
//! (p_paddr == p_vaddr), run by QEMU at a low physical address, as a
//! hypervisor runs its first instructions before switching the MMU on. The
//! scenario's `load_address` names that code: in a `run`'s stop report and
//! in `diagnose`'s hart states, on every QEMU version; so does a signed
//! `offset` that moves the whole file low. The ELF is built here
//! with the cross toolchain; QEMU loads its raw bytes as the kernel (at
//! 0x80200000 behind OpenSBI). Plain `-cpu rv64` has the H extension on
//! all four versions (the monitor shows its `V =` line), so supervisor mode
//! there is HS; with `h=false` it is S, and both reports must say so.

mod common;

use std::path::Path;
use std::process::Command;

use hvharness::{Observed, Scenario};

const LINKED_AT: u64 = 0xffff_ffc0_8020_0000;
const LOADED_AT: u64 = 0x8020_0000;

const START_S: &str = "\
.section .text
.globl _start
.type _start, @function
_start:
  nop
  nop
  j park
.size _start, .-_start
.globl park
.type park, @function
park:
  wfi
  j park
.size park, .-park
";

/// The scenario: the raw image as the kernel, the ELF as `hv` placed by
/// `placed` (`load_address = ...` or `offset = ...`), a breakpoint on park's
/// load address, and a console milestone that never comes (the run hangs
/// in park).
fn scenario_text(park_low: u64, placed: &str, cpu: &str) -> String {
    format!(
        r#"
[machine]
cpu = "{cpu}"
bios = "default"
kernel = "high.bin"

[[console]]
name = "console"
attach = "serial"
milestones = ["OpenSBI", "never printed"]

[boot]
timeout_secs = 30
quiet_secs = 2

[[elf]]
name = "hv"
path = "high.elf"
{placed}

[[breakpoint]]
at = "{park_low:#x}"
dump = ["scause"]

[[outcome]]
qemu = "*"
expect = "hangs"
"#
    )
}

/// The cross compiler, as the reference firmware's Makefile finds it.
fn cross_prefix() -> Option<String> {
    let runs = |cc: &str| {
        Command::new(cc)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if let Ok(p) = std::env::var("CROSS_COMPILE") {
        return runs(&format!("{p}gcc")).then_some(p);
    }
    ["riscv64-unknown-elf-", "riscv64-linux-gnu-", "riscv64-elf-"]
        .into_iter()
        .find(|p| runs(&format!("{p}gcc")))
        .map(str::to_string)
}

fn run(program: &str, args: &[&str], dir: &Path) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds high.elf (linked at LINKED_AT, no AT(): p_paddr == p_vaddr) and
/// high.bin; park's load address.
fn build(dir: &Path) -> u64 {
    std::fs::write(dir.join("start.S"), START_S).expect("writing start.S");
    std::fs::write(
        dir.join("high.ld"),
        format!(
            "ENTRY(_start)\nSECTIONS {{\n  . = {LINKED_AT:#x};\n  .text : {{ *(.text*) }}\n}}\n"
        ),
    )
    .expect("writing high.ld");
    let prefix = cross_prefix().expect("a RISC-V cross compiler (scripts/setup.sh installs one)");
    let gcc = format!("{prefix}gcc");
    run(
        &gcc,
        &[
            "-nostdlib",
            "-march=rv64imac",
            "-mabi=lp64",
            "-mcmodel=medany",
            "-Wl,--build-id=none",
            "-T",
            "high.ld",
            "-o",
            "high.elf",
            "start.S",
        ],
        dir,
    );
    run(
        &format!("{prefix}objcopy"),
        &["-O", "binary", "high.elf", "high.bin"],
        dir,
    );
    let elf = hvharness::internals::elf::ElfImage::load(dir.join("high.elf"), Some("hv"), 0)
        .expect("high.elf loads");
    let park = elf.symbol_address("park").expect("park");
    assert_eq!(park & !0xfff, LINKED_AT, "park is linked high");
    // The headers alone do not place it low: this is what load_address is for.
    assert!(
        elf.symbolize(park - LINKED_AT + LOADED_AT).is_none(),
        "p_paddr == p_vaddr"
    );
    park - LINKED_AT + LOADED_AT
}

/// Writes and loads the scenario with the ELF `placed` so.
fn scenario(dir: &Path, park_low: u64, placed: &str, cpu: &str) -> Scenario {
    let path = dir.join("scenario.toml");
    std::fs::write(&path, scenario_text(park_low, placed, cpu)).expect("the scenario");
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Runs `scenario` and checks that its stop at park's load address names
/// park and the supervisor mode `mode`.
async fn stop_names_park(scenario: &Scenario, qemu: &hvharness::QemuBuild, mode: &str) {
    let report = hvharness::run(scenario, qemu)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let version = qemu.version;
    let stop = report
        .stops
        .first()
        .unwrap_or_else(|| panic!("QEMU {version}: no stop at park's load address: {report:#?}"));
    assert_eq!(stop.pc & !0xfff, LOADED_AT, "{stop:#?}");
    assert!(
        stop.place.starts_with("park"),
        "QEMU {version}: stop place {:?}",
        stop.place
    );
    assert_eq!(stop.privilege_name, mode, "QEMU {version}: {stop:#?}");
}

async fn stop_and_diagnosis_name_the_symbol(version: &str) {
    let test = "load_address";
    let Some(qemu) = common::qemu_or_skip(version, test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let park_low = build(dir.path());
    let loaded = scenario(
        dir.path(),
        park_low,
        &format!("load_address = {LOADED_AT:#x}"),
        "rv64,h=false",
    );
    // No H extension: S, not HS (10.0.2 said HS before misa was read).
    stop_names_park(&loaded, &qemu, "S").await;
    // The whole file moved low instead (TOML hex has no sign: a string).
    let moved = scenario(
        dir.path(),
        park_low,
        &format!("offset = \"-{:#x}\"", LINKED_AT - LOADED_AT),
        "rv64",
    );
    stop_names_park(&moved, &qemu, "HS").await;

    let d = hvharness::diagnose(&loaded, &qemu)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        matches!(d.observed, Observed::Hung { .. }),
        "QEMU {version}"
    );
    let text = hvharness::render_diagnosis(&d);
    let hart = d
        .harts
        .first()
        .unwrap_or_else(|| panic!("no hart state:\n{text}"));
    assert_eq!(
        hart.place.as_deref().map(|p| p.starts_with("hv:park")),
        Some(true),
        "QEMU {version}:\n{text}"
    );
    assert!(text.contains("hv:park"), "{text}");
    assert_eq!(hart.privilege, "S", "QEMU {version}: no H, so S:\n{text}");
}

common::per_version! {
    async stop_and_diagnosis_name_the_symbol;
}
