//! The client: one connection to one stub, and the request/reply machinery
//! that every command family ([`super::commands`]) builds on.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};

use super::commands::breakpoints::BreakpointType;
use super::commands::registers::RegisterValue;
use super::commands::stop::StopReply;
use super::commands::supported::ServerFeatures;
use super::commands::threads::ThreadId;
use super::conn::Connection;
use super::costs::{kind_of, RspCosts};
use super::error::{shorten, Result, RspError};
use super::tdesc::TargetDescription;

/// Limits and timeouts of a client. Every wait of the client is bounded by one of these.
#[derive(Debug, Clone)]
pub struct RspConfig {
    /// How long to wait for the TCP connection.
    pub connect_timeout: Duration,
    /// How long to wait for an acknowledgment or a reply to a request (each
    /// packet of a multi-packet answer gets its own wait).
    pub reply_timeout: Duration,
    /// How often a NAKed packet is resent, and a bad-checksum reply NAKed, before giving up.
    pub max_retransmits: u32,
    /// Largest packet accepted from the stub, before and after run-length expansion.
    pub max_packet_len: usize,
    /// Largest `m` read in one packet (QEMU refuses more than 2048 bytes with `E22`).
    pub memory_chunk: usize,
    /// Largest total size of the target-description files.
    pub max_tdesc_bytes: usize,
    /// Largest number of target-description files.
    pub max_tdesc_files: usize,
    /// Largest text accepted from one monitor command.
    pub max_monitor_output: usize,
    /// How many packets the transcript keeps (0 turns it off).
    pub transcript_len: usize,
}

impl Default for RspConfig {
    fn default() -> RspConfig {
        RspConfig {
            connect_timeout: Duration::from_secs(5),
            reply_timeout: Duration::from_secs(5),
            max_retransmits: 3,
            max_packet_len: 256 * 1024,
            memory_chunk: 2048,
            max_tdesc_bytes: 4 * 1024 * 1024,
            max_tdesc_files: 64,
            max_monitor_output: 4 * 1024 * 1024,
            transcript_len: 64,
        }
    }
}

/// What the target is doing, as far as the client knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunState {
    /// Halted: requests may be sent.
    Stopped,
    /// Resumed by the named command; only 0x03 may be sent until a stop reply.
    Running(String),
    /// The target reported `W`/`X`: nothing more will come.
    Exited(String),
}

/// An asynchronous GDB Remote Serial Protocol client.
///
/// Create it with [`RspClient::connect`] (TCP, handshake and target
/// description in one step) or [`RspClient::from_stream`] plus
/// [`RspClient::handshake`]. Requests are methods grouped by family in
/// [`super::commands`]. While the target runs (after a continue), the only
/// allowed calls are [`RspClient::interrupt`] and [`RspClient::wait_for_stop`].
///
/// After a timeout or a malformed reply, the stream may hold a late answer that
/// would be taken for the reply to the next request; the client then refuses
/// further requests with [`RspError::Broken`]. A timeout while waiting for a
/// stop reply is the exception: the target is simply still running.
#[derive(Debug)]
pub struct RspClient<S = TcpStream> {
    pub(crate) conn: Connection<S>,
    pub(crate) config: RspConfig,
    pub(crate) features: Option<ServerFeatures>,
    pub(crate) tdesc: Option<TargetDescription>,
    pub(crate) state: RunState,
    pub(crate) broken: Option<String>,
    pub(crate) register_thread: Option<ThreadId>,
    /// The threads listed once (QEMU's harts are fixed for the machine's life).
    pub(crate) known_threads: Option<Vec<ThreadId>>,
    /// The CPU the monitor's `cpu N` last selected, if known.
    pub(crate) monitor_cpu: Option<usize>,
    pub(crate) vcont: Option<Vec<String>>,
    pub(crate) qemu_features: Option<Vec<String>>,
    pub(crate) physical_memory: bool,
    pub(crate) console: String,
    /// Breakpoints and watchpoints inserted through this client: (type, addr, kind).
    pub(crate) breakpoints: Vec<(BreakpointType, u64, u64)>,
    /// A stop that happened while stepping over a breakpoint inside
    /// [`RspClient::resume`]; [`RspClient::wait_for_stop`] returns it first.
    pub(crate) pending_stop: Option<StopReply>,
    /// The last stop reply seen (a watchpoint hit there is stepped over on resume).
    pub(crate) last_stop: Option<StopReply>,
    /// The harts stopped on a breakpoint or watchpoint of this client, and
    /// whether that list is made for the current stop (see [`super::commands::at_points`]).
    pub(crate) at_points: Vec<super::commands::at_points::HartAtPoint>,
    pub(crate) at_points_listed: bool,
    /// Registers read since the target last moved: (hart, number, value).
    /// A stopped hart's registers change only when it runs, when `P` writes
    /// one, or through the monitor; those requests empty it.
    pub(crate) stop_registers: Vec<(ThreadId, u64, RegisterValue)>,
    /// What the round trips cost (see [`super::costs`]).
    pub(crate) costs: RspCosts,
    transcript: VecDeque<String>,
}

impl RspClient<TcpStream> {
    /// Connects to a stub over TCP (QEMU: `-gdb tcp:127.0.0.1:PORT`), then runs
    /// [`RspClient::handshake`] and fetches the target description.
    pub async fn connect(
        addr: impl ToSocketAddrs,
        config: RspConfig,
    ) -> anyhow::Result<RspClient<TcpStream>> {
        let timeout = config.connect_timeout;
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| RspError::Timeout {
                waiting_for: "the TCP connection to the gdbstub".into(),
                timeout,
            })?
            .context("connecting to the gdbstub")?;
        stream
            .set_nodelay(true)
            .context("setting TCP_NODELAY on the gdbstub socket")?;
        let mut client = RspClient::from_stream(stream, config);
        client
            .handshake()
            .await
            .context("RSP handshake with the gdbstub")?;
        client
            .fetch_target_description()
            .await
            .context("fetching the target description (target.xml)")?;
        Ok(client)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RspClient<S> {
    /// Wraps a connected byte stream. No bytes are exchanged yet.
    pub fn from_stream(stream: S, config: RspConfig) -> RspClient<S> {
        RspClient {
            conn: Connection::new(stream, config.max_packet_len, config.max_retransmits),
            config,
            features: None,
            tdesc: None,
            state: RunState::Stopped,
            broken: None,
            register_thread: None,
            known_threads: None,
            monitor_cpu: None,
            vcont: None,
            qemu_features: None,
            physical_memory: false,
            console: String::new(),
            breakpoints: Vec::new(),
            pending_stop: None,
            last_stop: None,
            at_points: Vec::new(),
            at_points_listed: false,
            stop_registers: Vec::new(),
            costs: RspCosts::default(),
            transcript: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RspConfig {
        &self.config
    }

    /// Changes the reply timeout (for example around a slow monitor command).
    pub fn set_reply_timeout(&mut self, timeout: Duration) {
        self.config.reply_timeout = timeout;
    }

    /// True after `QStartNoAckMode` was accepted.
    pub fn no_ack_mode(&self) -> bool {
        self.conn.no_ack
    }

    /// True between a continue and its stop reply.
    pub fn is_running(&self) -> bool {
        matches!(self.state, RunState::Running(_))
    }

    /// The last packets exchanged (`> ` sent, `< ` received), newest last,
    /// for failure reports.
    pub fn transcript(&self) -> Vec<String> {
        self.transcript.iter().cloned().collect()
    }

    /// The last stop reply received (from a continue, a step or an interrupt).
    pub fn last_stop(&self) -> Option<&StopReply> {
        self.last_stop.as_ref()
    }

    /// What the round trips have cost so far, per kind of request.
    pub fn costs(&self) -> &RspCosts {
        &self.costs
    }

    /// Adds `what` to the costs' timeline (see [`super::costs::Mark`]).
    pub(crate) fn mark(&mut self, what: String) {
        self.costs.mark(what);
    }

    /// Console text the stub sent in `O` packets while the target ran, drained.
    pub fn take_console_output(&mut self) -> String {
        std::mem::take(&mut self.console)
    }

    pub fn note(&mut self, dir: &str, payload: &[u8]) {
        if self.config.transcript_len == 0 {
            return;
        }
        if self.transcript.len() >= self.config.transcript_len {
            self.transcript.pop_front();
        }
        self.transcript
            .push_back(format!("{dir} {}", shorten(payload)));
    }

    /// Fails if a request may not be sent now.
    pub fn check_can_send(&self, command: &str) -> Result<()> {
        if let Some(reason) = &self.broken {
            return Err(RspError::Broken(reason.clone()));
        }
        match &self.state {
            RunState::Stopped => Ok(()),
            RunState::Running(_) => Err(RspError::TargetRunning {
                command: command.to_string(),
            }),
            RunState::Exited(how) => Err(RspError::Broken(format!("the target exited ({how})"))),
        }
    }

    /// Records errors after which the stream can no longer be trusted.
    pub fn poison_on(&mut self, e: RspError) -> RspError {
        match &e {
            RspError::Timeout { .. }
            | RspError::Malformed { .. }
            | RspError::ConnectionClosed { .. }
            | RspError::Io { .. }
            | RspError::TooManyRetransmits { .. }
                if self.broken.is_none() =>
            {
                self.broken = Some(e.to_string());
            }
            _ => {}
        }
        e
    }

    /// Sends a command packet (waiting for its ack), without reading a reply.
    pub(crate) async fn send_command(&mut self, command: &str) -> Result<()> {
        self.check_can_send(command)?;
        self.note(">", command.as_bytes());
        let kind = kind_of(command);
        self.costs.begin(kind);
        self.costs.note_command(command);
        if may_change_registers(command) {
            match threads_resumed(command) {
                // The harts left stopped keep their pc and integer
                // registers: nothing but the hart itself changes those.
                Some(moved) => self.stop_registers.retain(|(t, n, _)| {
                    *n <= LAST_CORE_REGISTER && !moved.contains(&t.hart_index())
                }),
                None => self.stop_registers.clear(),
            }
        }
        let timeout = self.config.reply_timeout;
        let r = self
            .conn
            .send_packet(command.as_bytes(), command, timeout)
            .await;
        r.map_err(|e| self.poison_on(e))
    }

    /// Receives one reply packet for `command`.
    pub(crate) async fn receive_reply(&mut self, command: &str) -> Result<Vec<u8>> {
        let timeout = self.config.reply_timeout;
        let what = format!("the reply to {command:?}");
        match self.conn.recv_packet(&what, timeout).await {
            Ok(p) => {
                self.costs.replied();
                self.note("<", &p);
                Ok(p)
            }
            Err(e) => Err(self.poison_on(e)),
        }
    }

    /// Sends `commands` together and returns their raw replies in order
    /// (see `Connection::exchange_pipelined`). For reads only: nothing
    /// here may change a register or move the target.
    pub(crate) async fn exchange(&mut self, commands: &[String]) -> Result<Vec<Vec<u8>>> {
        for command in commands {
            self.check_can_send(command)?;
            debug_assert!(!may_change_registers(command), "{command}");
            self.note(">", command.as_bytes());
            self.costs.begin(kind_of(command));
        }
        let timeout = self.config.reply_timeout;
        let replies = match self.conn.exchange_pipelined(commands, timeout).await {
            Ok(r) => r,
            Err(e) => return Err(self.poison_on(e)),
        };
        for reply in &replies {
            self.costs.replied();
            self.note("<", reply);
        }
        Ok(replies)
    }

    /// Sends a command and returns the raw reply payload (empty = unsupported;
    /// `E NN` is returned as is: see [`RspClient::request_checked`]).
    ///
    /// For queries and settings only: commands that resume the target (`c`,
    /// `s`, `vCont;...`) must go through [`RspClient::resume`] and
    /// [`RspClient::step`], which track the run state.
    pub async fn request(&mut self, command: &str) -> Result<Vec<u8>> {
        self.send_command(command).await?;
        self.receive_reply(command).await
    }

    /// Like [`RspClient::request`], but maps an empty reply to
    /// [`RspError::Unsupported`] and `E NN` to [`RspError::ErrorReply`].
    pub async fn request_checked(&mut self, command: &str) -> Result<Vec<u8>> {
        let reply = self.request(command).await?;
        check_reply(command, reply)
    }

    /// Sends a command whose only good answer is `OK`.
    pub async fn request_ok(&mut self, command: &str) -> Result<()> {
        let reply = self.request_checked(command).await?;
        if reply == b"OK" {
            Ok(())
        } else {
            Err(RspError::bad_reply(command, "expected OK", &reply))
        }
    }
}

impl<S> Drop for RspClient<S> {
    /// Hands the costs to the file [`super::costs::COSTS_ENV`] names, if any.
    fn drop(&mut self) {
        self.costs.append_to_env_file();
    }
}

/// Whether `command` may change a stopped hart's registers: anything that
/// runs the target, `P`, `?`, and monitor commands other than the
/// harness's own reads (`info ...`, `cpu N`).
fn may_change_registers(command: &str) -> bool {
    match kind_of(command) {
        "continue" | "step" | "P (register write)" | "? (halt reason)" => true,
        "qRcmd (monitor)" => {
            let text = command
                .strip_prefix("qRcmd,")
                .and_then(|h| super::hex::decode(h.as_bytes()));
            !text.is_some_and(|t| t.starts_with(b"info ") || t.starts_with(b"cpu "))
        }
        _ => false,
    }
}

/// GDB's RISC-V numbering: x0 to x31 are 0 to 31, pc is 32.
const LAST_CORE_REGISTER: u64 = 32;

/// The harts a `vCont` moves when every action names one
/// (`vCont;s:p1.2`, `vCont;c:p1.1;c:p1.2`); `None` when it may move any
/// (`vCont;c`, `c`, `s`, an action for all threads).
/// Threads are compared by hart index: the wire may omit the process.
fn threads_resumed(command: &str) -> Option<Vec<Option<usize>>> {
    let actions = command.strip_prefix("vCont;")?;
    actions
        .split(';')
        .map(|a| {
            let (_, id) = a.split_once(':')?;
            let hart = ThreadId::parse(id.as_bytes())?.hart_index()?;
            Some(Some(hart))
        })
        .collect()
}

/// Parses `E NN` (two hex digits) and `E.message` error replies.
pub fn error_code(reply: &[u8]) -> Option<u8> {
    match reply {
        [b'E', h, l] => super::hex::decode(&[*h, *l]).map(|v| v[0]),
        [b'E', b'.', ..] => Some(0xff),
        _ => None,
    }
}

/// Maps empty and `E NN` replies to errors; passes anything else through.
pub fn check_reply(command: &str, reply: Vec<u8>) -> Result<Vec<u8>> {
    if reply.is_empty() {
        return Err(RspError::Unsupported {
            command: short_command(command),
        });
    }
    if let Some(code) = error_code(&reply) {
        return Err(RspError::ErrorReply {
            command: short_command(command),
            code,
        });
    }
    Ok(reply)
}

/// A command for messages (long `M` writes are cut).
pub(crate) fn short_command(command: &str) -> String {
    if command.len() > 64 {
        let mut cut = 64;
        while !command.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}...", &command[..cut])
    } else {
        command.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_harts_a_vcont_moves() {
        assert_eq!(threads_resumed("vCont;s:p1.2"), Some(vec![Some(1)]));
        assert_eq!(
            threads_resumed("vCont;c:p1.1;c:p1.2"),
            Some(vec![Some(0), Some(1)])
        );
        assert_eq!(threads_resumed("vCont;s:2"), Some(vec![Some(1)]));
        for any in ["vCont;c", "vCont;c:p1.-1", "vCont;s:p1.1;c", "c", "s"] {
            assert_eq!(threads_resumed(any), None, "{any}");
        }
    }

    #[test]
    fn error_codes() {
        assert_eq!(error_code(b"E14"), Some(0x14));
        assert_eq!(error_code(b"E22"), Some(0x22));
        assert_eq!(error_code(b"E.bad thing"), Some(0xff));
        assert_eq!(error_code(b"E1"), None);
        assert_eq!(error_code(b"e14"), None);
        assert_eq!(error_code(b"E1400"), None);
        assert!(matches!(
            check_reply("p20", vec![]),
            Err(RspError::Unsupported { .. })
        ));
        assert!(matches!(
            check_reply("m0,10", b"E14".to_vec()),
            Err(RspError::ErrorReply { code: 0x14, .. })
        ));
    }

    #[test]
    fn what_may_change_a_stopped_harts_registers() {
        let monitor = |text: &str| format!("qRcmd,{}", super::super::hex::encode(text.as_bytes()));
        for changes in [
            "vCont;c",
            "vCont;s:p1.1",
            "P20=00",
            "?",
            &monitor("system_reset"),
        ] {
            assert!(may_change_registers(changes), "{changes}");
        }
        for reads in [
            "p20",
            "Hgp1.2",
            "m80000000,8",
            "Z0,80200000,4",
            &monitor("info registers"),
            &monitor("cpu 1"),
        ] {
            assert!(!may_change_registers(reads), "{reads}");
        }
    }
}
