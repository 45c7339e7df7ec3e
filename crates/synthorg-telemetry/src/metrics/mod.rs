//! Metric primitives and their exposition.

mod encode;
mod family;
mod negotiate;
mod points;
mod primitives;
pub mod process;

pub use encode::{Exposition, Format, Kind};
pub use family::{Collect, Family, LabelValue};
pub use negotiate::{accepts_gzip, choose_format, gzip};
pub use points::{MetricDesc, MetricPoint, OtelName, PointValue, SeriesOrigin};
pub use primitives::{
    Counter, CounterMap, Exemplar, ExemplarCell, Gauge, Histogram, HistogramSnapshot, LATENCY_BUCKETS,
};

/// Is `name` a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`)?
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}
