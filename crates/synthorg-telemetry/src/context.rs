//! Correlation: request ids and W3C trace context (`traceparent`).

use std::fmt;

use tracing_subscriber::registry::LookupSpan;

/// A W3C trace context: 16-byte trace id, 8-byte span id, flags, and the span id of the
/// caller's span when the trace came in with a `traceparent`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
    pub parent_span_id: Option<[u8; 8]>,
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceContext({})", self.traceparent())
    }
}

/// How many bytes of the OS random source a thread draws at once for ids. Every request
/// needs 40 (a trace id, a span id, a request id): one `getrandom` call per 4 KiB instead of
/// three system calls per request. The bytes are the OS's own and each is used once.
const RANDOM_BATCH: usize = 4096;

thread_local! {
    static RANDOM: std::cell::RefCell<(Box<[u8; RANDOM_BATCH]>, usize)> =
        std::cell::RefCell::new((Box::new([0; RANDOM_BATCH]), RANDOM_BATCH));
}

fn random<const N: usize>() -> [u8; N] {
    const { assert!(N <= RANDOM_BATCH) };
    let mut bytes = [0u8; N];
    let drawn = RANDOM.with_borrow_mut(|(pool, used)| {
        if *used + N > RANDOM_BATCH {
            getrandom::fill(&mut pool[..]).ok()?;
            *used = 0;
        }
        bytes.copy_from_slice(&pool[*used..*used + N]);
        *used += N;
        Some(())
    });
    // The OS random source does not fail on supported platforms; should it ever, fall back
    // to time-derived bytes rather than fail a request.
    if drawn.is_none() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos());
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (nanos >> ((i % 16) * 8)) as u8 | 1;
        }
    }
    bytes
}

/// Which traces are recorded (`OTEL_TRACES_SAMPLER`): the decision for a trace this process
/// starts, from its trace id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    AlwaysOn,
    AlwaysOff,
    /// `traceidratio`: this fraction of traces, decided from the trace id alone, so every
    /// process that sees the same trace decides alike.
    TraceIdRatio(f64),
}

impl Sampler {
    /// Whether a trace with this id is recorded.
    pub fn samples(&self, trace_id: &[u8; 16]) -> bool {
        match *self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::TraceIdRatio(ratio) => {
                // The id's last 8 bytes, the random part of a W3C trace id, against the
                // ratio of the whole u64 range.
                let mut low = [0u8; 8];
                low.copy_from_slice(&trace_id[8..]);
                let bound = (ratio.clamp(0.0, 1.0) * 2f64.powi(64)) as u128;
                u128::from(u64::from_be_bytes(low)) < bound
            }
        }
    }
}

/// How a request's trace context is chosen: whether an incoming `traceparent` is read
/// (`OTEL_PROPAGATORS` with `tracecontext`), and how traces are sampled
/// (`OTEL_TRACES_SAMPLER`; the default is the specification's `parentbased_always_on`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TracePolicy {
    pub sampler: Sampler,
    /// `parentbased_*`: a request that continues a caller's trace follows the caller's
    /// sampled flag; the sampler decides only for traces that start here.
    pub parent_based: bool,
    /// Read an incoming `traceparent` (W3C trace context); without it every request starts a
    /// trace of its own.
    pub tracecontext: bool,
}

impl Default for TracePolicy {
    fn default() -> Self {
        Self { sampler: Sampler::AlwaysOn, parent_based: true, tracecontext: true }
    }
}

impl TraceContext {
    /// The context of a request: the incoming `traceparent`'s trace id and flags when it is
    /// valid, else a fresh trace id (sampled); always a fresh span id for this request.
    pub fn for_request(traceparent: Option<&str>) -> Self {
        Self::for_request_with(traceparent, &TracePolicy::default())
    }

    /// [`TraceContext::for_request`] under `policy`: the sampled flag (0x01) is the caller's
    /// for a parent-based policy continuing a trace, else the sampler's decision; the
    /// caller's other flags (the random bit) are kept.
    pub fn for_request_with(traceparent: Option<&str>, policy: &TracePolicy) -> Self {
        let span_id = new_span_id();
        let incoming = traceparent.filter(|_| policy.tracecontext).and_then(parse_traceparent);
        match incoming {
            Some((trace_id, parent, flags)) => {
                let sampled = match policy.parent_based {
                    true => flags & 0x01 == 0x01,
                    false => policy.sampler.samples(&trace_id),
                };
                let flags = (flags & !0x01) | u8::from(sampled);
                Self { trace_id, span_id, flags, parent_span_id: Some(parent) }
            }
            None => {
                let trace_id = new_trace_id();
                let flags = u8::from(policy.sampler.samples(&trace_id));
                Self { trace_id, span_id, flags, parent_span_id: None }
            }
        }
    }

    pub fn trace_id_hex(&self) -> String {
        hex::encode(self.trace_id)
    }

    pub fn span_id_hex(&self) -> String {
        hex::encode(self.span_id)
    }

    /// This context as a `traceparent` value.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{:02x}", self.trace_id_hex(), self.span_id_hex(), self.flags)
    }
}

/// A new, non-zero span id.
pub fn new_span_id() -> [u8; 8] {
    loop {
        let id = random::<8>();
        if id != [0; 8] {
            return id;
        }
    }
}

fn new_trace_id() -> [u8; 16] {
    loop {
        let id = random::<16>();
        if id != [0; 16] {
            return id;
        }
    }
}

/// Parses `version-traceid-parentid-flags` per W3C Trace Context: lowercase hex, version not
/// `ff`, non-zero ids; version 00 has exactly four fields, later versions may add more.
pub fn parse_traceparent(value: &str) -> Option<([u8; 16], [u8; 8], u8)> {
    let value = value.trim();
    let mut parts = value.split('-');
    let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let lower_hex =
        |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !lower_hex(version, 2)
        || version == "ff"
        || !lower_hex(trace, 32)
        || !lower_hex(parent, 16)
        || !lower_hex(flags, 2)
    {
        return None;
    }
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let mut trace_id = [0u8; 16];
    hex::decode_to_slice(trace, &mut trace_id).ok()?;
    let mut parent_id = [0u8; 8];
    hex::decode_to_slice(parent, &mut parent_id).ok()?;
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some((trace_id, parent_id, flags))
}

/// Keeps `trace` with `span` (a request's span), for [`current`] to find from any code that
/// runs inside it, on any thread. Does nothing without a `tracing_subscriber` registry.
pub fn attach(span: &tracing::Span, trace: TraceContext) {
    keep(span, trace);
}

/// The trace context of the innermost enclosing span that has one ([`attach`]).
pub fn current() -> Option<TraceContext> {
    innermost::<TraceContext>()
}

/// A request's id, kept with its span ([`attach_request_id`]).
#[derive(Debug, Clone)]
struct RequestId(String);

/// Keeps the request id with `span` (the request's), for code inside it that records the
/// id itself (an audit event written by a door other than the REST API).
pub fn attach_request_id(span: &tracing::Span, id: &str) {
    keep(span, RequestId(id.to_owned()));
}

/// The id of the request the current code runs in ([`attach_request_id`]).
pub fn current_request_id() -> Option<String> {
    innermost::<RequestId>().map(|r| r.0)
}

/// Keeps `value` in `span`'s extensions, where the spans inside it find it ([`innermost`]).
fn keep<T: Send + Sync + 'static>(span: &tracing::Span, value: T) {
    span.with_subscriber(|(id, dispatch)| {
        if let Some(span) = dispatch.downcast_ref::<tracing_subscriber::Registry>().and_then(|r| r.span(id)) {
            span.extensions_mut().insert(value);
        }
    });
}

/// The `T` of the innermost enclosing span that keeps one.
fn innermost<T: Clone + Send + Sync + 'static>() -> Option<T> {
    let span = tracing::Span::current();
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        registry.span(id)?.scope().find_map(|s| s.extensions().get::<T>().cloned())
    })
    .flatten()
}

/// An incoming W3C `tracestate`, carried on every span synthorg exports for the request's
/// trace. It is kept only when it parses as the W3C Trace Context specification says (list
/// members `key=value`, at most 32, keys unique, 512 characters in all) and only with a
/// valid `traceparent`; anything else is dropped whole, as the specification asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceState(std::sync::Arc<str>);

/// Most list members of a `tracestate`, and its longest length.
const TRACESTATE_MEMBERS: usize = 32;
const TRACESTATE_LEN: usize = 512;

impl TraceState {
    /// The `tracestate` of the request's header fields (several are one list, in order).
    pub fn parse<'a>(fields: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut members: Vec<&str> = Vec::new();
        for field in fields {
            for member in field.split(',').map(|m| m.trim_matches([' ', '\t'])).filter(|m| !m.is_empty()) {
                let (key, value) = member.split_once('=')?;
                if !valid_key(key)
                    || !valid_value(value)
                    || members.iter().any(|m| m.split_once('=').map(|(k, _)| k) == Some(key))
                {
                    return None;
                }
                members.push(member);
            }
        }
        let joined = members.join(",");
        (!members.is_empty() && members.len() <= TRACESTATE_MEMBERS && joined.len() <= TRACESTATE_LEN)
            .then(|| Self(joined.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `simple-key` (`lcalpha 0*255(lcalpha / DIGIT / "_" / "-"/ "*" / "/")`) or
/// `tenant-id@system-id` (`(lcalpha / DIGIT) 0*240(…)` `@` `lcalpha 0*13(…)`).
fn valid_key(key: &str) -> bool {
    let rest = |s: &str, max: usize| {
        s.len() <= max && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/".contains(&b))
    };
    match key.split_once('@') {
        None => key.as_bytes().first().is_some_and(u8::is_ascii_lowercase) && rest(&key[1..], 255),
        Some((tenant, system)) => {
            tenant.as_bytes().first().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && rest(&tenant[1..], 240)
                && system.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
                && rest(&system[1..], 13)
        }
    }
}

/// `0*255(chr) nblk-chr`: printable ASCII but `,` and `=`, not ending in a space.
fn valid_value(value: &str) -> bool {
    (1..=256).contains(&value.len())
        && value.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
        && !value.ends_with(' ')
}

/// Keeps `state` on `span` (the request's), for the spans of its trace ([`current_state`]).
pub fn attach_state(span: &tracing::Span, state: TraceState) {
    keep(span, state);
}

/// The `tracestate` of the innermost enclosing span that has one ([`attach_state`]).
pub fn current_state() -> Option<TraceState> {
    innermost::<TraceState>()
}

/// Longest accepted incoming request id.
pub const REQUEST_ID_MAX: usize = 128;

/// The request id: the incoming `X-Request-Id` when it is 1–128 characters of
/// `[A-Za-z0-9._:-]` (safe in every sink and header), else a new UUIDv7-like random id.
pub fn request_id(incoming: Option<&str>) -> String {
    match incoming {
        Some(id)
            if !id.is_empty()
                && id.len() <= REQUEST_ID_MAX
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b)) =>
        {
            id.to_owned()
        }
        _ => {
            let r = random::<16>();
            let h = hex::encode(r);
            format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_validation() {
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let (trace, parent, flags) = parse_traceparent(valid).unwrap();
        assert_eq!(hex::encode(trace), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex::encode(parent), "00f067aa0ba902b7");
        assert_eq!(flags, 1);
        assert!(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra").is_some());
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
        let ctx = TraceContext::for_request(Some(valid));
        assert_eq!(ctx.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(ctx.span_id_hex(), "00f067aa0ba902b7", "a new span for this request");
        assert_eq!(ctx.parent_span_id.map(hex::encode).as_deref(), Some("00f067aa0ba902b7"), "child of the caller's");
        let fresh = TraceContext::for_request(Some("garbage"));
        assert_ne!(fresh.trace_id, [0; 16]);
        assert_eq!(fresh.flags, 1);
        assert_eq!(fresh.parent_span_id, None, "a new trace starts here");
        assert_ne!(TraceContext::for_request(None).trace_id, fresh.trace_id);
        assert!(parse_traceparent(&fresh.traceparent()).is_some());
    }

    #[test]
    fn the_current_trace_is_found_from_inner_spans() {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(tracing_subscriber::layer::Identity::new());
        tracing::subscriber::with_default(subscriber, || {
            assert_eq!(current(), None, "outside any span");
            let trace = TraceContext::for_request(None);
            let request = tracing::info_span!("request");
            attach(&request, trace);
            request.in_scope(|| {
                assert_eq!(current(), Some(trace));
                tracing::info_span!("inner").in_scope(|| assert_eq!(current(), Some(trace)));
            });
            tracing::info_span!("other").in_scope(|| assert_eq!(current(), None));
        });
    }

    #[test]
    fn request_ids() {
        assert_eq!(request_id(Some("req-42.a:b_c")), "req-42.a:b_c");
        for bad in ["", "has space", "new\nline", "quote\"", &"x".repeat(129), "ünï"] {
            let id = request_id(Some(bad));
            assert_ne!(id, bad);
            assert_eq!(id.len(), 36);
        }
        assert_ne!(request_id(None), request_id(None));
    }

    #[test]
    fn sampling_follows_the_policy() {
        let id = |low: u64| {
            let mut t = [0xab; 16];
            t[8..].copy_from_slice(&low.to_be_bytes());
            t
        };
        let half = Sampler::TraceIdRatio(0.5);
        assert!(half.samples(&id(0)) && half.samples(&id(u64::MAX / 2 - 1)));
        assert!(!half.samples(&id(u64::MAX / 2 + 2)) && !half.samples(&id(u64::MAX)));
        assert!(!Sampler::TraceIdRatio(0.0).samples(&id(0)));
        assert!(Sampler::TraceIdRatio(1.0).samples(&id(u64::MAX)));
        // Over random ids, a ratio keeps about that share.
        let kept = (0..10_000).filter(|_| Sampler::TraceIdRatio(0.25).samples(&new_trace_id())).count();
        assert!((2_200..2_800).contains(&kept), "{kept}");

        let sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03";
        let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02";
        let off = TracePolicy { sampler: Sampler::AlwaysOff, ..TracePolicy::default() };
        // Parent-based: the caller decides; a trace started here, the sampler.
        assert_eq!(TraceContext::for_request_with(Some(sampled), &off).flags, 0x03);
        assert_eq!(TraceContext::for_request_with(None, &off).flags, 0x00);
        let on = TracePolicy::default();
        assert_eq!(TraceContext::for_request_with(Some(unsampled), &on).flags, 0x02);
        // Not parent-based: the sampler decides for every trace, the random bit kept.
        let off_always = TracePolicy { parent_based: false, ..off };
        assert_eq!(TraceContext::for_request_with(Some(sampled), &off_always).flags, 0x02);
        let on_always = TracePolicy { parent_based: false, ..on };
        assert_eq!(TraceContext::for_request_with(Some(unsampled), &on_always).flags, 0x03);
        // Without the tracecontext propagator the caller's trace is not continued.
        let deaf = TracePolicy { tracecontext: false, ..on };
        let own = TraceContext::for_request_with(Some(sampled), &deaf);
        assert!(own.parent_span_id.is_none() && hex::encode(own.trace_id) != "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn ids_stay_distinct_across_refills_of_the_random_pool() {
        let ids: std::collections::HashSet<[u8; 16]> = (0..3 * RANDOM_BATCH / 16).map(|_| random::<16>()).collect();
        assert_eq!(ids.len(), 3 * RANDOM_BATCH / 16);
    }

    #[test]
    fn tracestate_is_kept_when_it_parses_and_dropped_whole_when_not() {
        let parse = |fields: &[&str]| TraceState::parse(fields.iter().copied()).map(|s| s.as_str().to_owned());
        assert_eq!(
            parse(&["congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"]).as_deref(),
            Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
        );
        assert_eq!(parse(&["a=1", " tenant@sys=x y,b=2 "]).as_deref(), Some("a=1,tenant@sys=x y,b=2"), "fields join");
        assert_eq!(parse(&["a=1,,b=2"]).as_deref(), Some("a=1,b=2"), "empty members are allowed");
        for bad in ["UPPER=1", "a=1,a=2", "a", "a=", "a=b,c", "1a=x", "a=x=y", "a=\u{e9}", "a=x\ty"] {
            assert_eq!(parse(&[bad]), None, "{bad}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert_eq!(parse(&[many.join(",").as_str()]), None, "33 members");
        assert_eq!(parse(&[format!("k={}", "v".repeat(256)).as_str(), "j=v"]).map(|s| s.len()), Some(262));
        let long: Vec<String> = (0..3).map(|i| format!("k{i}={}", "v".repeat(200))).collect();
        assert_eq!(parse(&[long.join(",").as_str()]), None, "past 512 characters");
        assert_eq!(parse(&[]), None);
    }
}
