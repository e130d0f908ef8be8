//! `hvharness qemu install --from TARBALL` and `qemu remove`, run as the
//! binary with a throwaway data directory, config file, HOME and project root,
//! so the user's own set-up is never read or touched. The good cases use the
//! real prebuilt tarballs in `$HVHARNESS_QEMU_TARBALLS` or `../shared/qemu/`
//! (a missing one prints why the test cannot run); the bad ones are tarballs made here: not a prefix, a
//! binary for another machine (the RISC-V guest ELF), a binary that does not
//! start, and a version installed twice. After every failure the data
//! directory holds nothing new.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        Sandbox { dir }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data/hvharness/qemu")
    }

    fn hvharness(&self, args: &[&str]) -> Output {
        let root = self.dir.path();
        Command::new(env!("CARGO_BIN_EXE_hvharness"))
            .args(args)
            .current_dir(root)
            .env("XDG_DATA_HOME", root.join("data"))
            .env("XDG_CONFIG_HOME", root.join("config"))
            .env("HVHARNESS_CONFIG", root.join("config/qemu.toml"))
            .env("HOME", root)
            // An empty project: no .qemu prefixes to collide with.
            .env("HVHARNESS_ROOT", root.join("root"))
            .env_remove("HVHARNESS_QEMU")
            // No qemu-system-riscv64 from PATH either; tar and xz stay reachable.
            .env("PATH", "/usr/bin:/bin")
            .output()
            .expect("hvharness runs")
    }

    /// What the data directory holds (names), hidden staging dirs included.
    fn contents(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.data()) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A tarball of `tree` (relative path -> file to copy, or None for a directory).
    fn tarball(&self, name: &str, tree: &[(&str, Option<&Path>)]) -> PathBuf {
        let src = self.dir.path().join(format!("src-{name}"));
        for (rel, file) in tree {
            let dest = src.join(rel);
            match file {
                Some(f) => {
                    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                    std::fs::copy(f, &dest)
                        .unwrap_or_else(|e| panic!("copying {}: {e}", f.display()));
                }
                None => std::fs::create_dir_all(&dest).unwrap(),
            }
        }
        let out = self.dir.path().join(format!("{name}.tar.xz"));
        let st = Command::new("tar")
            .arg("-cJf")
            .arg(&out)
            .arg("-C")
            .arg(&src)
            .arg(".")
            .status()
            .expect("tar");
        assert!(st.success());
        out
    }
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "hvharness {}: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The real prebuilt tarball of `version`, looked for where setup.sh looks
/// ($HVHARNESS_QEMU_TARBALLS, then ../shared/qemu from the repository's top),
/// or `None` after saying why not.
fn shared_tarball(version: &str) -> Option<PathBuf> {
    let name = format!("qemu-{version}-riscv64-debian12-x86_64.tar.xz");
    let mut dirs: Vec<PathBuf> = std::env::var_os("HVHARNESS_QEMU_TARBALLS")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    dirs.push(common::root().join("../shared/qemu"));
    if let Some(found) = dirs.iter().map(|d| d.join(&name)).find(|p| p.is_file()) {
        // `qemu install` records the tarball's canonical path.
        return Some(found.canonicalize().unwrap_or(found));
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    common::skipped(&format!(
        "qemu install of the real {version} tarball: no {name} in {} (set HVHARNESS_QEMU_TARBALLS)",
        looked.join(" or ")
    ));
    None
}

/// Runs `args`, expects exit 2 with `needle` in the error, and nothing left behind.
fn fails(sb: &Sandbox, args: &[&str], needle: &str) {
    let before = sb.contents();
    let out = sb.hvharness(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", describe(args, &out));
    assert!(
        err.contains(needle),
        "expected {needle:?}: {}",
        describe(args, &out)
    );
    assert_eq!(
        sb.contents(),
        before,
        "nothing half-installed: {}",
        describe(args, &out)
    );
}

fn list(sb: &Sandbox) -> Vec<Value> {
    let out = sb.hvharness(&["qemu", "list", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        describe(&["qemu", "list", "--json"], &out)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("JSON list")
}

#[test]
fn install_list_reinstall_and_remove_the_real_prebuilt_prefixes() {
    for version in ["8.0.2", "9.2.0"] {
        let Some(tarball) = shared_tarball(version) else {
            continue;
        };
        let sb = Sandbox::new();
        let t = tarball.to_string_lossy().into_owned();
        let args = ["qemu", "install", "--from", t.as_str()];
        let out = sb.hvharness(&args);
        assert!(out.status.success(), "{}", describe(&args, &out));
        assert_eq!(sb.contents(), [version], "one prefix, no staging left");
        let prefix = sb.data().join(version);
        assert!(prefix.join("bin/qemu-system-riscv64").is_file());
        assert!(prefix
            .join("share/qemu/opensbi-riscv64-generic-fw_dynamic.bin")
            .is_file());

        let builds = list(&sb);
        assert_eq!(builds.len(), 1, "{builds:?}");
        assert_eq!(builds[0]["version"], version);
        assert_eq!(builds[0]["origin"], "installed");
        assert_eq!(builds[0]["from"], t.as_str(), "where it came from");
        assert_eq!(
            builds[0]["data_dir"],
            prefix.join("share/qemu").to_string_lossy().as_ref()
        );
        let text = String::from_utf8_lossy(&sb.hvharness(&["qemu", "list"]).stdout).into_owned();
        assert!(
            text.contains("installed") && text.contains(&format!("from {t}")),
            "{text}"
        );

        // The same version again: refused, the first install untouched.
        fails(&sb, &args, &format!("QEMU {version} is already registered"));

        // remove: a version that is not installed is refused, this one goes.
        fails(
            &sb,
            &["qemu", "remove", "1.2.3"],
            "QEMU 1.2.3 is not installed",
        );
        let out = sb.hvharness(&["qemu", "remove", version]);
        assert!(
            out.status.success(),
            "{}",
            describe(&["qemu", "remove", version], &out)
        );
        assert!(sb.contents().is_empty(), "{:?}", sb.contents());
        assert!(list(&sb).is_empty());
    }
}

#[test]
fn bad_tarballs_get_a_clear_error_and_leave_nothing() {
    let sb = Sandbox::new();
    let share: (&str, Option<&Path>) = ("qemu-8.0.2/share/qemu", None);

    // Not a tarball at all.
    let junk = sb.dir.path().join("junk.tar.xz");
    std::fs::write(&junk, b"not a tarball").unwrap();
    fails(
        &sb,
        &["qemu", "install", "--from", junk.to_str().unwrap()],
        "is not a readable tarball",
    );

    // A tarball without the prefix layout.
    let readme = sb.dir.path().join("README");
    std::fs::write(&readme, "hello").unwrap();
    let t = sb.tarball("no-prefix", &[("stuff/README", Some(&readme))]);
    fails(
        &sb,
        &["qemu", "install", "--from", t.to_str().unwrap()],
        "is not a QEMU prefix: expected qemu-X.Y.Z/bin/qemu-system-riscv64",
    );

    // A binary for another machine: the reference firmware's RISC-V ELF.
    let fw = common::firmware();
    let riscv = fw.guest.clone();
    let t = sb.tarball(
        "riscv",
        &[("qemu-8.0.2/bin/qemu-system-riscv64", Some(&riscv)), share],
    );
    fails(
        &sb,
        &["qemu", "install", "--from", t.to_str().unwrap()],
        "built for riscv but this machine is",
    );

    // Host binaries that are no QEMU: one fails, one runs but names no version.
    let t = sb.tarball(
        "false",
        &[
            (
                "qemu-8.0.2/bin/qemu-system-riscv64",
                Some(Path::new("/bin/false")),
            ),
            share,
        ],
    );
    fails(
        &sb,
        &["qemu", "install", "--from", t.to_str().unwrap()],
        "does not start",
    );
    let t = sb.tarball(
        "true",
        &[
            (
                "qemu-8.0.2/bin/qemu-system-riscv64",
                Some(Path::new("/bin/true")),
            ),
            share,
        ],
    );
    fails(
        &sb,
        &["qemu", "install", "--from", t.to_str().unwrap()],
        "printed no QEMU version",
    );

    // A directory that claims another version than the binary reports.
    if let Some(real) = shared_tarball("9.2.0") {
        let unpacked = sb.dir.path().join("unpacked");
        std::fs::create_dir_all(&unpacked).unwrap();
        let st = Command::new("tar")
            .arg("-xJf")
            .arg(&real)
            .arg("-C")
            .arg(&unpacked)
            .status()
            .expect("tar");
        assert!(st.success());
        std::fs::rename(unpacked.join("qemu-9.2.0"), unpacked.join("qemu-9.1.0")).unwrap();
        let t = sb.dir.path().join("renamed.tar");
        let st = Command::new("tar")
            .arg("-cf")
            .arg(&t)
            .arg("-C")
            .arg(&unpacked)
            .arg("qemu-9.1.0")
            .status()
            .expect("tar");
        assert!(st.success());
        fails(
            &sb,
            &["qemu", "install", "--from", t.to_str().unwrap()],
            "the directory says QEMU 9.1.0 but the binary reports 9.2.0",
        );
    }
    assert!(sb.contents().is_empty(), "{:?}", sb.contents());
}

/// A "QEMU repository" whose tag `vVERSION` names VERSION in a file, and a
/// later commit that names no real version (building it would fail).
fn tagged_source(sb: &Sandbox, version: &str) -> PathBuf {
    let src = sb.dir.path().join("qemu-src");
    std::fs::create_dir_all(&src).unwrap();
    common::git(&src, &["init", "-q", "-b", "master"]);
    std::fs::write(src.join("qemu-version"), format!("{version}\n")).unwrap();
    common::git(&src, &["add", "-A"]);
    common::git(
        &src,
        &[
            "commit",
            "-q",
            "-m",
            &format!("Update version for v{version} release"),
        ],
    );
    common::git(&src, &["tag", &format!("v{version}")]);
    std::fs::write(src.join("qemu-version"), "0.0.0\n").unwrap();
    common::git(&src, &["commit", "-q", "-am", "after the release"]);
    src
}

/// The fake build: counts itself into `counter`, then links this machine's
/// real QEMU of the version the tree names, with its firmware as pc-bios/.
fn fake_build(counter: &Path) -> String {
    let prefixes = common::root().join(".qemu");
    format!(
        "echo built >> '{}'; v=$(cat qemu-version); \
         ln -sfn '{p}'/$v/usr/bin/qemu-system-riscv64 \"$HVHARNESS_QEMU_BUILD/qemu-system-riscv64\" && \
         ln -sfn '{p}'/$v/usr/share/qemu \"$HVHARNESS_QEMU_BUILD/pc-bios\"",
        counter.display(),
        p = prefixes.display()
    )
}

/// `qemu build VERSION --source --install` with a fake build command: the
/// tag is built (not HEAD), the prefix is installed where `qemu install`
/// puts one and the registry lists it with its origin; installing the same
/// version again is refused before anything is built; `bisect clean` removes
/// the build directory and its worktree. For 9.2.0 also `--pack`: the
/// tarball installs with `qemu install` in a fresh data directory.
fn qemu_build_installs_a_prefix(version: &str) {
    if common::qemu_or_skip(version, "qemu build").is_none() {
        return;
    }
    let sb = Sandbox::new();
    let src = tagged_source(&sb, version);
    let counter = sb.dir.path().join("builds.txt");
    let build_dir = sb.dir.path().join("build");
    let packs = sb.dir.path().join("packs");
    let cmd = fake_build(&counter);
    let (s, b) = (
        src.to_string_lossy().into_owned(),
        build_dir.to_string_lossy().into_owned(),
    );
    let p = packs.to_string_lossy().into_owned();
    let mut args = vec![
        "qemu",
        "build",
        version,
        "--source",
        &s,
        "--install",
        "--build-dir",
        &b,
        "--build-cmd",
        &cmd,
    ];
    let pack = version == "9.2.0";
    if pack {
        args.extend(["--pack", &p]);
    }
    let out = sb.hvharness(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("built QEMU {version} at v{version} (")),
        "{stdout}"
    );
    assert_eq!(sb.contents(), [version], "one prefix, no staging left");
    let prefix = sb.data().join(version);
    assert!(prefix.join("bin/qemu-system-riscv64").is_file());
    assert!(prefix
        .join("share/qemu/opensbi-riscv64-generic-fw_dynamic.bin")
        .is_file());

    let builds = list(&sb);
    assert_eq!(builds.len(), 1, "{builds:?}");
    assert_eq!(builds[0]["version"], version);
    assert_eq!(builds[0]["origin"], "installed");
    let canonical = src.canonicalize().unwrap();
    assert_eq!(builds[0]["from"], canonical.to_string_lossy().as_ref());
    let text = String::from_utf8_lossy(&sb.hvharness(&["qemu", "list"]).stdout).into_owned();
    assert!(text.contains(&format!(" at v{version} (")), "{text}");

    // Again: refused up front, nothing built.
    let before = std::fs::read_to_string(&counter).unwrap();
    fails(&sb, &args, &format!("QEMU {version} is already known"));
    assert_eq!(std::fs::read_to_string(&counter).unwrap(), before);

    if pack {
        // qemu-VERSION-riscv64-<os><release>-<arch>.tar.xz, as setup.sh names them.
        let names: Vec<String> = std::fs::read_dir(&packs)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        let name = names
            .iter()
            .find(|n| {
                n.starts_with(&format!("qemu-{version}-riscv64-"))
                    && n.ends_with(&format!("-{}.tar.xz", std::env::consts::ARCH))
            })
            .unwrap_or_else(|| panic!("no tarball in {names:?}"))
            .clone();
        assert_eq!(names.len(), 2, "the tarball and its .sha256: {names:?}");
        let tarball = packs.join(&name);
        let sums = std::fs::read_to_string(packs.join(format!("{name}.sha256")))
            .expect("the .sha256 beside the tarball");
        assert!(sums.ends_with(&format!("  {name}\n")), "{sums}");
        let fresh = Sandbox::new();
        let t = tarball.to_string_lossy().into_owned();
        let install = ["qemu", "install", "--from", t.as_str()];
        let out = fresh.hvharness(&install);
        assert!(out.status.success(), "{}", describe(&install, &out));
        assert_eq!(list(&fresh)[0]["version"], version);
    }

    let clean = ["bisect", "clean", "--build-dir", &b];
    let out = sb.hvharness(&clean);
    assert!(out.status.success(), "{}", describe(&clean, &out));
    assert!(!build_dir.exists());
    assert_eq!(
        common::git(&src, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
}

common::per_version! {
    fn qemu_build_installs_a_prefix;
}
