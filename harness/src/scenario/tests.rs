use std::path::Path;

use super::*;

const GOOD: &str = r#"
name = "two-vms"
[build]
command = ["make", "-C", "../hypervisor"]
[machine]
cpu = "rv64,h=true"
smp = 2
bios = "default"
kernel = "../target/firmware/hypervisor.elf"
[[console]]
name = "vm0"
attach = "serial"
milestones = ["guest kernel is booting", '\$ ']
[[console]]
name = "vm1"
attach = "pci-serial"
[boot]
timeout_secs = 30
[[outcome]]
qemu = "<9.0"
expect = "boots"
[[outcome]]
qemu = ">=9.0"
expect = "hangs"
last_milestone = "guest kernel is booting"
trap = { cause = 0xc, symbol = "kvminithart" }
csr = ["henvcfg.ADUE == 0 at guest:kvminithart"]
[[elf]]
name = "guest"
path = "../target/firmware/guest.elf"
[[breakpoint]]
at = "guest:kvminithart"
privilege = "VS"
dump = ["henvcfg", "menvcfg"]
"#;

fn load(text: &str) -> Result<Scenario> {
    let path = Path::new("/proj/scenarios/x.toml");
    ScenarioFile::parse(text, path)?.into_scenario(path)
}

#[test]
fn loads_a_full_scenario() {
    let s = load(GOOD).unwrap();
    assert_eq!(s.name, "two-vms");
    assert_eq!(s.machine.smp, 2);
    assert_eq!(
        s.machine.kernel.as_deref(),
        Some(Path::new(
            "/proj/scenarios/../target/firmware/hypervisor.elf"
        ))
    );
    assert_eq!(s.consoles[0].milestones.len(), 2);
    let old = s.expected_for("8.0.2".parse().unwrap()).unwrap();
    assert_eq!(old.kind, OutcomeKind::Boots);
    let new = s.expected_for("10.0.2".parse().unwrap()).unwrap();
    assert_eq!(new.kind, OutcomeKind::Hangs);
    assert_eq!(new.trap.as_ref().unwrap().cause, 0xc);
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let text = GOOD.replace("smp = 2", "smp = 2\nkernal = \"x\"");
    let err = format!("{:#}", load(&text).unwrap_err());
    assert!(err.starts_with("/proj/scenarios/x.toml:"), "{err}");
    assert!(err.contains("kernal"), "{err}");
    let line = err.split(':').nth(1).unwrap();
    assert_eq!(line, "8", "{err}");
}

#[test]
fn bad_values_name_their_key() {
    let err = format!(
        "{:#}",
        load(&GOOD.replace("attach = \"pci-serial\"", "attach = \"usb\"")).unwrap_err()
    );
    assert!(err.contains("console[1].attach"), "{err}");
    let err = format!(
        "{:#}",
        load(&GOOD.replace("qemu = \"<9.0\"", "qemu = \"<nine\"")).unwrap_err()
    );
    assert!(err.contains("outcome[0].qemu"), "{err}");
    let err = format!(
        "{:#}",
        load(&GOOD.replace("expect = \"boots\"", "expect = \"flies\"")).unwrap_err()
    );
    assert!(err.contains("outcome[0].expect"), "{err}");
    let err = format!("{:#}", load(&GOOD.replace("'\\$ '", "'(('")).unwrap_err());
    assert!(err.contains("console[0].milestones[1]"), "{err}");
}

#[test]
fn breakpoints_and_csr_checks() {
    let s = load(GOOD).unwrap();
    let bp = &s.breakpoints[0];
    assert_eq!(bp.max_hits, 2, "once per hart by default");
    assert_eq!(bp.privilege, Some(PrivilegeFilter::VS));
    assert_eq!(s.split_space(&bp.at), (Some("guest"), "kvminithart"));
    assert_eq!(s.split_space("vm.c:67"), (None, "vm.c:67"));
    let check = &s.expected_for("10.0.2".parse().unwrap()).unwrap().checks[0];
    assert_eq!(
        (check.csr.as_str(), check.field.as_deref(), check.value),
        ("henvcfg", Some("ADUE"), 0)
    );

    let err = format!(
        "{:#}",
        load(&GOOD.replace("at guest:kvminithart\"]", "at guest:main\"]")).unwrap_err()
    );
    assert!(
        err.contains("outcome[1].csr[0]") && err.contains("no [[breakpoint]]"),
        "{err}"
    );
    let err = format!(
        "{:#}",
        load(&GOOD.replace("henvcfg.ADUE == 0", "hgatp.MODE == 8")).unwrap_err()
    );
    assert!(err.contains("does not dump hgatp"), "{err}");
    let err = format!(
        "{:#}",
        load(&GOOD.replace("privilege = \"VS\"", "privilege = \"XS\"")).unwrap_err()
    );
    assert!(err.contains("breakpoint[0].privilege"), "{err}");
}

#[test]
fn csr_check_syntax() {
    let c = CsrCheck::parse("menvcfg == 0xa0000000000000f0 at hypervisor:hart_init").unwrap();
    assert_eq!(c.value, 0xa0000000000000f0);
    assert_eq!(c.field, None);
    assert!(CsrCheck::parse("henvcfg.ADUE = 1 at x").is_err());
    assert!(CsrCheck::parse("henvcfg.ADUE == one at x").is_err());
}

#[test]
fn trace_csrs_are_checked_with_near_matches() {
    assert!(load(GOOD).unwrap().trace_csrs.is_empty());
    let text = format!("trace_csrs = [\"henvcfg\", \"0x602\"]\n{GOOD}");
    let s = load(&text).unwrap();
    assert_eq!(s.trace_csrs, ["henvcfg", "0x602"]);
    assert_eq!(
        s.trace_csrs_with(&["HENVCFG".into(), "hideleg".into()]),
        ["henvcfg", "0x602", "hideleg"]
    );
    let typo = format!("trace_csrs = [\"henvcfg\", \"henvcgf\"]\n{GOOD}");
    let err = format!("{:#}", load(&typo).unwrap_err());
    assert!(
        err.contains("trace_csrs[1]") && err.contains("did you mean henvcfg"),
        "{err}"
    );
}

#[test]
fn trace_hits_per_writer_defaults_to_one_and_is_bounded() {
    assert_eq!(load(GOOD).unwrap().trace_hits_per_writer, 1);
    let three = format!("trace_hits_per_writer = 3\n{GOOD}");
    assert_eq!(load(&three).unwrap().trace_hits_per_writer, 3);
    for bad in ["0", "1001"] {
        let text = format!("trace_hits_per_writer = {bad}\n{GOOD}");
        let err = format!("{:#}", load(&text).unwrap_err());
        assert!(
            err.contains("trace_hits_per_writer") && err.contains("must be 1 to 1000"),
            "{err}"
        );
    }
}

#[test]
fn milestone_symbols_in_order_with_a_privilege() {
    assert!(load(GOOD).unwrap().milestone_symbols.is_empty());
    let text = format!("milestone_symbols = [\"guest:main\", \"guest:kvminithart\"]\nmilestone_privilege = \"vs\"\n{GOOD}");
    let s = load(&text).unwrap();
    assert_eq!(s.milestone_symbols, ["guest:main", "guest:kvminithart"]);
    assert_eq!(s.milestone_privilege, Some(PrivilegeFilter::VS));
    assert!(
        s.breakpoints.iter().all(|b| !b.once_per_hart),
        "file breakpoints count every hart's stops"
    );

    let twice = format!("milestone_symbols = [\"guest:main\", \"guest:main\"]\n{GOOD}");
    let err = format!("{:#}", load(&twice).unwrap_err());
    assert!(
        err.starts_with("/proj/scenarios/x.toml:1:21: milestone_symbols[1]:")
            && err.contains("twice"),
        "{err}"
    );
    let empty = format!("milestone_symbols = [\"guest:main\", \" \"]\n{GOOD}");
    let err = format!("{:#}", load(&empty).unwrap_err());
    assert!(
        err.contains("milestone_symbols[1]") && err.contains("empty"),
        "{err}"
    );
    let bad = format!("milestone_symbols = [\"main\"]\nmilestone_privilege = \"XS\"\n{GOOD}");
    let err = format!("{:#}", load(&bad).unwrap_err());
    assert!(
        err.contains("milestone_privilege") && err.contains("\"XS\""),
        "{err}"
    );
    let alone = format!("milestone_privilege = \"VS\"\n{GOOD}");
    let err = format!("{:#}", load(&alone).unwrap_err());
    assert!(
        err.contains("milestone_privilege") && err.contains("without milestone_symbols"),
        "{err}"
    );
    // A misspelt key names its line, like every other key.
    let typo = format!("milestone_symbol = [\"main\"]\n{GOOD}");
    let err = format!("{:#}", load(&typo).unwrap_err());
    assert!(
        err.starts_with("/proj/scenarios/x.toml:1:") && err.contains("milestone_symbol"),
        "{err}"
    );
}

#[test]
fn a_scenario_can_name_its_qemu_versions() {
    let s = load(&format!("qemu = \">=8.0\"\n{GOOD}")).unwrap();
    assert!(s
        .skip_reason("7.2.22".parse().unwrap())
        .unwrap()
        .contains(">=8.0"));
    assert!(s.skip_reason("10.0.2".parse().unwrap()).is_none());
    assert!(load(GOOD)
        .unwrap()
        .skip_reason("7.2.22".parse().unwrap())
        .is_none());
    let err = format!(
        "{:#}",
        load(&format!("qemu = \"new\"\n{GOOD}")).unwrap_err()
    );
    assert!(err.contains(": qemu:"), "{err}");
}

#[test]
fn arm_after_names_an_earlier_breakpoint_with_its_line() {
    let two = format!(
        "{GOOD}[[breakpoint]]\nat = \"guest:kvminit\"\narm_after = \"guest:kvminithart\"\nonce_per_hart = true\n"
    );
    let s = load(&two).unwrap();
    assert_eq!(s.breakpoints[0].arm_after, None);
    assert_eq!(
        s.breakpoints[1].arm_after.as_deref(),
        Some("guest:kvminithart")
    );
    assert!(s.breakpoints[1].once_per_hart && !s.breakpoints[0].once_per_hart);

    // The error names the line of the table's header.
    let line = GOOD.lines().count() + 1;
    let unknown =
        format!("{GOOD}[[breakpoint]]\nat = \"guest:kvminit\"\narm_after = \"guest:kinit\"\n");
    let err = format!("{:#}", load(&unknown).unwrap_err());
    assert!(
        err.starts_with(&format!(
            "/proj/scenarios/x.toml:{line}:1: breakpoint[1].arm_after:"
        )) && err.contains("\"guest:kinit\""),
        "{err}"
    );
    let itself =
        format!("{GOOD}[[breakpoint]]\nat = \"guest:kvminit\"\narm_after = \"guest:kvminit\"\n");
    let err = format!("{:#}", load(&itself).unwrap_err());
    assert!(
        err.contains("breakpoint[1].arm_after") && err.contains("itself"),
        "{err}"
    );
    // A later breakpoint cannot be a trigger: no cycles, no breakpoint that never goes in.
    let later = GOOD.replace(
        "privilege = \"VS\"\n",
        "privilege = \"VS\"\narm_after = \"guest:kvminit\"\n",
    ) + "[[breakpoint]]\nat = \"guest:kvminit\"\n";
    let err = format!("{:#}", load(&later).unwrap_err());
    assert!(
        err.contains("breakpoint[0].arm_after") && err.contains("earlier"),
        "{err}"
    );
}

#[test]
fn last_milestone_names_a_milestone_entry() {
    let new = load(GOOD).unwrap();
    let new = new.expected_for("10.0.2".parse().unwrap()).unwrap();
    let last = new.last_milestone.as_ref().unwrap();
    assert_eq!(last.console, None);
    assert_eq!(last.milestone, "guest kernel is booting");
}

#[test]
fn last_milestone_spelled_differently_is_an_error_with_its_line() {
    // Matches the same line, but is not how the milestone is written.
    let text = GOOD.replace(
        r#"last_milestone = "guest kernel is booting""#,
        r#"last_milestone = "guest kernel is boot.*""#,
    );
    let err = format!("{:#}", load(&text).unwrap_err());
    let line = text
        .lines()
        .position(|l| l.starts_with("last_milestone"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("x.toml:{line}:18: outcome[1].last_milestone")),
        "{err}"
    );
    assert!(
        err.contains("guest kernel is booting"),
        "lists the milestones: {err}"
    );
}

#[test]
fn last_milestone_on_a_named_console() {
    let on_vm0 = r#"last_milestone = { console = "vm0", milestone = '\$ ' }"#;
    let text = GOOD.replace(r#"last_milestone = "guest kernel is booting""#, on_vm0);
    let s = load(&text).unwrap();
    let last = s
        .expected_for("10.0.2".parse().unwrap())
        .unwrap()
        .last_milestone
        .clone()
        .unwrap();
    assert_eq!(
        last,
        LastMilestone {
            console: Some("vm0".into()),
            milestone: r"\$ ".into()
        }
    );
    // vm1 lists no milestones at all; a console that does not exist is an error too.
    for bad in ["vm1", "vm9"] {
        let text = text.replace(r#"console = "vm0""#, &format!("console = {bad:?}"));
        let err = format!("{:#}", load(&text).unwrap_err());
        assert!(
            err.contains("outcome[1].last_milestone") && err.contains(bad),
            "{err}"
        );
    }
}

#[test]
fn arm_after_a_milestone_or_a_trap() {
    let with =
        |arm: &str| format!("{GOOD}[[breakpoint]]\nat = \"guest:kvminit\"\narm_after = {arm}\n");
    let s = load(&with(
        r#"{ milestone = "guest kernel is booting", console = "vm0" }"#,
    ))
    .unwrap();
    let b = &s.breakpoints[1];
    assert_eq!(b.arm_after, None);
    let on = b.arm_on.as_ref().unwrap();
    assert!(on.is_milestone("vm0", "guest kernel is booting"));
    assert!(!on.is_milestone("vm1", "guest kernel is booting"));
    let any = load(&with(r#"{ milestone = '\$ ' }"#)).unwrap();
    let on = any.breakpoints[1].arm_on.as_ref().unwrap();
    assert!(on.is_milestone("vm1", r"\$ "));
    assert_eq!(on.to_string(), r"milestone /\$ /");
    let trap = load(&with("{ trap = 0xd }")).unwrap();
    assert_eq!(
        trap.breakpoints[1].arm_on,
        Some(ArmEvent::Trap { cause: 0xd })
    );

    // Mistakes name the file, the table's line and what would do.
    let line = GOOD.lines().count() + 1;
    let prefix = format!("/proj/scenarios/x.toml:{line}:1: breakpoint[1].arm_after: ");
    for (arm, says) in [
        (
            r#"{ milestone = "init: starting sh" }"#,
            "not a milestone of any console",
        ),
        (
            r#"{ milestone = "guest kernel is booting", console = "vm1" }"#,
            "not a milestone of console \"vm1\"",
        ),
        (
            r#"{ milestone = "guest kernel is booting", console = "vm7" }"#,
            "no [[console]] named \"vm7\"",
        ),
        ("{ trap = 64 }", "below 64"),
        (
            r#"{ trap = 13, console = "vm0" }"#,
            "console goes with milestone",
        ),
        ("{ }", "expected a breakpoint's `at`"),
    ] {
        let err = format!("{:#}", load(&with(arm)).unwrap_err());
        assert!(
            err.starts_with(&prefix) && err.contains(says),
            "{arm}: {err}"
        );
    }
}

#[test]
fn an_expected_trap_is_checked_at_load() {
    let s = load(&GOOD.replace(
        "symbol = \"kvminithart\" }",
        "symbol = \"guest:kvminithart\", hart = 1 }",
    ))
    .unwrap();
    let t = s.outcomes[1].trap.as_ref().unwrap();
    assert_eq!((t.symbol.as_str(), t.hart), ("guest:kvminithart", Some(1)));
    let err = |text: String| format!("{:#}", load(&text).unwrap_err());
    let hart = err(GOOD.replace(
        "symbol = \"kvminithart\" }",
        "symbol = \"kvminithart\", hart = 2 }",
    ));
    assert!(
        hart.starts_with("/proj/scenarios/x.toml:26:8: outcome[1].trap: hart 2 does not exist"),
        "{hart}"
    );
    let space = err(GOOD.replace(
        "symbol = \"kvminithart\"",
        "symbol = \"gueest:kvminithart\"",
    ));
    assert!(
        space.contains(":26:8: outcome[1].trap:") && space.contains("one of guest"),
        "{space}"
    );
    // A cause alone matches OpenSBI's probes and other VMs: the symbol is required.
    let bare = err(GOOD.replace(", symbol = \"kvminithart\"", ""));
    assert!(bare.contains("symbol"), "{bare}");
}

#[test]
fn auto_arm_is_on_unless_turned_off() {
    assert!(load(GOOD).unwrap().auto_arm);
    let off = format!("auto_arm = false\n{GOOD}");
    assert!(!load(&off).unwrap().auto_arm);
    let wrong = format!("auto_arm = \"no\"\n{GOOD}");
    let err = format!("{:#}", load(&wrong).unwrap_err());
    assert!(
        err.contains("x.toml:1:12") && err.contains("boolean"),
        "{err}"
    );
}

/// The error for `GOOD` with `from` replaced by `to`.
fn error_with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    format!("{:#}", load(&GOOD.replacen(from, to, 1)).unwrap_err())
}

/// `file:line:col: key: ` of the first occurrence of `needle` in `text`.
fn at(text: &str, needle: &str, key: &str) -> String {
    let offset = text.find(needle).expect("the needle");
    let (line, col) = super::position::position(text, offset);
    format!("/proj/scenarios/x.toml:{line}:{col}: {key}: ")
}

#[test]
fn closed_sets_name_position_and_allowed_values() {
    let cases = [
        (
            "privilege = \"VS\"",
            "privilege = \"XS\"",
            "\"XS\"",
            "breakpoint[0].privilege",
            &["\"XS\" is no privilege level", "M, HS, S, VS, U or VU"][..],
        ),
        (
            "expect = \"boots\"",
            "expect = \"flies\"",
            "\"flies\"",
            "outcome[0].expect",
            &["unknown variant `flies`", "`boots`", "`hangs`"][..],
        ),
        (
            "attach = \"pci-serial\"",
            "attach = \"usb\"",
            "\"usb\"",
            "console[1].attach",
            &["\"usb\"", "serial, pci-serial or device:NAME"][..],
        ),
        (
            "attach = \"pci-serial\"",
            "attach = \"device:\"",
            "\"device:\"",
            "console[1].attach",
            &["device:NAME"][..],
        ),
        (
            "dump = [\"henvcfg\", \"menvcfg\"]",
            "dump = [\"henvcfg\", \"menvcfg\"]\nwatch = \"writes\"",
            "\"writes\"",
            "breakpoint[0].watch",
            &["unknown variant `writes`", "`write`, `read`, `access`"][..],
        ),
    ];
    for (from, to, value, key, says) in cases {
        let text = GOOD.replacen(from, to, 1);
        let err = error_with(from, to);
        let want = at(&text, value, key);
        assert!(err.starts_with(&want), "{to}: want {want}: {err}");
        for s in says {
            assert!(err.contains(s), "{to}: {s}: {err}");
        }
    }
    // The same in milestone_privilege, lower case accepted.
    let text = format!("milestone_symbols = [\"main\"]\nmilestone_privilege = \"hs\"\n{GOOD}");
    assert_eq!(
        load(&text).unwrap().milestone_privilege,
        Some(PrivilegeFilter::HS)
    );
    let text = text.replace("\"hs\"", "\"H\"");
    let err = format!("{:#}", load(&text).unwrap_err());
    assert!(
        err.starts_with("/proj/scenarios/x.toml:2:23: milestone_privilege: \"H\" is no privilege"),
        "{err}"
    );
}

#[test]
fn watchpoint_lengths_point_at_len() {
    let with = |extra: &str| {
        GOOD.replacen(
            "privilege = \"VS\"",
            &format!("privilege = \"VS\"\n{extra}"),
            1,
        )
    };
    let s = load(&with("watch = \"read\"\nlen = 4")).unwrap();
    let w = s.breakpoints[0].watch.unwrap();
    assert_eq!((w.access, w.len), (WatchAccess::Read, 4));
    let s = load(&with("watch = \"access\"")).unwrap();
    assert_eq!(s.breakpoints[0].watch.unwrap().len, 8);
    for (extra, says) in [
        (
            "watch = \"write\"\nlen = 9",
            "9: a watchpoint covers 1 to 8 bytes",
        ),
        (
            "watch = \"write\"\nlen = 0",
            "0: a watchpoint covers 1 to 8 bytes",
        ),
        ("len = 4", "len only applies to a watchpoint"),
    ] {
        let text = with(extra);
        let err = format!("{:#}", load(&text).unwrap_err());
        // The position is len's value.
        let value = text.find("len = ").unwrap() + "len = ".len();
        let (line, col) = super::position::position(&text, value);
        assert!(
            err.starts_with(&format!(
                "/proj/scenarios/x.toml:{line}:{col}: breakpoint[0].len: "
            )) && err.contains(says),
            "{extra}: {err}"
        );
    }
}

#[test]
fn expect_boots_with_a_trap_names_the_line() {
    let text = GOOD.replacen("expect = \"hangs\"", "expect = \"boots\"", 1);
    let err = format!("{:#}", load(&text).unwrap_err());
    let line = text
        .lines()
        .position(|l| l == "expect = \"boots\"")
        .unwrap();
    // The second `expect = "boots"` line (outcome[1]).
    let line = text
        .lines()
        .skip(line + 1)
        .position(|l| l == "expect = \"boots\"")
        .unwrap()
        + line
        + 2;
    assert!(
        err.starts_with(&format!(
            "/proj/scenarios/x.toml:{line}:10: outcome[1].expect: last_milestone and trap"
        )),
        "{err}"
    );
}

#[test]
fn elf_offsets_are_signed_and_a_load_address_is_kept() {
    let elf = |extra: &str| {
        GOOD.replacen(
            "path = \"../target/firmware/guest.elf\"",
            &format!("path = \"../target/firmware/guest.elf\"\n{extra}"),
            1,
        )
    };
    let first = |text: &str| load(text).map(|s| s.elfs[0].clone());
    assert_eq!(first(GOOD).unwrap().offset, 0);
    assert_eq!(first(&elf("offset = 0x1000")).unwrap().offset, 0x1000);
    assert_eq!(
        first(&elf("offset = -4096")).unwrap().offset,
        4096u64.wrapping_neg()
    );
    let high = first(&elf("offset = \"-0xffff_ffff_0000_0000\"")).unwrap();
    assert_eq!(high.offset, 0x1_0000_0000);
    assert_eq!(
        first(&elf("offset = \"0xffffffff00000000\""))
            .unwrap()
            .offset,
        0xffff_ffff_0000_0000
    );
    assert_eq!(
        first(&elf("offset = \"-16\"")).unwrap().offset,
        16u64.wrapping_neg()
    );
    let loaded = first(&elf("load_address = 0x80200000")).unwrap();
    assert_eq!((loaded.offset, loaded.load_address), (0, Some(0x8020_0000)));
    assert_eq!(first(GOOD).unwrap().load_address, None);
    for bad in [
        "\"-0x1_0000_0000_0000_0000\"",
        "\"ten\"",
        "\"0x\"",
        "1.5",
        "\"--1\"",
    ] {
        let text = elf(&format!("offset = {bad}"));
        let err = format!("{:#}", first(&text).unwrap_err());
        let (line, _) = super::position::position(&text, text.find("offset = ").unwrap());
        assert!(
            err.starts_with(&format!("/proj/scenarios/x.toml:{line}:"))
                && err.contains("elf[0].offset: ")
                && err.contains("-0xffffffff00000000"),
            "{bad}: {err}"
        );
    }
    let text = elf("load_address = -1");
    let err = format!("{:#}", first(&text).unwrap_err());
    assert!(err.contains("elf[0].load_address: "), "{err}");
}

#[test]
fn toml_errors_name_the_key() {
    let err = error_with("smp = 2", "smp = \"two\"");
    assert!(
        err.starts_with("/proj/scenarios/x.toml:7:7: machine.smp: invalid type"),
        "{err}"
    );
    let err = error_with("cause = 0xc", "cause = \"twelve\"");
    assert!(
        err.contains(": outcome[1].trap.cause: invalid type"),
        "{err}"
    );
}
