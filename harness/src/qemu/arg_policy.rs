//! What a scenario may put on QEMU's command line (`machine.args`): the one
//! place that decides.
//!
//! The harness promises that no QEMU outlives it and that a disk image is
//! never written, and it owns QEMU's control channels (gdbstub, QMP,
//! consoles, the `-d` log it reads traps from). An option that could break
//! any of that is refused when the scenario is loaded, with the option and
//! the reason in the message. The rule is a list of what is allowed, not of
//! what is forbidden: QEMU has hundreds of options and grows more, and an
//! option nobody looked at is refused until someone does.
//!
//! Allowed options are checked in their values too: every `-drive` runs with
//! `snapshot=on` (appended when missing; the guest's writes go to a temporary
//! overlay), a `-blockdev` must be `read-only=on`, `-netdev` may not start a
//! helper process, `-chardev` may not open a file or a socket path, and so
//! on. `-d` items are taken out of the list and merged into the harness's
//! own `-d` (whose log the harness reads), see [`Checked::log_items`].
//! QEMU reads `-opt`, `--opt` alike; `-opt=value` is read as `-opt value`.

use anyhow::{anyhow, bail, Result};

/// The arguments as QEMU gets them, and the `-d` items taken out of them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Checked {
    /// The arguments, in order, with `-drive` values forced to snapshot=on
    /// and `-opt=value` split into two words.
    pub(crate) args: Vec<String>,
    /// `-d` items, for the harness's own `-d` (next to `int`).
    pub(crate) log_items: Vec<String>,
}

/// Chardev ids QEMU gives the harness's own `-qmp` and `-gdb`.
const HARNESS_CHARDEVS: &[&str] = &["compat_monitor0", "gdb"];

/// Options refused whatever their value, and why.
const REFUSED: &[(&str, &str)] = &[
    ("daemonize", "QEMU would leave the harness's process group and outlive the harness"),
    ("pidfile", "writes a file the harness does not own"),
    ("readconfig", "reads further options from a file the harness does not check (a [drive] section there can open an image writable)"),
    ("writeconfig", "writes a file the harness does not own"),
    ("gdb", "the harness opens QEMU's gdbstub itself and attaches its own debugger"),
    ("s", "the harness opens QEMU's gdbstub itself and attaches its own debugger"),
    ("S", "the harness starts QEMU stopped and resumes it itself"),
    ("qmp", "the harness owns QEMU's monitor (QMP)"),
    ("qmp-pretty", "the harness owns QEMU's monitor (QMP)"),
    ("monitor", "the harness owns QEMU's monitor (QMP)"),
    ("mon", "the harness owns QEMU's monitor (QMP)"),
    ("serial", "consoles are [[console]] tables: the harness attaches the serial ports and reads them"),
    ("parallel", "opens a character device the harness does not read; use a [[console]]"),
    ("debugcon", "opens a character device the harness does not read; use a [[console]]"),
    ("D", "the harness reads QEMU's log itself (the interrupt log is how it sees traps); -d items in args are merged into its log"),
    ("dfilter", "filters the log the harness reads its traps from"),
    ("machine", "the machine is machine.machine in the scenario (properties go there too: \"virt,aia=aplic-imsic\")"),
    ("M", "the machine is machine.machine in the scenario (properties go there too: \"virt,aia=aplic-imsic\")"),
    ("cpu", "the CPU is machine.cpu in the scenario"),
    ("smp", "the hart count is machine.smp in the scenario (the harness checks harts against it)"),
    ("m", "the memory size is machine.memory in the scenario"),
    ("bios", "the firmware is machine.bios in the scenario"),
    ("kernel", "the kernel is machine.kernel in the scenario"),
    ("plugin", "loads code into QEMU that can do anything (write files, start processes)"),
    ("semihosting", "lets the guest open and write host files"),
    ("semihosting-config", "lets the guest open and write host files"),
    ("virtfs", "lets the guest write a host directory"),
    ("fsdev", "lets the guest write a host directory"),
    ("incoming", "waits for a migration (exec: runs a command)"),
    ("async-teardown", "starts a process that outlives QEMU"),
    ("run-with", "starts a process that outlives QEMU, or changes QEMU's root or user"),
    ("runas", "changes QEMU's user: the harness could not kill it"),
    ("chroot", "changes QEMU's root: the harness's sockets and log would not be found"),
    ("mem-path", "maps guest memory onto a file, which QEMU may create, resize and write"),
    ("dump-vmstate", "writes a file and exits"),
    ("loadvm", "restores a snapshot from a disk image instead of booting"),
];

/// Options taking no value that a scenario may pass.
const FLAGS: &[&str] = &[
    "snapshot",
    "no-reboot",
    "no-shutdown",
    "nodefaults",
    "mem-prealloc",
];

/// Options taking a value that a scenario may pass, each checked by [`value`].
const WITH_VALUE: &[&str] = &[
    "device",
    "global",
    "drive",
    "blockdev",
    "hda",
    "hdb",
    "hdc",
    "hdd",
    "cdrom",
    "fda",
    "fdb",
    "sd",
    "pflash",
    "mtdblock",
    "append",
    "initrd",
    "dtb",
    "fw_cfg",
    "rtc",
    "icount",
    "accel",
    "boot",
    "numa",
    "L",
    "object",
    "netdev",
    "nic",
    "net",
    "chardev",
    "d",
    "trace",
    "set",
    "name",
    "uuid",
    "action",
    "overcommit",
    "msg",
    "k",
    "watchdog-action",
];

/// Checks `args` (a scenario's `machine.args`); `consoles` are the
/// harness's console chardev ids. The error names the option and why.
pub(crate) fn check(args: &[String], consoles: &[String]) -> Result<Checked> {
    let mut out = Checked::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(name) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            bail!(
                "{arg:?}: a word that is not an option is a disk image to QEMU (opened like -hda); \
                 attach images with -drive"
            );
        };
        let (name, inline) = match name.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (name, None),
        };
        if let Some((_, why)) = REFUSED.iter().find(|(n, _)| *n == name) {
            bail!("{arg}: refused: {why}");
        }
        if FLAGS.contains(&name) {
            if inline.is_some() {
                bail!("{arg}: -{name} takes no value");
            }
            out.args.push(format!("-{name}"));
            continue;
        }
        if !WITH_VALUE.contains(&name) {
            bail!(
                "{arg}: not among the QEMU options a scenario may pass (each was checked against \
                 the harness's promises: no QEMU outlives it, no disk image is written): {}",
                allowed_list()
            );
        }
        let given = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| anyhow!("{arg} needs a value (it is the last argument)"))?,
        };
        let checked = value(name, &given, consoles)
            .map_err(|why| anyhow!("-{name} {given}: refused: {why}"))?;
        match checked {
            Value::Log(items) => {
                for i in items {
                    if !out.log_items.contains(&i) {
                        out.log_items.push(i);
                    }
                }
            }
            Value::Pass(v) => {
                out.args.push(format!("-{name}"));
                out.args.push(v);
            }
        }
    }
    Ok(out)
}

/// Every option a scenario may pass, for the refusal of another.
fn allowed_list() -> String {
    let mut all: Vec<String> = FLAGS
        .iter()
        .chain(WITH_VALUE)
        .map(|o| format!("-{o}"))
        .collect();
    all.sort();
    all.join(" ")
}

/// What becomes of an allowed option's value.
enum Value {
    /// Passed on (possibly rewritten).
    Pass(String),
    /// `-d` items, merged into the harness's log.
    Log(Vec<String>),
}

/// Checks one option's value; `Err` is why it is refused.
fn value(name: &str, v: &str, consoles: &[String]) -> std::result::Result<Value, String> {
    let pass = |v: &str| Ok(Value::Pass(v.to_string()));
    match name {
        "drive" => drive(v).map(Value::Pass),
        "blockdev" => blockdev(v).map(|()| Value::Pass(v.to_string())),
        "set" => set(v).map(|()| Value::Pass(v.to_string())),
        "netdev" | "nic" | "net" => netdev(v).map(|()| Value::Pass(v.to_string())),
        "chardev" => chardev(v, consoles).map(|()| Value::Pass(v.to_string())),
        "object" => object(v).map(|()| Value::Pass(v.to_string())),
        "d" => log_items(v).map(Value::Log),
        "trace" if opts(v).iter().any(|(k, _)| k == "file") => Err(
            "trace file= writes a file the harness does not own; traces go to the harness's log"
                .into(),
        ),
        "icount" if opts(v).iter().any(|(k, _)| k == "rr" || k == "rrfile") => {
            Err("record/replay reads or writes a file the harness does not own".into())
        }
        "global" if v.contains("dumpdtb") => Err("dumpdtb writes a file and exits".into()),
        _ => pass(v),
    }
}

/// `-drive`: forced to snapshot=on; an explicit off, or a read-only=off, is
/// refused rather than quietly rewritten, so that nobody believes a disk was
/// written when it was not.
fn drive(value: &str) -> std::result::Result<String, String> {
    const WHY: &str = "hvharness never lets QEMU write a disk image: every -drive runs with \
                       snapshot=on (the guest's writes go to a temporary overlay and are dropped)";
    let mut has_on = false;
    for (key, v) in opts(value) {
        match (key.as_str(), v.as_deref()) {
            ("snapshot", None) => has_on = true,
            ("snapshot", Some(v)) => match parse_bool(v) {
                Some(true) => has_on = true,
                Some(false) => return Err(format!("remove snapshot=off. {WHY}")),
                None => return Err(format!("snapshot={v} is not on or off. {WHY}")),
            },
            ("nosnapshot", None) => return Err(format!("remove nosnapshot. {WHY}")),
            _ => {}
        }
    }
    writable_anywhere(value).map_err(|e| format!("{e}. {WHY}"))?;
    Ok(if has_on {
        value.to_string()
    } else if value.is_empty() || trailing_separator(value) {
        format!("{value}snapshot=on")
    } else {
        format!("{value},snapshot=on")
    })
}

/// `-blockdev`: it has no snapshot mode, so it must be read-only.
fn blockdev(value: &str) -> std::result::Result<(), String> {
    let read_only = if value.trim_start().starts_with('{') {
        serde_json::from_str::<serde_json::Value>(value)
            .ok()
            .and_then(|j| j.get("read-only").and_then(|r| r.as_bool()))
            .unwrap_or(false)
    } else {
        opts(value)
            .iter()
            .any(|(k, v)| k == "read-only" && v.as_deref().and_then(parse_bool) == Some(true))
    };
    if !read_only {
        return Err(
            "a -blockdev has no snapshot mode and may write its file; add read-only=on, or attach \
             the image with -drive (hvharness never lets QEMU write a disk image)"
                .into(),
        );
    }
    writable_anywhere(value)
}

/// A `read-only=off` on any node (`file.read-only=off`, or in JSON) opens
/// that node's file writable whatever the node above says.
fn writable_anywhere(value: &str) -> std::result::Result<(), String> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let json_off =
        compact.contains("\"read-only\":false") || compact.contains("\"read-only\":\"off\"");
    let opt_off = opts(value).iter().any(|(k, v)| {
        (k == "read-only" || k.ends_with(".read-only"))
            && v.as_deref().and_then(parse_bool) == Some(false)
    });
    if json_off || opt_off {
        return Err("remove read-only=off: it opens the image writable".into());
    }
    Ok(())
}

/// `-set GROUP.ID.KEY=VALUE`: only device and drive properties, and never
/// a drive's snapshot or read-only off.
fn set(value: &str) -> std::result::Result<(), String> {
    let Some((path, v)) = value.split_once('=') else {
        return Err("expected GROUP.ID.KEY=VALUE".into());
    };
    let group = path.split('.').next().unwrap_or_default();
    let key = path.rsplit('.').next().unwrap_or_default();
    match group {
        "device" => Ok(()),
        "drive" if key == "snapshot" && parse_bool(v) != Some(true) => {
            Err("drives keep snapshot=on (hvharness never lets QEMU write a disk image)".into())
        }
        "drive" if key.ends_with("read-only") && parse_bool(v) == Some(false) => {
            Err("read-only=off opens the image writable (hvharness never lets QEMU write a disk image)".into())
        }
        "drive" => Ok(()),
        other => Err(format!(
            "-set {other}.* is not checked by the harness; set the property where the option is given"
        )),
    }
}

/// `-netdev`/`-nic`/`-net`: network back ends that start no process.
fn netdev(value: &str) -> std::result::Result<(), String> {
    let items = json_or_opts(value);
    let kind = kind_of(&items, &["type"]);
    if !matches!(
        kind.as_str(),
        "user" | "socket" | "stream" | "dgram" | "hubport" | "none" | "nic"
    ) {
        return Err(format!(
            "network back end {kind:?} is not allowed (tap and bridge run helper scripts or \
             programs, others open host devices); use user, socket, stream, dgram or hubport"
        ));
    }
    for (k, v) in &items {
        let v = v.as_deref().unwrap_or_default();
        if k == "smb" {
            return Err("smb= starts an smbd that can write a host directory".into());
        }
        if k == "guestfwd" && v.contains("cmd:") {
            return Err("guestfwd=...-cmd: runs a command".into());
        }
        if k == "script" || k == "downscript" || k == "helper" {
            return Err(format!("{k}= runs a program"));
        }
    }
    Ok(())
}

/// `-chardev`: back ends that open no file and no socket path, with an id
/// the harness does not use.
fn chardev(value: &str, consoles: &[String]) -> std::result::Result<(), String> {
    let items = opts(value);
    let kind = kind_of(&items, &["backend"]);
    if let Some(id) = items
        .iter()
        .find(|(k, _)| k == "id")
        .and_then(|(_, v)| v.clone())
    {
        if consoles.contains(&id) {
            return Err(format!(
                "id {id} is the harness's chardev for [[console]] {id:?}"
            ));
        }
        if HARNESS_CHARDEVS.contains(&id.as_str()) {
            return Err(format!("id {id} is the harness's own (its QMP or gdbstub)"));
        }
    }
    if items.iter().any(|(k, _)| k == "logfile") {
        return Err("logfile= writes a file the harness does not own".into());
    }
    match kind.as_str() {
        "null" | "ringbuf" | "memory" => Ok(()),
        "socket" if items.iter().any(|(k, _)| k == "path") => Err(
            "a unix socket path: QEMU deletes whatever file is at that path before it listens".into(),
        ),
        "socket" | "udp" => Ok(()),
        other => Err(format!(
            "back end {other:?} is not allowed (file, pipe, serial, parallel, stdio, pty and \
             spice open host files or terminals); use null, ringbuf, socket (host/port) or a [[console]]"
        )),
    }
}

/// `-object`: types that open no file for writing.
fn object(value: &str) -> std::result::Result<(), String> {
    let items = json_or_opts(value);
    let kind = kind_of(&items, &["qom-type"]);
    match kind.as_str() {
        "memory-backend-file" => {
            Err("maps guest memory onto a file, which QEMU may create, resize and write".into())
        }
        "filter-dump" => Err("writes a packet dump file the harness does not own".into()),
        "input-linux" => Err("grabs a host input device".into()),
        _ => Ok(()),
    }
}

/// `-d` items: merged into the harness's own `-d`, its log read by the harness.
fn log_items(value: &str) -> std::result::Result<Vec<String>, String> {
    let items: Vec<String> = value.split(',').map(|i| i.trim().to_string()).collect();
    for i in &items {
        let ok = !i.is_empty()
            && i.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '*' | '-' | '.'));
        if !ok {
            return Err(format!(
                "{i:?} is not a -d item (e.g. guest_errors, unimp, trace:NAME)"
            ));
        }
    }
    Ok(items)
}

/// The option's kind: the first item when it has no `=` (`user,id=n0`), or
/// one of `keys` (`type=user`, `"qom-type": "..."`).
fn kind_of(items: &[(String, Option<String>)], keys: &[&str]) -> String {
    if let Some((k, None)) = items.first() {
        return k.clone();
    }
    items
        .iter()
        .find(|(k, _)| keys.contains(&k.as_str()))
        .and_then(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// A value in QEMU's `key=value` form or (for `-netdev`, `-object`) JSON,
/// as key/value pairs (JSON: the top level, values as text).
fn json_or_opts(value: &str) -> Vec<(String, Option<String>)> {
    if value.trim_start().starts_with('{') {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(value) {
            return map
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, Some(text))
                })
                .collect();
        }
    }
    opts(value)
}

/// The `key=value` items of a QEMU option string, in order; `,,` is a comma
/// inside a value (`file=a,,b.img` names the file `a,b.img`).
fn opts(value: &str) -> Vec<(String, Option<String>)> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != ',' {
            current.push(c);
        } else if chars.peek() == Some(&',') {
            chars.next();
            current.push(',');
        } else {
            items.push(std::mem::take(&mut current));
        }
    }
    items.push(current);
    items
        .into_iter()
        .filter(|i| !i.is_empty())
        .map(|i| match i.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (i, None),
        })
        .collect()
}

/// Whether `value` ends in a separating comma (an odd number of commas; two
/// are an escaped one).
fn trailing_separator(value: &str) -> bool {
    value.chars().rev().take_while(|&c| c == ',').count() % 2 == 1
}

/// QEMU's boolean option values.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "on" | "yes" | "true" | "y" => Some(true),
        "off" | "no" | "false" | "n" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
