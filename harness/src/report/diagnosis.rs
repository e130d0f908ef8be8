//! A diagnosis in words: the text `hvharness diagnose` prints, which the
//! matrix keeps in the result file and the HTML and JUnit reports show.

use crate::diagnosis::harts::HartSummary;
use crate::diagnosis::Diagnosis;
use crate::runner::Observed;

/// The human-readable diagnosis, as `hvharness diagnose` prints it (and
/// `matrix --diagnose` keeps it in the result file).
pub fn render_diagnosis(d: &Diagnosis) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "== {} on QEMU {}: {} (verdict after {:.2} s)",
        d.scenario,
        d.qemu,
        d.observed.class(),
        d.verdict_secs
    );
    match &d.observed {
        Observed::Booted => {
            let _ = writeln!(s, "it boots: nothing to diagnose");
            return s;
        }
        Observed::Hung { early, .. } => {
            let _ = writeln!(s, "{}", d.observed);
            if let Some(e) = early {
                let _ = writeln!(s, "{e}");
            }
        }
        Observed::Exited { .. } => {
            let _ = writeln!(s, "{}", d.observed);
        }
    }
    let waiting = d.harts.iter().any(|h| !h.interrupts.findings.is_empty());
    if d.faults.is_empty() && !waiting {
        let _ = writeln!(s, "no hart is stuck on a trap: no fault to explain");
    } else if d.faults.is_empty() {
        let _ = writeln!(
            s,
            "no hart is stuck on a trap; an interrupt reaches nobody:"
        );
    }
    render_other_harts(&mut s, d);
    for f in &d.faults {
        render_fault(&mut s, f, d.harts.iter().find(|h| h.hart == f.context.hart));
    }
    s
}

/// The harts that are not stuck on a trap: where each is and, where that is
/// the story, what it waits for.
fn render_other_harts(s: &mut String, d: &Diagnosis) {
    use std::fmt::Write as _;
    let others: Vec<&HartSummary> = d.harts.iter().filter(|h| !h.stuck).collect();
    if others.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "{}:",
        if d.faults.is_empty() {
            "harts"
        } else {
            "other harts"
        }
    );
    for h in others {
        let _ = writeln!(s, "  {}", h.line());
        // Where nothing trapped, what each hart waits for is the story.
        if d.faults.is_empty() || !h.interrupts.findings.is_empty() {
            for l in &h.interrupts.decoded {
                let _ = writeln!(s, "    {l}");
            }
        }
        for finding in &h.interrupts.findings {
            render_finding(s, finding, "    ");
        }
    }
}

/// One stuck hart's fault: the trap, where its hart is now, the evidence
/// (console, backtrace, page-table walk) and the findings.
fn render_fault(s: &mut String, f: &crate::diagnosis::FaultReport, now: Option<&HartSummary>) {
    use std::fmt::Write as _;
    let c = &f.context;
    let _ = writeln!(
        s,
        "\nhart {}: {} from {} taken to {}",
        c.hart,
        f.cause_name,
        c.from.name(),
        c.to
    );
    let _ = writeln!(
        s,
        "  at   {:#x} {}",
        c.epc,
        c.epc_place.as_deref().unwrap_or("")
    );
    // A trap taken to VS is the guest's own: QEMU shows its registers
    // under the s-mode names while V=1.
    let guest_view = if c.to == crate::diagnosis::TrapTarget::VS {
        " (the guest's stval: vstval, shown as stval while V=1)"
    } else {
        ""
    };
    let _ = writeln!(s, "  tval {:#x}{guest_view}", c.tval);
    if let Some(h) = c.htval_text() {
        let _ = writeln!(s, "  htval {h}");
    }
    if let Some(h) = c.htinst {
        let _ = writeln!(s, "  htinst {h:#x}");
    }
    if let Some(h) = now {
        let _ = writeln!(s, "  now  {}", h.line());
    }
    if c.sbi_calls_after > 0 {
        let _ = writeln!(
            s,
            "  after the trap: {} SBI call(s) from HS (a report through the SBI console), then no progress",
            c.sbi_calls_after
        );
    }
    if !f.console.is_empty() {
        let _ = writeln!(s, "  console:");
        for l in &f.console {
            let _ = writeln!(s, "    {}: {}", l.console, l.text);
        }
    }
    render_list(s, "backtrace", &f.backtrace);
    render_list(s, "page-table walk", &f.walk);
    for finding in &f.findings {
        render_finding(s, finding, "  ");
    }
}

/// `  title:` and the items under it, when there are any.
fn render_list<T: std::fmt::Display>(s: &mut String, title: &str, items: &[T]) {
    use std::fmt::Write as _;
    if items.is_empty() {
        return;
    }
    let _ = writeln!(s, "  {title}:");
    for item in items {
        let _ = writeln!(s, "    {item}");
    }
}

/// A finding as it renders itself, every line indented by `indent`.
fn render_finding(s: &mut String, finding: &crate::diagnosis::Finding, indent: &str) {
    use std::fmt::Write as _;
    for line in finding.to_string().lines() {
        let _ = writeln!(s, "{indent}{line}");
    }
}
