//! Progress of a matrix on stderr: on a terminal, live bars (cells done,
//! running and left, elapsed time, one line per running cell); elsewhere
//! (CI logs, pipes) one plain line per event.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where matrix progress goes.
pub(crate) struct Progress {
    live: Option<Live>,
    total: usize,
}

struct Live {
    multi: MultiProgress,
    overall: ProgressBar,
    running: usize,
}

/// A running cell's line (live mode only).
pub(crate) struct CellLine(Option<ProgressBar>);

impl Progress {
    /// Live bars when stderr is a terminal, plain lines otherwise.
    pub(crate) fn new(total: usize) -> Progress {
        let live = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(total as u64));
            let style = ProgressStyle::with_template(
                "[{elapsed_precise}] {bar:30} {pos}/{len} done, {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            overall.set_style(style);
            overall.enable_steady_tick(Duration::from_millis(200));
            Live {
                multi,
                overall,
                running: 0,
            }
        });
        let p = Progress { live, total };
        p.refresh();
        p
    }

    fn refresh(&self) {
        if let Some(l) = &self.live {
            let done = l.overall.position() as usize;
            let left = self.total.saturating_sub(done + l.running);
            l.overall
                .set_message(format!("{} running, {left} left", l.running));
        }
    }

    /// A cell starts (`n` is its 1-based number).
    pub(crate) fn start(&mut self, n: usize, what: &str) -> CellLine {
        match &mut self.live {
            Some(l) => {
                l.running += 1;
                let bar = l.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("  {spinner} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(what.to_string());
                bar.enable_steady_tick(Duration::from_millis(200));
                self.refresh();
                CellLine(Some(bar))
            }
            None => {
                eprintln!("hvharness: [{n}/{}] {what} ...", self.total);
                CellLine(None)
            }
        }
    }

    /// A cell ended; `line` says how.
    pub(crate) fn finish(&mut self, cell: CellLine, line: &str) {
        if let Some(bar) = cell.0 {
            bar.finish_and_clear();
        }
        match &mut self.live {
            Some(l) => {
                l.running = l.running.saturating_sub(1);
                l.overall.inc(1);
                l.multi.suspend(|| eprintln!("hvharness: {line}"));
                self.refresh();
            }
            None => eprintln!("hvharness: {line}"),
        }
    }

    /// Clears the bars.
    pub(crate) fn done(self) {
        if let Some(l) = self.live {
            l.overall.finish_and_clear();
        }
    }
}
