//! Monitor commands: `qRcmd,HEX`.
//!
//! GDB manual, "General Query Packets", `qRcmd,command`: the command text is
//! hex-encoded; the stub may send any number of `O XX...` console-output
//! packets (hex text), then `OK`, or a final hex-encoded output, or `E NN`.
//! QEMU passes the text to its human monitor (`info registers`, `info mtree`
//! ...) and answers with `O` packets then `OK`. On riscv, `info registers`
//! prints a `V` line on H-capable CPUs.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::rsp::client::{error_code, short_command, RspClient};
use crate::rsp::commands::stop::parse_console_output;
use crate::rsp::error::{Result, RspError};
use crate::rsp::hex;

/// Builds `qRcmd,<hex of text>`.
pub(crate) fn command(text: &str) -> String {
    format!("qRcmd,{}", hex::encode(text.as_bytes()))
}

/// What one packet of a `qRcmd` answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MonitorPacket {
    /// `O XX..`: more text.
    Output(Vec<u8>),
    /// `OK`: done.
    Done,
    /// Bare hex: final text, done.
    FinalOutput(Vec<u8>),
    /// `E NN`
    Error(u8),
    /// Empty: no monitor.
    Unsupported,
}

/// Classifies one packet of a `qRcmd` answer; `None` if it is none of these.
pub(crate) fn parse_packet(reply: &[u8]) -> Option<MonitorPacket> {
    if reply.is_empty() {
        return Some(MonitorPacket::Unsupported);
    }
    if reply == b"OK" {
        return Some(MonitorPacket::Done);
    }
    if let Some(code) = error_code(reply) {
        return Some(MonitorPacket::Error(code));
    }
    if let Some(text) = parse_console_output(reply) {
        return Some(MonitorPacket::Output(text));
    }
    hex::decode(reply).map(MonitorPacket::FinalOutput)
}

/// Largest number of packets accepted for one monitor command.
const MAX_MONITOR_PACKETS: usize = 1 << 16;

impl<S: AsyncRead + AsyncWrite + Unpin> RspClient<S> {
    /// Runs a monitor command and returns its text (QEMU: `info registers`).
    pub async fn monitor(&mut self, text: &str) -> Result<String> {
        if text.trim_start().starts_with("cpu") {
            self.monitor_cpu = None;
        }
        let cmd = command(text);
        let label = format!("qRcmd ({text})");
        self.send_command(&cmd).await?;
        let mut out: Vec<u8> = Vec::new();
        for _ in 0..MAX_MONITOR_PACKETS {
            let reply = self.receive_reply(&label).await?;
            let piece = match parse_packet(&reply) {
                Some(MonitorPacket::Output(t)) => t,
                Some(MonitorPacket::FinalOutput(t)) => {
                    out.extend_from_slice(&t);
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(MonitorPacket::Done) => return Ok(String::from_utf8_lossy(&out).into_owned()),
                Some(MonitorPacket::Error(code)) => {
                    return Err(RspError::ErrorReply {
                        command: short_command(&label),
                        code,
                    })
                }
                Some(MonitorPacket::Unsupported) => {
                    return Err(RspError::Unsupported { command: label })
                }
                None => {
                    return Err(self.poison_on(RspError::bad_reply(
                        &label,
                        "expected O<hex>, OK or E NN",
                        &reply,
                    )))
                }
            };
            if out.len() + piece.len() > self.config.max_monitor_output {
                let limit = self.config.max_monitor_output;
                return Err(self.poison_on(RspError::Malformed {
                    context: format!("the output of {label}"),
                    kind: crate::rsp::error::MalformedKind::Oversize { limit },
                }));
            }
            out.extend_from_slice(&piece);
        }
        Err(self.poison_on(RspError::bad_reply(&label, "too many output packets", b"")))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RspClient<S> {
    /// Runs a monitor command on CPU `cpu` (cpu index): `cpu N` first,
    /// unless the monitor is known to be on it already (the monitor keeps
    /// its CPU from one command to the next).
    pub async fn monitor_on_cpu(&mut self, cpu: usize, text: &str) -> Result<String> {
        if self.monitor_cpu != Some(cpu) {
            self.monitor(&format!("cpu {cpu}")).await?;
            self.monitor_cpu = Some(cpu);
        }
        self.monitor(text).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets() {
        assert_eq!(
            command("info registers"),
            "qRcmd,696e666f20726567697374657273"
        );
        assert_eq!(
            parse_packet(b"O0d0a"),
            Some(MonitorPacket::Output(b"\r\n".to_vec()))
        );
        assert_eq!(parse_packet(b"OK"), Some(MonitorPacket::Done));
        assert_eq!(parse_packet(b"E01"), Some(MonitorPacket::Error(1)));
        assert_eq!(parse_packet(b""), Some(MonitorPacket::Unsupported));
        assert_eq!(
            parse_packet(b"4142"),
            Some(MonitorPacket::FinalOutput(b"AB".to_vec()))
        );
        assert_eq!(parse_packet(b"Ozz"), None);
    }
}
