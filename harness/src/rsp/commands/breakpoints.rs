//! Breakpoints and watchpoints: `Z type,addr,kind` / `z type,addr,kind`.
//!
//! GDB manual, "Packets": type 0 is a software breakpoint, 1 a hardware
//! breakpoint, 2 a write watchpoint, 3 a read watchpoint, 4 an access
//! watchpoint. For breakpoints `kind` is the instruction size (2 or 4 on
//! RISC-V); for watchpoints it is the number of bytes watched. `OK` = done,
//! empty = not supported, `E NN` = failed.
//!
//! QEMU matches breakpoints on the pc alone, whatever the privilege level or
//! V bit: a guest and a hypervisor both running near the same address both hit
//! it. QEMU keeps one copy of each breakpoint per hart; its `?` deletes the
//! copies of the current hart only (see [`crate::rsp::RspClient::halt_reason`]).
//! A hart resumed while sitting on a breakpoint reports it again at once
//! without moving: [`crate::rsp::RspClient::resume`] steps such harts over it
//! first, which is why the client keeps the list of what it inserted.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::rsp::client::RspClient;
use crate::rsp::error::Result;

/// The `Z`/`z` types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakpointType {
    /// `Z0`: software breakpoint.
    Software,
    /// `Z1`: hardware breakpoint.
    Hardware,
    /// `Z2`: write watchpoint.
    WriteWatch,
    /// `Z3`: read watchpoint.
    ReadWatch,
    /// `Z4`: access (read or write) watchpoint.
    AccessWatch,
}

impl BreakpointType {
    /// The digit after `Z`/`z`.
    pub(crate) fn code(self) -> u8 {
        match self {
            BreakpointType::Software => 0,
            BreakpointType::Hardware => 1,
            BreakpointType::WriteWatch => 2,
            BreakpointType::ReadWatch => 3,
            BreakpointType::AccessWatch => 4,
        }
    }
}

/// Builds `Z`/`z` commands.
pub(crate) fn command(insert: bool, ty: BreakpointType, addr: u64, kind: u64) -> String {
    format!(
        "{}{},{addr:x},{kind:x}",
        if insert { 'Z' } else { 'z' },
        ty.code()
    )
}

/// Instruction size used for RISC-V breakpoints (`kind` of `Z0`/`Z1`).
pub(crate) const RISCV_BREAKPOINT_KIND: u64 = 4;

impl<S: AsyncRead + AsyncWrite + Unpin> RspClient<S> {
    /// Inserts a breakpoint or watchpoint (`Z`). Inserting one that this
    /// client already inserted does nothing (QEMU would keep two copies).
    pub(crate) async fn insert_breakpoint(
        &mut self,
        ty: BreakpointType,
        addr: u64,
        kind: u64,
    ) -> Result<()> {
        if self.breakpoints.contains(&(ty, addr, kind)) {
            return Ok(());
        }
        self.request_ok(&command(true, ty, addr, kind)).await?;
        self.breakpoints.push((ty, addr, kind));
        Ok(())
    }

    /// Removes a breakpoint or watchpoint (`z`).
    pub async fn remove_breakpoint(
        &mut self,
        ty: BreakpointType,
        addr: u64,
        kind: u64,
    ) -> Result<()> {
        self.request_ok(&command(false, ty, addr, kind)).await?;
        self.breakpoints.retain(|b| *b != (ty, addr, kind));
        Ok(())
    }

    /// Removes every breakpoint and watchpoint this client inserted.
    pub async fn remove_all_breakpoints(&mut self) -> Result<()> {
        for (ty, addr, kind) in self.breakpoints.clone() {
            self.remove_breakpoint(ty, addr, kind).await?;
        }
        Ok(())
    }

    /// The breakpoints and watchpoints inserted through this client: (type, address, kind).
    pub fn breakpoints(&self) -> &[(BreakpointType, u64, u64)] {
        &self.breakpoints
    }

    /// Software breakpoint at `addr` (`Z0,addr,4`).
    pub async fn set_breakpoint(&mut self, addr: u64) -> Result<()> {
        self.insert_breakpoint(BreakpointType::Software, addr, RISCV_BREAKPOINT_KIND)
            .await
    }

    /// Removes the software breakpoint at `addr`.
    pub async fn clear_breakpoint(&mut self, addr: u64) -> Result<()> {
        self.remove_breakpoint(BreakpointType::Software, addr, RISCV_BREAKPOINT_KIND)
            .await
    }

    /// Watchpoint on `len` bytes at `addr` (`ty` one of the watch types).
    pub async fn set_watchpoint(&mut self, ty: BreakpointType, addr: u64, len: u64) -> Result<()> {
        self.insert_breakpoint(ty, addr, len).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(
            command(true, BreakpointType::Software, 0x8000_0000, 4),
            "Z0,80000000,4"
        );
        assert_eq!(
            command(false, BreakpointType::AccessWatch, 0x1000, 8),
            "z4,1000,8"
        );
        assert_eq!(command(true, BreakpointType::WriteWatch, 0, 1), "Z2,0,1");
    }
}
