//! Content detectors: credentials, path traversal, destructive operations, exfiltration.
//!
//! Each detector matches regular expressions against every string of the action. The
//! patterns are compiled once; the `regex` crate guarantees linear-time matching, so a
//! hostile argument cannot make a detector slow.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

use super::{RiskLevel, Rule, RuleError, RuleFinding, RuleInput, Verdict};

/// A set of patterns with the label of each, compiled once.
pub(super) struct Patterns {
    labels: Vec<&'static str>,
    set: RegexSet,
    regexes: Vec<Regex>,
}

impl Patterns {
    /// Compiles the table; the patterns are constants covered by tests, so a failure here is
    /// a programming error caught by every test run.
    pub(super) fn new(table: &[(&'static str, &'static str)]) -> Self {
        let set = RegexSet::new(table.iter().map(|(_, p)| *p)).expect("detector patterns are valid");
        let regexes = table.iter().map(|(_, p)| Regex::new(p).expect("detector patterns are valid")).collect();
        Self { labels: table.iter().map(|(l, _)| *l).collect(), set, regexes }
    }

    /// The label of the first pattern that matches any of `texts`.
    pub(super) fn first_match(&self, texts: &[String]) -> Option<&'static str> {
        texts.iter().find_map(|t| self.set.matches(t).iter().next().map(|i| self.labels[i]))
    }

    /// Every match in `text` as `(label, start, end)`.
    pub(super) fn find_all(&self, text: &str) -> Vec<(&'static str, usize, usize)> {
        self.set
            .matches(text)
            .iter()
            .flat_map(|i| self.regexes[i].find_iter(text).map(move |m| (self.labels[i], m.start(), m.end())))
            .collect()
    }
}

/// Secrets and keys, shared with the output scan.
pub(super) const CREDENTIAL_PATTERNS: &[(&str, &str)] = &[
    ("private key", r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
    ("AWS access key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    ("API key", r"\bsk-(?:[A-Za-z0-9_-]{20,})"),
    ("Slack token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    ("JSON web token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    (
        "secret assignment",
        r"(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|private[_-]?key|client[_-]?secret)\s*[=:]\s*[^\s=:]{4,}",
    ),
    ("bearer credential", r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*"),
];

static CREDENTIALS: LazyLock<Patterns> = LazyLock::new(|| Patterns::new(CREDENTIAL_PATTERNS));

static TRAVERSAL: LazyLock<Patterns> = LazyLock::new(|| {
    Patterns::new(&[
        ("parent directory reference", r"(?:^|[/\\\s=:'\x22])\.\.(?:[/\\]|$)"),
        ("encoded parent directory", r"(?i)(?:%2e%2e|%252e%252e|\.\.%2f|\.\.%5c|%2e%2e%2f|\.%2e|%2e\.)"),
        ("NUL byte in path", r"\x00"),
        (
            "sensitive system path",
            r"(?:^|[\s='\x22])(?:/etc/(?:shadow|passwd|sudoers|gshadow)|/proc/self/|/root/|~/\.ssh/|/var/run/secrets/)",
        ),
        ("Windows system path", r"(?i)c:\\windows\\system32"),
    ])
});

/// Operations that cannot be undone and serve no legitimate agent purpose: denied.
static CATASTROPHIC: LazyLock<Patterns> = LazyLock::new(|| {
    Patterns::new(&[
        (
            "recursive delete of the root or home directory",
            r"\brm\s+(?:-[a-zA-Z]*\s+)*-[a-zA-Z]*[rR][a-zA-Z]*\s+(?:-[a-zA-Z-]+\s+)*(?:/|/\*|~|~/|\$HOME|\*)(?:\s|;|$)",
        ),
        ("filesystem format", r"\bmkfs(?:\.[a-z0-9]+)?\b"),
        ("raw write to a device", r"\bdd\b[^|;]*\bof=/dev/"),
        ("fork bomb", r":\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:"),
        ("world-writable root", r"\bchmod\s+-R\s+0?777\s+/(?:\s|$)"),
    ])
});

/// Destructive but sometimes intended: escalated to a human.
static DESTRUCTIVE: LazyLock<Patterns> = LazyLock::new(|| {
    Patterns::new(&[
        ("DROP statement", r"(?i)\bdrop\s+(?:table|database|schema|index|view)\b"),
        ("TRUNCATE statement", r"(?i)\btruncate\s+(?:table\s+)?[A-Za-z_]"),
        ("DELETE without WHERE", r"(?i)\bdelete\s+from\s+[A-Za-z_][A-Za-z0-9_.\x22`]*\s*(?:;|$)"),
        ("force push", r"\bgit\s+push\b[^;|&]*\s(?:--force(?:-with-lease)?|-f)\b"),
        ("hard reset", r"\bgit\s+(?:reset\s+--hard|clean\s+-[a-zA-Z]*[fdx])"),
        ("recursive delete", r"\brm\s+(?:-[a-zA-Z]*\s+)*-[a-zA-Z]*[rR][a-zA-Z]*\s"),
        ("cluster resource deletion", r"\bkubectl\s+delete\b"),
        ("infrastructure destroy", r"\bterraform\s+destroy\b"),
    ])
});

static EXFILTRATION: LazyLock<Patterns> = LazyLock::new(|| {
    Patterns::new(&[
        (
            "file upload with curl",
            r"\bcurl\b[^|;]*(?:\s-d\s*@|\s--data(?:-binary|-raw)?[=\s]+@|\s-F\s*[\x22']?[A-Za-z0-9_]+=@|\s-T\s|\s--upload-file\s)",
        ),
        ("file upload with wget", r"\bwget\b[^|;]*--post-file"),
        ("remote copy", r"\b(?:scp|rsync)\b[^|;]*\s[A-Za-z0-9_.-]+@?[A-Za-z0-9_.-]*:"),
        ("raw socket", r"\b(?:nc|ncat|netcat)\b\s+(?:-[a-zA-Z]+\s+)*[A-Za-z0-9_.-]+\s+\d{1,5}\b"),
        (
            "paste or capture service",
            r"(?i)\b(?:pastebin\.com|transfer\.sh|webhook\.site|requestbin|ngrok\.io|hastebin|0x0\.st)\b",
        ),
        ("encoded data piped to the network", r"\bbase64\b[^;]*\|\s*(?:curl|nc|ncat|wget)\b"),
        ("DNS tunnelling", r"\b(?:dig|nslookup)\b[^;]*\$\("),
    ])
});

/// Compiles every pattern now rather than on the first evaluation.
pub(super) fn compile_all() {
    for patterns in [&CREDENTIALS, &TRAVERSAL, &CATASTROPHIC, &DESTRUCTIVE, &EXFILTRATION] {
        LazyLock::force(patterns);
    }
}

fn finding(verdict: Verdict, risk: RiskLevel, reason: String) -> Option<RuleFinding> {
    Some(RuleFinding { verdict, risk, reason })
}

/// Rule 2: secrets or keys in the arguments are denied (the agent should use a secret
/// reference, never the secret itself): a value that looks like one, or any value in a field
/// whose name says it holds one ([`super::redact::names_a_secret`]).
#[derive(Debug)]
pub struct CredentialDetector;

impl Rule for CredentialDetector {
    fn name(&self) -> &'static str {
        "credential_detector"
    }
    fn check(&self, input: &RuleInput<'_>) -> Result<Option<RuleFinding>, RuleError> {
        if let Some(field) = super::redact::secret_field(&input.action.arguments) {
            // The field's name is the agent's own text: quoted, at most 64 characters.
            let field: String = field.chars().take(64).collect();
            let reason = format!("arguments contain a credential (a value in the secret-named field {field:?})");
            return Ok(finding(Verdict::Deny, RiskLevel::High, reason));
        }
        Ok(CREDENTIALS.first_match(input.texts()?).and_then(|what| {
            finding(Verdict::Deny, RiskLevel::High, format!("arguments contain a credential ({what})"))
        }))
    }
}

/// Rule 3: paths that climb out of their directory or reach system secrets are denied.
#[derive(Debug)]
pub struct PathTraversalDetector;

impl Rule for PathTraversalDetector {
    fn name(&self) -> &'static str {
        "path_traversal_detector"
    }
    fn check(&self, input: &RuleInput<'_>) -> Result<Option<RuleFinding>, RuleError> {
        Ok(TRAVERSAL
            .first_match(input.texts()?)
            .and_then(|what| finding(Verdict::Deny, RiskLevel::High, format!("path traversal ({what})"))))
    }
}

/// Rule 4: catastrophic operations are denied, destructive ones escalated.
#[derive(Debug)]
pub struct DestructiveOperationDetector;

impl Rule for DestructiveOperationDetector {
    fn name(&self) -> &'static str {
        "destructive_operation_detector"
    }
    fn check(&self, input: &RuleInput<'_>) -> Result<Option<RuleFinding>, RuleError> {
        let texts = input.texts()?;
        if let Some(what) = CATASTROPHIC.first_match(texts) {
            return Ok(finding(Verdict::Deny, RiskLevel::Critical, format!("destructive operation ({what})")));
        }
        Ok(DESTRUCTIVE
            .first_match(texts)
            .and_then(|what| finding(Verdict::Escalate, RiskLevel::High, format!("destructive operation ({what})"))))
    }
}

/// Rule 5: sending data out of the organization is escalated.
#[derive(Debug)]
pub struct ExfiltrationDetector;

impl Rule for ExfiltrationDetector {
    fn name(&self) -> &'static str {
        "data_exfiltration_detector"
    }
    fn check(&self, input: &RuleInput<'_>) -> Result<Option<RuleFinding>, RuleError> {
        Ok(EXFILTRATION.first_match(input.texts()?).and_then(|what| {
            finding(Verdict::Escalate, RiskLevel::High, format!("possible data exfiltration ({what})"))
        }))
    }
}
