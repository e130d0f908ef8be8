//! What the s- and vs-register names read at a stop with V=1, on real QEMU:
//! the s-names are the guest's own registers (QEMU keeps the guest's live
//! values there), the vs-names QEMU's copy from the guest's last entry; the
//! dump labels both, and a zero cause register that no trap wrote reads
//! "no trap recorded" while a real one keeps its cause.
//!
//! Seen here: at the first `usertrap` stop scause holds the guest's trap
//! (0x8, or 0x8000000000000005 when a timer came first) while vscause reads
//! 0, its value when the guest was last entered.

mod common;

use hvharness::{render_run, Scenario};
use serde_json::Value;

const DUMP: &str = r#"["priv", "scause", "vscause", "sepc", "satp", "vsatp"]"#;

/// One VM, stopped in VS-mode before its first trap (kvminithart) and at its
/// first trap handler (usertrap: the guest's ecall from U).
fn scenario(dir: &std::path::Path) -> Scenario {
    let fw = common::root().join("target/firmware");
    let text = format!(
        r#"
[machine]
cpu = "rv64,h=true"
smp = 1
bios = "default"
kernel = "{fw}/hypervisor.elf"
[[console]]
name = "vm0"
attach = "serial"
milestones = ["init: starting sh"]
[[elf]]
name = "hypervisor"
path = "{fw}/hypervisor.elf"
virt = false
[[elf]]
name = "guest"
path = "{fw}/guest.elf"
virt = true
[[breakpoint]]
at = "guest:kvminithart"
privilege = "VS"
dump = {DUMP}
[[breakpoint]]
at = "guest:usertrap"
privilege = "VS"
dump = {DUMP}
[boot]
timeout_secs = 60
"#,
        fw = fw.display()
    );
    let path = dir.join("views.toml");
    std::fs::write(&path, text).unwrap();
    Scenario::load(&path).unwrap()
}

/// The stop at `breakpoint`'s reading of `name`, from the result file.
fn reading<'a>(json: &'a Value, breakpoint: &str, name: &str) -> &'a Value {
    let stop = json["stops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["breakpoint"] == breakpoint)
        .unwrap_or_else(|| panic!("no stop at {breakpoint}"));
    stop["csrs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} not dumped at {breakpoint}"))
}

fn code_symbol(r: &Value) -> &str {
    r["decoded"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Code")
        .and_then(|f| f["symbol"].as_str())
        .unwrap_or("")
}

async fn views_at_v1(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "stop_views") else {
        return;
    };
    common::firmware();
    let dir = tempfile::tempdir().unwrap();
    let report = hvharness::run(&scenario(dir.path()), &build).await.unwrap();
    let text = render_run(&report);
    let json = serde_json::to_value(&report).unwrap();

    // Before any trap into VS: zero, and recorded as no trap.
    let early = reading(&json, "guest:kvminithart", "scause");
    assert_eq!(early["raw"], 0, "{text}");
    assert_eq!(code_symbol(early), "no trap recorded", "{text}");
    assert_eq!(early["view"]["kind"], "guest", "{text}");
    assert_eq!(early["view"]["of"], "vscause", "{text}");

    // At the guest's handler scause records the trap that entered it (its
    // ecall from U, or a timer interrupt that came first); the hypervisor
    // runs with satp 0, so a paged satp is the guest's. The vs-names are
    // labelled as QEMU's copy from the guest's last entry.
    let scause = reading(&json, "guest:usertrap", "scause");
    assert_ne!(scause["raw"], 0, "{text}");
    assert_ne!(code_symbol(scause), "no trap recorded", "{text}");
    assert_eq!(scause["view"]["of"], "vscause", "{text}");
    let vscause = reading(&json, "guest:usertrap", "vscause");
    assert_eq!(vscause["view"]["kind"], "guest_at_entry", "{text}");
    assert_eq!(vscause["view"]["live"], "scause", "{text}");
    let satp = reading(&json, "guest:usertrap", "satp");
    assert_ne!(satp["raw"], 0, "{text}");
    assert!(
        text.contains("the guest's vscause (V=1)")
            && text.contains("copy from the guest's last entry (V=1); live: satp"),
        "{text}"
    );
}

common::per_version! {
    async views_at_v1;
}
