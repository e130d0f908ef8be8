//! `hvharness diagnose` on real hangs: the ADUE regression and every injected
//! fault of the reference firmware, each explained with its first fault and
//! the right rule; a scenario that boots is not diagnosed; `--gdb` leaves
//! QEMU stopped for a human (on the parked-hart fault, which hangs on every
//! version).

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hvharness::{Diagnosis, FaultReport, Finding, HartSummary, Observed, Scenario, TrapTarget};

fn scenario(file: &str) -> Scenario {
    Scenario::load(&common::root().join("scenarios").join(file)).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Diagnoses `file` on `version`; None when that QEMU is missing (reported).
async fn diagnosed(file: &str, version: &str) -> Option<Diagnosis> {
    let build = common::qemu_or_skip(version, file)?;
    common::firmware();
    let scenario = scenario(file);
    let read_before = hvharness::internals::elf::files_read_on_this_thread();
    let d = hvharness::diagnose(&scenario, &build)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    // Debugger, judge and diagnosis share one reading of the symbol files
    // (they read each file three times before).
    assert_eq!(
        hvharness::internals::elf::files_read_on_this_thread() - read_before,
        scenario.elfs.len() as u64,
        "each ELF file read once per diagnose"
    );
    Some(d)
}

fn rules_of(d: &Diagnosis) -> Vec<String> {
    d.faults
        .iter()
        .flat_map(|f| f.findings.iter().map(|x| x.rule.clone()))
        .collect()
}

async fn adue_hang(version: &str) {
    let Some(d) = diagnosed("hypervisor-noadue-2vm.toml", version).await else {
        return;
    };
    let text = hvharness::render_diagnosis(&d);
    if d.qemu < "9.0.0".parse().unwrap() {
        assert!(matches!(d.observed, Observed::Booted), "{text}");
        assert!(d.faults.is_empty(), "{text}");
        return;
    }
    assert_eq!(d.faults.len(), 2, "both VMs hang the same way:\n{text}");
    for f in &d.faults {
        assert_eq!(f.context.cause.code, 0xc, "{text}");
        assert_eq!(f.context.to, TrapTarget::VS, "{text}");
        assert_eq!(f.context.from.name(), "VS", "{text}");
        let place = f.context.epc_place.as_deref().unwrap_or("");
        assert!(place.starts_with("guest:kvminithart+"), "{text}");
        assert_eq!(f.context.tval, f.context.epc, "{text}");
        assert_eq!(
            f.context.csr("henvcfg").map(|v| v >> 61 & 1),
            Some(0),
            "{text}"
        );
        assert_eq!(
            f.findings.first().map(|x| x.rule.as_str()),
            Some("adue"),
            "{text}"
        );
        let adue = &f.findings[0];
        assert!(
            adue.summary.contains("kvminithart") && adue.summary.contains("A=0"),
            "{text}"
        );
        assert!(
            adue.fix.as_deref().is_some_and(|x| x.contains("bit 61")),
            "{text}"
        );
        assert!(
            f.walk
                .iter()
                .any(|l| l.contains("A=0") && l.contains("henvcfg.ADUE=0")),
            "{text}"
        );
        assert!(
            f.backtrace.iter().any(|l| l.contains("guest:main")),
            "{text}"
        );
    }
}

/// An injected fault: its first trap (`cause`, taken to `to`, at a place
/// starting `place_prefix`) explained by `rule`.
async fn injected(
    version: &str,
    file: &str,
    cause: u64,
    to: TrapTarget,
    place_prefix: &str,
    rule: &str,
) {
    injected_diagnosis(version, file, cause, to, place_prefix, rule).await;
}

/// [`injected`]'s checks, and the diagnosis; None when that QEMU is missing.
async fn injected_diagnosis(
    version: &str,
    file: &str,
    cause: u64,
    to: TrapTarget,
    place_prefix: &str,
    rule: &str,
) -> Option<Diagnosis> {
    let d = diagnosed(file, version).await?;
    let text = hvharness::render_diagnosis(&d);
    assert!(matches!(d.observed, Observed::Hung { .. }), "{text}");
    let f = d
        .faults
        .iter()
        .find(|f| f.context.cause.code == cause)
        .unwrap_or_else(|| panic!("no fault with cause {cause:#x}:\n{text}"));
    assert_eq!(f.context.to, to, "{text}");
    let place = f.context.epc_place.as_deref().unwrap_or("");
    assert!(
        place.starts_with(place_prefix),
        "expected {place_prefix}..., got {place}\n{text}"
    );
    let rules = rules_of(&d);
    assert!(
        rules.iter().any(|r| r == rule),
        "expected rule {rule}, got {rules:?}\n{text}"
    );
    // A hypervisor that never meant to emulate (it reports an unexpected
    // trap, not an undecodable instruction) is no emulation failure, even
    // with htinst 0 on QEMU 7.2.
    assert!(!rules.iter().any(|r| r == "emulation"), "{text}");
    Some(d)
}

/// The finding of `rule` holds `facts` among its details (each a prefix
/// of one line, in any order), and its fix starts with `fix`.
fn assert_names_the_writers(f: &Finding, facts: &[&str], fix: &str, text: &str) {
    for fact in facts {
        assert!(
            f.details.iter().any(|d| d.starts_with(fact)),
            "no detail starting {fact:?}:\n{text}"
        );
    }
    assert!(
        f.fix.as_deref().is_some_and(|x| x.starts_with(fix)),
        "fix should start {fix:?}:\n{text}"
    );
}

/// The nodeleg build: hedeleg's writer at hart.c and the helper that clears
/// bit 8 again, with its line as the change, on every hart.
async fn nodeleg(version: &str) {
    let file = "fault-nodeleg.toml";
    let Some(d) = injected_diagnosis(
        version,
        file,
        8,
        TrapTarget::HS,
        "init:write",
        "undelegated",
    )
    .await
    else {
        return;
    };
    let text = hvharness::render_diagnosis(&d);
    let set = common::source_line("hart.c", "csr_write(CSR_HEDELEG");
    let hook = common::source_line("fault.c", "csr_clear(CSR_HEDELEG");
    for f in d.faults.iter().flat_map(|f| &f.findings) {
        assert_eq!(f.rule, "undelegated", "{text}");
        assert_names_the_writers(
            f,
            &[
                &format!("hedeleg is written at {set} (`csrw hedeleg, a5`, a5 = 0xb1ff: "),
                &format!("proposed change at {hook}:"),
                "-   csr_clear(CSR_HEDELEG, 1UL << EXC_ECALL_U);",
            ],
            &format!("At {hook} (fault_hedeleg), stop clearing hedeleg bit 8 (ecall_u)"),
            &text,
        );
        let written = &f.details[2];
        assert!(
            written.contains(&format!("{hook} (`csrc hedeleg, a5`, a5 = 0x100: ecall_u) on harts 0 and 1; bit 8 (ecall_u) is set at {set} and cleared again at {hook}.")),
            "{text}"
        );
    }
}

/// Hart 0's fault in the fixtures whose VM0 entry page lacks X in the
/// G-stage: exception 20 from VS to HS at `guest:_entry` (an assembly label:
/// named, not a bare address), its guest-physical address, and the
/// page-fault rule naming the missing X.
fn assert_entry_lacks_x(f: &FaultReport, text: &str) {
    let c = &f.context;
    assert_eq!(
        (c.hart, c.cause.code, c.from.name(), c.to),
        (0, 20, "VS", TrapTarget::HS),
        "{text}"
    );
    assert!(
        c.epc_place
            .as_deref()
            .is_some_and(|p| p.starts_with("guest:_entry")),
        "{text}"
    );
    assert!(
        text.contains("htval 0x20080000 (guest-physical 0x80200000)"),
        "{text}"
    );
    assert!(
        f.findings
            .iter()
            .any(|x| x.rule == "page-fault" && x.summary.contains("lacks X")),
        "{text}"
    );
}

/// A fatal guest trap the hypervisor reports through SBI console calls
/// before parking, beside idle harts whose scause still holds a handled
/// boot-time trap: the faulting hart is named, with its console lines; the
/// idle harts are shown as idle, and the early verdict does not blame them.
async fn sbi_panic(version: &str) {
    let Some(d) = diagnosed("hypervisor-sbi-panic.toml", version).await else {
        return;
    };
    let text = hvharness::render_diagnosis(&d);
    let Observed::Hung { early, .. } = &d.observed else {
        panic!("expected a hang:\n{text}");
    };
    if let Some(e) = early {
        let e = e.to_string();
        assert!(
            !e.contains("hart 1") && !e.contains("hart 2"),
            "the early verdict blames an idle hart: {e}\n{text}"
        );
    }
    assert_eq!(d.faults.len(), 1, "only hart 0 is stuck:\n{text}");
    let f = &d.faults[0];
    assert_entry_lacks_x(f, &text);
    assert!(f.context.sbi_calls_after > 0, "{text}");
    assert!(
        f.console.iter().any(|l| l.text == "[PANIC] hart 0 parked"),
        "{text}"
    );
    assert!(
        f.console
            .iter()
            .any(|l| l.text.starts_with("[ERROR] hart 0")),
        "{text}"
    );
    assert_eq!(d.harts.len(), 3, "every hart's state:\n{text}");
    for h in &d.harts {
        assert_eq!(h.stuck, h.hart == 0, "{text}");
        assert_eq!(h.privilege, "HS", "{text}");
        assert!(h.activity.contains("wfi"), "{text}");
        assert!(
            h.place
                .as_deref()
                .is_some_and(|p| p.starts_with("hypervisor:park+")),
            "{text}"
        );
        if h.hart != 0 {
            assert!(
                h.stale_trap
                    .as_deref()
                    .is_some_and(|t| t.contains("breakpoint")),
                "{text}"
            );
        }
    }
    assert!(text.contains("other harts:"), "{text}");
    let json = serde_json::to_value(&d).expect("the diagnosis as JSON");
    assert_eq!(json["harts"].as_array().map(Vec::len), Some(3), "{json}");
}

/// A hypervisor linked high whose every hart turned its MMU on through a
/// fetch fault (cause 12, HS to HS, never returned from), with VM0's fatal
/// guest fault (cause 20) reported through SBI on hart 0 and harts 1-3 idle:
/// hart 0 and cause 20 are named, the boot jumps nowhere as a cause, the
/// idle harts each on a line of their own, without interrupt noise.
async fn highboot(version: &str) {
    let Some(d) = diagnosed("hypervisor-highboot.toml", version).await else {
        return;
    };
    let text = hvharness::render_diagnosis(&d);
    let Observed::Hung { early, .. } = &d.observed else {
        panic!("expected a hang:\n{text}");
    };
    let early = early.as_ref().map(ToString::to_string).unwrap_or_default();
    assert!(
        early.contains("hart 0 is stuck on exception 20 (") && early.contains("guest:_entry"),
        "the early verdict names hart 0 and its fault: {early}\n{text}"
    );
    assert_eq!(d.faults.len(), 1, "only hart 0 is stuck:\n{text}");
    let f = &d.faults[0];
    assert_entry_lacks_x(f, &text);
    assert!(
        f.walk.iter().any(|l| l.contains("<- X=0")),
        "the G-stage leaf without X:\n{text}"
    );
    assert!(
        f.console
            .iter()
            .any(|l| l.text == "ERROR: unknown synchronous exception (20)"),
        "the hypervisor's own words:\n{text}"
    );
    // The boot jump is never a cause: exception 12 appears only as what an
    // idle hart's scause still holds.
    for line in text.lines().filter(|l| l.contains("exception 12")) {
        assert!(line.contains("from the boot jump"), "{line}\n{text}");
        assert!(line.contains("(not stuck on it)"), "{line}\n{text}");
    }
    assert_eq!(d.harts.len(), 4, "every hart's state:\n{text}");
    for h in d.harts.iter().filter(|h| h.hart != 0) {
        assert!(!h.stuck, "{text}");
        let idle = h.idle.as_deref().unwrap_or_default();
        assert!(
            idle.contains("never started by the guest"),
            "hart {} is idle: {idle}\n{text}",
            h.hart
        );
        assert!(
            h.place
                .as_deref()
                .is_some_and(|p| p.starts_with("hypervisor:idle+")),
            "{text}"
        );
        assert!(h.activity.contains("wfi"), "{text}");
        assert!(
            h.interrupts.findings.is_empty(),
            "no vCPU ran there: no interrupt rule speaks:\n{text}"
        );
    }
    let json = serde_json::to_value(&d).expect("the diagnosis as JSON");
    let harts = json["harts"].as_array().expect("harts in the JSON");
    assert_eq!(harts.len(), 4, "{json}");
    for h in harts.iter().filter(|h| h["hart"] != 0) {
        assert!(h["idle"].is_string(), "{h}");
        assert!(h["vcpu"].is_null(), "{h}");
    }
}

/// A hung run where nothing traps and both harts wait in the guest (its
/// kernel, or its init, which has no ELF here) for an interrupt that never
/// comes: each hart with the finding of `rule` that names the missing link.
fn waiting_harts_with<'a>(
    d: &'a Diagnosis,
    text: &str,
    rule: &str,
) -> Vec<(&'a HartSummary, &'a Finding)> {
    assert!(matches!(d.observed, Observed::Hung { .. }), "{text}");
    assert!(d.faults.is_empty(), "nothing traps:\n{text}");
    assert!(!text.contains("no fault to explain"), "{text}");
    assert_eq!(d.harts.len(), 2, "{text}");
    d.harts
        .iter()
        .map(|h| {
            assert!(["VS", "VU"].contains(&h.privilege.as_str()), "{text}");
            let f = h
                .interrupts
                .findings
                .iter()
                .find(|f| f.rule == rule)
                .unwrap_or_else(|| panic!("hart {}: no missing link named:\n{text}", h.hart));
            (h, f)
        })
        .collect()
}

/// A hypervisor that does not delegate the VS timer interrupt: nothing
/// traps, the guests wait for a tick; every hart's interrupts are decoded
/// and the missing link (hideleg bit 6) is named.
async fn no_vsti(version: &str) {
    let Some(d) = diagnosed("hypervisor-no-vsti.toml", version).await else {
        return;
    };
    let text = hvharness::render_diagnosis(&d);
    for (h, f) in waiting_harts_with(&d, &text, "interrupt-undelegated") {
        assert!(f.summary.starts_with("VSTI is pending"), "{text}");
        assert!(
            f.fix
                .as_deref()
                .is_some_and(|x| x.contains("hideleg bit 6")),
            "{text}"
        );
        assert!(
            h.interrupts
                .decoded
                .iter()
                .any(|l| l.starts_with("hideleg ")),
            "{text}"
        );
        // Who wrote hideleg: hart_init delegates VSTI, the fixture's hook
        // clears it again; that line is the change.
        let set = common::source_line("hart.c", "csr_write(CSR_HIDELEG");
        let hook = common::source_line("fixture.c", "csr_clear(CSR_HIDELEG");
        assert_names_the_writers(
            f,
            &[
                &format!("hideleg is written at {set} (`csrw hideleg, a5`, a5 = 0x444: VSEI, VSTI, VSSI) on harts 0 and 1 and {hook} (`csrc hideleg, a5`, a5 = 0x40: VSTI) on harts 0 and 1; bit 6 (VSTI) is set at {set} and cleared again at {hook}."),
                "-   csr_clear(CSR_HIDELEG, 1UL << IRQ_VS_TIMER);",
            ],
            &format!("At {hook} (fixture_hideleg), stop clearing hideleg bit 6 (VSTI)"),
            &text,
        );
    }
}

/// A hypervisor that emulates its guest's UART from htinst alone: on QEMU
/// < 8.0 (htinst 0) it panics on the first store and parks hart 0, and the
/// diagnosis says it needs htinst, quoting the panic line, instead of
/// "unmapped MMIO"; on >= 8.0 QEMU fills htinst and it boots.
async fn emul_htinst(version: &str) {
    let Some(d) = diagnosed("hypervisor-emul-htinst.toml", version).await else {
        return;
    };
    let text = hvharness::render_diagnosis(&d);
    if d.qemu >= "8.0.0".parse().unwrap() {
        assert!(matches!(d.observed, Observed::Booted), "{text}");
        assert!(d.faults.is_empty(), "{text}");
        return;
    }
    assert!(matches!(d.observed, Observed::Hung { .. }), "{text}");
    assert_eq!(d.faults.len(), 1, "only hart 0 is stuck:\n{text}");
    let f = &d.faults[0];
    assert_eq!(f.context.hart, 0, "{text}");
    assert_eq!(f.context.cause.code, 23, "{text}");
    assert_eq!(f.context.to, TrapTarget::HS, "{text}");
    assert_eq!(f.context.htinst, Some(0), "{text}");
    assert!(
        f.context
            .epc_place
            .as_deref()
            .is_some_and(|p| p.starts_with("guest:uartinit+")),
        "{text}"
    );
    let panic_line = f
        .console
        .iter()
        .find(|l| {
            l.text
                .starts_with("[PANIC hart 0] vuart: cannot emulate the store")
        })
        .unwrap_or_else(|| panic!("no panic line:\n{text}"));
    assert_eq!(rules_of(&d), ["emulation"], "{text}");
    let x = &f.findings[0];
    assert!(x.summary.contains("guest:uartinit+"), "{text}");
    assert!(
        x.summary.contains(&panic_line.text),
        "the panic line is quoted:\n{text}"
    );
    assert!(x.summary.contains("leaves 0"), "{text}");
    assert!(
        x.fix
            .as_deref()
            .is_some_and(|f| f.contains("from guest memory when htinst is 0")),
        "{text}"
    );
    assert!(!text.contains("[unmapped-mmio]"), "{text}");
}

/// A guest that enables its timer interrupt and never arms the timer:
/// nothing traps; each hart is shown waiting, and the missing link is
/// named with its evidence (no tick, no SBI call, nothing pending).
async fn notimer(version: &str) {
    let Some(d) = diagnosed("fault-notimer.toml", version).await else {
        return;
    };
    let text = hvharness::render_diagnosis(&d);
    for (_, f) in waiting_harts_with(&d, &text, "timer-never-armed") {
        assert!(f.summary.contains("vsie.STIE"), "{text}");
        assert!(
            f.details
                .iter()
                .any(|d| d.contains("set_timer was never called")),
            "{text}"
        );
        assert!(
            f.fix
                .as_deref()
                .is_some_and(|x| x.contains("SBI set_timer")),
            "{text}"
        );
    }
}

async fn gdb_hand_off(version: &str) {
    let Some(_) = common::qemu_or_skip(version, "gdb_hand_off") else {
        return;
    };
    common::firmware();
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hvharness"))
        .args([
            "diagnose",
            "scenarios/fault-nodeleg.toml",
            "--no-build",
            "--gdb",
            "--qemu",
            version,
        ])
        .current_dir(common::root())
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let command = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with("gdb-multiarch") => break line,
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                panic!("no gdb command line within 60 s");
            }
        }
    };
    assert!(
        command.contains("hypervisor-nodeleg.elf") && command.contains("add-symbol-file"),
        "{command}"
    );
    let addr = command
        .rsplit("target remote ")
        .next()
        .unwrap()
        .trim_end_matches('\'')
        .to_string();
    // A debugger attaches and finds the hart where the diagnosis left it:
    // parked in the hypervisor after the guest's undelegated ecall from U-mode.
    let mut gdb = hvharness::internals::rsp::RspClient::connect(
        addr.as_str(),
        hvharness::internals::rsp::RspConfig::default(),
    )
    .await
    .unwrap();
    gdb.select_register_thread(hvharness::internals::rsp::ThreadId::qemu_hart(0))
        .await
        .unwrap();
    assert_eq!(gdb.read_register_u64("scause").await.unwrap(), Some(8));
    drop(gdb);
    // Ctrl-C ends it all.
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let needle = tmp.path().to_string_lossy().to_string();
    let until = Instant::now() + Duration::from_secs(5);
    while !common::qemu_processes_with(&needle).is_empty() {
        assert!(Instant::now() < until, "QEMU outlived the hand-off");
        std::thread::sleep(Duration::from_millis(50));
    }
}

common::per_version! {
    async adue_hang;
    async nodeleg;
    async gstage_hole = injected("fault-gstage-hole.toml", 23, TrapTarget::HS, "guest:kinit", "gstage-hole");
    async mmio_hole = injected("fault-mmio-hole.toml", 23, TrapTarget::HS, "guest:uartinit", "unmapped-mmio");
    async nostvec = injected("fault-nostvec.toml", 0xd, TrapTarget::HS, "guest:fault_unmapped_load", "no-stvec");
    async nostvec_under_hypervisor = injected("fault-nostvec-hv.toml", 0xd, TrapTarget::VS, "guest:fault_unmapped_load", "no-stvec");
    async illegal = injected("fault-illegal.toml", 2, TrapTarget::VS, "guest:fault_illegal_insn", "illegal-instruction");
    async sbi_panic;
    async highboot;
    async no_vsti;
    async emul_htinst;
    async notimer;
    async gdb_hand_off;
}
