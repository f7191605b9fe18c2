//! One line of `results.jsonl`: what a measurement found, for the report.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Which server and which repetition a measurement belongs to (given on the command line).
#[derive(Debug, Clone, clap::Args)]
pub struct Label {
    /// Server under test: rendezvous, coturn or peerjs.
    #[arg(long = "name", id = "name")]
    pub server: String,
    /// Repetition number.
    #[arg(long, default_value_t = 1)]
    pub run: u32,
    /// Append the result as one JSON line to this file (also printed to stdout).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Line {
    /// A measurement: named figures plus free-form detail (per-step numbers, settings).
    Result {
        test: String,
        server: String,
        run: u32,
        metrics: BTreeMap<String, f64>,
        #[serde(default)]
        detail: serde_json::Value,
    },
    /// A fact about the whole run: machine, versions, load, commands.
    Meta { key: String, value: String },
}

impl Label {
    /// Record a measurement. Figures that could not be computed (NaN, infinite: no samples,
    /// no PID) are left out rather than written as JSON `null`.
    pub fn emit(
        &self,
        test: &str,
        mut metrics: BTreeMap<String, f64>,
        detail: serde_json::Value,
    ) -> Result<()> {
        metrics.retain(|_, v| v.is_finite());
        let line = Line::Result {
            test: test.to_owned(),
            server: self.server.clone(),
            run: self.run,
            metrics,
            detail,
        };
        let text = serde_json::to_string(&line)?;
        println!("{text}");
        if let Some(path) = &self.out {
            append(path, &text)?;
        }
        Ok(())
    }
}

pub fn append(path: &Path, text: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(f, "{text}")?;
    Ok(())
}

/// Parse a results file; blank lines are skipped, a bad line is an error naming its number.
pub fn parse_lines(text: &str) -> Result<Vec<Line>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("results line {}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let text = r#"{"kind":"meta","key":"coturn","value":"4.6.1"}

{"kind":"result","test":"binding","server":"coturn","run":2,"metrics":{"responses_per_cpu_s":1.5}}"#;
        let lines = parse_lines(text).unwrap();
        assert_eq!(lines.len(), 2);
        match &lines[1] {
            Line::Result {
                test, run, metrics, ..
            } => {
                assert_eq!((test.as_str(), *run), ("binding", 2));
                assert_eq!(metrics["responses_per_cpu_s"], 1.5);
            }
            other => panic!("{other:?}"),
        }
        let again = serde_json::to_string(&lines[0]).unwrap();
        assert_eq!(parse_lines(&again).unwrap()[0], lines[0]);
    }

    #[test]
    fn a_bad_line_names_its_number() {
        let err =
            parse_lines("{\"kind\":\"meta\",\"key\":\"a\",\"value\":\"b\"}\nnot json").unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }
}
