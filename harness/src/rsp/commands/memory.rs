//! Memory: `m`, `M`, and QEMU's physical-memory mode.
//!
//! GDB manual, "Packets": `m addr,length` reads, answered with hex bytes (maybe
//! fewer than asked) or `E NN`; `M addr,length:XX...` writes, answered `OK`.
//! QEMU refuses reads over 2048 bytes (`E22`) and answers `E14` for an address
//! it cannot translate or read, so reads go in chunks of
//! [`crate::rsp::RspConfig::memory_chunk`].
//!
//! QEMU-specific ("General Query Packets" allow vendor prefixes):
//! `qqemu.Supported` lists `sstepbits;sstep;PhyMemMode`, and
//! `Qqemu.PhyMemMode:1` makes `m`/`M` use physical addresses until
//! `Qqemu.PhyMemMode:0`. Virtual reads go through the current translation
//! (both stages while V=1) with the guest's own permission checks: on a page
//! whose PTE has A=0 they fail, so read code and page tables physically.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::rsp::client::{check_reply, RspClient};
use crate::rsp::error::{Result, RspError};
use crate::rsp::hex;

/// Builds `m ADDR,LEN`.
pub(crate) fn read_command(addr: u64, len: usize) -> String {
    format!("m{addr:x},{len:x}")
}

/// Builds `M ADDR,LEN:DATA`.
pub(crate) fn write_command(addr: u64, data: &[u8]) -> String {
    format!("M{addr:x},{:x}:{}", data.len(), hex::encode(data))
}

impl<S: AsyncRead + AsyncWrite + Unpin> RspClient<S> {
    fn read_chunk_len(&self) -> usize {
        // The reply carries two hex digits per byte and must fit a packet.
        self.config
            .memory_chunk
            .min(self.packet_size().saturating_sub(8) / 2)
            .max(1)
    }

    /// Reads `len` bytes at `addr` (virtual, or physical in physical mode).
    /// A short reply is continued from where it stopped; an error reply is
    /// [`RspError::ErrorReply`] naming the failing chunk.
    pub async fn read_memory(&mut self, addr: u64, len: usize) -> Result<Vec<u8>> {
        let chunk = self.read_chunk_len();
        let mut out = Vec::with_capacity(len.min(1 << 20));
        while out.len() < len {
            let at = addr.wrapping_add(out.len() as u64);
            let want = chunk.min(len - out.len());
            let command = read_command(at, want);
            let reply = self.request(&command).await?;
            let reply = check_reply(&command, reply)?;
            let bytes = hex::decode(&reply).ok_or_else(|| {
                RspError::bad_reply(&command, "expected memory bytes in hex", &reply)
            })?;
            if bytes.len() > want {
                return Err(RspError::bad_reply(
                    &command,
                    "more bytes than asked for",
                    &reply,
                ));
            }
            out.extend_from_slice(&bytes);
        }
        Ok(out)
    }

    /// Writes `data` at `addr` with `M`, in chunks that fit the stub's packet size.
    pub async fn write_memory(&mut self, addr: u64, data: &[u8]) -> Result<()> {
        let chunk =
            (self.packet_size().saturating_sub(40) / 2).clamp(1, self.config.memory_chunk.max(1));
        for (i, piece) in data.chunks(chunk).enumerate() {
            let command = write_command(addr.wrapping_add((i * chunk) as u64), piece);
            self.request_ok(&command).await?;
        }
        Ok(())
    }

    /// QEMU's `qqemu.Supported` list (cached; empty when the stub is not QEMU).
    pub async fn qemu_supported(&mut self) -> Result<Vec<String>> {
        if let Some(f) = &self.qemu_features {
            return Ok(f.clone());
        }
        let reply = self.request("qqemu.Supported").await?;
        let list: Vec<String> = if crate::rsp::client::error_code(&reply).is_some() {
            Vec::new()
        } else {
            String::from_utf8_lossy(&reply)
                .split(';')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        self.qemu_features = Some(list.clone());
        Ok(list)
    }

    /// Switches QEMU's physical-memory mode (`Qqemu.PhyMemMode:1` / `:0`).
    pub async fn set_physical_memory_mode(&mut self, physical: bool) -> Result<()> {
        if !self
            .qemu_supported()
            .await?
            .iter()
            .any(|f| f == "PhyMemMode")
        {
            return Err(RspError::Unsupported {
                command: "Qqemu.PhyMemMode (not in qqemu.Supported)".into(),
            });
        }
        self.request_ok(if physical {
            "Qqemu.PhyMemMode:1"
        } else {
            "Qqemu.PhyMemMode:0"
        })
        .await?;
        self.physical_memory = physical;
        Ok(())
    }

    /// True while `m`/`M` use physical addresses.
    pub fn physical_memory_mode(&self) -> bool {
        self.physical_memory
    }

    /// Reads physical memory, switching the mode on and back off around the read
    /// (restored even when the read fails with an error reply).
    pub async fn read_physical_memory(&mut self, addr: u64, len: usize) -> Result<Vec<u8>> {
        let was = self.physical_memory;
        if !was {
            self.set_physical_memory_mode(true).await?;
        }
        let r = self.read_memory(addr, len).await;
        if !was && self.broken.is_none() {
            self.set_physical_memory_mode(false).await?;
        }
        r
    }

    /// Writes physical memory, like [`RspClient::read_physical_memory`].
    pub async fn write_physical_memory(&mut self, addr: u64, data: &[u8]) -> Result<()> {
        let was = self.physical_memory;
        if !was {
            self.set_physical_memory_mode(true).await?;
        }
        let r = self.write_memory(addr, data).await;
        if !was && self.broken.is_none() {
            self.set_physical_memory_mode(false).await?;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(read_command(0x8000_0000, 2048), "m80000000,800");
        assert_eq!(write_command(0x10, &[0xde, 0xad]), "M10,2:dead");
    }
}
