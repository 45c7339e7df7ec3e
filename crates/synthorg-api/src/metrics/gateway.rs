//! The model gateway's families (SPEC §17): calls by provider, model and outcome, the time
//! synthorg adds to a call, and the GenAI conventions' client duration and time to first
//! chunk. Moved by the `ModelCalled` events of the gateway, through the API's effects.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use synthorg_core::cost::GenAiOperation;
use synthorg_core::event::CallOutcome;
use synthorg_telemetry::metrics::{Collect, Exemplar, Exposition, Family, Histogram, Kind, OtelName};

use super::{OTHER, observe_keyed};

/// Bounds of the time synthorg adds to a call: 50 µs to a second.
const OVERHEAD_BUCKETS: &[f64] =
    &[0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// The conventions' advice for `gen_ai.client.operation.duration` (and the first chunk).
const DURATION_BUCKETS: &[f64] =
    &[0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

const GENAI_ATTRIBUTES: &[(&str, &str)] = &[
    ("gen_ai_operation_name", "gen_ai.operation.name"),
    ("gen_ai_provider_name", "gen_ai.provider.name"),
    ("gen_ai_request_model", "gen_ai.request.model"),
    ("error_type", "error.type"),
];

/// A GenAI series: provider (as the conventions name it), model and `error.type` ("" when
/// the call succeeded).
/// Operation, provider name, model, error type.
type GenAiKey = (GenAiOperation, String, String, &'static str);

/// One gateway call as the metrics take it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub operation: GenAiOperation,
    pub provider: &'a str,
    pub provider_name: &'a str,
    pub model: &'a str,
    pub outcome: CallOutcome,
    pub seconds: f64,
    pub overhead_seconds: f64,
    pub first_chunk_seconds: Option<f64>,
}

/// The gateway's families; past `max_models` (provider, model) pairs, new ones fold into
/// `__other__`.
#[derive(Debug)]
pub struct GatewayMetrics {
    calls: Mutex<BTreeMap<(String, String, CallOutcome), u64>>,
    overhead: Mutex<BTreeMap<String, Histogram>>,
    duration: Mutex<BTreeMap<GenAiKey, Histogram>>,
    first_chunk: Mutex<BTreeMap<GenAiKey, Histogram>>,
    models: Mutex<BTreeSet<(String, String)>>,
    max_models: usize,
    calls_family: Family<3>,
    overhead_family: Family<1>,
    duration_family: Family<4>,
    first_chunk_family: Family<4>,
}

impl GatewayMetrics {
    pub fn new(prefix: &str, max_models: usize) -> Self {
        Self {
            calls: Mutex::default(),
            overhead: Mutex::default(),
            duration: Mutex::default(),
            first_chunk: Mutex::default(),
            models: Mutex::default(),
            max_models,
            calls_family: Family::new(
                prefix,
                "gateway_calls",
                Kind::Counter,
                "Model calls through the gateway handled by this process, by provider, model and outcome \
                 (answered, refused, rate_limited, upstream_error, upstream_timeout, upstream_unreachable, cut_at_hold, broken, client_gone).",
            )
            .labelled(["provider", "model", "outcome"]),
            overhead_family: Family::new(
                prefix,
                "gateway_overhead_seconds",
                Kind::Histogram,
                "Time a gateway call spent in synthorg, not waiting for its provider (hold, settlement, relaying), by provider.",
            )
            .labelled(["provider"]),
            duration_family: Family::new(
                "",
                "gen_ai_client_operation_duration_seconds",
                Kind::Histogram,
                "Gateway calls' duration as their clients saw it, by operation, provider, model and error type. \
                 OTLP name gen_ai.client.operation.duration.",
            )
            .labelled(["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "error_type"])
            .with_otel(OtelName { name: "gen_ai.client.operation.duration", unit: "s", attributes: GENAI_ATTRIBUTES }),
            first_chunk_family: Family::new(
                "",
                "gen_ai_client_operation_time_to_first_chunk_seconds",
                Kind::Histogram,
                "Streamed gateway calls' time to their first chunk, by operation, provider, model and error type. \
                 OTLP name gen_ai.client.operation.time_to_first_chunk.",
            )
            .labelled(["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "error_type"])
            .with_otel(OtelName {
                name: "gen_ai.client.operation.time_to_first_chunk",
                unit: "s",
                attributes: GENAI_ATTRIBUTES,
            }),
        }
    }

    /// One call ended, with the current request's trace as the exemplar.
    pub fn call(&self, call: Call<'_>) {
        let (provider, model) = self.fold(call.provider, call.model);
        *self
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((provider.clone(), model.clone(), call.outcome))
            .or_default() += 1;
        if !matches!(call.outcome, CallOutcome::Refused | CallOutcome::RateLimited) {
            self.overhead
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(provider)
                .or_insert_with(|| Histogram::new(OVERHEAD_BUCKETS))
                .observe_with(call.overhead_seconds, Exemplar::in_current_trace(call.overhead_seconds));
        }
        let error = match call.outcome {
            CallOutcome::Answered | CallOutcome::CutAtHold => "",
            other => other.as_str(),
        };
        let key = (
            call.operation,
            if model == OTHER { OTHER.to_owned() } else { call.provider_name.to_owned() },
            model,
            error,
        );
        if let Some(first) = call.first_chunk_seconds {
            observe_keyed(&self.first_chunk, key.clone(), DURATION_BUCKETS, first);
        }
        observe_keyed(&self.duration, key, DURATION_BUCKETS, call.seconds);
    }

    fn fold(&self, provider: &str, model: &str) -> (String, String) {
        let mut models = self.models.lock().unwrap_or_else(|p| p.into_inner());
        let pair = (provider.to_owned(), model.to_owned());
        if models.contains(&pair) || models.len() < self.max_models {
            models.insert(pair.clone());
            pair
        } else {
            (OTHER.to_owned(), OTHER.to_owned())
        }
    }
}

impl Collect for GatewayMetrics {
    fn collect(&self, e: &mut Exposition) {
        self.calls_family.header(e);
        for ((provider, model, outcome), count) in self.calls.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            self.calls_family.counter(e, [provider, model, outcome.as_str()], *count as f64);
        }
        self.overhead_family.header(e);
        for (provider, histogram) in self.overhead.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            self.overhead_family.histogram(e, [provider], &histogram.snapshot());
        }
        for (family, series) in [(&self.duration_family, &self.duration), (&self.first_chunk_family, &self.first_chunk)]
        {
            family.header(e);
            for ((operation, provider, model, error), histogram) in
                series.lock().unwrap_or_else(|p| p.into_inner()).iter()
            {
                family.histogram(e, [operation.as_str(), provider, model, error], &histogram.snapshot());
            }
        }
    }
}
