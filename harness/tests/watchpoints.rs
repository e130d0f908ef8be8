//! Watchpoints from a scenario on real QEMU: a write to the guest's
//! `kernel_pagetable` stops the hart in the code that writes it (the boot
//! code clearing bss, then kvminit).

mod common;

use hvharness::Scenario;

async fn write_watch(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "write_watch") else {
        return;
    };
    common::firmware();
    let fw = common::root().join("target/firmware");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watch.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[machine]
cpu = "rv64"
bios = "default"
kernel = "{fw}/guest.elf"
[[console]]
name = "console"
attach = "serial"
milestones = ['\$ ']
[[elf]]
name = "guest"
path = "{fw}/guest.elf"
[[breakpoint]]
at = "guest:kernel_pagetable"
watch = "write"
len = 8
privilege = "S"
max_hits = 2
dump = ["satp"]
"#,
            fw = fw.display()
        ),
    )
    .unwrap();
    let scenario = Scenario::load(&path).unwrap();
    let report = hvharness::run(&scenario, &build).await.unwrap();
    let rendered = hvharness::render_run(&report);
    assert_eq!(report.stops.len(), 2, "two counted writes:\n{rendered}");
    // First the boot code clears bss, then kvminit stores the table's root.
    assert!(
        report.stops[0].place.starts_with("_entry"),
        "bss clearing first: {rendered}"
    );
    let stop = &report.stops[1];
    assert!(
        stop.place.starts_with("kvminit"),
        "then the write in kvminit: {rendered}"
    );
    // Paging is not on yet when kvminit stores the root.
    assert_eq!(stop.csr("satp").and_then(|c| c.raw), Some(0), "{rendered}");
}

common::per_version! {
    async write_watch;
}
