//! The security rule engine: a verdict (allow / deny / escalate) for an action an agent is
//! about to take, and the scan of a tool's output for sensitive data.
//!
//! Rules run in a fixed order: configured policy, credential detector, path-traversal
//! detector, destructive-operation detector, data-exfiltration detector. The first deny or
//! escalate wins. A rule that fails counts as deny at critical risk: the engine fails closed.

mod approval;
mod assess;
mod detectors;
pub mod names;
mod policy;
mod redact;
mod scan;

use std::collections::BTreeSet;

use serde::Serialize;
use uuid::Uuid;

use crate::agent::{AgentStatus, TrustLevel};
use crate::string_enum;

pub use approval::{Approval, ApprovalStatus, Decision, DecisionRequest};
pub use assess::Assessment;
pub use detectors::{CredentialDetector, DestructiveOperationDetector, ExfiltrationDetector, PathTraversalDetector};
pub use policy::{LevelPolicy, ModelRefused, PolicyRule, SecurityPolicy};
pub use redact::{REDACTED, is_secret_name, redact_json};
pub use scan::{OutputFinding, OutputScan, scan_output};

string_enum! {
    /// The closed set of verdicts. `output_scan` is the verdict of an output scan.
    pub enum Verdict {
        Allow => "allow",
        Deny => "deny",
        Escalate => "escalate",
        OutputScan => "output_scan",
    }
}

string_enum! {
    /// Whether the rules' verdicts are enforced. In `shadow` mode a `deny` or `escalate` from
    /// the rules is recorded and counted as such, with the action `allow`, and the answer
    /// allows: operators trial new rules on live traffic. The budget is always enforced.
    #[derive(Default)]
    pub enum SecurityMode {
        #[default]
        Enforce => "enforce",
        Shadow => "shadow",
    }
}

string_enum! {
    /// How much damage an action could do.
    pub enum RiskLevel {
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
}

/// An action an agent asks to perform.
#[derive(Debug, Clone)]
pub struct SecurityAction {
    pub agent_id: Uuid,
    pub task_id: Option<Uuid>,
    pub tool: String,
    pub action_type: String,
    pub arguments: serde_json::Value,
}

impl SecurityAction {
    /// Every problem with the names the policy matches: 1 to 128 characters, not blank, no
    /// invisible, format or control characters ([`names::check_visible`]).
    pub fn check_names(tool: &str, action_type: &str) -> Result<(), crate::DomainError> {
        let mut errors = Vec::new();
        for (field, value) in [("tool", tool), ("action_type", action_type)] {
            if value.trim().is_empty() || value.chars().nth(128).is_some() {
                errors.push(crate::FieldError::new(field, "must be 1 to 128 characters"));
            } else if let Err(message) = names::check_visible(value) {
                errors.push(crate::FieldError::new(field, message.to_string()));
            }
        }
        crate::DomainError::check(errors)
    }
}

/// What the rules know about the acting agent.
#[derive(Debug, Clone)]
pub struct AgentContext {
    pub status: AgentStatus,
    pub trust_level: TrustLevel,
    pub allowed_tools: Vec<String>,
    pub denied_tools: Vec<String>,
}

impl From<&crate::agent::Agent> for AgentContext {
    fn from(agent: &crate::agent::Agent) -> Self {
        Self {
            status: agent.status,
            trust_level: agent.trust_level,
            allowed_tools: agent.allowed_tools.clone(),
            denied_tools: agent.denied_tools.clone(),
        }
    }
}

/// What one rule found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFinding {
    pub verdict: Verdict,
    pub risk: RiskLevel,
    pub reason: String,
}

/// A rule could not decide (for example arguments nested too deeply to scan).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleError(pub String);

/// The input every rule sees.
#[derive(Debug)]
pub struct RuleInput<'a> {
    pub action: &'a SecurityAction,
    pub agent: &'a AgentContext,
    texts: Result<Vec<String>, RuleError>,
}

impl RuleInput<'_> {
    /// Every string in the action (tool, action type, argument keys and values), or the
    /// reason they could not be collected.
    pub fn texts(&self) -> Result<&[String], RuleError> {
        self.texts.as_deref().map_err(Clone::clone)
    }
}

/// One rule of the engine.
pub trait Rule: Send + Sync + std::fmt::Debug {
    /// Stable name, reported in `matched_rules`.
    fn name(&self) -> &'static str;
    /// A finding when the rule has something to say, `None` when it does not apply.
    fn check(&self, input: &RuleInput<'_>) -> Result<Option<RuleFinding>, RuleError>;
}

/// The engine's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evaluation {
    pub verdict: Verdict,
    pub risk_level: RiskLevel,
    pub reason: String,
    /// Rules that produced a finding, in order; the last one decided unless the verdict is allow.
    pub matched_rules: Vec<String>,
}

/// The ordered rules.
#[derive(Debug)]
pub struct RuleEngine {
    rules: Vec<Box<dyn Rule>>,
    mode: SecurityMode,
}

/// Deepest nesting of arguments the detectors scan; deeper fails closed.
pub const MAX_ARGUMENT_DEPTH: usize = 32;
/// Most argument text the detectors scan; more fails closed.
pub const MAX_ARGUMENT_TEXT: usize = 256 * 1024;

impl RuleEngine {
    /// The standard five rules in their order.
    pub fn new(policy: SecurityPolicy) -> Self {
        Self::with_rules(vec![
            Box::new(PolicyRule::new(policy)),
            Box::new(CredentialDetector),
            Box::new(PathTraversalDetector),
            Box::new(DestructiveOperationDetector),
            Box::new(ExfiltrationDetector),
        ])
    }

    /// An engine with the given rules, in order.
    pub fn with_rules(rules: Vec<Box<dyn Rule>>) -> Self {
        // Pay for pattern compilation at start-up, not in the first agent's request.
        detectors::compile_all();
        scan::compile_all();
        Self { rules, mode: SecurityMode::Enforce }
    }

    /// The engine in `mode` (see [`SecurityMode`]).
    pub fn with_mode(mut self, mode: SecurityMode) -> Self {
        self.mode = mode;
        self
    }

    pub fn mode(&self) -> SecurityMode {
        self.mode
    }

    /// Whether the configured policy alone (rule `policy`: the agent's status, its trust
    /// level's tool and action-type lists) denies `tool` as `action_type`, enforced. What a
    /// tool list shows an agent: a tool whose every call would be denied is left out; one
    /// that escalates, or that a detector might refuse for its arguments, is shown. In
    /// shadow mode nothing is denied, so everything is shown.
    pub fn policy_denies(&self, agent: &AgentContext, tool: &str, action_type: &str) -> bool {
        if self.mode == SecurityMode::Shadow {
            return false;
        }
        let action = SecurityAction {
            agent_id: Uuid::nil(),
            task_id: None,
            tool: tool.to_owned(),
            action_type: action_type.to_owned(),
            arguments: serde_json::Value::Null,
        };
        let input = RuleInput { action: &action, agent, texts: Ok(Vec::new()) };
        self.rules.iter().filter(|rule| rule.name() == "policy").any(|rule| {
            !matches!(
                rule.check(&input),
                Ok(None) | Ok(Some(RuleFinding { verdict: Verdict::Allow | Verdict::Escalate, .. }))
            )
        })
    }

    /// Evaluates an action. Never fails: a rule error is a deny at critical risk.
    pub fn evaluate(&self, action: &SecurityAction, agent: &AgentContext) -> Evaluation {
        let input = RuleInput { action, agent, texts: collect_texts(action) };
        let mut matched = Vec::new();
        let mut allow_reasons = BTreeSet::new();
        for rule in &self.rules {
            let finding = match rule.check(&input) {
                Ok(None) => continue,
                Ok(Some(finding)) => finding,
                Err(error) => RuleFinding {
                    verdict: Verdict::Deny,
                    risk: RiskLevel::Critical,
                    reason: format!("rule {} failed, denying: {error}", rule.name()),
                },
            };
            matched.push(rule.name().to_owned());
            if finding.verdict == Verdict::Allow {
                allow_reasons.insert(finding.reason);
                continue;
            }
            return Evaluation {
                verdict: finding.verdict,
                risk_level: finding.risk,
                reason: finding.reason,
                matched_rules: matched,
            };
        }
        let reason = if allow_reasons.is_empty() {
            "no rule objected".to_owned()
        } else {
            allow_reasons.into_iter().collect::<Vec<_>>().join("; ")
        };
        Evaluation { verdict: Verdict::Allow, risk_level: RiskLevel::Low, reason, matched_rules: matched }
    }
}

fn collect_texts(action: &SecurityAction) -> Result<Vec<String>, RuleError> {
    let mut out = vec![action.tool.clone(), action.action_type.clone()];
    let mut budget = MAX_ARGUMENT_TEXT;
    walk(&action.arguments, 0, &mut out, &mut budget)?;
    Ok(out)
}

fn push(s: String, out: &mut Vec<String>, budget: &mut usize) -> Result<(), RuleError> {
    *budget = budget
        .checked_sub(s.len())
        .ok_or_else(|| RuleError(format!("arguments hold more than {MAX_ARGUMENT_TEXT} bytes of text")))?;
    out.push(s);
    Ok(())
}

fn walk(value: &serde_json::Value, depth: usize, out: &mut Vec<String>, budget: &mut usize) -> Result<(), RuleError> {
    use serde_json::Value;
    if depth > MAX_ARGUMENT_DEPTH {
        return Err(RuleError(format!("arguments nested deeper than {MAX_ARGUMENT_DEPTH} levels")));
    }
    match value {
        Value::Null | Value::Bool(_) => {}
        Value::Number(n) => push(n.to_string(), out, budget)?,
        Value::String(s) => push(s.clone(), out, budget)?,
        Value::Array(items) => {
            for item in items {
                walk(item, depth + 1, out, budget)?;
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                // `key=value` lets detectors see secrets passed by field name.
                if let Value::String(s) = item {
                    push(format!("{key}={s}"), out, budget)?;
                } else {
                    push(key.clone(), out, budget)?;
                    walk(item, depth + 1, out, budget)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
