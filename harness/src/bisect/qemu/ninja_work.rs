//! How much a build step's ninja did, read from its output in the step's
//! log: the evidence that a step was incremental (a label saying configure
//! did not run is not: ninja can still recompile everything).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// What ninja did in one build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NinjaWork {
    /// The commands it ran (compiles, generated files, the link); 0 when it
    /// had no work to do.
    pub(crate) commands: u64,
    /// Whether it re-ran meson by itself ("Regenerating build files"): the
    /// build-system change went unnoticed by the configure decision.
    pub(crate) regenerated: bool,
}

/// How much of the log after the ninja step's start is read: more than a
/// full QEMU build prints.
const READ_LIMIT: u64 = 32 << 20;

/// Ninja's work in the log at `path` from byte `from` on (where its step
/// started); none when that part holds no ninja progress (a `--build-cmd`
/// that is not ninja).
pub(crate) fn from_log(path: &Path, from: u64) -> Option<NinjaWork> {
    let mut f = File::open(path).ok()?;
    f.seek(SeekFrom::Start(from)).ok()?;
    let mut bytes = Vec::new();
    f.take(READ_LIMIT).read_to_end(&mut bytes).ok()?;
    parse(&String::from_utf8_lossy(&bytes))
}

/// Ninja's work from its output. Each status line starts `[done/total]`;
/// after a regeneration the count starts again, so the last total counts.
fn parse(output: &str) -> Option<NinjaWork> {
    let mut commands = None;
    let mut regenerated = false;
    for line in output.lines() {
        if line.starts_with("ninja: no work to do") {
            commands = Some(commands.unwrap_or(0));
            continue;
        }
        let Some((total, rest)) = status_total(line) else {
            continue;
        };
        if rest.trim_start().starts_with("Regenerating build files") {
            regenerated = true;
            continue;
        }
        commands = Some(total);
    }
    commands.map(|commands| NinjaWork {
        commands,
        regenerated,
    })
}

/// `[12/345] text` -> (345, " text").
fn status_total(line: &str) -> Option<(u64, &str)> {
    let inner = line.strip_prefix('[')?;
    let (counts, rest) = inner.split_once(']')?;
    let (done, total) = counts.split_once('/')?;
    done.parse::<u64>().ok()?;
    Some((total.parse().ok()?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_total_counts_and_a_regeneration_is_noticed() {
        let incremental = "ninja: Entering directory `/b/build'\n\
                           [1/3] Compiling C object libqemu-riscv64-softmmu.fa.p/target_riscv_cpu.c.o\n\
                           [2/3] Compiling C object libqemu-riscv64-softmmu.fa.p/target_riscv_csr.c.o\n\
                           [3/3] Linking target qemu-system-riscv64\n";
        assert_eq!(
            parse(incremental),
            Some(NinjaWork {
                commands: 3,
                regenerated: false
            })
        );
        let regenerated = "[0/1] Regenerating build files.\n\
                           The Meson build system\n\
                           [1/1429] Compiling C object a.o\n\
                           [1429/1429] Linking target qemu-system-riscv64\n";
        assert_eq!(
            parse(regenerated),
            Some(NinjaWork {
                commands: 1429,
                regenerated: true
            })
        );
        assert_eq!(
            parse("ninja: Entering directory `b'\nninja: no work to do.\n"),
            Some(NinjaWork {
                commands: 0,
                regenerated: false
            })
        );
        // A --build-cmd that is not ninja; a bracketed line that is no status.
        assert_eq!(parse("installed QEMU 9.2.0\n[wrap-git]\n"), None);
    }

    #[test]
    fn only_the_ninja_part_of_the_log_is_read() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("build-1-0123456789ab.log");
        let configure = "== hvharness: configure\n[1/2] a configure-time ninja\n";
        let ninja =
            "== hvharness: ninja qemu-system-riscv64\n[1/1] Linking target qemu-system-riscv64\n";
        std::fs::write(&log, format!("{configure}{ninja}")).unwrap();
        let work = from_log(&log, configure.len() as u64).unwrap();
        assert_eq!(work.commands, 1);
        assert_eq!(from_log(&tmp.path().join("none.log"), 0), None);
    }
}
