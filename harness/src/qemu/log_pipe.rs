//! QEMU's `-d` log, streamed through a FIFO instead of written to a file.
//!
//! A guest doing ordinary work makes QEMU write 10-15 MB of `-d int` log a
//! second; stored, that fills a disk. QEMU (7.2 to 10.0 alike) accepts a FIFO
//! as `-D` and opens it with a plain `fopen(..., "w")`. The harness creates
//! the FIFO in the session directory and opens its read end *before* QEMU
//! starts (non-blocking, so the open itself does not wait for a writer), plus
//! a write end of its own: with that, QEMU's open never blocks (a reader
//! exists) and the reader never sees end-of-file before QEMU has opened it or
//! after QEMU exits. A dedicated thread reads as fast as QEMU writes and hands
//! the bytes to a [`LogSink`]; nothing is kept on disk.
//!
//! A pipe makes its writer wait when it is full. The reader is far faster
//! than QEMU's formatting, but on a loaded machine the thread may not be
//! scheduled for a while: each read that finds the pipe full (QEMU may have
//! waited) is counted, and after several in a row the reader stops parsing
//! and only drains, counting what it dropped, until it has caught up.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

/// Where the reader puts what it reads. Called on the reader thread.
pub trait LogSink: Send + Sync {
    /// The next bytes, in order, split anywhere.
    fn data(&self, bytes: &[u8]);
    /// Bytes the reader skipped to catch up (`lines`: newlines in them).
    fn dropped(&self, bytes: u64, lines: u64);
}

/// The pipe's capacity asked for (the kernel's default is 64 KiB; an
/// unprivileged process may raise it to /proc/sys/fs/pipe-max-size, 1 MiB).
const PIPE_SIZE: i32 = 1 << 20;
/// How often the reader looks at its stop flag while nothing comes.
const POLL_MS: u16 = 50;
/// Full-pipe reads in a row after which the reader sheds load.
const BEHIND_AFTER: u32 = 4;

/// The FIFO, its reader thread, and the counters it keeps.
pub(crate) struct LogPipe {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Reads that found the pipe full: QEMU may have waited on the harness.
    full_reads: Arc<AtomicU64>,
    /// Rounds in which the reader found the pipe empty.
    idle_rounds: Arc<AtomicU64>,
}

impl LogPipe {
    /// Creates the FIFO at `path` (which must not exist) and starts reading it.
    pub(crate) fn create(path: &Path, sink: Arc<dyn LogSink>) -> Result<LogPipe> {
        nix::unistd::mkfifo(
            path,
            nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
        )
        .with_context(|| format!("creating the log FIFO {}", path.display()))?;
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(path)
            .with_context(|| format!("opening {} for reading", path.display()))?;
        // Ours: keeps the pipe open for writing so neither end sees a hang-up
        // before QEMU opens it or after it exits (close-on-exec: QEMU does not
        // inherit it).
        let writer = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(path)
            .with_context(|| format!("opening {} for writing", path.display()))?;
        let capacity = nix::fcntl::fcntl(
            reader.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE),
        )
        .or_else(|_| nix::fcntl::fcntl(reader.as_raw_fd(), nix::fcntl::FcntlArg::F_GETPIPE_SZ))
        .unwrap_or(64 << 10)
        .max(4096) as usize;
        let stop = Arc::new(AtomicBool::new(false));
        let full_reads = Arc::new(AtomicU64::new(0));
        let idle_rounds = Arc::new(AtomicU64::new(0));
        let thread = std::thread::Builder::new()
            .name("qemu-log".to_string())
            .spawn({
                let stop = stop.clone();
                let counters = Counters {
                    full_reads: full_reads.clone(),
                    idle_rounds: idle_rounds.clone(),
                };
                move || read_loop(reader, writer, capacity, sink, &stop, &counters)
            })
            .context("starting the log reader thread")?;
        Ok(LogPipe {
            stop,
            thread: Some(thread),
            full_reads,
            idle_rounds,
        })
    }

    /// Reads that found the pipe full (QEMU may have waited for the harness).
    pub(crate) fn full_reads(&self) -> u64 {
        self.full_reads.load(Ordering::Relaxed)
    }

    /// Waits (at most `limit`) until the reader has found the pipe empty
    /// twice: with QEMU stopped, everything it wrote has been read.
    pub(crate) async fn sync(&self, limit: Duration) {
        let seen = self.idle_rounds.load(Ordering::Relaxed);
        let until = std::time::Instant::now() + limit;
        while self.idle_rounds.load(Ordering::Relaxed) < seen + 2
            && std::time::Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Reads what is left and stops the thread; for after QEMU has stopped.
    pub(crate) fn finish(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LogPipe {
    fn drop(&mut self) {
        self.finish();
    }
}

struct Counters {
    full_reads: Arc<AtomicU64>,
    idle_rounds: Arc<AtomicU64>,
}

fn read_loop(
    mut reader: File,
    _writer: File,
    capacity: usize,
    sink: Arc<dyn LogSink>,
    stop: &AtomicBool,
    counters: &Counters,
) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut buf = vec![0u8; capacity];
    let mut full_in_a_row = 0u32;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if !stopping {
            let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
            // EINTR or an error: look again (the stop flag bounds the loop).
            let _ = poll(&mut fds, PollTimeout::from(POLL_MS));
        }
        // Everything readable now.
        let mut got = 0;
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    got += n;
                    if n == buf.len() {
                        counters.full_reads.fetch_add(1, Ordering::Relaxed);
                        full_in_a_row += 1;
                    } else {
                        full_in_a_row = 0;
                    }
                    if full_in_a_row > BEHIND_AFTER {
                        let lines = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                        sink.dropped(n as u64, lines);
                    } else {
                        sink.data(&buf[..n]);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // WouldBlock: drained. Anything else: nothing more to read.
                Err(_) => break,
            }
        }
        if got == 0 {
            counters.idle_rounds.fetch_add(1, Ordering::Relaxed);
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Collect {
        bytes: Mutex<Vec<u8>>,
        dropped: AtomicU64,
    }

    impl LogSink for Collect {
        fn data(&self, bytes: &[u8]) {
            self.bytes.lock().unwrap().extend_from_slice(bytes);
        }
        fn dropped(&self, bytes: u64, _lines: u64) {
            self.dropped.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// A writer that opens, writes, closes and opens again (as QEMU may) is
    /// read in full; the reader stops and leaves no thread behind.
    #[test]
    fn reads_what_writers_write_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let sink = Arc::new(Collect::default());
        let mut pipe = LogPipe::create(&path, sink.clone()).unwrap();
        let mut expected = Vec::new();
        for round in 0..3 {
            // A blocking open: returns at once because the reader is open.
            let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            for i in 0..2000 {
                let line = format!("round {round} line {i}\n");
                w.write_all(line.as_bytes()).unwrap();
                expected.extend_from_slice(line.as_bytes());
            }
        }
        pipe.finish();
        let got = sink.bytes.lock().unwrap().clone();
        assert_eq!(
            got.len() as u64 + sink.dropped.load(Ordering::Relaxed),
            expected.len() as u64
        );
        if sink.dropped.load(Ordering::Relaxed) == 0 {
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn an_existing_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, b"").unwrap();
        let e = LogPipe::create(&path, Arc::new(Collect::default()))
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("creating the log FIFO"), "{e:#}");
    }
}
