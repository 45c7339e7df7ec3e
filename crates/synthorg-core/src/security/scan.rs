//! Output scan: sensitive data found in what a tool returned.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::detectors::{CREDENTIAL_PATTERNS, Patterns};
use super::{REDACTED, RiskLevel, Verdict};

/// What the scan found of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutputFinding {
    pub kind: &'static str,
    pub count: usize,
    pub risk_level: RiskLevel,
}

/// The result of an output scan. The verdict is always `output_scan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutputScan {
    pub verdict: Verdict,
    /// The highest risk among the findings, `low` when nothing was found.
    pub risk_level: RiskLevel,
    pub sensitive_data_found: bool,
    pub findings: Vec<OutputFinding>,
    /// The output with every finding replaced by `**REDACTED**`.
    pub redacted_output: String,
}

static CREDENTIALS: LazyLock<Patterns> = LazyLock::new(|| Patterns::new(CREDENTIAL_PATTERNS));

struct PiiPattern {
    kind: &'static str,
    risk: RiskLevel,
    regex: Regex,
    /// Extra check on a match (Luhn for card numbers).
    accept: fn(&str) -> bool,
}

static PII: LazyLock<Vec<PiiPattern>> = LazyLock::new(|| {
    let p = |kind, risk, re: &str, accept: fn(&str) -> bool| PiiPattern {
        kind,
        risk,
        regex: Regex::new(re).expect("PII patterns are valid"),
        accept,
    };
    vec![
        p("payment card number", RiskLevel::High, r"\b(?:\d[ -]?){12,18}\d\b", luhn),
        p("US social security number", RiskLevel::High, r"\b\d{3}-\d{2}-\d{4}\b", |_| true),
        p("email address", RiskLevel::Medium, r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b", |_| true),
        p("IBAN", RiskLevel::Medium, r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}\b", |_| true),
    ]
});

/// Compiles every pattern now rather than on the first scan.
pub(super) fn compile_all() {
    LazyLock::force(&CREDENTIALS);
    LazyLock::force(&PII);
}

/// Scans a tool's output for credentials and personal data.
pub fn scan_output(output: &str) -> OutputScan {
    let mut counts: BTreeMap<&'static str, (usize, RiskLevel)> = BTreeMap::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (kind, start, end) in CREDENTIALS.find_all(output) {
        counts.entry(kind).or_insert((0, RiskLevel::Critical)).0 += 1;
        spans.push((start, end));
    }
    for pattern in PII.iter() {
        for m in pattern.regex.find_iter(output).filter(|m| (pattern.accept)(m.as_str())) {
            let entry = counts.entry(pattern.kind).or_insert((0, pattern.risk));
            entry.0 += 1;
            spans.push((m.start(), m.end()));
        }
    }
    let findings: Vec<_> =
        counts.into_iter().map(|(kind, (count, risk_level))| OutputFinding { kind, count, risk_level }).collect();
    let risk_level = findings.iter().map(|f| f.risk_level).max().unwrap_or(RiskLevel::Low);
    OutputScan {
        verdict: Verdict::OutputScan,
        risk_level,
        sensitive_data_found: !findings.is_empty(),
        findings,
        redacted_output: redact_spans(output, spans),
    }
}

fn redact_spans(text: &str, mut spans: Vec<(usize, usize)>) -> String {
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (start, end) in spans {
        if end <= pos {
            continue;
        }
        out.push_str(&text[pos..start.max(pos)]);
        out.push_str(REDACTED);
        pos = end;
    }
    out.push_str(&text[pos..]);
    out
}

/// Luhn checksum over the digits of a candidate card number.
fn luhn(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}
