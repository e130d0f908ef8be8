//! The error type of the RSP client.
//!
//! Every way a conversation with a stub can go wrong has its own variant, so a
//! caller can decide what to do: a [`RspError::Timeout`] while waiting for a stop
//! reply means "the target is still running", an [`RspError::ErrorReply`] is the
//! stub saying no (`E NN`), [`RspError::Malformed`] is a broken or hostile peer.
//! A register that the target description lists but the target cannot read is
//! not an error at all: see [`super::RegisterValue::Unavailable`].
//!
//! A cause (an I/O error, a target-description error) is part of the message
//! and not also returned by `source()`: a `{:#}` chain prints it once, and
//! the text a broken connection keeps ([`RspError::Broken`]) still has it.

use std::fmt;
use std::time::Duration;

/// What was wrong with bytes received from the stub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MalformedKind {
    /// The two hex digits after `#` do not match the modulo-256 sum of the payload.
    BadChecksum {
        /// Checksum the packet carried (`None` when its digits were not hex).
        received: Option<u8>,
        /// Checksum computed over the payload as received.
        computed: u8,
    },
    /// A packet grew past the configured limit before its `#` arrived (or its
    /// run-length expansion did).
    Oversize {
        /// The limit in bytes.
        limit: usize,
    },
    /// A `*` run-length marker with nothing to repeat, or a count character out of range.
    BadRunLength {
        /// Offset of the `*` in the raw payload.
        offset: usize,
    },
    /// A `}` escape at the end of binary data.
    BadEscape,
    /// Bytes outside any packet where only `+`, `-`, `$` or `%` may appear.
    Garbage {
        /// The first unexpected byte (later ones up to the next packet start are skipped).
        byte: u8,
    },
    /// A `$` inside a packet: the packet before it never got its `#` checksum.
    Restarted,
    /// The stream ended in the middle of a packet.
    Truncated,
    /// A well-framed packet whose content does not parse as the reply expected.
    BadReply {
        /// What was wrong.
        detail: String,
        /// The payload, lossily decoded and shortened for display.
        reply: String,
    },
}

impl fmt::Display for MalformedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MalformedKind::BadChecksum {
                received: Some(r),
                computed,
            } => {
                write!(
                    f,
                    "bad checksum: packet says {r:02x}, payload sums to {computed:02x}"
                )
            }
            MalformedKind::BadChecksum {
                received: None,
                computed,
            } => {
                write!(
                    f,
                    "checksum digits are not hex (payload sums to {computed:02x})"
                )
            }
            MalformedKind::Oversize { limit } => {
                write!(f, "packet larger than the {limit}-byte limit")
            }
            MalformedKind::BadRunLength { offset } => {
                write!(f, "invalid run-length encoding at payload offset {offset}")
            }
            MalformedKind::BadEscape => write!(f, "binary data ends with a lone '}}' escape"),
            MalformedKind::Garbage { byte } => {
                write!(f, "unexpected byte 0x{byte:02x} between packets")
            }
            MalformedKind::Restarted => {
                write!(f, "a new packet started before the previous one ended")
            }
            MalformedKind::Truncated => write!(f, "stream ended inside a packet"),
            MalformedKind::BadReply { detail, reply } => write!(f, "{detail}: {reply:?}"),
        }
    }
}

/// Errors of the RSP client.
#[derive(Debug, thiserror::Error)]
pub enum RspError {
    /// A bounded wait ran out. `waiting_for` says for what (an ack, the reply to a
    /// named command, a stop reply ...).
    #[error("timed out after {:.3} s waiting for {waiting_for}", .timeout.as_secs_f64())]
    Timeout {
        /// What was being waited for.
        waiting_for: String,
        /// How long the wait was.
        timeout: Duration,
    },
    /// The stub answered `E NN`.
    #[error("target answered {command:?} with error E{code:02x}")]
    ErrorReply {
        /// The command (or a short form of it) that was refused.
        command: String,
        /// The error number (QEMU: 0x0e = EFAULT-like "unreadable", 0x16 = EINVAL ...).
        code: u8,
    },
    /// The stub answered with an empty packet: it does not know the command.
    #[error("target does not support {command:?} (empty reply)")]
    Unsupported {
        /// The command.
        command: String,
    },
    /// A register listed in the target description that the target could not
    /// write (`E14` or `xx` on a read is reported as
    /// [`super::RegisterValue::Unavailable`] instead).
    #[error(
        "register {register} is listed in the target description but unavailable on this target"
    )]
    Unavailable {
        /// Register name.
        register: String,
    },
    /// Bytes from the stub that break the protocol.
    #[error("malformed data from the target while waiting for {context}: {kind}")]
    Malformed {
        /// What was being waited for when it arrived.
        context: String,
        /// What was wrong.
        kind: MalformedKind,
    },
    /// The stub rejected (`-`) a packet more often than the retransmit limit allows.
    #[error("target rejected packet {command:?} {attempts} times (checksum NAK)")]
    TooManyRetransmits {
        /// The command.
        command: String,
        /// How many times it was sent.
        attempts: u32,
    },
    /// The stub closed the connection.
    #[error("target closed the connection while waiting for {context}")]
    ConnectionClosed {
        /// What was being waited for.
        context: String,
    },
    /// An I/O error on the socket.
    #[error("I/O error on the gdbstub connection while {context}: {error}")]
    Io {
        /// What was being done.
        context: String,
        /// The error (in the message, not a `source()`).
        error: std::io::Error,
    },
    /// A request other than an interrupt while the target runs (QEMU would pause
    /// the VM without a stop reply, so the client refuses).
    #[error("target is running: only an interrupt (0x03) or waiting for the stop reply is allowed, not {command:?}")]
    TargetRunning {
        /// The refused command.
        command: String,
    },
    /// Waiting for a stop reply while the target is not running.
    #[error("target is not running: nothing to wait for")]
    NotRunning,
    /// A register name that the target description does not list.
    #[error("register {name:?} is not in the target description{}", near_list(.near))]
    UnknownRegister {
        /// The name asked for.
        name: String,
        /// Names in the description that look close.
        near: Vec<String>,
    },
    /// A register operation before any target description was loaded.
    #[error(
        "no target description loaded: fetch target.xml first ({} answers p/P only after that)",
        crate::qemu::quirks::P_NEEDS_TARGET_XML.with().in_words()
    )]
    NoTargetDescription,
    /// The target description XML could not be fetched or understood.
    #[error("target description: {0}")]
    TargetDescription(super::tdesc::TdescError),
    /// An earlier failure left the byte stream in an unknown state (a reply could
    /// still arrive and be taken for the answer to a later request).
    #[error("connection unusable after an earlier error ({0}); reconnect")]
    Broken(String),
}

impl From<super::tdesc::TdescError> for RspError {
    fn from(e: super::tdesc::TdescError) -> RspError {
        RspError::TargetDescription(e)
    }
}

fn near_list(near: &[String]) -> String {
    if near.is_empty() {
        String::new()
    } else {
        format!(" (near matches: {})", near.join(", "))
    }
}

impl RspError {
    /// Shorthand for a [`MalformedKind::BadReply`].
    pub(crate) fn bad_reply(command: &str, detail: impl Into<String>, reply: &[u8]) -> RspError {
        RspError::Malformed {
            context: format!("the reply to {command:?}"),
            kind: MalformedKind::BadReply {
                detail: detail.into(),
                reply: shorten(reply),
            },
        }
    }

    /// True for a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RspError::Timeout { .. })
    }
}

/// Lossy, bounded rendering of a payload for messages.
pub fn shorten(bytes: &[u8]) -> String {
    const MAX: usize = 120;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]).into_owned();
    if bytes.len() > MAX {
        format!("{text}... ({} bytes)", bytes.len())
    } else {
        text
    }
}

/// Result alias of this module.
pub type Result<T, E = RspError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Each cause once in a `{:#}` chain: in the message, not as a source.
    #[test]
    fn causes_are_printed_once() {
        let io = RspError::Io {
            context: "sending \"g\"".into(),
            error: std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer"),
        };
        let tdesc = RspError::from(super::super::tdesc::TdescError::MissingFile {
            file: "riscv-64bit-csr.xml".into(),
        });
        for (e, cause) in [(io, "reset by peer"), (tdesc, "riscv-64bit-csr.xml")] {
            assert!(std::error::Error::source(&e).is_none(), "{e}");
            let chain = format!("{:#}", anyhow::Error::new(e).context("attaching"));
            assert_eq!(chain.matches(cause).count(), 1, "{chain}");
        }
    }
}
