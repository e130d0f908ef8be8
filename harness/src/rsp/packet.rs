//! Framing: how bytes on the wire become packets and back.
//!
//! GDB manual, "Overview" (Remote Protocol): a packet is `$payload#cs`, where
//! `cs` is two lowercase hex digits, the sum of the payload bytes modulo 256.
//! The receiver answers `+` (good) or `-` (bad checksum, please retransmit)
//! unless both sides agreed on no-ack mode ("Packet Acknowledgment").
//!
//! Inside a payload four bytes are special: `$` `#` `}` `*`. Binary data escapes
//! them as `}` followed by the byte XOR 0x20 ("Binary Data"). A reply may be
//! run-length encoded: `X*n` means "X, then n-29 more copies of X", where n is a
//! printable character other than `#` and `$` ("Run-Length Encoding"). The
//! receiver expands runs first, on the whole frame; escapes are undone later,
//! only by commands whose replies carry binary data (`qXfer`).
//!
//! `%payload#cs` is an asynchronous notification ("Notification Packets"); the
//! stub sends it unprompted and it is never acknowledged. QEMU never sends one.
//!
//! [`Decoder`] is a byte-at-a-time state machine with a hard size limit: any
//! byte sequence produces frames or typed [`MalformedKind`] errors, never a
//! panic, and never holds more than the limit in memory.

use super::error::MalformedKind;

/// Starts a packet.
pub(crate) const PACKET_START: u8 = b'$';
/// Starts a notification.
pub(crate) const NOTIFICATION_START: u8 = b'%';
/// Ends the payload; two checksum digits follow.
pub(crate) const PACKET_END: u8 = b'#';
/// Escape prefix for binary data.
pub(crate) const ESCAPE: u8 = b'}';
/// Run-length marker.
pub(crate) const RUN_LENGTH: u8 = b'*';
/// Positive acknowledgment.
pub(crate) const ACK: u8 = b'+';
/// Negative acknowledgment: retransmit.
pub(crate) const NACK: u8 = b'-';
/// The interrupt byte (Ctrl-C), sent raw, outside any packet ("Interrupts").
pub(crate) const INTERRUPT: u8 = 0x03;

/// The checksum of a payload: the sum of its bytes modulo 256.
pub fn checksum(payload: &[u8]) -> u8 {
    payload.iter().fold(0u8, |sum, b| sum.wrapping_add(*b))
}

/// True for the bytes that must be escaped inside a payload.
pub(crate) fn needs_escape(byte: u8) -> bool {
    matches!(byte, PACKET_START | PACKET_END | ESCAPE | RUN_LENGTH)
}

/// Escapes `$ # } *` as `}` + (byte ^ 0x20).
pub(crate) fn escape_binary(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 8);
    for &b in data {
        if needs_escape(b) {
            out.push(ESCAPE);
            out.push(b ^ 0x20);
        } else {
            out.push(b);
        }
    }
    out
}

/// Undoes [`escape_binary`]. A lone trailing `}` is an error.
pub(crate) fn unescape_binary(data: &[u8]) -> Result<Vec<u8>, MalformedKind> {
    let mut out = Vec::with_capacity(data.len());
    let mut bytes = data.iter();
    while let Some(&b) = bytes.next() {
        if b == ESCAPE {
            match bytes.next() {
                Some(&e) => out.push(e ^ 0x20),
                None => return Err(MalformedKind::BadEscape),
            }
        } else {
            out.push(b);
        }
    }
    Ok(out)
}

/// Smallest and largest extra-copy counts one `*` marker can carry.
#[cfg(test)]
const RLE_MIN_EXTRA: usize = 3;
#[cfg(test)]
const RLE_MAX_EXTRA: usize = 126 - 29;

/// The count character for `extra` additional copies, if it is allowed on the wire.
#[cfg(test)]
fn rle_count_char(extra: usize) -> Option<u8> {
    if !(RLE_MIN_EXTRA..=RLE_MAX_EXTRA).contains(&extra) {
        return None;
    }
    let c = (extra + 29) as u8;
    (c != PACKET_START && c != PACKET_END).then_some(c)
}

/// Run-length encodes a payload the way a stub may (QEMU never does; used by
/// test fakes). The input must not contain `*` (escape it first).
#[cfg(test)]
pub(crate) fn rle_encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        let mut run = 1;
        while i + run < data.len() && data[i + run] == b {
            run += 1;
        }
        let mut left = run;
        while left > 0 {
            out.push(b);
            left -= 1;
            // Largest allowed count that fits in what is left of the run.
            let mut extra = left.min(RLE_MAX_EXTRA);
            while extra >= RLE_MIN_EXTRA && rle_count_char(extra).is_none() {
                extra -= 1;
            }
            if let Some(c) = rle_count_char(extra) {
                out.push(RUN_LENGTH);
                out.push(c);
                left -= extra;
            }
        }
        i += run;
    }
    out
}

/// Expands `X*n` runs. Fails on a `*` with nothing before it, a missing or
/// out-of-range count, or an expansion past `limit` bytes.
pub(crate) fn rle_decode(raw: &[u8], limit: usize) -> Result<Vec<u8>, MalformedKind> {
    if !raw.contains(&RUN_LENGTH) {
        if raw.len() > limit {
            return Err(MalformedKind::Oversize { limit });
        }
        return Ok(raw.to_vec());
    }
    let mut out: Vec<u8> = Vec::with_capacity(raw.len().min(limit));
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == RUN_LENGTH {
            let prev = *out
                .last()
                .ok_or(MalformedKind::BadRunLength { offset: i })?;
            let count = *raw
                .get(i + 1)
                .ok_or(MalformedKind::BadRunLength { offset: i })?;
            if !(b' '..=b'~').contains(&count) || count == PACKET_START || count == PACKET_END {
                return Err(MalformedKind::BadRunLength { offset: i });
            }
            let extra = usize::from(count) - 29;
            if out.len() + extra > limit {
                return Err(MalformedKind::Oversize { limit });
            }
            out.resize(out.len() + extra, prev);
            i += 2;
        } else {
            if out.len() + 1 > limit {
                return Err(MalformedKind::Oversize { limit });
            }
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

/// Builds the wire form `$payload#cs` of a command, escaping `$ # } *`.
pub(crate) fn frame(payload: &[u8]) -> Vec<u8> {
    frame_with(b'$', &escape_binary(payload))
}

/// Builds `<start>raw#cs` from an already escaped (and possibly run-length
/// encoded) payload. Test fakes use it to send whatever they like.
pub fn frame_with(start: u8, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 4);
    out.push(start);
    out.extend_from_slice(raw);
    out.push(PACKET_END);
    out.extend_from_slice(format!("{:02x}", checksum(raw)).as_bytes());
    out
}

/// One unit read from the stub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `+`
    Ack,
    /// `-`: the peer wants the last packet again.
    Nack,
    /// `$...#cs` with a good checksum, run-length expanded (escapes left in place).
    Packet(Vec<u8>),
    /// `%...#cs` with a good checksum, run-length expanded.
    Notification(Vec<u8>),
}

#[derive(Debug)]
enum State {
    /// Between packets.
    Idle,
    /// After garbage: skipping until a byte that can start a frame.
    Skipping,
    /// Inside a payload.
    Payload { notification: bool },
    /// After `#`: waiting for the first checksum digit.
    Check1 { notification: bool },
    /// Waiting for the second checksum digit.
    Check2 { notification: bool, high: u8 },
    /// An oversize packet: dropping bytes up to and including its checksum.
    Discard { after_hash: Option<u8> },
}

/// Incremental, bounded packet decoder.
///
/// Feed it bytes with [`Decoder::push`]; each byte yields at most one frame or
/// error. After an error the decoder resynchronises at the next frame start.
#[derive(Debug)]
pub(crate) struct Decoder {
    state: State,
    buf: Vec<u8>,
    limit: usize,
}

impl Decoder {
    /// A decoder that refuses packets (raw or expanded) longer than `limit` bytes.
    pub(crate) fn new(limit: usize) -> Decoder {
        Decoder {
            state: State::Idle,
            buf: Vec::new(),
            limit: limit.max(1),
        }
    }

    /// True when no packet is half-read (a clean place for the stream to end).
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle | State::Skipping)
    }

    /// Feeds one byte.
    pub(crate) fn push(&mut self, b: u8) -> Option<Result<Frame, MalformedKind>> {
        match self.state {
            State::Idle | State::Skipping => self.between_packets(b),
            State::Payload { notification } => self.in_payload(notification, b),
            State::Check1 { notification } => {
                self.state = State::Check2 {
                    notification,
                    high: b,
                };
                None
            }
            State::Check2 { notification, high } => self.finish(notification, high, b),
            State::Discard { after_hash } => {
                self.state = match after_hash {
                    None if b == PACKET_END => State::Discard {
                        after_hash: Some(0),
                    },
                    None => State::Discard { after_hash: None },
                    Some(0) => State::Discard {
                        after_hash: Some(1),
                    },
                    Some(_) => State::Idle,
                };
                None
            }
        }
    }

    /// A byte outside any packet: an ack, a nack, a frame start, or garbage
    /// (reported once per run of it).
    fn between_packets(&mut self, b: u8) -> Option<Result<Frame, MalformedKind>> {
        match b {
            ACK => {
                self.state = State::Idle;
                Some(Ok(Frame::Ack))
            }
            NACK => {
                self.state = State::Idle;
                Some(Ok(Frame::Nack))
            }
            PACKET_START | NOTIFICATION_START => {
                self.buf.clear();
                self.state = State::Payload {
                    notification: b == NOTIFICATION_START,
                };
                None
            }
            _ => {
                if matches!(self.state, State::Skipping) {
                    None
                } else {
                    self.state = State::Skipping;
                    Some(Err(MalformedKind::Garbage { byte: b }))
                }
            }
        }
    }

    /// A byte of a packet's payload, its end, or a new start that abandons it.
    fn in_payload(&mut self, notification: bool, b: u8) -> Option<Result<Frame, MalformedKind>> {
        match b {
            PACKET_END => {
                self.state = State::Check1 { notification };
                None
            }
            PACKET_START => {
                self.buf.clear();
                self.state = State::Payload {
                    notification: false,
                };
                Some(Err(MalformedKind::Restarted))
            }
            _ => {
                if self.buf.len() >= self.limit {
                    self.buf = Vec::new();
                    self.state = State::Discard { after_hash: None };
                    return Some(Err(MalformedKind::Oversize { limit: self.limit }));
                }
                self.buf.push(b);
                None
            }
        }
    }

    /// The checksum's second digit: the frame, checked and run-length decoded.
    fn finish(
        &mut self,
        notification: bool,
        high: u8,
        low: u8,
    ) -> Option<Result<Frame, MalformedKind>> {
        self.state = State::Idle;
        let raw = std::mem::take(&mut self.buf);
        let computed = checksum(&raw);
        let received = match (super::hex::digit(high), super::hex::digit(low)) {
            (Some(h), Some(l)) => Some(h << 4 | l),
            _ => None,
        };
        if received != Some(computed) {
            return Some(Err(MalformedKind::BadChecksum { received, computed }));
        }
        Some(rle_decode(&raw, self.limit).map(|payload| {
            if notification {
                Frame::Notification(payload)
            } else {
                Frame::Packet(payload)
            }
        }))
    }

    /// Feeds a slice, collecting every frame and error in order.
    #[cfg(test)]
    pub(crate) fn push_all(&mut self, bytes: &[u8]) -> Vec<Result<Frame, MalformedKind>> {
        bytes.iter().filter_map(|&b| self.push(b)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn checksum_matches_known_packets() {
        // From a real QEMU session.
        assert_eq!(frame(b"OK"), b"$OK#9a");
        assert_eq!(frame(b"qqemu.Supported"), b"$qqemu.Supported#1d".to_vec());
        assert_eq!(checksum(b""), 0);
    }

    #[test]
    fn escapes_the_four_special_bytes() {
        assert_eq!(escape_binary(b"a$b#c}d*e"), b"a}\x04b}\x03c}]d}\x0ae");
        assert_eq!(
            unescape_binary(b"a}\x04b}\x03c}]d}\x0ae").unwrap(),
            b"a$b#c}d*e"
        );
        assert_eq!(unescape_binary(b"abc}"), Err(MalformedKind::BadEscape));
        assert_eq!(frame(b"X*"), b"$X}\x0a#df".to_vec());
    }

    #[test]
    fn run_length_examples_from_the_manual() {
        // "0* " means three more zeros: "0000".
        assert_eq!(rle_decode(b"0* ", 100).unwrap(), b"0000");
        assert_eq!(rle_decode(b"ab*\"c", 100).unwrap(), b"abbbbbbc");
        assert_eq!(rle_encode(b"0000"), b"0* ");
        assert_eq!(rle_encode(b"000"), b"000");
        // 7 extra copies would need '$' (36 = 7 + 29): the encoder must avoid it.
        let eight = [b'x'; 8];
        let enc = rle_encode(&eight);
        assert!(!enc.contains(&b'$') && !enc.contains(&b'#'), "{enc:?}");
        assert_eq!(rle_decode(&enc, 100).unwrap(), eight);
    }

    #[test]
    fn run_length_errors() {
        assert_eq!(
            rle_decode(b"*a", 100),
            Err(MalformedKind::BadRunLength { offset: 0 })
        );
        assert_eq!(
            rle_decode(b"a*", 100),
            Err(MalformedKind::BadRunLength { offset: 1 })
        );
        assert_eq!(
            rle_decode(b"a*\x01", 100),
            Err(MalformedKind::BadRunLength { offset: 1 })
        );
        assert_eq!(
            rle_decode(b"a*~", 50),
            Err(MalformedKind::Oversize { limit: 50 })
        );
        assert_eq!(
            rle_decode(b"abc", 2),
            Err(MalformedKind::Oversize { limit: 2 })
        );
    }

    #[test]
    fn decodes_acks_packets_and_notifications() {
        let mut d = Decoder::new(64);
        let out = d.push_all(b"+$OK#9a-%Stop:T05#00");
        assert_eq!(out[0], Ok(Frame::Ack));
        assert_eq!(out[1], Ok(Frame::Packet(b"OK".to_vec())));
        assert_eq!(out[2], Ok(Frame::Nack));
        assert!(matches!(
            out[3],
            Err(MalformedKind::BadChecksum {
                received: Some(0),
                ..
            })
        ));
        let mut d = Decoder::new(64);
        let n = frame_with(b'%', b"Stop:T05");
        assert_eq!(
            d.push_all(&n),
            vec![Ok(Frame::Notification(b"Stop:T05".to_vec()))]
        );
        assert!(d.is_idle());
    }

    #[test]
    fn accepts_uppercase_checksum_digits_and_rle() {
        let mut d = Decoder::new(64);
        let cs = checksum(b"0* ");
        let wire = format!("$0* #{cs:02X}");
        assert_eq!(
            d.push_all(wire.as_bytes()),
            vec![Ok(Frame::Packet(b"0000".to_vec()))]
        );
    }

    #[test]
    fn garbage_is_reported_once_then_skipped() {
        let mut d = Decoder::new(64);
        let out = d.push_all(b"hello$OK#9a");
        assert_eq!(
            out,
            vec![
                Err(MalformedKind::Garbage { byte: b'h' }),
                Ok(Frame::Packet(b"OK".to_vec()))
            ]
        );
    }

    #[test]
    fn oversize_packet_is_dropped_without_growing() {
        let mut d = Decoder::new(8);
        let mut wire = b"$".to_vec();
        wire.extend(std::iter::repeat_n(b'a', 10_000));
        wire.extend(b"#00$OK#9a");
        let out = d.push_all(&wire);
        assert_eq!(
            out,
            vec![
                Err(MalformedKind::Oversize { limit: 8 }),
                Ok(Frame::Packet(b"OK".to_vec()))
            ]
        );
        assert!(d.buf.capacity() <= 64);
    }

    #[test]
    fn restart_inside_packet_is_reported() {
        let mut d = Decoder::new(64);
        let out = d.push_all(b"$abc$OK#9a");
        assert_eq!(
            out,
            vec![
                Err(MalformedKind::Restarted),
                Ok(Frame::Packet(b"OK".to_vec()))
            ]
        );
    }

    #[test]
    fn truncated_stream_leaves_decoder_busy() {
        let mut d = Decoder::new(64);
        assert!(d.push_all(b"$O").is_empty());
        assert!(!d.is_idle());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), limit in 1usize..512) {
            let mut d = Decoder::new(limit);
            for r in d.push_all(&bytes) {
                if let Ok(Frame::Packet(p) | Frame::Notification(p)) = r {
                    prop_assert!(p.len() <= limit);
                }
            }
            prop_assert!(d.buf.len() <= limit);
            let _ = rle_decode(&bytes, limit);
            let _ = unescape_binary(&bytes);
        }

        #[test]
        fn escape_round_trips(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let esc = escape_binary(&data);
            prop_assert!(!esc.iter().any(|&b| b == b'$' || b == b'#' || b == b'*'));
            prop_assert_eq!(unescape_binary(&esc).unwrap(), data);
        }

        #[test]
        fn frame_rle_round_trips(data in proptest::collection::vec(prop_oneof![Just(b'0'), Just(b'a'), Just(b'*'), Just(b'}'), any::<u8>()], 0..512)) {
            // What a stub does: escape, compress, frame. What we do: decode, unescape.
            let raw = rle_encode(&escape_binary(&data));
            let wire = frame_with(b'$', &raw);
            let mut d = Decoder::new(4096);
            let out = d.push_all(&wire);
            prop_assert_eq!(out.len(), 1);
            let payload = match &out[0] { Ok(Frame::Packet(p)) => p.clone(), other => panic!("{other:?}") };
            prop_assert_eq!(unescape_binary(&payload).unwrap(), data);
        }

        #[test]
        fn packets_survive_any_split(data in proptest::collection::vec(any::<u8>(), 0..256), split in 0usize..300) {
            let wire = frame(&data);
            let split = split.min(wire.len());
            let mut d = Decoder::new(4096);
            let mut out = d.push_all(&wire[..split]);
            out.extend(d.push_all(&wire[split..]));
            prop_assert_eq!(out.len(), 1);
            let payload = match &out[0] { Ok(Frame::Packet(p)) => p.clone(), other => panic!("{other:?}") };
            prop_assert_eq!(unescape_binary(&payload).unwrap(), data);
        }
    }
}
