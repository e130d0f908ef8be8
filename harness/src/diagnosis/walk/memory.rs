//! Reading the target's memory for the walk and the backtrace: physical
//! memory over the gdbstub, and a context's virtual addresses through its
//! page tables.

use std::collections::HashMap;
use std::ops::Range;

use tokio::io::{AsyncRead, AsyncWrite};

use super::{translate, Regime};
use crate::diagnosis::PhysMemory;
use crate::qemu::virt_map::VIRT_DRAM;
use crate::riscv::Access;
use crate::rsp::{RspClient, RspError};

/// Memory at the addresses of the context that trapped (virtual when its
/// translation is on), 8 bytes at a time; `None` when unmapped or unreadable.
#[allow(async_fn_in_trait)]
pub trait VirtMemory {
    async fn read_u64(&mut self, address: u64) -> anyhow::Result<Option<u64>>;
}

/// Reads a context's virtual addresses through its page tables, both stages,
/// ignoring permissions and A/D (the debugger's view, not the hart's).
/// Translations are cached per 4 KiB page.
pub struct Translated<'m, M> {
    pub(super) mem: &'m mut M,
    regime: Regime,
    pages: HashMap<u64, Option<u64>>,
}

impl<'m, M: PhysMemory> Translated<'m, M> {
    /// Reads through `regime` (from [`Regime::from_context`]).
    pub fn new(mem: &'m mut M, regime: Regime) -> Self {
        Translated {
            mem,
            regime,
            pages: HashMap::new(),
        }
    }

    /// The physical address of `address`, if both stages map it.
    pub async fn physical(&mut self, address: u64) -> anyhow::Result<Option<u64>> {
        let page = address & !0xfff;
        let base = match self.pages.get(&page) {
            Some(b) => *b,
            None => {
                let t = translate(&self.regime, page, Access::Load, &mut *self.mem).await?;
                self.pages.insert(page, t.physical);
                t.physical
            }
        };
        Ok(base.map(|b| b | (address & 0xfff)))
    }
}

impl<M: PhysMemory> VirtMemory for Translated<'_, M> {
    async fn read_u64(&mut self, address: u64) -> anyhow::Result<Option<u64>> {
        if address & 0xfff > 0xff8 {
            // Crosses a page: two translations, two reads.
            let mut bytes = [0u8; 8];
            for (i, b) in bytes.iter_mut().enumerate() {
                let a = address.wrapping_add(i as u64);
                let Some(p) = self.physical(a).await? else {
                    return Ok(None);
                };
                let Some(word) = self.mem.read_u64(p & !7).await? else {
                    return Ok(None);
                };
                *b = (word >> ((p & 7) * 8)) as u8;
            }
            return Ok(Some(u64::from_le_bytes(bytes)));
        }
        match self.physical(address).await? {
            Some(p) => self.mem.read_u64(p).await,
            None => Ok(None),
        }
    }
}

/// Physical memory of a target read over its gdbstub, in QEMU's
/// physical-memory mode (`Qqemu.PhyMemMode:1`, switched back after each
/// read), 8 bytes at a time.
///
/// Only addresses inside the readable ranges are read ([`VIRT_DRAM`] unless
/// [`RspPhysMemory::with_readable`] says otherwise); others are `None`,
/// so a garbage page-table entry never makes the debugger read a device
/// register (reads of a UART's receive buffer have side effects). QEMU's
/// physical mode reads unassigned addresses as zeros rather than failing,
/// so give the machine's RAM (`-m`) here to have reads beyond it reported
/// as unreadable instead of as zero (invalid) entries. An `E14` reply is
/// also `None`.
pub struct RspPhysMemory<'c, S = tokio::net::TcpStream> {
    rsp: &'c mut RspClient<S>,
    readable: Vec<Range<u64>>,
}

impl<'c, S> RspPhysMemory<'c, S> {
    /// Reads through `rsp` (the target must be stopped), inside [`VIRT_DRAM`].
    pub fn new(rsp: &'c mut RspClient<S>) -> Self {
        RspPhysMemory {
            rsp,
            readable: vec![VIRT_DRAM],
        }
    }

    /// Reads only inside `ranges` (for example the ROM and RAM of the machine).
    pub fn with_readable(mut self, ranges: Vec<Range<u64>>) -> Self {
        self.readable = ranges;
        self
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> PhysMemory for RspPhysMemory<'_, S> {
    async fn read_u64(&mut self, addr: u64) -> anyhow::Result<Option<u64>> {
        let end = addr.checked_add(8);
        if !self
            .readable
            .iter()
            .any(|r| addr >= r.start && end.is_some_and(|e| e <= r.end))
        {
            return Ok(None);
        }
        match self.rsp.read_physical_memory(addr, 8).await {
            Ok(bytes) => {
                let b: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                    anyhow::anyhow!(
                        "physical read at {addr:#x} gave {} bytes, not 8",
                        bytes.len()
                    )
                })?;
                Ok(Some(u64::from_le_bytes(b)))
            }
            Err(RspError::ErrorReply { code: 0x0e, .. }) => Ok(None),
            Err(e) => {
                Err(anyhow::Error::new(e).context(format!("reading physical memory at {addr:#x}")))
            }
        }
    }
}
