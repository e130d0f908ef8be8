//! The `hvharness` command line: argument definitions and dispatch. Each
//! command's work lives in its own module.

mod bisect;
mod check;
mod csr_trace;
pub mod diagnose;
mod diff;
pub mod out;
mod progress;
mod qemu;
mod qemu_build_args;
mod report;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::project;
use qemu_build_args::QemuBuildArgs;

/// GDB-driven regression and diagnostic harness for RISC-V hypervisors on QEMU.
///
/// A scenario file (TOML) names the firmware, the QEMU machine, the consoles and
/// what each QEMU version is expected to do: boot, or hang with a given trap.
/// Exit codes: 0 everything as expected, 1 an expectation failed, 2 usage or
/// environment error (including a QEMU killed from outside, named with its
/// signal); 130/143/129 after SIGINT/SIGTERM/SIGHUP, 141 when stdout or
/// stderr was closed by its reader.
#[derive(Parser)]
#[command(name = "hvharness", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The QEMU builds a command runs on, for the commands that run every
/// selected build.
#[derive(Args)]
struct QemuSelection {
    /// QEMU to use: a version, a range or a binary path. Repeatable; default: all known.
    #[arg(long = "qemu", value_name = "VERSION|RANGE|PATH")]
    qemu: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario on the selected QEMU builds (all known ones by default).
    Run {
        /// Scenario file, e.g. scenarios/hypervisor-noadue-2vm.toml.
        scenario: PathBuf,
        /// QEMU to use: a version (10.0.2), a range (">=9.0") or a binary path. Repeatable.
        #[arg(long = "qemu", value_name = "VERSION|RANGE|PATH")]
        qemu: Vec<String>,
        /// Print the result file (JSON, schema hvharness-results/1) instead of text.
        #[arg(long)]
        json: bool,
        /// Write JUnit XML to FILE.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Skip the scenario's build command.
        #[arg(long)]
        no_build: bool,
    },
    /// Run every scenario on every selected QEMU and print a table.
    ///
    /// With --shard K/N, run only the K-th of N slices of the cells (for N
    /// CI jobs; `hvharness report merge` joins their --results files). The
    /// split depends only on the cells' names, and on durations when
    /// --durations names a previous result file: every machine computes
    /// the same shards, and each cell is in exactly one.
    Matrix {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        #[command(flatten)]
        qemu: QemuSelection,
        /// Print the result file (JSON, schema hvharness-results/1) instead of the table.
        #[arg(long)]
        json: bool,
        /// Also write the result file to FILE (the table still prints).
        #[arg(long, value_name = "FILE")]
        results: Option<PathBuf>,
        /// Write JUnit XML to FILE: one testsuite per scenario, one testcase per QEMU.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Skip the scenarios' build commands.
        #[arg(long)]
        no_build: bool,
        /// How many QEMUs run at once (default: the number of CPUs).
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
        /// Run only shard K of N (1-based), e.g. 1/2.
        #[arg(long, value_name = "K/N")]
        shard: Option<crate::report::Shard>,
        /// A previous result file: balance the shards by its measured durations.
        #[arg(long, value_name = "FILE", requires = "shard")]
        durations: Option<PathBuf>,
        /// Explain each cell that did not boot, as `diagnose` does (its runs use the debugger).
        #[arg(long)]
        diagnose: bool,
    },
    /// Who writes a CSR: every instruction in the scenario's ELF files that
    /// can write it (file:line, source text, the value when it is a
    /// constant), then a boot that records each write as it runs (hart,
    /// privilege, the value written, the CSR before and after; per writer,
    /// the first write on each hart, then a count of the further hits while
    /// the breakpoint stays in) and changes made outside the images (M-mode
    /// firmware).
    CsrTrace {
        /// Scenario file.
        scenario: PathBuf,
        /// The CSR, by name (henvcfg) or number (0x60a). Repeatable.
        #[arg(long = "csr", required = true, value_name = "CSR")]
        csr: Vec<String>,
        #[command(flatten)]
        qemu: QemuSelection,
        /// Writes recorded per writer and hart (1 to 1000; default: the
        /// scenario's `trace_hits_per_writer`, else 1). Later hits are only
        /// counted, while the writer's breakpoint is in.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::scenario::MAX_TRACE_HITS)))]
        hits: Option<u32>,
        /// Print the traces as JSON (schema hvharness-csr-trace/1).
        #[arg(long)]
        json: bool,
        /// Skip the scenario's build command.
        #[arg(long)]
        no_build: bool,
    },
    /// Result files: merge shards, write JUnit XML or the HTML report.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Run a scenario and, when it hangs, explain why: the first unexpected
    /// trap on each stuck hart (cause, place in the right ELF file, tval,
    /// htval/htinst), a backtrace, the page-table walk of a page fault, and a
    /// root cause in words with the fix. Exit 0 when it boots, 1 when a hang
    /// was diagnosed, 2 on errors.
    Diagnose {
        /// Scenario file.
        scenario: PathBuf,
        #[command(flatten)]
        qemu: QemuSelection,
        /// Print the diagnosis as JSON.
        #[arg(long)]
        json: bool,
        /// Skip the scenario's build command.
        #[arg(long)]
        no_build: bool,
        /// Keep QEMU stopped at the failure and print the gdb-multiarch command
        /// that attaches to it; Ctrl-C ends it. Needs exactly one --qemu.
        #[arg(long)]
        gdb: bool,
    },
    /// Show what changed between two CSR snapshots (e.g. of two QEMU
    /// versions), field by field: `hvharness diff snapshots/a@8_0_2.snap snapshots/a@9_2_0.snap`.
    Diff {
        /// The earlier snapshot file (e.g. the older QEMU's).
        old: PathBuf,
        /// The later snapshot file; exit status 1 when it differs from OLD.
        new: PathBuf,
    },
    /// Narrow a boot failure down: across QEMU versions, across QEMU's own
    /// commits, or along the boot path of one run (see the subcommands).
    Bisect {
        #[command(subcommand)]
        command: BisectCommand,
    },
    /// Test one build of the firmware, for `git bisect run`: exit 0 good, 1
    /// bad, 125 cannot test.
    ///
    /// Builds the firmware with the scenario's build command, then runs the
    /// scenario once on one QEMU.
    ///
    /// Good (exit 0): the boot succeeds, every console prints every one of
    /// its milestones (a plain boot, no breakpoints). With --expect: the
    /// scenario's stated expectation for that QEMU version holds instead, for
    /// example a hang with scause 0xc in guest:kvminithart, with its register
    /// checks. Bad (exit 1): anything else.
    ///
    /// Cannot test (exit 125, git skips the commit): the scenario does not
    /// load, the build fails, the QEMU version is not registered, QEMU does
    /// not start, QEMU is ended from outside during the run (a signal
    /// hvharness did not send, a crash), or (with --expect) the scenario
    /// states nothing for that version.
    ///
    /// Example, in the firmware's repository: `git bisect start BAD GOOD`,
    /// then `git bisect run hvharness check scenarios/hypervisor-2vm.toml --qemu 10.0.2`.
    /// The build command must rebuild what a commit changed: git checkout
    /// does not touch build outputs, and make does not notice a flag changed
    /// in a makefile, so a full rebuild (`make -B`) is the safe choice.
    Check {
        /// Scenario file; its paths (firmware, build directory) are relative to it.
        scenario: PathBuf,
        /// QEMU to use: a version (10.0.2), a range (newest match) or a binary path; default: the newest known.
        #[arg(long = "qemu", value_name = "VERSION|RANGE|PATH")]
        qemu: Option<String>,
        /// Good means the scenario's expectation for this QEMU version holds, not a boot.
        #[arg(long)]
        expect: bool,
        /// Skip the scenario's build command (test the firmware as it is).
        #[arg(long)]
        no_build: bool,
    },
    /// The QEMU builds hvharness knows about.
    Qemu {
        #[command(subcommand)]
        command: QemuCommand,
    },
}

// The doc comments here are `--help` text: placeholders like <version> are
// meant literally, not as HTML.
#[allow(rustdoc::invalid_html_tags)]
#[derive(Subcommand)]
enum QemuCommand {
    /// List known QEMU builds: the project's prefixes (.qemu/, made by
    /// scripts/setup.sh), installed prefixes (`qemu install`), registered
    /// builds ($HVHARNESS_QEMU and the config file), and qemu-system-riscv64
    /// on PATH.
    List {
        /// Print the list as JSON (version, binary, data_dir, origin).
        #[arg(long)]
        json: bool,
    },
    /// Register a QEMU binary (its version is read from --version), e.g. one
    /// built from a release tarball: `hvharness qemu add ~/qemu-9.2.0/build/qemu-system-riscv64`.
    Add {
        /// Path of the qemu-system-riscv64 binary.
        binary: PathBuf,
        /// Firmware directory to pass as -L (default: QEMU's own search path).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Install a QEMU prefix tarball (qemu-X.Y.Z/bin/qemu-system-riscv64 and
    /// qemu-X.Y.Z/share/qemu/, as made in README "Other QEMU versions") into
    /// $XDG_DATA_HOME/hvharness/qemu/<version> after checking that it runs on
    /// this machine and reports a version not registered yet.
    Install {
        /// The tarball (.tar.xz, .tar.gz, ...).
        #[arg(long = "from", value_name = "TARBALL")]
        from: PathBuf,
    },
    /// Build QEMU VERSION from a QEMU git repository, at its tag vVERSION,
    /// with `bisect qemu`'s builder (riscv64-softmmu, minimal features, ccache
    /// when installed) in a persistent build directory and worktree, so a
    /// second build is incremental.
    ///
    /// `--install` makes it a prefix the registry knows (as `qemu install`
    /// does with a tarball: $XDG_DATA_HOME/hvharness/qemu/VERSION); `--pack
    /// DIR` writes the tarball scripts/setup.sh takes
    /// (qemu-VERSION-riscv64-debian12-x86_64.tar.xz and its .sha256).
    /// Example: `hvharness qemu build 9.2.0 --source ~/src/qemu --install`.
    /// The build packages are checked first (README "Bisecting QEMU itself").
    #[command(mut_arg("build_dir", |a| a.help(
        "Persistent build directory; default: one per source under ~/.cache/hvharness/qemu-build/"
    )))]
    #[command(mut_arg("build_cmd", |a| a.help(
        "Shell command that builds instead of configure + ninja (as for `bisect qemu`): must leave \
         $HVHARNESS_QEMU_BUILD/qemu-system-riscv64, and OpenSBI in pc-bios/ there or in the tree"
    )))]
    #[command(mut_arg("build_timeout", |a| a.help(
        "Seconds the build may take before it is killed"
    )))]
    Build {
        /// The release, e.g. 9.2.0 (built at the tag v9.2.0).
        version: crate::qemu::QemuVersion,
        /// The QEMU git repository (a clone; may be bare).
        #[arg(long, value_name = "QEMU_GIT_DIR")]
        source: PathBuf,
        /// Install the built prefix into the data directory.
        #[arg(long)]
        install: bool,
        /// Write the prefix tarball and its .sha256 into DIR.
        #[arg(long, value_name = "DIR")]
        pack: Option<PathBuf>,
        #[command(flatten)]
        build: QemuBuildArgs,
    },
    /// Remove a version installed with `qemu install`.
    Remove {
        /// The version, e.g. 9.2.0.
        version: crate::qemu::QemuVersion,
    },
}

/// The files a `report` command reads and writes.
#[derive(Args)]
struct ReportFiles {
    /// Result files written by `matrix --results` or `--json` (several are merged).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The file to write: the merged result file (merge) or the HTML page (html).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Also write JUnit XML of the merged cells.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Combine result files (e.g. one per shard) into one: `hvharness report
    /// merge 1.json 2.json -o all.json`. A cell in two files, or a file of
    /// another schema, is an error naming the files.
    Merge {
        #[command(flatten)]
        files: ReportFiles,
        /// Also write the HTML report of the merged file.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// Write the matrix as one self-contained HTML page (no network needed):
    /// the grid, and per cell the milestones, console tails, CSR stops with
    /// the fields changed since the previous QEMU version, and the diagnosis.
    Html {
        #[command(flatten)]
        files: ReportFiles,
    },
}

#[derive(Subcommand)]
enum BisectCommand {
    /// Find the first QEMU version whose outcome differs from the oldest's.
    ///
    /// Runs the scenario as a plain boot (no breakpoints) on the oldest
    /// selected QEMU, then binary-searches the newer ones for the first whose
    /// observed outcome (booted, hung or exited; not the verdict) differs:
    /// at most 1 + ceil(log2 n) runs for n versions, 2 for two. Assumes the
    /// outcome changes at most once from the oldest version to the newest
    /// (monotonic behaviour); a version that breaks and a later one that is
    /// fixed again can hide each other. Progress goes to stderr, the report
    /// to stdout. Exit 0 when the bisection completes, 2 on errors.
    Versions {
        /// Scenario file, e.g. scenarios/hypervisor-noadue-2vm.toml.
        scenario: PathBuf,
        /// QEMU builds to search: versions, ranges or binary paths. Repeatable; default: all known.
        #[arg(long = "qemu", value_name = "VERSION|RANGE|PATH")]
        qemu: Vec<String>,
        /// Print the bisection (every run, the answer) as JSON.
        #[arg(long)]
        json: bool,
        /// Skip the scenario's build command.
        #[arg(long)]
        no_build: bool,
    },
    /// Find the QEMU commit that changed how the scenario boots, building
    /// QEMU at each step.
    ///
    /// Builds qemu-system-riscv64 (riscv64-softmmu, minimal features, ccache
    /// when installed) in a git worktree of --source (your checkout is never
    /// touched) and one persistent build directory, both kept across runs and
    /// checked out in place, so each step, the first of a resumed run too, is
    /// an incremental build; configure runs again only when a step changes the
    /// build-system files. The build packages are checked first (a missing one
    /// is named with its apt-get line, exit 2). The good and bad ends are built and run first;
    /// each step's observed outcome (booted, hung, exited) is then compared
    /// with the good end's (with --expect: judged by the scenario's
    /// expectation for the built version, e.g. 8.2.50). A commit that does not
    /// build is skipped, named by the first cause in its log (the first
    /// compile error); a missing system library stops the bisection, naming
    /// its Debian package.
    ///
    /// The search follows first parents (QEMU's master is a chain of merges)
    /// and, when the first bad commit is a merge, goes on inside the branch it
    /// merged. Progress (step, commit, build time, verdict, ETA) goes to
    /// stderr; the state is kept in the build directory, so running the same
    /// command again after an interruption resumes. The report names the
    /// commit, its files under target/riscv and hw/riscv, and, when a
    /// diagnosis of the bad end names a CSR bit (henvcfg.ADUE), the commit's
    /// diff lines that mention that CSR.
    ///
    /// Offline, QEMU's meson subprojects (keycodemapdb, berkeley-softfloat-3,
    /// berkeley-testfloat-3) must already be in SOURCE/subprojects (or
    /// --subprojects DIR); they are linked into each step's tree.
    ///
    /// Example: `hvharness bisect qemu scenarios/hypervisor-noadue-2vm.toml
    /// --source ~/qemu --good v8.2.0 --bad v9.0.0`. Exit 0 when the search
    /// ends, 2 on errors.
    Qemu {
        /// Scenario file, e.g. scenarios/hypervisor-noadue-2vm.toml.
        scenario: PathBuf,
        /// The QEMU git repository (a clone; may be bare).
        #[arg(long, value_name = "QEMU_GIT_DIR")]
        source: PathBuf,
        /// A commit (hash, tag, branch, rev expression) that behaves the old way.
        #[arg(long, value_name = "REV")]
        good: String,
        /// A later commit, descended from --good, that behaves the new way.
        #[arg(long, value_name = "REV")]
        bad: String,
        #[command(flatten)]
        build: QemuBuildArgs,
        /// Follow first parents, then go into the culprit merge's branch (the default; always on).
        #[arg(long, default_value_t = true)]
        first_parent: bool,
        /// Stop at the first-parent merge; do not search the branch it merged.
        #[arg(long)]
        stop_at_merge: bool,
        /// Good means the scenario's expectation for the built version holds.
        #[arg(long)]
        expect: bool,
        /// Discard the build directory's saved state instead of resuming it.
        #[arg(long)]
        fresh: bool,
        /// Do not diagnose the bad end (no CSR lines in the report).
        #[arg(long)]
        no_diagnose: bool,
        /// Print the bisection as JSON.
        #[arg(long)]
        json: bool,
        /// Skip the scenario's build command.
        #[arg(long)]
        no_build: bool,
    },
    /// Remove a build directory of `bisect qemu` or `qemu build`: its
    /// worktree (and git's record of it in the source repository), its
    /// build, logs and saved state. Both keep them from run to run, so that
    /// nothing unchanged is compiled again.
    Clean {
        /// The build directory.
        #[arg(long, value_name = "DIR")]
        build_dir: Option<PathBuf>,
        /// Instead of --build-dir: the default build directories of this
        /// QEMU repository (bisect qemu's and qemu build's).
        #[arg(long, value_name = "QEMU_GIT_DIR")]
        source: Option<PathBuf>,
    },
    /// Find how far the boot gets on each hart, by breakpoints at the
    /// scenario's milestone symbols.
    ///
    /// One run with a breakpoint at every symbol of the scenario's
    /// `milestone_symbols` (e.g. guest:main .. guest:userinit, in boot order;
    /// only stops at `milestone_privilege` count, once per hart). Reports per
    /// hart the last milestone reached and the first one missed, e.g.
    /// "hart 0: reached kvminithart, missed trapinithart". Exit 0 when every
    /// hart reached every milestone, 1 when one missed some, 2 on errors.
    Milestones {
        /// Scenario file with milestone_symbols, e.g. scenarios/hypervisor-noadue-2vm.toml.
        scenario: PathBuf,
        /// QEMU to use: a version, a range (newest match) or a binary path; default: the newest known.
        #[arg(long = "qemu", value_name = "VERSION|RANGE|PATH")]
        qemu: Option<String>,
        /// Print the milestones reached per hart as JSON.
        #[arg(long)]
        json: bool,
        /// Skip the scenario's build command.
        #[arg(long)]
        no_build: bool,
    },
}

impl Cli {
    /// Whether the command was asked for JSON on stdout: then an error is a
    /// JSON object there too (see [`error_json`]), not just text on stderr.
    pub fn wants_json(&self) -> bool {
        match &self.command {
            Command::Run { json, .. }
            | Command::Matrix { json, .. }
            | Command::Diagnose { json, .. }
            | Command::CsrTrace { json, .. }
            | Command::Qemu {
                command: QemuCommand::List { json },
            } => *json,
            Command::Bisect { command } => match command {
                BisectCommand::Versions { json, .. }
                | BisectCommand::Qemu { json, .. }
                | BisectCommand::Milestones { json, .. } => *json,
                BisectCommand::Clean { .. } => false,
            },
            _ => false,
        }
    }
}

/// The `hvharness` command line, whole: parses the arguments, runs the
/// command and gives the exit code (the binary's `main` is this).
pub fn main() -> ExitCode {
    out::install();
    let cli = Cli::parse();
    let json = cli.wants_json();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hvharness: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ENV);
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            if crate::signals::interrupted() {
                // The signal handler is cleaning up and exits with 128 + the
                // signal's number; dropping the runtime now would cut it short.
                std::thread::sleep(std::time::Duration::from_secs(60));
            }
            eprintln!("hvharness: error: {e:#}");
            if json {
                crate::outln!("{}", error_json(&e, EXIT_ENV));
            }
            ExitCode::from(EXIT_ENV)
        }
    }
}

/// The known QEMU builds; what discovery left out is said on stderr.
pub(crate) fn discover_registry(root: Option<&std::path::Path>) -> crate::qemu::QemuRegistry {
    let reg = crate::qemu::QemuRegistry::discover(root);
    for w in reg.warnings() {
        eprintln!("hvharness: {w}");
    }
    reg
}

/// The JSON object a `--json` command prints on stdout when it ends in an
/// error (schema `hvharness-error/1`): the message and its causes, outermost
/// first, and the exit status.
pub fn error_json(e: &anyhow::Error, exit: u8) -> String {
    let causes: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    let v = serde_json::json!({
        "schema": "hvharness-error/1",
        "error": format!("{e:#}"),
        "causes": causes,
        "exit": exit,
    });
    serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".to_string())
}

/// Exit status for usage and environment errors.
pub const EXIT_ENV: u8 = 2;

/// Runs the parsed command line; the exit code follows the module docs.
pub async fn dispatch(cli: Cli) -> Result<ExitCode> {
    crate::signals::install_signal_cleanup()?;
    crate::qemu::session_dir::remove_stale_and_say();
    let root = project::root();
    match cli.command {
        Command::Qemu { command } => dispatch_qemu(command, root.as_deref()).await,
        Command::Diff { old, new } => diff::diff(&old, &new),
        Command::Bisect { command } => dispatch_bisect(command, root.as_deref()).await,
        Command::Check {
            scenario,
            qemu,
            expect,
            no_build,
        } => {
            check::check(
                &scenario,
                qemu.as_deref(),
                expect,
                no_build,
                root.as_deref(),
            )
            .await
        }
        Command::Diagnose {
            scenario,
            qemu: QemuSelection { qemu },
            json,
            no_build,
            gdb,
        } => diagnose::diagnose(&scenario, &qemu, json, no_build, gdb, root).await,
        Command::CsrTrace {
            scenario,
            csr,
            qemu: QemuSelection { qemu },
            hits,
            json,
            no_build,
        } => {
            csr_trace::csr_trace(
                &scenario,
                (csr.as_slice(), hits),
                &qemu,
                json,
                no_build,
                root,
            )
            .await
        }
        Command::Run {
            scenario,
            qemu,
            json,
            junit,
            no_build,
        } => {
            let opts = run::MatrixOptions {
                json,
                junit,
                no_build,
                jobs: 1,
                ..Default::default()
            };
            run::run_matrix(&[scenario], &qemu, opts, root).await
        }
        Command::Matrix {
            scenarios,
            qemu: QemuSelection { qemu },
            json,
            results,
            junit,
            no_build,
            jobs,
            shard,
            durations,
            diagnose,
        } => {
            let jobs = jobs.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            });
            let opts = run::MatrixOptions {
                json,
                results,
                junit,
                no_build,
                jobs,
                table: true,
                shard,
                durations,
                diagnose,
            };
            run::run_matrix(&scenarios, &qemu, opts, root).await
        }
        Command::Report { command } => dispatch_report(command),
    }
}

/// `hvharness qemu ...`.
async fn dispatch_qemu(command: QemuCommand, root: Option<&std::path::Path>) -> Result<ExitCode> {
    match command {
        QemuCommand::Build {
            version,
            source,
            install,
            pack,
            build,
        } => {
            let place = build.resolve(&source, bisect::RELEASE_DIRS)?;
            let options = crate::bisect::qemu::release::Options {
                version,
                source,
                build_dir: place.build_dir,
                build_cmd: place.build_cmd,
                build_timeout: place.build_timeout,
                subprojects: place.subprojects,
                install,
                pack,
            };
            qemu::build(&options, root).await
        }
        QemuCommand::List { json } => qemu::list(root, json),
        QemuCommand::Add { binary, data_dir } => qemu::add(&binary, data_dir),
        QemuCommand::Install { from } => qemu::install(&from, root),
        QemuCommand::Remove { version } => qemu::remove(version, root),
    }
}

/// `hvharness bisect ...`.
async fn dispatch_bisect(
    command: BisectCommand,
    root: Option<&std::path::Path>,
) -> Result<ExitCode> {
    match command {
        BisectCommand::Versions {
            scenario,
            qemu,
            json,
            no_build,
        } => bisect::versions(&scenario, &qemu, json, no_build, root).await,
        BisectCommand::Clean { build_dir, source } => {
            bisect::clean(build_dir.as_deref(), source.as_deref())
        }
        BisectCommand::Milestones {
            scenario,
            qemu,
            json,
            no_build,
        } => bisect::milestones(&scenario, qemu.as_deref(), json, no_build, root).await,
        BisectCommand::Qemu {
            scenario,
            source,
            good,
            bad,
            build,
            first_parent: _,
            stop_at_merge,
            expect,
            fresh,
            no_diagnose,
            json,
            no_build,
        } => {
            let place = build.resolve(&source, bisect::BISECT_DIRS)?;
            let options = crate::bisect::qemu::Options {
                scenario_path: scenario,
                source,
                good,
                bad,
                build_dir: place.build_dir,
                build_cmd: place.build_cmd,
                build_timeout: place.build_timeout,
                subprojects: place.subprojects,
                stop_at_merge,
                expect,
                fresh,
                diagnose: !no_diagnose,
            };
            bisect::qemu(&options, json, no_build).await
        }
    }
}

/// `hvharness report ...`.
fn dispatch_report(command: ReportCommand) -> Result<ExitCode> {
    match command {
        ReportCommand::Merge { files: f, html } => {
            report::merge(&f.inputs, &f.output, f.junit.as_deref(), html.as_deref())
        }
        ReportCommand::Html { files: f } => report::html(&f.inputs, &f.output, f.junit.as_deref()),
    }
}
