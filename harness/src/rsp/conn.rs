//! The byte stream under the client: sending packets with acknowledgments and
//! retransmission, receiving them with bounded waits.
//!
//! GDB manual, "Overview" and "Packet Acknowledgment": each packet is answered
//! with `+`, or `-` to ask for it again. The client here retransmits a NAKed
//! packet at most `max_retransmits` times and NAKs a reply with a bad checksum
//! at most as often, then gives up with a typed error. After a successful
//! `QStartNoAckMode` neither side acknowledges anything (QEMU does not offer
//! it, so against QEMU acks stay on).

use std::collections::VecDeque;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::error::{MalformedKind, Result, RspError};
use super::packet::{self, Decoder, Frame};

/// Size of one socket read.
const READ_CHUNK: usize = 8192;

/// Framing and acks over any byte stream (a `TcpStream`, or a `tokio::io::duplex` in tests).
#[derive(Debug)]
pub(crate) struct Connection<S> {
    stream: S,
    decoder: Decoder,
    /// Frames decoded but not consumed yet (at most one read's worth).
    pending: VecDeque<std::result::Result<Frame, MalformedKind>>,
    /// Wire bytes of the last packet sent (for a `-`).
    last_sent: Vec<u8>,
    pub(crate) no_ack: bool,
    pub(crate) max_retransmits: u32,
    eof: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub(crate) fn new(stream: S, max_packet_len: usize, max_retransmits: u32) -> Connection<S> {
        Connection {
            stream,
            decoder: Decoder::new(max_packet_len),
            pending: VecDeque::new(),
            last_sent: Vec::new(),
            no_ack: false,
            max_retransmits,
            eof: false,
        }
    }

    /// Writes raw bytes, bounded by `timeout`.
    pub(crate) async fn write_raw(
        &mut self,
        bytes: &[u8],
        what: &str,
        timeout: Duration,
    ) -> Result<()> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(RspError::Io {
                context: format!("sending {what}"),
                error,
            }),
            Err(_) => Err(RspError::Timeout {
                waiting_for: format!("the socket to accept {what}"),
                timeout,
            }),
        }
    }

    /// The next frame, reading from the socket as needed, until `deadline`.
    async fn next_frame(
        &mut self,
        deadline: Instant,
        waiting_for: &str,
        timeout: Duration,
    ) -> Result<Frame> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return item.map_err(|kind| RspError::Malformed {
                    context: waiting_for.to_string(),
                    kind,
                });
            }
            if self.eof {
                return Err(RspError::ConnectionClosed {
                    context: waiting_for.to_string(),
                });
            }
            let mut buf = [0u8; READ_CHUNK];
            let n = match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => {
                    return Err(RspError::Timeout {
                        waiting_for: waiting_for.to_string(),
                        timeout,
                    })
                }
                Ok(Err(error)) => {
                    return Err(RspError::Io {
                        context: format!("waiting for {waiting_for}"),
                        error,
                    });
                }
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                self.eof = true;
                if !self.decoder.is_idle() {
                    return Err(RspError::Malformed {
                        context: waiting_for.to_string(),
                        kind: MalformedKind::Truncated,
                    });
                }
                return Err(RspError::ConnectionClosed {
                    context: waiting_for.to_string(),
                });
            }
            for &b in &buf[..n] {
                if let Some(item) = self.decoder.push(b) {
                    self.pending.push_back(item);
                }
            }
        }
    }

    /// Sends one packet and waits for its `+` (retransmitting on `-`).
    pub(crate) async fn send_packet(
        &mut self,
        payload: &[u8],
        what: &str,
        timeout: Duration,
    ) -> Result<()> {
        let wire = packet::frame(payload);
        self.write_raw(&wire, what, timeout).await?;
        self.last_sent = wire;
        if self.no_ack {
            return Ok(());
        }
        let deadline = Instant::now() + timeout;
        let waiting_for = format!("the acknowledgment of {what}");
        let mut attempts = 1u32;
        loop {
            match self.next_frame(deadline, &waiting_for, timeout).await? {
                Frame::Ack => return Ok(()),
                Frame::Nack => {
                    if attempts > self.max_retransmits {
                        return Err(RspError::TooManyRetransmits {
                            command: what.to_string(),
                            attempts,
                        });
                    }
                    attempts += 1;
                    let wire = self.last_sent.clone();
                    self.write_raw(&wire, what, timeout).await?;
                }
                // A reply before the ack: take it as the ack and keep the reply.
                frame @ Frame::Packet(_) => {
                    self.pending.push_front(Ok(frame));
                    return Ok(());
                }
                Frame::Notification(_) => {}
            }
        }
    }

    /// Receives the next packet (acknowledging it), until `timeout` runs out.
    /// Stray `+` are skipped; a `-` makes us resend our last packet; a packet
    /// with a bad checksum is NAKed a bounded number of times.
    pub(crate) async fn recv_packet(
        &mut self,
        waiting_for: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut bad_checksums = 0u32;
        let mut resent = 0u32;
        loop {
            match self.next_frame(deadline, waiting_for, timeout).await {
                Ok(Frame::Packet(payload)) => {
                    if !self.no_ack {
                        self.write_raw(&[packet::ACK], "an acknowledgment", timeout)
                            .await?;
                    }
                    return Ok(payload);
                }
                Ok(Frame::Ack) | Ok(Frame::Notification(_)) => {}
                Ok(Frame::Nack) => {
                    if self.no_ack || self.last_sent.is_empty() {
                        continue;
                    }
                    resent += 1;
                    if resent > self.max_retransmits {
                        return Err(RspError::TooManyRetransmits {
                            command: super::error::shorten(&self.last_sent),
                            attempts: resent,
                        });
                    }
                    let wire = self.last_sent.clone();
                    self.write_raw(&wire, "a retransmission", timeout).await?;
                }
                Err(RspError::Malformed {
                    kind: kind @ MalformedKind::BadChecksum { .. },
                    context,
                }) => {
                    bad_checksums += 1;
                    if self.no_ack || bad_checksums > self.max_retransmits {
                        return Err(RspError::Malformed { context, kind });
                    }
                    self.write_raw(&[packet::NACK], "a retransmission request", timeout)
                        .await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends every packet of `payloads` at once and receives their replies,
    /// in order: one wait for all instead of one per packet. The stub
    /// answers packets in the order they arrive (QEMU's gdbstub does: one
    /// byte stream, one packet at a time). Without retransmission: a `-`
    /// or a reply with a bad checksum cannot be matched to its packet once
    /// later ones are on the way, so either fails the exchange (neither
    /// happens on a TCP stream, which checks its bytes itself).
    pub(crate) async fn exchange_pipelined(
        &mut self,
        payloads: &[String],
        timeout: Duration,
    ) -> Result<Vec<Vec<u8>>> {
        let wire: Vec<u8> = payloads
            .iter()
            .flat_map(|p| packet::frame(p.as_bytes()))
            .collect();
        let what = format!("{} pipelined requests", payloads.len());
        self.write_raw(&wire, &what, timeout).await?;
        self.last_sent.clear();
        let deadline = Instant::now() + timeout;
        let mut replies = Vec::with_capacity(payloads.len());
        while replies.len() < payloads.len() {
            let waiting_for = format!("the reply to {:?}", payloads[replies.len()]);
            match self.next_frame(deadline, &waiting_for, timeout).await? {
                Frame::Packet(payload) => {
                    if !self.no_ack {
                        self.write_raw(&[packet::ACK], "an acknowledgment", timeout)
                            .await?;
                    }
                    replies.push(payload);
                }
                Frame::Ack | Frame::Notification(_) => {}
                Frame::Nack => {
                    return Err(RspError::TooManyRetransmits {
                        command: format!("{} (pipelined: not resent)", payloads[replies.len()]),
                        attempts: 1,
                    })
                }
            }
        }
        Ok(replies)
    }

    /// Sends the raw interrupt byte (0x03), outside any packet.
    pub(crate) async fn send_interrupt(&mut self, timeout: Duration) -> Result<()> {
        self.write_raw(&[packet::INTERRUPT], "the interrupt byte 0x03", timeout)
            .await
    }
}
