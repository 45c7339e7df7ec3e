//! `synthorg audit`: verify the audit chain (in the store or in an export) and export it as
//! NDJSON. Both work while the server runs.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{Context, anyhow};
use synthorg_core::audit::{AuditEvent, AuditHead, ChainBreak, ChainVerifier};
use synthorg_store::{AuditFilter, MAX_PAGE, PageRequest};

use crate::config::StoreLocation;
use crate::exit::Failure;
use crate::serve::open_store;

/// What a broken chain exits with: the data is bad (65), named on stderr.
fn broken(error: &ChainBreak) -> Failure {
    Failure::data(anyhow!("the audit chain does not verify: {error}"))
}

fn verified(head: &AuditHead, held: Option<&AuditHead>) {
    let against = held.map(|h| format!("; it holds the head {h}")).unwrap_or_default();
    println!("audit chain ok: {} events, head {head}{against}", head.seq);
}

/// Verifies the chain in the store.
pub(crate) fn verify_store(location: &StoreLocation, held: Option<AuditHead>) -> Result<(), Failure> {
    let store = open_store(location)?;
    let outcome = synthorg_store::verify_chain(store.as_ref(), held.clone(), |_| {})
        .map_err(|e| Failure::data(anyhow!("reading the audit chain: {e}")))?;
    match outcome {
        Ok(head) => {
            verified(&head, held.as_ref());
            Ok(())
        }
        Err(error) => Err(broken(&error)),
    }
}

/// Verifies an export (`synthorg audit export`), one event per line, from its first event.
pub(crate) fn verify_file(path: &Path, held: Option<AuditHead>) -> Result<(), Failure> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display())).map_err(Failure::io)?;
    let mut verifier = ChainVerifier::new(held.clone());
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display())).map_err(Failure::io)?;
        if line.trim().is_empty() {
            continue;
        }
        let event: AuditEvent = serde_json::from_str(&line)
            .map_err(|e| Failure::data(anyhow!("line {} of {} is not an audit event: {e}", i + 1, path.display())))?;
        verifier.check(&event).map_err(|e| broken(&e))?;
    }
    let head = verifier.finish().map_err(|e| broken(&e))?;
    verified(&head, held.as_ref());
    Ok(())
}

/// Writes the whole chain as NDJSON (one event per line, in chain order) to `output`, or
/// stdout. A file is written beside its final name and renamed once complete.
pub(crate) fn export(location: &StoreLocation, output: Option<&Path>) -> Result<(), Failure> {
    let store = open_store(location)?;
    let write_all = |out: &mut dyn Write| -> Result<i64, Failure> {
        let mut page = PageRequest { limit: MAX_PAGE, after: None, newest_first: false };
        let mut count = 0;
        loop {
            let events = store
                .list_audit(&AuditFilter::default(), &page)
                .map_err(|e| Failure::io(anyhow!("reading the audit chain: {e}")))?;
            for event in &events.items {
                let line = serde_json::to_string(event).map_err(|e| Failure::internal(e.into()))?;
                writeln!(out, "{line}").map_err(|e| Failure::io(e.into()))?;
                count += 1;
            }
            match events.next_cursor.and_then(|c| c.parse().ok()) {
                Some(after) => page.after = Some(after),
                None => return Ok(count),
            }
        }
    };
    match output {
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            write_all(&mut out)?;
            out.flush().map_err(|e| Failure::io(e.into()))
        }
        Some(path) => {
            let partial = path.with_extension("partial");
            // Readable by its owner only: the trail names every actor and change.
            let file = {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&partial)
            }
            .with_context(|| format!("cannot create {}", partial.display()))
            .map_err(Failure::io)?;
            let mut out = std::io::BufWriter::new(file);
            let count = write_all(&mut out)?;
            out.into_inner()
                .map_err(|e| Failure::io(e.into_error().into()))?
                .sync_all()
                .map_err(|e| Failure::io(e.into()))?;
            std::fs::rename(&partial, path)
                .with_context(|| format!("cannot rename {} to {}", partial.display(), path.display()))
                .map_err(Failure::io)?;
            eprintln!("exported {count} audit events to {}", path.display());
            Ok(())
        }
    }
}
