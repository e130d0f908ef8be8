//! Registers: `p`, `P` and `g`.
//!
//! GDB manual, "Packets": `p n` reads register `n` (hex), answered with its
//! bytes in target order as hex, `xx` pairs marking unavailable bytes, or
//! `E NN`. `P n=r...` writes one. `g` reads "all" registers as one hex string in
//! register-number order; QEMU's riscv stub sends only the 33 core registers
//! (x0..x31, pc), so everything else needs `p`/`P`. Register numbers come from
//! the target description ([`crate::rsp::tdesc`]), never from constants.
//!
//! QEMU answers `E14` for a CSR its description lists but the CPU cannot read
//! now; that is [`RegisterValue::Unavailable`], not an error. QEMU < 9.0 answers
//! `p` with an empty reply until target.xml was fetched. `p` reads the hart
//! chosen with `Hg` (see [`crate::rsp::commands::threads`]).

use tokio::io::{AsyncRead, AsyncWrite};

use crate::rsp::client::{check_reply, error_code, short_command, RspClient};
use crate::rsp::commands::threads::ThreadId;
use crate::rsp::error::{Result, RspError};
use crate::rsp::hex;
use crate::rsp::tdesc::RegisterInfo;

/// The QEMU error number for "cannot access" (`E14`).
pub(crate) const E_UNAVAILABLE: u8 = 0x14;

/// A register's content, or the stub's word that it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterValue {
    /// Bytes in target order (little-endian on RISC-V).
    Available(Vec<u8>),
    /// Listed, but the target cannot supply it (`E14`, or `xx` bytes).
    Unavailable,
}

impl RegisterValue {
    /// The value as a number, if available and at most 8 bytes wide.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            RegisterValue::Available(b) => hex::le_to_u64(b),
            RegisterValue::Unavailable => None,
        }
    }

    /// True when available.
    pub fn is_available(&self) -> bool {
        matches!(self, RegisterValue::Available(_))
    }
}

/// Parses a `p` reply body: hex bytes, or all `x` for unavailable.
pub fn parse_register_reply(reply: &[u8]) -> Option<RegisterValue> {
    if reply.is_empty() || !reply.len().is_multiple_of(2) {
        return None;
    }
    if reply.iter().all(|&b| b == b'x') {
        return Some(RegisterValue::Unavailable);
    }
    if reply.contains(&b'x') {
        // Partly unavailable: treat the register as unavailable.
        return reply
            .iter()
            .all(|b| b.is_ascii_hexdigit() || *b == b'x')
            .then_some(RegisterValue::Unavailable);
    }
    hex::decode(reply).map(RegisterValue::Available)
}

/// Splits a `g` reply into one value per register, by the widths given
/// (stopping where the reply ends; `xx` bytes make that register unavailable).
pub fn split_g_reply(reply: &[u8], widths: &[usize]) -> Option<Vec<RegisterValue>> {
    if !reply.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::new();
    let mut at = 0;
    for &w in widths {
        let end = at + 2 * w;
        if end > reply.len() {
            break;
        }
        out.push(parse_register_reply(&reply[at..end])?);
        at = end;
    }
    Some(out)
}

/// A prefetched `p` reply worth keeping for the stop: a value, or `E14`
/// (unavailable). Anything else is left to the read that follows.
fn value_to_keep(reply: &[u8]) -> Option<RegisterValue> {
    match error_code(reply) {
        Some(E_UNAVAILABLE) => Some(RegisterValue::Unavailable),
        Some(_) => None,
        None => parse_register_reply(reply),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RspClient<S> {
    /// Looks a register up in the fetched target description.
    pub(crate) fn register_info(&self, name: &str) -> Result<RegisterInfo> {
        let d = self.tdesc.as_ref().ok_or(RspError::NoTargetDescription)?;
        d.register(name)
            .cloned()
            .ok_or_else(|| RspError::UnknownRegister {
                name: name.to_string(),
                near: d.near_names(name),
            })
    }

    /// Reads register `regnum` with `p` (on the hart selected by `Hg`).
    /// `E14` and `xx` give [`RegisterValue::Unavailable`].
    /// A register already read at this stop is not read again.
    pub async fn read_register_number(&mut self, regnum: u64) -> Result<RegisterValue> {
        let hart = self.register_thread;
        if let Some(v) = hart.and_then(|t| self.read_at_this_stop(t, regnum)) {
            return Ok(v);
        }
        let value = self.request_register(regnum).await?;
        if let Some(t) = hart {
            self.stop_registers.push((t, regnum, value.clone()));
        }
        Ok(value)
    }

    /// The value of `regnum` on `thread` read since the target last moved.
    fn read_at_this_stop(&self, thread: ThreadId, regnum: u64) -> Option<RegisterValue> {
        self.stop_registers
            .iter()
            .find(|(t, n, _)| *t == thread && *n == regnum)
            .map(|(_, _, v)| v.clone())
    }

    /// Reads `names` of `thread` at once where two or more are still to
    /// read at this stop: their `p` requests go out together and the
    /// replies come back in one wait (`Connection::exchange_pipelined`),
    /// into the stop's cache, where the reads that follow find them. A
    /// name the description does not list, or a reply other than a value
    /// or `E14`, is left to that read (which reports it).
    pub(crate) async fn prefetch_registers(
        &mut self,
        thread: ThreadId,
        names: &[&str],
    ) -> Result<()> {
        let mut wanted: Vec<u64> = Vec::new();
        for name in names {
            if let Ok(info) = self.register_info(name) {
                let n = info.regnum;
                if self.read_at_this_stop(thread, n).is_none() && !wanted.contains(&n) {
                    wanted.push(n);
                }
            }
        }
        if wanted.len() < 2 {
            return Ok(());
        }
        self.select_register_thread(thread).await?;
        let commands: Vec<String> = wanted.iter().map(|n| format!("p{n:x}")).collect();
        let replies = self.exchange(&commands).await?;
        for (n, reply) in wanted.into_iter().zip(replies) {
            if let Some(value) = value_to_keep(&reply) {
                self.stop_registers.push((thread, n, value));
            }
        }
        Ok(())
    }

    /// Reads register `name` of each of `threads` not read at this stop,
    /// in one pipelined exchange (`Hg` and `p` per thread) where that
    /// saves a wait. Like [`RspClient::prefetch_registers`], what does not
    /// come back as a value is left to the reads that follow.
    pub(crate) async fn prefetch_register_of_threads(
        &mut self,
        name: &str,
        threads: &[ThreadId],
    ) -> Result<()> {
        let Ok(info) = self.register_info(name) else {
            return Ok(());
        };
        let n = info.regnum;
        let wanted: Vec<ThreadId> = threads
            .iter()
            .copied()
            .filter(|t| self.read_at_this_stop(*t, n).is_none())
            .collect();
        if wanted.len() < 2 {
            return Ok(());
        }
        let multiprocess = self.multiprocess();
        let current = self.register_thread;
        let mut commands = Vec::new();
        let mut selected = current;
        for t in &wanted {
            if selected != Some(*t) {
                commands.push(format!("Hg{}", t.to_wire(multiprocess)));
                selected = Some(*t);
            }
            commands.push(format!("p{n:x}"));
        }
        // Until every `Hg` is known to have taken, no choice is known.
        self.register_thread = None;
        let replies = self.exchange(&commands).await?;
        let mut selected = current;
        let mut replies = replies.into_iter();
        for command in &commands {
            let Some(reply) = replies.next() else { break };
            if let Some(wire) = command.strip_prefix("Hg") {
                selected = match reply == b"OK" {
                    true => wanted
                        .iter()
                        .copied()
                        .find(|t| t.to_wire(multiprocess) == wire),
                    false => None,
                };
                continue;
            }
            if let (Some(t), Some(value)) = (selected, value_to_keep(&reply)) {
                self.stop_registers.push((t, n, value));
            }
        }
        self.register_thread = selected;
        Ok(())
    }

    /// `p`: one register of the hart `Hg` selected.
    async fn request_register(&mut self, regnum: u64) -> Result<RegisterValue> {
        let command = format!("p{regnum:x}");
        let reply = self.request(&command).await?;
        if error_code(&reply) == Some(E_UNAVAILABLE) {
            return Ok(RegisterValue::Unavailable);
        }
        let reply = check_reply(&command, reply)?;
        parse_register_reply(&reply)
            .ok_or_else(|| RspError::bad_reply(&command, "expected register bytes in hex", &reply))
    }

    /// Reads a register by its target-description name (`pc`, `mstatus`,
    /// `henvcfg`, `priv` ...).
    pub async fn read_register(&mut self, name: &str) -> Result<RegisterValue> {
        let info = self.register_info(name)?;
        self.read_register_number(info.regnum).await
    }

    /// Reads a register of at most 64 bits as a number; `None` when unavailable.
    pub async fn read_register_u64(&mut self, name: &str) -> Result<Option<u64>> {
        let value = self.read_register(name).await?;
        match &value {
            RegisterValue::Unavailable => Ok(None),
            RegisterValue::Available(bytes) => hex::le_to_u64(bytes).map(Some).ok_or_else(|| {
                RspError::bad_reply(
                    &format!("p ({name})"),
                    "value wider than 64 bits",
                    hex::encode(bytes).as_bytes(),
                )
            }),
        }
    }

    /// Selects `thread` with `Hg`, then reads a register (neither when it
    /// was read at this stop already).
    pub async fn read_thread_register(
        &mut self,
        thread: ThreadId,
        name: &str,
    ) -> Result<RegisterValue> {
        let regnum = self.register_info(name)?.regnum;
        if let Some(v) = self.read_at_this_stop(thread, regnum) {
            return Ok(v);
        }
        self.select_register_thread(thread).await?;
        self.read_register(name).await
    }

    /// Writes a register with `P n=bytes` (value as many little-endian bytes as the register has).
    pub async fn write_register(&mut self, name: &str, value: u64) -> Result<()> {
        let info = self.register_info(name)?;
        self.write_register_bytes(name, &hex::u64_to_le(value, info.byte_len()))
            .await
    }

    /// Writes a register from raw bytes (target order).
    pub async fn write_register_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let info = self.register_info(name)?;
        let command = format!("P{:x}={}", info.regnum, hex::encode(bytes));
        match self.request_ok(&command).await {
            Err(RspError::ErrorReply {
                code: E_UNAVAILABLE,
                ..
            }) => Err(RspError::Unavailable {
                register: name.to_string(),
            }),
            other => other,
        }
    }

    /// Reads the `g` block and names each value with the description's
    /// registers numbered 0, 1, 2 ... (QEMU riscv: x0..x31 and pc).
    pub async fn read_core_registers(&mut self) -> Result<Vec<(String, RegisterValue)>> {
        let d = self.tdesc.as_ref().ok_or(RspError::NoTargetDescription)?;
        let mut layout = Vec::new();
        let mut n = 0u64;
        while let Some(r) = d.register_by_number(n) {
            layout.push((r.name.clone(), r.byte_len()));
            n += 1;
        }
        let reply = self.request_checked("g").await?;
        let widths: Vec<usize> = layout.iter().map(|(_, w)| *w).collect();
        let values = split_g_reply(&reply, &widths)
            .ok_or_else(|| RspError::bad_reply("g", "expected register bytes in hex", &reply))?;
        if values.is_empty() {
            return Err(RspError::bad_reply(
                &short_command("g"),
                "no complete register",
                &reply,
            ));
        }
        Ok(layout
            .into_iter()
            .map(|(name, _)| name)
            .zip(values)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rsp::client::RspConfig;
    use crate::rsp::packet::frame;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    /// A stub that acks every packet, answers `p` with a value and anything
    /// else with `OK`, and returns the commands it got once the client hangs up.
    async fn stub(mut io: DuplexStream) -> Vec<String> {
        let mut got = Vec::new();
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while io.read_exact(&mut byte).await.is_ok() {
            match byte[0] {
                b'$' => buf.clear(),
                b'#' => {
                    let mut cs = [0u8; 2];
                    if io.read_exact(&mut cs).await.is_err() {
                        break;
                    }
                    let command = String::from_utf8_lossy(&buf).to_string();
                    let reply = match command.starts_with('p') {
                        true => "2a00000000000000",
                        false => "OK",
                    };
                    let mut out = b"+".to_vec();
                    out.extend(frame(reply.as_bytes()));
                    if io.write_all(&out).await.is_err() {
                        break;
                    }
                    got.push(command);
                }
                b'+' => {}
                b => buf.push(b),
            }
        }
        got
    }

    #[tokio::test]
    async fn a_register_is_read_once_per_stop() {
        let (near, far) = tokio::io::duplex(4096);
        let server = tokio::spawn(stub(far));
        let mut client = RspClient::from_stream(near, RspConfig::default());
        let hart = ThreadId::qemu_hart(1);
        client.select_register_thread(hart).await.unwrap();
        for _ in 0..3 {
            let v = client.read_register_number(0x20).await.unwrap();
            assert_eq!(v.as_u64(), Some(0x2a));
        }
        // Another hart's copy is its own.
        client
            .select_register_thread(ThreadId::qemu_hart(2))
            .await
            .unwrap();
        client.read_register_number(0x20).await.unwrap();
        client.select_register_thread(hart).await.unwrap();
        client.read_register_number(0x20).await.unwrap();
        // A write may change it: read again after one.
        client.request_ok("P20=0100000000000000").await.unwrap();
        client.read_register_number(0x20).await.unwrap();
        drop(client);
        let got = server.await.unwrap();
        let reads = got.iter().filter(|c| c.as_str() == "p20").count();
        assert_eq!(reads, 3, "{got:?}");
    }

    #[test]
    fn register_replies() {
        assert_eq!(
            parse_register_reply(b"0010000000000000").unwrap().as_u64(),
            Some(0x1000)
        );
        assert_eq!(
            parse_register_reply(b"xxxxxxxxxxxxxxxx"),
            Some(RegisterValue::Unavailable)
        );
        assert_eq!(
            parse_register_reply(b"00xx"),
            Some(RegisterValue::Unavailable)
        );
        assert_eq!(parse_register_reply(b""), None);
        assert_eq!(parse_register_reply(b"0"), None);
        assert_eq!(parse_register_reply(b"zz"), None);
        assert_eq!(RegisterValue::Available(vec![1; 16]).as_u64(), None);
    }

    #[test]
    fn g_reply_split() {
        let mut g = "00".repeat(8 * 32);
        g.push_str("0010000000000000");
        let v = split_g_reply(g.as_bytes(), &[8; 40]).unwrap();
        assert_eq!(v.len(), 33);
        assert_eq!(v[32].as_u64(), Some(0x1000));
        assert!(split_g_reply(b"000", &[8]).is_none());
    }
}
