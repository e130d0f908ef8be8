//! A guest parked in its own trap handler after an exception its
//! hypervisor injected (issue 19, shape 2): hypervisor-nocounters(-spin).elf
//! clears hcounteren, so the guest's first `rdtime` is a virtual-instruction
//! exception (cause 22) to HS, which the hypervisor forwards to the guest as
//! an illegal instruction (cause 2). The guest's vector spins in `j .`
//! (guest-spintrap.elf) or its kerneltrap panics and waits in `wfi` with
//! interrupts off (guest.elf). The hypervisor's own timer keeps
//! interrupting the harts, so no hart is ever quiet.
//!
//! The verdict must be the early one (the guest-parked look, not the boot
//! timeout: the verdict's words say which), and the diagnosis must explain
//! the guest's trap from its own view with the counter rule.

mod common;

use hvharness::{Diagnosis, FaultReport, Observed, Scenario, TrapTarget};

async fn diagnosed(file: &str, version: &str) -> Option<Diagnosis> {
    let build = common::qemu_or_skip(version, file)?;
    common::firmware();
    let scenario = Scenario::load(&common::root().join("scenarios").join(file))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let d = hvharness::diagnose(&scenario, &build)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    Some(d)
}

/// The early verdict's words: a guest-parked verdict, not the timeout's
/// (which has none).
fn early_verdict(d: &Diagnosis, text: &str) -> String {
    let Observed::Hung { early, .. } = &d.observed else {
        panic!("not a hang:\n{text}")
    };
    let early = early
        .as_ref()
        .unwrap_or_else(|| panic!("no early verdict (the boot timeout decided):\n{text}"));
    early.to_string()
}

/// The checks both variants share: each explained hart's guest trap is the
/// forwarded `rdtime`, with the counter rule first and the HS trap before it.
fn guest_traps_explained(d: &Diagnosis, text: &str) -> Vec<u32> {
    assert_eq!(d.harts.len(), 2, "every hart listed:\n{text}");
    let guest: Vec<&FaultReport> = d
        .faults
        .iter()
        .filter(|f| f.context.to == TrapTarget::VS)
        .collect();
    assert!(!guest.is_empty(), "no guest trap explained:\n{text}");
    for f in &guest {
        let c = &f.context;
        assert_eq!(c.cause.code, 2, "{text}");
        assert_eq!(c.from.name(), "VS", "{text}");
        let place = c.epc_place.as_deref().unwrap_or("");
        assert!(place.starts_with("guest:trapinithart+"), "{text}");
        let counters = f.findings.first().expect("findings");
        assert_eq!(counters.rule, "counters", "{text}");
        assert!(
            counters.summary.starts_with(&format!(
                "the guest's `rdtime` at {} raised a virtual-instruction exception (cause 22) because hcounteren.TM (bit 1) is clear; the hypervisor injected an illegal-instruction exception (cause 2) into the guest",
                place.split(" at ").next().unwrap_or(place)
            )) && counters.summary.ends_with(": set hcounteren.TM (bit 1) or emulate the read."),
            "{text}"
        );
        assert!(
            counters
                .details
                .iter()
                .any(|d| d.contains("`rdtime a0` reads time (CSR 0xc01)")),
            "{text}"
        );
        assert!(
            counters
                .fix
                .as_deref()
                .is_some_and(|x| x.contains("hcounteren |= 1 << 1")),
            "{text}"
        );
        // Who wrote hcounteren: hart_init enables every counter, the
        // fixture's hook writes 0 over it; that line is the change.
        let set = common::source_line("hart.c", "csr_write(CSR_HCOUNTEREN");
        let hook = common::source_line("fixture.c", "csr_write(CSR_HCOUNTEREN");
        for fact in [
            &format!("hcounteren is written at {set} (`csrw hcounteren, s2`, s2 = 0xffffffffffffffff: 32 fields set) on harts 0 and 1 and {hook} (`csrw hcounteren, a5`, a5 = 0x0) on harts 0 and 1; bit 1 (TM) is set at {set} and cleared again at {hook}."),
            "-   csr_write(CSR_HCOUNTEREN, 0);",
            "+   csr_write(CSR_HCOUNTEREN, 0 | (1UL << 1));",
        ] {
            assert!(
                counters.details.iter().any(|d| d == fact),
                "no detail {fact:?}:\n{text}"
            );
        }
        assert!(
            counters
                .fix
                .as_deref()
                .is_some_and(|x| x.starts_with(&format!(
                    "At {hook} (fixture_counteren), stop clearing hcounteren bit 1 (TM)"
                ))),
            "{text}"
        );
        let parked = f
            .findings
            .iter()
            .find(|x| x.rule == "guest-handler")
            .unwrap_or_else(|| panic!("no guest-handler finding:\n{text}"));
        assert!(
            parked.details.iter().any(|d| d.contains(&format!(
                "took exception 22 (virtual instruction) at {:#x}",
                c.epc
            ))),
            "the HS trap before it, from the log:\n{text}"
        );
    }
    guest.iter().map(|f| f.context.hart).collect()
}

async fn spinning_vector(version: &str) {
    let Some(d) = diagnosed("hypervisor-nocounters-spin.toml", version).await else {
        return;
    };
    let text = hvharness::render_diagnosis(&d);
    let early = early_verdict(&d, &text);
    assert!(
        early.contains("is parked in the guest's own trap handler guest:spinvec (j . loop, VS")
            && early.contains("with the guest's interrupts off, after the guest took exception 2 (illegal instruction) at 0x")
            && early.contains("(guest:trapinithart+"),
        "{text}"
    );
    let harts = guest_traps_explained(&d, &text);
    for f in d.faults.iter().filter(|f| harts.contains(&f.context.hart)) {
        assert!(
            f.findings[0]
                .summary
                .contains("the guest's trap handler guest:spinvec never returns"),
            "{text}"
        );
    }
}

async fn panicking_kernel(version: &str) {
    let Some(d) = diagnosed("hypervisor-nocounters.toml", version).await else {
        return;
    };
    let text = hvharness::render_diagnosis(&d);
    let early = early_verdict(&d, &text);
    assert!(
        early.contains("is parked in the guest at guest:panic+")
            && early.contains("(its trap vector: guest:kernelvec)"),
        "{text}"
    );
    guest_traps_explained(&d, &text);
    // The guest's own words are quoted.
    assert!(
        d.faults
            .iter()
            .any(|f| f.console.iter().any(|l| l.text == "panic: kerneltrap")),
        "{text}"
    );
}

common::per_version! {
    async spinning_vector;
    async panicking_kernel;
}
