//! The RSP client against a fake RISC-V target served by the `gdbstub` crate
//! over loopback TCP.
//!
//! The fake has two harts (threads `p1.1`, `p1.2`, as QEMU numbers them),
//! 64 KiB of RAM at 0x8000_0000 and an "instruction" model simple enough to
//! predict: each step adds 4 to pc and stores the hart's step count at
//! `COUNTER_BASE + 8 * hart`. It serves QEMU 10.0.2's multi-file target
//! description through gdbstub's XML override, and maps the wire register
//! numbers QEMU uses (CSR = 66 + csrno, priv = 65) onto gdbstub_arch's riscv
//! ids, whose own numbering is gdb's internal one (CSR = 65 + csrno).
//!
//! Like QEMU, a breakpoint is checked before the instruction at it runs, so
//! a hart resumed on a breakpoint reports it again without moving, and a step
//! ignores the breakpoint it starts on.
//!
//! gdbstub differs from QEMU in ways that exercise more of the client: it
//! accepts `QStartNoAckMode` (so the no-ack path runs) and run-length encodes
//! its replies (so RLE decoding runs on every zero-filled read).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use gdbstub::common::{Signal, Tid};
use gdbstub::conn::ConnectionExt;
use gdbstub::stub::run_blocking::{self, BlockingEventLoop};
use gdbstub::stub::{GdbStub, MultiThreadStopReason};
use gdbstub::target::ext::base::multithread::{
    MultiThreadBase, MultiThreadResume, MultiThreadResumeOps, MultiThreadSchedulerLocking,
    MultiThreadSchedulerLockingOps, MultiThreadSingleStep, MultiThreadSingleStepOps,
};
use gdbstub::target::ext::base::single_register_access::{
    SingleRegisterAccess, SingleRegisterAccessOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwWatchpoint, HwWatchpointOps, SwBreakpoint, SwBreakpointOps,
    WatchKind,
};
use gdbstub::target::ext::monitor_cmd::{outputln, ConsoleOutput, MonitorCmd, MonitorCmdOps};
use gdbstub::target::ext::target_description_xml_override::{
    TargetDescriptionXmlOverride, TargetDescriptionXmlOverrideOps,
};
use gdbstub::target::{Target, TargetError, TargetResult};
use gdbstub_arch::riscv::reg::id::RiscvRegId;
use gdbstub_arch::riscv::reg::RiscvCoreRegs;
use gdbstub_arch::riscv::Riscv64;

use hvharness::rsp::{
    BreakpointType, RegisterValue, RspClient, RspConfig, RspError, StopReply, ThreadId,
    WatchKind as Wk,
};

const RAM_BASE: u64 = 0x8000_0000;
const RAM_SIZE: usize = 64 * 1024;
const START_PC: u64 = 0x8000_0000;
/// Each hart stores its step count here (+8 per hart) after every step.
const COUNTER_BASE: u64 = 0x8000_8000;
/// A hart reaching this pc ends the "process" (`W00`).
const EXIT_PC: u64 = 0x8000_f000;
/// QEMU's wire base for CSRs with `-cpu rv64,h=true`.
const QEMU_CSR_BASE: usize = 66;
/// A CSR that the description lists but the fake cannot read (like QEMU's `E14`).
const UNAVAILABLE_CSR: u16 = 0x7a0; // tselect
/// How long a fake run may last before it gives up by itself.
const MAX_RUN: Duration = Duration::from_secs(30);

const MSTATUS: u16 = 0x300;
const MISA: u16 = 0x301;
const MENVCFG: u16 = 0x30a;
const HENVCFG: u16 = 0x60a;

fn qemu_xml_files() -> BTreeMap<&'static str, &'static str> {
    let mut m = BTreeMap::new();
    m.insert(
        "target.xml",
        include_str!("../src/rsp/testdata/qemu-10.0.2/target.xml"),
    );
    m.insert(
        "riscv-64bit-cpu.xml",
        include_str!("../src/rsp/testdata/qemu-10.0.2/riscv-64bit-cpu.xml"),
    );
    m.insert(
        "riscv-64bit-fpu.xml",
        include_str!("../src/rsp/testdata/qemu-10.0.2/riscv-64bit-fpu.xml"),
    );
    m.insert(
        "riscv-64bit-virtual.xml",
        include_str!("../src/rsp/testdata/qemu-10.0.2/riscv-64bit-virtual.xml"),
    );
    m.insert(
        "riscv-csr.xml",
        include_str!("../src/rsp/testdata/qemu-10.0.2/riscv-csr.xml"),
    );
    m
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    Continue,
    Step,
}

struct Hart {
    x: [u64; 32],
    pc: u64,
    privilege: u64,
    csrs: HashMap<u16, u64>,
    steps: u64,
    action: Option<Action>,
}

struct Fake {
    harts: Vec<Hart>,
    ram: Vec<u8>,
    breakpoints: BTreeSet<u64>,
    watchpoints: Vec<(u64, u64, WatchKind)>,
    xml: BTreeMap<&'static str, &'static str>,
    run_started: Option<Instant>,
    /// vCont named only some threads: the others stay stopped.
    scheduler_locked: bool,
    /// The last hart that ran (stop replies name it).
    last_hart: usize,
}

fn tid_of(hart: usize) -> Tid {
    NonZeroUsize::new(hart + 1).expect("hart + 1 is never zero")
}

impl Fake {
    fn new() -> Fake {
        let harts = (0..2)
            .map(|i| Hart {
                x: std::array::from_fn(|r| if r == 10 { i as u64 } else { 0 }),
                pc: START_PC + 0x100 * i as u64,
                privilege: 3,
                csrs: HashMap::from([
                    (MSTATUS, 0xa_0000_0000),
                    (MISA, 0x8000_0000_0014_112d),
                    (MENVCFG, 0x2000_0000_0000_0000),
                    (HENVCFG, 0),
                    (0xf14, i as u64), // mhartid
                ]),
                steps: 0,
                action: None,
            })
            .collect();
        let mut ram = vec![0u8; RAM_SIZE];
        ram[..8].copy_from_slice(&[0x33, 0x04, 0x05, 0x00, 0xb3, 0x84, 0x05, 0x00]);
        Fake {
            harts,
            ram,
            breakpoints: BTreeSet::new(),
            watchpoints: Vec::new(),
            xml: qemu_xml_files(),
            run_started: None,
            scheduler_locked: false,
            last_hart: 0,
        }
    }

    fn hart(&mut self, tid: Tid) -> Result<&mut Hart, TargetError<()>> {
        self.harts
            .get_mut(tid.get() - 1)
            .ok_or(TargetError::Errno(0x16))
    }

    fn ram_range(&self, addr: u64, len: usize) -> Option<std::ops::Range<usize>> {
        let off = usize::try_from(addr.checked_sub(RAM_BASE)?).ok()?;
        let end = off.checked_add(len)?;
        (end <= self.ram.len()).then_some(off..end)
    }

    /// One step of one hart; a stop reason if it hit something.
    fn step_hart(&mut self, i: usize) -> Option<MultiThreadStopReason<u64>> {
        self.last_hart = i;
        let h = &mut self.harts[i];
        h.pc += 4;
        h.steps += 1;
        let (pc, steps) = (h.pc, h.steps);
        let counter = COUNTER_BASE + 8 * i as u64;
        if let Some(r) = self.ram_range(counter, 8) {
            self.ram[r].copy_from_slice(&steps.to_le_bytes());
        }
        let tid = tid_of(i);
        if self
            .watchpoints
            .iter()
            .any(|&(a, l, k)| k != WatchKind::Read && counter < a + l && a < counter + 8)
        {
            return Some(MultiThreadStopReason::Watch {
                tid,
                kind: WatchKind::Write,
                addr: counter,
            });
        }
        if pc == EXIT_PC {
            return Some(MultiThreadStopReason::Exited(0));
        }
        None
    }

    /// Runs a batch of steps for the resumed harts.
    fn run_batch(&mut self) -> Option<MultiThreadStopReason<u64>> {
        if self.run_started.is_some_and(|t| t.elapsed() > MAX_RUN) {
            return Some(MultiThreadStopReason::Exited(0xee));
        }
        for i in 0..self.harts.len() {
            if self.harts[i].action == Some(Action::Step) {
                for h in &mut self.harts {
                    h.action = None;
                }
                return Some(self.step_hart(i).unwrap_or(MultiThreadStopReason::DoneStep));
            }
        }
        for _ in 0..4 {
            for i in 0..self.harts.len() {
                if self.harts[i].action != Some(Action::Continue) {
                    continue;
                }
                // Like QEMU: the breakpoint is checked before the instruction
                // runs, so a hart resumed on a breakpoint stops there again.
                if self.breakpoints.contains(&self.harts[i].pc) {
                    self.last_hart = i;
                    return Some(MultiThreadStopReason::SwBreak(tid_of(i)));
                }
                if let Some(stop) = self.step_hart(i) {
                    return Some(stop);
                }
            }
        }
        None
    }
}

impl Target for Fake {
    type Arch = Riscv64;
    type Error = ();

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::MultiThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }

    fn support_target_description_xml_override(
        &mut self,
    ) -> Option<TargetDescriptionXmlOverrideOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadBase for Fake {
    fn read_registers(
        &mut self,
        regs: &mut RiscvCoreRegs<u64>,
        tid: Tid,
    ) -> TargetResult<(), Self> {
        let h = self.hart(tid)?;
        regs.x = h.x;
        regs.pc = h.pc;
        Ok(())
    }

    fn write_registers(&mut self, regs: &RiscvCoreRegs<u64>, tid: Tid) -> TargetResult<(), Self> {
        let h = self.hart(tid)?;
        h.x = regs.x;
        h.pc = regs.pc;
        Ok(())
    }

    fn support_single_register_access(&mut self) -> Option<SingleRegisterAccessOps<'_, Tid, Self>> {
        Some(self)
    }

    fn read_addrs(
        &mut self,
        start_addr: u64,
        data: &mut [u8],
        _tid: Tid,
    ) -> TargetResult<usize, Self> {
        let r = self
            .ram_range(start_addr, data.len())
            .ok_or(TargetError::Errno(0x14))?;
        data.copy_from_slice(&self.ram[r]);
        Ok(data.len())
    }

    fn write_addrs(&mut self, start_addr: u64, data: &[u8], _tid: Tid) -> TargetResult<(), Self> {
        let r = self
            .ram_range(start_addr, data.len())
            .ok_or(TargetError::Errno(0x14))?;
        self.ram[r].copy_from_slice(data);
        Ok(())
    }

    fn list_active_threads(
        &mut self,
        thread_is_active: &mut dyn FnMut(Tid),
    ) -> Result<(), Self::Error> {
        for i in 0..self.harts.len() {
            thread_is_active(tid_of(i));
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

/// Where a gdbstub riscv register id points in QEMU's wire numbering.
enum QemuReg {
    Gpr(usize),
    Pc,
    Fpr,
    Priv,
    Csr(u16),
}

fn qemu_reg(id: RiscvRegId<u64>) -> Option<QemuReg> {
    Some(match id {
        RiscvRegId::Gpr(n) => QemuReg::Gpr(usize::from(n)),
        RiscvRegId::Pc => QemuReg::Pc,
        RiscvRegId::Fpr(_) => QemuReg::Fpr,
        // gdbstub: Csr(wire - 65). QEMU: wire 65 is priv, CSRs start at 66.
        RiscvRegId::Csr(0) => QemuReg::Priv,
        RiscvRegId::Csr(n) => QemuReg::Csr(n - (QEMU_CSR_BASE as u16 - 65)),
        _ => return None,
    })
}

impl SingleRegisterAccess<Tid> for Fake {
    fn read_register(
        &mut self,
        tid: Tid,
        reg_id: RiscvRegId<u64>,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let h = self.hart(tid)?;
        let value = match qemu_reg(reg_id).ok_or(TargetError::Errno(0x16))? {
            QemuReg::Gpr(n) => h.x[n],
            QemuReg::Pc => h.pc,
            QemuReg::Fpr => 0,
            QemuReg::Priv => h.privilege,
            QemuReg::Csr(UNAVAILABLE_CSR) => return Err(TargetError::Errno(0x14)),
            QemuReg::Csr(n) => h.csrs.get(&n).copied().unwrap_or(0),
        };
        let bytes = value.to_le_bytes();
        let n = buf.len().min(8);
        buf[..n].copy_from_slice(&bytes[..n]);
        Ok(n)
    }

    fn write_register(
        &mut self,
        tid: Tid,
        reg_id: RiscvRegId<u64>,
        val: &[u8],
    ) -> TargetResult<(), Self> {
        let mut bytes = [0u8; 8];
        let n = val.len().min(8);
        bytes[..n].copy_from_slice(&val[..n]);
        let value = u64::from_le_bytes(bytes);
        let h = self.hart(tid)?;
        match qemu_reg(reg_id).ok_or(TargetError::Errno(0x16))? {
            QemuReg::Gpr(0) => {}
            QemuReg::Gpr(n) => h.x[n] = value,
            QemuReg::Pc => h.pc = value,
            QemuReg::Fpr => {}
            QemuReg::Priv => h.privilege = value,
            QemuReg::Csr(UNAVAILABLE_CSR) => return Err(TargetError::Errno(0x14)),
            QemuReg::Csr(n) => {
                h.csrs.insert(n, value);
            }
        }
        Ok(())
    }
}

impl MultiThreadResume for Fake {
    fn resume(&mut self) -> Result<(), Self::Error> {
        self.run_started = Some(Instant::now());
        if !self.scheduler_locked {
            for h in &mut self.harts {
                h.action.get_or_insert(Action::Continue);
            }
        }
        Ok(())
    }

    fn clear_resume_actions(&mut self) -> Result<(), Self::Error> {
        self.scheduler_locked = false;
        for h in &mut self.harts {
            h.action = None;
        }
        Ok(())
    }

    fn support_scheduler_locking(&mut self) -> Option<MultiThreadSchedulerLockingOps<'_, Self>> {
        Some(self)
    }

    fn set_resume_action_continue(
        &mut self,
        tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
        self.hart(tid).map_err(|_| ())?.action = Some(Action::Continue);
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<MultiThreadSingleStepOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadSingleStep for Fake {
    fn set_resume_action_step(
        &mut self,
        tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
        self.hart(tid).map_err(|_| ())?.action = Some(Action::Step);
        Ok(())
    }
}

impl MultiThreadSchedulerLocking for Fake {
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), Self::Error> {
        self.scheduler_locked = true;
        Ok(())
    }
}

impl Breakpoints for Fake {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl SwBreakpoint for Fake {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.breakpoints.insert(addr);
        Ok(true)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.breakpoints.remove(&addr))
    }
}

impl HwWatchpoint for Fake {
    fn add_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        self.watchpoints.push((addr, len, kind));
        Ok(true)
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        let before = self.watchpoints.len();
        self.watchpoints.retain(|w| *w != (addr, len, kind));
        Ok(self.watchpoints.len() < before)
    }
}

impl MonitorCmd for Fake {
    fn handle_monitor_cmd(
        &mut self,
        cmd: &[u8],
        mut out: ConsoleOutput<'_>,
    ) -> Result<(), Self::Error> {
        match cmd {
            b"info registers" => {
                for (i, h) in self.harts.iter().enumerate() {
                    outputln!(out, "CPU#{i}");
                    outputln!(out, " V      =   0");
                    outputln!(out, " pc       {:016x}", h.pc);
                }
            }
            other => outputln!(out, "unknown command: {}", String::from_utf8_lossy(other)),
        }
        Ok(())
    }
}

impl TargetDescriptionXmlOverride for Fake {
    fn target_description_xml(
        &self,
        annex: &[u8],
        offset: u64,
        length: usize,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let name = std::str::from_utf8(annex).map_err(|_| TargetError::Errno(0x02))?;
        let text = self
            .xml
            .get(name)
            .ok_or(TargetError::Errno(0x02))?
            .as_bytes();
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(text.len());
        let end = start.saturating_add(length).min(text.len());
        let n = (end - start).min(buf.len());
        buf[..n].copy_from_slice(&text[start..start + n]);
        Ok(n)
    }
}

enum FakeLoop {}

impl BlockingEventLoop for FakeLoop {
    type Target = Fake;
    type Connection = TcpStream;
    type StopReason = MultiThreadStopReason<u64>;

    fn wait_for_stop_reason(
        target: &mut Fake,
        conn: &mut TcpStream,
    ) -> Result<
        run_blocking::Event<Self::StopReason>,
        run_blocking::WaitForStopReasonError<(), std::io::Error>,
    > {
        loop {
            match conn.peek() {
                Ok(Some(_)) => {
                    let byte = conn
                        .read()
                        .map_err(run_blocking::WaitForStopReasonError::Connection)?;
                    return Ok(run_blocking::Event::IncomingData(byte));
                }
                Ok(None) => {}
                Err(e) => return Err(run_blocking::WaitForStopReasonError::Connection(e)),
            }
            if let Some(stop) = target.run_batch() {
                return Ok(run_blocking::Event::TargetStopped(stop));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn on_interrupt(target: &mut Fake) -> Result<Option<Self::StopReason>, ()> {
        for h in &mut target.harts {
            h.action = None;
        }
        Ok(Some(MultiThreadStopReason::SignalWithThread {
            tid: tid_of(target.last_hart),
            signal: Signal::SIGINT,
        }))
    }
}

/// Serves one client on a loopback port from a thread; returns the address.
fn serve(fake: Fake) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let mut fake = fake;
        let _ = GdbStub::new(stream).run_blocking::<FakeLoop>(&mut fake);
    });
    addr
}

fn config() -> RspConfig {
    RspConfig {
        reply_timeout: Duration::from_secs(5),
        ..RspConfig::default()
    }
}

async fn connect() -> RspClient {
    let addr = serve(Fake::new());
    RspClient::connect(addr, config())
        .await
        .expect("connect to the fake target")
}

#[tokio::test]
async fn rsp_handshake_and_qemu_shaped_description() {
    let gdb = connect().await;
    let features = gdb.server_features().unwrap();
    assert!(features.supports("qXfer:features:read"));
    assert!(gdb.packet_size() >= 1024);
    assert!(
        gdb.no_ack_mode(),
        "gdbstub accepts QStartNoAckMode, unlike QEMU"
    );
    let d = gdb.target_description().unwrap();
    assert_eq!(d.architecture(), Some("riscv:rv64"));
    assert_eq!(d.files().len(), 5, "target.xml and its four includes");
    assert_eq!(d.register("pc").unwrap().regnum, 32);
    assert_eq!(d.register("priv").unwrap().regnum, 65);
    assert_eq!(d.register("mstatus").unwrap().regnum, 66 + 0x300);
}

#[tokio::test]
async fn rsp_registers_by_name_per_hart() {
    let mut gdb = connect().await;
    let threads = gdb.threads().await.unwrap();
    assert_eq!(
        threads,
        vec![ThreadId::qemu_hart(0), ThreadId::qemu_hart(1)]
    );

    gdb.select_register_thread(ThreadId::qemu_hart(0))
        .await
        .unwrap();
    assert_eq!(gdb.read_register_u64("pc").await.unwrap(), Some(START_PC));
    assert_eq!(
        gdb.read_register_u64("mstatus").await.unwrap(),
        Some(0xa_0000_0000)
    );
    assert_eq!(
        gdb.read_register_u64("menvcfg").await.unwrap(),
        Some(0x2000_0000_0000_0000)
    );
    assert_eq!(gdb.read_register_u64("henvcfg").await.unwrap(), Some(0));
    assert_eq!(
        gdb.read_register_u64("misa").await.unwrap(),
        Some(0x8000_0000_0014_112d)
    );
    assert_eq!(gdb.read_register_u64("priv").await.unwrap(), Some(3));
    assert_eq!(
        gdb.read_register("tselect").await.unwrap(),
        RegisterValue::Unavailable,
        "E14 on a listed CSR"
    );
    assert_eq!(gdb.read_register_u64("tselect").await.unwrap(), None);

    let v = gdb
        .read_thread_register(ThreadId::qemu_hart(1), "pc")
        .await
        .unwrap();
    assert_eq!(v.as_u64(), Some(START_PC + 0x100));
    assert_eq!(gdb.read_register_u64("mhartid").await.unwrap(), Some(1));
    assert_eq!(gdb.read_register_u64("a0").await.unwrap(), Some(1));

    // g: the 33 core registers, named from the description.
    let core = gdb.read_core_registers().await.unwrap();
    assert_eq!(core.len(), 33);
    assert_eq!(core[10].0, "a0");
    assert_eq!(core[10].1.as_u64(), Some(1));
    assert_eq!(core[32].0, "pc");
    assert_eq!(core[32].1.as_u64(), Some(START_PC + 0x100));

    gdb.write_register("henvcfg", 0xa000_0000_0000_0000)
        .await
        .unwrap();
    assert_eq!(
        gdb.read_register_u64("henvcfg").await.unwrap(),
        Some(0xa000_0000_0000_0000)
    );
    gdb.write_register("s1", 0x1234).await.unwrap();
    assert_eq!(gdb.read_register_u64("s1").await.unwrap(), Some(0x1234));
    assert!(matches!(
        gdb.write_register("tselect", 1).await,
        Err(RspError::Unavailable { .. })
    ));

    match gdb.read_register("henvcgf").await {
        Err(RspError::UnknownRegister { near, .. }) => {
            assert!(near.contains(&"henvcfg".to_string()), "{near:?}")
        }
        other => panic!("expected UnknownRegister, got {other:?}"),
    }
}

#[tokio::test]
async fn rsp_memory_in_chunks_with_rle_replies() {
    let addr = serve(Fake::new());
    let cfg = RspConfig {
        memory_chunk: 300,
        ..config()
    };
    let mut gdb = RspClient::connect(addr, cfg).await.unwrap();
    let head = gdb.read_memory(RAM_BASE, 8).await.unwrap();
    assert_eq!(head, [0x33, 0x04, 0x05, 0x00, 0xb3, 0x84, 0x05, 0x00]);
    // Mostly zeros: gdbstub compresses these replies with '*'.
    let data: Vec<u8> = (0..5000u32)
        .map(|i| if i % 700 == 0 { (i / 700) as u8 + 1 } else { 0 })
        .collect();
    gdb.write_memory(RAM_BASE + 0x1000, &data).await.unwrap();
    assert_eq!(
        gdb.read_memory(RAM_BASE + 0x1000, data.len())
            .await
            .unwrap(),
        data
    );
    // Bytes that need escaping on the way out travel as hex in M: no escapes needed, but check them anyway.
    let special = b"$#}*\x03+-";
    gdb.write_memory(RAM_BASE + 0x10, special).await.unwrap();
    assert_eq!(
        gdb.read_memory(RAM_BASE + 0x10, special.len())
            .await
            .unwrap(),
        special
    );
    match gdb.read_memory(0x1000, 16).await {
        Err(RspError::ErrorReply {
            code: 0x14,
            command,
        }) => assert!(command.starts_with("m1000,"), "{command}"),
        other => panic!("expected E14, got {other:?}"),
    }
    // An error reply leaves the connection usable.
    assert_eq!(
        gdb.read_memory(RAM_BASE, 4).await.unwrap(),
        [0x33, 0x04, 0x05, 0x00]
    );
    // Not QEMU: no physical-memory mode.
    assert!(matches!(
        gdb.set_physical_memory_mode(true).await,
        Err(RspError::Unsupported { .. })
    ));
}

#[tokio::test]
async fn rsp_breakpoint_continue_step() {
    let mut gdb = connect().await;
    assert!(gdb.vcont_actions().await.unwrap().iter().any(|a| a == "s"));
    let target = START_PC + 0x40;
    gdb.set_breakpoint(target).await.unwrap();
    let stop = gdb
        .continue_until_stop(Duration::from_secs(10))
        .await
        .unwrap();
    assert!(stop.is_trap(), "{stop:?}");
    assert_eq!(stop.thread(), Some(ThreadId::qemu_hart(0)));
    assert!(stop.signal().unwrap().swbreak);
    assert!(!gdb.is_running());
    gdb.select_register_thread(ThreadId::qemu_hart(0))
        .await
        .unwrap();
    assert_eq!(gdb.read_register_u64("pc").await.unwrap(), Some(target));

    gdb.clear_breakpoint(target).await.unwrap();
    let stop = gdb.step(ThreadId::qemu_hart(1)).await.unwrap();
    assert!(stop.is_trap(), "{stop:?}");
    let pc1 = gdb
        .read_thread_register(ThreadId::qemu_hart(1), "pc")
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    let pc0 = gdb
        .read_thread_register(ThreadId::qemu_hart(0), "pc")
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    assert_eq!(pc0, target, "a step of hart 1 leaves hart 0 alone");
    assert!(pc1 > START_PC + 0x100);
}

#[tokio::test]
async fn rsp_continue_past_a_breakpoint() {
    let mut gdb = connect().await;
    let target = START_PC + 0x40;
    gdb.set_breakpoint(target).await.unwrap();
    let stop = gdb
        .continue_until_stop(Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(stop.thread(), Some(ThreadId::qemu_hart(0)));
    // The raw resume makes no progress: hart 0 is still on the breakpoint.
    gdb.resume_raw().await.unwrap();
    let again = gdb.wait_for_stop(Duration::from_secs(5)).await.unwrap();
    assert_eq!(again.thread(), Some(ThreadId::qemu_hart(0)));
    assert_eq!(
        gdb.read_thread_register(ThreadId::qemu_hart(0), "pc")
            .await
            .unwrap()
            .as_u64(),
        Some(target)
    );
    // resume() steps over it: the harts run on (hart 1 started past it).
    gdb.resume().await.unwrap();
    assert!(gdb
        .wait_for_stop(Duration::from_millis(300))
        .await
        .unwrap_err()
        .is_timeout());
    assert!(gdb.interrupt_and_wait().await.unwrap().is_interrupt());
    let pc = gdb
        .read_thread_register(ThreadId::qemu_hart(0), "pc")
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    assert!(pc > target, "{pc:#x}");
    assert_eq!(gdb.breakpoints().len(), 1, "the breakpoint was put back");
}

#[tokio::test]
async fn rsp_stop_during_the_step_over_is_reported() {
    let mut gdb = connect().await;
    let target = START_PC + 0x40;
    gdb.set_breakpoint(target).await.unwrap();
    gdb.continue_until_stop(Duration::from_secs(10))
        .await
        .unwrap();
    // The very next instruction of hart 0 writes its counter: watch it.
    gdb.set_watchpoint(BreakpointType::WriteWatch, COUNTER_BASE, 8)
        .await
        .unwrap();
    gdb.resume().await.unwrap();
    assert!(gdb.is_running());
    let stop = gdb.wait_for_stop(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        stop.signal().unwrap().watch.map(|w| w.addr),
        Some(COUNTER_BASE),
        "{stop:?}"
    );
    assert!(!gdb.is_running());
    assert_eq!(
        gdb.read_thread_register(ThreadId::qemu_hart(0), "pc")
            .await
            .unwrap()
            .as_u64(),
        Some(target + 4)
    );
}

#[tokio::test]
async fn rsp_halt_reason_keeps_breakpoints() {
    let mut gdb = connect().await;
    gdb.set_breakpoint(START_PC + 0x40).await.unwrap();
    assert!(gdb.halt_reason().await.unwrap().signal().is_some());
    assert_eq!(gdb.breakpoints().len(), 1);
    let stop = gdb
        .continue_until_stop(Duration::from_secs(10))
        .await
        .unwrap();
    assert!(stop.signal().unwrap().swbreak, "{stop:?}");
    gdb.remove_all_breakpoints().await.unwrap();
    assert!(gdb.breakpoints().is_empty());
}

#[tokio::test]
async fn rsp_watchpoint_reports_the_address() {
    let mut gdb = connect().await;
    let counter_hart1 = COUNTER_BASE + 8;
    gdb.set_watchpoint(BreakpointType::WriteWatch, counter_hart1, 8)
        .await
        .unwrap();
    let stop = gdb
        .continue_until_stop(Duration::from_secs(10))
        .await
        .unwrap();
    let sig = stop.signal().expect("a signal stop");
    let watch = sig.watch.expect("watch: in the stop reply");
    assert_eq!(watch.kind, Wk::Write);
    assert_eq!(watch.addr, counter_hart1);
    assert_eq!(stop.thread(), Some(ThreadId::qemu_hart(1)));
    gdb.remove_breakpoint(BreakpointType::WriteWatch, counter_hart1, 8)
        .await
        .unwrap();
}

#[tokio::test]
async fn rsp_interrupt_a_running_target() {
    let mut gdb = connect().await;
    gdb.resume().await.unwrap();
    assert!(gdb.is_running());
    match gdb.wait_for_stop(Duration::from_millis(200)).await {
        Err(RspError::Timeout { waiting_for, .. }) => {
            assert!(waiting_for.contains("stop reply"), "{waiting_for}")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        gdb.is_running(),
        "a stop-wait timeout leaves the target running"
    );
    assert!(matches!(
        gdb.read_register("pc").await,
        Err(RspError::TargetRunning { .. })
    ));
    let stop = gdb.interrupt_and_wait().await.unwrap();
    assert!(stop.is_interrupt(), "{stop:?}");
    assert!(!gdb.is_running());
    assert!(gdb.read_register_u64("pc").await.unwrap().unwrap() > START_PC);
    assert!(matches!(gdb.interrupt().await, Err(RspError::NotRunning)));
}

#[tokio::test]
async fn rsp_monitor_command_text() {
    let mut gdb = connect().await;
    let text = gdb.monitor("info registers").await.unwrap();
    assert!(text.contains("CPU#0") && text.contains("CPU#1"), "{text}");
    assert!(text.contains(&format!("{START_PC:016x}")), "{text}");
}

#[tokio::test]
async fn rsp_exit_ends_the_session() {
    let mut gdb = connect().await;
    gdb.select_register_thread(ThreadId::qemu_hart(0))
        .await
        .unwrap();
    gdb.write_register("pc", EXIT_PC - 8).await.unwrap();
    let stop = gdb
        .continue_until_stop(Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        stop,
        StopReply::Exited {
            status: 0,
            pid: None
        },
        "{stop:?}"
    );
    assert!(matches!(
        gdb.read_register("pc").await,
        Err(RspError::Broken(_))
    ));
}

#[tokio::test]
async fn rsp_transcript_shows_recent_packets() {
    let mut gdb = connect().await;
    gdb.read_memory(RAM_BASE, 4).await.unwrap();
    let t = gdb.transcript();
    assert!(t.iter().any(|l| l.starts_with("> m80000000,4")), "{t:?}");
    assert!(t.iter().any(|l| l == "< 33040500"), "{t:?}");
}

/// A watchpoint stop that leaves another hart on a breakpoint: both stops
/// are recorded. Hart 0 steps onto the breakpoint at START_PC + 4 and, in
/// the same batch, hart 1's first step writes its watched counter: QEMU-like,
/// the stop reply names hart 1's watchpoint only. The debug session used to
/// record the watchpoint and resume, and the client's step-over then moved
/// hart 0 off its breakpoint unrecorded.
#[tokio::test]
async fn a_watchpoint_stop_does_not_lose_a_breakpoint_stop() {
    use hvharness::debug::{DebugSession, Event};
    use hvharness::scenario::Scenario;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("fake.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[machine]
cpu = "rv64,h=true"
smp = 2
[[console]]
name = "console"
attach = "serial"
milestones = ["never"]
[[breakpoint]]
at = "{bp:#x}"
[[breakpoint]]
at = "{watch:#x}"
watch = "write"
len = 8
hart = 1
max_hits = 1
"#,
            bp = START_PC + 4,
            watch = COUNTER_BASE + 8
        ),
    )
    .expect("write the scenario");
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"));
    let elfs = std::sync::Arc::new(scenario.load_elfs().expect("no ELF files to read"));
    let addr = serve(Fake::new());
    let mut session = DebugSession::attach(addr, &scenario, "10.0.2".parse().unwrap(), elfs)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    session.resume().await.unwrap();
    let mut records = Vec::new();
    for _ in 0..20 {
        match session.poll(Duration::from_millis(200)).await.unwrap() {
            Event::Stopped(r) => records.extend(r),
            Event::Running => {}
            Event::Exited => break,
        }
        if records.len() >= 2 {
            break;
        }
    }
    let seen: Vec<(String, u32, u64)> = records
        .iter()
        .map(|r| (r.breakpoint.clone(), r.hart, r.pc))
        .collect();
    let watch_at = format!("{:#x}", COUNTER_BASE + 8);
    let bp_at = format!("{:#x}", START_PC + 4);
    assert!(
        seen.iter().any(|(b, h, _)| *b == watch_at && *h == 1),
        "the watchpoint stop: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(b, h, pc)| *b == bp_at && *h == 0 && *pc == START_PC + 4),
        "the breakpoint stop beside it: {seen:?}"
    );
    let bp = session
        .breakpoints()
        .iter()
        .find(|b| b.spec.at == bp_at)
        .expect("the breakpoint");
    assert_eq!(bp.hits, 1, "counted once, not again after the step-off");
    session.interrupt().await.unwrap();
}

/// A debug session on the fake with the automatic arming point: the
/// scenario lists `milestones` (addresses) as its boot path and breaks at
/// `target` without `arm_after`. Runs until `enough` says so or the fake
/// exits; the session and the stops recorded.
async fn auto_armed_session(
    milestones: &[u64],
    target: u64,
    enough: impl Fn(&hvharness::debug::DebugSession, usize) -> bool,
) -> (
    hvharness::debug::DebugSession,
    Vec<hvharness::debug::StopRecord>,
) {
    use hvharness::debug::{DebugSession, Event};
    use hvharness::scenario::Scenario;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("fake.toml");
    let list: Vec<String> = milestones.iter().map(|m| format!("\"{m:#x}\"")).collect();
    std::fs::write(
        &path,
        format!(
            r#"milestone_symbols = [{}]
[machine]
cpu = "rv64,h=true"
smp = 2
[[console]]
name = "console"
attach = "serial"
milestones = ["never"]
[[breakpoint]]
at = "{target:#x}"
once_per_hart = true
dump = []
"#,
            list.join(", ")
        ),
    )
    .expect("write the scenario");
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"));
    let elfs = std::sync::Arc::new(scenario.load_elfs().expect("no ELF files to read"));
    let mut session = DebugSession::attach(
        serve(Fake::new()),
        &scenario,
        "10.0.2".parse().unwrap(),
        elfs,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    session.resume().await.unwrap();
    let mut records = Vec::new();
    for _ in 0..200 {
        match session.poll(Duration::from_millis(100)).await.unwrap() {
            Event::Stopped(r) => records.extend(r),
            Event::Running => {}
            Event::Exited => break,
        }
        if enough(&session, records.len()) {
            break;
        }
    }
    (session, records)
}

/// The arming point is the earlier milestone on another page; hart 1 (0x100
/// ahead) reaches it first while hart 0 runs on a page with no waiting
/// breakpoint, so it arms the breakpoint at once and leaves: both harts
/// then stop at the breakpoint, and the trigger's stop is never recorded.
#[tokio::test]
async fn auto_arming_arms_at_the_first_trigger_stop_and_stops_every_hart() {
    let (trigger, target) = (START_PC + 0x1000, START_PC + 0x2000);
    let (mut session, records) =
        auto_armed_session(&[START_PC + 0x800, trigger, target], target, |_, n| n >= 2).await;
    let chosen = session.auto_arming().to_vec();
    assert_eq!(chosen.len(), 1);
    assert_eq!(
        chosen[0].after.as_deref(),
        Some("0x80001000"),
        "{}",
        chosen[0]
    );
    let seen: Vec<(String, u32)> = records
        .iter()
        .map(|r| (r.breakpoint.clone(), r.hart))
        .collect();
    assert_eq!(
        seen,
        [("0x80002000".to_string(), 1), ("0x80002000".to_string(), 0)],
        "the breakpoint on both harts, nothing at the trigger"
    );
    let point = session
        .breakpoints()
        .iter()
        .find(|b| b.arming_point)
        .expect("the hidden trigger");
    assert_eq!(point.counted_harts, [1], "armed at the first hart's stop");
    assert!(
        !point.inserted,
        "the trigger left the target once it had armed"
    );
    let bp = &session.breakpoints()[0];
    assert!(bp.armed_at_secs.is_some() && !bp.pending);
    session.interrupt().await.unwrap();
}

/// When another hart is running on the waiting breakpoint's page at the
/// first trigger stop, the first hart is held at the trigger until the other
/// arrives there too: the breakpoint goes in only then. (The boot order is
/// broken on purpose here, the breakpoint before the trigger, so that hart 0
/// is on its page when hart 1 reaches the trigger.)
#[tokio::test]
async fn auto_arming_holds_while_another_hart_runs_on_the_page() {
    let (trigger, target) = (START_PC + 0x1040, START_PC + 0xf80);
    let (mut session, _) = auto_armed_session(&[trigger, target], target, |s, _| {
        s.breakpoints()
            .iter()
            .any(|b| b.arming_point && b.counted_harts.len() == 2)
    })
    .await;
    let point = session
        .breakpoints()
        .iter()
        .find(|b| b.arming_point)
        .expect("the hidden trigger");
    assert_eq!(point.counted_harts, [1, 0], "hart 1 held until hart 0 came");
    assert!(!point.inserted);
    assert!(session.breakpoints()[0].inserted, "armed after both");
    session.interrupt().await.unwrap();
}
