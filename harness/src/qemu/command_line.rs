//! QEMU's command line for one machine: the machine, its consoles, the
//! gdbstub and the interrupt log, in the order QEMU reads them.

use std::ffi::OsString;
use std::path::Path;

use anyhow::Result;

use super::process::{ConsoleAttach, LaunchOptions, MachineSpec, DEBUG_FIFO};
use super::registry::QemuBuild;

/// The full QEMU argument list for `spec`.
///
/// The extra arguments pass [`super::arg_policy`] first (the one place that
/// decides what a scenario may add): every `-drive` there runs with
/// `snapshot=on`, and options that would break the harness's control or let
/// QEMU write an image or outlive the harness are refused. `-snapshot` is
/// added as well, for the short forms (`-hda`, `-cdrom`, `-sd`, `-pflash`,
/// ...). The scenario's `-d` items join the harness's own.
pub(crate) fn command_line(
    build: &QemuBuild,
    spec: &MachineSpec,
    opts: &LaunchOptions,
    dir: &Path,
    gdb_port: Option<u16>,
) -> Result<Vec<OsString>> {
    let consoles: Vec<String> = spec.consoles.iter().map(|c| c.name.clone()).collect();
    let extra = super::arg_policy::check(&spec.extra_args, &consoles)?;
    let mut a: Vec<OsString> = Vec::new();
    machine_args(&mut a, build, spec);
    let mut push = |s: &str| a.push(OsString::from(s));
    push("-S");
    push("-display");
    push("none");
    push("-monitor");
    push("none");
    push("-qmp");
    push(&format!(
        "unix:{},server=on,wait=off",
        dir.join("qmp.sock").display()
    ));
    console_args(&mut a, spec, dir);
    let mut push = |s: &str| a.push(OsString::from(s));
    if let Some(port) = gdb_port {
        push("-gdb");
        push(&format!("tcp:127.0.0.1:{port}"));
    }
    if let Some(log) = &opts.debug_log {
        push("-d");
        push(&merged_log_items(&log.items, &extra.log_items));
        push("-D");
        push(&dir.join(DEBUG_FIFO).to_string_lossy());
    }
    // Short drive options (-hda, -cdrom, ...) take no snapshot= of their own.
    push("-snapshot");
    for x in &extra.args {
        push(x);
    }
    Ok(a)
}

/// The machine: firmware directory, board, CPU, harts, memory, firmware and kernel.
fn machine_args(a: &mut Vec<OsString>, build: &QemuBuild, spec: &MachineSpec) {
    let mut push = |s: &str| a.push(OsString::from(s));
    if let Some(data) = &build.data_dir {
        push("-L");
        push(&data.to_string_lossy());
    }
    push("-machine");
    push(&spec.machine);
    push("-cpu");
    push(&spec.cpu);
    push("-smp");
    push(&spec.smp.to_string());
    push("-m");
    push(&spec.memory);
    if let Some(bios) = &spec.bios {
        push("-bios");
        push(bios);
    }
    if let Some(kernel) = &spec.kernel {
        push("-kernel");
        push(&kernel.to_string_lossy());
    }
}

/// A socket chardev in `dir` for each console, attached as the spec says;
/// `-serial none` when no console is the serial port.
fn console_args(a: &mut Vec<OsString>, spec: &MachineSpec, dir: &Path) {
    let mut push = |s: &str| a.push(OsString::from(s));
    let mut has_serial = false;
    for c in &spec.consoles {
        push("-chardev");
        // server=on,wait=off spelled out: QEMU 8.2 rejects the bare `server` flag.
        push(&format!(
            "socket,id={},path={},server=on,wait=off",
            c.name,
            dir.join(format!("{}.sock", c.name)).display()
        ));
        match &c.attach {
            ConsoleAttach::Serial => {
                has_serial = true;
                push("-serial");
                push(&format!("chardev:{}", c.name));
            }
            ConsoleAttach::PciSerial => {
                push("-device");
                push(&format!("pci-serial,chardev={}", c.name));
            }
            ConsoleAttach::Device(dev) => {
                push("-device");
                push(&format!("{dev},chardev={}", c.name));
            }
        }
    }
    if !has_serial {
        push("-serial");
        push("none");
    }
}

/// The harness's `-d` items, then the scenario's that it does not already
/// have (a scenario's `-d` items go into the log the harness reads; without
/// a harness log they are not passed at all).
fn merged_log_items(harness: &str, scenario: &[String]) -> String {
    let mut items: Vec<&str> = harness.split(',').collect();
    for i in scenario {
        if !items.contains(&i.as_str()) {
            items.push(i);
        }
    }
    items.join(",")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::*;
    use crate::qemu::process::DebugLog;
    use crate::qemu::registry::Origin;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// A QEMU 10.0.2 build (never run) and a one-hart virt machine with
    /// `extra` as its scenario's further options.
    fn build_and_machine(extra: &[&str]) -> (QemuBuild, MachineSpec) {
        let build = QemuBuild {
            version: "10.0.2".parse().unwrap(),
            binary: PathBuf::from("/q/qemu-system-riscv64"),
            data_dir: None,
            origin: Origin::Path,
        };
        let spec = MachineSpec {
            machine: "virt".into(),
            cpu: "rv64".into(),
            smp: 1,
            memory: "128M".into(),
            bios: None,
            kernel: None,
            consoles: vec![],
            extra_args: args(extra),
        };
        (build, spec)
    }

    /// The command line as text.
    fn text_line(
        build: &QemuBuild,
        spec: &MachineSpec,
        opts: &LaunchOptions,
    ) -> Result<Vec<String>> {
        Ok(command_line(build, spec, opts, Path::new("/s"), None)?
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect())
    }

    /// A scenario's `-d` items join the harness's `int` in the one `-d`,
    /// whose log still goes to the harness's FIFO.
    #[test]
    fn scenario_log_items_join_the_harness_log() {
        let (build, spec) = build_and_machine(&["-d", "guest_errors,int", "--d=unimp"]);
        let opts = LaunchOptions {
            gdbstub: false,
            debug_log: Some(DebugLog {
                items: "int".into(),
                sink: Arc::new(crate::qemu::trap_log::SharedTrapLog::expecting(1, None)),
            }),
        };
        let line = text_line(&build, &spec, &opts).unwrap();
        let d: Vec<usize> = (0..line.len()).filter(|&i| line[i] == "-d").collect();
        assert_eq!(d.len(), 1, "one -d: {line:?}");
        assert_eq!(line[d[0] + 1], "int,guest_errors,unimp");
        let dd = line.iter().position(|a| a == "-D").expect("-D");
        assert_eq!(line[dd + 1], format!("/s/{DEBUG_FIFO}"));
        assert_eq!(line.iter().filter(|a| *a == "-D").count(), 1);
    }

    #[test]
    fn command_line_runs_every_drive_with_snapshot() {
        let (build, spec) = build_and_machine(&[
            "-drive",
            "file=/d.img,format=raw,if=none,id=d0",
            "-hda",
            "/e.img",
        ]);
        let line = text_line(&build, &spec, &LaunchOptions::default()).unwrap();
        assert!(line.contains(&"-snapshot".to_string()), "{line:?}");
        assert!(
            line.contains(&"file=/d.img,format=raw,if=none,id=d0,snapshot=on".to_string()),
            "{line:?}"
        );
        let bad = MachineSpec {
            extra_args: args(&["-drive", "file=/d.img,snapshot=off"]),
            ..spec
        };
        assert!(text_line(&build, &bad, &LaunchOptions::default()).is_err());
    }
}
