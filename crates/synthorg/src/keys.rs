//! `synthorg keys`: API key management directly on the store (works while the server runs).

use anyhow::anyhow;
use synthorg_core::Role;
use synthorg_core::audit::AuditContext;
use synthorg_store::{StoreError, now};
use uuid::Uuid;

use crate::config::StoreLocation;
use crate::exit::Failure;
use crate::serve::open_store;

fn store_failure(e: StoreError) -> Failure {
    match e {
        StoreError::NotFound { .. } | StoreError::Domain(_) => Failure::data(e.into()),
        other => Failure::io(other.into()),
    }
}

/// Creates a key and prints only the key on stdout.
pub(crate) fn create(
    location: &StoreLocation,
    role: Role,
    agent_id: Option<Uuid>,
    label: String,
) -> Result<(), Failure> {
    let store = open_store(location)?;
    let new = synthorg_api::auth::generate_key(role, agent_id, label, now()).map_err(|e| Failure::data(anyhow!(e)))?;
    store.create_api_key(&new.record, &AuditContext::command_line()).map_err(store_failure)?;
    println!("{}", new.key);
    Ok(())
}

/// Lists keys (never their secrets), one per line, tab-separated.
pub(crate) fn list(location: &StoreLocation) -> Result<(), Failure> {
    let store = open_store(location)?;
    println!("id\trole\tagent_id\tlabel\tcreated_at\trevoked_at");
    for k in synthorg_store::all_pages(|p| store.list_api_keys(p)).map_err(store_failure)? {
        let fmt =
            |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            k.id,
            k.role,
            k.agent_id.map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
            if k.label.is_empty() { "-" } else { &k.label },
            fmt(k.created_at),
            k.revoked_at.map(fmt).unwrap_or_else(|| "-".into()),
        );
    }
    Ok(())
}

/// Revokes a key by id.
pub(crate) fn revoke(location: &StoreLocation, id: &str) -> Result<(), Failure> {
    let store = open_store(location)?;
    let (key, _) = store.revoke_api_key(id, now(), &AuditContext::command_line()).map_err(store_failure)?;
    eprintln!("revoked key {}", key.id);
    Ok(())
}
