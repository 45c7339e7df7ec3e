//! The exposition as data points, for the OTLP metrics push: the same families, names,
//! labels and values a scrape writes, recorded as structures instead of text.

use std::sync::Arc;

use super::encode::Kind;
use super::primitives::Exemplar;

/// How a family is named in OpenTelemetry when its Prometheus name is a translation of a
/// conventional OpenTelemetry name (`gen_ai.client.token.usage` → `gen_ai_client_token_usage`):
/// the OTLP name, its unit, and each label's attribute key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtelName {
    pub name: &'static str,
    pub unit: &'static str,
    /// `(label, attribute key)`; labels not listed keep their name.
    pub attributes: &'static [(&'static str, &'static str)],
}

/// A family as pushed: its OTLP name (for a counter, the family name without `_total`, which
/// a Prometheus exporter downstream appends again; for an info family, `{family}_info`), kind,
/// help and unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricDesc {
    pub name: String,
    pub kind: Kind,
    pub help: String,
    pub unit: &'static str,
    pub attributes: &'static [(&'static str, &'static str)],
    /// When a cumulative family's values began counting (nanoseconds since the Unix epoch),
    /// when not at this process's start: a total the store keeps counts from the store's
    /// origin, across restarts.
    pub start: Option<u64>,
    /// A counter that may go down (pushed as a non-monotonic sum).
    pub may_decrease: bool,
}

/// What a family says of its series besides its name and kind ([`MetricDesc::start`],
/// [`MetricDesc::may_decrease`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeriesOrigin {
    pub start: Option<u64>,
    pub may_decrease: bool,
}

/// A point's value.
#[derive(Debug, Clone, PartialEq)]
pub enum PointValue {
    /// A counter's total, a gauge's value or an info family's 1.
    Number { value: f64, exemplar: Option<Exemplar> },
    /// A histogram: per-bucket (not cumulative) counts, the last one above every bound.
    Histogram { bounds: &'static [f64], counts: Vec<u64>, sum: f64, exemplars: Vec<Option<Exemplar>> },
}

/// One data point of one family, read at `time` (nanoseconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    pub family: Arc<MetricDesc>,
    /// Attribute keys (labels, renamed per the family's [`OtelName`]) and values.
    pub attributes: Vec<(String, String)>,
    pub value: PointValue,
    pub time: u64,
}

/// The points of one collection.
#[derive(Debug, Default)]
pub(super) struct Points {
    pub(super) current: Option<Arc<MetricDesc>>,
    pub(super) points: Vec<MetricPoint>,
    pub(super) time: u64,
}

impl Points {
    pub(super) fn new() -> Self {
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Self { current: None, points: Vec::new(), time }
    }

    pub(super) fn describe(
        &mut self,
        family: &str,
        kind: Kind,
        help: &str,
        otel: Option<&OtelName>,
        origin: SeriesOrigin,
    ) {
        let SeriesOrigin { start, may_decrease } = origin;
        let desc = match otel {
            Some(o) => MetricDesc {
                name: o.name.to_owned(),
                kind,
                help: help.to_owned(),
                unit: o.unit,
                attributes: o.attributes,
                start,
                may_decrease,
            },
            None => MetricDesc {
                name: match kind {
                    Kind::Info => format!("{family}_info"),
                    _ => family.to_owned(),
                },
                kind,
                help: help.to_owned(),
                unit: "",
                attributes: &[],
                start,
                may_decrease,
            },
        };
        self.current = Some(Arc::new(desc));
    }

    pub(super) fn push(&mut self, labels: &[(&str, &str)], value: PointValue) {
        // A sample before any header has no family to belong to; the text formats would be
        // invalid too, so it is left out.
        let Some(family) = self.current.clone() else { return };
        let attributes = labels
            .iter()
            .map(|(name, value)| {
                let key = family.attributes.iter().find(|(label, _)| label == name).map_or(*name, |(_, key)| *key);
                (key.to_owned(), (*value).to_owned())
            })
            .collect();
        self.points.push(MetricPoint { family, attributes, value, time: self.time });
    }
}
