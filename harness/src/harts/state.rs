//! The registers of every hart, read over the gdbstub while the target is
//! stopped: one [`HartState`] per hart, the raw material of the stuck-hart
//! choice ([`super::stuck`]) and of the diagnosis.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use crate::debug::privilege_of;
use crate::qemu::QemuVersion;
use crate::riscv::PrivilegeLevel;
use crate::rsp::RspClient;

/// The registers a diagnosis reads at a stopped hart, when the target has them.
pub(crate) const CONTEXT_CSRS: &[&str] = &[
    "mstatus", "sstatus", "hstatus", "vsstatus", "medeleg", "mideleg", "hedeleg", "hideleg",
    "satp", "vsatp", "hgatp", "menvcfg", "henvcfg", "senvcfg", "stvec", "vstvec", "scause", "sepc",
    "stval", "htval", "htinst", "vscause", "vsepc", "vstval", "mcause", "mepc", "mtval",
];

/// The interrupt registers the interrupt rules read, when the target has them.
pub(crate) const INTERRUPT_CSRS: &[&str] = &["mip", "mie", "hip", "hie", "hvip", "vsie", "vsip"];

/// The timer compare registers (Sstc), read beside the interrupt registers
/// where the target description offers them. QEMU does not: stimecmp and
/// vstimecmp are absent from the gdbstub's `riscv-csr.xml` of 7.2.22, 8.0.2,
/// 9.2.0 and 10.0.2 (`-cpu rv64,h=true`, with or without `sstc=true`; menvcfg
/// and henvcfg are there), and from the monitor's `info registers`.
pub(crate) const TIMER_CSRS: &[&str] = &["stimecmp", "vstimecmp"];

/// The counter-enable registers the counters rule reads.
pub(crate) const COUNTEREN_CSRS: &[&str] = &["mcounteren", "hcounteren", "scounteren"];

/// What a hart is doing now, read at the stop.
#[derive(Debug, Clone)]
pub struct HartState {
    pub(crate) hart: u32,
    pub(crate) pc: u64,
    pub(crate) privilege: PrivilegeLevel,
    pub(crate) csrs: BTreeMap<String, u64>,
    /// ra, sp and s0 (the frame pointer), for a backtrace.
    pub(crate) ra: u64,
    pub(crate) sp: u64,
    pub(crate) fp: u64,
}

/// Reads every hart's state (the target must be stopped).
pub(crate) async fn read_harts(
    rsp: &mut RspClient,
    version: QemuVersion,
) -> Result<Vec<HartState>> {
    let threads = rsp.threads().await.context("listing harts")?;
    let mut out = Vec::new();
    for thread in threads {
        let hart = thread.hart_index().unwrap_or(0) as u32;
        let privilege = privilege_of(rsp, thread, version).await?;
        rsp.select_register_thread(thread).await?;
        let mut csrs = BTreeMap::new();
        let interrupts = INTERRUPT_CSRS.iter();
        for name in CONTEXT_CSRS
            .iter()
            .chain(interrupts)
            .chain(TIMER_CSRS)
            .chain(COUNTEREN_CSRS)
        {
            if rsp
                .target_description()
                .is_some_and(|t| t.register(name).is_some())
            {
                if let Some(v) = rsp
                    .read_register_u64(name)
                    .await
                    .with_context(|| format!("reading {name}"))?
                {
                    csrs.insert(name.to_string(), v);
                }
            }
        }
        let pc = rsp.read_register_u64("pc").await?.unwrap_or(0);
        let ra = rsp.read_register_u64("ra").await?.unwrap_or(0);
        let sp = rsp.read_register_u64("sp").await?.unwrap_or(0);
        // QEMU names x8 `fp` in its target description; `s0` elsewhere.
        let fp_name = if rsp
            .target_description()
            .is_some_and(|t| t.register("fp").is_some())
        {
            "fp"
        } else {
            "s0"
        };
        let fp = rsp.read_register_u64(fp_name).await?.unwrap_or(0);
        out.push(HartState {
            hart,
            pc,
            privilege,
            csrs,
            ra,
            sp,
            fp,
        });
    }
    Ok(out)
}
