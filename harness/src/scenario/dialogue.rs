//! Console dialogues: what to type into a console once the boot is done, and
//! what to wait for in reply.
//!
//! ```toml
//! [[console]]
//! name = "vm0"
//! attach = "serial"
//! milestones = ["init: starting sh"]
//!
//! [[console.step]]          # belongs to the console above
//! expect = '\$ '            # a regex, searched after the previous match
//! send = "stress 60\n"      # typed once expect has matched
//! timeout_secs = 10         # this step's bound (default 30)
//!
//! [[console.step]]
//! expect = 'stress: done'
//! timeout_secs = 90
//! ```
//!
//! A console's steps run in order, after every console has printed all its
//! milestones; the consoles' dialogues run side by side. A step waits for
//! its `expect` (if any), then types its `send` (if any). A step that does
//! not match within its `timeout_secs` ends the run as hung on that console,
//! with the step's pattern as what never appeared.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Result};
use regex::Regex;
use serde::Deserialize;

/// A step's bound when the file gives none.
const DEFAULT_STEP_TIMEOUT_SECS: f64 = 30.0;

/// One `[[console.step]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StepSection {
    expect: Option<String>,
    send: Option<String>,
    timeout_secs: Option<f64>,
}

/// One checked step of a console's dialogue.
#[derive(Debug, Clone)]
pub struct DialogueStep {
    /// What to wait for first, searched after the console's previous match
    /// (the last milestone, or the previous step's `expect`).
    pub(crate) expect: Option<Regex>,
    /// What to type once `expect` matched (or at once, without `expect`).
    pub send: Option<String>,
    /// How long the step may wait for `expect`.
    pub(crate) timeout: Duration,
    /// The step's line in the scenario file, for reports.
    pub(crate) line: usize,
}

/// Checks a console's steps. `position_of` turns a byte offset of the file
/// into its line and column; errors say `file:line:col: key: message`.
pub(super) fn check_steps(
    sections: &[toml::Spanned<StepSection>],
    console_key: &str,
    path: &Path,
    position_of: impl Fn(usize) -> (usize, usize),
) -> Result<Vec<DialogueStep>> {
    let mut steps = Vec::new();
    for (i, spanned) in sections.iter().enumerate() {
        let (line, col) = position_of(spanned.span().start);
        let step = spanned.get_ref();
        let err = |key: &str, msg: String| {
            anyhow!(
                "{}:{line}:{col}: {console_key}.step[{i}]{key}: {msg}",
                path.display()
            )
        };
        if step.expect.is_none() && step.send.is_none() {
            return Err(err("", "a step needs expect, send or both".into()));
        }
        let expect = match step.expect.as_deref() {
            Some("") => {
                return Err(err(
                    ".expect",
                    "is empty: give a pattern, e.g. '\\$ '".into(),
                ))
            }
            Some(p) => Some(Regex::new(p).map_err(|e| err(".expect", e.to_string()))?),
            None => None,
        };
        if step.send.as_deref() == Some("") {
            return Err(err(".send", "is empty: leave it out to only wait".into()));
        }
        let secs = step.timeout_secs.unwrap_or(DEFAULT_STEP_TIMEOUT_SECS);
        if !(secs > 0.0 && secs <= 86_400.0) {
            return Err(err(
                ".timeout_secs",
                format!("{secs}: must be above 0 and at most 86400"),
            ));
        }
        steps.push(DialogueStep {
            expect,
            send: step.send.clone(),
            timeout: Duration::from_secs_f64(secs),
            line,
        });
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::scenario::{Scenario, ScenarioFile};

    const HEAD: &str = r#"[machine]
cpu = "rv64"
[[console]]
name = "vm0"
attach = "serial"
milestones = ["init: starting sh"]
"#;

    fn load(steps: &str) -> anyhow::Result<Scenario> {
        let path = Path::new("/proj/scenarios/d.toml");
        let text = format!("{HEAD}{steps}");
        ScenarioFile::parse(&text, path)?.into_scenario(path)
    }

    fn error(steps: &str) -> String {
        format!("{:#}", load(steps).expect_err("the file is wrong"))
    }

    #[test]
    fn steps_belong_to_their_console_in_order() {
        let s = load(
            r#"
[[console.step]]
expect = '\$ '
send = "stress 60\n"
timeout_secs = 5

[[console.step]]
expect = "stress: done"

[[console]]
name = "vm1"
attach = "pci-serial"
"#,
        )
        .unwrap();
        let steps = &s.consoles[0].steps;
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].expect.as_ref().unwrap().as_str(), r"\$ ");
        assert_eq!(steps[0].send.as_deref(), Some("stress 60\n"));
        assert_eq!(steps[0].timeout, Duration::from_secs(5));
        assert_eq!(steps[1].send, None);
        assert_eq!(
            steps[1].timeout,
            Duration::from_secs(30),
            "the default bound"
        );
        assert_eq!((steps[0].line, steps[1].line), (8, 13));
        assert!(s.consoles[1].steps.is_empty());
    }

    #[test]
    fn a_send_alone_is_a_step() {
        let s = load("[[console.step]]\nsend = \"echo hi\\n\"\n").unwrap();
        assert!(s.consoles[0].steps[0].expect.is_none());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = error("\n[[console.step]]\nexpect = 'stress: ('\n");
        assert!(
            e.starts_with("/proj/scenarios/d.toml:8:1: console[0].step[0].expect: "),
            "{e}"
        );
        let e = error("[[console.step]]\ntimeout_secs = 3\n");
        assert!(
            e.starts_with(
                "/proj/scenarios/d.toml:7:1: console[0].step[0]: a step needs expect, send or both"
            ),
            "{e}"
        );
        let e = error(
            "[[console.step]]\nsend = \"x\"\n[[console.step]]\nexpect = 'y'\ntimeout_secs = 0\n",
        );
        assert!(
            e.starts_with(
                "/proj/scenarios/d.toml:9:1: console[0].step[1].timeout_secs: 0: must be above 0"
            ),
            "{e}"
        );
        let e = error("[[console.step]]\nexpect = ''\n");
        assert!(e.contains("step[0].expect: is empty"), "{e}");
        let e = error("[[console.step]]\nsend = ''\n");
        assert!(e.contains("step[0].send: is empty"), "{e}");
    }

    #[test]
    fn unknown_keys_are_parse_errors_with_a_position() {
        let e = error("[[console.step]]\nexpekt = 'x'\n");
        assert!(
            e.starts_with("/proj/scenarios/d.toml:8:1: console[0].step[0]: unknown field `expekt`"),
            "{e}"
        );
    }
}
