//! The reference firmware on real QEMU, one cell per QEMU version: the
//! standalone guest, the two-VM hypervisor (separate consoles, input and
//! output), and the henvcfg.ADUE regression of hypervisor-noadue.elf.
//!
//! Cells are named `qemu_<version>::<case>`, so `cargo test 10_0_2` runs one
//! version and `cargo test two_vms` one case.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use hvharness::internals::console::Console;
use hvharness::internals::qemu::{
    ConsoleAttach, ConsoleSpec, LaunchOptions, MachineSpec, QemuProcess,
};
use hvharness::{Observed, QemuBuild, Scenario, Verdict};
use regex::Regex;

const BOOT_LIMIT: Duration = Duration::from_secs(60);
const STEP_LIMIT: Duration = Duration::from_secs(15);

fn re(s: &str) -> Regex {
    Regex::new(s).expect("test patterns are valid")
}

fn machine(cpu: &str, smp: u32, kernel: &Path, consoles: &[(&str, ConsoleAttach)]) -> MachineSpec {
    MachineSpec {
        kernel: Some(kernel.to_path_buf()),
        consoles: consoles
            .iter()
            .map(|(n, a)| ConsoleSpec {
                name: n.to_string(),
                attach: a.clone(),
            })
            .collect(),
        ..common::virt(cpu, smp)
    }
}

/// Waits for the guest's boot sequence on one console; returns seconds to `$ `.
async fn expect_boot(console: &mut Console, resumed: Instant) -> f64 {
    for pattern in ["guest kernel is booting", "init: starting sh", r"\$ "] {
        match console.expect(&re(pattern), BOOT_LIMIT).await {
            Ok(m) if pattern == r"\$ " => {
                return m.arrived.saturating_duration_since(resumed).as_secs_f64()
            }
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    }
    unreachable!("the loop returns at the prompt")
}

/// Types `echo WORD` and checks that the shell answers WORD on its own line.
async fn echo_roundtrip(console: &mut Console, word: &str) {
    console
        .send_line(&format!("echo {word}"))
        .await
        .expect("console accepts input");
    let answer = re(&format!(r"\n{word}\r?\n"));
    if let Err(e) = console.expect(&answer, STEP_LIMIT).await {
        panic!("echo {word}: {e}");
    }
    if let Err(e) = console.expect(&re(r"\$ "), STEP_LIMIT).await {
        panic!("prompt after echo {word}: {e}");
    }
}

fn report_timing(what: &str, build: &QemuBuild, secs: f64) {
    let _ = writeln!(
        std::io::stderr(),
        "timing: {what} on QEMU {}: {secs:.2} s from start to `$ `",
        build.version
    );
}

async fn guest_standalone(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "guest_standalone") else {
        return;
    };
    let fw = common::firmware();
    let spec = machine("rv64", 1, &fw.guest, &[("console", ConsoleAttach::Serial)]);
    let mut q = QemuProcess::launch(&build, &spec, &LaunchOptions::default())
        .await
        .expect("QEMU starts");
    q.resume().await.unwrap();
    let resumed = Instant::now();
    let con = q.console("console").unwrap();
    let secs = expect_boot(con, resumed).await;
    report_timing("guest standalone", &build, secs);
    echo_roundtrip(con, "hello").await;
    con.send_line("halt").await.unwrap();
    let status = q.wait_exit(STEP_LIMIT).await.unwrap();
    let status = status.unwrap_or_else(|| {
        panic!(
            "QEMU still running after halt; console:\n{}",
            q.console("console").unwrap().tail()
        )
    });
    assert!(status.success(), "QEMU exit status after halt: {status}");
}

async fn two_vms(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "two_vms") else {
        return;
    };
    let fw = common::firmware();
    let spec = machine(
        "rv64,h=true",
        2,
        &fw.hypervisor,
        &[
            ("vm0", ConsoleAttach::Serial),
            ("vm1", ConsoleAttach::PciSerial),
        ],
    );
    let mut q = QemuProcess::launch(&build, &spec, &LaunchOptions::default())
        .await
        .expect("QEMU starts");
    q.resume().await.unwrap();
    let resumed = Instant::now();
    let t0 = expect_boot(q.console("vm0").unwrap(), resumed).await;
    let t1 = expect_boot(q.console("vm1").unwrap(), resumed).await;
    report_timing("hypervisor.elf, VM0 (-smp 2)", &build, t0);
    report_timing("hypervisor.elf, VM1 (-smp 2)", &build, t1);

    // Input typed on one console is answered there, and only there.
    echo_roundtrip(q.console("vm0").unwrap(), "marker-for-vm0").await;
    echo_roundtrip(q.console("vm1").unwrap(), "marker-for-vm1").await;
    let vm0 = q.console("vm0").unwrap().transcript();
    let vm1 = q.console("vm1").unwrap().transcript();
    assert!(
        !vm0.contains("marker-for-vm1"),
        "VM1's input leaked to VM0's console:\n{vm0}"
    );
    assert!(
        !vm1.contains("marker-for-vm0"),
        "VM0's input leaked to VM1's console:\n{vm1}"
    );

    // Each VM halts on its own; QEMU exits once both have. The hypervisor
    // says so on its own console (the serial port, vm0's) before it counts
    // the VMs still running: after that line VM1 must still answer.
    q.console("vm0").unwrap().send_line("halt").await.unwrap();
    if let Err(e) = q
        .console("vm0")
        .unwrap()
        .expect(&re(r"hypervisor: vm0 halted\r?\n"), STEP_LIMIT)
        .await
    {
        panic!("VM0's halt: {e}");
    }
    echo_roundtrip(q.console("vm1").unwrap(), "vm1-still-alive").await;
    assert_eq!(
        q.wait_exit(Duration::ZERO).await.unwrap(),
        None,
        "QEMU exited while VM1 still runs"
    );
    let vm0 = q.console("vm0").unwrap().transcript();
    assert!(
        !vm0.contains("all VMs halted"),
        "the hypervisor shut down with VM1 running:\n{vm0}"
    );
    q.console("vm1").unwrap().send_line("halt").await.unwrap();
    let status = q.wait_exit(STEP_LIMIT).await.unwrap();
    let status = status.unwrap_or_else(|| panic!("QEMU still running after both VMs halted"));
    assert!(status.success(), "QEMU exit status after halt: {status}");
}

/// The address of the instruction after `csrw satp, rs` in `kvminithart`.
fn after_satp_write(guest: &Path) -> u64 {
    use object::{Object, ObjectSection, ObjectSymbol};
    let data = std::fs::read(guest).expect("guest.elf is readable");
    let elf = object::File::parse(&*data).expect("guest.elf parses");
    let sym = elf
        .symbols()
        .find(|s| s.name() == Ok("kvminithart"))
        .expect("guest.elf has kvminithart");
    let section = elf
        .section_by_index(sym.section_index().expect("kvminithart has a section"))
        .unwrap();
    let bytes = section.data().unwrap();
    let start = (sym.address() - section.address()) as usize;
    let mut off = 0usize;
    while off < sym.size() as usize {
        let at = start + off;
        let low = u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        if low & 3 != 3 {
            off += 2;
            continue;
        }
        let insn = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        // csrrw x0, satp (0x180), rs1
        if insn & 0xfff0_7fff == 0x1800_1073 {
            return sym.address() + off as u64 + 4;
        }
        off += 4;
    }
    panic!("no csrw satp in kvminithart");
}

async fn noadue(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "noadue") else {
        return;
    };
    let fw = common::firmware();
    let scenario =
        Scenario::load(&common::root().join("scenarios/hypervisor-noadue-2vm.toml")).unwrap();
    let report = hvharness::run(&scenario, &build)
        .await
        .expect("the run completes");
    let rendered = hvharness::render_run(&report);
    assert!(matches!(report.verdict, Verdict::AsExpected), "{rendered}");
    let hangs = build.version >= "9.0.0".parse().unwrap();
    if !hangs {
        assert!(matches!(report.observed, Observed::Booted), "{rendered}");
        return;
    }
    // The write-up's failure: the console stops after the boot line ...
    match &report.observed {
        Observed::Hung { last_seen, .. } => {
            assert_eq!(
                last_seen.as_deref(),
                Some("guest kernel is booting"),
                "{rendered}"
            )
        }
        other => panic!("expected a hang, got {other:?}\n{rendered}"),
    }
    for (name, text) in &report.transcripts {
        assert!(
            !text.contains("init: starting sh"),
            "console {name} got past the hang:\n{text}"
        );
    }
    // ... because the fetch right after the satp write in kvminithart faulted.
    let trap = report
        .first_trap
        .as_ref()
        .expect("the first fault was captured");
    let expected = after_satp_write(&fw.guest);
    assert_eq!(trap.cause, 0xc, "{rendered}");
    assert_eq!(
        trap.tval, expected,
        "stval is the instruction after csrw satp\n{rendered}"
    );
    assert_eq!(trap.epc, expected, "{rendered}");
}

common::per_version! {
    async guest_standalone;
    async two_vms;
    async noadue;
}
