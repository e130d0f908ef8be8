//! Shared by the diagnosis tests on real QEMU: start a firmware build under
//! the debugger, run to a stop that satisfies a test, and read a
//! [`FaultContext`] there the way a trap left it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use hvharness::internals::debug::privilege_of;
use hvharness::internals::diagnosis::FaultContext;
use hvharness::internals::elf::ElfSet;
use hvharness::internals::qemu::{LaunchOptions, MachineSpec, QemuProcess};
use hvharness::internals::riscv::{Cause, Level, PrivilegeLevel};
use hvharness::internals::rsp::{RspClient, RspConfig, RspError, ThreadId};
use hvharness::{QemuVersion, TrapTarget};

use crate::common;

/// How long a run may take to reach the stop a test wants (a good boot to
/// the prompt takes well under a second on these versions).
pub const LIMIT: Duration = Duration::from_secs(30);

pub fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// A firmware build paused under the debugger, with the ELF files loaded as
/// spaces `hypervisor` and `guest`.
pub struct Session {
    pub qemu: QemuProcess,
    pub rsp: RspClient,
    pub elfs: ElfSet,
    pub version: QemuVersion,
}

impl Session {
    /// Starts `kernel` (the hypervisor, one hart, VM0's console on the
    /// serial port) with `guest` as the guest's ELF. `None` after a skip
    /// line when the QEMU version is not installed.
    pub async fn start(version: &str, test: &str, kernel: &Path, guest: &Path) -> Option<Session> {
        let build = common::qemu_or_skip(version, test)?;
        let mut elfs = ElfSet::new();
        elfs.load(kernel, Some("hypervisor"), 0)
            .expect("hypervisor ELF loads");
        elfs.load(guest, Some("guest"), 0).expect("guest ELF loads");
        let spec = MachineSpec {
            kernel: Some(kernel.to_path_buf()),
            consoles: vec![common::serial_console("vm0")],
            ..common::virt("rv64,h=true", 1)
        };
        let qemu = QemuProcess::launch(
            &build,
            &spec,
            &LaunchOptions {
                gdbstub: true,
                debug_log: None,
            },
        )
        .await
        .expect("QEMU starts");
        let rsp = RspClient::connect(qemu.gdb_addr().expect("gdbstub"), RspConfig::default())
            .await
            .expect("connect to the gdbstub");
        Some(Session {
            qemu,
            rsp,
            elfs,
            version: build.version,
        })
    }

    /// A run-time address by location text (`guest:kvminithart`).
    pub fn address(&self, location: &str) -> u64 {
        self.elfs
            .resolve_str(location, None)
            .unwrap_or_else(|e| panic!("{location}: {e}"))
            .address
    }

    /// The console so far.
    pub fn console(&mut self) -> String {
        self.qemu
            .console("vm0")
            .map(|c| c.transcript())
            .unwrap_or_default()
    }

    /// Sets breakpoints at `addresses` and runs until `wanted` accepts a
    /// stop (it gets the session, the stopped hart and its pc); stops it
    /// rejects are resumed. Panics after [`LIMIT`].
    pub async fn run_until<F>(&mut self, addresses: &[u64], mut wanted: F) -> u64
    where
        F: AsyncFnMut(&mut Session, ThreadId, u64) -> bool,
    {
        for &a in addresses {
            self.rsp.set_breakpoint(a).await.expect("breakpoint");
        }
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let stop = match self.rsp.continue_until_stop(left).await {
                Ok(s) => s,
                Err(e @ RspError::Timeout { .. }) => {
                    let console = self.console();
                    panic!(
                        "QEMU {}: no wanted stop within {LIMIT:?}: {e}\nconsole:\n{console}",
                        self.version
                    )
                }
                Err(e) => panic!("QEMU {}: {e}", self.version),
            };
            assert!(!stop.is_exit(), "QEMU {} exited: {stop:?}", self.version);
            let thread = stop.thread().expect("QEMU names the stopped hart");
            self.rsp.select_register_thread(thread).await.unwrap();
            let pc = self.read("pc").await;
            if wanted(self, thread, pc).await {
                return pc;
            }
        }
    }

    /// A register of the selected hart.
    pub async fn read(&mut self, name: &str) -> u64 {
        self.rsp
            .read_register_u64(name)
            .await
            .unwrap_or_else(|e| panic!("reading {name}: {e}"))
            .unwrap_or_else(|| panic!("{name} unavailable"))
    }

    /// Whether the stopped hart runs the guest (V=1).
    pub async fn in_guest(&mut self, thread: ThreadId) -> bool {
        privilege_of(&mut self.rsp, thread, self.version)
            .await
            .expect("privilege at the stop")
            .is_guest()
    }

    /// The guest's first fault, read at pc 0 while V=1 (vstvec was 0, so
    /// the trap sent the hart there). QEMU shows the guest's own registers
    /// under the S-mode names while V=1: its satp is the architectural
    /// vsatp, its stvec is vstvec, its scause/stval/sepc the fault's.
    pub async fn guest_fault_at_zero(&mut self) -> FaultContext {
        let priv_raw = self.read("priv").await;
        let mut from = PrivilegeLevel::from_qemu_priv(priv_raw).with_virt(true);
        // The trap came from VS or VU: the guest's sstatus.SPP says which.
        let sstatus = self.read("sstatus").await;
        from.level = if sstatus >> 8 & 1 == 1 {
            Level::Supervisor
        } else {
            Level::User
        };
        let mut csrs = BTreeMap::new();
        for (arch, shown) in [
            ("vsatp", "satp"),
            ("vstvec", "stvec"),
            ("vsstatus", "sstatus"),
            ("hgatp", "hgatp"),
            ("henvcfg", "henvcfg"),
            ("menvcfg", "menvcfg"),
            ("hedeleg", "hedeleg"),
            ("hstatus", "hstatus"),
            ("mstatus", "mstatus"),
            ("ra", "ra"),
            ("sp", "sp"),
            ("s0", "fp"),
        ] {
            let v = self.read(shown).await;
            csrs.insert(arch.to_string(), v);
        }
        let epc = self.read("sepc").await;
        FaultContext {
            hart: 0,
            from,
            to: TrapTarget::VS,
            cause: Cause::from_xcause(self.read("scause").await),
            epc,
            tval: self.read("stval").await,
            htval: None,
            htinst: None,
            epc_place: self.place("guest", epc),
            sbi_calls_after: 0,
            csrs,
        }
    }

    /// A trap from the guest into the hypervisor, read at the first
    /// instruction of its trap vector (V=0 now: every register has its own
    /// name; the general registers are still the guest's).
    pub async fn hs_trap_from_guest(&mut self) -> FaultContext {
        let hstatus = self.read("hstatus").await;
        let sstatus = self.read("sstatus").await;
        let from = PrivilegeLevel {
            level: if sstatus >> 8 & 1 == 1 {
                Level::Supervisor
            } else {
                Level::User
            },
            virt: Some(hstatus >> 7 & 1 == 1),
        };
        let mut csrs = BTreeMap::new();
        for name in [
            "vsatp", "vstvec", "vsstatus", "hgatp", "henvcfg", "menvcfg", "hedeleg", "hstatus",
            "mstatus", "stvec", "satp", "ra", "sp",
        ] {
            let v = self.read(name).await;
            csrs.insert(name.to_string(), v);
        }
        let fp = self.read("fp").await;
        csrs.insert("s0".into(), fp);
        let epc = self.read("sepc").await;
        FaultContext {
            hart: 0,
            from,
            to: TrapTarget::HS,
            cause: Cause::from_xcause(self.read("scause").await),
            epc,
            tval: self.read("stval").await,
            htval: Some(self.read("htval").await),
            htinst: Some(self.read("htinst").await),
            epc_place: self.place("guest", epc),
            sbi_calls_after: 0,
            csrs,
        }
    }

    fn place(&self, space: &str, pc: u64) -> Option<String> {
        let stop = self.elfs.describe_stop(pc, Some(space), None).ok()?;
        stop.symbol.as_ref()?;
        Some(format!("{space}:{}", stop.place()))
    }
}
