//! Benchmark: what the harness costs, in figures.
//!
//! ```sh
//! cargo run --release --example bench -p hvharness            # every figure, 10 repetitions
//! cargo run --release --example bench -p hvharness -- --reps 3 --only a,c
//! ```
//!
//! (d) `hvharness diagnose` of the ADUE hang, QEMU start to verdict, against
//!     a good boot of the fixed hypervisor on the same QEMU.
//!
//! (a) QEMU start to the guest's `$ `: through the harness (QemuProcess started
//!     paused, QMP, console sockets, `cont`, console expect) against plain QEMU
//!     on the same firmware (started running, the serial port on its stdout, a
//!     PCI serial port on a socket the benchmark listens on), for
//!     guest-standalone and hypervisor-2vm on each known QEMU. Both clocks
//!     start right before the spawn and stop when the chunk holding the last
//!     console's `$ ` arrives. The two are run alternately.
//! (b) `hvharness matrix scenarios/*.toml --no-build --json`: its wall time
//!     (process start to exit, measured here) against the sum of the cells'
//!     `duration_secs`; below 1 means cells overlapped (`-j`, default: CPUs).
//! (c) A dump of every CSR the target description lists, on every hart, over
//!     the gdbstub (hypervisor-2vm's machine, paused at reset).
//!
//! (e) Sharding's overhead: the same 36-cell matrix unsharded against its two
//!     shards (`--shard 1/2`, then `--shard 2/2`) run one after the other on
//!     this machine; the shards' total wall time over the unsharded one is
//!     what splitting costs (each shard builds nothing, but pays its own
//!     start-up and its own tail of unbalanced cells).
//! (h) A breakpoint on the page of the boot's hot loop: the hotpage fixture
//!     (hypervisor-hotpage, two harts) through the harness, time from resume
//!     to the last console milestone, with kvminithart's breakpoint inserted
//!     at the start (unmitigated), armed after memset's stops (`arm_after`,
//!     the cure as shipped), armed by the harness itself from the
//!     scenario's `milestone_symbols` (automatic), and without any
//!     breakpoint; ratios to the last, per QEMU, and the unmitigated
//!     slowdown the hot-page warning estimated from its timer samples; then
//!     each variant's time split at the end of the scrub (the hot loop) to
//!     show where a cost lies. The variants take turns, a different one
//!     first in each repetition. The hang rule's quiet window is lifted to
//!     the boot timeout so that the slow boot is timed, not judged hung.
//! (t) CSR tracing: the two-VM hypervisor (hypervisor-2vm) booted through
//!     the harness with `trace_csrs` = henvcfg, hedeleg, hideleg, hcounteren
//!     and menvcfg (a breakpoint on each writer and on the instruction after
//!     it, once per hart) against the same boot without, QEMU start to the
//!     verdict; the two take turns. Target: at most 1.1x.
//! (x) The same on xv6-riscv's layout (guest-xv6layout, three harts, no
//!     hints): the harness's own arming from the call graph, with hints,
//!     none and unmitigated (bench/xv6_layout.rs).
//! (s) soak: every shipped scenario, `--reps` times, as `hvharness matrix -j 2`
//!     on QEMU 7.2.22 and 10.0.2 (those registered) while this process keeps
//!     every core busy: the count of wrong verdicts (must be 0), the looks
//!     the harness took, the interrupt log read and dropped, the largest
//!     session directory and the harness's peak memory.
//! (i) idle: the two-VM hypervisor sits at its prompt for `--idle-secs`
//!     (default 60) on each QEMU: interrupt log streamed, session directory
//!     and harness memory (bounded, whatever the length).
//!
//! Each figure: median [min .. max] over the repetitions. A figure that cannot
//! be measured says so and why; nothing is estimated.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use hvharness::internals::qemu::{ConsoleAttach, LaunchOptions, MachineSpec, QemuProcess};
use hvharness::internals::rsp::{RspClient, RspConfig, RspCosts};
use hvharness::{QemuBuild, QemuRegistry, Scenario};
use regex::Regex;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The tests' CPU hog (one implementation for both).
#[path = "../tests/common/cpu_hog.rs"]
mod cpu_hog;
/// The phases of a run with a breakpoint armed late (figure x).
#[path = "bench/phases.rs"]
mod phases;
/// What the stops of a run cost, from the RSP client's own figures.
#[path = "bench/stop_costs.rs"]
mod stop_costs;
/// Figure (x): the xv6-layout fixture.
#[path = "bench/xv6_layout.rs"]
mod xv6_layout;
use cpu_hog::CpuHog;

/// How long one boot may take before the repetition counts as failed.
const BOOT_LIMIT: Duration = Duration::from_secs(60);
/// How long one matrix run may take.
const MATRIX_LIMIT: Duration = Duration::from_secs(900);
/// The scenarios of figure (a).
const BOOT_SCENARIOS: [&str; 2] = ["guest-standalone", "hypervisor-2vm"];
/// QEMU's gdbstub feature that lists the CSRs.
const CSR_FEATURE: &str = "org.gnu.gdb.riscv.csr";

/// Prints what the harness costs: boot time against plain QEMU, matrix
/// parallelism, a full CSR dump over the gdbstub, a diagnosed hang against a
/// good boot.
#[derive(Parser)]
#[command(name = "bench")]
struct Args {
    /// Repetitions of every figure.
    #[arg(long, default_value_t = 10)]
    reps: usize,
    /// Figures to measure: any of a, b, c, d, e, h, x, t, s (soak), i (idle), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "a,b,c,d,e,h,x")]
    only: Vec<char>,
    /// How long figure (i) idles at the prompt.
    #[arg(long, default_value_t = 60)]
    idle_secs: u32,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if args.reps == 0 {
        eprintln!("bench: --reps must be at least 1");
        std::process::exit(2);
    }
    if let Err(e) = hvharness::internals::signals::install_signal_cleanup() {
        eprintln!("bench: {e:#}");
        std::process::exit(2);
    }
    let Some(root) = hvharness::internals::project::root() else {
        eprintln!("bench: run it inside the repository (or set HVHARNESS_ROOT)");
        std::process::exit(2);
    };
    let registry = QemuRegistry::discover(Some(&root));
    if registry.builds().is_empty() {
        eprintln!("bench: no QEMU known; run scripts/setup.sh");
        std::process::exit(2);
    }
    eprintln!("bench: building the reference firmware");
    if let Err(e) = hvharness::internals::firmware::build_reference(&root) {
        eprintln!("bench: {e:#}");
        std::process::exit(2);
    }
    if cfg!(debug_assertions) {
        println!("note: a debug build; use --release for figures worth comparing");
    }
    println!(
        "hvharness bench: {} repetitions per figure, median [min .. max]",
        args.reps
    );
    stop_costs::enable();
    let mut failed = false;
    if args.only.contains(&'a') {
        failed |= !figure_boot(&root, &registry, args.reps).await;
    }
    if args.only.contains(&'b') {
        failed |= !figure_matrix(&root, args.reps).await;
    }
    if args.only.contains(&'c') {
        failed |= !figure_csr_dump(&root, &registry, args.reps).await;
    }
    if args.only.contains(&'d') {
        failed |= !figure_diagnose(&root, &registry, args.reps).await;
    }
    if args.only.contains(&'e') {
        failed |= !figure_shards(&root, args.reps).await;
    }
    if args.only.contains(&'h') {
        failed |= !figure_hot_page(&root, &registry, args.reps).await;
    }
    if args.only.contains(&'t') {
        failed |= !figure_trace(&root, &registry, args.reps).await;
    }
    if args.only.contains(&'x') {
        failed |= !xv6_layout::figure(&root, &registry, args.reps).await;
    }
    if args.only.contains(&'s') {
        failed |= !figure_soak(&root, &registry, args.reps).await;
    }
    if args.only.contains(&'i') {
        failed |= !figure_idle(&root, &registry, args.idle_secs).await;
    }
    stop_costs::remove();
    std::process::exit(if failed { 1 } else { 0 });
}

// ---------------------------------------------------------------------------
// (t) a boot with CSR writes traced against the same boot without.

/// The CSRs figure (t) traces: those the diagnosis rules name.
const TRACED: [&str; 5] = ["henvcfg", "hedeleg", "hideleg", "hcounteren", "menvcfg"];

/// hypervisor-2vm through the harness with [`TRACED`] traced and without,
/// alternately, on each QEMU: QEMU start to the verdict, and the ratio.
async fn figure_trace(root: &Path, registry: &QemuRegistry, reps: usize) -> bool {
    println!(
        "\n(t) CSR tracing: hypervisor-2vm booted with trace_csrs = {} vs without",
        TRACED.join(", ")
    );
    let Ok(plain) = Scenario::load(&root.join("scenarios/hypervisor-2vm.toml")) else {
        println!("  cannot load the scenario");
        return false;
    };
    let mut traced = plain.clone();
    traced.trace_csrs = TRACED.iter().map(|c| c.to_string()).collect();
    println!("    load average at the start: {}", load_average());
    let mut ok = true;
    for build in registry.builds() {
        let (mut with, mut without) = (Vec::new(), Vec::new());
        let (mut with_costs, mut without_costs) = (Vec::new(), Vec::new());
        let mut writes = 0;
        for i in 0..reps {
            progress(&format!("(t) QEMU {}: {}/{reps}", build.version, i + 1));
            // A different one first in each repetition.
            let order = if i % 2 == 0 {
                [&traced, &plain]
            } else {
                [&plain, &traced]
            };
            for scenario in order {
                stop_costs::take();
                let run = hvharness::run(scenario, build).await;
                let costs = stop_costs::take();
                match run {
                    Ok(r) if matches!(r.observed, hvharness::Observed::Booted) => {
                        if let Some(w) = &r.csr_writes {
                            writes = w.writes.len();
                            with.push(r.duration_secs);
                            with_costs.push(costs);
                        } else {
                            without.push(r.duration_secs);
                            without_costs.push(costs);
                        }
                    }
                    Ok(r) => {
                        println!("  QEMU {}: did not boot: {}", build.version, r.observed);
                        ok = false;
                    }
                    Err(e) => {
                        println!("  QEMU {}: {e:#}", build.version);
                        ok = false;
                    }
                }
            }
        }
        if with.is_empty() || without.is_empty() {
            continue;
        }
        let ratios: Vec<f64> = with.iter().zip(&without).map(|(a, b)| a / b).collect();
        println!(
            "  QEMU {}: traced {}  untraced {}  ratio {}  ({writes} writes recorded)",
            build.version,
            secs(&with),
            secs(&without),
            ratio(&ratios)
        );
        stop_costs::print("traced", &with_costs);
        stop_costs::print("untraced", &without_costs);
        print_trace_split(&with, &with_costs, &without, &without_costs);
    }
    println!("    load average at the end: {}", load_average());
    ok
}

/// Where the traced boot's extra time goes: the resume to the first
/// trigger of the guest's breakpoint (the hypervisor's CSR writes all come
/// before it) and from there to the end, traced and untraced (medians).
fn print_trace_split(
    with: &[f64],
    with_costs: &[RspCosts],
    without: &[f64],
    without_costs: &[RspCosts],
) {
    let split = |ends: &[f64], costs: &[RspCosts]| {
        let (mut before, mut after) = (Vec::new(), Vec::new());
        for (end, c) in ends.iter().zip(costs) {
            let mark = c.timeline.iter().find(|m| m.what.starts_with("trigger"));
            if let Some(m) = mark {
                before.push(m.ms / 1e3);
                after.push(end - m.ms / 1e3);
            }
        }
        (before, after)
    };
    let (wb, wa) = split(with, with_costs);
    let (ob, oa) = split(without, without_costs);
    if wb.is_empty() || ob.is_empty() {
        return;
    }
    let alone = |costs: &[RspCosts]| {
        let n: usize = costs
            .iter()
            .map(|c| {
                c.timeline
                    .iter()
                    .filter(|m| m.what.starts_with("alone") || m.what.starts_with("straight"))
                    .count()
            })
            .sum();
        n as f64 / costs.len().max(1) as f64
    };
    println!(
        "      resume to the guest's trigger: traced {}  untraced {}; from there to the end: traced {}  untraced {}; \
         {:.1} runs alone (to a breakpoint or past a straight run) per traced run",
        secs(&wb),
        secs(&ob),
        secs(&wa),
        secs(&oa),
        alone(with_costs)
    );
}

// ---------------------------------------------------------------------------
// (d) time to a diagnosed hang against a good boot on the same QEMU.

/// `hvharness diagnose` of the ADUE hang (hypervisor-noadue-2vm) from QEMU's
/// start to the verdict, against a good boot of the same machine with the
/// fix (hypervisor-2vm), on each QEMU where it hangs.
async fn figure_diagnose(root: &Path, registry: &QemuRegistry, reps: usize) -> bool {
    println!("\n(d) diagnose: the ADUE hang's verdict vs a good boot (hypervisor-2vm), same QEMU");
    let load = |f: &str| Scenario::load(&root.join("scenarios").join(f));
    let (Ok(hang), Ok(good)) = (
        load("hypervisor-noadue-2vm.toml"),
        load("hypervisor-2vm.toml"),
    ) else {
        println!("  cannot load the scenarios");
        return false;
    };
    let mut ok = true;
    for build in registry.builds() {
        if build.version < hvharness::QemuVersion::new(9, 0, 0) {
            println!(
                "  QEMU {}: not measured: hypervisor-noadue-2vm boots there",
                build.version
            );
            continue;
        }
        let (mut verdicts, mut boots) = (Vec::new(), Vec::new());
        for i in 0..reps {
            progress(&format!("(d) QEMU {} rep {}/{reps}", build.version, i + 1));
            match hvharness::diagnose(&hang, build).await {
                Ok(d) => verdicts.push(d.verdict_secs),
                Err(e) => {
                    println!("  QEMU {}: diagnose failed: {e:#}", build.version);
                    ok = false;
                    break;
                }
            }
            match hvharness::run(&good, build).await {
                Ok(r) => boots.push(r.duration_secs),
                Err(e) => {
                    println!("  QEMU {}: good boot failed: {e:#}", build.version);
                    ok = false;
                    break;
                }
            }
        }
        if verdicts.is_empty() || boots.is_empty() {
            continue;
        }
        let ratios: Vec<f64> = verdicts.iter().zip(&boots).map(|(v, b)| v / b).collect();
        println!(
            "  QEMU {}: diagnosed hang {}  good boot {}  ratio {}",
            build.version,
            secs(&verdicts),
            secs(&boots),
            ratio(&ratios)
        );
    }
    ok
}

// ---------------------------------------------------------------------------
// (s) soak: every scenario, -j 2, beside a CPU hog; wrong verdicts counted.

/// The QEMU versions the soak runs (the ones Debian ships), when registered.
const SOAK_VERSIONS: [&str; 2] = ["7.2.22", "10.0.2"];

async fn figure_soak(root: &Path, registry: &QemuRegistry, reps: usize) -> bool {
    println!();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(root.join("scenarios")) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) => {
            println!("(s) soak: failed: reading scenarios/: {e}");
            return false;
        }
    };
    files.sort();
    let mut extra = vec!["-j".to_string(), "2".to_string()];
    for v in SOAK_VERSIONS {
        match v.parse().ok().and_then(|v| registry.get(v)) {
            Some(_) => extra.extend(["--qemu".to_string(), v.to_string()]),
            None => println!("(s) soak: QEMU {v} is not registered: not run there"),
        }
    }
    if extra.len() == 2 {
        println!("(s) soak: no QEMU to run on");
        return false;
    }
    println!(
        "(s) soak: {} scenarios x {reps} matrix runs (-j 2) beside a CPU hog on every core",
        files.len()
    );
    let binary = match hvharness_binary().await {
        Ok(b) => b,
        Err(e) => {
            println!("failed: {e:#}");
            return false;
        }
    };
    // Bounded like the soak itself: every matrix run has its limit.
    let hog = CpuHog::start(MATRIX_LIMIT * reps as u32);
    let (mut cells, mut wrong, mut walls) = (0usize, Vec::new(), Vec::new());
    let (mut read, mut dropped, mut disk, mut rss) = (0u64, 0u64, 0u64, 0u64);
    let (mut probes, mut cleared, mut looks, mut excused) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..reps {
        progress(&format!("(s) soak run {}/{reps}", i + 1));
        let (wall, reports) = match matrix_reports(root, &binary, &files, &extra).await {
            Ok(r) => r,
            Err(e) => {
                println!("failed: {e:#}");
                return false;
            }
        };
        walls.push(wall);
        for r in &reports {
            cells += 1;
            let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
            if r["verdict"]["verdict"] == "unexpected" {
                wrong.push(format!(
                    "{} on {}: {}",
                    r["scenario"].as_str().unwrap_or("?"),
                    r["qemu"].as_str().unwrap_or("?"),
                    r["verdict"]["reason"].as_str().unwrap_or("?")
                ));
            }
            read += n(&r["trap_log"]["bytes"]);
            dropped += n(&r["trap_log"]["dropped_bytes"]);
            disk = disk.max(n(&r["session_dir_peak_bytes"]));
            rss = rss.max(n(&r["harness_peak_rss_kib"]));
            probes += n(&r["looks"]["storm_probes"]);
            cleared += n(&r["looks"]["storms_cleared"]);
            looks += n(&r["looks"]["quiet_looks"]);
            excused +=
                n(&r["looks"]["busy"]) + n(&r["looks"]["not_started"]) + n(&r["looks"]["waiting"]);
        }
    }
    drop(hog);
    println!("{:<26} {cells}", "cells");
    println!("{:<26} {}", "wrong verdicts", wrong.len());
    for w in &wrong {
        println!("    {w}");
    }
    println!("{:<26} {}", "matrix wall time", secs(&walls));
    println!("{:<26} {probes} ({cleared} found passing)", "storm probes");
    println!(
        "{:<26} {looks} ({excused} harts busy, not started or waiting)",
        "looks at quiet harts"
    );
    println!(
        "{:<26} {:.1} MB read, {dropped} bytes dropped",
        "interrupt log",
        read as f64 / 1e6
    );
    println!("{:<26} {disk} bytes", "largest session directory");
    println!("{:<26} {rss} KiB", "harness peak RSS (max)");
    wrong.is_empty()
}

// ---------------------------------------------------------------------------
// (i) a long idle run: what streaming the interrupt log costs.

async fn figure_idle(root: &Path, registry: &QemuRegistry, idle_secs: u32) -> bool {
    println!();
    println!("(i) idle at the prompt for {idle_secs} s (hypervisor.elf, 2 VMs): interrupt log, disk, memory");
    let fw = root.join("target/firmware");
    let text = format!(
        "[machine]\ncpu = \"rv64,h=true\"\nsmp = 2\nbios = \"default\"\nkernel = \"{fw}/hypervisor.elf\"\n\
         [[console]]\nname = \"vm0\"\nattach = \"serial\"\nmilestones = ['\\$ ', \"never printed\"]\n\
         [[console]]\nname = \"vm1\"\nattach = \"pci-serial\"\nmilestones = ['\\$ ']\n\
         [boot]\ntimeout_secs = {idle_secs}\n",
        fw = fw.display()
    );
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            println!("failed: {e}");
            return false;
        }
    };
    let path = dir.path().join("idle.toml");
    let scenario = match std::fs::write(&path, text)
        .map_err(anyhow::Error::from)
        .and_then(|_| Scenario::load(&path))
    {
        Ok(s) => s,
        Err(e) => {
            println!("failed: {e:#}");
            return false;
        }
    };
    println!(
        "{:<8} {:<14} {:<12} {:<16} {:<14} early verdict",
        "QEMU", "log read", "dropped", "session dir max", "harness RSS"
    );
    let mut ok = true;
    for build in registry.builds() {
        progress(&format!("(i) QEMU {} idling {idle_secs} s", build.version));
        match hvharness::run(&scenario, build).await {
            Ok(r) => {
                let early = match &r.observed {
                    hvharness::Observed::Hung { early: Some(e), .. } => {
                        ok = false;
                        e.to_string()
                    }
                    _ => "none".to_string(),
                };
                println!(
                    "{:<8} {:<14} {:<12} {:<16} {:<14} {early}",
                    build.version.to_string(),
                    format!("{:.1} MB", r.trap_log.bytes as f64 / 1e6),
                    format!("{} B", r.trap_log.dropped_bytes),
                    format!("{} B", r.session_dir_peak_bytes),
                    r.harness_peak_rss_kib
                        .map(|k| format!("{k} KiB"))
                        .unwrap_or_else(|| "unknown".into()),
                );
            }
            Err(e) => {
                println!("{:<8} failed: {e:#}", build.version.to_string());
                ok = false;
            }
        }
    }
    ok
}

// ---------------------------------------------------------------------------
// Statistics and printing.

/// (median, min, max) of `xs`, which is not empty.
fn stats(xs: &[f64]) -> (f64, f64, f64) {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (median, v[0], v[n - 1])
}

fn secs(xs: &[f64]) -> String {
    let (m, lo, hi) = stats(xs);
    if hi < 1.0 {
        format!("{:.1} ms [{:.1} .. {:.1}]", m * 1e3, lo * 1e3, hi * 1e3)
    } else if hi < 10.0 {
        format!("{m:.3} s [{lo:.3} .. {hi:.3}]")
    } else {
        format!("{:.1} s [{:.1} .. {:.1}]", m, lo, hi)
    }
}

fn ratio(xs: &[f64]) -> String {
    let (m, lo, hi) = stats(xs);
    format!("{m:.2} [{lo:.2} .. {hi:.2}]")
}

fn progress(what: &str) {
    eprintln!("bench: {what}");
}

/// Boots each of `variants` `reps` times on `build`, a different variant
/// first in each repetition, so that a load that comes and goes falls on all
/// of them alike: the results per variant, or the first failure, named by its
/// variant. `figure` is the figure's letter, for the progress lines.
async fn take_turns<'a, T, Fut>(
    figure: char,
    build: &'a QemuBuild,
    variants: &'a [(&'static str, Scenario)],
    reps: usize,
    boot: impl Fn(&'a QemuBuild, &'a Scenario) -> Fut,
) -> std::result::Result<Vec<Vec<T>>, String>
where
    Fut: std::future::Future<Output = Result<T>>,
{
    let n = variants.len();
    let mut out: Vec<Vec<T>> = (0..n).map(|_| Vec::new()).collect();
    for i in 0..reps {
        for j in 0..n {
            let k = (i + j) % n;
            let (what, scenario) = &variants[k];
            progress(&format!(
                "({figure}) {what} on QEMU {}: {}/{reps}",
                build.version,
                i + 1
            ));
            match boot(build, scenario).await {
                Ok(t) => out[k].push(t),
                Err(e) => return Err(format!("{what}: {e:#}")),
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// (a) boot to `$ `, harness against plain QEMU.

async fn figure_boot(root: &Path, registry: &QemuRegistry, reps: usize) -> bool {
    println!();
    println!("(a) QEMU start to the guest's `$ ` (every console), harness against plain QEMU");
    println!(
        "{:<17} {:<7} {:<27} {:<27} harness/plain",
        "scenario", "QEMU", "plain QEMU", "harness"
    );
    let mut ok = true;
    for name in BOOT_SCENARIOS {
        let path = root.join("scenarios").join(format!("{name}.toml"));
        let scenario = match Scenario::load(&path) {
            Ok(s) => s,
            Err(e) => {
                println!("{name:<17} failed: {e:#}");
                ok = false;
                continue;
            }
        };
        for build in registry.builds() {
            let mut plain = Vec::new();
            let mut harness = Vec::new();
            let mut ratios = Vec::new();
            let mut error = None;
            for i in 0..reps {
                progress(&format!(
                    "(a) {name} on QEMU {}: {}/{reps}",
                    build.version,
                    i + 1
                ));
                let p = plain_boot(build, &scenario).await;
                let h = harness_boot(build, &scenario).await;
                match (p, h) {
                    (Ok(p), Ok(h)) => {
                        plain.push(p);
                        harness.push(h);
                        ratios.push(h / p);
                    }
                    (Err(e), _) => error = Some(format!("plain QEMU: {e:#}")),
                    (_, Err(e)) => error = Some(format!("harness: {e:#}")),
                }
                if error.is_some() {
                    break;
                }
            }
            match error {
                Some(e) => {
                    println!("{name:<17} {:<7} failed: {e}", build.version.to_string());
                    ok = false;
                }
                None => println!(
                    "{name:<17} {:<7} {:<27} {:<27} {}",
                    build.version.to_string(),
                    secs(&plain),
                    secs(&harness),
                    ratio(&ratios)
                ),
            }
        }
    }
    ok
}

/// Seconds from the spawn to the last console's last milestone, through the harness.
async fn harness_boot(build: &QemuBuild, scenario: &Scenario) -> Result<f64> {
    let t0 = Instant::now();
    let mut q = QemuProcess::launch(build, &scenario.machine, &LaunchOptions::default()).await?;
    q.resume().await?;
    let mut last = t0;
    for sc in &scenario.consoles {
        let console = q.console(&sc.name)?;
        for m in &sc.milestones {
            let remaining = BOOT_LIMIT.saturating_sub(t0.elapsed());
            let hit = console.expect(m, remaining).await?;
            last = last.max(hit.arrived);
        }
    }
    q.kill().await;
    Ok(last.duration_since(t0).as_secs_f64())
}

/// Seconds from the spawn to the last console's last milestone, plain QEMU:
/// started running, the `serial` console on its stdout, the others on unix
/// sockets this process listens on (QEMU connects as a client).
async fn plain_boot(build: &QemuBuild, scenario: &Scenario) -> Result<f64> {
    let dir = tempfile::Builder::new().prefix("bench-plain-").tempdir()?;
    let spec = &scenario.machine;
    let mut args: Vec<String> = Vec::new();
    if let Some(data) = &build.data_dir {
        args.extend(["-L".into(), data.display().to_string()]);
    }
    args.extend([
        "-machine".into(),
        spec.machine.clone(),
        "-cpu".into(),
        spec.cpu.clone(),
    ]);
    args.extend([
        "-smp".into(),
        spec.smp.to_string(),
        "-m".into(),
        spec.memory.clone(),
    ]);
    if let Some(bios) = &spec.bios {
        args.extend(["-bios".into(), bios.clone()]);
    }
    if let Some(kernel) = &spec.kernel {
        args.extend(["-kernel".into(), kernel.display().to_string()]);
    }
    args.extend([
        "-display".into(),
        "none".into(),
        "-monitor".into(),
        "none".into(),
    ]);
    let mut stdio_console = None;
    let mut sockets = Vec::new();
    for (i, c) in spec.consoles.iter().enumerate() {
        match &c.attach {
            ConsoleAttach::Serial => {
                stdio_console = Some(i);
                args.extend(["-serial".into(), "stdio".into()]);
            }
            other => {
                let path = dir.path().join(format!("{}.sock", c.name));
                let listener = tokio::net::UnixListener::bind(&path)?;
                args.extend([
                    "-chardev".into(),
                    format!("socket,id={},path={}", c.name, path.display()),
                ]);
                let device = match other {
                    ConsoleAttach::PciSerial => "pci-serial".to_string(),
                    ConsoleAttach::Device(d) => d.clone(),
                    ConsoleAttach::Serial => unreachable!(),
                };
                args.extend(["-device".into(), format!("{device},chardev={}", c.name)]);
                sockets.push((i, listener));
            }
        }
    }
    if stdio_console.is_none() {
        args.extend(["-serial".into(), "none".into()]);
    }
    let mut cmd = tokio::process::Command::new(&build.binary);
    cmd.args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    // Like the harness's own QEMUs: dies with this process, whatever kills it.
    // SAFETY: prctl is async-signal-safe and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Some(nix::sys::signal::Signal::SIGKILL))
                .map_err(std::io::Error::from)
        });
    }
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", build.binary.display()))?;
    let result = async {
        let mut waits = Vec::new();
        if let (Some(i), Some(out)) = (stdio_console, child.stdout.take()) {
            let milestones = scenario.consoles[i].milestones.clone();
            waits.push(tokio::spawn(async move {
                last_milestone(out, &milestones).await
            }));
        }
        for (i, listener) in sockets {
            let (stream, _) = tokio::time::timeout(BOOT_LIMIT, listener.accept())
                .await
                .context("QEMU did not connect to the console socket")??;
            let milestones = scenario.consoles[i].milestones.clone();
            waits.push(tokio::spawn(async move {
                last_milestone(stream, &milestones).await
            }));
        }
        let mut last = t0;
        for w in waits {
            let at = tokio::time::timeout(BOOT_LIMIT, w)
                .await
                .context("no prompt within the limit")???;
            last = last.max(at);
        }
        Ok::<f64, anyhow::Error>(last.duration_since(t0).as_secs_f64())
    }
    .await;
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    result
}

/// Reads `from` until every milestone has appeared, in order; when the chunk
/// that completed the last one arrived.
async fn last_milestone(mut from: impl AsyncRead + Unpin, milestones: &[Regex]) -> Result<Instant> {
    let mut text = String::new();
    let mut pos = 0;
    let mut next = 0;
    let mut buf = [0u8; 4096];
    loop {
        let n = from.read(&mut buf).await?;
        let arrived = Instant::now();
        if n == 0 {
            bail!("the console closed before /{}/", milestones[next]);
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        while let Some(m) = milestones.get(next).and_then(|re| re.find(&text[pos..])) {
            pos += m.end();
            next += 1;
        }
        if next == milestones.len() {
            return Ok(arrived);
        }
    }
}

// ---------------------------------------------------------------------------
// (b) matrix wall time against the sum of its cells.

/// Every scenario file, sorted.
fn scenario_files(root: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(root.join("scenarios")).context("reading scenarios/")?;
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

async fn figure_matrix(root: &Path, reps: usize) -> bool {
    println!();
    let files = match scenario_files(root) {
        Ok(f) => f,
        Err(e) => {
            println!("(b) matrix: failed: {e:#}");
            return false;
        }
    };
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "(b) hvharness matrix scenarios/*.toml --no-build --json ({} scenarios, -j {jobs}): wall time against the sum of its cells",
        files.len()
    );
    let binary = match hvharness_binary().await {
        Ok(b) => b,
        Err(e) => {
            println!("failed: {e:#}");
            return false;
        }
    };
    let mut walls = Vec::new();
    let mut sums = Vec::new();
    let mut ratios = Vec::new();
    let mut cells = 0;
    for i in 0..reps {
        progress(&format!("(b) matrix run {}/{reps}", i + 1));
        match matrix_once(root, &binary, &files, &[]).await {
            Ok((wall, sum, n)) => {
                walls.push(wall);
                sums.push(sum);
                ratios.push(wall / sum);
                cells = n;
            }
            Err(e) => {
                println!("failed: {e:#}");
                return false;
            }
        }
    }
    println!("{:<14} {}", "cells", cells);
    println!("{:<14} {}", "wall time", secs(&walls));
    println!("{:<14} {}", "sum of cells", secs(&sums));
    println!("{:<14} {}", "wall / sum", ratio(&ratios));
    true
}

/// The `hvharness` binary of the same profile as this example, built if needed.
async fn hvharness_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the bench executable")?;
    // target/<profile>/examples/bench
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the bench is not in target/<profile>/examples")?;
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(p) => p.to_string(),
        None => bail!("no profile directory above {}", exe.display()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    progress("building the hvharness binary");
    let status = tokio::process::Command::new(cargo)
        .args([
            "build",
            "-q",
            "-p",
            "hvharness",
            "--bin",
            "hvharness",
            "--profile",
            &profile,
        ])
        .status()
        .await
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of the hvharness binary failed ({status})");
    }
    let binary = profile_dir.join("hvharness");
    if !binary.is_file() {
        bail!("{} was not built", binary.display());
    }
    Ok(binary)
}

/// One matrix run (`extra` arguments added): (wall seconds, sum of the
/// cells' seconds, number of cells that ran).
async fn matrix_once(
    root: &Path,
    binary: &Path,
    files: &[PathBuf],
    extra: &[&str],
) -> Result<(f64, f64, usize)> {
    let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
    let (wall, stdout) = matrix_stdout(root, binary, files, &extra).await?;
    let file = hvharness::ResultFile::parse(&String::from_utf8_lossy(&stdout))
        .context("hvharness matrix --json printed no result file")?;
    let durations: Vec<f64> = file.cells.iter().filter_map(|c| c.duration_secs).collect();
    let sum: f64 = durations.iter().sum();
    if durations.is_empty() || sum <= 0.0 {
        bail!("hvharness matrix reported no cells that ran");
    }
    Ok((wall, sum, durations.len()))
}

/// Runs `hvharness matrix FILES --no-build --json EXTRA`: (wall seconds, the
/// run report of every cell that ran, as JSON).
async fn matrix_reports(
    root: &Path,
    binary: &Path,
    files: &[PathBuf],
    extra: &[String],
) -> Result<(f64, Vec<serde_json::Value>)> {
    let (wall, stdout) = matrix_stdout(root, binary, files, extra).await?;
    let file = hvharness::ResultFile::parse(&String::from_utf8_lossy(&stdout))
        .context("hvharness matrix --json printed no result file")?;
    let runs = file.cells.into_iter().filter_map(|c| c.run);
    let runs = runs.map(serde_json::to_value).collect::<Result<_, _>>()?;
    Ok((wall, runs))
}

/// Runs `hvharness matrix FILES --no-build --json EXTRA`: (wall seconds, its stdout).
async fn matrix_stdout(
    root: &Path,
    binary: &Path,
    files: &[PathBuf],
    extra: &[String],
) -> Result<(f64, Vec<u8>)> {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.arg("matrix")
        .args(files)
        .args(["--no-build", "--json"])
        .args(extra)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // If this process dies, the harness gets SIGTERM and stops its QEMUs.
    // SAFETY: prctl is async-signal-safe and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Some(nix::sys::signal::Signal::SIGTERM))
                .map_err(std::io::Error::from)
        });
    }
    let t0 = Instant::now();
    let mut child = cmd.spawn().context("starting hvharness matrix")?;
    let pid = child.id().map(|p| nix::unistd::Pid::from_raw(p as i32));
    let mut out = child.stdout.take().context("hvharness stdout")?;
    let mut err = child.stderr.take().context("hvharness stderr")?;
    let run = async {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let (a, b, status) = tokio::join!(
            out.read_to_end(&mut stdout),
            err.read_to_end(&mut stderr),
            child.wait()
        );
        a?;
        b?;
        Ok::<_, anyhow::Error>((status?, stdout, stderr))
    };
    let (status, stdout, stderr) = match tokio::time::timeout(MATRIX_LIMIT, run).await {
        Ok(r) => r?,
        Err(_) => {
            // SIGTERM lets the harness stop its QEMUs.
            if let Some(pid) = pid {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            }
            bail!("hvharness matrix still running after {MATRIX_LIMIT:?}; stopped");
        }
    };
    let wall = t0.elapsed().as_secs_f64();
    // 0: all as expected, 1: a verdict failed; both ran every cell.
    if !matches!(status.code(), Some(0) | Some(1)) {
        bail!(
            "hvharness matrix: {status}\n{}",
            String::from_utf8_lossy(&stderr)
        );
    }
    Ok((wall, stdout))
}

// ---------------------------------------------------------------------------
// (e) two shards run one after the other against one unsharded run.

async fn figure_shards(root: &Path, reps: usize) -> bool {
    println!();
    let files = match scenario_files(root) {
        Ok(f) => f,
        Err(e) => {
            println!("(e) shards: failed: {e:#}");
            return false;
        }
    };
    let binary = match hvharness_binary().await {
        Ok(b) => b,
        Err(e) => {
            println!("(e) shards: failed: {e:#}");
            return false;
        }
    };
    let (mut whole, mut split, mut ratios, mut cells) =
        (Vec::new(), Vec::new(), Vec::new(), (0, 0));
    for i in 0..reps {
        progress(&format!("(e) unsharded and 2 shards, run {}/{reps}", i + 1));
        let r = async {
            let (w, _, n) = matrix_once(root, &binary, &files, &[]).await?;
            let (w1, _, n1) = matrix_once(root, &binary, &files, &["--shard", "1/2"]).await?;
            let (w2, _, n2) = matrix_once(root, &binary, &files, &["--shard", "2/2"]).await?;
            Ok::<_, anyhow::Error>((w, w1 + w2, n, n1 + n2))
        };
        match r.await {
            Ok((w, s, n, ns)) => {
                whole.push(w);
                split.push(s);
                ratios.push(s / w);
                cells = (n, ns);
            }
            Err(e) => {
                println!("(e) shards: failed: {e:#}");
                return false;
            }
        }
    }
    println!(
        "(e) hvharness matrix scenarios/*.toml ({} scenarios): unsharded against --shard 1/2 then 2/2, one after the other",
        files.len()
    );
    println!(
        "{:<22} {} unsharded, {} in the two shards",
        "cells run", cells.0, cells.1
    );
    println!("{:<22} {}", "unsharded wall", secs(&whole));
    println!("{:<22} {}", "shard 1 + shard 2 wall", secs(&split));
    println!("{:<22} {}", "shards / unsharded", ratio(&ratios));
    cells.0 == cells.1
}

// ---------------------------------------------------------------------------
// (c) every CSR of every hart over the gdbstub.

async fn figure_csr_dump(root: &Path, registry: &QemuRegistry, reps: usize) -> bool {
    println!();
    println!("(c) every CSR of the target description on every hart, over the gdbstub (hypervisor-2vm's machine, paused at reset)");
    let scenario = match Scenario::load(&root.join("scenarios/hypervisor-2vm.toml")) {
        Ok(s) => s,
        Err(e) => {
            println!("failed: {e:#}");
            return false;
        }
    };
    println!(
        "{:<7} {:<5} {:<10} {:<11} {:<27} dump of all harts",
        "QEMU", "harts", "CSRs/hart", "E14 reads", "connect + target.xml"
    );
    let mut ok = true;
    for build in registry.builds() {
        let mut connects = Vec::new();
        let mut dumps = Vec::new();
        let mut shape = (0, 0, 0);
        let mut error = None;
        for i in 0..reps {
            progress(&format!(
                "(c) CSR dump on QEMU {}: {}/{reps}",
                build.version,
                i + 1
            ));
            match csr_dump_once(build, &scenario.machine).await {
                Ok((c, d, s)) => {
                    connects.push(c);
                    dumps.push(d);
                    shape = s;
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        match error {
            Some(e) => {
                println!("{:<7} failed: {e:#}", build.version.to_string());
                ok = false;
            }
            None => println!(
                "{:<7} {:<5} {:<10} {:<11} {:<27} {}",
                build.version.to_string(),
                shape.0,
                shape.1,
                shape.2,
                secs(&connects),
                secs(&dumps)
            ),
        }
    }
    ok
}

/// (connect seconds, dump seconds, (harts, CSRs per hart, reads answered
/// "unavailable" over all harts)).
async fn csr_dump_once(
    build: &QemuBuild,
    machine: &MachineSpec,
) -> Result<(f64, f64, (usize, usize, usize))> {
    let q = QemuProcess::launch(
        build,
        machine,
        &LaunchOptions {
            gdbstub: true,
            debug_log: None,
        },
    )
    .await?;
    let addr = q.gdb_addr().context("no gdbstub address")?;
    let t0 = Instant::now();
    let mut gdb = RspClient::connect(addr, RspConfig::default()).await?;
    let connected = t0.elapsed().as_secs_f64();
    let csrs: Vec<u64> = gdb
        .target_description()
        .context("no target description")?
        .feature(CSR_FEATURE)
        .map(|r| r.regnum)
        .collect();
    if csrs.is_empty() {
        bail!("the target description lists no {CSR_FEATURE} registers");
    }
    let t1 = Instant::now();
    let harts = gdb.threads().await?;
    let mut unavailable = 0;
    for &hart in &harts {
        gdb.select_register_thread(hart).await?;
        for &n in &csrs {
            if !gdb.read_register_number(n).await?.is_available() {
                unavailable += 1;
            }
        }
    }
    let dumped = t1.elapsed().as_secs_f64();
    drop(gdb);
    q.kill().await;
    Ok((connected, dumped, (harts.len(), csrs.len(), unavailable)))
}

// ---------------------------------------------------------------------------
// (h) a breakpoint on the hot loop's page: unmitigated, cured, none.

/// The hotpage fixture's boot path as a user would list it, for the
/// automatic arming point: main, kinit and kvminit share kvminithart's page,
/// memset (kinit's kfree, right after the scrub) does not.
const HOTPAGE_PATH: [&str; 6] = [
    "guest:main",
    "guest:uartinit",
    "guest:kinit",
    "guest:memset",
    "guest:kvminit",
    "guest:kvminithart",
];

/// The variants of figure (h), from the shipped scenario: kvminithart's
/// breakpoint in from the start; armed after memset's stops (`arm_after`, as
/// shipped); armed by the harness from `milestone_symbols` alone; none.
fn hot_page_variants(shipped: &Scenario) -> Result<Vec<(&'static str, Scenario)>> {
    let target = shipped
        .breakpoints
        .iter()
        .find(|b| b.arm_after.is_some())
        .context("the shipped hotpage scenario has no breakpoint armed late")?;
    let mut none = shipped.clone();
    none.breakpoints.clear();
    let mut unmitigated = shipped.clone();
    unmitigated.breakpoints = vec![hvharness::BreakpointSpec {
        arm_after: None,
        ..target.clone()
    }];
    unmitigated.auto_arm = false;
    let mut automatic = unmitigated.clone();
    automatic.auto_arm = true;
    automatic.milestone_symbols = HOTPAGE_PATH.iter().map(|s| s.to_string()).collect();
    automatic.milestone_privilege = target.privilege;
    Ok(vec![
        ("unmitigated", unmitigated),
        ("arm_after", shipped.clone()),
        ("automatic", automatic),
        ("none", none),
    ])
}

/// One boot of figure (h), in seconds from the resume.
struct HotPageBoot {
    /// The last console milestone.
    last: f64,
    /// The last console's "hotpage: scrubbed" (the end of the hot loop).
    scrubbed: f64,
    /// The slowdown the hot-page profiler estimated.
    estimate: f64,
}

/// A boot through the runner; an error unless it booted as expected (and,
/// for the automatic variant, the harness chose an arming point).
async fn hot_page_boot(build: &QemuBuild, scenario: &Scenario) -> Result<HotPageBoot> {
    let report = hvharness::run(scenario, build).await?;
    if let hvharness::Verdict::Unexpected(why) = &report.verdict {
        bail!("{}: {why}", report.observed);
    }
    if scenario.auto_arm && !scenario.milestone_symbols.is_empty() {
        match report.auto_arming.first() {
            Some(a) if a.after.is_some() => {}
            Some(a) => bail!("no automatic arming point: {a}"),
            None => bail!("no automatic arming point was considered"),
        }
    }
    let latest = |pattern: Option<&str>| {
        report
            .milestones
            .iter()
            .filter(|m| pattern.is_none_or(|p| m.pattern.starts_with(p)))
            .map(|m| m.at_secs)
            .fold(0.0, f64::max)
    };
    Ok(HotPageBoot {
        last: latest(None),
        scrubbed: latest(Some("hotpage: scrubbed")),
        estimate: report.hot_pages.estimated_slowdown,
    })
}

/// The host's load averages (1, 5, 15 minutes), as /proc/loadavg says.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}

async fn figure_hot_page(root: &Path, registry: &QemuRegistry, reps: usize) -> bool {
    println!();
    println!("(h) hypervisor-hotpage, resume to the last milestone, kvminithart's breakpoint: inserted at the start");
    println!("    (unmitigated), armed after memset (arm_after, as shipped), armed by the harness from milestone_symbols");
    println!("    (automatic), no breakpoint; ratios to no breakpoint. The variants take turns within each repetition.");
    let path = root.join("scenarios/hypervisor-hotpage.toml");
    let variants = match Scenario::load(&path).and_then(|mut shipped| {
        // The unmitigated boot is silent for many seconds: time it, do not judge it hung.
        shipped.quiet_limit = shipped.boot_timeout;
        hot_page_variants(&shipped)
    }) {
        Ok(v) => v,
        Err(e) => {
            println!("(h) failed: {e:#}");
            return false;
        }
    };
    let n = variants.len();
    println!("    load average at the start: {}", load_average());
    // The last column: the slowdown the hot-page warning estimated for the
    // unmitigated run from its timer samples (runner/hot_pages.rs), to hold
    // against the measured unmitigated/none.
    println!(
        "{:<7} {:<22} {:<22} {:<22} {:<22} {:<22} {:<22} {:<22} estimated",
        "QEMU",
        "unmitigated",
        "arm_after",
        "automatic",
        "none",
        "unmitigated/none",
        "arm_after/none",
        "automatic/none"
    );
    let mut ok = true;
    let mut phases: Vec<(String, Vec<Vec<HotPageBoot>>)> = Vec::new();
    for build in registry.builds() {
        let version = build.version.to_string();
        let boots = match take_turns('h', build, &variants, reps, hot_page_boot).await {
            Ok(boots) => boots,
            Err(e) => {
                println!("{version:<7} failed: {e}");
                ok = false;
                continue;
            }
        };
        let last = |k: usize| -> Vec<f64> { boots[k].iter().map(|b| b.last).collect() };
        let per = |k: usize| -> Vec<f64> {
            boots[k]
                .iter()
                .zip(&boots[n - 1])
                .map(|(b, none)| b.last / none.last)
                .collect()
        };
        let estimates: Vec<f64> = boots[0].iter().map(|b| b.estimate).collect();
        println!(
            "{version:<7} {:<22} {:<22} {:<22} {:<22} {:<22} {:<22} {:<22} {}",
            secs(&last(0)),
            secs(&last(1)),
            secs(&last(2)),
            secs(&last(3)),
            ratio(&per(0)),
            ratio(&per(1)),
            ratio(&per(2)),
            ratio(&estimates)
        );
        phases.push((version, boots));
    }
    // Where the time goes: up to the end of the scrub (the hot loop, slowed
    // when a breakpoint sits on its page) and from there to the last
    // milestone (the stops, the holds at a trigger, the rest of the boot).
    println!("    the same boots in two phases: resume to \"hotpage: scrubbed\" | from there to the last milestone");
    for (version, boots) in &phases {
        let mut line = format!("{version:<7}");
        for (k, (what, _)) in variants.iter().enumerate() {
            let to: Vec<f64> = boots[k].iter().map(|b| b.scrubbed).collect();
            let rest: Vec<f64> = boots[k].iter().map(|b| b.last - b.scrubbed).collect();
            let (t, _, _) = stats(&to);
            let (r, _, _) = stats(&rest);
            line += &format!(" {what} {t:.3} | {r:.3} s;");
        }
        println!("{line}");
    }
    println!("    load average at the end: {}", load_average());
    ok
}
