//! Careless and hostile input, as a table: each case is a scenario file (or
//! a command) that the real `hvharness` binary is run on. Every case asserts
//! the exit code and the message, that nothing panicked, that no QEMU of the
//! case is left running, and that no file of the case changed (a disk image
//! the scenario points at keeps its bytes; no pid file or log appears).
//!
//! Load-time refusals start no QEMU, so they do not depend on the version;
//! the cases that start QEMU run on every version of the matrix. The table
//! (case, exit code, first message line) is printed to stderr.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a killed or escaped QEMU may take to disappear from /proc.
const GONE_LIMIT: Duration = Duration::from_secs(5);

/// A valid scenario with placeholders: every case replaces some of them.
const TEMPLATE: &str = r#"
[machine]
cpu = "rv64"
bios = "default"
kernel = "@KERNEL@"
args = @ARGS@

@CONSOLES@

[[elf]]
name = "guest"
path = "@ELF@"

[[breakpoint]]
at = "guest:kvminithart"
dump = @DUMP@

[boot]
timeout_secs = 60

[[outcome]]
qemu = "*"
expect = "@EXPECT@"
@OUTCOME@
"#;

const CONSOLE: &str = r#"[[console]]
name = "console"
attach = "serial"
milestones = ["guest kernel is booting", "init: starting sh"]"#;

/// What a case runs and what it must show.
struct Case {
    name: &'static str,
    /// The scenario file's text (`@DIR@` is the case's directory).
    scenario: String,
    /// The command after `hvharness`; `@SCENARIO@` is the file.
    command: Vec<&'static str>,
    /// Environment for the command.
    env: Vec<(&'static str, String)>,
    /// Whether it starts QEMU (then it runs on every matrix version).
    runs_qemu: bool,
    code: i32,
    /// Text the output (stdout + stderr) must contain.
    says: Vec<&'static str>,
}

/// The case's scenario: the template with `changes` applied, the rest default.
fn scenario(changes: &[(&str, &str)]) -> String {
    let fw = common::root().join("target/firmware");
    let guest = fw.join("guest.elf").to_string_lossy().into_owned();
    let mut text = TEMPLATE.to_string();
    let defaults = [
        ("@KERNEL@", guest.as_str()),
        ("@ARGS@", "[]"),
        ("@CONSOLES@", CONSOLE),
        ("@ELF@", guest.as_str()),
        ("@DUMP@", r#"["priv", "scause", "menvcfg", "henvcfg"]"#),
        ("@EXPECT@", "boots"),
        ("@OUTCOME@", ""),
    ];
    for (key, default) in defaults {
        let value = changes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .unwrap_or(default);
        text = text.replace(key, value);
    }
    text
}

fn run_case(args: &'static str) -> Case {
    Case {
        name: "",
        scenario: String::new(),
        command: vec!["run", "@SCENARIO@", "--no-build", "--qemu", "@VERSION@"],
        env: Vec::new(),
        runs_qemu: false,
        code: 2,
        says: Vec::new(),
    }
    .with_args(args)
}

impl Case {
    fn with_args(mut self, args: &str) -> Case {
        self.scenario = scenario(&[("@ARGS@", args)]);
        self
    }
    fn named(mut self, name: &'static str, says: &[&'static str]) -> Case {
        self.name = name;
        self.says = says.to_vec();
        self
    }
    fn text(mut self, text: String) -> Case {
        self.scenario = text;
        self
    }
    fn qemu(mut self, code: i32) -> Case {
        self.runs_qemu = true;
        self.code = code;
        self
    }
}

/// `scenario.toml:LINE:COL: KEY:` of `value` in `text` (its first
/// occurrence after `after`): where a refused value's error must point.
fn at(text: &str, after: &str, value: &str, key: &str) -> &'static str {
    let start = text.find(after).expect("the anchor is in the case");
    let offset = start + text[start..].find(value).expect("the value is in the case");
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Box::leak(format!("scenario.toml:{line}:{col}: {key}:").into_boxed_str())
}

/// Values outside a key's closed set (or of a form the key does not take):
/// each refused with exit 2, pointing at the value, naming the key and
/// what is allowed.
fn closed_sets() -> Vec<Case> {
    let bp = "at = \"guest:kvminithart\"";
    let with_bp = |extra: &str| scenario(&[]).replacen(bp, &format!("{bp}\n{extra}"), 1);
    let elf = "[[elf]]\nname = \"guest\"";
    let with_elf = |extra: &str| scenario(&[]).replacen(elf, &format!("{elf}\n{extra}"), 1);
    let privilege = with_bp("privilege = \"XS\"");
    let milestones = format!(
        "milestone_symbols = [\"guest:main\"]\nmilestone_privilege = \"H\"\n{}",
        scenario(&[])
    );
    let watch = with_bp("watch = \"writes\"");
    let len = with_bp("watch = \"write\"\nlen = 16");
    let attach = scenario(&[]).replacen("attach = \"serial\"", "attach = \"usb\"", 1);
    let expect = scenario(&[("@EXPECT@", "flies")]);
    let offset = with_elf("offset = \"ten\"");
    vec![
        run_case("[]")
            .named(
                "privilege = \"XS\"",
                &[
                    at(&privilege, bp, "\"XS\"", "breakpoint[0].privilege"),
                    "M, HS, S, VS, U or VU",
                ],
            )
            .text(privilege.clone()),
        run_case("[]")
            .named(
                "milestone_privilege = \"H\"",
                &[
                    at(&milestones, "", "\"H\"", "milestone_privilege"),
                    "M, HS, S, VS, U or VU",
                ],
            )
            .text(milestones.clone()),
        run_case("[]")
            .named(
                "watch = \"writes\"",
                &[
                    at(&watch, bp, "\"writes\"", "breakpoint[0].watch"),
                    "`write`, `read`, `access`",
                ],
            )
            .text(watch.clone()),
        run_case("[]")
            .named(
                "watch len = 16",
                &[
                    at(&len, "len = ", "16", "breakpoint[0].len"),
                    "1 to 8 bytes",
                ],
            )
            .text(len.clone()),
        run_case("[]")
            .named(
                "attach = \"usb\"",
                &[
                    at(&attach, "", "\"usb\"", "console[0].attach"),
                    "serial, pci-serial or device:NAME",
                ],
            )
            .text(attach.clone()),
        run_case("[]")
            .named(
                "expect = \"flies\"",
                &[
                    at(&expect, "[[outcome]]", "\"flies\"", "outcome[0].expect"),
                    "`boots`",
                    "`hangs`",
                ],
            )
            .text(expect.clone()),
        run_case("[]")
            .named(
                "[[elf]] offset = \"ten\"",
                &[
                    at(&offset, "[[elf]]", "\"ten\"", "elf[0].offset"),
                    "-0xffffffff00000000",
                ],
            )
            .text(offset.clone()),
    ]
}

fn cases() -> Vec<Case> {
    let drive = r#"["-drive", "file=@DIR@/disk.img,format=raw,if=none,id=d0,snapshot=off", "-device", "virtio-blk-device,drive=d0"]"#;
    let x86 = env!("CARGO_BIN_EXE_hvharness");
    let x86_elf = scenario(&[("@ELF@", x86)]);
    let x86_kernel = scenario(&[("@KERNEL@", x86)]);
    let mut cases = closed_sets();
    cases.extend(vec![
        // Files that are not scenarios.
        run_case("[]").named("empty file", &["missing field `machine`"]).text(String::new()),
        run_case("[]")
            .named("not TOML", &["scenario.toml:1:"])
            .text("this is not toml\n".into()),
        run_case("[]")
            .named("unknown key", &["unknown field `colour`"])
            .text(scenario(&[]).replace("[machine]", "[machine]\ncolour = \"red\"")),
        run_case("[]")
            .named("wrong type (smp = \"two\")", &["invalid type", "scenario.toml:"])
            .text(scenario(&[]).replace("[machine]", "[machine]\nsmp = \"two\"")),
        run_case("[]")
            .named("bad milestone regex", &["console[0].milestones[0]", "unclosed group"])
            .text(scenario(&[("@CONSOLES@", "[[console]]\nname = \"c\"\nattach = \"serial\"\nmilestones = [\"(\"]")])),
        run_case("[]")
            .named("bad version range", &["outcome[0].qemu"])
            .text(scenario(&[]).replace("qemu = \"*\"", "qemu = \">=banana\"")),
        run_case("[]")
            .named("absurd smp = 0", &["machine.smp", "at least 1"])
            .text(scenario(&[]).replace("[machine]", "[machine]\nsmp = 0")),
        run_case("[]")
            .named("absurd smp = 2^40", &["scenario.toml:"])
            .text(scenario(&[]).replace("[machine]", "[machine]\nsmp = 1099511627776")),
        run_case("[]")
            .named("absurd timeout_secs = 1e9", &["boot.timeout_secs", "86400"])
            .text(scenario(&[]).replace("timeout_secs = 60", "timeout_secs = 1e9")),
        run_case("[]")
            .named("duplicate console names", &["named twice"])
            .text(scenario(&[("@CONSOLES@", &format!("{CONSOLE}\n{CONSOLE}"))])),
        // Files the scenario names.
        run_case("[]")
            .named("missing kernel", &["could not load kernel", "no-such-kernel.elf"])
            .text(scenario(&[("@KERNEL@", "@DIR@/no-such-kernel.elf")]))
            .qemu(2),
        run_case("[]")
            .named("kernel is a text file", &["machine.kernel", "a text file, not a kernel"])
            .text(scenario(&[("@KERNEL@", "@DIR@/notes.txt")])),
        run_case("[]")
            .named("[[elf]] is not ELF", &["elf[0].path", "not an ELF file"])
            .text(scenario(&[("@ELF@", "@DIR@/notes.txt")])),
        run_case("[]")
            .named("[[elf]] for the host machine", &["elf[0].path", "not RISC-V 64", host_arch()])
            .text(x86_elf),
        run_case("[]")
            .named("kernel for the host machine", &["machine.kernel", "not RISC-V 64", host_arch()])
            .text(x86_kernel),
        // A scenario must be able to fail.
        run_case("[]")
            .named("no [[console]]", &["cannot fail", "has no [[console]]"])
            .text(scenario(&[("@CONSOLES@", "")])),
        run_case("[]")
            .named("milestones = []", &["cannot fail", "no [[console]] has milestones"])
            .text(scenario(&[("@CONSOLES@", "[[console]]\nname = \"c\"\nattach = \"serial\"\nmilestones = []")])),
        run_case("[]")
            .named("milestones = [] and a text-file kernel", &["cannot fail"])
            .text(scenario(&[
                ("@CONSOLES@", "[[console]]\nname = \"c\"\nattach = \"serial\"\nmilestones = []"),
                ("@KERNEL@", "@DIR@/notes.txt"),
            ])),
        run_case("[]")
            .named("expect hangs without milestones", &["can never be observed"])
            .text(scenario(&[("@CONSOLES@", ""), ("@EXPECT@", "hangs")])),
        Case {
            command: vec!["check", "@SCENARIO@", "--no-build", "--qemu", "@VERSION@"],
            ..run_case("[]")
        }
        .named("check on milestones = []", &["cannot test", "cannot fail"])
        .text(scenario(&[("@CONSOLES@", "[[console]]\nname = \"c\"\nattach = \"serial\"\nmilestones = []")]))
        .qemu(125),
        Case {
            command: vec!["check", "@SCENARIO@", "--no-build", "--qemu", "@VERSION@"],
            ..run_case("[]")
        }
        .named("check, no milestones, only a csr check", &["cannot test", "printed no milestone"])
        .text(scenario(&[
            ("@CONSOLES@", "[[console]]\nname = \"c\"\nattach = \"serial\"\nmilestones = []"),
            ("@OUTCOME@", r#"csr = ["menvcfg == 0 at guest:kvminithart"]"#),
        ]))
        .qemu(125),
        // Registers.
        run_case("[]")
            .named("CSR field typo henvcfg.NOPE", &["outcome[0].csr[0]", "henvcfg has no field \"NOPE\"", "ADUE"])
            .text(scenario(&[("@OUTCOME@", r#"csr = ["henvcfg.NOPE == 1 at guest:kvminithart"]"#)])),
        run_case("[]")
            .named("CSR field near miss henvcfg.ADEU", &["did you mean ADUE"])
            .text(scenario(&[("@OUTCOME@", r#"csr = ["henvcfg.ADEU == 1 at guest:kvminithart"]"#)])),
        run_case("[]")
            .named("register typo in dump", &["breakpoint[0].dump[1]", "did you mean henvcfg"])
            .text(scenario(&[("@DUMP@", r#"["priv", "henvcgf"]"#)])),
        // QEMU options.
        run_case(r#"["-daemonize"]"#).named("-daemonize", &["-daemonize", "outlive the harness"]),
        run_case(r#"["--daemonize"]"#).named("--daemonize", &["--daemonize", "outlive the harness"]),
        run_case(r#"["-pidfile", "@DIR@/qemu.pid"]"#).named("-pidfile", &["-pidfile", "writes a file"]),
        run_case(r#"["-readconfig", "@DIR@/drive.cfg"]"#)
            .named("-readconfig with a snapshot=off drive", &["-readconfig", "further options from a file"]),
        run_case(r#"["-readconfig=@DIR@/drive.cfg"]"#)
            .named("-readconfig=FILE", &["-readconfig", "further options from a file"]),
        run_case(r#"["-gdb", "tcp::1234"]"#).named("-gdb", &["-gdb", "gdbstub"]),
        run_case(r#"["-s"]"#).named("-s", &["-s:", "gdbstub"]),
        run_case(r#"["-S"]"#).named("-S", &["-S:", "starts QEMU stopped"]),
        run_case(r#"["-qmp", "tcp:127.0.0.1:4444,server=on,wait=off"]"#).named("-qmp", &["-qmp", "monitor"]),
        run_case(r#"["-monitor", "stdio"]"#).named("-monitor", &["-monitor", "monitor"]),
        run_case(r#"["-serial", "file:@DIR@/serial.out"]"#).named("-serial", &["-serial", "[[console]]"]),
        run_case(r#"["-chardev", "null,id=console"]"#)
            .named("-chardev with a console's id", &["-chardev", "id console"]),
        run_case(r#"["-chardev", "socket,id=s0,path=@DIR@/disk.img,server=on,wait=off"]"#)
            .named("-chardev socket on an image path", &["-chardev", "deletes whatever file"]),
        run_case(r#"["-D", "@DIR@/qemu.log"]"#).named("-D", &["-D", "reads QEMU's log itself"]),
        run_case(r#"["-d", "int;touch"]"#).named("-d with a bad item", &["not a -d item"]),
        run_case(drive).named("-drive snapshot=off", &["snapshot=off", "never lets QEMU write a disk image"]),
        run_case(r#"["-blockdev", "driver=file,filename=@DIR@/disk.img,node-name=f"]"#)
            .named("-blockdev without read-only", &["-blockdev", "read-only=on"]),
        run_case(r#"["-drive", "file=@DIR@/disk.img,format=raw,if=none,id=d0,file.read-only=off"]"#)
            .named("-drive file.read-only=off", &["read-only=off"]),
        run_case(r#"["-set", "drive.d0.snapshot=off"]"#).named("-set drive snapshot=off", &["drives keep snapshot=on"]),
        run_case(r#"["-object", "memory-backend-file,id=m,size=1M,mem-path=@DIR@/disk.img,share=on"]"#)
            .named("-object memory-backend-file", &["-object", "onto a file"]),
        run_case(r#"["-netdev", "user,id=n0,guestfwd=tcp:10.0.2.100:80-cmd:sleep 1000"]"#)
            .named("-netdev guestfwd cmd", &["-netdev", "runs a command"]),
        run_case(r#"["-plugin", "@DIR@/libx.so"]"#).named("-plugin", &["-plugin", "can do anything"]),
        run_case(r#"["-semihosting"]"#).named("-semihosting", &["-semihosting", "host files"]),
        run_case(r#"["-vnc", ":0"]"#).named("an option nobody checked (-vnc)", &["-vnc", "not among the QEMU options"]),
        run_case(r#"["@DIR@/disk.img"]"#).named("a bare image path", &["disk image to QEMU"]),
        // Allowed options still work.
        run_case(r#"["-d", "guest_errors", "-drive", "file=@DIR@/disk.img,format=raw,if=none,id=d0", "-device", "virtio-blk-device,drive=d0"]"#)
            .named("-d guest_errors and a -drive (accepted)", &["booted (ok"])
            .qemu(0),
        // The QEMU registry.
        Case {
            command: vec!["qemu", "list"],
            env: vec![("HVHARNESS_QEMU", "@DIR@/qemu-system-riscv64".into())],
            ..run_case("[]")
        }
        .named("registered QEMU shadowed by one of the same version", &["is not used", "wins"])
        .qemu(0),
    ]);
    cases
}

/// What `e_machine` the test binary itself has, as the harness names it.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86-64",
        "aarch64" => "AArch64",
        "riscv64" => "RISC-V",
        _ => "ELF file for",
    }
}

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir)
        .expect("the case directory")
        .flatten()
    {
        let p = e.path();
        if p.is_file() {
            out.insert(p.clone(), std::fs::read(&p).expect("a case file"));
        }
    }
    out
}

/// A case's directory: a disk image, a QEMU config file that would open it
/// writable, a text file, a QEMU wrapper (for the registry case).
fn case_dir(version: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("bad-inputs-")
        .tempdir()
        .expect("a temporary directory");
    let d = dir.path();
    let image: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(d.join("disk.img"), image).expect("the image");
    std::fs::write(
        d.join("drive.cfg"),
        format!(
            "[drive]\n  file = \"{}\"\n  format = \"raw\"\n  if = \"none\"\n  id = \"d0\"\n  snapshot = \"off\"\n",
            d.join("disk.img").display()
        ),
    )
    .expect("the config file");
    std::fs::write(d.join("notes.txt"), "this is a text file, not a kernel\n").expect("notes");
    if let Some(b) = common::registry().get(version.parse().expect("a version")) {
        let wrapper = d.join("qemu-system-riscv64");
        std::fs::write(
            &wrapper,
            format!("#!/bin/sh\nexec '{}' \"$@\"\n", b.binary.display()),
        )
        .expect("the wrapper");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
            .expect("the wrapper is executable");
    }
    dir
}

/// The output's line with the case's first expected text (else its first
/// line), with the case's directory written as `DIR`.
fn first_message(out: &str, says: Option<&str>, dir: &str) -> String {
    let lines = || out.lines().map(str::trim).filter(|l| !l.is_empty());
    lines()
        .find(|l| says.is_some_and(|s| l.contains(s)))
        .or_else(|| lines().next())
        .unwrap_or("")
        .replace(dir, "DIR")
        .chars()
        .take(220)
        .collect()
}

/// Runs one case on one QEMU version; `Err` says what was wrong.
fn run(case: &Case, version: &str) -> Result<(i32, String), String> {
    let dir = case_dir(version);
    let d = dir.path().to_string_lossy().into_owned();
    let path = dir.path().join("scenario.toml");
    std::fs::write(&path, case.scenario.replace("@DIR@", &d)).expect("the scenario");
    let before = files(dir.path());
    // QEMUs of this case carry this directory in their command line (the
    // session directory is under TMPDIR).
    let tmp = tempfile::Builder::new()
        .prefix("bad-inputs-tmp-")
        .tempdir()
        .expect("a TMPDIR");
    let needle = tmp.path().to_string_lossy().into_owned();
    let args: Vec<String> = case
        .command
        .iter()
        .map(|a| {
            a.replace("@SCENARIO@", &path.to_string_lossy())
                .replace("@VERSION@", version)
        })
        .collect();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hvharness"));
    cmd.args(&args)
        .env("TMPDIR", tmp.path())
        .env("HVHARNESS_ROOT", common::root())
        .env_remove("HVHARNESS_QEMU")
        .current_dir(dir.path())
        .stdin(Stdio::null());
    for (k, v) in &case.env {
        cmd.env(k, v.replace("@DIR@", &d));
    }
    let out: Output = cmd.output().expect("hvharness runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let code = out.status.code().unwrap_or(-1);
    let describe = || format!("hvharness {}: exit {code}\n{text}", args.join(" "));
    let mut problems = Vec::new();
    if text.contains("panicked") || code == 101 {
        problems.push("it panicked".to_string());
    }
    if code != case.code {
        problems.push(format!("exit {code}, expected {}", case.code));
    }
    for s in &case.says {
        if !text.contains(s) {
            problems.push(format!("the output does not say {s:?}"));
        }
    }
    let deadline = Instant::now() + GONE_LIMIT;
    let mut left = common::qemu_processes_with(&needle);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        left = common::qemu_processes_with(&needle);
    }
    if !left.is_empty() {
        problems.push(format!("QEMU left running: {}", left.join("; ")));
    }
    let after = files(dir.path());
    if before != after {
        let changed: Vec<String> = after
            .keys()
            .chain(before.keys())
            .filter(|p| before.get(*p) != after.get(*p))
            .map(|p| p.display().to_string())
            .collect();
        problems.push(format!("files changed: {}", changed.join(", ")));
    }
    if problems.is_empty() {
        Ok((code, first_message(&text, case.says.first().copied(), &d)))
    } else {
        Err(format!("{}\n{}", problems.join("; "), describe()))
    }
}

#[test]
fn every_bad_input_is_refused_cleanly() {
    common::firmware();
    let mut table = Vec::new();
    let mut failures = Vec::new();
    for case in cases() {
        let versions: Vec<&str> = if case.runs_qemu {
            common::MATRIX.to_vec()
        } else {
            vec![common::NEWEST]
        };
        for version in versions {
            if case.runs_qemu && common::qemu_or_skip(version, case.name).is_none() {
                continue;
            }
            let label = if case.runs_qemu {
                format!("{} (QEMU {version})", case.name)
            } else {
                case.name.to_string()
            };
            match run(&case, version) {
                Ok((code, message)) => table.push((label, code, message)),
                Err(why) => failures.push(format!("{label}: {why}")),
            }
        }
    }
    let mut err = std::io::stderr();
    let _ = writeln!(err, "\n| case | exit | first message line |\n|---|---|---|");
    for (label, code, message) in &table {
        let _ = writeln!(
            err,
            "| {label} | {code} | {} |",
            message.replace('|', "\\|")
        );
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The checks above refuse nothing that ships: every scenario loads.
#[test]
fn every_shipped_scenario_loads() {
    common::firmware();
    let dir = common::root().join("scenarios");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("scenarios/").flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "toml") {
            if let Err(e) = hvharness::Scenario::load(&p) {
                panic!("{}: {e:#}", p.display());
            }
            n += 1;
        }
    }
    assert!(n >= 10, "only {n} scenarios found in {}", dir.display());
}
