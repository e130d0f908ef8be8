//! Shared set-up for the end-to-end tests: the project root, the QEMU matrix and
//! its skip messages, and the reference firmware build.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use hvharness::internals::firmware::ReferenceFirmware;
use hvharness::internals::qemu::{ConsoleAttach, ConsoleSpec, MachineSpec};
use hvharness::{QemuBuild, QemuRegistry, QemuVersion};

mod cpu_hog;
#[allow(unused_imports)] // used by the load tests, not by every test binary
pub use cpu_hog::CpuHog;

/// The one list of QEMU versions the end-to-end tests run on, each as the
/// name of its test module and the version: [`MATRIX`] and
/// [`per_version!`] are both built from it, so adding a version is one edit
/// here. All four are installed by `scripts/setup.sh` (8.0.2 and 9.2.0, the
/// write-up's, from prefix tarballs). `with_matrix!(m! { args })` expands to
/// `common::m! { args ; module => "version", ... }`.
macro_rules! with_matrix {
    ($callback:ident ! { $($args:tt)* }) => {
        $crate::common::$callback! { $($args)* ;
            qemu_7_2_22 => "7.2.22",
            qemu_8_0_2 => "8.0.2",
            qemu_9_2_0 => "9.2.0",
            qemu_10_0_2 => "10.0.2",
        }
    };
}

/// The versions of [`with_matrix!`] as an array expression.
macro_rules! matrix_array {
    (; $($module:ident => $version:literal),* $(,)?) => {
        [$($version),*]
    };
}

/// The versions every matrix test covers, oldest first.
pub const MATRIX: &[&str] = &with_matrix!(matrix_array! {});

/// The newest version of [`MATRIX`].
pub const NEWEST: &str = MATRIX[MATRIX.len() - 1];

/// One test module per [`MATRIX`] version (`qemu_7_2_22`, ...), each holding
/// one test per line of the body; a test calls the function of its name (or
/// the one named after `=`) in the calling module, with the version first:
///
/// ```ignore
/// common::per_version! {
///     async adue_hang;                                   // super::adue_hang(v).await
///     async nodeleg = injected("fault-nodeleg.toml", 8); // super::injected(v, "fault-nodeleg.toml", 8).await
///     fn warns_on_the_unmitigated_case_only;             // #[test]: super::warns_on_the_unmitigated_case_only(v)
/// }
/// ```
///
/// The modules `use super::*`, so arguments may name the caller's items.
#[allow(unused_macros)] // not every test binary has per-version tests
macro_rules! per_version {
    // From with_matrix!: the body as one token tree, then the versions.
    (@versions $body:tt ; $($module:ident => $version:literal),* $(,)?) => {$(
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::common::per_version!(@tests $version ; $body);
        }
    )*};
    (@tests $version:literal ; { $($kind:ident $test:ident $(= $func:ident ( $($arg:expr),* $(,)? ))? ;)* }) => {$(
        $crate::common::per_version!(@test $version ; $kind $test $(= $func ( $($arg),* ))?);
    )*};
    (@test $version:literal ; async $test:ident) => {
        #[tokio::test]
        async fn $test() { super::$test($version).await }
    };
    (@test $version:literal ; async $test:ident = $func:ident ( $($arg:expr),* )) => {
        #[tokio::test]
        async fn $test() { super::$func($version, $($arg),*).await }
    };
    (@test $version:literal ; fn $test:ident) => {
        #[test]
        fn $test() { super::$test($version) }
    };
    (@test $version:literal ; fn $test:ident = $func:ident ( $($arg:expr),* )) => {
        #[test]
        fn $test() { super::$func($version, $($arg),*) }
    };
    ($($body:tt)*) => {
        $crate::common::with_matrix!(per_version! { @versions { $($body)* } });
    };
}
#[allow(unused_imports)] // used through `common::per_version!` by the test files
pub(crate) use {matrix_array, per_version, with_matrix};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness crate sits inside the workspace")
        .to_path_buf()
}

pub fn registry() -> &'static QemuRegistry {
    static REG: OnceLock<QemuRegistry> = OnceLock::new();
    REG.get_or_init(|| QemuRegistry::discover(Some(&root())))
}

/// The variable that makes a missing QEMU a failure: `scripts/test.sh` (and so
/// CI) sets it to 1, so that a machine without the matrix's QEMUs cannot pass
/// the end-to-end tests by skipping them all.
pub const REQUIRE_QEMU_ENV: &str = "HVHARNESS_REQUIRE_QEMU";

/// Whether [`REQUIRE_QEMU_ENV`] is set (to anything but empty or `0`).
pub fn qemu_required() -> bool {
    std::env::var_os(REQUIRE_QEMU_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// The build for one matrix cell, or `None` after printing why the cell is
/// skipped; a failure naming the version when [`qemu_required`].
pub fn qemu_or_skip(version: &str, test: &str) -> Option<QemuBuild> {
    registered_or_missing(registry(), version, test, qemu_required())
}

/// [`qemu_or_skip`] over any registry, with the requirement given.
pub fn registered_or_missing(
    registry: &QemuRegistry,
    version: &str,
    test: &str,
    required: bool,
) -> Option<QemuBuild> {
    let v: QemuVersion = version.parse().expect("matrix versions are well-formed");
    if let Some(b) = registry.get(v) {
        return Some(b.clone());
    }
    let how = if version == "7.2.22" || version == "10.0.2" {
        "run scripts/setup.sh"
    } else {
        "run scripts/setup.sh with its prefix tarball in HVHARNESS_QEMU_TARBALLS or ../shared/qemu, \
         or `hvharness qemu install --from TARBALL` / `hvharness qemu add PATH`; see README"
    };
    qemu_missing_as(
        &format!("{test} on QEMU {version}: not registered ({how})"),
        required,
    );
    None
}

/// A test that cannot run for want of a QEMU: skipped with `what` said, or,
/// when [`qemu_required`], failed with it.
pub fn qemu_missing(what: &str) {
    qemu_missing_as(what, qemu_required())
}

fn qemu_missing_as(what: &str, required: bool) {
    if required {
        panic!("{what}; {REQUIRE_QEMU_ENV} is set, so a missing QEMU is a failure");
    }
    skipped(what);
}

/// Reports a skipped cell. Written straight to stderr, past libtest's output
/// capture, so a skip is visible in every test run and never passes silently.
pub fn skipped(what: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {what}");
}

/// QEMU's virt machine with `cpu` and `smp` harts, 128 MiB and OpenSBI
/// (`-bios default`), no kernel and no console: the machine the process,
/// gdbstub and quirk tests start (set `kernel` and `consoles` on top).
pub fn virt(cpu: &str, smp: u32) -> MachineSpec {
    MachineSpec {
        machine: "virt".into(),
        cpu: cpu.into(),
        smp,
        memory: "128M".into(),
        bios: Some("default".into()),
        kernel: None,
        consoles: vec![],
        extra_args: vec![],
    }
}

/// A console named `name` on the machine's first serial port.
pub fn serial_console(name: &str) -> ConsoleSpec {
    ConsoleSpec {
        name: name.into(),
        attach: ConsoleAttach::Serial,
    }
}

/// Builds the reference firmware once per test process.
pub fn firmware() -> &'static ReferenceFirmware {
    static FW: OnceLock<ReferenceFirmware> = OnceLock::new();
    FW.get_or_init(
        || match hvharness::internals::firmware::build_reference(&root()) {
            Ok(fw) => fw,
            Err(e) => panic!("building the reference firmware: {e:#}"),
        },
    )
}

/// `fixture.c:165`: where in the reference firmware's source `file`
/// (under `hypervisor/`) the one line holding `needle` is, as the
/// diagnosis names it. Fixture builds grow fixture.c; tests that expect a
/// writer's line ask the source instead of fixing the number.
#[allow(dead_code)] // not every test binary names source lines
pub fn source_line(file: &str, needle: &str) -> String {
    let path = root().join("hypervisor").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    match lines.as_slice() {
        [line] => format!("{file}:{line}"),
        _ => panic!("{needle:?} is on lines {lines:?} of {file}, not on exactly one"),
    }
}

/// QEMU processes of this machine whose command line mentions `needle`.
pub fn qemu_processes_with(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let cmdline = e.path().join("cmdline");
        if let Ok(bytes) = std::fs::read(&cmdline) {
            let text = String::from_utf8_lossy(&bytes).replace('\0', " ");
            if text.contains("qemu-system-riscv64") && text.contains(needle) {
                out.push(text);
            }
        }
    }
    out
}

/// A variant of the shipped hotpage fixture (`scenarios/hypervisor-hotpage.toml`)
/// written to `dir/file`: the same machine, consoles, ELF files and outcome,
/// with `head` (top-level keys, a `description` among them) in place of the
/// description, `breakpoints` in place of its `[[breakpoint]]` tables, and a
/// generous `[boot]` (300 s, quiet 300 s: a wrong or missing arming makes the
/// boot slow, and the hot-page warning, not a timeout, must tell). Paths are
/// made absolute and the build step dropped (tests build the firmware once).
pub fn hotpage_variant(
    dir: &std::path::Path,
    file: &str,
    head: &str,
    breakpoints: &str,
) -> PathBuf {
    let shipped = root().join("scenarios/hypervisor-hotpage.toml");
    let text = std::fs::read_to_string(&shipped).expect("the shipped hotpage scenario");
    let fw = root().join("target/firmware");
    let section = |name: &str| {
        text.find(name)
            .unwrap_or_else(|| panic!("{name} in {}", shipped.display()))
    };
    // From the description to [machine], less [build]; then up to the
    // comment above the first breakpoint; then from [[outcome]] on.
    let machine = section("\n[machine]");
    let first_bp = section("\n[[breakpoint]]");
    let bp_comment = text[..first_bp].rfind("\n\n").unwrap_or(first_bp);
    let outcome = section("\n[[outcome]]");
    let shared = format!(
        "{head}\n{}\n\n{breakpoints}\n\n[boot]\ntimeout_secs = 300\nquiet_secs = 300\n{}",
        &text[machine..bp_comment],
        &text[outcome..]
    )
    .replace("\"../target/firmware/", &format!("\"{}/", fw.display()));
    let path = dir.join(file);
    std::fs::write(&path, shared).expect("writing the scenario");
    path
}

/// kvminithart's breakpoint in the hotpage fixture as a user first writes
/// it: no `arm_after`, so it goes in at the start unless the harness arms it.
pub const HOTPAGE_BREAKPOINT: &str = r#"[[breakpoint]]
at = "guest:kvminithart"
privilege = "VS"
once_per_hart = true
dump = ["satp"]"#;

/// Checks a result file (`hvharness-results/1`) against its JSON schema.
pub fn validate_results(file: &serde_json::Value) {
    let schema_path = root().join("schemas/results-v1.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&schema_path).expect("the schema file"))
            .expect("the schema is JSON");
    let v = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = v
        .iter_errors(file)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .take(10)
        .collect();
    assert!(errors.is_empty(), "schema: {}", errors.join("\n"));
}

/// git with `args` in `dir`, with a fixed identity and no user or system
/// configuration (so a developer's hooks, signing or aliases cannot change
/// a test's history), ready to run.
pub fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    cmd.args([
        "-c",
        "user.name=hvharness test",
        "-c",
        "user.email=test@hvharness.invalid",
        "-c",
        "commit.gpgsign=false",
    ])
    .args(args)
    .current_dir(dir)
    .env("GIT_CONFIG_NOSYSTEM", "1")
    .env("GIT_CONFIG_GLOBAL", "/dev/null");
    cmd
}

/// Runs [`git_command`]: its trimmed stdout; panics with git's stderr on
/// failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_command(dir, args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("git {args:?}: {e}"));
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs the hvharness binary with `args` in the project root, and fails the
/// test with its output unless it exits 0.
pub fn hvharness_ok<S: AsRef<str>>(args: &[S]) {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_hvharness"))
        .args(&args)
        .env("HVHARNESS_ROOT", root())
        .stdin(Stdio::null())
        .output()
        .expect("hvharness runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "hvharness {}: {}\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
