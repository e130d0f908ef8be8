//! QEMU's life is tied to the harness process, not to the thread that started
//! it: the parent-death signal fires when the *thread* that forked QEMU exits,
//! and tokio's blocking-pool threads exit after a short idle time.

mod common;

use std::time::{Duration, Instant};

use hvharness::internals::qemu::{LaunchOptions, MachineSpec, QemuProcess};

fn bare_opensbi() -> MachineSpec {
    MachineSpec {
        consoles: vec![common::serial_console("serial0")],
        ..common::virt("rv64,h=true", 1)
    }
}

/// Waits (bounded) until thread `tid` of this process has exited.
fn wait_thread_gone(tid: i32) {
    let path = format!("/proc/self/task/{tid}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::path::Path::new(&path).exists() {
        assert!(
            Instant::now() < deadline,
            "blocking-pool thread {tid} did not exit within 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn launched_from_blocking_thread_survives_it(version: &str) {
    let Some(build) = common::qemu_or_skip(version, "launch_thread") else {
        return;
    };
    // Blocking-pool threads exit after 50 ms idle (tokio's default is 10 s).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_keep_alive(Duration::from_millis(50))
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let handle = tokio::runtime::Handle::current();
        let (q, tid) = tokio::task::spawn_blocking(move || {
            let tid = nix::unistd::gettid().as_raw();
            let q = handle.block_on(QemuProcess::launch(
                &build,
                &bare_opensbi(),
                &LaunchOptions::default(),
            ));
            (q, tid)
        })
        .await
        .expect("the blocking task ran");
        let mut q = q.expect("QEMU starts");
        wait_thread_gone(tid);
        // The thread that called launch is gone: QEMU must still be there.
        let exited = q
            .wait_exit(Duration::from_secs(2))
            .await
            .expect("waiting on QEMU");
        assert!(
            exited.is_none(),
            "QEMU {version} died with its launching thread: {exited:?}"
        );
        assert!(
            !q.qmp().running().await.expect("QMP answers"),
            "still paused"
        );
        q.resume().await.expect("QEMU resumes");
        let banner = regex::Regex::new(r"OpenSBI v\d+\.\d+").expect("a valid pattern");
        q.console("serial0")
            .expect("serial0")
            .expect(&banner, Duration::from_secs(30))
            .await
            .expect("banner");
        // And it is still killed when the harness drops it.
        let session = q.session_dir().to_string_lossy().to_string();
        drop(q);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !common::qemu_processes_with(&session).is_empty() {
            assert!(Instant::now() < deadline, "QEMU outlived its QemuProcess");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

common::per_version! {
    fn launched_from_blocking_thread_survives_it;
}
