//! A user's disk image is never modified: QEMU runs every `-drive` with
//! `snapshot=on`, so it opens the image read-only and keeps the guest's
//! writes in a temporary overlay. Checked on real QEMU with the standalone
//! guest scenario and a raw image attached as a virtio disk.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hvharness::internals::qemu::{LaunchOptions, QemuProcess};
use hvharness::{Scenario, Verdict};

const LIMIT: Duration = Duration::from_secs(60);

/// A raw image of a few KiB with a recognisable pattern and an old mtime, so
/// that any write would show in its bytes or its time.
struct Image {
    _dir: tempfile::TempDir,
    path: PathBuf,
    bytes: Vec<u8>,
    mtime: SystemTime,
}

impl Image {
    fn new() -> Image {
        let dir = tempfile::Builder::new()
            .prefix("drives-")
            .tempdir()
            .expect("a temporary directory");
        let path = dir.path().join("disk.img");
        let bytes: Vec<u8> = (0..16 * 1024u32)
            .map(|i| (i.wrapping_mul(31) % 251) as u8)
            .collect();
        std::fs::write(&path, &bytes).expect("the image is written");
        let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(mtime))
            .expect("the image's mtime is set");
        Image {
            _dir: dir,
            path,
            bytes,
            mtime,
        }
    }

    /// `-drive` (without snapshot=, which the harness adds) and a virtio disk on it.
    fn args(&self, drive_extra: &str) -> Vec<String> {
        vec![
            "-drive".into(),
            format!(
                "file={},format=raw,if=none,id=d0{drive_extra}",
                self.path.display()
            ),
            "-device".into(),
            "virtio-blk-device,drive=d0".into(),
        ]
    }

    fn assert_unchanged(&self, what: &str) {
        let now = std::fs::read(&self.path).expect("the image is readable");
        assert!(now == self.bytes, "{what}: the image's bytes changed");
        let meta = std::fs::metadata(&self.path).unwrap();
        assert_eq!(
            meta.modified().unwrap(),
            self.mtime,
            "{what}: the image's mtime changed"
        );
    }
}

fn guest_scenario(extra_args: Vec<String>) -> Scenario {
    common::firmware();
    let mut s = Scenario::load(&common::root().join("scenarios/guest-standalone.toml"))
        .expect("the scenario loads");
    s.machine.extra_args = extra_args;
    s
}

/// Access modes (O_ACCMODE bits) of every descriptor `pid` holds on `file`.
fn open_modes(pid: u32, file: &Path) -> Vec<u32> {
    let mut modes = Vec::new();
    let fds =
        std::fs::read_dir(format!("/proc/{pid}/fd")).expect("QEMU's descriptors are readable");
    for fd in fds.flatten() {
        if std::fs::read_link(fd.path()).ok().as_deref() != Some(file) {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .expect("fdinfo is readable");
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .map(|f| u32::from_str_radix(f.trim(), 8).expect("octal flags"))
            .expect("fdinfo has flags");
        modes.push(flags & 0o3);
    }
    modes
}

/// QEMU with the image attached: the command line says snapshot=on, QEMU
/// holds the image read-only, the guest boots; afterwards the image is as it was.
async fn drive_is_read_only_and_unchanged(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "drive_is_read_only_and_unchanged") else {
        return;
    };
    let image = Image::new();
    let scenario = guest_scenario(image.args(""));
    let mut q = QemuProcess::launch(&build, &scenario.machine, &LaunchOptions::default())
        .await
        .expect("QEMU starts");

    let want = format!(
        "file={},format=raw,if=none,id=d0,snapshot=on",
        image.path.display()
    );
    assert!(
        q.command_line().iter().any(|a| a.to_string_lossy() == want),
        "the harness's command line has no {want}: {:?}",
        q.command_line()
    );
    let running = std::fs::read(format!("/proc/{}/cmdline", q.pid())).expect("QEMU's command line");
    let running: Vec<String> = running
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert!(
        running.contains(&want),
        "QEMU runs without {want}: {running:?}"
    );
    let canonical = image.path.canonicalize().unwrap();
    let modes = open_modes(q.pid(), &canonical);
    assert!(
        !modes.is_empty(),
        "QEMU does not hold {} open",
        canonical.display()
    );
    assert!(
        modes.iter().all(|&m| m == 0),
        "QEMU holds the image writable (O_ACCMODE {modes:?})"
    );

    q.resume().await.unwrap();
    let console = q.console("console").unwrap();
    for m in &scenario.consoles[0].milestones {
        if let Err(e) = console.expect(m, LIMIT).await {
            panic!("the guest does not boot with the disk attached: {e}");
        }
    }
    console.send_line("halt").await.unwrap();
    let status = q.wait_exit(Duration::from_secs(15)).await.unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "QEMU after halt: {status:?}"
    );
    drop(q);
    image.assert_unchanged("after a boot with the image attached");
}

/// The same through the scenario runner, as `hvharness run` does it.
async fn scenario_run_leaves_image_unchanged(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "scenario_run_leaves_image_unchanged") else {
        return;
    };
    let image = Image::new();
    let scenario = guest_scenario(image.args(""));
    let report = hvharness::run(&scenario, &build)
        .await
        .expect("the run completes");
    let rendered = hvharness::render_run(&report);
    assert!(matches!(report.verdict, Verdict::AsExpected), "{rendered}");
    image.assert_unchanged("after a scenario run with the image attached");
}

common::per_version! {
    async drive_is_read_only_and_unchanged;
    async scenario_run_leaves_image_unchanged;
}

/// `snapshot=off` is refused before QEMU starts, with a message that says why.
#[tokio::test]
async fn snapshot_off_is_refused_before_qemu_starts() {
    let Some(build) = common::qemu_or_skip("10.0.2", "snapshot_off_is_refused") else {
        return;
    };
    let image = Image::new();
    let scenario = guest_scenario(image.args(",snapshot=off"));
    let err = match QemuProcess::launch(&build, &scenario.machine, &LaunchOptions::default()).await
    {
        Ok(q) => panic!("QEMU started with snapshot=off: {:?}", q.command_line()),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("snapshot=off") && err.contains("never lets QEMU write a disk image"),
        "{err}"
    );
    assert!(
        common::qemu_processes_with(&image.path.to_string_lossy()).is_empty(),
        "a QEMU was started"
    );
    image.assert_unchanged("after a refused start");
}
