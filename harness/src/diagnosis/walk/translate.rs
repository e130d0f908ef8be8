//! Walking both stages over a [`PhysMemory`]: entries fetched level by
//! level (through the G-stage for the VS-stage's tables), then checked.

use std::collections::HashMap;

use super::check::check;
use super::{End, PteMapping, Regime, Stage, StageWalk, Step, Translation};
use crate::diagnosis::PhysMemory;
use crate::harts::FaultContext;
use crate::riscv::pte::{walk, WalkOutcome};
use crate::riscv::{Access, Atp};

/// Where one page-table entry's value came from.
enum Fetched {
    Value {
        read_at: u64,
        mapped_by: Option<PteMapping>,
        value: u64,
    },
    Unreadable {
        read_at: u64,
    },
    NotInGStage {
        gstage: Box<StageWalk>,
    },
}

/// Reads page-table entries for one stage.
#[allow(async_fn_in_trait)]
trait PteSource {
    async fn fetch(&mut self, address: u64) -> anyhow::Result<Fetched>;
}

/// Entries at physical addresses.
struct Direct<'m, M>(&'m mut M);

impl<M: PhysMemory> PteSource for Direct<'_, M> {
    async fn fetch(&mut self, address: u64) -> anyhow::Result<Fetched> {
        Ok(match self.0.read_u64(address).await? {
            Some(value) => Fetched::Value {
                read_at: address,
                mapped_by: None,
                value,
            },
            None => Fetched::Unreadable { read_at: address },
        })
    }
}

/// Entries at guest-physical addresses, each translated through the G-stage.
struct ThroughGStage<'m, M> {
    mem: &'m mut M,
    hgatp: Atp,
}

impl<M: PhysMemory> PteSource for ThroughGStage<'_, M> {
    async fn fetch(&mut self, gpa: u64) -> anyhow::Result<Fetched> {
        let g = walk_stage(Stage::G, self.hgatp, gpa, &mut Direct(&mut *self.mem)).await?;
        let Some(host) = g.output() else {
            return Ok(Fetched::NotInGStage {
                gstage: Box::new(g),
            });
        };
        let mapped_by = g.leaf().map(|s| PteMapping {
            level: s.level,
            pte_address: s.read_at,
            pte: s.pte,
        });
        Ok(match self.mem.read_u64(host).await? {
            Some(value) => Fetched::Value {
                read_at: host,
                mapped_by,
                value,
            },
            None => Fetched::Unreadable { read_at: host },
        })
    }
}

/// Walks one stage with [`crate::riscv::pte::walk`]. That walk is synchronous,
/// so it runs over the entries fetched so far; when it asks for one not yet
/// fetched it stops, the entry is fetched, and it runs again (at most one
/// run per level). An entry that could not be fetched is fed to it as 0
/// (invalid), which ends the walk there; that fake last step is then
/// replaced by the real reason.
async fn walk_stage(
    stage: Stage,
    atp: Atp,
    address: u64,
    source: &mut impl PteSource,
) -> anyhow::Result<StageWalk> {
    let mut fetched: HashMap<u64, Fetched> = HashMap::new();
    let root = atp.root();
    loop {
        let mut failed_at = None;
        let result = walk(atp.mode, root, address, |a| match fetched.get(&a) {
            Some(Fetched::Value { value, .. }) => Ok(*value),
            Some(_) => {
                failed_at = Some(a);
                Ok(0)
            }
            None => Err(a),
        });
        let w = match result {
            Ok(w) => w,
            Err(a) => {
                let f = source.fetch(a).await?;
                fetched.insert(a, f);
                continue;
            }
        };
        return Ok(StageWalk::from_walk(
            stage, atp, address, &w, failed_at, fetched,
        ));
    }
}

impl StageWalk {
    /// The walk's steps with where each entry was read; an entry that could
    /// not be fetched (`failed_at`, fed to the walk as 0) ends it with the
    /// real reason.
    fn from_walk(
        stage: Stage,
        atp: Atp,
        address: u64,
        w: &crate::riscv::pte::Walk,
        failed_at: Option<u64>,
        mut fetched: HashMap<u64, Fetched>,
    ) -> StageWalk {
        let mut out = StageWalk {
            stage,
            atp: atp.raw,
            mode: atp.mode,
            root: atp.root(),
            address,
            steps: Vec::with_capacity(w.steps.len()),
            end: End::Bare,
            pte_gstage: None,
        };
        for s in &w.steps {
            if Some(s.pte_address) == failed_at {
                // The fake entry: say why it could not be read.
                match fetched.remove(&s.pte_address) {
                    Some(Fetched::Unreadable { read_at }) => {
                        out.end = End::Unreadable {
                            level: s.level,
                            address: read_at,
                        };
                    }
                    Some(Fetched::NotInGStage { gstage }) => {
                        out.end = End::PteNotInGStage {
                            level: s.level,
                            gpa: s.pte_address,
                        };
                        out.pte_gstage = Some(gstage);
                    }
                    _ => unreachable!("failed_at is only set for entries that failed"),
                }
                return out;
            }
            let Some(Fetched::Value {
                read_at, mapped_by, ..
            }) = fetched.get(&s.pte_address)
            else {
                unreachable!("every step was fetched")
            };
            out.steps.push(Step {
                level: s.level,
                index: s.index,
                pte_address: s.pte_address,
                read_at: *read_at,
                mapped_by: *mapped_by,
                pte: s.pte,
            });
        }
        out.end = end_of(w.outcome);
        out
    }
}

/// How the walk itself ended (every entry it asked for was read).
fn end_of(outcome: WalkOutcome) -> End {
    match outcome {
        WalkOutcome::Bare => End::Bare,
        WalkOutcome::Leaf {
            physical,
            level,
            page_size,
        } => End::Leaf {
            output: physical,
            level,
            page_size,
        },
        WalkOutcome::Invalid { level } => End::Invalid { level },
        WalkOutcome::Reserved { level } => End::Reserved { level },
        WalkOutcome::MisalignedSuperpage { level } => End::MisalignedSuperpage { level },
        WalkOutcome::PointerAtLeafLevel => End::PointerAtLeafLevel,
        WalkOutcome::AddressOutOfRange => End::AddressOutOfRange,
        WalkOutcome::ReservedMode => End::ReservedMode,
    }
}

/// Translates `address` for `access` under `regime`: the first stage, and
/// at V=1 the G-stage of its output, then checks what each leaf lacks for
/// the access.
pub(crate) async fn translate<M: PhysMemory>(
    regime: &Regime,
    address: u64,
    access: Access,
    mem: &mut M,
) -> anyhow::Result<Translation> {
    let first_stage = regime.first_stage();
    let first = match regime.gstage {
        Some(hgatp) if regime.virt => {
            walk_stage(
                first_stage,
                regime.first,
                address,
                &mut ThroughGStage { mem, hgatp },
            )
            .await?
        }
        _ => walk_stage(first_stage, regime.first, address, &mut Direct(&mut *mem)).await?,
    };
    let mut gstage = None;
    let mut guest_physical = None;
    let physical;
    if let (true, Some(hgatp)) = (regime.virt, regime.gstage) {
        guest_physical = first.output();
        physical = match guest_physical {
            Some(gpa) => {
                let g = walk_stage(Stage::G, hgatp, gpa, &mut Direct(&mut *mem)).await?;
                let out = g.output();
                gstage = Some(g);
                out
            }
            None => None,
        };
    } else {
        physical = first.output();
    }
    let mut t = Translation {
        address,
        access,
        regime: regime.clone(),
        first,
        gstage,
        guest_physical,
        physical,
        missing: Vec::new(),
    };
    t.missing = check(&t);
    Ok(t)
}

/// The address and access a fault is about: the faulting address of page,
/// guest-page and access faults (tval), taken from the cause. `None` for
/// other causes.
pub(crate) fn fault_access(ctx: &FaultContext) -> Option<(u64, Access)> {
    Some((ctx.tval, ctx.cause.access()?))
}

/// Walks the address a fault is about (see [`fault_access`]); for other
/// causes, the fetch of the faulting instruction at epc. For a guest-page
/// fault whose tval is 0 (the implementation gave no guest-virtual address),
/// only the G-stage of the guest-physical address from htval is walked.
pub async fn walk_fault<M: PhysMemory>(
    ctx: &FaultContext,
    svadu: bool,
    mem: &mut M,
) -> anyhow::Result<Translation> {
    let regime = Regime::from_context(ctx, svadu)?;
    let (address, access) = fault_access(ctx).unwrap_or((ctx.epc, Access::Fetch));
    if ctx.cause.is_guest_page_fault() && ctx.tval == 0 {
        if let Some(htval) = ctx.htval {
            let gpa = crate::riscv::guest_physical_address(htval, 0);
            let bare = Regime {
                first: Atp::satp(0),
                ..regime
            };
            return translate(&bare, gpa, access, mem).await;
        }
    }
    translate(&regime, address, access, mem).await
}
