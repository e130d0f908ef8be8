//! The walk in words: one line per level, then what is missing.

use std::fmt;

use super::{End, Missing, MissingKind, Stage, StageWalk, Step, Translation};
use crate::riscv::{Access, Atp, AtpMode};

impl Translation {
    /// The rendering, one line per level; see the module tests for the form.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let access = access_name(self.access);
        let first = format!("{:#x} for a {access}", self.address);
        render_stage(&mut out, &self.first, &first, &self.missing, false);
        if let (Some(g), Some(level)) = (&self.first.pte_gstage, self.first.end.level()) {
            let what = format!("guest-physical {:#x} (the VS L{level} entry)", g.address);
            render_stage(&mut out, g, &what, &self.missing, true);
        }
        if let Some(g) = &self.gstage {
            let what = format!("guest-physical {:#x}", g.address);
            render_stage(&mut out, g, &what, &self.missing, false);
        }
        if self.missing.is_empty() {
            out.push_str(&format!("the {access} is allowed by the page tables\n"));
        } else {
            out.push_str(&format!("missing for the {access}:\n"));
            for m in &self.missing {
                out.push_str(&format!("  {m}\n"));
            }
        }
        out
    }
}

impl fmt::Display for Translation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// `fetch`, `load`, `store`.
pub fn access_name(access: Access) -> &'static str {
    match access {
        Access::Fetch => "fetch",
        Access::Load => "load",
        Access::Store => "store",
    }
}

/// One level: `VS L2 @0x80001ff0 = 0x2000404f  V R W X - - A=0 D=0 -> ppn 0x80100`.
pub(crate) fn render_step(stage: Stage, step: &Step) -> String {
    let p = &step.pte;
    let bit = |on: bool, c: &'static str| if on { c } else { "-" };
    let mut s = format!("{} L{} @{:#x}", stage.label(), step.level, step.pte_address);
    if step.read_at != step.pte_address {
        s.push_str(&format!(" (host {:#x})", step.read_at));
    }
    s.push_str(&format!(
        " = {:#x}  {} {} {} {} {} {} A={} D={} -> ppn {:#x}",
        p.raw,
        bit(p.v, "V"),
        bit(p.r, "R"),
        bit(p.w, "W"),
        bit(p.x, "X"),
        bit(p.u, "U"),
        bit(p.g, "G"),
        p.a as u8,
        p.d as u8,
        p.ppn
    ));
    s
}

fn render_stage(out: &mut String, w: &StageWalk, what: &str, missing: &[Missing], implicit: bool) {
    let atp = if w.stage == Stage::G {
        Atp::hgatp(w.atp)
    } else {
        Atp::satp(w.atp)
    };
    out.push_str(&format!(
        "{} walk of {what} ({}, {} {:#x}",
        w.stage.name(),
        atp.mode.name(),
        w.stage.root_register(),
        w.atp
    ));
    if atp.mode != AtpMode::Bare {
        out.push_str(&format!(", root {:#x}", w.root));
    }
    out.push_str("):\n");
    for step in &w.steps {
        out.push_str("  ");
        out.push_str(&render_step(w.stage, step));
        let here: Vec<String> = missing
            .iter()
            .filter(|m| m.stage == w.stage && m.level == Some(step.level))
            .filter(|m| m.for_vs_level.is_some() == implicit)
            .filter(|m| !matches!(m.kind, MissingKind::Mapping { .. }))
            .map(Missing::pointer)
            .collect();
        if !here.is_empty() {
            out.push_str("   <- ");
            out.push_str(&here.join("; "));
        }
        out.push('\n');
    }
    match &w.end {
        End::Leaf { output, .. } => {
            let what = if w.stage == Stage::VS {
                "guest-physical"
            } else {
                "physical"
            };
            out.push_str(&format!("  -> {what} {output:#x}\n"));
        }
        End::Bare => out.push_str(&format!("  -> {:#x} (no translation)\n", w.address)),
        other => out.push_str(&format!("  stops: {}\n", other.describe(w.stage))),
    }
}
