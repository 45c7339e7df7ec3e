//! The configured policy rule: what each trust level may do.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::names::{canonical_patterns, check_visible, matches_any};
use super::{RiskLevel, Rule, RuleError, RuleFinding, RuleInput, Verdict};
use crate::FieldError;
use crate::agent::{AgentStatus, TrustLevel};

/// What one trust level may do. Tool names and action types match in their canonical
/// spelling (NFKC, case-folded, trimmed: see `security::names`), exactly or by prefix with a
/// trailing `*` (`fs.*`). Empty allow lists mean "anything not denied".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LevelPolicy {
    pub allowed_tools: Vec<String>,
    pub denied_tools: Vec<String>,
    pub allowed_action_types: Vec<String>,
    pub escalate_action_types: Vec<String>,
    pub denied_action_types: Vec<String>,
    /// Models this level may call through the model gateway (empty: any not denied), in the
    /// same canonical matching as tools.
    pub allowed_models: Vec<String>,
    pub denied_models: Vec<String>,
    /// The most output tokens one gateway call of this level may hold (absent: no cap of
    /// the level's own).
    pub max_output_tokens: Option<u64>,
}

/// The policy for every trust level. Levels not configured use the defaults below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecurityPolicy {
    pub levels: BTreeMap<TrustLevel, LevelPolicy>,
}

fn list(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl SecurityPolicy {
    /// The default policy for a trust level:
    /// - sandboxed: read only;
    /// - restricted: read and write; execute, network and delete escalate; admin denied;
    /// - standard and custom: delete and admin escalate;
    /// - elevated: everything.
    pub fn default_level(level: TrustLevel) -> LevelPolicy {
        match level {
            TrustLevel::Sandboxed => LevelPolicy { allowed_action_types: list(&["read"]), ..Default::default() },
            TrustLevel::Restricted => LevelPolicy {
                allowed_action_types: list(&["read", "write", "execute", "network", "delete"]),
                escalate_action_types: list(&["execute", "network", "delete"]),
                denied_action_types: list(&["admin"]),
                ..Default::default()
            },
            TrustLevel::Standard | TrustLevel::Custom => {
                LevelPolicy { escalate_action_types: list(&["delete", "admin"]), ..Default::default() }
            }
            TrustLevel::Elevated => LevelPolicy::default(),
        }
    }

    /// The policy that applies to a level: configured, else the default.
    pub fn level(&self, level: TrustLevel) -> LevelPolicy {
        self.levels.get(&level).cloned().unwrap_or_else(|| Self::default_level(level))
    }

    /// Every problem with the configured policy.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (level, policy) in &self.levels {
            for (field, items) in [
                ("allowed_tools", &policy.allowed_tools),
                ("denied_tools", &policy.denied_tools),
                ("allowed_action_types", &policy.allowed_action_types),
                ("escalate_action_types", &policy.escalate_action_types),
                ("denied_action_types", &policy.denied_action_types),
                ("allowed_models", &policy.allowed_models),
                ("denied_models", &policy.denied_models),
            ] {
                for (i, item) in items.iter().enumerate() {
                    if item.trim().is_empty() || item.len() > 128 {
                        errors.push(FieldError::new(format!("{level}.{field}[{i}]"), "must be 1 to 128 characters"));
                    } else if let Err(message) = check_visible(item) {
                        errors.push(FieldError::new(format!("{level}.{field}[{i}]"), message.to_string()));
                    }
                }
            }
            if policy.max_output_tokens == Some(0) {
                errors.push(FieldError::new(
                    format!("{level}.max_output_tokens"),
                    "must be at least 1 (leave it out for no cap)",
                ));
            }
        }
        errors
    }

    /// Whether an agent of `level` may call `model` through the model gateway, and the output
    /// cap it may hold: `requested`, lowered to the level's `max_output_tokens`. The refusal
    /// says which list refused.
    pub fn model_call(&self, level: TrustLevel, model: &str, requested: u64) -> Result<u64, ModelRefused> {
        let policy = self.level(level);
        let refused = |denied| ModelRefused { model: model.to_owned(), level, denied };
        if matches_any(&canonical_patterns(&policy.denied_models), model) {
            return Err(refused(true));
        }
        if !policy.allowed_models.is_empty() && !matches_any(&canonical_patterns(&policy.allowed_models), model) {
            return Err(refused(false));
        }
        Ok(policy.max_output_tokens.map_or(requested, |cap| requested.min(cap)))
    }
}

/// A model a trust level may not call: on its `denied_models`, or not on its
/// `allowed_models`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the model {model} is {} for trust level {level}", if *.denied { "denied" } else { "not allowed" })]
pub struct ModelRefused {
    pub model: String,
    pub level: TrustLevel,
    pub denied: bool,
}

impl Default for SecurityPolicy {
    fn default() -> Self {
        Self { levels: TrustLevel::ALL.iter().map(|l| (*l, Self::default_level(*l))).collect() }
    }
}

impl LevelPolicy {
    /// The same policy with every pattern in its canonical spelling.
    fn canonical(&self) -> LevelPolicy {
        LevelPolicy {
            allowed_tools: canonical_patterns(&self.allowed_tools),
            denied_tools: canonical_patterns(&self.denied_tools),
            allowed_action_types: canonical_patterns(&self.allowed_action_types),
            escalate_action_types: canonical_patterns(&self.escalate_action_types),
            denied_action_types: canonical_patterns(&self.denied_action_types),
            allowed_models: canonical_patterns(&self.allowed_models),
            denied_models: canonical_patterns(&self.denied_models),
            max_output_tokens: self.max_output_tokens,
        }
    }
}

/// Rule 1: the configured policy for the agent's trust level (and, for `custom`, the
/// agent's own tool lists). Terminated agents may do nothing.
#[derive(Debug)]
pub struct PolicyRule {
    /// Every level's policy, patterns in canonical spelling.
    levels: BTreeMap<TrustLevel, LevelPolicy>,
}

impl PolicyRule {
    pub fn new(policy: SecurityPolicy) -> Self {
        Self { levels: TrustLevel::ALL.iter().map(|l| (*l, policy.level(*l).canonical())).collect() }
    }
}

impl Rule for PolicyRule {
    fn name(&self) -> &'static str {
        "policy"
    }

    fn check(&self, input: &RuleInput<'_>) -> Result<Option<RuleFinding>, RuleError> {
        let (agent, action) = (input.agent, input.action);
        let deny = |risk, reason: String| Ok(Some(RuleFinding { verdict: Verdict::Deny, risk, reason }));
        if agent.status == AgentStatus::Terminated {
            return deny(RiskLevel::High, "agent is terminated".into());
        }
        let level = agent.trust_level;
        let Some(policy) = self.levels.get(&level) else {
            return deny(RiskLevel::High, format!("no policy for trust level {level}"));
        };
        let (tool, kind) = (action.tool.as_str(), action.action_type.as_str());
        let matches = matches_any;
        if level == TrustLevel::Custom {
            if matches(&canonical_patterns(&agent.denied_tools), tool) {
                return deny(RiskLevel::Medium, format!("tool {tool} is on this agent's deny list"));
            }
            if !agent.allowed_tools.is_empty() && !matches(&canonical_patterns(&agent.allowed_tools), tool) {
                return deny(RiskLevel::Medium, format!("tool {tool} is not on this agent's allow list"));
            }
        }
        if matches(&policy.denied_tools, tool) {
            return deny(RiskLevel::Medium, format!("tool {tool} is denied for trust level {level}"));
        }
        if !policy.allowed_tools.is_empty() && !matches(&policy.allowed_tools, tool) {
            return deny(RiskLevel::Medium, format!("tool {tool} is not allowed for trust level {level}"));
        }
        if matches(&policy.denied_action_types, kind) {
            return deny(RiskLevel::High, format!("action type {kind} is denied for trust level {level}"));
        }
        if !policy.allowed_action_types.is_empty() && !matches(&policy.allowed_action_types, kind) {
            return deny(RiskLevel::Medium, format!("action type {kind} is not allowed for trust level {level}"));
        }
        if matches(&policy.escalate_action_types, kind) {
            return Ok(Some(RuleFinding {
                verdict: Verdict::Escalate,
                risk: RiskLevel::Medium,
                reason: format!("action type {kind} needs approval at trust level {level}"),
            }));
        }
        Ok(None)
    }
}
