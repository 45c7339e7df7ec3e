//! API keys: generated, authenticated, created and revoked.
//!
//! A key reads `sk_<id>_<secret>`: `id` (16 hex digits) is public and finds the stored
//! record; `secret` (64 hex digits, 256 random bits) is never stored: only its SHA-256, which
//! is compared in constant time. A fast hash is the right tool here: the secret has full
//! entropy, so there is nothing for a slow password hash to protect. Every door authenticates
//! through [`Engine::authenticate`], so a key means the same whichever door it is shown to.

use sha2::{Digest, Sha256};
use std::time::Instant;
use subtle::ConstantTimeEq;
use synthorg_core::audit::AuditContext;
use synthorg_core::event::Event;
use synthorg_core::{Actor, DomainError, Role, authorize};
use synthorg_store::{ApiKeyRecord, Done, Page, PageRequest, StoreError, now};

use time::OffsetDateTime;
use uuid::Uuid;

use crate::credentials::Credential;
use crate::{Engine, EngineError};

/// A freshly generated key: the full secret, shown once, and the record to store.
pub struct NewKey {
    pub key: String,
    pub record: ApiKeyRecord,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey").field("key", &synthorg_core::security::REDACTED).field("record", &self.record).finish()
    }
}

/// Generates a key. Agent keys must name their agent; other roles must not.
pub fn generate_key(
    role: Role,
    agent_id: Option<Uuid>,
    label: String,
    now: OffsetDateTime,
) -> Result<NewKey, EngineError> {
    match (role, agent_id) {
        (Role::Agent, None) => return Err(DomainError::invalid("agent_id", "required for role agent").into()),
        (Role::Admin | Role::Viewer, Some(_)) => {
            return Err(DomainError::invalid(
                "agent_id",
                format!("only agent keys are bound to an agent, not {role} keys"),
            )
            .into());
        }
        _ => {}
    }
    if label.chars().count() > 128 {
        return Err(DomainError::invalid("label", "must be at most 128 characters").into());
    }
    synthorg_core::security::names::check_visible(&label)
        .map_err(|invisible| DomainError::invalid("label", invisible.to_string()))?;
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id).map_err(|e| EngineError::Internal(format!("no random source: {e}")))?;
    getrandom::fill(&mut secret).map_err(|e| EngineError::Internal(format!("no random source: {e}")))?;
    let id = hex::encode(id);
    let secret = hex::encode(secret);
    let key = format!("sk_{id}_{secret}");
    let record =
        ApiKeyRecord { id, secret_hash: hash(&secret), role, agent_id, label, created_at: now, revoked_at: None };
    Ok(NewKey { key, record })
}

fn rejected() -> EngineError {
    EngineError::Unauthenticated("invalid or revoked API key")
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Splits `sk_<id>_<secret>`; `None` for anything else.
fn parse_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("sk_")?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 16) && hex(secret, 64)).then_some((id, secret))
}

impl Engine {
    /// Checks a presented key; every failure looks the same to the caller. For a request that
    /// may change something (`write`), an agent key must belong to an agent that may still
    /// write: a terminated agent's keys may only read. A key that matched lately is checked
    /// against what was read then ([`crate::credentials`]); otherwise one primary-key read
    /// (two for an agent key) runs where [`Engine::read`] runs reads.
    pub async fn authenticate(&self, presented: &str, write: bool) -> Result<Actor, EngineError> {
        let (id, secret) = parse_key(presented).ok_or_else(rejected)?;
        let presented_hash = hash(secret);
        let credential = match self.inner.credentials.fresh(id) {
            Some(credential) => Some(credential),
            None => {
                let generation = self.inner.credentials.generation();
                let owned = id.to_owned();
                let read = self.read(move |e| e.read_credential(&owned, &presented_hash)).await?;
                if let Some(credential) = &read {
                    self.inner.credentials.remember(id, credential.clone(), generation);
                }
                read
            }
        };
        // Hash and compare even when the id is unknown, so timing does not reveal which ids
        // exist.
        let stored = credential.as_ref().map(|c| c.secret_hash).unwrap_or([0; 32]);
        let matches: bool = presented_hash.ct_eq(&stored).into();
        let credential = credential.filter(|_| matches).ok_or_else(rejected)?;
        let key_id = id.to_owned();
        Ok(match (credential.role, credential.agent_id) {
            (Role::Admin, _) => Actor::Admin { key_id },
            (Role::Agent, Some(agent_id)) => {
                if write && !credential.agent_may_write {
                    return Err(DomainError::Forbidden(format!(
                        "agent {agent_id} is terminated: its keys may only read"
                    ))
                    .into());
                }
                Actor::Agent { key_id, agent_id }
            }
            (Role::Agent, None) => {
                return Err(StoreError::Internal(format!("agent key {key_id} has no agent")).into());
            }
            (Role::Viewer, _) => Actor::Viewer { key_id },
        })
    }

    /// The stored key `id` if it is active and its secret hashes to `presented_hash` (only
    /// then is its agent read too); `None` otherwise.
    fn read_credential(&self, id: &str, presented_hash: &[u8; 32]) -> Result<Option<Credential>, EngineError> {
        let read_at = Instant::now();
        let Some(record) = self.store().find_api_key(id)? else { return Ok(None) };
        let matches: bool = presented_hash.ct_eq(&record.secret_hash).into();
        if !matches || record.revoked_at.is_some() {
            return Ok(None);
        }
        let agent_may_write = match record.agent_id {
            Some(agent_id) => match self.store().get_agent(agent_id) {
                Ok(agent) => agent.status.may_write(),
                Err(StoreError::NotFound { .. }) => false,
                Err(e) => return Err(e.into()),
            },
            None => false,
        };
        Ok(Some(Credential {
            secret_hash: record.secret_hash,
            role: record.role,
            agent_id: record.agent_id,
            agent_may_write,
            read_at,
        }))
    }

    /// The keys, without their secrets (admins).
    pub async fn keys(&self, actor: &Actor, page: PageRequest) -> Result<Page<ApiKeyRecord>, EngineError> {
        authorize::admin(actor)?;
        self.blocking(move |e| Ok(e.store().list_api_keys(&page)?)).await
    }

    /// Creates a key (admins); the secret is in the answer only. Audited.
    pub async fn create_key(
        &self,
        actor: &Actor,
        audit: AuditContext,
        role: Role,
        agent_id: Option<Uuid>,
        label: String,
    ) -> Result<NewKey, EngineError> {
        authorize::admin(actor)?;
        let new = generate_key(role, agent_id, label, now())?;
        let by = actor.label();
        self.write(move |e| {
            let sealed = e.store().create_api_key(&new.record, &audit)?;
            let event = Event::KeyCreated { key_id: new.record.id.clone(), role: new.record.role, by };
            Ok::<_, EngineError>(Done::with(new, [event, Event::Audited(sealed)]))
        })
        .await
    }

    /// Revokes a key (admins); revoking twice changes nothing and records nothing.
    pub async fn revoke_key(
        &self,
        actor: &Actor,
        audit: AuditContext,
        id: String,
    ) -> Result<ApiKeyRecord, EngineError> {
        authorize::admin(actor)?;
        let by = actor.label();
        let revoked = self
            .write(move |e| {
                // A second revocation changes nothing: no audit event, no log line.
                let (record, sealed) = e.store().revoke_api_key(&id, now(), &audit)?;
                let events =
                    sealed.map(|sealed| [Event::KeyRevoked { key_id: record.id.clone(), by }, Event::Audited(sealed)]);
                Ok::<_, EngineError>(Done::with(record, events.into_iter().flatten()))
            })
            .await;
        // Before the answer: the revoked key is refused from the next request on.
        self.inner.credentials.forget();
        revoked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_never_print() {
        let k = generate_key(Role::Admin, None, "ops".into(), OffsetDateTime::UNIX_EPOCH).unwrap();
        let (id, secret) = parse_key(&k.key).unwrap();
        assert_eq!(id, k.record.id);
        assert_eq!(hash(secret), k.record.secret_hash);
        assert!(!format!("{k:?}").contains(secret));
        for bad in ["", "sk_", "sk_abc_def", &k.key[..k.key.len() - 1], &k.key.replace("sk_", "pk_")] {
            assert!(parse_key(bad).is_none(), "{bad}");
        }
        assert!(generate_key(Role::Agent, None, String::new(), OffsetDateTime::UNIX_EPOCH).is_err());
        assert!(generate_key(Role::Viewer, Some(Uuid::nil()), String::new(), OffsetDateTime::UNIX_EPOCH).is_err());
    }
}
