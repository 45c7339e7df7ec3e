//! API keys: the store's side.

use synthorg_core::Role;
use synthorg_core::audit::{AuditAction, AuditContext, AuditEvent, NewAuditEvent};
use synthorg_core::security::REDACTED;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Page, PageRequest, StoreError};

/// An API key as stored: the secret itself is never stored, only its SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public identifier, also the key's prefix (`sk_<id>_…`).
    pub id: String,
    pub secret_hash: [u8; 32],
    pub role: Role,
    pub agent_id: Option<Uuid>,
    pub label: String,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

/// Prints everything but the hash.
impl std::fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("secret_hash", &REDACTED)
            .field("role", &self.role)
            .field("agent_id", &self.agent_id)
            .field("label", &self.label)
            .field("created_at", &self.created_at)
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}

impl ApiKeyRecord {
    /// The audit event of this key's creation: everything but the secret's hash.
    pub fn created_event(&self) -> NewAuditEvent {
        NewAuditEvent {
            action: AuditAction::KeyCreated,
            target_type: "api_key",
            target_id: self.id.clone(),
            before: None,
            after: Some(serde_json::json!({
                "role": self.role,
                "agent_id": self.agent_id,
                "label": self.label,
            })),
        }
    }

    /// The audit event of this key's revocation (`self` is the revoked record).
    pub fn revoked_event(&self) -> NewAuditEvent {
        NewAuditEvent {
            action: AuditAction::KeyRevoked,
            target_type: "api_key",
            target_id: self.id.clone(),
            before: Some(serde_json::json!({ "revoked_at": null })),
            after: Some(serde_json::json!({
                "revoked_at": self.revoked_at.map(synthorg_core::audit::format_at),
            })),
        }
    }
}

pub trait KeyStore {
    fn create_api_key(&self, key: &ApiKeyRecord, audit: &AuditContext) -> Result<AuditEvent, StoreError>;
    fn find_api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Keys in creation order, a page at a time.
    fn list_api_keys(&self, page: &PageRequest) -> Result<Page<ApiKeyRecord>, StoreError>;
    /// Revokes a key (idempotent: revoking a revoked key keeps the first revocation time).
    fn revoke_api_key(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: &AuditContext,
    ) -> Result<(ApiKeyRecord, Option<AuditEvent>), StoreError>;
    /// Number of keys that are not revoked.
    fn active_api_keys(&self) -> Result<u64, StoreError>;
}
