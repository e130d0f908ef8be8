//! Every quirk of the crate's `qemu::quirks` checked on every installed QEMU of
//! the matrix (7.2.22, 8.0.2, 9.2.0, 10.0.2): each test asserts that the
//! behaviour is there exactly on the versions whose range says so. A missing
//! version prints a `skipped:` line. (fills-htinst is checked on the
//! mmio-hole fault build in `diagnosis_rules.rs`.)

mod common;

use hvharness::internals::qemu::quirks::{self, Quirk};
use hvharness::internals::qemu::{LaunchOptions, MachineSpec, QemuProcess};
use hvharness::internals::riscv::envcfg;
use hvharness::internals::rsp::{RspClient, RspConfig, ThreadId};
use hvharness::{QemuBuild, Scenario};

fn machine(cpu: &str) -> MachineSpec {
    common::virt(cpu, 1)
}

fn says(q: &Quirk, build: &QemuBuild, seen: bool) {
    eprintln!(
        "QEMU {}: {} ({}) seen={seen}",
        build.version,
        q.name,
        q.range()
    );
    assert_eq!(
        seen,
        q.applies(build.version),
        "QEMU {}: {q}",
        build.version
    );
}

/// henvcfg and menvcfg right after reset, before OpenSBI ran.
async fn envcfg_at_reset(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "quirk envcfg at reset") else {
        return;
    };
    let q = QemuProcess::launch(
        &build,
        &machine("rv64,h=true"),
        &LaunchOptions {
            gdbstub: true,
            debug_log: None,
        },
    )
    .await
    .expect("QEMU starts");
    let mut gdb = RspClient::connect(q.gdb_addr().expect("gdbstub"), RspConfig::default())
        .await
        .expect("gdbstub");
    gdb.select_register_thread(ThreadId::qemu_hart(0))
        .await
        .unwrap();
    let henvcfg = gdb
        .read_register_u64("henvcfg")
        .await
        .unwrap()
        .expect("henvcfg readable at reset");
    let menvcfg = gdb
        .read_register_u64("menvcfg")
        .await
        .unwrap()
        .expect("menvcfg readable at reset");
    eprintln!("QEMU {version} at reset: menvcfg={menvcfg:#x} henvcfg={henvcfg:#x}");
    says(
        &quirks::HENVCFG_RESET_ADUE,
        &build,
        henvcfg & (1 << 61) != 0,
    );
    says(
        &quirks::MENVCFG_RESET_ADUE,
        &build,
        menvcfg & (1 << 61) != 0,
    );
    assert_eq!(henvcfg, envcfg::henvcfg_at_reset(build.version));
    assert_eq!(menvcfg, envcfg::menvcfg_at_reset(build.version));
}

/// Whether `-cpu rv64,PROP=on` is accepted. QMP commands run only once the
/// machine exists, so an answered `query-status` means the CPU was built with
/// the property; an unknown property makes QEMU exit before that.
async fn accepts_cpu_property(build: &QemuBuild, prop: &str) -> bool {
    let cpu = format!("rv64,{prop}=on");
    let mut q = match QemuProcess::launch(
        build,
        &machine(&cpu),
        &LaunchOptions {
            gdbstub: false,
            debug_log: None,
        },
    )
    .await
    {
        Ok(q) => q,
        Err(e) => {
            let text = format!("{e:#}");
            assert!(
                text.contains("not found"),
                "QEMU {} -cpu {cpu}: {text}",
                build.version
            );
            return false;
        }
    };
    match q.qmp().execute("query-status", None).await {
        Ok(_) => true,
        Err(e) => {
            let _ = q.wait_exit(std::time::Duration::from_secs(30)).await;
            let text = q.stderr_text();
            assert!(
                text.contains("not found"),
                "QEMU {} -cpu {cpu}: {e:#}: {text}",
                build.version
            );
            false
        }
    }
}

async fn cpu_properties(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "quirk cpu properties") else {
        return;
    };
    let svadu = accepts_cpu_property(&build, "svadu").await;
    says(&quirks::SVADU_PROPERTY, &build, svadu);
    let svade = accepts_cpu_property(&build, "svade").await;
    says(&quirks::SVADE_PROPERTY, &build, svade);
}

/// `p` for pc (register 32) before target.xml was read: empty on 7.2.
async fn p_before_target_xml(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "quirk p before target.xml") else {
        return;
    };
    let q = QemuProcess::launch(
        &build,
        &machine("rv64,h=true"),
        &LaunchOptions {
            gdbstub: true,
            debug_log: None,
        },
    )
    .await
    .expect("QEMU starts");
    let stream = tokio::net::TcpStream::connect(q.gdb_addr().expect("gdbstub"))
        .await
        .expect("connect");
    let mut gdb = RspClient::from_stream(stream, RspConfig::default());
    gdb.handshake().await.expect("qSupported");
    let before = gdb.request("p20").await.expect("p20");
    gdb.fetch_target_description().await.expect("target.xml");
    let after = gdb.request("p20").await.expect("p20");
    eprintln!(
        "QEMU {version}: p20 before target.xml {:?}, after {:?}",
        String::from_utf8_lossy(&before),
        String::from_utf8_lossy(&after)
    );
    assert_eq!(after, b"0010000000000000", "pc at the reset vector 0x1000");
    says(&quirks::P_NEEDS_TARGET_XML, &build, before.is_empty());
}

/// At a guest's kvminithart (VS-mode), `priv` shows V only from 10.0 on; the
/// harness knows VS either way and says where V came from.
async fn priv_at_a_vs_stop(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "quirk priv at a VS stop") else {
        return;
    };
    common::firmware();
    let scenario = Scenario::load(&common::root().join("scenarios/hypervisor-2vm.toml"))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let report = hvharness::run(&scenario, &build)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        !report.stops.is_empty(),
        "{}",
        hvharness::render_run(&report)
    );
    for stop in &report.stops {
        let raw = stop.csr("priv").and_then(|c| c.raw).expect("priv dumped");
        assert_eq!(stop.privilege_name, "VS");
        says(&quirks::PRIV_SHOWS_V, &build, raw & 4 != 0);
        let decoded = stop
            .csr("priv")
            .and_then(|c| c.decoded.clone())
            .expect("priv decoded");
        assert_eq!(
            decoded.get("V"),
            Some(1),
            "a VS stop never dumps V=0:\n{}",
            decoded.snapshot()
        );
        let expected = if quirks::PRIV_SHOWS_V.applies(build.version) {
            "priv.V = 1\n"
        } else {
            "priv.V = 1 (from monitor)\n"
        };
        assert!(
            decoded.snapshot().contains(expected),
            "{}",
            decoded.snapshot()
        );
    }
}

common::per_version! {
    async envcfg_at_reset;
    async cpu_properties;
    async p_before_target_xml;
    async priv_at_a_vs_stop;
}
