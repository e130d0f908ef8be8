//! The RSP client against hand-written raw-socket stubs that misbehave:
//! bad checksums, garbage, silence, huge or truncated packets, bad run-length
//! encoding. Every case must end in a typed error within the configured
//! timeout, never a panic or a hang. Plus QEMU's own quirks, scripted byte by
//! byte: no no-ack mode, `p` empty before target.xml, nothing but 0x03 while
//! running.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use crate::rsp::error::MalformedKind;
use crate::rsp::packet::{checksum, frame_with};
use crate::rsp::{RegisterValue, RspClient, RspConfig, RspError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Longest a silent stub keeps a connection open: far beyond any client
/// timeout here, so it never decides a check; it only bounds the stub.
const SILENCE_LIMIT: Duration = Duration::from_secs(120);

/// The stub side of a scripted conversation.
struct Peer {
    stream: TcpStream,
    /// Every byte received, for assertions on what the client sent.
    seen: Vec<u8>,
}

impl Peer {
    async fn byte(&mut self) -> Option<u8> {
        let mut b = [0u8];
        match tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut b)).await {
            Ok(Ok(1)) => {
                self.seen.push(b[0]);
                Some(b[0])
            }
            _ => None,
        }
    }

    /// Reads the client's next packet (skipping acks), without acking it.
    async fn packet_noack(&mut self) -> Option<String> {
        loop {
            if self.byte().await? == b'$' {
                break;
            }
        }
        let mut payload = Vec::new();
        loop {
            match self.byte().await? {
                b'#' => break,
                b => payload.push(b),
            }
        }
        let hi = self.byte().await?;
        let lo = self.byte().await?;
        let sent = u8::from_str_radix(std::str::from_utf8(&[hi, lo]).ok()?, 16).ok()?;
        assert_eq!(sent, checksum(&payload), "client checksum");
        Some(String::from_utf8_lossy(&payload).into_owned())
    }

    /// Reads the client's next packet and acks it.
    async fn packet(&mut self) -> Option<String> {
        let p = self.packet_noack().await?;
        self.send(b"+").await;
        Some(p)
    }

    /// Says nothing until the client hangs up (bounded by [`SILENCE_LIMIT`],
    /// which only ends the stub): whatever the client concludes meanwhile
    /// comes from its own timers.
    async fn silent_until_closed(&mut self) {
        let mut buf = [0u8; 256];
        let _ = tokio::time::timeout(SILENCE_LIMIT, async {
            while let Ok(n @ 1..) = self.stream.read(&mut buf).await {
                self.seen.extend_from_slice(&buf[..n]);
            }
        })
        .await;
    }

    /// Reads whatever the client sends until it is quiet for a moment or closes.
    async fn drain(&mut self) {
        let mut buf = [0u8; 256];
        while let Ok(Ok(n @ 1..)) =
            tokio::time::timeout(Duration::from_millis(300), self.stream.read(&mut buf)).await
        {
            self.seen.extend_from_slice(&buf[..n]);
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Sends a well-formed reply packet.
    async fn reply(&mut self, payload: &str) {
        self.send(&frame_with(b'$', payload.as_bytes())).await;
    }

    /// Waits for the client's `+` after a reply.
    async fn expect_ack(&mut self) {
        assert_eq!(
            self.byte().await,
            Some(b'+'),
            "client acks every good packet"
        );
    }
}

/// Runs `script` as the stub for one client; returns the address and a
/// receiver for the bytes the stub saw.
async fn stub<F, Fut>(script: F) -> (SocketAddr, oneshot::Receiver<Vec<u8>>)
where
    F: FnOnce(Peer) -> Fut + Send + 'static,
    Fut: Future<Output = Peer> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let Ok(Ok((stream, _))) =
            tokio::time::timeout(Duration::from_secs(10), listener.accept()).await
        else {
            return;
        };
        let peer = script(Peer {
            stream,
            seen: Vec::new(),
        })
        .await;
        let _ = tx.send(peer.seen);
    });
    (addr, rx)
}

/// A client with [`quick`]'s timeouts, connected to a stub running `script`.
async fn quick_client<F, Fut>(script: F) -> RspClient
where
    F: FnOnce(Peer) -> Fut + Send + 'static,
    Fut: Future<Output = Peer> + Send,
{
    let (addr, _) = stub(script).await;
    client(addr, quick()).await
}

fn quick() -> RspConfig {
    RspConfig {
        reply_timeout: Duration::from_millis(300),
        max_packet_len: 64 * 1024,
        ..RspConfig::default()
    }
}

/// After a failed exchange the stream may still hold its reply: the client
/// refuses every further request rather than guess.
async fn refused_after_a_failure(gdb: &mut RspClient, command: &str) {
    assert!(matches!(
        gdb.request(command).await,
        Err(RspError::Broken(_))
    ));
}

async fn client(addr: SocketAddr, config: RspConfig) -> RspClient {
    RspClient::from_stream(TcpStream::connect(addr).await.unwrap(), config)
}

fn malformed(r: Result<Vec<u8>, RspError>) -> MalformedKind {
    match r {
        Err(RspError::Malformed { kind, .. }) => kind,
        other => panic!("expected a malformed-data error, got {other:?}"),
    }
}

#[tokio::test]
async fn rsp_bad_checksum_forever_is_nacked_then_an_error() {
    let (addr, seen) = stub(|mut p| async move {
        p.packet().await;
        for _ in 0..10 {
            p.send(b"$OK#00").await;
        }
        p.drain().await;
        p
    })
    .await;
    let mut gdb = client(addr, quick()).await;
    let kind = malformed(gdb.request("qfThreadInfo").await);
    assert!(
        matches!(
            kind,
            MalformedKind::BadChecksum {
                received: Some(0),
                ..
            }
        ),
        "{kind:?}"
    );
    drop(gdb);
    let seen = seen.await.unwrap();
    let nacks = seen.iter().filter(|&&b| b == b'-').count();
    assert_eq!(nacks, 3, "one NAK per allowed retransmission");
}

#[tokio::test]
async fn rsp_bad_checksum_once_then_retransmitted() {
    let mut gdb = quick_client(|mut p| async move {
        p.packet().await;
        p.send(b"$OK#00").await;
        assert_eq!(p.byte().await, Some(b'-'));
        p.reply("OK").await;
        p.expect_ack().await;
        p
    })
    .await;
    assert_eq!(gdb.request("Hgp1.1").await.unwrap(), b"OK");
}

#[tokio::test]
async fn rsp_nak_of_our_packet_is_retransmitted_a_bounded_number_of_times() {
    let mut gdb = quick_client(|mut p| async move {
        for _ in 0..10 {
            if p.packet_noack().await.is_none() {
                break;
            }
            p.send(b"-").await;
        }
        p
    })
    .await;
    match gdb.request("qSupported").await {
        Err(RspError::TooManyRetransmits { attempts, .. }) => assert_eq!(attempts, 4),
        other => panic!("expected TooManyRetransmits, got {other:?}"),
    }
}

#[tokio::test]
async fn rsp_nak_once_then_ack() {
    let mut gdb = quick_client(|mut p| async move {
        let first = p.packet_noack().await.unwrap();
        p.send(b"-").await;
        let again = p.packet().await.unwrap();
        assert_eq!(first, again);
        p.reply("OK").await;
        p
    })
    .await;
    assert_eq!(gdb.request("Hgp1.1").await.unwrap(), b"OK");
}

#[tokio::test]
async fn rsp_garbage_between_packets() {
    let mut gdb = quick_client(|mut p| async move {
        p.packet().await;
        p.send(b"\x00\xffhello").await;
        p.reply("OK").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        p
    })
    .await;
    assert_eq!(
        malformed(gdb.request("vCont?").await),
        MalformedKind::Garbage { byte: 0 }
    );
    // The reply could still be in the stream: the client refuses to guess.
    refused_after_a_failure(&mut gdb, "vCont?").await;
}

#[tokio::test]
async fn rsp_silence_is_a_timeout_naming_the_command() {
    let mut gdb = quick_client(|mut p| async move {
        p.packet().await;
        p.silent_until_closed().await;
        p
    })
    .await;
    match gdb.request("qfThreadInfo").await {
        Err(RspError::Timeout {
            waiting_for,
            timeout,
        }) => {
            assert!(waiting_for.contains("qfThreadInfo"), "{waiting_for}");
            assert_eq!(timeout, Duration::from_millis(300));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    refused_after_a_failure(&mut gdb, "qfThreadInfo").await;
}

#[tokio::test]
async fn rsp_no_ack_is_a_timeout_naming_the_ack() {
    let mut gdb = quick_client(|mut p| async move {
        p.packet_noack().await;
        p.silent_until_closed().await;
        p
    })
    .await;
    match gdb.request("vCont?").await {
        Err(RspError::Timeout { waiting_for, .. }) => {
            assert!(waiting_for.contains("acknowledgment"), "{waiting_for}")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn rsp_huge_packet_is_refused_without_buffering_it() {
    let mut gdb = quick_client(|mut p| async move {
        p.packet().await;
        p.send(b"$").await;
        let block = vec![b'a'; 64 * 1024];
        for _ in 0..32 {
            p.send(&block).await;
        }
        p
    })
    .await;
    assert_eq!(
        malformed(gdb.request("g").await),
        MalformedKind::Oversize { limit: 64 * 1024 }
    );
}

#[tokio::test]
async fn rsp_run_length_bombs_are_bounded() {
    // Each "0*~" expands to 98 bytes: 2000 of them exceed a 64 KiB limit.
    let mut gdb = quick_client(|mut p| async move {
        p.packet().await;
        let raw = b"0*~".repeat(2000);
        p.send(&frame_with(b'$', &raw)).await;
        p
    })
    .await;
    assert_eq!(
        malformed(gdb.request("g").await),
        MalformedKind::Oversize { limit: 64 * 1024 }
    );
}

#[tokio::test]
async fn rsp_bad_run_length() {
    let mut gdb = quick_client(|mut p| async move {
        p.packet().await;
        p.send(&frame_with(b'$', b"*0")).await;
        p
    })
    .await;
    assert_eq!(
        malformed(gdb.request("g").await),
        MalformedKind::BadRunLength { offset: 0 }
    );
}

#[tokio::test]
async fn rsp_truncated_stream() {
    let mut gdb = quick_client(|mut p| async move {
        p.packet().await;
        p.send(b"$OK").await;
        p
    })
    .await;
    assert_eq!(malformed(gdb.request("g").await), MalformedKind::Truncated);
}

#[tokio::test]
async fn rsp_closed_connection() {
    let mut gdb = quick_client(|mut p| async move {
        p.packet().await;
        p
    })
    .await;
    match gdb.request("g").await {
        Err(RspError::ConnectionClosed { context }) => {
            assert!(context.contains("\"g\""), "{context}")
        }
        other => panic!("expected ConnectionClosed, got {other:?}"),
    }
}

#[tokio::test]
async fn rsp_error_and_empty_replies_are_typed_and_harmless() {
    let mut gdb = quick_client(|mut p| async move {
        p.packet().await;
        p.reply("E22").await;
        p.expect_ack().await;
        p.packet().await;
        p.reply("").await;
        p.expect_ack().await;
        p.packet().await;
        p.reply("0010000000000000").await;
        p.expect_ack().await;
        p
    })
    .await;
    assert!(matches!(
        gdb.read_memory(0x8000_0000, 16).await,
        Err(RspError::ErrorReply { code: 0x22, .. })
    ));
    assert!(matches!(
        gdb.request_checked("qqemu.sstep").await,
        Err(RspError::Unsupported { .. })
    ));
    assert_eq!(
        gdb.read_register_number(0x20).await.unwrap(),
        RegisterValue::Available(vec![0, 0x10, 0, 0, 0, 0, 0, 0])
    );
}

const QEMU_FEATURES: &str = "PacketSize=1000;qXfer:features:read+;vContSupported+;multiprocess+";

/// QEMU's handshake: qSupported, then an empty answer to QStartNoAckMode.
async fn qemu_handshake(p: &mut Peer) {
    assert!(p.packet().await.unwrap().starts_with("qSupported:"));
    p.reply(QEMU_FEATURES).await;
    p.expect_ack().await;
    assert_eq!(p.packet().await.unwrap(), "QStartNoAckMode");
    p.reply("").await;
    p.expect_ack().await;
}

#[tokio::test]
async fn rsp_qemu_7_2_register_reads_before_and_after_target_xml() {
    let mut gdb = quick_client(|mut p| async move {
        qemu_handshake(&mut p).await;
        // Before target.xml, QEMU 7.2 answers p with nothing.
        assert_eq!(p.packet().await.unwrap(), "p20");
        p.reply("").await;
        p.expect_ack().await;
        assert_eq!(p.packet().await.unwrap(), "qXfer:features:read:target.xml:0,7fc");
        p.reply(r#"l<target><architecture>riscv:rv64</architecture><xi:include href="a.xml"/><xi:include href="b.xml"/></target>"#).await;
        p.expect_ack().await;
        assert_eq!(p.packet().await.unwrap(), "qXfer:features:read:a.xml:0,7fc");
        // Split over two chunks, with an escaped '}' in an XML comment.
        p.send(&frame_with(b'$', b"m<feature name=\"org.gnu.gdb.riscv.cpu\"><!-- }] -->")).await;
        p.expect_ack().await;
        assert_eq!(p.packet().await.unwrap(), "qXfer:features:read:a.xml:30,7fc");
        p.reply(r#"l<reg name="pc" bitsize="64"/></feature>"#).await;
        p.expect_ack().await;
        assert_eq!(p.packet().await.unwrap(), "qXfer:features:read:b.xml:0,7fc");
        p.reply(r#"l<feature name="org.gnu.gdb.riscv.csr"><reg name="mstatus" bitsize="64" regnum="834"/></feature>"#).await;
        p.expect_ack().await;
        assert_eq!(p.packet().await.unwrap(), "p0");
        p.reply("0010000000000000").await;
        p.expect_ack().await;
        assert_eq!(p.packet().await.unwrap(), "p342");
        p.reply("E14").await;
        p.expect_ack().await;
        p
    })
    .await;
    gdb.handshake().await.unwrap();
    assert!(!gdb.no_ack_mode(), "QEMU has no no-ack mode: keep acking");
    assert_eq!(gdb.packet_size(), 4096);
    assert!(matches!(
        gdb.read_register("pc").await,
        Err(RspError::NoTargetDescription)
    ));
    assert!(matches!(
        gdb.read_register_number(0x20).await,
        Err(RspError::Unsupported { .. })
    ));
    let d = gdb.fetch_target_description().await.unwrap();
    assert_eq!(d.register("pc").unwrap().regnum, 0);
    assert_eq!(d.register("mstatus").unwrap().regnum, 834);
    assert_eq!(gdb.read_register_u64("pc").await.unwrap(), Some(0x1000));
    assert_eq!(
        gdb.read_register("mstatus").await.unwrap(),
        RegisterValue::Unavailable
    );
}

#[tokio::test]
async fn rsp_only_the_interrupt_byte_while_running() {
    let (addr, seen) = stub(|mut p| async move {
        qemu_handshake(&mut p).await;
        assert_eq!(p.packet().await.unwrap(), "vCont?");
        p.reply("vCont;c;C;s;S").await;
        p.expect_ack().await;
        assert_eq!(p.packet().await.unwrap(), "vCont;c");
        let mark = p.seen.len();
        // Console output on the way, then silence until 0x03.
        p.reply("O48690a").await;
        p.expect_ack().await;
        assert_eq!(p.byte().await, Some(0x03), "nothing but 0x03 while running");
        assert_eq!(
            p.seen.len(),
            mark + 2,
            "only the ack and the interrupt byte"
        );
        p.reply("T02thread:p01.02;").await;
        p.expect_ack().await;
        assert_eq!(p.packet().await.unwrap(), "qfThreadInfo");
        p.reply("mp01.01,p01.02").await;
        p.expect_ack().await;
        assert_eq!(p.packet().await.unwrap(), "qsThreadInfo");
        p.reply("l").await;
        p.expect_ack().await;
        p
    })
    .await;
    let mut gdb = client(addr, quick()).await;
    gdb.handshake().await.unwrap();
    gdb.resume().await.unwrap();
    assert!(gdb
        .wait_for_stop(Duration::from_millis(200))
        .await
        .unwrap_err()
        .is_timeout());
    assert!(matches!(
        gdb.request("g").await,
        Err(RspError::TargetRunning { .. })
    ));
    assert!(matches!(
        gdb.read_memory(0, 4).await,
        Err(RspError::TargetRunning { .. })
    ));
    assert!(matches!(
        gdb.monitor("info registers").await,
        Err(RspError::TargetRunning { .. })
    ));
    let stop = gdb.interrupt_and_wait().await.unwrap();
    assert!(stop.is_interrupt());
    assert_eq!(stop.thread().unwrap().hart_index(), Some(1));
    assert_eq!(gdb.take_console_output(), "Hi\n");
    assert_eq!(gdb.threads().await.unwrap().len(), 2);
    drop(gdb);
    assert!(seen.await.unwrap().contains(&0x03));
}

#[tokio::test]
async fn rsp_monitor_output_packets() {
    let mut gdb = quick_client(|mut p| async move {
        assert_eq!(
            p.packet().await.unwrap(),
            "qRcmd,696e666f20726567697374657273"
        );
        for line in ["0d0a", "43505523300d0a", "20562020202020203d202020300d0a"] {
            p.reply(&format!("O{line}")).await;
            p.expect_ack().await;
        }
        p.reply("OK").await;
        p.expect_ack().await;
        assert!(p.packet().await.unwrap().starts_with("qRcmd,"));
        p.reply("E01").await;
        p.expect_ack().await;
        p
    })
    .await;
    assert_eq!(
        gdb.monitor("info registers").await.unwrap(),
        "\r\nCPU#0\r\n V      =   0\r\n"
    );
    assert!(matches!(
        gdb.monitor("bogus").await,
        Err(RspError::ErrorReply { code: 1, .. })
    ));
}

#[tokio::test]
async fn rsp_include_loop_and_endless_xfer_are_errors() {
    let mut gdb = quick_client(|mut p| async move {
        p.packet().await;
        p.reply(r#"l<target><xi:include href="a.xml"/></target>"#)
            .await;
        p.expect_ack().await;
        p.packet().await;
        p.reply(r#"l<feature name="x"><xi:include href="target.xml"/></feature>"#)
            .await;
        p.expect_ack().await;
        // Second attempt: a stub that answers 'm' with no data forever.
        p.packet().await;
        p.reply("m").await;
        p.expect_ack().await;
        p
    })
    .await;
    let e = gdb.fetch_target_description().await.unwrap_err();
    assert!(e.to_string().contains("include loop"), "{e}");
    assert!(matches!(
        gdb.fetch_target_description().await,
        Err(RspError::Malformed { .. })
    ));
}

#[tokio::test]
async fn rsp_connect_timeout_and_refusal() {
    // Nothing listens on this port (bound then dropped).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = RspClient::connect(("127.0.0.1", port), quick())
        .await
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("connecting to the gdbstub"),
        "{e:#}"
    );
    // A listener that accepts but never speaks: the handshake times out.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        // Silent until the client gives up and hangs up.
        if let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 256];
            let _ = tokio::time::timeout(SILENCE_LIMIT, async {
                while let Ok(1..) = s.read(&mut buf).await {}
            })
            .await;
        }
    });
    let e = RspClient::connect(addr, quick()).await.unwrap_err();
    assert!(format!("{e:#}").contains("timed out"), "{e:#}");
    hold.abort();
}

mod arbitrary_stub_bytes {
    use super::*;
    use proptest::prelude::*;

    /// Any bytes from the stub, then end of stream: every request ends (ok or
    /// a typed error) and nothing panics.
    fn converse(reply: Vec<u8>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (ours, mut theirs) = tokio::io::duplex(1 << 16);
            let stub = tokio::spawn(async move {
                let _ = theirs.write_all(&reply).await;
                // Keep reading what the client sends, then hang up.
                let mut sink = [0u8; 1024];
                while let Ok(Ok(1..)) =
                    tokio::time::timeout(Duration::from_millis(50), theirs.read(&mut sink)).await
                {
                }
            });
            let cfg = RspConfig {
                reply_timeout: Duration::from_millis(200),
                max_packet_len: 4096,
                ..RspConfig::default()
            };
            let mut gdb = RspClient::from_stream(ours, cfg);
            let _ = gdb.handshake().await;
            let _ = gdb.fetch_target_description().await;
            let _ = gdb.read_memory(0x8000_0000, 64).await;
            let _ = gdb.monitor("info registers").await;
            let _ = gdb.threads().await;
            let _ = stub.await;
        });
    }

    fn packet_like() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"+".to_vec()),
            Just(b"-".to_vec()),
            Just(b"$OK#9a".to_vec()),
            Just(b"$#00".to_vec()),
            Just(b"$E14#aa".to_vec()),
            Just(frame_with(b'$', b"O4142")),
            Just(frame_with(
                b'$',
                b"l<target><xi:include href=\"a.xml\"/></target>"
            )),
            Just(frame_with(b'$', b"m<feature>")),
            Just(frame_with(b'$', b"0*~")),
            Just(frame_with(b'$', b"mp01.01")),
            proptest::collection::vec(any::<u8>(), 0..16),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(|p| frame_with(b'$', &p)),
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn rsp_random_bytes_never_panic(reply in proptest::collection::vec(any::<u8>(), 0..512)) {
            converse(reply);
        }

        #[test]
        fn rsp_packet_soup_never_panics(reply in packet_like()) {
            converse(reply);
        }
    }
}

/// Requests sent together are answered in order, QEMU's way: the stub
/// reads the packets one after the other, acking each before its reply,
/// while the client has already sent them all; every reply is acked.
#[tokio::test]
async fn rsp_pipelined_requests_get_their_replies_in_order() {
    let (addr, seen) = stub(|mut p| async move {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(p.packet().await.unwrap_or_default());
        }
        assert_eq!(got, ["p20", "p41", "p644"], "all sent before any reply");
        for reply in ["0400208000000000", "01", "E14"] {
            p.reply(reply).await;
            p.expect_ack().await;
        }
        p.drain().await;
        p
    })
    .await;
    let mut gdb = client(addr, quick()).await;
    let commands: Vec<String> = ["p20", "p41", "p644"].map(String::from).to_vec();
    let replies = gdb.exchange(&commands).await.unwrap();
    assert_eq!(replies, [&b"0400208000000000"[..], b"01", b"E14"]);
    assert_eq!(gdb.costs().round_trips(), 3);
    drop(gdb);
    let seen = seen.await.unwrap();
    assert_eq!(seen.iter().filter(|b| **b == b'+').count(), 3);
}

/// A `-` in the middle of a pipelined exchange cannot be matched to its
/// packet once later ones are on the way: a typed error, not a guess, and
/// the connection is refused from then on.
#[tokio::test]
async fn rsp_a_nak_in_a_pipelined_exchange_is_an_error() {
    let mut gdb = quick_client(|mut p| async move {
        p.packet().await;
        p.reply("01").await;
        p.send(b"-").await;
        p.drain().await;
        p
    })
    .await;
    let commands: Vec<String> = ["p41", "p20"].map(String::from).to_vec();
    match gdb.exchange(&commands).await {
        Err(RspError::TooManyRetransmits { command, .. }) => {
            assert!(command.starts_with("p20"), "{command}")
        }
        other => panic!("expected a refused packet, got {other:?}"),
    }
    refused_after_a_failure(&mut gdb, "p20").await;
}
