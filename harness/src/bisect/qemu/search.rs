//! The search along one line of commits, apart from building or running
//! anything: which commit to test next, and what the answer is.
//!
//! The line is a list of commits, oldest first, each the first parent of the
//! next (a first-parent chain, or a pull request's branch). The commit just
//! before the list is known to behave like the good end, the last commit of
//! the list is known to behave like the bad end; the answer is the first
//! commit of the list that behaves like the bad end. As for `bisect
//! versions`, the outcome is assumed to change once along the line.
//!
//! A commit that cannot be tested (its build fails) is skipped: the search
//! tests the untested commit nearest to the middle instead, and if only
//! skipped commits are left between the last good and the first bad, the
//! answer is a range.

use std::collections::BTreeSet;

/// What one commit did, as the search counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// Behaves like the good end.
    Good,
    /// Behaves like the bad end (or differs from the good end some other way).
    Bad,
    /// Cannot be tested.
    Skip,
}

/// The answer of a finished search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// This index is the first bad commit.
    Exactly(usize),
    /// The first bad commit is one of these indices (all but the last skipped).
    OneOf(Vec<usize>),
}

/// A lower-bound binary search with skips over `len` commits.
#[derive(Debug, Clone)]
pub(crate) struct LineSearch {
    /// Every index below `lo` is good.
    lo: usize,
    /// `hi` is bad (the last index is bad from the start).
    hi: usize,
    skipped: BTreeSet<usize>,
}

/// ceil(log2 n), 0 for n <= 1: the tests that tell n possibilities apart.
pub(crate) fn ceil_log2(n: usize) -> usize {
    if n <= 1 {
        0
    } else {
        (usize::BITS - (n - 1).leading_zeros()) as usize
    }
}

impl LineSearch {
    /// A search over `len` commits, the last one known bad; `len` >= 1.
    pub(crate) fn new(len: usize) -> LineSearch {
        LineSearch {
            lo: 0,
            hi: len.saturating_sub(1),
            skipped: BTreeSet::new(),
        }
    }

    /// The most tests left when no commit gets skipped.
    pub(crate) fn tests_left(&self) -> usize {
        ceil_log2(self.hi - self.lo + 1)
    }

    /// The index to test next, or `None` when the search is over: the
    /// untested index nearest to the middle of what is left (lower first).
    pub(crate) fn next(&self) -> Option<usize> {
        if self.lo >= self.hi {
            return None;
        }
        let mid = self.lo + (self.hi - self.lo) / 2;
        let span = self.hi - self.lo;
        (0..=span)
            .flat_map(|d| [mid.checked_sub(d), mid.checked_add(d)])
            .flatten()
            .find(|&i| i >= self.lo && i < self.hi && !self.skipped.contains(&i))
    }

    /// Takes the mark of the commit at `index`.
    pub(crate) fn record(&mut self, index: usize, mark: Mark) {
        match mark {
            Mark::Good => self.lo = self.lo.max(index + 1),
            Mark::Bad => self.hi = self.hi.min(index),
            Mark::Skip => {
                self.skipped.insert(index);
            }
        }
    }

    /// When [`next`](Self::next) is `None`: the answer.
    pub(crate) fn found(&self) -> Found {
        if self.lo >= self.hi {
            Found::Exactly(self.hi)
        } else {
            Found::OneOf((self.lo..=self.hi).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search where commits from `first_bad` on are bad and `skips` cannot be tested.
    fn search(len: usize, first_bad: usize, skips: &[usize]) -> (Found, Vec<usize>) {
        let mut s = LineSearch::new(len);
        let mut tested = Vec::new();
        while let Some(i) = s.next() {
            assert!(!tested.contains(&i), "index {i} tested twice");
            tested.push(i);
            let mark = if skips.contains(&i) {
                Mark::Skip
            } else if i >= first_bad {
                Mark::Bad
            } else {
                Mark::Good
            };
            s.record(i, mark);
        }
        (s.found(), tested)
    }

    #[test]
    fn finds_every_position_within_the_bound() {
        for len in 1..40 {
            for first_bad in 0..len {
                let (found, tested) = search(len, first_bad, &[]);
                assert_eq!(found, Found::Exactly(first_bad), "len {len}");
                assert!(
                    tested.len() <= ceil_log2(len),
                    "len {len} first_bad {first_bad}: {tested:?}"
                );
            }
        }
    }

    #[test]
    fn a_skipped_commit_is_stepped_around() {
        // 16 commits, the first bad is 9; 7 (the first middle) cannot be built.
        let (found, tested) = search(16, 9, &[7]);
        assert_eq!(found, Found::Exactly(9));
        assert_eq!(tested[0], 7);
        assert!(tested.len() <= ceil_log2(16) + 1, "{tested:?}");
    }

    #[test]
    fn a_skipped_neighbour_of_the_culprit_leaves_a_range() {
        // Commit 4 is bad, 3 cannot be built: 3 or 4 introduced the change.
        let (found, _) = search(8, 4, &[3]);
        assert_eq!(found, Found::OneOf(vec![3, 4]));
    }

    #[test]
    fn the_skipped_culprit_itself_leaves_a_range() {
        let (found, _) = search(8, 4, &[4]);
        assert_eq!(found, Found::OneOf(vec![4, 5]));
    }
}
