//! The exposition encoder, written for speed and for correctness on any input.
//!
//! Why not a registry crate's encoder: the requirements include escaping HELP correctly in
//! OpenMetrics (a known gap of a popular crate, which takes a real Prometheus target down on
//! a newline), encoding 20,000 series at hundreds of MB/s, and folding per-agent series, which
//! is simpler over our own snapshot than through a registry's collector API. The encoder
//! writes straight into one buffer; label values are escaped with a fast path for the common
//! case of nothing to escape.

use super::points::{MetricPoint, OtelName, PointValue, Points, SeriesOrigin};
use super::primitives::{Exemplar, HistogramSnapshot};

/// The two exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.0 text.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Exposed as `<family>_total`.
    Counter,
    Gauge,
    Histogram,
    /// Exposed as `<family>_info` with value 1.
    Info,
}

/// An exposition being written: text in one of the formats, or (for the OTLP push) the same
/// families as data points.
#[derive(Debug)]
pub struct Exposition {
    buf: Vec<u8>,
    format: Format,
    points: Option<Points>,
}

impl Exposition {
    pub fn new(format: Format) -> Self {
        Self::with_capacity(format, 16 * 1024)
    }

    pub fn with_capacity(format: Format, capacity: usize) -> Self {
        Self { buf: Vec::with_capacity(capacity), format, points: None }
    }

    /// An exposition recorded as data points ([`Exposition::into_points`]), all read now.
    pub fn points() -> Self {
        Self { buf: Vec::new(), format: Format::OpenMetrics, points: Some(Points::new()) }
    }

    /// The data points recorded by an exposition made with [`Exposition::points`] (none for
    /// a text one).
    pub fn into_points(self) -> Vec<MetricPoint> {
        self.points.map(|p| p.points).unwrap_or_default()
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Writes the `# HELP` and `# TYPE` lines of a family. `family` is the full name without
    /// the `_total` / `_info` suffix the type adds.
    pub fn header(&mut self, family: &str, kind: Kind, help: &str) {
        self.header_otel(family, kind, help, None);
    }

    /// A family's header, with its OpenTelemetry name when it has a conventional one.
    pub fn header_otel(&mut self, family: &str, kind: Kind, help: &str, otel: Option<&OtelName>) {
        self.header_of(family, kind, help, otel, SeriesOrigin::default());
    }

    /// A header with what the OTLP push needs beyond the text formats: when the family's
    /// cumulative values began, and whether a counter may go down.
    pub fn header_of(&mut self, family: &str, kind: Kind, help: &str, otel: Option<&OtelName>, origin: SeriesOrigin) {
        if let Some(points) = &mut self.points {
            points.describe(family, kind, help, otel, origin);
            return;
        }
        let (suffix, type_name) = match (self.format, kind) {
            (Format::Text, Kind::Counter) => ("_total", "counter"),
            (Format::Text, Kind::Info) => ("_info", "gauge"),
            (_, Kind::Counter) => ("", "counter"),
            (_, Kind::Info) => ("", "info"),
            (_, Kind::Gauge) => ("", "gauge"),
            (_, Kind::Histogram) => ("", "histogram"),
        };
        self.buf.extend_from_slice(b"# HELP ");
        self.buf.extend_from_slice(family.as_bytes());
        self.buf.extend_from_slice(suffix.as_bytes());
        self.buf.push(b' ');
        self.escape_help(help);
        self.buf.extend_from_slice(b"\n# TYPE ");
        self.buf.extend_from_slice(family.as_bytes());
        self.buf.extend_from_slice(suffix.as_bytes());
        self.buf.push(b' ');
        self.buf.extend_from_slice(type_name.as_bytes());
        self.buf.push(b'\n');
    }

    /// Writes one sample: `<family><suffix>{labels} value`.
    pub fn sample(&mut self, family: &str, suffix: &str, labels: &[(&str, &str)], value: f64) {
        self.sample_with(family, suffix, labels, value, None);
    }

    /// A sample with its exemplar, written in OpenMetrics only (the Prometheus text format
    /// has no exemplars): `… value # {trace_id="…",span_id="…"} value timestamp`.
    fn sample_with(
        &mut self,
        family: &str,
        suffix: &str,
        labels: &[(&str, &str)],
        value: f64,
        exemplar: Option<&Exemplar>,
    ) {
        if let Some(points) = &mut self.points {
            points.push(labels, PointValue::Number { value, exemplar: exemplar.copied() });
            return;
        }
        self.buf.extend_from_slice(family.as_bytes());
        self.buf.extend_from_slice(suffix.as_bytes());
        if !labels.is_empty() {
            self.buf.push(b'{');
            for (i, (name, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.buf.push(b',');
                }
                self.buf.extend_from_slice(name.as_bytes());
                self.buf.extend_from_slice(b"=\"");
                self.escape_label_value(value);
                self.buf.push(b'"');
            }
            self.buf.push(b'}');
        }
        self.buf.push(b' ');
        self.value(value);
        if let Some(exemplar) = exemplar.filter(|_| self.format == Format::OpenMetrics) {
            let mut ids = [0u8; 32 + 16];
            // Hex of fixed-size ids into a buffer of exactly their size cannot fail.
            let _ = hex::encode_to_slice(exemplar.trace_id, &mut ids[..32]);
            let _ = hex::encode_to_slice(exemplar.span_id, &mut ids[32..]);
            self.buf.extend_from_slice(b" # {trace_id=\"");
            self.buf.extend_from_slice(&ids[..32]);
            self.buf.extend_from_slice(b"\",span_id=\"");
            self.buf.extend_from_slice(&ids[32..]);
            self.buf.extend_from_slice(b"\"} ");
            self.value(exemplar.value);
            self.buf.push(b' ');
            self.value(exemplar.timestamp);
        }
        self.buf.push(b'\n');
    }

    /// A counter sample (`_total`).
    pub fn counter(&mut self, family: &str, labels: &[(&str, &str)], value: f64) {
        self.sample(family, "_total", labels, value);
    }

    /// A counter sample with its latest exemplar (written in OpenMetrics only).
    pub fn counter_with(&mut self, family: &str, labels: &[(&str, &str)], value: f64, exemplar: Option<&Exemplar>) {
        self.sample_with(family, "_total", labels, value, exemplar);
    }

    /// A gauge sample.
    pub fn gauge(&mut self, family: &str, labels: &[(&str, &str)], value: f64) {
        self.sample(family, "", labels, value);
    }

    /// An info sample (`_info`, value 1).
    pub fn info(&mut self, family: &str, labels: &[(&str, &str)]) {
        self.sample(family, "_info", labels, 1.0);
    }

    /// The samples of one histogram: cumulative buckets, `+Inf`, sum and count; in
    /// OpenMetrics, each bucket with its latest exemplar.
    pub fn histogram(&mut self, family: &str, labels: &[(&str, &str)], s: &HistogramSnapshot) {
        let (bounds, cumulative, sum) = (s.bounds, s.cumulative.as_slice(), s.sum);
        if let Some(points) = &mut self.points {
            let counts =
                cumulative.iter().scan(0u64, |below, &c| Some(c.saturating_sub(std::mem::replace(below, c)))).collect();
            let exemplars = s.exemplars.clone();
            points.push(labels, PointValue::Histogram { bounds, counts, sum, exemplars });
            return;
        }
        let count = cumulative.last().copied().unwrap_or(0);
        let mut ryu_buf = ryu::Buffer::new();
        for (i, bound) in bounds.iter().chain(std::iter::once(&f64::INFINITY)).enumerate() {
            let le = if bound.is_infinite() { "+Inf" } else { ryu_buf.format(*bound) };
            let mut with_le: Vec<(&str, &str)> = Vec::with_capacity(labels.len() + 1);
            with_le.extend_from_slice(labels);
            with_le.push(("le", le));
            let n = cumulative.get(i).copied().unwrap_or(count);
            let exemplar = s.exemplars.get(i).and_then(Option::as_ref);
            self.sample_with(family, "_bucket", &with_le, n as f64, exemplar);
        }
        self.sample(family, "_sum", labels, sum);
        self.sample(family, "_count", labels, count as f64);
    }

    /// Ends the exposition (`# EOF` in OpenMetrics) and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        if self.format == Format::OpenMetrics {
            self.buf.extend_from_slice(b"# EOF\n");
        }
        self.buf
    }

    fn value(&mut self, v: f64) {
        if v.is_nan() {
            self.buf.extend_from_slice(b"NaN");
        } else if v.is_infinite() {
            self.buf.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
        } else if v.fract() == 0.0 && v.abs() < 1e15 {
            self.buf.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
        } else {
            self.buf.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
        }
    }

    /// Label values escape `\`, `"` and newline in both formats.
    fn escape_label_value(&mut self, value: &str) {
        let bytes = value.as_bytes();
        if !bytes.iter().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
            self.buf.extend_from_slice(bytes);
            return;
        }
        for &b in bytes {
            match b {
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'"' => self.buf.extend_from_slice(b"\\\""),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                _ => self.buf.push(b),
            }
        }
    }

    /// HELP escapes `\` and newline; OpenMetrics also `"`.
    fn escape_help(&mut self, help: &str) {
        for &b in help.as_bytes() {
            match b {
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                b'"' if self.format == Format::OpenMetrics => self.buf.extend_from_slice(b"\\\""),
                _ => self.buf.push(b),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(format: Format, f: impl FnOnce(&mut Exposition)) -> String {
        let mut e = Exposition::new(format);
        f(&mut e);
        String::from_utf8(e.finish()).unwrap()
    }

    #[test]
    fn counters_and_info_follow_each_format() {
        let body = |e: &mut Exposition| {
            e.header("x_cost", Kind::Counter, "Cost \"in\" USD\\n");
            e.counter("x_cost", &[], 1.5);
            e.header("x_app", Kind::Info, "Build");
            e.info("x_app", &[("version", "1.0")]);
        };
        assert_eq!(
            text(Format::Text, body),
            "# HELP x_cost_total Cost \"in\" USD\\\\n\n# TYPE x_cost_total counter\nx_cost_total 1.5\n\
             # HELP x_app_info Build\n# TYPE x_app_info gauge\nx_app_info{version=\"1.0\"} 1\n"
        );
        assert_eq!(
            text(Format::OpenMetrics, body),
            "# HELP x_cost Cost \\\"in\\\" USD\\\\n\n# TYPE x_cost counter\nx_cost_total 1.5\n\
             # HELP x_app Build\n# TYPE x_app info\nx_app_info{version=\"1.0\"} 1\n# EOF\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let out = text(Format::Text, |e| e.gauge("g", &[("name", "a\"b\\c\nd\t🤖")], 2.0));
        assert_eq!(out, "g{name=\"a\\\"b\\\\c\\nd\t🤖\"} 2\n");
    }

    #[test]
    fn values() {
        let out = text(Format::Text, |e| {
            for v in [0.0, -3.0, 0.1, 1e20, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 123456789.125] {
                e.gauge("g", &[], v);
            }
        });
        assert_eq!(out, "g 0\ng -3\ng 0.1\ng 1e20\ng NaN\ng +Inf\ng -Inf\ng 123456789.125\n");
    }

    fn snapshot(exemplars: Vec<Option<Exemplar>>) -> HistogramSnapshot {
        HistogramSnapshot { bounds: &[0.1, 1.0], cumulative: vec![1, 3, 4], sum: 2.5, exemplars }
    }

    #[test]
    fn histograms() {
        let out = text(Format::Text, |e| e.histogram("h", &[("route", "/x")], &snapshot(Vec::new())));
        assert_eq!(
            out,
            "h_bucket{route=\"/x\",le=\"0.1\"} 1\nh_bucket{route=\"/x\",le=\"1.0\"} 3\nh_bucket{route=\"/x\",le=\"+Inf\"} 4\n\
             h_sum{route=\"/x\"} 2.5\nh_count{route=\"/x\"} 4\n"
        );
    }

    #[test]
    fn exemplars_go_on_their_buckets_in_openmetrics_only() {
        let exemplar = Exemplar {
            trace_id: *b"\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36",
            span_id: *b"\x00\xf0\x67\xaa\x0b\xa9\x02\xb7",
            value: 0.5,
            timestamp: 1_765_000_000.25,
        };
        let s = snapshot(vec![None, Some(exemplar), None]);
        let om = text(Format::OpenMetrics, |e| e.histogram("h", &[], &s));
        assert_eq!(
            om,
            "h_bucket{le=\"0.1\"} 1\n\
             h_bucket{le=\"1.0\"} 3 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 0.5 1765000000.25\n\
             h_bucket{le=\"+Inf\"} 4\nh_sum 2.5\nh_count 4\n# EOF\n"
        );
        let plain = text(Format::Text, |e| e.histogram("h", &[], &s));
        assert!(!plain.contains('#'), "the text format has no exemplars: {plain}");
    }
}
