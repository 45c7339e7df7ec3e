//! What an exporter is given: its configuration (checked by the configuration loader) and
//! the signal it carries ([`Signal`]).

use std::sync::Arc;
use std::time::Duration;

use super::encode::Protocol;
use super::endpoint::{CheckedEndpoint, EndpointPolicy, Resolver};
use crate::logging::SecretNames;

/// Largest request body sent (uncompressed); larger batches are split, a larger single
/// record is dropped as `too_large`.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// Longest `Retry-After` honoured; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Everything the exporter needs; built and checked by the configuration.
#[derive(Clone)]
pub struct ExporterConfig {
    pub endpoint: CheckedEndpoint,
    pub policy: EndpointPolicy,
    pub resolver: Arc<dyn Resolver>,
    pub protocol: Protocol,
    /// Sent with every request; values never reach a log, an error or `Debug` output.
    pub headers: Vec<(String, String)>,
    pub export_interval: Duration,
    pub batch_size: usize,
    pub timeout: Duration,
    /// Most retries of one batch.
    pub max_retries: u32,
    /// Longest one batch is retried, from its first attempt: a collector away for less is
    /// caught up with (the queue holds what arrives meanwhile, up to its capacity).
    pub max_elapsed: Duration,
    pub queue_capacity: usize,
    pub gzip: bool,
    /// Resource attributes (`service.name`, `service.version`, `service.instance.id`, …).
    pub resource: Vec<(String, String)>,
    pub is_secret: SecretNames,
    /// Backoff before the first retry; doubled each time, with jitter, up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub max_request_bytes: usize,
    /// Extra CA certificates (PEM) trusted for `https` endpoints, beside the system's.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for ExporterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ExporterConfig")
            .field("endpoint", &self.endpoint.logs_url.as_str())
            .field("protocol", &self.protocol)
            .field("header_names", &header_names)
            .field("export_interval", &self.export_interval)
            .field("batch_size", &self.batch_size)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("max_elapsed", &self.max_elapsed)
            .field("queue_capacity", &self.queue_capacity)
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

impl ExporterConfig {
    /// Defaults (SPEC §4) for an endpoint that passed the policy.
    pub fn new(endpoint: CheckedEndpoint, policy: EndpointPolicy, resolver: Arc<dyn Resolver>) -> Self {
        Self {
            endpoint,
            policy,
            resolver,
            protocol: Protocol::HttpProtobuf,
            headers: Vec::new(),
            export_interval: Duration::from_secs(1),
            batch_size: 512,
            timeout: Duration::from_secs(10),
            max_retries: 100,
            max_elapsed: Duration::from_secs(300),
            queue_capacity: 65_536,
            gzip: false,
            resource: vec![("service.name".into(), "synthorg".into())],
            is_secret: |_| false,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_request_bytes: MAX_REQUEST_BYTES,
            ca_pem: None,
        }
    }
}

/// What one OTLP signal adds to the exporter core: its records, their encoding, and how the
/// collector reports rejecting some. The core (queue, batching, retries, accounting, endpoint
/// hardening, drain on shutdown) is the same for every signal.
pub trait Signal: Send + 'static {
    type Record: Send + 'static;
    /// The signal's name (`logs`, `traces`, `metrics`), on its thread and in its problems.
    const NAME: &'static str;
    /// Encodes a batch into request bodies of at most `max_bytes` each (before gzip), with
    /// the number of records in each; a record larger alone is left out and counted.
    fn encode(
        &mut self,
        batch: Vec<Self::Record>,
        protocol: Protocol,
        max_bytes: usize,
    ) -> (Vec<(Vec<u8>, usize)>, u64);
    /// The number of records a successful answer says were rejected (partial success).
    fn rejected(&self, body: &[u8], protocol: Protocol) -> u64;
}
