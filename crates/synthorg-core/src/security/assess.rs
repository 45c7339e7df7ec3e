//! An evaluation as the API answers it: the budget gate before the rules, and the approval an
//! escalation opens.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{AgentContext, Approval, ApprovalStatus, Evaluation, RiskLevel, RuleEngine, SecurityAction, Verdict};
use crate::security::redact_json;

/// The name reported in `matched_rules` when the budget decided.
pub(super) const BUDGET_RULE: &str = "budget";

/// One evaluated action: its id, the engine's verdict, what is done about it and, for an
/// enforced escalation, the pending approval it opens.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub id: Uuid,
    pub evaluation: Evaluation,
    /// What the answer does: the verdict, or `allow` for a rules' `deny` or `escalate` in
    /// shadow mode.
    pub action: Verdict,
    pub approval: Option<Approval>,
}

impl Assessment {
    /// Turns the verdict into a budget denial (a hold that does not fit), enforced in every
    /// mode.
    pub fn deny_for_budget(&mut self, reason: String) {
        self.evaluation = Evaluation::budget_denial(reason);
        self.action = Verdict::Deny;
        self.approval = None;
    }
}

impl Evaluation {
    /// The verdict on an action whose budget or limit is exhausted: deny at high risk,
    /// decided by the budget before any rule runs.
    pub fn budget_denial(reason: String) -> Self {
        Self {
            verdict: Verdict::Deny,
            risk_level: RiskLevel::High,
            reason,
            matched_rules: vec![BUDGET_RULE.to_owned()],
        }
    }
}

impl RuleEngine {
    /// Assesses an action at `at`. Budget enforcement gates the rules: with `budget_refusal`
    /// (why the budget refuses new work, from [`crate::budget::BudgetConfig::refusal`]) the
    /// action is denied and no rule runs. An escalation opens a pending approval that keeps
    /// the action's arguments with secret-named fields redacted.
    pub fn assess(
        &self,
        action: &SecurityAction,
        agent: &AgentContext,
        budget_refusal: Option<String>,
        at: OffsetDateTime,
    ) -> Assessment {
        let (evaluation, by_rules) = match budget_refusal {
            Some(reason) => (Evaluation::budget_denial(reason), false),
            None => (self.evaluate(action, agent), true),
        };
        let shadowed = by_rules
            && self.mode() == super::SecurityMode::Shadow
            && matches!(evaluation.verdict, Verdict::Deny | Verdict::Escalate);
        let taken = if shadowed { Verdict::Allow } else { evaluation.verdict };
        let id = Uuid::now_v7();
        let approval = (taken == Verdict::Escalate).then(|| Approval::pending(id, action, &evaluation, at));
        Assessment { id, evaluation, action: taken, approval }
    }
}

impl Approval {
    /// The pending approval that escalated evaluation `evaluation_id` opens. Arguments are
    /// kept for the deciding admin, with secret-named fields redacted.
    pub fn pending(evaluation_id: Uuid, action: &SecurityAction, evaluation: &Evaluation, at: OffsetDateTime) -> Self {
        let mut arguments = action.arguments.clone();
        redact_json(&mut arguments);
        Approval {
            id: Uuid::now_v7(),
            evaluation_id,
            agent_id: action.agent_id,
            task_id: action.task_id,
            tool: action.tool.clone(),
            action_type: action.action_type.clone(),
            arguments,
            reason: evaluation.reason.clone(),
            risk_level: evaluation.risk_level,
            status: ApprovalStatus::Pending,
            created_at: at,
            decided_at: None,
            decided_by: None,
            decision_note: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::agent::{AgentStatus, TrustLevel};
    use crate::security::{REDACTED, SecurityPolicy};

    const AT: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

    fn agent(level: TrustLevel) -> AgentContext {
        AgentContext { status: AgentStatus::Active, trust_level: level, allowed_tools: vec![], denied_tools: vec![] }
    }

    fn action(tool: &str, kind: &str, arguments: serde_json::Value) -> SecurityAction {
        SecurityAction {
            agent_id: Uuid::now_v7(),
            task_id: Some(Uuid::now_v7()),
            tool: tool.into(),
            action_type: kind.into(),
            arguments,
        }
    }

    #[test]
    fn an_exhausted_budget_denies_before_any_rule() {
        let engine = RuleEngine::new(SecurityPolicy::default());
        // An action every rule would allow, and one they would escalate: both denied.
        for (tool, kind) in [("fs.read", "read"), ("fs.delete", "delete")] {
            let a = engine.assess(
                &action(tool, kind, json!({})),
                &agent(TrustLevel::Standard),
                Some("monthly budget exhausted".into()),
                AT,
            );
            assert_eq!(a.evaluation.verdict, Verdict::Deny);
            assert_eq!(a.evaluation.risk_level, RiskLevel::High);
            assert_eq!(a.evaluation.reason, "monthly budget exhausted");
            assert_eq!(a.evaluation.matched_rules, [BUDGET_RULE]);
            assert!(a.approval.is_none(), "a budget denial opens no approval");
        }
    }

    #[test]
    fn without_a_refusal_the_rules_decide() {
        let engine = RuleEngine::new(SecurityPolicy::default());
        let act = action("fs.read", "read", json!({"path": "README.md"}));
        let a = engine.assess(&act, &agent(TrustLevel::Standard), None, AT);
        assert_eq!(a.evaluation, engine.evaluate(&act, &agent(TrustLevel::Standard)));
        assert_eq!(a.evaluation.verdict, Verdict::Allow);
        assert!(a.approval.is_none());
    }

    #[test]
    fn an_escalation_opens_a_redacted_pending_approval() {
        let engine = RuleEngine::new(SecurityPolicy::default());
        let act = action(
            "db",
            "execute",
            // Fields whose names concern a secret without holding one: the credential detector
            // lets them pass, the approval still hides them.
            json!({"sql": "DROP TABLE customers", "password_policy": 1234, "nested": {"session": {"id": 7}, "n": 1}}),
        );
        let a = engine.assess(&act, &agent(TrustLevel::Standard), None, AT);
        assert_eq!(a.evaluation.verdict, Verdict::Escalate, "{:?}", a.evaluation);
        let approval = a.approval.expect("an escalation opens an approval");
        assert_eq!(approval.evaluation_id, a.id);
        assert_ne!(approval.id, a.id);
        assert_eq!((approval.agent_id, approval.task_id), (act.agent_id, act.task_id));
        assert_eq!((approval.tool.as_str(), approval.action_type.as_str()), ("db", "execute"));
        assert_eq!(approval.reason, a.evaluation.reason);
        assert_eq!(approval.risk_level, a.evaluation.risk_level);
        assert_eq!(approval.status, ApprovalStatus::Pending);
        assert_eq!(approval.created_at, AT);
        assert_eq!((approval.decided_at, approval.decided_by, approval.decision_note), (None, None, None));
        assert_eq!(
            approval.arguments,
            json!({"sql": "DROP TABLE customers", "password_policy": REDACTED, "nested": {"session": REDACTED, "n": 1}})
        );
        // The action itself is not changed: the rules saw the real arguments.
        assert_eq!(act.arguments["password_policy"], 1234);
    }
}
