//! The log signal: events captured by [`OtlpLayer`] on the emitting threads (their fields,
//! no rendering), queued, and encoded straight into `http/protobuf` or through the message
//! structs into `http/json` on the worker, whose body is the JSON sink's line byte for byte.
//! Events logged on the worker thread (its own warnings, anything its HTTP stack would log)
//! are never exported, so an export failure cannot feed itself.

use std::cell::Cell;
use std::sync::Arc;

use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::config::{ExporterConfig, Signal};
use super::encode::{self, Protocol, encode_halving};
use super::exporter::Exporter;
use super::proto;
use super::queue::{ON_EXPORTER_THREAD, Shared};
use super::transport::StartError;
use crate::logging::{CapturedEvent, SecretNames, record_new_span, record_span_values};

/// The log signal: captured events, encoded straight into `http/protobuf` or through the
/// message structs into `http/json`.
pub struct Logs {
    resource: Resource,
    encoder: proto::Encoder,
    is_secret: SecretNames,
}

impl std::fmt::Debug for Logs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Logs")
    }
}

impl Logs {
    fn new(config: &ExporterConfig) -> Self {
        Self {
            resource: encode::resource(&config.resource),
            encoder: proto::Encoder::new(&config.resource),
            is_secret: config.is_secret,
        }
    }
}

impl Signal for Logs {
    type Record = CapturedEvent;
    const NAME: &'static str = "logs";

    fn encode(
        &mut self,
        batch: Vec<CapturedEvent>,
        protocol: Protocol,
        max_bytes: usize,
    ) -> (Vec<(Vec<u8>, usize)>, u64) {
        match protocol {
            Protocol::HttpProtobuf => {
                let (bodies, too_large) = self.encoder.encode(&batch, self.is_secret, max_bytes);
                (bodies.into_iter().map(|b| (b.bytes, b.records)).collect(), too_large)
            }
            Protocol::HttpJson => {
                let records: Vec<_> = batch.iter().map(|e| (e.target, encode::record(e, self.is_secret))).collect();
                drop(batch);
                let json = |records: &[(&'static str, LogRecord)]| {
                    encode::encode(&encode::request(&self.resource, records.to_vec()), Protocol::HttpJson)
                };
                let mut bodies = Vec::new();
                let too_large = encode_halving(&records, max_bytes, &json, &mut bodies);
                (bodies, too_large)
            }
        }
    }

    fn rejected(&self, body: &[u8], protocol: Protocol) -> u64 {
        encode::rejected(body, protocol)
    }
}

impl Exporter<Logs> {
    /// Starts the log exporter's worker thread. Fails only when a header cannot be sent or
    /// the thread or its runtime cannot start.
    pub fn start(config: ExporterConfig) -> Result<Self, StartError> {
        let logs = Logs::new(&config);
        Self::start_signal(config, logs)
    }

    /// The `tracing` layer feeding this exporter.
    pub fn layer(&self) -> OtlpLayer {
        OtlpLayer { shared: Arc::clone(&self.shared), is_secret: self.is_secret }
    }
}

/// The layer that hands events to the exporter. Filter it per level like any sink; spans
/// must pass so that events carry their request's correlation fields.
pub struct OtlpLayer {
    shared: Arc<Shared<CapturedEvent>>,
    is_secret: SecretNames,
}

impl std::fmt::Debug for OtlpLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OtlpLayer")
    }
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        record_new_span(attrs, id, &ctx, self.is_secret);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        record_span_values(id, values, &ctx, self.is_secret);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if ON_EXPORTER_THREAD.with(Cell::get) {
            return;
        }
        self.shared.push(CapturedEvent::capture(event, &ctx));
    }
}
