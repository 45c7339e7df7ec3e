//! The metric signal: the `/metrics` catalogue read on an interval (a periodic reader, as
//! the OpenTelemetry SDKs call it) and pushed as OTLP `ExportMetricsServiceRequest`s with
//! cumulative temporality. Each data point is one record of the exporter core: accounted,
//! batched, retried and drained like a log record or a span.
//!
//! Names and labels are those of the scrape: a counter goes out as a monotonic sum named
//! without `_total` (a Prometheus exporter downstream appends it again), an info family as a
//! gauge `{family}_info` of 1, a histogram with its bounds and per-bucket counts. A family
//! with a conventional OpenTelemetry name (`gen_ai.client.token.usage`) goes out under it.

use std::sync::{Arc, Condvar, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar as OtlpExemplar, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::config::{ExporterConfig, Signal};
use super::encode::encode_halving;
use super::encode::{self, Protocol};
use super::exporter::{Exporter, Feeder};
use super::transport::StartError;
use crate::metrics::{Exemplar, Kind, MetricDesc, MetricPoint, PointValue};

/// What the periodic reader calls: the data points of the whole catalogue, read now.
pub type Reading = Arc<dyn Fn() -> Vec<MetricPoint> + Send + Sync>;

/// The metric signal's encoding.
pub struct Metrics {
    resource: Resource,
    /// When the cumulative series began, for families that count from this process's start.
    start: u64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn exemplar(e: &Exemplar) -> OtlpExemplar {
    OtlpExemplar {
        time_unix_nano: (e.timestamp.max(0.0) * 1e9) as u64,
        span_id: e.span_id.to_vec(),
        trace_id: e.trace_id.to_vec(),
        value: Some(exemplar::Value::AsDouble(e.value)),
        ..OtlpExemplar::default()
    }
}

fn attributes(point: &MetricPoint) -> Vec<KeyValue> {
    point
        .attributes
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.clone())) }),
            ..KeyValue::default()
        })
        .collect()
}

impl Metrics {
    pub(super) fn new(config: &ExporterConfig) -> Self {
        Self { resource: encode::resource(&config.resource), start: unix_nanos(SystemTime::now()) }
    }

    /// One `Metric` per run of consecutive points of the same family (a family split across
    /// two requests is two `Metric`s with the same name, which OTLP allows).
    fn metrics(&self, points: &[MetricPoint]) -> Vec<Metric> {
        let mut out: Vec<Metric> = Vec::new();
        let mut last: Option<&Arc<MetricDesc>> = None;
        for point in points {
            let same = last.is_some_and(|d| Arc::ptr_eq(d, &point.family));
            if !same {
                out.push(self.empty(&point.family, &point.value));
                last = Some(&point.family);
            }
            let Some(metric) = out.last_mut() else { continue };
            self.add(metric, point);
        }
        out
    }

    fn empty(&self, desc: &MetricDesc, first: &PointValue) -> Metric {
        let cumulative = AggregationTemporality::Cumulative as i32;
        let data = match (desc.kind, first) {
            (_, PointValue::Histogram { .. }) => {
                metric::Data::Histogram(Histogram { data_points: Vec::new(), aggregation_temporality: cumulative })
            }
            (Kind::Counter, _) => metric::Data::Sum(Sum {
                data_points: Vec::new(),
                aggregation_temporality: cumulative,
                is_monotonic: !desc.may_decrease,
            }),
            _ => metric::Data::Gauge(Gauge { data_points: Vec::new() }),
        };
        Metric {
            name: desc.name.clone(),
            description: desc.help.clone(),
            unit: desc.unit.to_owned(),
            data: Some(data),
            ..Metric::default()
        }
    }

    fn add(&self, metric: &mut Metric, point: &MetricPoint) {
        match (&mut metric.data, &point.value) {
            (Some(metric::Data::Histogram(h)), PointValue::Histogram { bounds, counts, sum, exemplars }) => {
                h.data_points.push(HistogramDataPoint {
                    attributes: attributes(point),
                    start_time_unix_nano: self.start_of(point),
                    time_unix_nano: point.time,
                    count: counts.iter().sum(),
                    sum: Some(*sum),
                    bucket_counts: counts.clone(),
                    explicit_bounds: bounds.to_vec(),
                    exemplars: exemplars.iter().flatten().map(exemplar).collect(),
                    ..HistogramDataPoint::default()
                });
            }
            (Some(metric::Data::Sum(Sum { data_points, .. }) | metric::Data::Gauge(Gauge { data_points })), v) => {
                let (value, exemplars) = match v {
                    PointValue::Number { value, exemplar: e } => (*value, e.iter().map(exemplar).collect()),
                    // A histogram point under a number family: its count, so the point is
                    // still accounted for (the catalogue never writes one).
                    PointValue::Histogram { counts, .. } => (counts.iter().sum::<u64>() as f64, Vec::new()),
                };
                data_points.push(NumberDataPoint {
                    attributes: attributes(point),
                    start_time_unix_nano: self.start_of(point),
                    time_unix_nano: point.time,
                    exemplars,
                    value: Some(number_data_point::Value::AsDouble(value)),
                    ..NumberDataPoint::default()
                });
            }
            (Some(metric::Data::Histogram(h)), PointValue::Number { value, .. }) => {
                h.data_points.push(HistogramDataPoint {
                    attributes: attributes(point),
                    start_time_unix_nano: self.start_of(point),
                    time_unix_nano: point.time,
                    count: 1,
                    sum: Some(*value),
                    bucket_counts: vec![1],
                    ..HistogramDataPoint::default()
                });
            }
            _ => {}
        }
    }

    /// When a point's cumulative series began: its family's own start (a total kept in the
    /// store counts from the store's origin), else this process's; never after the point.
    fn start_of(&self, point: &MetricPoint) -> u64 {
        point.family.start.unwrap_or(self.start).min(point.time)
    }

    fn request(&self, points: &[MetricPoint]) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "synthorg".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..InstrumentationScope::default()
                    }),
                    metrics: self.metrics(points),
                    ..ScopeMetrics::default()
                }],
                ..ResourceMetrics::default()
            }],
        }
    }
}

impl Signal for Metrics {
    type Record = MetricPoint;
    const NAME: &'static str = "metrics";

    fn encode(
        &mut self,
        batch: Vec<MetricPoint>,
        protocol: Protocol,
        max_bytes: usize,
    ) -> (Vec<(Vec<u8>, usize)>, u64) {
        let body = |points: &[MetricPoint]| {
            let request = self.request(points);
            match protocol {
                Protocol::HttpProtobuf => request.encode_to_vec(),
                Protocol::HttpJson => json(&request),
            }
        };
        let mut bodies = Vec::new();
        let too_large = encode_halving(&batch, max_bytes, &body, &mut bodies);
        (bodies, too_large)
    }

    fn rejected(&self, body: &[u8], protocol: Protocol) -> u64 {
        if body.is_empty() {
            return 0;
        }
        let count = match protocol {
            Protocol::HttpProtobuf => ExportMetricsServiceResponse::decode(body)
                .ok()
                .and_then(|r| r.partial_success)
                .map_or(0, |p| p.rejected_data_points),
            Protocol::HttpJson => encode::rejected_json(body, "rejectedDataPoints"),
        };
        count.max(0) as u64
    }
}

/// The request in OTLP/JSON, with histogram counts and exemplar times as JSON numbers.
///
/// The JSON mapping writes 64-bit integers as strings and requires decoders to accept both
/// forms; some collectors in use accept only numbers for these fields (they drop the
/// histogram's data). Numbers are read by every decoder, and these values stay exact: the
/// text is the integer's, and a count or a nanosecond time fits in 64 bits.
fn json(request: &ExportMetricsServiceRequest) -> Vec<u8> {
    use serde_json::Value;
    fn number(v: &mut Value) {
        if let Some(n) = v.as_str().and_then(|s| s.parse::<u64>().ok()) {
            *v = Value::from(n);
        }
    }
    fn exemplars(point: &mut Value) {
        for exemplar in point.get_mut("exemplars").and_then(Value::as_array_mut).into_iter().flatten() {
            exemplar.get_mut("timeUnixNano").map(number);
        }
    }
    let Ok(mut tree) = serde_json::to_value(request) else { return Vec::new() };
    let metrics = tree["resourceMetrics"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .flat_map(|r| r["scopeMetrics"].as_array_mut().into_iter().flatten())
        .flat_map(|s| s["metrics"].as_array_mut().into_iter().flatten());
    for metric in metrics {
        for kind in ["sum", "gauge", "histogram"] {
            let points = metric.get_mut(kind).and_then(|d| d.get_mut("dataPoints")).and_then(Value::as_array_mut);
            for point in points.into_iter().flatten() {
                exemplars(point);
                if kind == "histogram" {
                    point.get_mut("count").map(number);
                    point.get_mut("bucketCounts").and_then(Value::as_array_mut).into_iter().flatten().for_each(number);
                }
            }
        }
    }
    serde_json::to_vec(&tree).unwrap_or_default()
}

/// The periodic reader's state: what it calls, and the stop request.
#[derive(Default)]
pub(super) struct Reader {
    collect: OnceLock<Reading>,
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Reader {
    /// Runs on its own thread: every `interval`, reads the catalogue and hands the points to
    /// `push`; once more when stopped (the final reading, sent in the shutdown drain).
    pub(super) fn run(&self, interval: Duration, push: &dyn Fn(Vec<MetricPoint>)) {
        let mut next = Instant::now() + interval;
        loop {
            let stopped = {
                let mut stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
                while !*stopped && Instant::now() < next {
                    let wait = next.saturating_duration_since(Instant::now());
                    stopped = self.wake.wait_timeout(stopped, wait).unwrap_or_else(|p| p.into_inner()).0;
                }
                *stopped
            };
            if let Some(collect) = self.collect.get() {
                push(collect());
            }
            if stopped {
                return;
            }
            // A slow reading delays the next one instead of piling readings up.
            next = (next + interval).max(Instant::now());
        }
    }

    pub(super) fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }
}

/// Registers what the metric exporter reads on each interval.
#[derive(Clone)]
pub struct Meter(pub(super) Arc<Reader>);

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Meter")
    }
}

impl Meter {
    /// Sets the catalogue's reading; `false` when one was set already (the first one stays).
    pub fn register(&self, collect: Reading) -> bool {
        self.0.collect.set(collect).is_ok()
    }
}

impl Exporter<Metrics> {
    /// Starts the metric exporter's worker thread, and its reader thread, which reads the
    /// catalogue registered through [`Exporter::meter`] every `interval` (and once more at
    /// shutdown) and queues the points.
    pub fn start_metrics(config: ExporterConfig, interval: Duration) -> Result<Self, StartError> {
        let metrics = Metrics::new(&config);
        let mut exporter = Self::start_signal(config, metrics)?;
        let reader = Arc::new(Reader::default());
        let (done_tx, done_rx) = mpsc::channel();
        let (thread_reader, shared) = (Arc::clone(&reader), Arc::clone(&exporter.shared));
        std::thread::Builder::new()
            .name("otlp-metrics-reader".into())
            .spawn(move || {
                thread_reader.run(interval, &|points| shared.push_all(points));
                let _ = done_tx.send(());
            })
            .map_err(|e| StartError::Thread { what: "thread", cause: e.to_string() })?;
        let stopping = Arc::clone(&reader);
        exporter.feeder = Some(Feeder {
            stop: Box::new(move || stopping.stop()),
            done: Mutex::new(Some(done_rx)),
            handle: Box::new(Meter(reader)),
        });
        Ok(exporter)
    }

    /// Where the catalogue to push is registered.
    pub fn meter(&self) -> Option<Meter> {
        self.feeder.as_ref().and_then(|f| f.handle.downcast_ref::<Meter>()).cloned()
    }
}
