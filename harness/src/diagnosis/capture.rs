//! Filling a [`FaultContext`] for each hart that stopped making progress.
//!
//! The run is stopped with the debugger attached. Two shapes of hang:
//! - a trap storm: the hart loops on a fault (the ADUE hang: the guest faults
//!   in kvminithart with no trap vector yet, jumps to 0 and faults there for
//!   ever). The live scause/stval hold the loop's values; the first fault's
//!   cause, pc and tval come from QEMU's interrupt log, which kept them.
//! - a parked hart: a hypervisor took an unexpected trap, printed it and
//!   parked the hart. Its HS-mode scause/sepc/stval/htval/htinst still hold
//!   that trap, as its last record in the interrupt log confirms.
//!
//! The rest of the context (page-table roots, envcfg, delegation, vectors) is
//! read live: a stopped or looping hart does not change it.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use super::{FaultContext, TrapTarget};
use crate::debug::privilege_of;
use crate::qemu::trap_log::{LoggedTrap, TrapLog};
use crate::qemu::QemuVersion;
use crate::riscv::cause::code;
use crate::riscv::{Cause, Level, PrivilegeLevel};
use crate::rsp::{RspClient, ThreadId};
use crate::scenario::Scenario;

/// The registers a diagnosis reads at a stopped hart, when the target has them.
pub(crate) const CONTEXT_CSRS: &[&str] = &[
    "mstatus", "sstatus", "hstatus", "vsstatus", "medeleg", "mideleg", "hedeleg", "hideleg",
    "satp", "vsatp", "hgatp", "menvcfg", "henvcfg", "senvcfg", "stvec", "vstvec", "scause", "sepc",
    "stval", "htval", "htinst", "vscause", "vsepc", "vstval", "mcause", "mepc", "mtval",
];

/// Identical faults in a row that make a stopped hart "looping".
const LOOPING_REPEATS: u64 = 8;

/// What a hart is doing now, read at the stop.
#[derive(Debug, Clone)]
pub struct HartState {
    pub(crate) hart: u32,
    pub thread: ThreadId,
    pub pc: u64,
    pub(crate) privilege: PrivilegeLevel,
    pub(crate) csrs: BTreeMap<String, u64>,
    /// ra, sp and s0 (the frame pointer), for a backtrace.
    pub(crate) ra: u64,
    pub(crate) sp: u64,
    pub(crate) fp: u64,
}

/// Reads every hart's state (the target must be stopped).
pub(crate) async fn read_harts(
    rsp: &mut RspClient,
    version: QemuVersion,
) -> Result<Vec<HartState>> {
    let threads = rsp.threads().await.context("listing harts")?;
    let mut out = Vec::new();
    for thread in threads {
        let hart = thread.hart_index().unwrap_or(0) as u32;
        let privilege = privilege_of(rsp, thread, version).await?;
        rsp.select_register_thread(thread).await?;
        let mut csrs = BTreeMap::new();
        for name in CONTEXT_CSRS {
            if rsp
                .target_description()
                .is_some_and(|t| t.register(name).is_some())
            {
                if let Some(v) = rsp
                    .read_register_u64(name)
                    .await
                    .with_context(|| format!("reading {name}"))?
                {
                    csrs.insert(name.to_string(), v);
                }
            }
        }
        let pc = rsp.read_register_u64("pc").await?.unwrap_or(0);
        let ra = rsp.read_register_u64("ra").await?.unwrap_or(0);
        let sp = rsp.read_register_u64("sp").await?.unwrap_or(0);
        // QEMU names x8 `fp` in its target description; `s0` elsewhere.
        let fp_name = if rsp
            .target_description()
            .is_some_and(|t| t.register("fp").is_some())
        {
            "fp"
        } else {
            "s0"
        };
        let fp = rsp.read_register_u64(fp_name).await?.unwrap_or(0);
        out.push(HartState {
            hart,
            thread,
            pc,
            privilege,
            csrs,
            ra,
            sp,
            fp,
        });
    }
    Ok(out)
}

/// The faults behind a hang: one context per hart that is stuck on a trap
/// (looping on a fault, or parked after one). The target must be stopped.
/// `confirmed` is the storm the run's verdict named, when it named one;
/// `elfs` holds the scenario's ELF files, when readable.
pub(crate) fn faults(
    harts: &[HartState],
    log: &TrapLog,
    confirmed: Option<&LoggedTrap>,
    scenario: &Scenario,
    elfs: Option<&crate::elf::ElfSet>,
) -> Result<Vec<FaultContext>> {
    // The machine is known to be stuck here, so a shorter run of identical
    // faults suffices to call a hart looping (one may have started late).
    let storms = log.storms(LOOPING_REPEATS);
    let in_firmware = |pc: u64| elfs.is_some_and(|e| !e.spaces_containing(pc).is_empty());
    let mut out = Vec::new();
    for h in harts {
        let hart = u64::from(h.hart);
        // The verdict's storm stands even when the log's current run is
        // short: the probe that confirmed it (breakpoints make QEMU flush its
        // translations) can jolt a looping guest into one different fault
        // before it falls back into the loop, and the run restarts at 1.
        let storming = storms
            .iter()
            .map(|(t, _)| t)
            .find(|s| s.hart == hart)
            .or(confirmed.filter(|s| s.hart == hart));
        let ctx = match storming {
            Some(s) => {
                let first = log
                    .first_fault_of_storm(s, in_firmware)
                    .unwrap_or_else(|| s.clone());
                Some(storm_context(h, &first))
            }
            None => parked_context(h, log),
        };
        if let Some(mut ctx) = ctx {
            ctx.epc_place = elfs.and_then(|set| place_of(scenario, set, ctx.epc, ctx.from.virt));
            out.push(ctx);
        }
    }
    Ok(out)
}

/// A hart looping on a fault: the trap goes where the loop's traps go.
fn storm_context(h: &HartState, first: &LoggedTrap) -> FaultContext {
    let virt = h.privilege.virt;
    let to = match (h.privilege.level, virt) {
        (Level::Machine, _) => TrapTarget::M,
        (_, Some(true)) => TrapTarget::VS,
        _ => TrapTarget::HS,
    };
    // The loop's traps come from the same mode the first fault did; SPP of
    // the status register the hart sees (vsstatus while V=1) tells which.
    let spp = h
        .csrs
        .get("sstatus")
        .map(|s| s >> 8 & 1 == 1)
        .unwrap_or(true);
    let from = PrivilegeLevel {
        level: if spp { Level::Supervisor } else { Level::User },
        virt,
    };
    FaultContext {
        hart: h.hart,
        from,
        to,
        cause: Cause::exception(first.cause),
        epc: first.epc,
        tval: first.tval,
        htval: None,
        htinst: None,
        epc_place: None,
        csrs: guest_view(h),
    }
}

/// A hart parked in HS-mode after a trap the hypervisor did not expect.
fn parked_context(h: &HartState, log: &TrapLog) -> Option<FaultContext> {
    if h.privilege.level != Level::Supervisor || h.privilege.virt == Some(true) {
        return None;
    }
    let (Some(scause), Some(sepc)) = (h.csrs.get("scause"), h.csrs.get("sepc")) else {
        return None;
    };
    let cause = Cause::from_xcause(*scause);
    // Interrupts and the guests' SBI calls (ecall from VS) are a
    // hypervisor's daily work; anything else it parked on was unexpected.
    if cause.interrupt || cause.code == code::ECALL_VS {
        return None;
    }
    // The log's last exception on this hart must be the one in scause/sepc:
    // otherwise the hart went on after it and is not parked on it.
    let last = log
        .hart(h.hart as usize)
        .and_then(|l| l.last_exception.as_ref());
    if !last.is_some_and(|t| t.cause == cause.code && t.epc == *sepc) {
        return None;
    }
    let hstatus = h.csrs.get("hstatus").copied().unwrap_or(0);
    let from_virt = hstatus >> 7 & 1 == 1; // SPV
    let from_level = if from_virt {
        if hstatus >> 8 & 1 == 1 {
            Level::Supervisor
        } else {
            Level::User
        } // SPVP
    } else if h.csrs.get("sstatus").is_some_and(|s| s >> 8 & 1 == 1) {
        Level::Supervisor
    } else {
        Level::User
    };
    Some(FaultContext {
        hart: h.hart,
        from: PrivilegeLevel {
            level: from_level,
            virt: Some(from_virt),
        },
        to: TrapTarget::HS,
        cause,
        epc: *sepc,
        tval: h.csrs.get("stval").copied().unwrap_or(0),
        htval: h.csrs.get("htval").copied(),
        htinst: h.csrs.get("htinst").copied(),
        epc_place: None,
        csrs: h.csrs.clone(),
    })
}

/// The registers as the rules want them: while V=1 QEMU shows the guest's
/// values under the s-mode names, so vstvec/vsatp are taken from those.
fn guest_view(h: &HartState) -> BTreeMap<String, u64> {
    let mut csrs = h.csrs.clone();
    if h.privilege.virt == Some(true) {
        for (s, vs) in [
            ("stvec", "vstvec"),
            ("satp", "vsatp"),
            ("sstatus", "vsstatus"),
        ] {
            if let Some(v) = h.csrs.get(s).copied() {
                csrs.insert(vs.to_string(), v);
            }
        }
    }
    csrs
}

/// `space:symbol+offset at file:line` in an ELF file of the right context
/// (`set` holds the scenario's ELF files).
pub(crate) fn place_of(
    scenario: &Scenario,
    set: &crate::elf::ElfSet,
    addr: u64,
    virt: Option<bool>,
) -> Option<String> {
    let candidates = scenario
        .elfs
        .iter()
        .filter(|e| virt.is_none() || e.virt.is_none() || e.virt == virt);
    for e in candidates {
        let Ok(image) = set.space(&e.name) else {
            continue;
        };
        if let Some(hit) = image.symbolize(addr).filter(|h| h.exact) {
            let line = image
                .line_for(addr)
                .map(|l| format!(" at {l}"))
                .unwrap_or_default();
            return Some(format!("{}:{hit}{line}", e.name));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Instant;

    use super::*;
    use crate::qemu::trap_log::tests_support::line;
    use crate::scenario::ScenarioFile;

    const ONE_HART: &str = r#"
[machine]
cpu = "rv64"
smp = 1
[[console]]
name = "console"
attach = "serial"
milestones = ["guest kernel is booting"]
"#;

    /// Hart 0 stopped in S-mode with the loop's store page fault in scause.
    fn stopped_in_the_loop() -> HartState {
        let csrs = [
            ("scause", 0xf),
            ("sepc", 0x8020156a),
            ("stval", 0x10000003),
            ("sstatus", 1 << 8),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        HartState {
            hart: 0,
            thread: ThreadId::parse(b"p1.1").expect("a thread id"),
            pc: 0x80200000,
            privilege: PrivilegeLevel {
                level: Level::Supervisor,
                virt: Some(false),
            },
            csrs,
            ra: 0,
            sp: 0,
            fp: 0,
        }
    }

    /// The fault-nostvec shape seen in CI: the load fault that restarted the
    /// kernel, its fall-out, a long loop of store faults, then one different
    /// fault (the storm probe's breakpoints flushed QEMU's translations) and
    /// the loop again, stopped after three.
    fn restarted_kernel_log() -> TrapLog {
        let mut text = line(0, 0, 0xd, 0x80201b44, 0x81000000);
        text += &line(0, 0, 0xc, 0x80200240, 0x80200240);
        for _ in 0..200 {
            text += &line(0, 0, 0xf, 0x8020156a, 0x10000003);
        }
        text += &line(0, 0, 0xc, 0x80200010, 0x80200010);
        for _ in 0..3 {
            text += &line(0, 0, 0xf, 0x8020156a, 0x10000003);
        }
        let mut log = TrapLog::new(1);
        log.feed(text.as_bytes(), Instant::now());
        log
    }

    #[test]
    fn the_verdicts_storm_stands_when_a_probe_broke_the_run() {
        let path = Path::new("/proj/scenarios/x.toml");
        let scenario = ScenarioFile::parse(ONE_HART, path)
            .and_then(|f| f.into_scenario(path))
            .expect("a valid scenario");
        let log = restarted_kernel_log();
        assert!(log.storms(LOOPING_REPEATS).is_empty(), "the run restarted");
        let storm = log
            .hart(0)
            .and_then(|h| h.last_exception.clone())
            .expect("a last exception");
        let found = faults(
            &[stopped_in_the_loop()],
            &log,
            Some(&storm),
            &scenario,
            None,
        )
        .expect("faults");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].cause.code, 0xd, "the fault the storm began with");
        assert_eq!(found[0].epc, 0x80201b44);
        assert_eq!(found[0].tval, 0x81000000);

        // Without the verdict's storm, the hart reads as parked on the loop's
        // fault: what the diagnosis said before it was given the storm.
        let parked = faults(&[stopped_in_the_loop()], &log, None, &scenario, None).expect("faults");
        assert_eq!(parked.len(), 1);
        assert_eq!(parked[0].cause.code, 0xf);
    }
}
