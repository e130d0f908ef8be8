//! `matrix --shard K/N`: which cells one of N machines runs.
//!
//! The split depends only on the cells' names (`scenario@qemu`) and, when a
//! previous result file is given, their measured durations: the same inputs
//! give the same shards on every machine, and every cell lands in exactly
//! one shard. Without durations the cells, sorted by name, are dealt round
//! robin (shard sizes differ by at most one); with durations the longest
//! cell goes first to the least loaded shard (longest processing time
//! first), so one slow scenario does not make one shard twice as long.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use super::schema::{CellStatus, ResultFile};

/// Shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub(crate) index: usize,
    pub(crate) count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("shard {s:?}: expected K/N with 1 <= K <= N, e.g. 1/2");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Estimated seconds per cell key, from a previous result file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Costs {
    by_cell: HashMap<String, f64>,
    by_scenario: HashMap<String, f64>,
    overall: Option<f64>,
}

impl Costs {
    /// The measured durations of `previous`. A cell that was skipped there
    /// costs nothing; a cell it lacks costs its scenario's mean, else the
    /// mean of every measured cell.
    pub(crate) fn from_results(previous: &ResultFile) -> Costs {
        let mut by_cell = HashMap::new();
        let mut sums: HashMap<String, (f64, usize)> = HashMap::new();
        let (mut total, mut n) = (0.0, 0usize);
        for c in &previous.cells {
            match (c.status, c.duration_secs) {
                (CellStatus::Skipped, _) => {
                    by_cell.insert(c.key(), 0.0);
                }
                (_, Some(d)) if d.is_finite() && d >= 0.0 => {
                    by_cell.insert(c.key(), d);
                    let e = sums.entry(c.scenario.clone()).or_default();
                    e.0 += d;
                    e.1 += 1;
                    total += d;
                    n += 1;
                }
                _ => {}
            }
        }
        let by_scenario = sums
            .into_iter()
            .map(|(k, (s, n))| (k, s / n as f64))
            .collect();
        Costs {
            by_cell,
            by_scenario,
            overall: (n > 0).then(|| total / n as f64),
        }
    }

    fn estimate(&self, scenario: &str, qemu: &str) -> f64 {
        self.by_cell
            .get(&format!("{scenario}@{qemu}"))
            .or_else(|| self.by_scenario.get(scenario))
            .copied()
            .or(self.overall)
            .unwrap_or(1.0)
    }
}

/// For each cell `(scenario, qemu)`, whether it belongs to `shard`.
pub(crate) fn select(cells: &[(String, String)], shard: Shard, costs: Option<&Costs>) -> Vec<bool> {
    let owner = assign(cells, shard.count, costs);
    owner.into_iter().map(|o| o + 1 == shard.index).collect()
}

/// The 0-based shard of each cell.
pub(crate) fn assign(
    cells: &[(String, String)],
    count: usize,
    costs: Option<&Costs>,
) -> Vec<usize> {
    let count = count.max(1);
    let mut order: Vec<usize> = (0..cells.len()).collect();
    // Name order first: the input order (the command line's) must not matter.
    order.sort_by(|&a, &b| cells[a].cmp(&cells[b]));
    let mut owner = vec![0; cells.len()];
    match costs {
        None => {
            for (rank, &i) in order.iter().enumerate() {
                owner[i] = rank % count;
            }
        }
        Some(costs) => {
            let cost: Vec<f64> = cells.iter().map(|(s, q)| costs.estimate(s, q)).collect();
            // Stable sort: equal costs keep name order.
            order.sort_by(|&a, &b| cost[b].total_cmp(&cost[a]));
            let mut load = vec![0.0f64; count];
            for &i in &order {
                let lightest = (0..count)
                    .min_by(|&x, &y| load[x].total_cmp(&load[y]))
                    .unwrap_or(0);
                owner[i] = lightest;
                load[lightest] += cost[i];
            }
        }
    }
    owner
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::schema::Cell;

    fn cells(scenarios: &[&str], versions: &[&str]) -> Vec<(String, String)> {
        scenarios
            .iter()
            .flat_map(|s| versions.iter().map(move |v| (s.to_string(), v.to_string())))
            .collect()
    }

    #[test]
    fn parses() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/2", "3/2", "1/0", "1", "a/b", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn union_is_every_cell_once_and_counts_balance() {
        let all = cells(&["a", "b", "c"], &["7.2.22", "8.0.2", "9.2.0", "10.0.2"]);
        for n in 1..=5 {
            let owner = assign(&all, n, None);
            let mut sizes = vec![0; n];
            for o in &owner {
                sizes[*o] += 1;
            }
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(max - min <= 1, "{n} shards: {sizes:?}");
            for k in 1..=n {
                let picked = select(&all, Shard { index: k, count: n }, None);
                for (i, p) in picked.iter().enumerate() {
                    assert_eq!(*p, owner[i] == k - 1);
                }
            }
        }
    }

    #[test]
    fn input_order_does_not_matter() {
        let all = cells(&["a", "b", "c"], &["7.2.22", "10.0.2"]);
        let mut reversed = all.clone();
        reversed.reverse();
        let costs = Costs::default();
        for c in [None, Some(&costs)] {
            let x = assign(&all, 2, c);
            let y = assign(&reversed, 2, c);
            for (i, cell) in all.iter().enumerate() {
                let j = reversed.iter().position(|r| r == cell).unwrap();
                assert_eq!(x[i], y[j], "{cell:?}");
            }
        }
    }

    #[test]
    fn durations_balance_time_not_count() {
        // One slow scenario (10 s per cell) and three fast ones (1 s).
        let all = cells(&["fast1", "fast2", "fast3", "slow"], &["7.2.22", "10.0.2"]);
        let prev = ResultFile::new(
            None,
            all.iter()
                .map(|(s, q)| {
                    let mut c = Cell::not_run(s, q, CellStatus::Passed, String::new());
                    c.duration_secs = Some(if s == "slow" { 10.0 } else { 1.0 });
                    c
                })
                .collect(),
        );
        let costs = Costs::from_results(&prev);
        let owner = assign(&all, 2, Some(&costs));
        let mut load = [0.0; 2];
        for (i, (s, _)) in all.iter().enumerate() {
            load[owner[i]] += if s == "slow" { 10.0 } else { 1.0 };
        }
        assert_eq!(load, [13.0, 13.0], "{owner:?}");
    }

    #[test]
    fn unknown_cells_cost_their_scenario_mean() {
        let mut c = Cell::not_run("s", "7.2.22", CellStatus::Passed, String::new());
        c.duration_secs = Some(4.0);
        let costs = Costs::from_results(&ResultFile::new(None, vec![c]));
        assert_eq!(costs.estimate("s", "11.0.0"), 4.0);
        assert_eq!(costs.estimate("other", "7.2.22"), 4.0);
        assert_eq!(Costs::default().estimate("x", "1.0.0"), 1.0);
    }
}
