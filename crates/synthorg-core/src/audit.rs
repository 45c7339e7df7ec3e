//! The audit trail: every change made with authority and every security verdict, as a
//! hash chain that shows any later edit.
//!
//! An event is written by the store in the transaction of the change it describes (see
//! `synthorg_store`), so a rolled-back change leaves none. Each event's `hash` is SHA-256
//! over the RFC 8785 (JSON Canonicalization Scheme) form of the event without `hash`, and
//! `prev_hash` is the hash of the event before it ([`GENESIS_HASH`] for the first): changing,
//! removing or reordering a stored event breaks the chain at that event, which
//! [`ChainVerifier`] names. Truncating the tail and re-hashing what is left cannot be seen
//! from the chain alone; a head ([`AuditHead`]) held outside the store catches it.

use std::io::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::agent::{Agent, AgentStatus};
use crate::budget::BudgetConfig;
use crate::security::{Approval, Verdict};
use crate::{Actor, string_enum};

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

string_enum! {
    /// What an audit event records.
    pub enum AuditAction {
        AgentRegistered => "agent.registered",
        AgentUpdated => "agent.updated",
        AgentTerminated => "agent.terminated",
        BudgetConfigured => "budget.configured",
        KeyCreated => "key.created",
        KeyRevoked => "key.revoked",
        ApprovalDecided => "approval.decided",
        SecurityVerdict => "security.verdict",
        OutputScanned => "security.output_scanned",
    }
}

/// One stored audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    /// Position in the chain: 1, 2, 3… without gaps.
    pub seq: i64,
    pub id: Uuid,
    /// When the change was made, in UTC with microseconds (`2026-12-05T10:00:00.123456Z`).
    #[serde(with = "at_format")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: OffsetDateTime,
    /// Who made it: `key:<id>`, or `system`.
    pub actor: String,
    pub action: AuditAction,
    /// What it changed: `agent`, `budget`, `api_key`, `approval`.
    pub target_type: String,
    pub target_id: String,
    /// The changed fields before (absent for a creation or a verdict).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub before: Option<Value>,
    /// The changed fields after, or what was created or decided.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub after: Option<Value>,
    /// The request that made the change (absent for the command line).
    pub request_id: Option<String>,
    pub trace_id: Option<String>,
    /// The hash of the event before ([`GENESIS_HASH`] for the first), hex.
    pub prev_hash: String,
    /// SHA-256 of the RFC 8785 form of this event without `hash`, hex.
    pub hash: String,
}

/// The last event of a chain: what an outside system holds to catch a truncated tail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditHead {
    /// Events in the chain (the `seq` of the last); 0 for an empty chain.
    pub seq: i64,
    /// The last event's hash; [`GENESIS_HASH`] for an empty chain.
    pub hash: String,
}

impl AuditHead {
    /// The head of an empty chain.
    pub fn genesis() -> Self {
        Self { seq: 0, hash: GENESIS_HASH.to_owned() }
    }

    /// Parses `SEQ:HASH`, the form the command line takes and the head log line prints.
    pub fn parse(text: &str) -> Option<Self> {
        let (seq, hash) = text.trim().split_once(':')?;
        let seq: i64 = seq.parse().ok().filter(|s| *s >= 0)?;
        let hash = hash.to_ascii_lowercase();
        (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(Self { seq, hash })
    }
}

impl std::fmt::Display for AuditHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// Who makes a change and in which request: the part of an event the caller knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    pub actor: String,
    pub request_id: Option<String>,
    pub trace_id: Option<String>,
}

impl AuditContext {
    pub fn new(actor: &Actor, request_id: Option<String>, trace_id: Option<String>) -> Self {
        Self { actor: actor.label(), request_id, trace_id }
    }

    /// synthorg itself, outside any request (start-up, the demo).
    pub fn system() -> Self {
        Self { actor: Actor::System.label(), request_id: None, trace_id: None }
    }

    /// An operator at the command line (`synthorg keys …`), who holds the store itself.
    pub fn command_line() -> Self {
        Self { actor: "cli".to_owned(), request_id: None, trace_id: None }
    }
}

/// What a change contributes to its event; the store seals it into the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    pub action: AuditAction,
    pub target_type: &'static str,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl NewAuditEvent {
    pub fn agent_registered(agent: &Agent) -> Self {
        Self {
            action: AuditAction::AgentRegistered,
            target_type: "agent",
            target_id: agent.id.to_string(),
            before: None,
            after: Some(json_of(agent)),
        }
    }

    /// An agent changed from `before` to `after`: the fields that changed, on both sides.
    /// `agent.terminated` when it was terminated, else `agent.updated`.
    pub fn agent_updated(before: &Agent, after: &Agent) -> Self {
        let (was, now) = changed_fields(json_of(before), json_of(after), &["updated_at"]);
        let terminated = after.status == AgentStatus::Terminated && before.status != AgentStatus::Terminated;
        Self {
            action: if terminated { AuditAction::AgentTerminated } else { AuditAction::AgentUpdated },
            target_type: "agent",
            target_id: after.id.to_string(),
            before: Some(was),
            after: Some(now),
        }
    }

    /// The budget configuration replaced: the settings that changed, on both sides; all of
    /// them when none was set before.
    pub fn budget_configured(before: Option<&BudgetConfig>, after: &BudgetConfig) -> Self {
        let (was, now) = match before {
            Some(before) => {
                let (was, now) = changed_fields(json_of(before), json_of(after), &[]);
                (Some(was), now)
            }
            None => (None, json_of(after)),
        };
        Self {
            action: AuditAction::BudgetConfigured,
            target_type: "budget",
            target_id: "config".into(),
            before: was,
            after: Some(now),
        }
    }

    /// An approval decided: its status, decider and note before and after.
    pub fn approval_decided(before: &Approval, after: &Approval) -> Self {
        let fields = ["status", "decided_at", "decided_by", "decision_note"];
        let pick = |approval: &Approval| {
            let Value::Object(all) = json_of(approval) else { return Value::Null };
            Value::Object(all.into_iter().filter(|(k, _)| fields.contains(&k.as_str())).collect())
        };
        Self {
            action: AuditAction::ApprovalDecided,
            target_type: "approval",
            target_id: after.id.to_string(),
            before: Some(pick(before)),
            after: Some(pick(after)),
        }
    }

    /// A security verdict on an agent's action. `verdict` is what the rules said; `action`
    /// what the answer did (they differ in shadow mode).
    pub fn security_verdict(agent_id: Uuid, verdict: Value) -> Self {
        Self {
            action: AuditAction::SecurityVerdict,
            target_type: "agent",
            target_id: agent_id.to_string(),
            before: None,
            after: Some(verdict),
        }
    }

    /// A scan of a tool's output; the findings are counted, never copied (they are secrets).
    pub fn output_scanned(agent_id: Option<Uuid>, task_id: Option<Uuid>, verdict: Verdict, findings: usize) -> Self {
        let (target_type, target_id) = match (agent_id, task_id) {
            (Some(agent), _) => ("agent", agent.to_string()),
            (None, Some(task)) => ("task", task.to_string()),
            (None, None) => ("output", String::new()),
        };
        Self {
            action: AuditAction::OutputScanned,
            target_type,
            target_id,
            before: None,
            after: Some(serde_json::json!({ "task_id": task_id, "verdict": verdict, "findings": findings })),
        }
    }

    /// Seals the event after `head` into the chain, at `at`.
    pub fn seal(self, context: &AuditContext, head: &AuditHead, at: OffsetDateTime) -> AuditEvent {
        let seq = head.seq + 1;
        let mut event = AuditEvent {
            seq,
            id: event_id(at, seq, &head.hash),
            at,
            actor: context.actor.clone(),
            action: self.action,
            target_type: self.target_type.to_owned(),
            target_id: self.target_id,
            before: self.before,
            after: self.after,
            request_id: context.request_id.clone(),
            trace_id: context.trace_id.clone(),
            prev_hash: head.hash.clone(),
            hash: String::new(),
        };
        event.hash = event.content_hash();
        event
    }
}

/// An event's id: a UUIDv7 of its time whose other bits are its `seq` and two bytes of the
/// hash before it. Unique within a chain (the seq), ordered like the chain, and made without
/// a random source (a system call per audited write that nothing needs).
fn event_id(at: OffsetDateTime, seq: i64, prev_hash: &str) -> Uuid {
    let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let mut bits = [0u8; 10];
    bits[..8].copy_from_slice(&seq.to_be_bytes());
    let prefix = u16::from_str_radix(prev_hash.get(..4).unwrap_or("0"), 16).unwrap_or(0);
    bits[8..].copy_from_slice(&prefix.to_be_bytes());
    uuid::Builder::from_unix_timestamp_millis(millis, &bits).into_uuid()
}

/// A value as JSON; domain types always serialize, so a failure yields `null`, never a panic.
fn json_of(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The fields of two objects that differ (a field on one side only counts), minus `ignore`.
fn changed_fields(before: Value, after: Value, ignore: &[&str]) -> (Value, Value) {
    let (Value::Object(mut was), Value::Object(mut now)) = (before, after) else {
        return (Value::Null, Value::Null);
    };
    let keys: Vec<String> = was.keys().chain(now.keys()).cloned().collect();
    let (mut was_changed, mut now_changed) = (Map::new(), Map::new());
    for key in keys {
        if ignore.contains(&key.as_str()) || was.get(&key) == now.get(&key) {
            continue;
        }
        if let Some(v) = was.remove(&key) {
            was_changed.insert(key.clone(), v);
        }
        if let Some(v) = now.remove(&key) {
            now_changed.insert(key, v);
        }
    }
    (Value::Object(was_changed), Value::Object(now_changed))
}

/// The members of a canonical object being written, in the order given (see
/// [`AuditEvent::canonical_content`]).
struct Members(Vec<u8>);

impl Members {
    fn name(&mut self, name: &str) {
        self.0.push(if self.0.is_empty() { b'{' } else { b',' });
        self.0.push(b'"');
        self.0.extend_from_slice(name.as_bytes());
        self.0.extend_from_slice(b"\":");
    }

    fn str(&mut self, name: &str, value: &str) {
        self.name(name);
        // Writing into a vector cannot fail.
        let _ = serde_json::to_writer(&mut self.0, value);
    }

    fn opt_str(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(value) => self.str(name, value),
            None => self.null(name),
        }
    }

    fn null(&mut self, name: &str) {
        self.name(name);
        self.0.extend_from_slice(b"null");
    }

    fn int(&mut self, name: &str, value: i64) {
        self.name(name);
        let _ = write!(self.0, "{value}");
    }

    fn value(&mut self, name: &str, value: Option<&Value>) {
        // JSON values hold no NaN and no non-string keys, the only things canonical JSON
        // refuses; should that ever change, `null` is written and verify reports the event as
        // altered rather than the writer panicking.
        match value.map(serde_json_canonicalizer::to_vec) {
            Some(Ok(bytes)) => {
                self.name(name);
                self.0.extend_from_slice(&bytes);
            }
            _ => self.null(name),
        }
    }

    fn end(mut self) -> Vec<u8> {
        self.0.push(b'}');
        self.0
    }
}

impl AuditEvent {
    /// The RFC 8785 form of the event without `hash`: the bytes its hash covers.
    ///
    /// Composed rather than handed whole to the canonicaliser: the event is an object with
    /// fixed ASCII names, so RFC 8785's member order (UTF-16 code units, here byte order) is
    /// the order written below, once and for all. Only `before` and `after`, free-form JSON,
    /// go through the canonicaliser; the other members are strings (escaped by `serde_json`,
    /// whose escapes are RFC 8785's: `\b \t \n \f \r`, `\u00xx` in lower case for the other
    /// controls, nothing else) and `seq`, an integer far below 2^53, written in digits as
    /// ECMAScript would. The whole-object canonicaliser costs several times more (it re-parses
    /// every member name to sort it), on the writer of every audited change; a property test
    /// holds this composition byte-equal to it.
    pub fn canonical_content(&self) -> Vec<u8> {
        let mut m = Members(Vec::with_capacity(640));
        m.str("action", self.action.as_str());
        m.str("actor", &self.actor);
        m.value("after", self.after.as_ref());
        m.str("at", &format_at(self.at));
        m.value("before", self.before.as_ref());
        m.str("id", self.id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
        m.str("prev_hash", &self.prev_hash);
        m.opt_str("request_id", self.request_id.as_deref());
        m.int("seq", self.seq);
        m.str("target_id", &self.target_id);
        m.str("target_type", &self.target_type);
        m.opt_str("trace_id", self.trace_id.as_deref());
        m.end()
    }

    /// SHA-256 of [`Self::canonical_content`], lower-case hex.
    pub fn content_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_content()))
    }

    /// The head of the chain this event ends.
    pub fn head(&self) -> AuditHead {
        AuditHead { seq: self.seq, hash: self.hash.clone() }
    }
}

/// `at` as the event (and its hash) spells it: UTC, six fraction digits, `Z`.
pub fn format_at(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

mod at_format {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub(super) fn serialize<S: Serializer>(at: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_at(*at))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }
}

/// Why a chain does not verify, naming the first event found bad.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("event {seq} was altered: its hash does not match its content")]
    Altered { seq: i64 },
    #[error(
        "event {expected} is missing from its place: event {previous} is followed by event {found} (removed or moved)"
    )]
    Missing { previous: i64, expected: i64, found: i64 },
    #[error("event {found} is out of order: event {expected} should follow event {previous} (moved or duplicated)")]
    OutOfOrder { previous: i64, expected: i64, found: i64 },
    #[error(
        "event {seq} does not follow event {previous}: its prev_hash is not that event's hash \
         (event {previous} was replaced, or events were removed and renumbered)"
    )]
    Unlinked { seq: i64, previous: i64 },
    #[error("the chain ends at event {last}, short of the head held outside (event {held}): its tail was removed")]
    Truncated { last: i64, held: i64 },
    #[error("event {seq} is not the event of the head held outside: the chain was rewritten up to it")]
    NotTheHead { seq: i64 },
}

impl ChainBreak {
    /// The event named (the first bad one, or the held head's).
    pub fn seq(&self) -> i64 {
        match *self {
            ChainBreak::Altered { seq } | ChainBreak::Unlinked { seq, .. } | ChainBreak::NotTheHead { seq } => seq,
            ChainBreak::Missing { expected, .. } => expected,
            ChainBreak::OutOfOrder { found, .. } => found,
            ChainBreak::Truncated { held, .. } => held,
        }
    }
}

/// Checks a chain event by event, in stored order, from its first event.
#[derive(Debug)]
pub struct ChainVerifier {
    previous: AuditHead,
    held: Option<AuditHead>,
}

impl ChainVerifier {
    /// A verifier of a whole chain; with `held`, a head kept outside the store that the
    /// chain must contain.
    pub fn new(held: Option<AuditHead>) -> Self {
        Self { previous: AuditHead::genesis(), held }
    }

    /// Checks the next event.
    pub fn check(&mut self, event: &AuditEvent) -> Result<(), ChainBreak> {
        let previous = self.previous.seq;
        let expected = previous + 1;
        if event.seq > expected {
            return Err(ChainBreak::Missing { previous, expected, found: event.seq });
        }
        if event.seq < expected {
            return Err(ChainBreak::OutOfOrder { previous, expected, found: event.seq });
        }
        if event.content_hash() != event.hash {
            return Err(ChainBreak::Altered { seq: event.seq });
        }
        if event.prev_hash != self.previous.hash {
            return Err(ChainBreak::Unlinked { seq: event.seq, previous });
        }
        if let Some(held) = &self.held
            && held.seq == event.seq
            && held.hash != event.hash
        {
            return Err(ChainBreak::NotTheHead { seq: event.seq });
        }
        self.previous = event.head();
        Ok(())
    }

    /// Ends the check: the head of the verified chain, or why it falls short of the held one.
    pub fn finish(self) -> Result<AuditHead, ChainBreak> {
        if let Some(held) = &self.held
            && held.seq > self.previous.seq
        {
            return Err(ChainBreak::Truncated { last: self.previous.seq, held: held.seq });
        }
        Ok(self.previous)
    }
}

#[cfg(test)]
mod tests;
