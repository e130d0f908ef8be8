//! What a translation's leaves lack for the access: R/W/X, U, A and D.

use std::fmt;

use serde::Serialize;

use super::{End, Regime, Stage, Translation};
use crate::riscv::{Access, Pte};

/// A permission a leaf lacks for the access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MissingKind {
    /// No leaf: the walk ended early (see the stage's [`End`]).
    Mapping { end: End },
    /// The leaf lacks R, W or X.
    Permission { bit: char },
    /// The U bit does not suit the access: `u` is the leaf's U bit.
    User { u: bool, reason: String },
    /// A=0 and the hardware does not set it.
    Accessed { because: String },
    /// A store to a page with D=0 and the hardware does not set it.
    Dirty { because: String },
}

/// One thing that stops the access, at one stage and level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// The stage whose entry is at fault.
    pub stage: Stage,
    /// The level of that entry (`None` when the walk did not reach one).
    pub level: Option<u32>,
    /// For a G-stage problem met while reading a VS-stage entry (an implicit
    /// access): the level of that VS-stage entry.
    pub(crate) for_vs_level: Option<u32>,
    /// What is missing.
    pub kind: MissingKind,
}

impl Missing {
    /// A short pointer for the rendering: `A=0, henvcfg.ADUE=0: the hart does not set A`.
    pub(crate) fn pointer(&self) -> String {
        match &self.kind {
            MissingKind::Mapping { end } => end.describe(self.stage),
            MissingKind::Permission { bit } => format!("{bit}=0: the access needs {bit}"),
            MissingKind::User { u, reason } => format!("U={}: {reason}", *u as u8),
            MissingKind::Accessed { because } => {
                format!("A=0 and {because}: the hart does not set A in hardware")
            }
            MissingKind::Dirty { because } => {
                format!("D=0 on a store and {because}: the hart does not set D in hardware")
            }
        }
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.stage.label())?;
        if let Some(l) = self.level {
            write!(f, " L{l}")?;
        }
        if let Some(vl) = self.for_vs_level {
            write!(f, " (reading the VS L{vl} entry)")?;
        }
        write!(f, ": {}", self.pointer())
    }
}

/// What each stage's entries lack for the access, in the order the hart
/// checks them: the VS-stage entries' own G-stage mappings as they are read,
/// then the VS-stage leaf, then the G-stage of the final address.
pub(super) fn check(t: &Translation) -> Vec<Missing> {
    let r = &t.regime;
    let mut out = Vec::new();
    let first = &t.first;
    // Implicit reads of VS-stage entries go through the G-stage as loads
    // from U-mode: the G-stage leaf needs R (MXR does not help there) and
    // U, and A unless the hart sets it.
    for step in &first.steps {
        if let Some(m) = &step.mapped_by {
            let mut push = |kind| {
                out.push(Missing {
                    stage: Stage::G,
                    level: Some(m.level),
                    for_vs_level: Some(step.level),
                    kind,
                })
            };
            if !m.pte.r {
                push(MissingKind::Permission { bit: 'R' });
            }
            if !m.pte.u {
                push(MissingKind::User {
                    u: false,
                    reason: "every G-stage leaf needs U".into(),
                });
            }
            if !m.pte.a && !r.ad_gstage.hardware {
                push(MissingKind::Accessed {
                    because: r.ad_gstage.because.clone(),
                });
            }
        }
    }
    match &first.end {
        End::Leaf { level, .. } => {
            let leaf = first.leaf().expect("a leaf end has a leaf step").pte;
            leaf_checks(&mut out, first.stage, *level, leaf, t.access, r);
        }
        End::Bare => {}
        End::PteNotInGStage { .. } => {
            let g = first.pte_gstage.as_deref().expect("set with the end");
            out.push(Missing {
                stage: Stage::G,
                level: g.end.level(),
                for_vs_level: first.end.level(),
                kind: MissingKind::Mapping { end: g.end.clone() },
            });
        }
        end => out.push(Missing {
            stage: first.stage,
            level: end.level(),
            for_vs_level: None,
            kind: MissingKind::Mapping { end: end.clone() },
        }),
    }
    if let Some(g) = &t.gstage {
        match &g.end {
            End::Leaf { level, .. } => {
                let leaf = g.leaf().expect("a leaf end has a leaf step").pte;
                leaf_checks(&mut out, Stage::G, *level, leaf, t.access, r);
            }
            End::Bare => {}
            end => out.push(Missing {
                stage: Stage::G,
                level: end.level(),
                for_vs_level: None,
                kind: MissingKind::Mapping { end: end.clone() },
            }),
        }
    }
    out
}

fn leaf_checks(
    out: &mut Vec<Missing>,
    stage: Stage,
    level: u32,
    pte: Pte,
    access: Access,
    r: &Regime,
) {
    let mut push = |kind| {
        out.push(Missing {
            stage,
            level: Some(level),
            for_vs_level: None,
            kind,
        })
    };
    let (mxr, ad) = if stage == Stage::G {
        (r.mxr_gstage, &r.ad_gstage)
    } else {
        (r.mxr_first, &r.ad_first)
    };
    if !pte.permits(access, mxr) {
        let bit = match access {
            Access::Fetch => 'X',
            Access::Load => 'R',
            Access::Store => 'W',
        };
        push(MissingKind::Permission { bit });
    }
    if stage == Stage::G {
        if !pte.u {
            push(MissingKind::User {
                u: false,
                reason: "every G-stage leaf needs U (guest accesses count as U-mode ones)".into(),
            });
        }
    } else if r.user && !pte.u {
        push(MissingKind::User {
            u: false,
            reason: "U-mode may only use U pages".into(),
        });
    } else if !r.user && pte.u {
        if access == Access::Fetch {
            push(MissingKind::User {
                u: true,
                reason: "S-mode never executes from U pages".into(),
            });
        } else if !r.sum {
            push(MissingKind::User {
                u: true,
                reason: "S-mode loads and stores to U pages need SUM=1".into(),
            });
        }
    }
    if !ad.hardware {
        if !pte.a {
            push(MissingKind::Accessed {
                because: ad.because.clone(),
            });
        }
        if access == Access::Store && !pte.d {
            push(MissingKind::Dirty {
                because: ad.because.clone(),
            });
        }
    }
}
