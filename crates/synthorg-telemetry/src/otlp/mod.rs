//! The OTLP exporters of logs (SPEC §4), traces and metrics (SPEC §13) over one core, and
//! their endpoint hardening (SPEC §5).

mod encode;
pub mod endpoint;
mod exporter;
mod mapping;
mod meter;
mod metrics;
mod proto;
#[cfg(feature = "receiver")]
pub mod receiver;
mod stats;
mod traces;
mod transport;

pub use crate::tls::validate_ca_pem;
pub use encode::Protocol;
pub use exporter::{
    Exporter, ExporterConfig, ExporterHandle, Logs, MAX_REQUEST_BYTES, MAX_RETRY_AFTER, OtlpLayer, Signal, Tracer,
};
pub use meter::{Meter, Metrics, Reading};
pub use metrics::{BatchOutcome, ExportOutcome, ExporterMetrics};
pub use stats::{DropReason, ExporterStats};
pub use traces::{AttrValue, SpanKind, SpanRecord, Traces};
pub use transport::{MAX_RESPONSE_BYTES, StartError};
