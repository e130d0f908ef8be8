//! A fake RISC-V target served by the `gdbstub` crate over loopback TCP, for
//! the RSP client's and the debug session's unit tests.
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

use crate::rsp::{RspClient, RspConfig};

pub(crate) const RAM_BASE: u64 = 0x8000_0000;
pub(crate) const RAM_SIZE: usize = 64 * 1024;
pub(crate) const START_PC: u64 = 0x8000_0000;
/// Each hart stores its step count here (+8 per hart) after every step.
pub(crate) const COUNTER_BASE: u64 = 0x8000_8000;
/// A hart reaching this pc ends the "process" (`W00`).
pub(crate) const EXIT_PC: u64 = 0x8000_f000;
/// QEMU's wire base for CSRs with `-cpu rv64,h=true`.
pub(crate) const QEMU_CSR_BASE: usize = 66;
/// A CSR that the description lists but the fake cannot read (like QEMU's `E14`).
pub(crate) const UNAVAILABLE_CSR: u16 = 0x7a0; // tselect
/// How long a fake run may last before it gives up by itself.
pub(crate) const MAX_RUN: Duration = Duration::from_secs(30);

pub(crate) const MSTATUS: u16 = 0x300;
pub(crate) const MISA: u16 = 0x301;
pub(crate) const MENVCFG: u16 = 0x30a;
pub(crate) const HENVCFG: u16 = 0x60a;

fn qemu_xml_files() -> BTreeMap<&'static str, &'static str> {
    let mut m = BTreeMap::new();
    m.insert(
        "target.xml",
        include_str!("testdata/qemu-10.0.2/target.xml"),
    );
    m.insert(
        "riscv-64bit-cpu.xml",
        include_str!("testdata/qemu-10.0.2/riscv-64bit-cpu.xml"),
    );
    m.insert(
        "riscv-64bit-fpu.xml",
        include_str!("testdata/qemu-10.0.2/riscv-64bit-fpu.xml"),
    );
    m.insert(
        "riscv-64bit-virtual.xml",
        include_str!("testdata/qemu-10.0.2/riscv-64bit-virtual.xml"),
    );
    m.insert(
        "riscv-csr.xml",
        include_str!("testdata/qemu-10.0.2/riscv-csr.xml"),
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

pub(crate) struct Fake {
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
    /// The next single step ends, before its hart moves, in the next hart's
    /// breakpoint stop (two harts' events taken in the other order).
    pub(crate) preempt_next_step: bool,
    /// A hart continued alone (the others left stopped) does not move: it
    /// waits for one of them.
    pub(crate) stall_alone: bool,
}

fn tid_of(hart: usize) -> Tid {
    NonZeroUsize::new(hart + 1).expect("hart + 1 is never zero")
}

impl Fake {
    pub(crate) fn new() -> Fake {
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
            preempt_next_step: false,
            stall_alone: false,
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
                if std::mem::take(&mut self.preempt_next_step) {
                    let other = (i + 1) % self.harts.len();
                    self.last_hart = other;
                    return Some(MultiThreadStopReason::SwBreak(tid_of(other)));
                }
                return Some(self.step_hart(i).unwrap_or(MultiThreadStopReason::DoneStep));
            }
        }
        if self.stall_alone && self.scheduler_locked {
            return None;
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
pub(crate) fn serve(fake: Fake) -> std::net::SocketAddr {
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

pub(crate) fn config() -> RspConfig {
    RspConfig {
        reply_timeout: Duration::from_secs(5),
        ..RspConfig::default()
    }
}

pub(crate) async fn connect() -> RspClient {
    let addr = serve(Fake::new());
    RspClient::connect(addr, config())
        .await
        .expect("connect to the fake target")
}
