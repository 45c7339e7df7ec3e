//! The OTLP log exporter (SPEC §4) and its endpoint hardening (SPEC §5).

mod encode;
pub mod endpoint;
mod exporter;
mod mapping;
mod metrics;
mod proto;
#[cfg(feature = "receiver")]
pub mod receiver;
mod stats;
mod transport;

pub use crate::tls::validate_ca_pem;
pub use encode::Protocol;
pub use exporter::{
    Exporter, ExporterConfig, ExporterHandle, Logs, MAX_REQUEST_BYTES, MAX_RETRY_AFTER, OtlpLayer, Signal,
};
pub use metrics::{BatchOutcome, ExportOutcome, ExporterMetrics};
pub use stats::{DropReason, ExporterStats};
pub use transport::{MAX_RESPONSE_BYTES, StartError};
