//! Streamed calls (server-sent events): each event is passed to the client as it
//! arrives (nothing is buffered beyond the event being read), metered on the way, cut at the
//! hold, and the call is settled when the stream ends — however it ends.
//!
//! A task of its own pumps the upstream stream to the client: when the client goes away the
//! task sees it at once (the channel closes), drops the upstream response (which closes its
//! connection: the provider stops generating) and settles what was used.
//!
//! The gateway asks the provider for its usage in the stream (`stream_options.include_usage`)
//! and passes that last chunk on only when the client asked for it too. With it the record
//! is `metered`; a stream that ends without it (broken, cancelled, cut) is recorded from the
//! gateway's own count, `estimated`.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};
use synthorg_core::Actor;
use synthorg_core::event::CallOutcome;
use synthorg_core::price::Usage;
use synthorg_core::reservation::Reservation;
use synthorg_engine::{CallUsage, Engine};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::format::Wire;
use crate::report::{Answered, CallReport};

/// Bytes per token assumed when the gateway estimates output it counted itself.
const BYTES_PER_TOKEN: u64 = 4;
/// The longest one event may grow before the stream is treated as broken.
const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// What settles a streamed call once it ends.
#[derive(Debug, Clone)]
pub(crate) struct Settlement {
    pub(crate) engine: Engine,
    pub(crate) actor: Actor,
    pub(crate) hold: Reservation,
    pub(crate) price_as: String,
    pub(crate) input_bound: u64,
    /// Count the tokens against the agent's tokens-per-minute rate.
    pub(crate) per_minute: bool,
}

/// How a stream ended, for the log and the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The provider finished (`[DONE]` or the end of its body).
    Finished,
    /// The output passed the held cap: the client got a `length` finish and `[DONE]`.
    Cut,
    /// The client went away; the upstream request was dropped.
    ClientGone,
    /// The upstream stream failed or went quiet past the timeout.
    Broken,
}

impl Ending {
    fn as_str(self) -> &'static str {
        match self {
            Ending::Finished => "finished",
            Ending::Cut => "cut_at_hold",
            Ending::ClientGone => "client_gone",
            Ending::Broken => "broken",
        }
    }
}

/// The meter of one stream: what passed, and the provider's usage when it came.
#[derive(Debug)]
pub(crate) struct Meter {
    wire: Wire,
    client_wants_usage: bool,
    cap: u64,
    /// Chunks that carried output (content, refusal or tool-call arguments): each is at least
    /// one token, so more of them than the cap means the provider ignored the cap.
    output_chunks: u64,
    output_bytes: u64,
    usage: Option<Usage>,
    /// The finish reasons the chunks gave.
    finish_reasons: Vec<String>,
    /// From the chunks, to end a cut stream in the provider's own terms.
    id: String,
    model: String,
    created: u64,
    /// Anthropic: the input usage of `message_start`, until `message_delta` completes it;
    /// the content block open (to close it when the stream is cut).
    input_usage: Option<Usage>,
    open_block: Option<u64>,
    /// Responses: the last event's `sequence_number`, and the response as `response.created`
    /// gave it (to end a cut stream with `response.incomplete`).
    sequence: u64,
    created_response: Option<Value>,
}

/// What to do with one event.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Pass,
    /// The usage chunk the client did not ask for.
    Drop,
    /// The output passed the cap: end the stream here with these bytes.
    Cut(Bytes),
}

impl Meter {
    pub(crate) fn new(wire: Wire, client_wants_usage: bool, cap: u64) -> Self {
        Self {
            wire,
            client_wants_usage,
            cap,
            output_chunks: 0,
            output_bytes: 0,
            usage: None,
            finish_reasons: Vec::new(),
            id: String::new(),
            model: String::new(),
            created: 0,
            input_usage: None,
            open_block: None,
            sequence: 0,
            created_response: None,
        }
    }

    fn on_event(&mut self, event: &[u8]) -> Verdict {
        match self.wire {
            Wire::OpenAi => self.on_openai_event(event),
            Wire::Responses => self.on_responses_event(event),
            Wire::Anthropic => self.on_anthropic_event(event),
            // Never streamed (refused when parsed).
            Wire::Embeddings => Verdict::Pass,
        }
    }

    /// OpenAI Responses events: `response.created` (id, model), every `*.delta` with a
    /// string `delta` (output text, refusals, tool-call arguments, reasoning), and the
    /// terminal `response.completed` / `response.incomplete` / `response.failed` with the
    /// response's usage.
    fn on_responses_event(&mut self, event: &[u8]) -> Verdict {
        let Some(data) = data_of(event) else { return Verdict::Pass };
        let Ok(event) = serde_json::from_str::<Value>(&data) else { return Verdict::Pass };
        if let Some(n) = event.get("sequence_number").and_then(Value::as_u64) {
            self.sequence = n;
        }
        match event.get("type").and_then(Value::as_str).unwrap_or_default() {
            "response.created" => {
                let response = &event["response"];
                self.id = response["id"].as_str().unwrap_or_default().to_owned();
                self.model = response["model"].as_str().unwrap_or_default().to_owned();
                self.created = response["created_at"].as_u64().unwrap_or(0);
                self.created_response = Some(response.clone());
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                let response = &event["response"];
                if let Some(usage) = response.get("usage").and_then(crate::openai::responses_usage) {
                    self.usage = Some(usage);
                }
                self.finish_reasons.extend(crate::openai::responses_finish(response));
            }
            kind if kind.ends_with(".delta") => {
                let text = event.get("delta").and_then(Value::as_str).map_or(0, str::len) as u64;
                return self.output(text, "max_output_tokens");
            }
            _ => {}
        }
        Verdict::Pass
    }

    /// Anthropic's events: `message_start` (id, model, input usage), `content_block_*`
    /// (output), `message_delta` (stop reason, output usage), `message_stop`, `ping`.
    fn on_anthropic_event(&mut self, event: &[u8]) -> Verdict {
        let Some(data) = data_of(event) else { return Verdict::Pass };
        let Ok(event) = serde_json::from_str::<Value>(&data) else { return Verdict::Pass };
        match event.get("type").and_then(Value::as_str).unwrap_or_default() {
            "message_start" => {
                let message = &event["message"];
                self.id = message["id"].as_str().unwrap_or_default().to_owned();
                self.model = message["model"].as_str().unwrap_or_default().to_owned();
                let usage = &message["usage"];
                self.input_usage = crate::anthropic::usage(&json!({
                    "input_tokens": usage["input_tokens"],
                    "cache_read_input_tokens": usage["cache_read_input_tokens"],
                    "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                    "output_tokens": 0,
                }));
            }
            "content_block_start" => self.open_block = event["index"].as_u64(),
            "content_block_stop" => self.open_block = None,
            "content_block_delta" => {
                let delta = &event["delta"];
                let text = ["text", "partial_json", "thinking"]
                    .iter()
                    .filter_map(|k| delta.get(*k).and_then(Value::as_str))
                    .map(str::len)
                    .sum::<usize>() as u64;
                return self.output(text, "max_tokens");
            }
            "message_delta" => {
                if let Some(reason) = event["delta"]["stop_reason"].as_str() {
                    self.finish_reasons.push(reason.to_owned());
                }
                if let (Some(input), Some(output)) = (self.input_usage, event["usage"]["output_tokens"].as_u64()) {
                    self.usage = Some(Usage { output, ..input });
                }
            }
            _ => {}
        }
        Verdict::Pass
    }

    fn on_openai_event(&mut self, event: &[u8]) -> Verdict {
        let Some(data) = data_of(event) else { return Verdict::Pass };
        if data.trim() == "[DONE]" {
            return Verdict::Pass;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&data) else { return Verdict::Pass };
        if self.id.is_empty() {
            self.id = chunk.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            self.model = chunk.get("model").and_then(Value::as_str).unwrap_or_default().to_owned();
            self.created = chunk.get("created").and_then(Value::as_u64).unwrap_or(0);
        }
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.usage = crate::openai::usage(&json!({ "usage": usage }));
        }
        let choices = chunk.get("choices").and_then(Value::as_array);
        self.finish_reasons.extend(
            choices
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("finish_reason").and_then(Value::as_str))
                .map(str::to_owned),
        );
        let output: u64 = choices
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("delta"))
            .map(|delta| {
                let text = |v: Option<&Value>| v.and_then(Value::as_str).map_or(0, str::len) as u64;
                let tools: u64 = delta
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|t| text(t.pointer("/function/arguments")) + text(t.pointer("/function/name")))
                    .sum();
                text(delta.get("content")) + text(delta.get("refusal")) + tools
            })
            .sum();
        if let cut @ Verdict::Cut(_) = self.output(output, "length") {
            return cut;
        }
        let usage_only = choices.is_some_and(Vec::is_empty) && self.usage.is_some();
        if usage_only && !self.client_wants_usage { Verdict::Drop } else { Verdict::Pass }
    }

    /// An event carrying `bytes` of output (none: not an output event): counted, and the
    /// stream cut — its finish reason the format's `length_reason` — once more events carried
    /// output than the cap (each is at least one token).
    fn output(&mut self, bytes: u64, length_reason: &str) -> Verdict {
        if bytes == 0 {
            return Verdict::Pass;
        }
        self.output_chunks += 1;
        self.output_bytes += bytes;
        if self.output_chunks <= self.cap {
            return Verdict::Pass;
        }
        self.finish_reasons.push(length_reason.to_owned());
        Verdict::Cut(self.cut())
    }

    /// The provider's normal ending of a stream that reached its length: Chat Completions'
    /// chunk with `finish_reason: "length"` and `[DONE]`; Anthropic's `message_delta` with
    /// `stop_reason: "max_tokens"` and `message_stop`; Responses' `response.incomplete` with
    /// `incomplete_details.reason: "max_output_tokens"` (its `output` empty: the gateway
    /// keeps no output, only counts it).
    fn cut(&mut self) -> Bytes {
        if self.wire == Wire::Responses {
            let mut response = self.created_response.take().unwrap_or_else(
                || json!({"id": self.id, "object": "response", "created_at": self.created, "model": self.model}),
            );
            if let Value::Object(fields) = &mut response {
                fields.insert("status".into(), json!("incomplete"));
                fields.insert("incomplete_details".into(), json!({"reason": "max_output_tokens"}));
                fields.insert("output".into(), json!([]));
                fields.insert("usage".into(), Value::Null);
            }
            let event =
                json!({"type": "response.incomplete", "sequence_number": self.sequence + 1, "response": response});
            return Bytes::from(format!("event: response.incomplete\ndata: {event}\n\n"));
        }
        if self.wire == Wire::Anthropic {
            let mut events = String::new();
            if let Some(index) = self.open_block {
                let stop = json!({"type": "content_block_stop", "index": index});
                events.push_str(&format!("event: content_block_stop\ndata: {stop}\n\n"));
            }
            let delta = json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": null},
                "usage": {"output_tokens": self.cap}});
            events.push_str(&format!("event: message_delta\ndata: {delta}\n\n"));
            events.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
            return Bytes::from(events);
        }
        let last = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "length"}],
        });
        Bytes::from(format!("data: {last}\n\ndata: [DONE]\n\n"))
    }

    /// The usage to record: the provider's, else the gateway's count.
    fn used(&self, input_bound: u64, per_minute: bool) -> CallUsage {
        let record_id = uuid::Uuid::now_v7();
        match self.usage {
            Some(usage) => CallUsage { usage, complete: true, record_id, per_minute },
            None => {
                let counted = self.output_chunks.max(self.output_bytes.div_ceil(BYTES_PER_TOKEN));
                let usage = Usage { input: input_bound, output: counted.min(self.cap), ..Usage::default() };
                CallUsage { usage, complete: false, record_id, per_minute }
            }
        }
    }
}

/// The `data:` lines of one event, joined as the SSE format says; `None` without any.
pub(crate) fn data_of(event: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(event).ok()?;
    let mut data: Option<String> = None;
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("data:") {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_owned()),
            }
        }
    }
    data
}

/// Splits a byte stream into events at blank lines (`\n\n`, `\r\n\r\n`).
#[derive(Debug, Default)]
pub(crate) struct Events {
    buffer: Vec<u8>,
}

impl Events {
    /// The complete events in `chunk` (with what came before), each with its terminator.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        loop {
            let end = find(&self.buffer, b"\n\n")
                .map(|i| i + 2)
                .into_iter()
                .chain(find(&self.buffer, b"\r\n\r\n").map(|i| i + 4))
                .min();
            let Some(end) = end else { break };
            events.push(self.buffer.drain(..end).collect());
        }
        events
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Starts pumping `source` to the client; the returned stream is the client's body.
pub(crate) fn relay(
    gateway: &crate::Gateway,
    source: BoxStream<'static, std::io::Result<Bytes>>,
    meter: Meter,
    settlement: Settlement,
    report: CallReport,
    idle: Duration,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let (tx, rx) = mpsc::channel::<Bytes>(32);
    // In the request's span: the call's CLIENT span is a child of its SERVER span.
    gateway.spawn(pump(source, tx, meter, settlement, report, idle).instrument(tracing::Span::current()));
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|bytes| (Ok(bytes), rx)) })
}

async fn pump(
    mut source: BoxStream<'static, std::io::Result<Bytes>>,
    tx: mpsc::Sender<Bytes>,
    mut meter: Meter,
    settlement: Settlement,
    report: CallReport,
    idle: Duration,
) {
    let mut events = Events::default();
    let mut first_chunk = None;
    let ending = 'stream: loop {
        let next = tokio::select! {
            () = tx.closed() => break 'stream Ending::ClientGone,
            next = tokio::time::timeout(idle, source.next()) => next,
        };
        let chunk = match next {
            Ok(Some(Ok(chunk))) => chunk,
            Ok(None) => break Ending::Finished,
            Ok(Some(Err(_))) | Err(_) => break Ending::Broken,
        };
        for event in events.push(&chunk) {
            match meter.on_event(&event) {
                Verdict::Pass => {
                    first_chunk.get_or_insert_with(|| report.started.elapsed());
                    if tx.send(Bytes::from(event)).await.is_err() {
                        break 'stream Ending::ClientGone;
                    }
                }
                Verdict::Drop => {}
                Verdict::Cut(last) => {
                    let _ = tx.send(last).await;
                    break 'stream Ending::Cut;
                }
            }
        }
        if events.buffer.len() > MAX_EVENT_BYTES {
            break Ending::Broken;
        }
    };
    // What came after the last complete event (a stream that ended without its blank line)
    // is the client's too.
    if ending == Ending::Finished && !events.buffer.is_empty() {
        let _ = tx.send(Bytes::from(std::mem::take(&mut events.buffer))).await;
    }
    // Dropping the upstream body closes its connection: the provider stops generating.
    drop(source);
    drop(tx);
    // The client's stream ended here; the settlement below is not part of the call.
    let mut report = report;
    report.answered_at = Some((std::time::Instant::now(), std::time::SystemTime::now()));
    let used = meter.used(settlement.input_bound, settlement.per_minute);
    let Settlement { engine, actor, hold, price_as, .. } = settlement;
    let operation = meter.wire.operation();
    let outcome = match ending {
        Ending::Finished => CallOutcome::Answered,
        Ending::Cut => CallOutcome::CutAtHold,
        Ending::ClientGone => CallOutcome::ClientGone,
        Ending::Broken => CallOutcome::Broken,
    };
    let answered = Answered {
        id: (!meter.id.is_empty()).then(|| meter.id.clone()),
        model: (!meter.model.is_empty()).then(|| meter.model.clone()),
        finish_reasons: std::mem::take(&mut meter.finish_reasons),
        usage: Some(used.usage),
        status: None,
        first_chunk,
    };
    match engine.settle_call(&actor, &hold, &price_as, used, operation).await {
        Ok(reported) => tracing::debug!(
            reservation_id = %hold.id,
            cost_record_id = %reported.record.id,
            ending = ending.as_str(),
            metered = used.complete,
            "streamed gateway call settled"
        ),
        Err(error) => tracing::error!(reservation_id = %hold.id, %error, ending = ending.as_str(),
            "a streamed gateway call could not be settled"),
    }
    report.finish(&engine, outcome, answered);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(content: &str) -> Vec<u8> {
        let c = json!({"id": "c1", "object": "chat.completion.chunk", "created": 5, "model": "m",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]});
        format!("data: {c}\n\n").into_bytes()
    }

    #[test]
    fn events_split_across_reads_and_line_endings() {
        let mut events = Events::default();
        assert!(events.push(b"data: {\"a\"").is_empty());
        let got = events.push(b": 1}\n\ndata: [DONE]\r\n\r\nda");
        assert_eq!(got, [b"data: {\"a\": 1}\n\n".to_vec(), b"data: [DONE]\r\n\r\n".to_vec()]);
        assert_eq!(data_of(b"event: x\ndata: one\ndata: two\n\n").as_deref(), Some("one\ntwo"));
        assert_eq!(data_of(b": comment\n\n"), None);
    }

    #[test]
    fn usage_is_kept_and_dropped_unless_asked() {
        let usage = json!({"id": "c1", "object": "chat.completion.chunk", "created": 5, "model": "m", "choices": [],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13,
                      "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 1}}});
        let usage = format!("data: {usage}\n\n");
        let mut meter = Meter::new(Wire::OpenAi, false, 100);
        assert_eq!(meter.on_event(&chunk("Hel")), Verdict::Pass);
        assert_eq!(meter.on_event(usage.as_bytes()), Verdict::Drop);
        assert_eq!(meter.on_event(b"data: [DONE]\n\n"), Verdict::Pass);
        let used = meter.used(999, false);
        assert!(used.complete);
        assert_eq!(
            used.usage,
            Usage { input: 10, output: 3, cache_read_input: 2, reasoning_output: 1, ..Usage::default() }
        );
        let mut asked = Meter::new(Wire::OpenAi, true, 100);
        assert_eq!(asked.on_event(usage.as_bytes()), Verdict::Pass);
    }

    #[test]
    fn a_provider_past_the_cap_is_cut_and_estimated() {
        let mut meter = Meter::new(Wire::OpenAi, false, 2);
        assert_eq!(meter.on_event(&chunk("one ")), Verdict::Pass);
        assert_eq!(meter.on_event(&chunk("two ")), Verdict::Pass);
        let Verdict::Cut(last) = meter.on_event(&chunk("three ")) else { panic!("not cut") };
        let last = String::from_utf8(last.to_vec()).unwrap();
        assert!(last.contains("\"finish_reason\":\"length\"") && last.contains("\"id\":\"c1\""), "{last}");
        assert!(last.ends_with("data: [DONE]\n\n"));
        let used = meter.used(40, false);
        assert!(!used.complete);
        assert_eq!((used.usage.input, used.usage.output), (40, 2));
    }

    #[test]
    fn a_response_past_the_cap_ends_incomplete_in_sequence() {
        let request = json!({"model": "m", "input": "hi"});
        let events = crate::simulated::response_stream(request.as_object().unwrap(), "m", 10);
        let mut meter = Meter::new(Wire::Responses, false, 2);
        let mut verdicts = events.iter().map(|e| meter.on_event(e));
        let cut = verdicts.find_map(|v| match v {
            Verdict::Cut(last) => Some(last),
            _ => None,
        });
        let last = String::from_utf8(cut.expect("cut").to_vec()).unwrap();
        let data: Value = serde_json::from_str(&data_of(last.as_bytes()).unwrap()).unwrap();
        assert!(last.starts_with("event: response.incomplete\n"));
        assert_eq!(data["response"]["status"], "incomplete");
        assert_eq!(data["response"]["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(data["response"]["id"].as_str(), Some(meter.id.as_str()));
        // created, in_progress, item added, part added, two deltas: the third delta cuts.
        assert_eq!(data["sequence_number"], 7);
        let used = meter.used(9, false);
        assert!(!used.complete);
        assert_eq!((used.usage.input, used.usage.output), (9, 2));
    }

    #[test]
    fn a_whole_response_stream_is_metered_from_its_usage() {
        let request = json!({"model": "m", "input": "x".repeat(40)});
        let events = crate::simulated::response_stream(request.as_object().unwrap(), "m", 4);
        let mut meter = Meter::new(Wire::Responses, false, 4);
        assert!(events.iter().all(|e| meter.on_event(e) == Verdict::Pass));
        let used = meter.used(999, false);
        assert!(used.complete);
        assert_eq!((used.usage.input, used.usage.output), (13, 4));
        assert_eq!(meter.finish_reasons, ["max_output_tokens"]);
    }
}
