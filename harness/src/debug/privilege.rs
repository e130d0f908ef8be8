//! A stopped hart's privilege level and V, and where V came from.
//!
//! QEMU's `priv` register shows V (bit 2) from 10.0 on
//! ([`quirks::PRIV_SHOWS_V`]); older versions read 1 in VS-mode as in HS-mode.
//! Where `priv` cannot tell, the monitor's `info registers` for that CPU has
//! a `V = 0|1` line on H-capable harts.
//!
//! A hart without the H extension (misa bit 7 clear, e.g. `-cpu rv64`) has
//! no V at all: its supervisor mode is plain S, not HS, whatever the version.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use regex::Regex;
use serde::Serialize;

use crate::qemu::{quirks, QemuVersion};
use crate::riscv::{Level, PrivilegeLevel};
use crate::rsp::{RspClient, ThreadId};

/// Where the V of a stop's privilege came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VirtSource {
    /// The `priv` register itself (bit 2 on QEMU >= 10.0; M-mode is always V=0).
    Priv,
    /// The monitor's `info registers` V line (QEMU < 10.0, where `priv` hides V).
    Monitor,
    /// Nothing could tell (no V line, misa unreadable).
    Unknown,
    /// The hart has no H extension (misa.H clear): there is no V, S is S.
    NoHypervisor,
    /// The hart wrote a hypervisor- or machine-level CSR, which only V=0
    /// can (QEMU < 10.0, instead of the monitor; see [`at_hypervisor_write`]).
    #[serde(rename = "completed write")]
    CompletedWrite,
}

impl VirtSource {
    /// `from monitor`, for snapshots and reports; `None` when `priv` itself says it.
    pub(crate) fn note(self) -> Option<&'static str> {
        match self {
            VirtSource::Priv => None,
            VirtSource::Monitor => Some("from monitor"),
            VirtSource::Unknown => Some("unknown"),
            VirtSource::NoHypervisor => Some("no H extension"),
            VirtSource::CompletedWrite => Some("from the completed write"),
        }
    }
}

/// Reads the privilege level and V of a stopped hart.
pub async fn privilege_of(
    rsp: &mut RspClient,
    thread: ThreadId,
    version: QemuVersion,
) -> Result<PrivilegeLevel> {
    Ok(privilege_with_source(rsp, thread, version).await?.0)
}

/// Per hart, whether it has the H extension (misa bit 7), read at its first
/// stop only: QEMU ignores writes to misa by default (`misa_w` off), so its
/// extensions stay as `-cpu` made them, and a stop saves a round trip.
#[derive(Debug, Default)]
pub(crate) struct HartsWithH(BTreeMap<ThreadId, bool>);

/// Reads the privilege level and V of a stopped hart, and where V came from.
pub async fn privilege_with_source(
    rsp: &mut RspClient,
    thread: ThreadId,
    version: QemuVersion,
) -> Result<(PrivilegeLevel, VirtSource)> {
    privilege_known_h(rsp, thread, version, &mut HartsWithH::default()).await
}

/// [`privilege_with_source`], with misa's H bit taken from `known` when a
/// stop read it before (and kept there when read now).
pub(crate) async fn privilege_known_h(
    rsp: &mut RspClient,
    thread: ThreadId,
    version: QemuVersion,
    known: &mut HartsWithH,
) -> Result<(PrivilegeLevel, VirtSource)> {
    let p = read_priv(rsp, thread).await?;
    if p.virt.is_some() || p.level == Level::Machine {
        return Ok((p, VirtSource::Priv));
    }
    // Without H, "V=0" would make S-mode read as HS: leave V out.
    let with_h = match known.0.get(&thread) {
        Some(h) => Some(*h),
        None => {
            let read = rsp.read_register_u64("misa").await?.map(has_h);
            if let Some(h) = read {
                known.0.insert(thread, h);
            }
            read
        }
    };
    if with_h == Some(false) {
        return Ok((p, VirtSource::NoHypervisor));
    }
    if quirks::PRIV_SHOWS_V.applies(version) {
        return Ok((p.with_virt(false), VirtSource::Priv));
    }
    let hart = thread.hart_index().unwrap_or(0);
    Ok(match monitor_virt(rsp, hart).await? {
        Some(v) => (p.with_virt(v), VirtSource::Monitor),
        None => (p, VirtSource::Unknown),
    })
}

/// The privilege of `thread`, stopped at `pc` on a write of a hypervisor-
/// or machine-level CSR whose 32-bit encoding is `write`, where `priv`
/// does not show V: one `m` read instead of the monitor's `cpu N` and
/// `info registers`. Such a write completes only with V=0 (from VS or VU
/// it traps as a virtual instruction, from U as an illegal one), so a hart
/// in S-mode whose instruction at the pc, read through its own
/// translation, is that write is taken as HS: the caller confirms it with
/// the step over the write ([`super::StopRecord::confirm_completed_write`]).
/// `None` when that cannot be told this way (U-mode, other bytes at the
/// pc, memory unreadable): ask [`privilege_known_h`].
pub(crate) async fn at_hypervisor_write(
    rsp: &mut RspClient,
    thread: ThreadId,
    pc: u64,
    write: u32,
) -> Result<Option<(PrivilegeLevel, VirtSource)>> {
    let p = read_priv(rsp, thread).await?;
    if p.level == Level::Machine {
        return Ok(Some((p, VirtSource::Priv)));
    }
    if p.level != Level::Supervisor || rsp.physical_memory_mode() {
        return Ok(None);
    }
    match rsp.read_memory(pc, 4).await {
        Ok(bytes) if bytes == write.to_le_bytes() => {
            Ok(Some((p.with_virt(false), VirtSource::CompletedWrite)))
        }
        Ok(_) | Err(crate::rsp::RspError::ErrorReply { .. }) => Ok(None),
        Err(e) => Err(e).context("reading the instruction at a traced CSR write"),
    }
}

/// V from `info registers` of CPU `hart`, when the CPU has the H extension.
async fn monitor_virt(rsp: &mut RspClient, hart: usize) -> Result<Option<bool>> {
    let text = rsp
        .monitor_on_cpu(hart, "info registers")
        .await
        .with_context(|| format!("monitor: info registers of cpu {hart}"))?;
    Ok(parse_virt_line(&text))
}

/// misa bit 7: the H extension.
fn has_h(misa: u64) -> bool {
    misa & (1 << (b'H' - b'A')) != 0
}

fn parse_virt_line(text: &str) -> Option<bool> {
    let re = Regex::new(r"(?m)^\s*V\s*=\s*([01])\s*$").ok()?;
    re.captures(text).map(|c| &c[1] == "1")
}

/// `thread`'s privilege as the gdbstub's `priv` register gives it.
async fn read_priv(rsp: &mut RspClient, thread: ThreadId) -> Result<PrivilegeLevel> {
    rsp.select_register_thread(thread).await?;
    let raw = rsp
        .read_register_u64("priv")
        .await?
        .context("the priv register is unavailable")?;
    Ok(PrivilegeLevel::from_qemu_priv(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_v_line() {
        let text = " pc       0000000080200000\n mhartid  0000000000000001\n V      =   1\n mstatus  0000000a00000000\n";
        assert_eq!(parse_virt_line(text), Some(true));
        assert_eq!(parse_virt_line(" V      =   0\n"), Some(false));
        assert_eq!(parse_virt_line(" pc 0\n"), None);
    }

    #[test]
    fn misa_h_bit() {
        // RV64 IMAFDC with S and U, without and with H.
        assert!(!has_h(0x8000_0000_0014_112d));
        assert!(has_h(0x8000_0000_0014_11ad));
    }
}
