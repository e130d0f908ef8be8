//! The argument policy, option by option: what passes (and how it is
//! rewritten) and what is refused with which reason.

use super::*;

fn consoles() -> Vec<String> {
    vec!["vm0".to_string(), "vm1".to_string()]
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn protected(v: &[&str]) -> Vec<String> {
    check(&args(v), &consoles()).expect("accepted").args
}

fn refused(v: &[&str]) -> String {
    match check(&args(v), &consoles()) {
        Ok(a) => panic!("accepted: {a:?}"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn drive_without_snapshot_gets_snapshot_on() {
    assert_eq!(
        protected(&[
            "-drive",
            "file=disk.img,format=raw,if=none,id=d0",
            "-device",
            "virtio-blk-device,drive=d0"
        ]),
        args(&[
            "-drive",
            "file=disk.img,format=raw,if=none,id=d0,snapshot=on",
            "-device",
            "virtio-blk-device,drive=d0"
        ])
    );
    assert_eq!(
        protected(&["--drive", "file=a.img"]),
        args(&["-drive", "file=a.img,snapshot=on"])
    );
    // A trailing separator is not doubled into an escaped comma.
    assert_eq!(
        protected(&["-drive", "file=a.img,"]),
        args(&["-drive", "file=a.img,snapshot=on"])
    );
    // An escaped comma at the end stays part of the value.
    assert_eq!(
        protected(&["-drive", "file=a,,"]),
        args(&["-drive", "file=a,,,snapshot=on"])
    );
}

#[test]
fn drive_with_snapshot_on_is_kept() {
    for v in [
        "file=a.img,snapshot=on",
        "snapshot=on,file=a.img",
        "file=a.img,snapshot",
        "file=a.img,snapshot=yes",
    ] {
        assert_eq!(protected(&["-drive", v]), args(&["-drive", v]));
    }
}

#[test]
fn snapshot_off_is_refused() {
    for v in [
        "file=disk.img,snapshot=off",
        "file=disk.img,snapshot=no",
        "file=disk.img,nosnapshot",
    ] {
        let e = refused(&["-drive", v]);
        assert!(
            e.contains(v) && e.contains("never lets QEMU write a disk image"),
            "{e}"
        );
    }
    let e = refused(&["-drive", "file=disk.img,snapshot=sometimes"]);
    assert!(e.contains("snapshot=sometimes is not on or off"), "{e}");
    let e = refused(&[
        "-drive",
        "file=d.img,id=d0",
        "-set",
        "drive.d0.snapshot=off",
    ]);
    assert!(e.contains("drive.d0.snapshot=off"), "{e}");
    // Other -set options pass.
    assert_eq!(
        protected(&["-set", "device.x.foo=off"]),
        args(&["-set", "device.x.foo=off"])
    );
}

#[test]
fn escaped_commas_are_part_of_the_file_name() {
    // The file is called "x,snapshot=off.img": no option is set.
    assert_eq!(
        protected(&["-drive", "file=x,,snapshot=off.img"]),
        args(&["-drive", "file=x,,snapshot=off.img,snapshot=on"])
    );
}

#[test]
fn blockdev_must_be_read_only() {
    let e = refused(&["-blockdev", "driver=file,filename=d.img,node-name=f"]);
    assert!(e.contains("read-only=on"), "{e}");
    let v = "driver=file,filename=d.img,node-name=f,read-only=on";
    assert_eq!(protected(&["-blockdev", v]), args(&["-blockdev", v]));
    let j = r#"{"driver":"file","filename":"d.img","node-name":"f","read-only":true}"#;
    assert_eq!(protected(&["-blockdev", j]), args(&["-blockdev", j]));
    refused(&[
        "-blockdev",
        r#"{"driver":"file","filename":"d.img","node-name":"f"}"#,
    ]);
}

#[test]
fn option_without_value_is_an_error() {
    let e = refused(&["-drive"]);
    assert!(e.contains("needs a value"), "{e}");
}

/// Every refusal names the option and says why.
#[test]
fn options_that_break_the_harness_are_refused_with_a_reason() {
    let cases: &[(&[&str], &str)] = &[
        (&["-daemonize"], "outlive the harness"),
        (&["--daemonize"], "outlive the harness"),
        (&["-pidfile", "/tmp/p"], "writes a file"),
        (&["-readconfig", "drive.cfg"], "further options from a file"),
        (&["-readconfig=drive.cfg"], "further options from a file"),
        (&["-gdb", "tcp::1234"], "gdbstub"),
        (&["-s"], "gdbstub"),
        (&["-S"], "starts QEMU stopped"),
        (&["-qmp", "tcp:127.0.0.1:4444"], "monitor"),
        (&["-monitor", "stdio"], "monitor"),
        (&["-serial", "stdio"], "[[console]]"),
        (&["-D", "/tmp/log"], "reads QEMU's log itself"),
        (&["--D=/tmp/log"], "reads QEMU's log itself"),
        (&["-chardev", "null,id=vm0"], "[[console]] \"vm0\""),
        (
            &["-chardev", "socket,id=x,path=/tmp/disk.img,server=on"],
            "deletes whatever file",
        ),
        (
            &["-chardev", "file,id=x,path=/tmp/out"],
            "back end \"file\"",
        ),
        (&["-chardev", "null,id=x,logfile=/tmp/l"], "logfile="),
        (&["-chardev", "null,id=gdb"], "harness's own"),
        (&["-netdev", "tap,id=n0"], "tap and bridge"),
        (&["-netdev", "user,id=n0,smb=/home"], "smbd"),
        (
            &["-netdev", "user,id=n0,guestfwd=tcp:10.0.2.100:1-cmd:sh"],
            "runs a command",
        ),
        (
            &[
                "-object",
                "memory-backend-file,id=m,mem-path=/tmp/d.img,size=1M",
            ],
            "onto a file",
        ),
        (
            &[
                "-object",
                r#"{"qom-type":"memory-backend-file","id":"m","mem-path":"x","size":1}"#,
            ],
            "onto a file",
        ),
        (&["-plugin", "libinsn.so"], "can do anything"),
        (&["-semihosting"], "host files"),
        (&["-machine", "virt"], "machine.machine"),
        (&["-smp", "4"], "machine.smp"),
        (&["-trace", "events=x,file=/tmp/t"], "file="),
        (&["-icount", "shift=1,rr=record,rrfile=x"], "record/replay"),
        (&["-set", "chardev.vm0.path=/tmp/x"], "-set chardev"),
        (
            &["-drive", "file=d.img,file.read-only=off"],
            "read-only=off",
        ),
        (
            &[
                "-blockdev",
                "driver=raw,read-only=on,file.driver=file,file.filename=d.img,file.read-only=off",
            ],
            "read-only=off",
        ),
        (&["-set", "drive.d0.read-only=off"], "read-only=off"),
        (&["-vnc", ":0"], "not among the QEMU options"),
        (&["disk.img"], "not an option is a disk image"),
        (&["-d", "int;rm"], "not a -d item"),
        (&["-snapshot=off"], "takes no value"),
    ];
    for (args_, want) in cases {
        let e = refused(args_);
        assert!(e.contains(want), "{args_:?}: {e}");
        let option = args_[0].split('=').next().unwrap().trim_start_matches('-');
        assert!(
            e.contains(option),
            "{args_:?}: the message names the option: {e}"
        );
    }
}

#[test]
fn log_items_are_taken_out_and_merged() {
    let c = check(
        &args(&[
            "-d",
            "guest_errors,unimp",
            "--d=int,guest_errors",
            "-device",
            "x",
        ]),
        &consoles(),
    )
    .expect("accepted");
    assert_eq!(c.log_items, args(&["guest_errors", "unimp", "int"]));
    assert_eq!(c.args, args(&["-device", "x"]));
}

#[test]
fn inline_values_become_two_words() {
    assert_eq!(
        protected(&["--device=virtio-rng-device", "-no-reboot"]),
        args(&["-device", "virtio-rng-device", "-no-reboot"])
    );
    assert_eq!(
        protected(&["-drive=file=a.img"]),
        args(&["-drive", "file=a.img,snapshot=on"])
    );
}

#[test]
fn safe_back_ends_pass() {
    for v in [
        &[
            "-netdev",
            "user,id=n0",
            "-device",
            "virtio-net-device,netdev=n0",
        ][..],
        &["-nic", "user,model=virtio-net-pci"],
        &["-chardev", "null,id=c0"],
        &[
            "-chardev",
            "socket,id=c1,host=127.0.0.1,port=4000,server=on,wait=off",
        ],
        &["-object", "rng-random,id=r0,filename=/dev/urandom"],
        &["-hda", "disk.img"],
        &["-pflash", "flash.img"],
        &["-append", "console=ttyS0"],
        &["-icount", "shift=0"],
        &["-trace", "enable=riscv_*"],
        &["-global", "virtio-mmio.force-legacy=false"],
    ] {
        assert_eq!(protected(v), args(v));
    }
}
