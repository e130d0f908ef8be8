//! A root cause in words: what a rule concludes, what a diagnosis report
//! carries and the result file keeps, rendered here once.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One conclusion: what happened, the facts behind it, and what to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule that found it (`adue`, `undelegated`, ...): short and stable,
    /// used in reports and tests.
    pub rule: String,
    /// One or two sentences: what happened and why.
    pub summary: String,
    /// The facts behind it (register values, page-table entries).
    pub details: Vec<String>,
    /// What to change; `None` where the finding only says where things stand
    /// (a guest parked in its own handler).
    pub fix: Option<String>,
}

impl fmt::Display for Finding {
    /// `cause [adue]: summary`, each detail indented by two, then
    /// `fix: ...`; as the diagnosis prints it (which indents the whole).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cause [{}]: {}", self.rule, self.summary)?;
        for d in &self.details {
            write!(f, "\n  {d}")?;
        }
        if let Some(fix) = &self.fix {
            write!(f, "\nfix: {fix}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(fix: Option<&str>) -> Finding {
        Finding {
            rule: "adue".into(),
            summary: "s".into(),
            details: vec!["d1".into(), "d2".into()],
            fix: fix.map(str::to_string),
        }
    }

    #[test]
    fn renders_rule_summary_details_and_fix() {
        assert_eq!(
            finding(Some("f")).to_string(),
            "cause [adue]: s\n  d1\n  d2\nfix: f"
        );
        assert_eq!(finding(None).to_string(), "cause [adue]: s\n  d1\n  d2");
    }

    /// The JSON reports carry reads back as the same finding, with the
    /// field names and order the result file has always had.
    #[test]
    fn json_round_trip() {
        let f = finding(None);
        let json = serde_json::to_string(&f).expect("encodes");
        assert_eq!(
            json,
            r#"{"rule":"adue","summary":"s","details":["d1","d2"],"fix":null}"#
        );
        let back: Finding = serde_json::from_str(&json).expect("decodes");
        assert_eq!(back, f);
    }
}
