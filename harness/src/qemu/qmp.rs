//! A minimal QMP client: the QEMU Machine Protocol on a private Unix socket,
//! used to resume a VM that was started paused and to ask QEMU to quit.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::time::timeout;

/// How long one QMP command may take before the harness gives up on it.
pub(crate) const QMP_TIMEOUT: Duration = Duration::from_secs(10);

/// A QMP connection in command mode (capabilities already negotiated).
pub struct Qmp {
    lines: Lines<BufReader<OwnedReadHalf>>,
    writer: OwnedWriteHalf,
}

impl Qmp {
    /// Connects to QEMU's `-qmp unix:PATH,server=on,wait=off` socket and leaves
    /// capabilities-negotiation mode.
    pub(crate) async fn connect(path: &Path) -> Result<Qmp> {
        let stream = UnixStream::connect(path)
            .await
            .with_context(|| format!("connecting to QMP at {}", path.display()))?;
        let (r, w) = stream.into_split();
        let mut qmp = Qmp {
            lines: BufReader::new(r).lines(),
            writer: w,
        };
        let greeting = qmp
            .next_message()
            .await
            .context("waiting for the QMP greeting")?;
        if greeting.get("QMP").is_none() {
            bail!("unexpected QMP greeting: {greeting}");
        }
        qmp.execute("qmp_capabilities", None).await?;
        Ok(qmp)
    }

    async fn next_message(&mut self) -> Result<Value> {
        let line = timeout(QMP_TIMEOUT, self.lines.next_line())
            .await
            .map_err(|_| anyhow!("QMP gave no answer within {} s", QMP_TIMEOUT.as_secs()))?
            .context("reading from QMP")?
            .ok_or_else(|| anyhow!("QMP connection closed"))?;
        serde_json::from_str(&line).with_context(|| format!("QMP sent invalid JSON: {line:?}"))
    }

    /// Runs one command and returns its `return` value; asynchronous events that
    /// arrive in between are skipped.
    pub async fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value> {
        let mut msg = json!({ "execute": command });
        if let Some(args) = arguments {
            msg["arguments"] = args;
        }
        let mut text = msg.to_string();
        text.push('\n');
        self.writer
            .write_all(text.as_bytes())
            .await
            .context("writing to QMP")?;
        loop {
            let reply = self
                .next_message()
                .await
                .with_context(|| format!("QMP {command}"))?;
            if let Some(ret) = reply.get("return") {
                return Ok(ret.clone());
            }
            if let Some(err) = reply.get("error") {
                bail!("QMP {command} failed: {err}");
            }
        }
    }

    /// Resumes a VM started with `-S`.
    pub(crate) async fn cont(&mut self) -> Result<()> {
        self.execute("cont", None).await.map(|_| ())
    }

    /// Whether the VM is running (`query-status`).
    pub async fn running(&mut self) -> Result<bool> {
        let status = self.execute("query-status", None).await?;
        Ok(status
            .get("running")
            .and_then(Value::as_bool)
            .unwrap_or(false))
    }
}
