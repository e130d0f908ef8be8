//! What the rules' unit tests share: walking a fabricated fault, and a bare
//! trap context.

use std::collections::BTreeMap;

use super::{diagnose, Evidence, Finding};
use crate::diagnosis::walk::tests::Mem;
use crate::diagnosis::walk::{walk_fault, Translation};
use crate::diagnosis::{FaultContext, TrapTarget};
use crate::qemu::QemuVersion;
use crate::riscv::{Cause, PrivilegeLevel};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

pub(super) fn walked(ctx: &FaultContext, mem: &mut Mem, svadu: bool) -> Translation {
    block_on(walk_fault(ctx, svadu, mem)).unwrap()
}

pub(super) fn rules_fired(e: &Evidence) -> Vec<String> {
    diagnose(e).into_iter().map(|f| f.rule).collect()
}

/// The findings for `ctx` with its translation walked in `mem`.
pub(super) fn diagnose_walked(
    ctx: &FaultContext,
    mem: &mut Mem,
    svadu: bool,
    qemu: Option<QemuVersion>,
) -> Vec<Finding> {
    let walk = walked(ctx, mem, svadu);
    let mut e = Evidence::new(ctx);
    e.walk = Some(&walk);
    e.qemu = qemu;
    diagnose(&e)
}

/// A trap on hart 0 to HS from `from` with `csrs` and nothing else known.
pub(super) fn bare_context(
    from: PrivilegeLevel,
    code: u64,
    epc: u64,
    tval: u64,
    csrs: BTreeMap<String, u64>,
) -> FaultContext {
    FaultContext {
        hart: 0,
        from,
        to: TrapTarget::HS,
        cause: Cause::exception(code),
        epc,
        tval,
        htval: None,
        htinst: None,
        epc_place: None,
        sbi_calls_after: 0,
        csrs,
    }
}
