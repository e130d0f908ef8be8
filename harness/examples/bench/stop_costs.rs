//! Where a run's stops spend their time: the gdbstub round trips of each
//! run, per kind of request, read back from the file the RSP client writes
//! them to (`HVHARNESS_RSP_COSTS`, see the crate's `rsp::costs`).

use std::path::PathBuf;

use hvharness::internals::rsp::{RspCosts, COSTS_ENV};

/// The file this process's clients append their costs to.
fn path() -> PathBuf {
    std::env::temp_dir().join(format!("hvharness-bench-rsp-costs-{}", std::process::id()))
}

/// Makes every RSP client of this process write its costs (call before any
/// run starts: the environment is read when a client is dropped).
pub(crate) fn enable() {
    std::env::set_var(COSTS_ENV, path());
}

/// The costs of the runs since the last call, summed; the file is emptied.
pub(crate) fn take() -> RspCosts {
    let mut sum = RspCosts::default();
    let Ok(text) = std::fs::read_to_string(path()) else {
        return sum;
    };
    for line in text.lines() {
        if let Ok(c) = serde_json::from_str::<RspCosts>(line) {
            sum.add(&c);
        }
    }
    let _ = std::fs::write(path(), "");
    sum
}

/// Removes the file (the end of the bench).
pub(crate) fn remove() {
    let _ = std::fs::remove_file(path());
}

/// One line per variant: per run, the trap stops, the round trips and the
/// time stopped; then the kinds that cost most, per run.
pub(crate) fn print(label: &str, runs: &[RspCosts]) {
    if runs.is_empty() {
        return;
    }
    let n = runs.len() as f64;
    let mut sum = RspCosts::default();
    for r in runs {
        sum.add(r);
    }
    let stops = sum.trap_stops as f64 / n;
    let trips = sum.round_trips() as f64 / n;
    let stopped_ms = sum.stopped_micros as f64 / 1000.0 / n;
    let rsp_ms: f64 = sum
        .kinds
        .iter()
        .filter(|(k, _)| k.as_str() != "continue")
        .map(|(_, c)| c.micros as f64)
        .sum::<f64>()
        / 1000.0
        / n;
    let per_stop = if sum.trap_stops > 0 {
        format!(
            "{:.2} ms/stop",
            sum.stopped_micros as f64 / 1000.0 / sum.trap_stops as f64
        )
    } else {
        "no stops".to_string()
    };
    println!(
        "      {label:<14} per run: {stops:.1} stops + {:.1} looks, {trips:.0} round trips ({rsp_ms:.1} ms), stopped {stopped_ms:.1} ms ({per_stop})",
        sum.interrupt_stops as f64 / n
    );
    let mut kinds: Vec<_> = sum
        .kinds
        .iter()
        .filter(|(k, _)| k.as_str() != "continue")
        .collect();
    kinds.sort_by_key(|(_, c)| std::cmp::Reverse(c.micros));
    let parts: Vec<String> = kinds
        .iter()
        .take(7)
        .map(|(k, c)| {
            format!(
                "{k} {:.1}x {:.2} ms",
                c.count as f64 / n,
                c.micros as f64 / 1000.0 / n
            )
        })
        .collect();
    if !parts.is_empty() {
        println!("        {}", parts.join(", "));
    }
}
