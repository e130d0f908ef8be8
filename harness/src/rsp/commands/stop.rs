//! Stop replies: what the stub says when the target halts.
//!
//! GDB manual, "Stop Reply Packets":
//! - `S AA`: stopped with signal AA.
//! - `T AA n1:r1;n2:r2;...`: the same with details. `n` is a register number
//!   (hex, value `r` in target byte order) or a name: `thread`, `core`,
//!   `watch`/`rwatch`/`awatch` (the data address that triggered a watchpoint),
//!   `swbreak`, `hwbreak`, and others this client keeps as they are.
//! - `W AA[;process:pid]`: the process exited with status AA;
//!   `X AA[;process:pid]`: it was killed by signal AA.
//! - `w AA;tid`: a thread exited; `N`: no resumed threads remain.
//! - `O XX...`: console output (hex), sent before the real stop reply.
//!
//! QEMU sends `T05thread:p01.01;` for a breakpoint or a step,
//! `T05watch:ADDR;thread:...;`-style replies for watchpoints, `T02thread:...;`
//! after an interrupt (0x03), and `W00` when the VM shuts down.

use crate::rsp::commands::threads::ThreadId;
use crate::rsp::hex;

/// SIGINT: the stop after an interrupt (0x03).
pub const SIGINT: u8 = 2;
/// SIGTRAP: breakpoint, watchpoint or single step.
pub const SIGTRAP: u8 = 5;

/// Which watchpoint fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchKind {
    /// `watch`: write.
    Write,
    /// `rwatch`: read.
    Read,
    /// `awatch`: access.
    Access,
}

/// A watchpoint hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchHit {
    /// Read, write or access.
    pub kind: WatchKind,
    /// The data address.
    pub addr: u64,
}

/// The details of an `S`/`T` stop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopSignal {
    /// The signal number (5 = SIGTRAP, 2 = SIGINT).
    pub(crate) signal: u8,
    /// `thread:` (QEMU: the hart that stopped).
    pub(crate) thread: Option<ThreadId>,
    /// `core:`
    pub(crate) core: Option<u64>,
    /// `watch:`/`rwatch:`/`awatch:`
    pub watch: Option<WatchHit>,
    /// `swbreak:` present.
    pub swbreak: bool,
    /// `hwbreak:` present.
    pub(crate) hwbreak: bool,
    /// Register values sent along (`n:r` with hex `n`), bytes in target order.
    pub(crate) registers: Vec<(u64, Vec<u8>)>,
    /// Any other `name:value` pairs.
    pub(crate) other: Vec<(String, String)>,
}

/// A stop reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReply {
    /// `S`/`T`: the target halted.
    Signal(StopSignal),
    /// `W`: exited with a status.
    Exited {
        /// Exit status.
        status: u8,
        /// `process:` part.
        pid: Option<u64>,
    },
    /// `X`: terminated by a signal.
    Terminated {
        /// The signal.
        signal: u8,
        /// `process:` part.
        pid: Option<u64>,
    },
    /// `w AA;tid`: one thread exited.
    ThreadExited {
        /// Exit status.
        status: u8,
        /// The thread.
        thread: Option<ThreadId>,
    },
    /// `N`: no resumed thread is left.
    NoResumed,
}

impl StopReply {
    /// The `S`/`T` details, if this is one.
    pub fn signal(&self) -> Option<&StopSignal> {
        match self {
            StopReply::Signal(s) => Some(s),
            _ => None,
        }
    }

    /// The thread that stopped, if the stub said.
    pub fn thread(&self) -> Option<ThreadId> {
        self.signal().and_then(|s| s.thread)
    }

    /// True for SIGTRAP (breakpoint, watchpoint, step).
    pub fn is_trap(&self) -> bool {
        self.signal().is_some_and(|s| s.signal == SIGTRAP)
    }

    /// True for SIGINT (after an interrupt).
    pub fn is_interrupt(&self) -> bool {
        self.signal().is_some_and(|s| s.signal == SIGINT)
    }

    /// True when the target is gone (`W`, `X`).
    pub fn is_exit(&self) -> bool {
        matches!(
            self,
            StopReply::Exited { .. } | StopReply::Terminated { .. }
        )
    }

    /// Parses a stop reply. `None` if the packet is not one (including `O` output).
    pub fn parse(reply: &[u8]) -> Option<StopReply> {
        let (&kind, rest) = reply.split_first()?;
        match kind {
            b'S' => {
                let signal = parse_byte(rest)?;
                Some(StopReply::Signal(StopSignal {
                    signal,
                    ..StopSignal::default()
                }))
            }
            b'T' => parse_t(rest).map(StopReply::Signal),
            b'W' | b'X' => {
                let (code, tail) = split_at_semicolon(rest);
                let code = parse_byte(code)?;
                let pid = match tail {
                    None => None,
                    Some(t) => Some(hex::parse_u64(t.strip_prefix(b"process:")?)?),
                };
                Some(if kind == b'W' {
                    StopReply::Exited { status: code, pid }
                } else {
                    StopReply::Terminated { signal: code, pid }
                })
            }
            b'w' => {
                let (code, tail) = split_at_semicolon(rest);
                Some(StopReply::ThreadExited {
                    status: parse_byte(code)?,
                    thread: tail.and_then(ThreadId::parse),
                })
            }
            b'N' if rest.is_empty() => Some(StopReply::NoResumed),
            _ => None,
        }
    }
}

fn split_at_semicolon(text: &[u8]) -> (&[u8], Option<&[u8]>) {
    match text.iter().position(|&b| b == b';') {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    }
}

fn parse_byte(text: &[u8]) -> Option<u8> {
    if text.len() != 2 {
        return None;
    }
    hex::decode(text).map(|v| v[0])
}

fn parse_t(rest: &[u8]) -> Option<StopSignal> {
    if rest.len() < 2 {
        return None;
    }
    let mut stop = StopSignal {
        signal: parse_byte(&rest[..2])?,
        ..StopSignal::default()
    };
    for pair in rest[2..].split(|&b| b == b';').filter(|p| !p.is_empty()) {
        let colon = pair.iter().position(|&b| b == b':')?;
        let (name, value) = (&pair[..colon], &pair[colon + 1..]);
        match name {
            b"thread" => stop.thread = Some(ThreadId::parse(value)?),
            b"core" => stop.core = Some(hex::parse_u64(value)?),
            b"watch" | b"rwatch" | b"awatch" => {
                let kind = match name {
                    b"watch" => WatchKind::Write,
                    b"rwatch" => WatchKind::Read,
                    _ => WatchKind::Access,
                };
                stop.watch = Some(WatchHit {
                    kind,
                    addr: hex::parse_u64(value)?,
                });
            }
            b"swbreak" => stop.swbreak = true,
            b"hwbreak" => stop.hwbreak = true,
            _ if name.iter().all(u8::is_ascii_hexdigit) => {
                stop.registers
                    .push((hex::parse_u64(name)?, hex::decode(value)?));
            }
            _ => stop.other.push((
                String::from_utf8_lossy(name).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            )),
        }
    }
    Some(stop)
}

/// Decodes an `O XX...` console-output packet (not `OK`).
pub(crate) fn parse_console_output(reply: &[u8]) -> Option<Vec<u8>> {
    let rest = reply.strip_prefix(b"O")?;
    if rest.is_empty() {
        return None;
    }
    hex::decode(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn qemu_stop_replies() {
        let s = StopReply::parse(b"T05thread:p01.01;").unwrap();
        assert!(s.is_trap());
        assert_eq!(s.thread(), Some(ThreadId::qemu_hart(0)));
        let s = StopReply::parse(b"T02thread:p01.02;").unwrap();
        assert!(s.is_interrupt());
        assert_eq!(s.thread().unwrap().hart_index(), Some(1));
        let s = StopReply::parse(b"T05watch:80001000;thread:p01.01;").unwrap();
        assert_eq!(
            s.signal().unwrap().watch,
            Some(WatchHit {
                kind: WatchKind::Write,
                addr: 0x8000_1000
            })
        );
        let s = StopReply::parse(b"T05thread:p01.02;awatch:10;").unwrap();
        assert_eq!(s.signal().unwrap().watch.unwrap().kind, WatchKind::Access);
        assert_eq!(
            StopReply::parse(b"S05"),
            Some(StopReply::Signal(StopSignal {
                signal: 5,
                ..Default::default()
            }))
        );
        assert_eq!(
            StopReply::parse(b"W00"),
            Some(StopReply::Exited {
                status: 0,
                pid: None
            })
        );
        assert_eq!(
            StopReply::parse(b"X09;process:1"),
            Some(StopReply::Terminated {
                signal: 9,
                pid: Some(1)
            })
        );
        assert!(StopReply::parse(b"W00").unwrap().is_exit());
        assert_eq!(StopReply::parse(b"N"), Some(StopReply::NoResumed));
        assert!(matches!(
            StopReply::parse(b"w00;p1.2"),
            Some(StopReply::ThreadExited {
                status: 0,
                thread: Some(_)
            })
        ));
    }

    #[test]
    fn gdbstub_style_details() {
        let s = StopReply::parse(b"T05swbreak:;thread:p01.01;core:0;20:0010000000000000;library:;")
            .unwrap();
        let sig = s.signal().unwrap();
        assert!(sig.swbreak && !sig.hwbreak);
        assert_eq!(sig.core, Some(0));
        assert_eq!(sig.registers, vec![(0x20, vec![0, 0x10, 0, 0, 0, 0, 0, 0])]);
        assert_eq!(sig.other, vec![("library".to_string(), String::new())]);
    }

    #[test]
    fn not_stop_replies() {
        for bad in [
            &b""[..],
            b"OK",
            b"O4142",
            b"T5",
            b"Tzz",
            b"S5",
            b"W",
            b"W00;pid:1",
            b"T05thread",
            b"T05thread:zz;",
            b"E14",
            b"Nx",
        ] {
            assert_eq!(
                StopReply::parse(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse_console_output(b"O4142"), Some(b"AB".to_vec()));
        assert_eq!(parse_console_output(b"OK"), None);
        assert_eq!(parse_console_output(b"O"), None);
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = StopReply::parse(&bytes);
            let _ = parse_console_output(&bytes);
        }

        #[test]
        fn thread_and_signal_round_trip(sig in any::<u8>(), hart in 0usize..64) {
            let t = ThreadId::qemu_hart(hart);
            let text = format!("T{sig:02x}thread:{t};");
            let s = StopReply::parse(text.as_bytes()).unwrap();
            prop_assert_eq!(s.signal().unwrap().signal, sig);
            prop_assert_eq!(s.thread(), Some(t));
        }
    }
}
