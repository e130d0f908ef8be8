//! Guest consoles: QEMU chardev sockets that the harness connects to, reads into
//! a transcript and writes input to.
//!
//! QEMU is started paused, so connecting before the VM runs loses no output.
//! Waiting for a pattern is always bounded, and a failed wait reports the tail of
//! the transcript next to what was expected.
//!
//! Patterns match the raw bytes (a guest may print invalid UTF-8, and offsets
//! must stay byte offsets), incrementally: each look scans only what arrived
//! since the last one, plus [`LOOK_BACK`] bytes for a match spanning two reads.
//! A long literal pattern is also found with another writer's line inside
//! it ([`interleaved`]): a console shared by writers with no common lock.

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

pub(crate) mod interleaved;

/// How much of a transcript a failure message shows.
const TAIL_CHARS: usize = 600;

/// How far before the already-searched end a new search starts: the longest
/// match that can straddle two reads and still be found. Milestones are a
/// line or two; a longer match is found only if it arrives whole.
pub(crate) const LOOK_BACK: usize = 4096;

/// Why a wait on a console ended without a match.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(
        "console {console}: no match for /{pattern}/ within {:.1} s; console tail:\n{tail}",
        .waited.as_secs_f64()
    )]
    Timeout {
        console: String,
        pattern: String,
        waited: Duration,
        tail: String,
    },
    #[error("console {console}: closed (QEMU exited?) before /{pattern}/ appeared; console tail:\n{tail}")]
    Closed {
        console: String,
        pattern: String,
        tail: String,
    },
}

/// A match found in a console transcript.
#[derive(Debug, Clone)]
pub struct ConsoleMatch {
    /// The matched text.
    pub text: String,
    /// When the matched text arrived from QEMU (not when the wait noticed it).
    pub arrived: Instant,
    /// Whether another writer's output lies inside the match (`text` holds
    /// it too): a literal pattern found by [`interleaved`].
    pub interleaved: bool,
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
    /// Where the last unsuccessful search left off, for the next one.
    scan: Option<Scan>,
    /// Bytes handed to the regex engine so far (the work matching did).
    scanned: u64,
}

/// An unsuccessful search, so that the next one with the same start and
/// pattern only looks at new bytes (plus the look-back).
struct Scan {
    from: usize,
    pattern: regex::bytes::Regex,
    /// The pattern's text when it is a literal long enough to be looked for
    /// with other output inside it.
    literal: Option<Vec<u8>>,
    /// Transcript length when the search found nothing.
    searched_to: usize,
}

impl Console {
    /// Connects to a `-chardev socket,path=PATH,server=on,wait=off` console,
    /// retrying until `limit` while QEMU creates the socket.
    pub(crate) async fn connect(name: &str, path: &Path, limit: Duration) -> Result<Console> {
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
        Ok(Console::from_stream(name, stream))
    }

    /// A console over an already connected stream.
    fn from_stream(name: &str, stream: UnixStream) -> Console {
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
        Console {
            name: name.to_string(),
            shared,
            changed: rx,
            writer: w,
            reader,
            cursor: 0,
            scan: None,
            scanned: 0,
        }
    }

    /// How many bytes matching has scanned so far (with look-back), to show
    /// that it stays linear in the transcript however often it looks.
    #[cfg(test)]
    pub(crate) fn bytes_scanned(&self) -> u64 {
        self.scanned
    }

    /// The first match of `pattern` in the transcript from byte `from` on, with
    /// its end offset. Only bytes not searched by the previous unsuccessful
    /// search (same `from` and pattern) are scanned, plus [`LOOK_BACK`].
    fn find_from(&mut self, from: usize, pattern: &Regex) -> Option<(ConsoleMatch, usize)> {
        let reuse = self
            .scan
            .as_ref()
            .is_some_and(|s| s.from == from && s.pattern.as_str() == pattern.as_str());
        if !reuse {
            // A pattern that compiled as a str regex compiles as a bytes regex.
            let bytes = regex::bytes::Regex::new(pattern.as_str()).ok()?;
            self.scan = Some(Scan {
                from,
                pattern: bytes,
                literal: interleaved::literal_of(pattern.as_str()),
                searched_to: from,
            });
        }
        let shared = Arc::clone(&self.shared);
        let s = match shared.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let scan = self.scan.as_mut()?;
        let from = from.min(s.bytes.len());
        let hay = &s.bytes[from..];
        let start = scan
            .searched_to
            .saturating_sub(LOOK_BACK)
            .clamp(from, s.bytes.len())
            - from;
        self.scanned += (hay.len() - start) as u64;
        let span = match scan.pattern.find_at(hay, start) {
            Some(m) => Some((m.range(), false)),
            None => scan.literal.as_deref().and_then(|lit| {
                let back = scan
                    .searched_to
                    .saturating_sub(interleaved::look_back(lit.len()))
                    .clamp(from, s.bytes.len())
                    - from;
                interleaved::find(hay, back, lit).map(|r| (r, true))
            }),
        };
        let Some((range, interleaved)) = span else {
            scan.searched_to = s.bytes.len();
            return None;
        };
        let end = from + range.end;
        let arrived = s.arrival_of(end.max(1)).unwrap_or_else(Instant::now);
        let found = ConsoleMatch {
            text: String::from_utf8_lossy(&hay[range]).into_owned(),
            arrived,
            interleaved,
        };
        drop(s);
        self.scan = None;
        Some((found, end))
    }

    /// The console's name.
    pub(crate) fn name(&self) -> &str {
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
        // At most four bytes a character: enough bytes for TAIL_CHARS of them.
        let text = {
            let s = self.lock();
            let start = s.bytes.len().saturating_sub(TAIL_CHARS * 4);
            String::from_utf8_lossy(&s.bytes[start..]).into_owned()
        };
        let start = text
            .char_indices()
            .rev()
            .nth(TAIL_CHARS)
            .map(|(i, _)| i)
            .unwrap_or(0);
        text[start..].to_string()
    }

    /// Waits until `pattern` matches the transcript after the last `expect`ed
    /// match, then moves past it (like expect(1)).
    pub async fn expect(
        &mut self,
        pattern: &Regex,
        limit: Duration,
    ) -> Result<ConsoleMatch, ConsoleError> {
        let found = self.wait_from(self.cursor, pattern, limit).await?;
        self.cursor = found.1;
        Ok(found.0)
    }

    /// Like [`Console::expect`], without waiting: the match if the text is
    /// already there.
    pub fn try_expect(&mut self, pattern: &Regex) -> Option<ConsoleMatch> {
        let (found, end) = self.find_from(self.cursor, pattern)?;
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
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Waits until `pattern` matches anywhere in the transcript, without moving.
    #[cfg(test)]
    pub(crate) async fn wait_for(
        &mut self,
        pattern: &Regex,
        limit: Duration,
    ) -> Result<ConsoleMatch, ConsoleError> {
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
            // Read `closed` before searching: text that arrived before the close is searched.
            let closed = self.is_closed();
            if let Some(found) = self.find_from(from, pattern) {
                return Ok(found);
            }
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
    pub(crate) async fn send(&mut self, text: &str) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A console fed by the test through the other end of a socket pair.
    fn pair() -> (Console, UnixStream) {
        let (ours, theirs) = UnixStream::pair().expect("a socket pair");
        (Console::from_stream("test", ours), theirs)
    }

    /// Waits (bounded) until the console has received `len` bytes.
    async fn received(c: &Console, len: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while c.len() < len {
            assert!(
                Instant::now() < deadline,
                "console got {} of {len} bytes",
                c.len()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn re(p: &str) -> Regex {
        Regex::new(p).expect("a valid pattern")
    }

    // Before the fix, the lossy copy turned each invalid byte into a 3-byte
    // replacement character, so the cursor after "boot A" landed 4 bytes too
    // far, inside "B ready", and the second milestone was never found.
    #[tokio::test]
    async fn invalid_utf8_before_a_milestone_does_not_skip_the_next() {
        let (mut c, mut feed) = pair();
        feed.write_all(b"\xff\xfeboot A\nB ready\n")
            .await
            .expect("write");
        let a = c
            .expect(&re("boot A"), Duration::from_secs(20))
            .await
            .expect("first milestone");
        assert_eq!(a.text, "boot A");
        let b = c
            .expect(&re("B ready"), Duration::from_secs(20))
            .await
            .expect("second milestone");
        assert_eq!(b.text, "B ready");
    }

    #[tokio::test]
    async fn a_pattern_split_across_reads_is_found() {
        let (mut c, mut feed) = pair();
        feed.write_all(b"boot: mile").await.expect("write");
        received(&c, 10).await;
        assert!(
            c.try_expect(&re("milestone")).is_none(),
            "half of it is not a match"
        );
        feed.write_all(b"stone reached\n").await.expect("write");
        received(&c, 24).await;
        let m = c
            .try_expect(&re("milestone"))
            .expect("the whole pattern across two reads");
        assert_eq!(m.text, "milestone");
        // The cursor sits right after it.
        assert_eq!(
            c.try_expect(&re(r"^ reached")).map(|m| m.text),
            Some(" reached".to_string())
        );
    }

    // A chatty console looked at after every read: the work stays linear in
    // the transcript (each look scans the new bytes plus the look-back), where
    // rescanning all unmatched text every time is quadratic (~250 MB here).
    #[tokio::test]
    async fn chatty_output_is_scanned_linearly() {
        let (mut c, mut feed) = pair();
        let chunk = [b'x'; 1000];
        let reads = 500;
        let never = re("login: ");
        for i in 1..=reads {
            feed.write_all(&chunk).await.expect("write");
            received(&c, i * chunk.len()).await;
            assert!(c.try_expect(&never).is_none());
        }
        feed.write_all(b"login: ").await.expect("write");
        received(&c, reads * chunk.len() + 7).await;
        assert!(c.try_expect(&never).is_some(), "the prompt after 500 KB");
        let total = (reads * chunk.len() + 7) as u64;
        let bound = total + (reads as u64 + 1) * LOOK_BACK as u64;
        assert!(
            c.bytes_scanned() <= bound,
            "scanned {} bytes for a {total}-byte transcript",
            c.bytes_scanned()
        );
    }

    // The fault-nodeleg failure in CI (QEMU 8.0.2, under load): hart 1's
    // report cut vm0's boot line, and the run was judged "vm0 printed no
    // milestone". Arriving in two reads, the cut between them.
    #[tokio::test]
    async fn a_milestone_cut_by_another_writers_line_is_found_and_marked() {
        let (mut c, mut feed) = pair();
        feed.write_all(b"hypervisor: hart 1 parkg")
            .await
            .expect("write");
        received(&c, 24).await;
        let boot = re("guest kernel is booting");
        assert!(c.try_expect(&boot).is_none());
        feed.write_all(b"d\r\nuest kernel is booting\r\ninit: starting sh\r\n")
            .await
            .expect("write");
        received(&c, 70).await;
        let m = c.try_expect(&boot).expect("the cut milestone");
        assert!(m.interleaved);
        assert_eq!(m.text, "gd\r\nuest kernel is booting");
        let next = c.try_expect(&re("init: starting sh")).expect("the next");
        assert!(!next.interleaved, "a whole match is not marked");
        // Short patterns are matched whole only.
        let (mut c, mut feed) = pair();
        feed.write_all(b"$[hv] tick\n $").await.expect("write");
        received(&c, 13).await;
        assert!(c.try_expect(&re(r"\$ \$")).is_none());
    }

    #[tokio::test]
    async fn wait_for_searches_from_the_start_without_moving() {
        let (mut c, mut feed) = pair();
        feed.write_all(b"one two").await.expect("write");
        received(&c, 7).await;
        assert!(c.try_expect(&re("two")).is_some());
        let m = c
            .wait_for(&re("one"), Duration::from_secs(5))
            .await
            .expect("anywhere");
        assert_eq!(m.text, "one");
        assert!(
            c.try_expect(&re("one")).is_none(),
            "expect still starts after \"two\""
        );
    }
}
