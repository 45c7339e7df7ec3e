//! What a gateway call leaves behind when it ends, besides its cost record: a CLIENT span in
//! the GenAI conventions under the request's SERVER span, and a `ModelCalled` event for the
//! gateway's metrics and log line (counted by the effects like every other event).

use std::time::{Duration, Instant, SystemTime};

use synthorg_core::cost::GenAiOperation;
use synthorg_core::event::{CallOutcome, Event};
use synthorg_core::price::Usage;
use synthorg_engine::Engine;
use synthorg_telemetry::otlp::{AttrValue, SpanKind};
use uuid::Uuid;

use crate::provider::Provider;

/// A call in flight: who, where, and since when.
#[derive(Debug, Clone)]
pub(crate) struct CallReport {
    pub(crate) agent_id: Uuid,
    pub(crate) operation: GenAiOperation,
    pub(crate) provider: String,
    pub(crate) provider_name: String,
    pub(crate) server: Option<(String, u16)>,
    pub(crate) model: String,
    pub(crate) max_tokens: u64,
    pub(crate) streamed: bool,
    pub(crate) started: Instant,
    pub(crate) started_at: SystemTime,
    /// Time spent waiting for the provider so far.
    pub(crate) upstream: Duration,
    pub(crate) reservation_id: Option<Uuid>,
    /// When the client had its answer, if the report is finished later (after the
    /// settlement): the call's duration and span end there.
    pub(crate) answered_at: Option<(Instant, SystemTime)>,
}

/// What the provider's answer said, when there was one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answered {
    pub(crate) id: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) finish_reasons: Vec<String>,
    pub(crate) usage: Option<Usage>,
    /// The provider's error status, for `error.type`.
    pub(crate) status: Option<u16>,
    pub(crate) first_chunk: Option<Duration>,
}

impl CallReport {
    pub(crate) fn new(
        agent_id: Uuid,
        operation: GenAiOperation,
        provider: &Provider,
        model: &str,
        max_tokens: u64,
        streamed: bool,
    ) -> Self {
        Self {
            agent_id,
            operation,
            provider: provider.name.clone(),
            provider_name: provider.price_as.clone(),
            server: provider.endpoint.as_ref().map(|e| (e.host().to_owned(), e.port())),
            model: model.to_owned(),
            max_tokens,
            streamed,
            started: Instant::now(),
            started_at: SystemTime::now(),
            upstream: Duration::ZERO,
            reservation_id: None,
            answered_at: None,
        }
    }

    /// The call ended with `outcome`: its span and its event.
    pub(crate) fn finish(self, engine: &Engine, outcome: CallOutcome, answered: Answered) {
        let (ended, ended_at) = self.answered_at.unwrap_or_else(|| (Instant::now(), SystemTime::now()));
        let seconds = ended.saturating_duration_since(self.started);
        let overhead = seconds.saturating_sub(self.upstream);
        if let Some(tracer) = &engine.settings().tracer {
            let tokens = |n: u64| AttrValue::Int(i64::try_from(n).unwrap_or(i64::MAX));
            let mut attributes: Vec<(&'static str, AttrValue)> = vec![
                ("gen_ai.operation.name", self.operation.as_str().into()),
                ("gen_ai.provider.name", self.provider_name.as_str().into()),
                ("gen_ai.request.model", self.model.as_str().into()),
                ("gen_ai.agent.id", self.agent_id.to_string().into()),
                ("synthorg.gateway.provider", self.provider.as_str().into()),
                ("synthorg.gateway.outcome", outcome.as_str().into()),
                ("synthorg.gateway.streamed", self.streamed.into()),
            ];
            if self.operation != GenAiOperation::Embeddings {
                attributes.push(("gen_ai.request.max_tokens", tokens(self.max_tokens)));
            }
            if let Some((host, port)) = &self.server {
                attributes.push(("server.address", host.as_str().into()));
                attributes.push(("server.port", AttrValue::Int(i64::from(*port))));
            }
            if let Some(id) = &answered.id {
                attributes.push(("gen_ai.response.id", id.as_str().into()));
            }
            if let Some(model) = &answered.model {
                attributes.push(("gen_ai.response.model", model.as_str().into()));
            }
            if !answered.finish_reasons.is_empty() {
                attributes
                    .push(("gen_ai.response.finish_reasons", AttrValue::StrArray(answered.finish_reasons.clone())));
            }
            if let Some(usage) = answered.usage {
                attributes.push(("gen_ai.usage.input_tokens", tokens(usage.input)));
                attributes.push(("gen_ai.usage.output_tokens", tokens(usage.output)));
            }
            if let Some(id) = self.reservation_id {
                attributes.push(("synthorg.reservation.id", id.to_string().into()));
            }
            let error = match outcome {
                CallOutcome::Answered | CallOutcome::CutAtHold => None,
                CallOutcome::UpstreamError => {
                    Some(answered.status.map_or_else(|| outcome.as_str().to_owned(), |s| s.to_string()))
                }
                other => Some(other.as_str().to_owned()),
            };
            if let Some(error) = &error {
                attributes.push(("error.type", error.as_str().into()));
            }
            let name = format!("{} {}", self.operation.as_str(), self.model);
            tracer.record_child_until(name, SpanKind::Client, self.started_at, ended_at, attributes, error);
        }
        engine.record(vec![Event::ModelCalled {
            agent_id: self.agent_id,
            operation: self.operation,
            provider: self.provider,
            provider_name: self.provider_name,
            model: self.model,
            outcome,
            streamed: self.streamed,
            seconds: seconds.as_secs_f64(),
            overhead_seconds: overhead.as_secs_f64(),
            first_chunk_seconds: answered.first_chunk.map(|d| d.as_secs_f64()),
        }]);
    }
}
