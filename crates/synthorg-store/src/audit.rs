//! The audit trail's side of the store: appending sealed events in the transaction of their
//! change, reading them back, and checking the chain.
//!
//! Every store method that makes an audited change takes the request's
//! [`AuditContext`] (who, and the request's correlation ids), seals the change's event into
//! the chain inside the change's own transaction (SQLite: the writer's; PostgreSQL: the same
//! transaction, after an advisory lock that serialises appends across replicas) and returns
//! the sealed event with its answer: the one append path, whose events the engine hands on
//! with the change's other events after the commit. A change that is rolled back takes its
//! event with it.

use synthorg_core::audit::{
    AuditAction, AuditContext, AuditEvent, AuditHead, ChainBreak, ChainVerifier, NewAuditEvent,
};
use time::OffsetDateTime;

use crate::{MAX_PAGE, Page, PageRequest, StoreError};

/// Filters of the audit list; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<AuditAction>,
    pub target_id: Option<String>,
    /// Events at or after this instant.
    pub since: Option<OffsetDateTime>,
    /// Events before this instant.
    pub until: Option<OffsetDateTime>,
}

pub trait AuditStore {
    /// Appends one event on its own, for an audited act that changes nothing else (an output
    /// scan's verdict), and returns it sealed like every other.
    fn append_audit(&self, audit: &AuditContext, event: NewAuditEvent) -> Result<AuditEvent, StoreError>;
    /// Events in chain order.
    fn list_audit(&self, filter: &AuditFilter, page: &PageRequest) -> Result<Page<AuditEvent>, StoreError>;
    /// The last event's `seq` and `hash` (the genesis head when the chain is empty).
    fn audit_head(&self) -> Result<AuditHead, StoreError>;
}

/// Checks the whole stored chain, a page at a time: its head, or the first bad event
/// (`Ok(Err(…))`). With `held`, a head kept outside the store that the chain must contain.
pub fn verify_chain(
    store: &dyn AuditStore,
    held: Option<AuditHead>,
    mut progress: impl FnMut(&AuditEvent),
) -> Result<Result<AuditHead, ChainBreak>, StoreError> {
    let mut verifier = ChainVerifier::new(held);
    let mut page = PageRequest { limit: MAX_PAGE, after: None, newest_first: false };
    loop {
        let events = store.list_audit(&AuditFilter::default(), &page)?;
        for event in &events.items {
            if let Err(broken) = verifier.check(event) {
                return Ok(Err(broken));
            }
            progress(event);
        }
        match events.next_cursor.and_then(|c| c.parse().ok()) {
            Some(after) => page.after = Some(after),
            None => return Ok(verifier.finish()),
        }
    }
}

/// With the `bench-unaudited` feature: the event as it would be, unsealed and unstored, for
/// a benchmark that measures what the trail costs.
pub(crate) fn unaudited(audit: &AuditContext, event: NewAuditEvent) -> AuditEvent {
    let context = audit;
    AuditEvent {
        seq: 0,
        id: uuid::Uuid::nil(),
        at: crate::now(),
        actor: context.actor.clone(),
        action: event.action,
        target_type: event.target_type.to_owned(),
        target_id: event.target_id,
        before: event.before,
        after: event.after,
        request_id: context.request_id.clone(),
        trace_id: context.trace_id.clone(),
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// A hash as stored: its 32 bytes (it is spelled in hex everywhere else).
pub(crate) fn hash_bytes(hex_text: &str) -> Vec<u8> {
    hex::decode(hex_text).unwrap_or_else(|_| hex_text.as_bytes().to_vec())
}

/// A stored hash in hex. Bytes of any length read (an edit by hand then fails verify).
pub(crate) fn hash_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// The text of a `before`/`after` column.
pub(crate) fn json_text(value: &Option<serde_json::Value>) -> Result<Option<String>, StoreError> {
    Ok(value.as_ref().map(serde_json::to_string).transpose()?)
}

/// A stored `before`/`after` column. Text that is not JSON (an edit by hand) is kept as a
/// string, so the event still reads and its hash shows the edit.
pub(crate) fn json_value(text: Option<String>) -> Option<serde_json::Value> {
    text.map(|t| serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t)))
}

/// A stored action spelling; an unknown one (an edit by hand) is an error naming the event.
pub(crate) fn action_of(seq: i64, text: &str) -> Result<AuditAction, StoreError> {
    AuditAction::parse(text).ok_or_else(|| {
        StoreError::Internal(format!("audit event {seq} has an unknown action {text:?}: it was altered"))
    })
}
