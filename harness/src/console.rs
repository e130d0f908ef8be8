//! Guest consoles: QEMU chardev sockets that the harness connects to, reads into
//! a transcript and writes input to.
//!
//! QEMU is started paused, so connecting before the VM runs loses no output.
//! Waiting for a pattern is always bounded, and a failed wait reports the tail of
//! the transcript next to what was expected.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use regex::Regex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How much of a transcript a failure message shows.
const TAIL_CHARS: usize = 600;

/// Why a wait on a console ended without a match.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("console {console}: no match for /{pattern}/ within {waited:?}; console tail:\n{tail}")]
    Timeout { console: String, pattern: String, waited: Duration, tail: String },
    #[error("console {console}: closed (QEMU exited?) before /{pattern}/ appeared; console tail:\n{tail}")]
    Closed { console: String, pattern: String, tail: String },
}

/// A match found in a console transcript.
#[derive(Debug, Clone)]
pub struct ConsoleMatch {
    /// The matched text.
    pub text: String,
    /// When the matched text arrived from QEMU (not when the wait noticed it).
    pub arrived: Instant,
}

#[derive(Default)]
struct Shared {
    bytes: Vec<u8>,
    /// (transcript length after the chunk, when it arrived), for match times.
    arrivals: Vec<(usize, Instant)>,
    closed: bool,
}

impl Shared {
    /// When the byte at `end - 1` arrived.
    fn arrival_of(&self, end: usize) -> Option<Instant> {
        let i = self.arrivals.partition_point(|(len, _)| *len < end);
        self.arrivals.get(i).map(|(_, t)| *t)
    }
}

/// One connected console.
pub struct Console {
    name: String,
    shared: Arc<Mutex<Shared>>,
    changed: watch::Receiver<usize>,
    writer: OwnedWriteHalf,
    reader: JoinHandle<()>,
    /// Byte offset up to which `expect` has consumed the transcript.
    cursor: usize,
}

impl Console {
    /// Connects to a `-chardev socket,path=PATH,server=on,wait=off` console,
    /// retrying until `limit` while QEMU creates the socket.
    pub async fn connect(name: &str, path: &Path, limit: Duration) -> Result<Console> {
        let deadline = Instant::now() + limit;
        let stream = loop {
            match UnixStream::connect(path).await {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("connecting to console {name} at {}", path.display())
                    })
                }
            }
        };
        let (mut r, w) = stream.into_split();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (tx, rx) = watch::channel(0usize);
        let sink = Arc::clone(&shared);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                let n = match r.read(&mut buf).await {
                    Ok(0) | Err(_) => 0,
                    Ok(n) => n,
                };
                let len = {
                    let mut s = match sink.lock() {
                        Ok(s) => s,
                        Err(p) => p.into_inner(),
                    };
                    if n == 0 {
                        s.closed = true;
                    } else {
                        s.bytes.extend_from_slice(&buf[..n]);
                        let len = s.bytes.len();
                        s.arrivals.push((len, Instant::now()));
                    }
                    s.bytes.len()
                };
                tx.send_replace(len);
                if n == 0 {
                    break;
                }
            }
        });
        Ok(Console {
            name: name.to_string(),
            shared,
            changed: rx,
            writer: w,
            reader,
            cursor: 0,
        })
    }

    /// The console's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Everything the console printed so far (lossy UTF-8).
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.lock().bytes).into_owned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        match self.shared.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        }
    }

    /// The last characters of the transcript, for failure messages.
    pub fn tail(&self) -> String {
        let text = self.transcript();
        let start = text.char_indices().rev().nth(TAIL_CHARS).map(|(i, _)| i).unwrap_or(0);
        text[start..].to_string()
    }

    /// Waits until `pattern` matches the transcript after the last `expect`ed
    /// match, then moves past it (like expect(1)).
    pub async fn expect(&mut self, pattern: &Regex, limit: Duration) -> Result<ConsoleMatch, ConsoleError> {
        let found = self.wait_from(self.cursor, pattern, limit).await?;
        self.cursor = found.1;
        Ok(found.0)
    }

    /// Like [`Console::expect`], without waiting: the match if the text is
    /// already there.
    pub fn try_expect(&mut self, pattern: &Regex) -> Option<ConsoleMatch> {
        let s = self.lock();
        let from = self.cursor.min(s.bytes.len());
        let text = String::from_utf8_lossy(&s.bytes[from..]).into_owned();
        let m = pattern.find(&text)?;
        let end = (from + m.end()).min(s.bytes.len());
        let arrived = s.arrival_of(end.max(1)).unwrap_or_else(Instant::now);
        let found = ConsoleMatch { text: m.as_str().to_string(), arrived };
        drop(s);
        self.cursor = end;
        Some(found)
    }

    /// How many bytes the console has printed.
    pub fn len(&self) -> usize {
        self.lock().bytes.len()
    }

    /// Whether the console has printed nothing yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether QEMU closed the console (it exited).
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Waits until `pattern` matches anywhere in the transcript, without moving.
    pub async fn wait_for(&mut self, pattern: &Regex, limit: Duration) -> Result<ConsoleMatch, ConsoleError> {
        self.wait_from(0, pattern, limit).await.map(|(m, _)| m)
    }

    async fn wait_from(
        &mut self,
        from: usize,
        pattern: &Regex,
        limit: Duration,
    ) -> Result<(ConsoleMatch, usize), ConsoleError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let closed = {
                let s = self.lock();
                let text = String::from_utf8_lossy(&s.bytes[from.min(s.bytes.len())..]).into_owned();
                if let Some(m) = pattern.find(&text) {
                    // Offsets in the lossy copy equal byte offsets for valid UTF-8,
                    // which console text is; a replacement char only shifts the cursor.
                    let end = (from + m.end()).min(s.bytes.len());
                    let arrived = s.arrival_of(end.max(1)).unwrap_or_else(Instant::now);
                    let found = ConsoleMatch { text: m.as_str().to_string(), arrived };
                    return Ok((found, end));
                }
                s.closed
            };
            if closed {
                return Err(ConsoleError::Closed {
                    console: self.name.clone(),
                    pattern: pattern.to_string(),
                    tail: self.tail(),
                });
            }
            match tokio::time::timeout_at(deadline, self.changed.changed()).await {
                Ok(Ok(())) => {}
                // The reader ended: loop once more to report Closed with the final text.
                Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(_) => {
                    return Err(ConsoleError::Timeout {
                        console: self.name.clone(),
                        pattern: pattern.to_string(),
                        waited: limit,
                        tail: self.tail(),
                    })
                }
            }
        }
    }

    /// Types `text` into the console.
    pub async fn send(&mut self, text: &str) -> Result<()> {
        self.writer
            .write_all(text.as_bytes())
            .await
            .with_context(|| format!("writing to console {}", self.name))
    }

    /// Types `line` followed by a carriage return, as a terminal would.
    pub async fn send_line(&mut self, line: &str) -> Result<()> {
        self.send(&format!("{line}\r")).await
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
