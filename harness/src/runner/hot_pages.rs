//! Breakpoints that slow the boot, seen from QEMU's interrupt log.
//!
//! QEMU translates the code on a page that holds a breakpoint one instruction
//! per block, without chaining blocks (so that it can stop exactly there):
//! hot code that shares the page runs many times slower. The interrupt log
//! already streamed for the verdicts is a free sampling profiler: every timer
//! interrupt records the pc its hart was at. [`Profiler`] counts, per hart,
//! those samples and the ones that fell on the 4 KiB page of a breakpoint
//! armed at that moment (the runner tells it which are, as they come and
//! go), keeps a bounded histogram of the pcs sampled there, and
//! [`Profiler::figures`] turns the share into an estimated slowdown and,
//! above a threshold, a warning that names the breakpoint, the page and the
//! hot functions. Memory is bounded (pages x pcs x a constant) however long
//! the run.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::debug::DebugSession;
use crate::elf::ElfSet;
use crate::qemu::page_samples::PageCounts;
pub(crate) use crate::qemu::page_samples::{ArmedCode, Profiler};
use crate::qemu::trap_log::{SharedTrapLog, TrapLog};
use crate::scenario::Scenario;

/// How many times slower code runs on a breakpoint's page (k in the
/// estimate). Bench figure (h) measured whole boots of the hotpage fixture,
/// whose scrub is nearly the whole boot, 15-25 times slower with the
/// breakpoint in on every QEMU (7.2.22 to 10.0.2); a whole boot's ratio is
/// a lower bound of the per-page factor (part of the boot runs elsewhere).
/// 20 sits in that range without reaching for its top: the estimate errs low,
/// never inflating a warning.
pub(crate) const PAGE_SLOWDOWN: f64 = 20.0;

/// A warning needs at least this many samples on breakpoint pages on one
/// hart (a short run or a rare visit says nothing)...
pub(crate) const WARN_MIN_SAMPLES: u64 = 32;
/// ...and an estimated slowdown of at least this on that hart (about a
/// third of the samples on the pages, with [`PAGE_SLOWDOWN`]).
pub(crate) const WARN_SLOWDOWN: f64 = 1.5;

/// Functions named per page in the report, and at most in the warning.
const TOP_FUNCTIONS: usize = 8;
const WARN_FUNCTIONS: usize = 4;

/// The estimated slowdown of a run in which a share `f` of the time went to
/// code that would run `k` times faster without the breakpoint: the time
/// without it over the time with it is (1 - f) + f / k.
pub(crate) fn estimated_slowdown(f: f64, k: f64) -> f64 {
    let f = f.clamp(0.0, 1.0);
    1.0 / ((1.0 - f) + f / k)
}

impl Profiler {
    /// The figures and, when they call for one, the warning. `name_of(pc,
    /// breakpoints)` names the function at a sampled pc, given the
    /// breakpoints on its page (whose ELF space to prefer).
    pub(crate) fn figures(&self, name_of: impl Fn(u64, &[String]) -> Option<String>) -> HotPages {
        let harts: Vec<HartShare> = self
            .harts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let share = if h.samples == 0 {
                    0.0
                } else {
                    h.on_pages as f64 / h.samples as f64
                };
                HartShare {
                    hart: i as u64,
                    samples: h.samples,
                    on_breakpoint_pages: h.on_pages,
                    share,
                    estimated_slowdown: estimated_slowdown(share, PAGE_SLOWDOWN),
                }
            })
            .collect();
        let mut pages: Vec<HotPage> = self
            .pages
            .iter()
            .filter(|p| p.samples > 0)
            .map(|p| HotPage {
                page: p.page,
                breakpoints: p.breakpoints.clone(),
                samples: p.samples,
                functions: functions(p, &name_of),
            })
            .collect();
        pages.sort_by(|a, b| b.samples.cmp(&a.samples).then(a.page.cmp(&b.page)));
        let worst = harts
            .iter()
            .filter(|h| h.on_breakpoint_pages >= WARN_MIN_SAMPLES)
            .max_by(|a, b| a.estimated_slowdown.total_cmp(&b.estimated_slowdown));
        let warning = match (worst, pages.first()) {
            (Some(h), Some(p)) if h.estimated_slowdown >= WARN_SLOWDOWN => Some(warning(h, p)),
            _ => None,
        };
        HotPages {
            per_page_factor: PAGE_SLOWDOWN,
            estimated_slowdown: harts
                .iter()
                .map(|h| h.estimated_slowdown)
                .fold(1.0, f64::max),
            harts,
            pages,
            warning,
        }
    }
}

/// The page's samples by function, most sampled first (the top few).
fn functions(
    p: &PageCounts,
    name_of: &impl Fn(u64, &[String]) -> Option<String>,
) -> Vec<HotFunction> {
    let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
    for (&pc, &n) in &p.pcs {
        let name = name_of(pc, &p.breakpoints).unwrap_or_else(|| format!("{pc:#x}"));
        *by_name.entry(name).or_default() += n;
    }
    if p.unbinned > 0 {
        by_name.insert("(other pcs)".to_string(), p.unbinned);
    }
    let mut v: Vec<HotFunction> = by_name
        .into_iter()
        .map(|(name, samples)| HotFunction { name, samples })
        .collect();
    v.sort_by(|a, b| b.samples.cmp(&a.samples).then(a.name.cmp(&b.name)));
    v.truncate(TOP_FUNCTIONS);
    v
}

/// The warning's text: what, how much, where, and what to do.
fn warning(h: &HartShare, p: &HotPage) -> String {
    // The functions that matter: 1% of the page's samples or more.
    let hot: Vec<String> = p
        .functions
        .iter()
        .filter(|f| f.samples * 100 >= p.samples)
        .take(WARN_FUNCTIONS)
        .map(|f| {
            format!(
                "{} ({:.0}%)",
                f.name,
                100.0 * f.samples as f64 / p.samples.max(1) as f64
            )
        })
        .collect();
    let (which, it) = match p.breakpoints.as_slice() {
        [one] => (format!("breakpoint {one}"), "it"),
        many => (format!("breakpoints {}", many.join(", ")), "them"),
    };
    format!(
        "{which} may have slowed this run about {:.0}x (estimate): while armed, {:.0}% of hart {}'s \
         timer samples ({} of {}) fell on its 4 KiB page {:#x}, in {}. QEMU runs every instruction \
         on a page holding a breakpoint one at a time. Arm {it} late (arm_after = a breakpoint, \
         console milestone or trap that the boot reaches after that code and before {it}, on another \
         page), or break elsewhere.",
        h.estimated_slowdown,
        100.0 * h.share,
        h.hart,
        h.on_breakpoint_pages,
        h.samples,
        p.page,
        hot.join(", ")
    )
}

/// Tells the log's profiler which code breakpoints the session has in the
/// target now (watchpoints do not slow code).
pub(crate) fn sync(log: &SharedTrapLog, session: &DebugSession) {
    let armed: Vec<ArmedCode> = session
        .breakpoints()
        .iter()
        .filter(|b| b.inserted && b.spec.watch.is_none())
        .map(|b| ArmedCode {
            breakpoint: match b.arming_point {
                true => format!("{} (arming point)", b.spec.at),
                false => b.spec.at.clone(),
            },
            address: b.address,
        })
        .collect();
    log.with_mut(|l| l.hot_pages_mut().set_armed(&armed));
}

/// The run's figures, the sampled pcs named from the scenario's ELF files
/// (`elfs` when already loaded; read here only when a page got samples).
pub(crate) fn report(log: &TrapLog, scenario: &Scenario, elfs: Option<&ElfSet>) -> HotPages {
    let profile = log.hot_pages();
    if profile.pages.iter().all(|p| p.samples == 0) {
        return profile.figures(|_, _| None);
    }
    let loaded;
    let elfs = match elfs {
        Some(e) => Some(e),
        None => {
            loaded = scenario.load_elfs().ok();
            loaded.as_ref()
        }
    };
    profile.figures(|pc, breakpoints| name_in(elfs?, scenario, pc, breakpoints))
}

/// The function at `pc`: in the ELF space of the page's breakpoints when one
/// has a symbol there, else `space:function` in any that has.
fn name_in(set: &ElfSet, scenario: &Scenario, pc: u64, breakpoints: &[String]) -> Option<String> {
    let preferred: Vec<&str> = breakpoints
        .iter()
        .filter_map(|b| scenario.split_space(b).0)
        .collect();
    let exact = |image: &crate::elf::ElfImage| image.symbolize(pc).filter(|h| h.exact);
    if let Some(hit) = set
        .images()
        .iter()
        .filter(|i| preferred.contains(&i.name()))
        .find_map(exact)
    {
        return Some(hit.name);
    }
    let others: Vec<String> = set
        .images()
        .iter()
        .filter_map(|i| exact(i).map(|h| format!("{}:{}", i.name(), h.name)))
        .collect();
    if !others.is_empty() {
        return Some(others.join(" or "));
    }
    // Assembly often has symbols without a size: the nearest one before
    // the pc, in a file whose sections hold it.
    let near: Vec<String> = set
        .spaces_containing(pc)
        .iter()
        .filter_map(|i| i.symbolize(pc).map(|h| format!("{}:{}", i.name(), h.name)))
        .collect();
    (!near.is_empty()).then(|| near.join(" or "))
}

/// What the profiler found in one run (the `hot_pages` of a run report).
#[derive(Debug, Clone, Default, Serialize)]
pub struct HotPages {
    /// The factor by which code on a breakpoint's page is taken to run
    /// slower ([`PAGE_SLOWDOWN`]).
    pub(crate) per_page_factor: f64,
    /// The largest of the harts' estimates (1 when nothing fell on a page).
    pub estimated_slowdown: f64,
    /// Per hart: timer samples and the share on breakpoint pages.
    pub(crate) harts: Vec<HartShare>,
    /// The watched pages that got samples, most sampled first.
    pub(crate) pages: Vec<HotPage>,
    /// Present when the estimate crosses [`WARN_SLOWDOWN`] on a hart with at
    /// least [`WARN_MIN_SAMPLES`] samples on the pages.
    pub warning: Option<String>,
}

/// One hart's samples.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HartShare {
    pub(crate) hart: u64,
    /// Timer interrupts in the log (causes 5, 6, 7).
    pub(crate) samples: u64,
    /// Of those, at a pc on the page of a breakpoint armed then (its own
    /// address excepted).
    pub(crate) on_breakpoint_pages: u64,
    /// `on_breakpoint_pages / samples`.
    pub(crate) share: f64,
    /// `1 / ((1 - share) + share / per_page_factor)`.
    pub(crate) estimated_slowdown: f64,
}

/// A watched page and where on it the samples fell.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HotPage {
    /// The page's first address.
    pub(crate) page: u64,
    /// The breakpoints armed on it during the run.
    pub(crate) breakpoints: Vec<String>,
    pub(crate) samples: u64,
    /// The most sampled functions on it (by symbol in the scenario's ELF files).
    pub(crate) functions: Vec<HotFunction>,
}

/// A function on a watched page and its samples.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HotFunction {
    pub(crate) name: String,
    pub(crate) samples: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::page_samples::{MAX_PAGES, MAX_PCS, PAGE_SIZE};
    use crate::qemu::trap_log::tests_support::line;
    use crate::qemu::trap_log::LoggedTrap;
    use crate::qemu::trap_log::TrapLog;
    use std::time::Instant;

    const KVM: u64 = 0x8020_05c0;
    const SCRUB_LINE: u64 = 0x8020_0860;
    const SCRUB_PAGE: u64 = 0x8020_087a;
    const ELSEWHERE: u64 = 0x8020_1400;

    fn armed(addr: u64) -> Vec<ArmedCode> {
        vec![ArmedCode {
            breakpoint: "guest:kvminithart".into(),
            address: addr,
        }]
    }

    /// `n` rounds of a supervisor and a VS timer interrupt on `hart` at `pc`.
    fn ticks(log: &mut TrapLog, hart: u64, pc: u64, n: usize) {
        let mut text = String::new();
        for _ in 0..n {
            text += &line(hart, 1, 5, pc, 0);
            text += &line(hart, 1, 6, pc, 0);
        }
        log.feed(text.as_bytes(), Instant::now());
    }

    fn name_of(pc: u64, bps: &[String]) -> Option<String> {
        assert_eq!(bps, ["guest:kvminithart".to_string()]);
        match pc {
            SCRUB_LINE..=0x8020_0879 => Some("scrub_line".into()),
            SCRUB_PAGE..=0x8020_08a5 => Some("scrub_page".into()),
            _ => None,
        }
    }

    #[test]
    fn the_formula() {
        assert_eq!(estimated_slowdown(0.0, 20.0), 1.0);
        assert!((estimated_slowdown(1.0, 20.0) - 20.0).abs() < 1e-9);
        assert!((estimated_slowdown(0.5, 20.0) - 1.0 / 0.525).abs() < 1e-9);
        assert!(estimated_slowdown(0.36, PAGE_SLOWDOWN) >= WARN_SLOWDOWN);
        assert!(estimated_slowdown(0.3, PAGE_SLOWDOWN) < WARN_SLOWDOWN);
    }

    #[test]
    fn hot_code_on_an_armed_page_warns_and_names_it() {
        let mut log = TrapLog::new(2);
        log.hot_pages_mut().set_armed(&armed(KVM));
        ticks(&mut log, 0, SCRUB_LINE + 6, 300);
        ticks(&mut log, 0, SCRUB_PAGE + 4, 80);
        ticks(&mut log, 0, ELSEWHERE, 20);
        // The breakpoint's own address and exceptions are not hot code.
        ticks(&mut log, 0, KVM, 50);
        log.feed(line(0, 0, 8, SCRUB_LINE, 0).as_bytes(), Instant::now());
        ticks(&mut log, 1, ELSEWHERE, 100);
        let f = log.hot_pages().figures(name_of);
        let h0 = &f.harts[0];
        assert_eq!((h0.samples, h0.on_breakpoint_pages), (900, 760));
        assert_eq!(
            (f.harts[1].samples, f.harts[1].on_breakpoint_pages),
            (200, 0)
        );
        assert!((f.estimated_slowdown - estimated_slowdown(760.0 / 900.0, 20.0)).abs() < 1e-9);
        assert_eq!(f.pages.len(), 1);
        let p = &f.pages[0];
        assert_eq!((p.page, p.samples), (0x8020_0000, 760));
        let names: Vec<(&str, u64)> = p
            .functions
            .iter()
            .map(|x| (x.name.as_str(), x.samples))
            .collect();
        assert_eq!(names, [("scrub_line", 600), ("scrub_page", 160)]);
        let w = f.warning.expect("a warning");
        for part in [
            "guest:kvminithart",
            "0x80200000",
            "scrub_line (79%)",
            "scrub_page (21%)",
            "hart 0",
            "arm_after",
        ] {
            assert!(w.contains(part), "{part:?} in {w}");
        }
    }

    #[test]
    fn only_samples_while_armed_count() {
        let mut log = TrapLog::new(1);
        // Hot before the breakpoint goes in (armed late), then it is in for
        // a little cold code, then removed (done) while the hot code runs on.
        ticks(&mut log, 0, SCRUB_LINE, 500);
        log.hot_pages_mut().set_armed(&armed(KVM));
        ticks(&mut log, 0, ELSEWHERE, 100);
        ticks(&mut log, 0, SCRUB_LINE, 3);
        log.hot_pages_mut().set_armed(&[]);
        ticks(&mut log, 0, SCRUB_LINE, 500);
        let f = log.hot_pages().figures(name_of);
        assert_eq!(f.harts[0].on_breakpoint_pages, 6);
        assert!(f.warning.is_none(), "{:?}", f.warning);
        assert_eq!(f.pages[0].breakpoints, ["guest:kvminithart"]);
    }

    #[test]
    fn a_short_run_never_warns() {
        let mut log = TrapLog::new(1);
        log.hot_pages_mut().set_armed(&armed(KVM));
        // All on the page, but too few samples to say anything.
        ticks(&mut log, 0, SCRUB_LINE, (WARN_MIN_SAMPLES / 2 - 1) as usize);
        let f = log.hot_pages().figures(name_of);
        assert!(f.estimated_slowdown > WARN_SLOWDOWN);
        assert!(f.warning.is_none());
    }

    #[test]
    fn no_samples_no_figures() {
        let f = TrapLog::new(2).hot_pages().figures(name_of);
        assert_eq!(f.estimated_slowdown, 1.0);
        assert!(f.pages.is_empty() && f.warning.is_none());
    }

    #[test]
    fn bounded_however_many_pcs_and_pages() {
        let mut p = Profiler::default();
        let many: Vec<ArmedCode> = (0..MAX_PAGES as u64 * 2)
            .map(|i| ArmedCode {
                breakpoint: format!("bp{i}"),
                address: 0x8000_0000 + i * PAGE_SIZE,
            })
            .collect();
        p.set_armed(&many);
        assert_eq!(p.pages.len(), MAX_PAGES);
        for pc in (0x8000_0000..0x8000_1000).step_by(2) {
            for _ in 0..3 {
                p.sample(&LoggedTrap {
                    hart: 0,
                    interrupt: true,
                    cause: 7,
                    epc: pc + 1,
                    tval: 0,
                    desc: String::new(),
                });
            }
        }
        assert_eq!(p.pages[0].pcs.len(), MAX_PCS);
        assert_eq!(p.pages[0].samples, 2048 * 3);
        assert_eq!(p.pages[0].unbinned, (2048 - MAX_PCS as u64) * 3);
        let f = p.figures(|_, _| None);
        assert!(f.pages[0].functions.len() <= TOP_FUNCTIONS);
    }
}
