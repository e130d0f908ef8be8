//! Timer samples on the pages of armed breakpoints, counted as the interrupt
//! log streams in: the input of the slowdown estimate (`runner::hot_pages`,
//! which turns these counts into figures and a warning). It lives beside the
//! trap log that feeds it, so the QEMU side needs nothing from the runner.

use std::collections::BTreeMap;

use super::trap_log::{hart_slot, LoggedTrap};

/// The page size QEMU's translation (and so the slowdown) works in.
pub(crate) const PAGE_SIZE: u64 = 4096;

/// Pages ever watched in a run (one per breakpoint at most).
pub(crate) const MAX_PAGES: usize = 32;
/// Distinct pcs counted per page; more are counted as unbinned.
pub(crate) const MAX_PCS: usize = 512;
/// A timer interrupt (supervisor 5, virtual supervisor 6, machine 7): the
/// samples, taken at a steady rate of real time.
fn is_timer(t: &LoggedTrap) -> bool {
    t.interrupt && matches!(t.cause, 5..=7)
}

/// A code breakpoint in the target: its location as written, its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArmedCode {
    pub(crate) breakpoint: String,
    pub(crate) address: u64,
}

/// Samples on one watched page.
#[derive(Debug, Clone, Default)]
pub(crate) struct PageCounts {
    pub(crate) page: u64,
    /// The breakpoints ever armed on it, in order.
    pub(crate) breakpoints: Vec<String>,
    pub(crate) samples: u64,
    /// Samples by pc (at most [`MAX_PCS`] pcs).
    pub(crate) pcs: BTreeMap<u64, u64>,
    /// Samples at pcs beyond the histogram's bound.
    pub(crate) unbinned: u64,
}

/// Per hart: every timer sample, and those on a page with an armed breakpoint.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HartCounts {
    pub(crate) samples: u64,
    pub(crate) on_pages: u64,
}

/// The sampling profiler fed by the interrupt log (see the module doc).
#[derive(Debug, Clone, Default)]
pub(crate) struct Profiler {
    /// The code breakpoints in the target now.
    pub(crate) armed: Vec<ArmedCode>,
    pub(crate) harts: Vec<HartCounts>,
    /// Every page watched during the run (bounded).
    pub(crate) pages: Vec<PageCounts>,
}

impl Profiler {
    /// Says which code breakpoints are in the target from now on (called
    /// whenever that may have changed; cheap when it has not).
    pub(crate) fn set_armed(&mut self, armed: &[ArmedCode]) {
        if self.armed == armed {
            return;
        }
        self.armed.clear();
        for a in armed {
            let page = a.address & !(PAGE_SIZE - 1);
            let index = match self.pages.iter().position(|p| p.page == page) {
                Some(i) => i,
                None if self.pages.len() < MAX_PAGES => {
                    self.pages.push(PageCounts {
                        page,
                        ..PageCounts::default()
                    });
                    self.pages.len() - 1
                }
                // Past the bound the page is not watched.
                None => continue,
            };
            let names = &mut self.pages[index].breakpoints;
            if !names.contains(&a.breakpoint) {
                names.push(a.breakpoint.clone());
            }
            self.armed.push(a.clone());
        }
    }

    /// Takes one trap record; only timer interrupts are samples.
    pub(crate) fn sample(&mut self, t: &LoggedTrap) {
        if !is_timer(t) {
            return;
        }
        let Some(hart) = hart_slot(&mut self.harts, t.hart) else {
            return;
        };
        self.harts[hart].samples += 1;
        let page = t.epc & !(PAGE_SIZE - 1);
        // The breakpoint's own address is where a hart stops, not hot code.
        let watched = self
            .armed
            .iter()
            .any(|a| a.address & !(PAGE_SIZE - 1) == page)
            && !self.armed.iter().any(|a| a.address == t.epc);
        if !watched {
            return;
        }
        let Some(p) = self.pages.iter_mut().find(|p| p.page == page) else {
            return;
        };
        self.harts[hart].on_pages += 1;
        p.samples += 1;
        if p.pcs.len() < MAX_PCS || p.pcs.contains_key(&t.epc) {
            *p.pcs.entry(t.epc).or_default() += 1;
        } else {
            p.unbinned += 1;
        }
    }
}
