//! QemuProcess against real QEMU: start paused, consoles, resume, clean-up.

mod common;

use std::time::Duration;

use hvharness::internals::qemu::{LaunchOptions, MachineSpec, QemuProcess};
use hvharness::internals::rsp::{RspClient, RspConfig};
use regex::Regex;

/// Where virt's harts start: the boot ROM.
const RESET_PC: u64 = 0x1000;

fn bare_opensbi(smp: u32) -> MachineSpec {
    MachineSpec {
        consoles: vec![common::serial_console("serial0")],
        ..common::virt("rv64,h=true", smp)
    }
}

async fn opensbi_banner_then_cleanup(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "opensbi_banner") else {
        return;
    };
    let mut q = QemuProcess::launch(
        &build,
        &bare_opensbi(1),
        &LaunchOptions {
            gdbstub: true,
            debug_log: None,
        },
    )
    .await
    .expect("QEMU starts");
    assert!(q.gdb_addr().is_some());
    let session = q.session_dir().to_path_buf();
    // Paused: QEMU says so, and the hart is still at the reset vector, so not
    // one instruction ran (a wait could only show that nothing ran so far).
    assert!(!q.qmp().running().await.unwrap());
    let addr = q.gdb_addr().expect("a gdbstub address");
    let mut gdb = RspClient::connect(addr, RspConfig::default())
        .await
        .expect("connect to QEMU's gdbstub");
    assert_eq!(
        gdb.read_register_u64("pc").await.unwrap(),
        Some(RESET_PC),
        "QEMU {version}: the hart left the reset vector before resume"
    );
    assert_eq!(q.console("serial0").unwrap().transcript(), "");
    q.resume().await.unwrap();
    let banner = Regex::new(r"OpenSBI v\d+\.\d+").unwrap();
    q.console("serial0")
        .unwrap()
        .expect(&banner, Duration::from_secs(20))
        .await
        .expect("OpenSBI banner");
    drop(q);
    // The session directory names the process's sockets, so it identifies it.
    let needle = session.to_string_lossy().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !common::qemu_processes_with(&needle).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "QEMU outlived its QemuProcess"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!session.exists(), "session directory removed");
}

async fn console_wait_reports_tail(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "console_timeout") else {
        return;
    };
    let mut q = QemuProcess::launch(&build, &bare_opensbi(1), &LaunchOptions::default())
        .await
        .unwrap();
    q.resume().await.unwrap();
    let never = Regex::new("this text never appears").unwrap();
    let err = q
        .console("serial0")
        .unwrap()
        .expect(&never, Duration::from_secs(3))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("this text never appears"), "{msg}");
    assert!(
        msg.contains("Boot HART"),
        "the failure shows the console tail: {msg}"
    );
}

common::per_version! {
    async opensbi_banner_then_cleanup;
    async console_wait_reports_tail;
    async retries_when_gdb_port_taken;
}

#[tokio::test]
async fn failed_start_reports_qemu_error() {
    let Some(build) = common::qemu_or_skip("10.0.2", "failed_start") else {
        return;
    };
    let mut spec = bare_opensbi(1);
    spec.machine = "no-such-machine".into();
    let err = match QemuProcess::launch(&build, &spec, &LaunchOptions::default()).await {
        Ok(_) => panic!("a bad machine must not start"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("no-such-machine"), "{err}");
}

/// The port race: the first port offered is taken (bound here), as if another
/// process had grabbed it between the probe and QEMU's bind. The launch must
/// recognise that version's wording and start on the next port. (Before the
/// fix only 10.0.2's message, which says "gdbstub", was recognised.)
async fn retries_when_gdb_port_taken(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "gdb_port_taken") else {
        return;
    };
    let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let free_port = {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let ports = [taken_port, free_port].into_iter().map(Ok);
    let opts = LaunchOptions {
        gdbstub: true,
        debug_log: None,
    };
    let q = QemuProcess::launch_trying_ports(&build, &bare_opensbi(1), &opts, ports)
        .await
        .unwrap_or_else(|e| panic!("QEMU {version} did not retry on a taken port: {e:#}"));
    assert_eq!(q.gdb_addr().map(|a| a.port()), Some(free_port));
    drop(taken);
}
