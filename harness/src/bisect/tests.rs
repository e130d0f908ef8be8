use super::check::{judge_outcome, Judgement, EXIT_BAD, EXIT_GOOD, EXIT_UNTESTABLE};
use super::milestones::{progress, MilestoneStop};
use super::versions::{OutcomeClass, VersionSearch};
use crate::runner::{Observed, Verdict};

/// Drives a search over `outcomes` (one per version, oldest first) and
/// returns (first different index, indices run).
fn search(outcomes: &[OutcomeClass]) -> (Option<usize>, Vec<usize>) {
    let mut s = VersionSearch::new(outcomes.len());
    let mut ran = Vec::new();
    while let Some(i) = s.next() {
        assert!(!ran.contains(&i), "version {i} run twice: {ran:?}");
        ran.push(i);
        s.record(i, outcomes[i]);
    }
    (s.first_different(), ran)
}

#[test]
fn version_search_finds_every_boundary_within_the_bound() {
    use OutcomeClass::*;
    for n in 1..=33 {
        // The change at every possible place, and no change at all.
        for change in 1..=n {
            let outcomes: Vec<OutcomeClass> = (0..n)
                .map(|i| if i < change { Booted } else { Hung })
                .collect();
            let (first, ran) = search(&outcomes);
            let want = (change < n).then_some(change);
            assert_eq!(first, want, "n={n} change at {change}, ran {ran:?}");
            assert_eq!(ran[0], 0, "the oldest is the reference");
            assert!(
                ran.len() <= VersionSearch::max_runs(n),
                "n={n}: {} runs > {}",
                ran.len(),
                VersionSearch::max_runs(n)
            );
            if let Some(f) = first {
                assert!(ran.contains(&f), "the answer was run");
                assert!(
                    ran.contains(&(f - 1)),
                    "the version before the answer was run: {ran:?}"
                );
            } else if n > 1 {
                assert!(ran.contains(&(n - 1)), "'none differs' rests on the newest");
            }
        }
    }
}

#[test]
fn version_search_run_counts() {
    assert_eq!(VersionSearch::max_runs(2), 2, "7.2.22 and 10.0.2: two runs");
    assert_eq!(VersionSearch::max_runs(4), 3);
    assert_eq!(VersionSearch::max_runs(5), 4);
    assert_eq!(VersionSearch::max_runs(8), 4);
    assert_eq!(VersionSearch::max_runs(9), 5);
    let (first, ran) = search(&[OutcomeClass::Booted, OutcomeClass::Hung]);
    assert_eq!((first, ran), (Some(1), vec![0, 1]));
}

#[test]
fn version_search_compares_with_the_oldest_not_with_booting() {
    use OutcomeClass::*;
    // Broken from the start, fixed later: the first version that boots.
    let (first, _) = search(&[Hung, Hung, Hung, Booted, Booted]);
    assert_eq!(first, Some(3));
    // Hung -> exited is a difference too.
    let (first, _) = search(&[Hung, Exited]);
    assert_eq!(first, Some(1));
}

fn stop(m: &str, at: f64) -> MilestoneStop {
    MilestoneStop {
        milestone: m.to_string(),
        place: String::new(),
        privilege: "VS".into(),
        at_secs: at,
    }
}

#[test]
fn milestone_progress_per_hart() {
    let ms: Vec<String> = [
        "guest:main",
        "guest:kinit",
        "guest:kvminithart",
        "guest:trapinithart",
    ]
    .map(String::from)
    .to_vec();
    let stops = vec![
        (1, stop("guest:main", 0.2)),
        (0, stop("guest:main", 0.1)),
        (0, stop("guest:kinit", 0.3)),
        (0, stop("guest:kvminithart", 0.4)),
        (1, stop("guest:kinit", 0.5)),
        (1, stop("guest:trapinithart", 0.9)),
    ];
    let p = progress(&ms, 3, &stops);
    assert_eq!(p.len(), 3);
    assert_eq!(p[0].last_reached.as_deref(), Some("guest:kvminithart"));
    assert_eq!(p[0].first_missed.as_deref(), Some("guest:trapinithart"));
    assert!(p[0].reached_after_gap.is_empty());
    assert_eq!(
        p[0].stops
            .iter()
            .map(|s| s.milestone.as_str())
            .collect::<Vec<_>>(),
        ["guest:main", "guest:kinit", "guest:kvminithart"]
    );
    // Hart 1 skipped kvminithart but got further: reported, not hidden.
    assert_eq!(p[1].last_reached.as_deref(), Some("guest:kinit"));
    assert_eq!(p[1].first_missed.as_deref(), Some("guest:kvminithart"));
    assert_eq!(p[1].reached_after_gap, ["guest:trapinithart"]);
    // Hart 2 never stopped anywhere.
    assert_eq!(p[2].last_reached, None);
    assert_eq!(p[2].first_missed.as_deref(), Some("guest:main"));
    assert!(!p[2].complete());

    let all: Vec<(u32, MilestoneStop)> = ms
        .iter()
        .enumerate()
        .map(|(i, m)| (0, stop(m, i as f64)))
        .collect();
    let p = progress(&ms, 1, &all);
    assert!(p[0].complete());
    assert_eq!(p[0].last_reached.as_deref(), Some("guest:trapinithart"));
}

#[test]
fn check_judgements_and_exit_codes() {
    let v = "10.0.2".parse().unwrap();
    let hung = Observed::Hung {
        console: "vm0".into(),
        missing: "init: starting sh".into(),
        last_seen: Some("guest kernel is booting".into()),
        early: None,
    };
    let j = judge_outcome("s", v, &Observed::Booted, &Verdict::NoExpectation, false);
    assert_eq!(j.exit_code(), EXIT_GOOD);
    let j = judge_outcome("s", v, &hung, &Verdict::AsExpected, false);
    assert_eq!(
        j.exit_code(),
        EXIT_BAD,
        "without --expect a hang is bad even when expected"
    );
    assert!(
        j.reason().contains("vm0") && j.reason().contains("init: starting sh"),
        "{j:?}"
    );
    let j = judge_outcome("s", v, &hung, &Verdict::AsExpected, true);
    assert_eq!(
        j.exit_code(),
        EXIT_GOOD,
        "with --expect an expected hang is good"
    );
    let j = judge_outcome(
        "s",
        v,
        &Observed::Booted,
        &Verdict::Unexpected("expected a hang".into()),
        true,
    );
    assert!(
        matches!(&j, Judgement::Bad(r) if r.contains("expected a hang")),
        "{j:?}"
    );
    let j = judge_outcome("s", v, &Observed::Booted, &Verdict::NoExpectation, true);
    assert_eq!(j.exit_code(), EXIT_UNTESTABLE);
    assert!(j.reason().contains("10.0.2"), "{j:?}");
    assert_eq!(EXIT_UNTESTABLE, 125, "git bisect run's skip code");
}
