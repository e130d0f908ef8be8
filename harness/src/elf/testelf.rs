//! A small RISC-V kernel built once per test run with the cross compiler,
//! so that the ELF code is tested against real symbol tables and DWARF.
//!
//! Without a cross compiler the tests that need it are skipped with a
//! message on the terminal; under CI (`CI` set) a missing compiler fails
//! them instead, since the set-up script installs it.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The built kernel and its sources.
pub(crate) struct TestElf {
    /// Keeps the directory alive for the whole run.
    _dir: tempfile::TempDir,
    /// The linked ELF (text at 0x80000000).
    pub(crate) path: PathBuf,
    sources: Vec<(&'static str, &'static str)>,
}

impl TestElf {
    /// The line of `file` holding `marker` (a comment in the source).
    pub(crate) fn line_of(&self, file: &str, marker: &str) -> u32 {
        let (_, text) = self
            .sources
            .iter()
            .find(|(f, _)| *f == file)
            .expect("known source file");
        let index = text
            .lines()
            .position(|l| l.contains(marker))
            .expect("marker in source");
        index as u32 + 1
    }
}

const RISCV_H: &str = r#"#pragma once
static inline void w_satp(unsigned long x)
{
  asm volatile("csrw satp, %0" : : "r"(x)); // MARK:csrw
}
static inline void sfence_vma(void)
{
  asm volatile("sfence.vma zero, zero");
}
"#;

const VM_C: &str = r#"#include "riscv.h"

unsigned long kernel_pagetable;

__attribute__((noinline)) static int count(void) { return 3; } // MARK:count

void
kvminit(void)
{
  kernel_pagetable = 0x80001000UL + count(); // MARK:kvminit-body
}

void
kvminithart(void)
{
  // MARK:blank-before-code

  sfence_vma(); // MARK:first-sfence
  w_satp((8UL << 60) | (kernel_pagetable >> 12)); // MARK:w_satp
  sfence_vma();
}
"#;

const MAIN_C: &str = r#"void kvminit(void);
void kvminithart(void);

char buf[256];

__attribute__((noinline)) static int count(void) { return 7; }

void
hfence(void)
{
  asm volatile("hfence.gvma zero, zero"); // MARK:hfence
}

// CSR writes in a row, as a hypervisor's per-hart set-up has them, for
// debug::straight_run: each value built just before its write.
void
setup_straight(void)
{
  asm volatile(
    "li a5, 0x444\n"
    "csrw hideleg, a5\n"
    "li a5, 0\n"
    "csrw hvip, a5\n"
    "li a4, -1\n"
    "csrw hcounteren, a4\n"
    "li a5, -3\n"
    "slli a5, a5, 61\n"
    "csrs henvcfg, a5\n"
    "csrr a0, henvcfg\n"
    ::: "a0", "a4", "a5", "memory");
}

// The same with a branch, a loaded value and a CSR written twice.
void
setup_crooked(unsigned long *p, int which)
{
  asm volatile(
    "li a5, 0x444\n"
    "csrw hideleg, a5\n"
    "beqz %1, 1f\n"
    "li a4, -1\n"
    "1: csrw hcounteren, a4\n"
    "ld a5, 0(%0)\n"
    "csrw hgatp, a5\n"
    "li a5, 1\n"
    "csrs henvcfg, a5\n"
    "li a5, 2\n"
    "csrs henvcfg, a5\n"
    : : "r"(p), "r"(which) : "a4", "a5", "memory");
}

// The same in 4-byte instructions only, 4-aligned, for the fake target
// (its harts move 4 bytes a step).
void
setup_wide(void)
{
  asm volatile(
    ".option push\n"
    ".option norvc\n"
    ".balign 4\n"
    "li a5, 0x444\n"
    "csrw hideleg, a5\n"
    "li a4, -1\n"
    "csrw hcounteren, a4\n"
    "li a5, 1\n"
    "csrs henvcfg, a5\n"
    "nop\n"
    ".option pop\n"
    ::: "a4", "a5", "memory");
}

void
_start(void)
{
  buf[0] = count();
  kvminit();
  kvminithart();
  hfence();
  for (;;)
    ;
}
"#;

const ENV_REQUIRE: &str = "CI";

/// Cross compilers tried, in order (the prefixes hypervisor/Makefile uses).
const COMPILERS: &[&str] = &[
    "riscv64-unknown-elf-gcc",
    "riscv64-linux-gnu-gcc",
    "riscv64-elf-gcc",
];

/// The compiler: `${CROSS_COMPILE}gcc` when CROSS_COMPILE is set (as for
/// hypervisor/Makefile), else the first of [`COMPILERS`] that runs.
pub(crate) fn find_compiler() -> Result<String, String> {
    let runs = |cc: &str| {
        Command::new(cc)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if let Ok(prefix) = std::env::var("CROSS_COMPILE") {
        let cc = format!("{prefix}gcc");
        return if runs(&cc) {
            Ok(cc)
        } else {
            Err(format!("CROSS_COMPILE={prefix} but {cc} does not run"))
        };
    }
    COMPILERS
        .iter()
        .find(|cc| runs(cc))
        .map(|cc| cc.to_string())
        .ok_or_else(|| {
            format!(
                "no RISC-V cross compiler on PATH (tried {})",
                COMPILERS.join(", ")
            )
        })
}

/// Says why a test did not run, on the terminal itself: libtest captures
/// `eprintln!` of passing tests, which would hide the skip.
pub(crate) fn skip(test: &str, reason: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

fn build() -> Result<TestElf, String> {
    let cc = find_compiler()?;
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let sources = vec![
        ("kernel/riscv.h", RISCV_H),
        ("kernel/vm.c", VM_C),
        ("kernel/main.c", MAIN_C),
    ];
    std::fs::create_dir_all(dir.path().join("kernel")).map_err(|e| e.to_string())?;
    for (name, text) in &sources {
        std::fs::write(dir.path().join(name), text).map_err(|e| e.to_string())?;
    }
    let out = dir.path().join("kernel.elf");
    let result = Command::new(&cc)
        .current_dir(dir.path())
        .args([
            "-g",
            "-O2",
            "-march=rv64gc",
            "-mabi=lp64",
            "-mcmodel=medany",
            "-ffreestanding",
            "-nostdlib",
            "-fno-builtin",
            "-mno-riscv-attribute",
            "-Wa,-march=rv64gch",
            "-Wl,-Ttext=0x80000000",
            "-Wl,--build-id=none",
            "-o",
        ])
        .arg(&out)
        .args(["kernel/main.c", "kernel/vm.c"])
        .output()
        .map_err(|e| format!("running {cc}: {e}"))?;
    if !result.status.success() {
        panic!(
            "{cc} failed to build the test kernel:\n{}",
            String::from_utf8_lossy(&result.stderr)
        );
    }
    Ok(TestElf {
        _dir: dir,
        path: out,
        sources,
    })
}

/// The test kernel, built on first use; `None` (after saying so) when no
/// cross compiler is installed and not under CI.
pub(crate) fn get(test: &str) -> Option<&'static TestElf> {
    static ELF: OnceLock<Result<TestElf, String>> = OnceLock::new();
    match ELF.get_or_init(build) {
        Ok(elf) => Some(elf),
        Err(reason) if std::env::var_os(ENV_REQUIRE).is_some() => {
            panic!("{reason}; CI needs it (scripts/setup.sh installs it)")
        }
        Err(reason) => {
            skip(test, reason);
            None
        }
    }
}
