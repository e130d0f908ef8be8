//! Threads: `qfThreadInfo` / `qsThreadInfo` and `Hg`.
//!
//! GDB manual, "General Query Packets": `qfThreadInfo` starts the list and
//! `qsThreadInfo` continues it; each answer is `m id,id,...`, and `l` ends it.
//! "Packets", `H op thread-id`: `Hg` chooses the thread that `g`/`p`/`P`/`m`
//! act on. Thread ids ("thread-id syntax") are hex, `-1` for all and `0` for
//! any; with the multiprocess extension they read `pPID.TID`.
//!
//! QEMU shows each hart as a thread: `p01.01` is hart 0, `p01.02` hart 1 (cpu
//! index + 1, in process 1). A stop halts every hart.

use std::fmt;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::rsp::client::RspClient;
use crate::rsp::error::{Result, RspError};
use crate::rsp::hex;

/// One part of a thread id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdPart {
    /// `-1`
    All,
    /// `0`
    Any,
    /// A positive id.
    Id(u64),
}

impl IdPart {
    fn parse(text: &[u8]) -> Option<IdPart> {
        if text == b"-1" {
            return Some(IdPart::All);
        }
        match hex::parse_u64(text)? {
            0 => Some(IdPart::Any),
            n => Some(IdPart::Id(n)),
        }
    }
}

impl fmt::Display for IdPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdPart::All => write!(f, "-1"),
            IdPart::Any => write!(f, "0"),
            IdPart::Id(n) => write!(f, "{n:x}"),
        }
    }
}

/// A thread id, with the process part when the multiprocess syntax is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId {
    /// `pPID.` part, if any.
    pub(crate) pid: Option<IdPart>,
    /// Thread part.
    pub(crate) tid: IdPart,
}

impl ThreadId {
    /// Parses `p01.02`, `p1.-1`, `2`, `-1`.
    pub(crate) fn parse(text: &[u8]) -> Option<ThreadId> {
        if let Some(rest) = text.strip_prefix(b"p") {
            match rest.iter().position(|&b| b == b'.') {
                Some(dot) => Some(ThreadId {
                    pid: Some(IdPart::parse(&rest[..dot])?),
                    tid: IdPart::parse(&rest[dot + 1..])?,
                }),
                // `pPID` alone means every thread of the process.
                None => Some(ThreadId {
                    pid: Some(IdPart::parse(rest)?),
                    tid: IdPart::All,
                }),
            }
        } else {
            Some(ThreadId {
                pid: None,
                tid: IdPart::parse(text)?,
            })
        }
    }

    /// QEMU's thread for hart `index` (cpu index): `p1.<index+1>`.
    pub fn qemu_hart(index: usize) -> ThreadId {
        ThreadId {
            pid: Some(IdPart::Id(1)),
            tid: IdPart::Id(index as u64 + 1),
        }
    }

    /// The QEMU hart index (cpu index) of this thread: tid - 1.
    pub fn hart_index(&self) -> Option<usize> {
        match self.tid {
            IdPart::Id(n) => usize::try_from(n - 1).ok(),
            _ => None,
        }
    }

    /// The form to send: `pPID.TID` when the stub speaks multiprocess, else `TID`.
    pub fn to_wire(&self, multiprocess: bool) -> String {
        match (multiprocess, self.pid) {
            (true, Some(pid)) => format!("p{pid}.{}", self.tid),
            (true, None) => format!("p1.{}", self.tid),
            (false, _) => self.tid.to_string(),
        }
    }
}

impl fmt::Display for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "p{pid}.{}", self.tid),
            None => write!(f, "{}", self.tid),
        }
    }
}

/// Parses one `qfThreadInfo`/`qsThreadInfo` answer: `Some((ids, more))`.
pub(crate) fn parse_thread_list(reply: &[u8]) -> Option<(Vec<ThreadId>, bool)> {
    match reply.split_first()? {
        (b'l', []) => Some((Vec::new(), false)),
        (&kind @ (b'm' | b'l'), rest) => {
            let ids = rest
                .split(|&b| b == b',')
                .map(ThreadId::parse)
                .collect::<Option<Vec<_>>>()?;
            Some((ids, kind == b'm'))
        }
        _ => None,
    }
}

/// Largest number of `qsThreadInfo` rounds before giving up on a stub that never says `l`.
const MAX_THREAD_LIST_ROUNDS: usize = 4096;

impl<S: AsyncRead + AsyncWrite + Unpin> RspClient<S> {
    /// Lists the threads (QEMU: one per hart, in cpu order).
    pub async fn threads(&mut self) -> Result<Vec<ThreadId>> {
        let mut all = Vec::new();
        let mut command = "qfThreadInfo";
        for _ in 0..MAX_THREAD_LIST_ROUNDS {
            let reply = self.request_checked(command).await?;
            let (ids, more) = parse_thread_list(&reply)
                .ok_or_else(|| RspError::bad_reply(command, "expected m<ids> or l", &reply))?;
            all.extend(ids);
            if !more {
                return Ok(all);
            }
            command = "qsThreadInfo";
        }
        Err(RspError::bad_reply(
            "qsThreadInfo",
            "thread list never ended",
            b"",
        ))
    }

    /// Chooses the thread (hart) that `p`, `P`, `g`, `m` and `M` act on (`Hg`).
    pub async fn select_register_thread(&mut self, thread: ThreadId) -> Result<()> {
        if self.register_thread == Some(thread) {
            return Ok(());
        }
        let command = format!("Hg{}", thread.to_wire(self.multiprocess()));
        self.register_thread = None;
        self.request_ok(&command).await?;
        self.register_thread = Some(thread);
        Ok(())
    }

    /// The thread last chosen with `Hg`, if known (a stop resets it: QEMU then
    /// points `Hg` at the hart that stopped).
    pub fn register_thread(&self) -> Option<ThreadId> {
        self.register_thread
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_ids() {
        let t = ThreadId::parse(b"p01.02").unwrap();
        assert_eq!(t, ThreadId::qemu_hart(1));
        assert_eq!(t.hart_index(), Some(1));
        assert_eq!(t.to_wire(true), "p1.2");
        assert_eq!(t.to_wire(false), "2");
        assert_eq!(t.to_string(), "p1.2");
        assert_eq!(ThreadId::parse(b"p1.-1").unwrap().tid, IdPart::All);
        assert_eq!(ThreadId::parse(b"p1").unwrap().tid, IdPart::All);
        assert_eq!(ThreadId::parse(b"0").unwrap().tid, IdPart::Any);
        assert_eq!(
            ThreadId::parse(b"-1").unwrap(),
            ThreadId {
                pid: None,
                tid: IdPart::All
            }
        );
        assert_eq!(ThreadId::parse(b"p.1"), None);
        assert_eq!(ThreadId::parse(b""), None);
        assert_eq!(ThreadId::parse(b"zz"), None);
        assert_eq!(
            ThreadId {
                pid: None,
                tid: IdPart::Any
            }
            .hart_index(),
            None
        );
    }

    #[test]
    fn thread_lists() {
        assert_eq!(
            parse_thread_list(b"mp01.01").unwrap(),
            (vec![ThreadId::qemu_hart(0)], true)
        );
        assert_eq!(parse_thread_list(b"mp01.01,p01.02").unwrap().0.len(), 2);
        assert_eq!(parse_thread_list(b"l").unwrap(), (vec![], false));
        assert_eq!(parse_thread_list(b"m"), None);
        assert_eq!(parse_thread_list(b"x"), None);
    }
}
