//! The `simulated` provider: answers OpenAI chat completions and Anthropic messages in
//! process, with usage counted
//! the way a provider would (input from the request's text, output from the answer), for the
//! demo, the README's tour and benchmarks. Every answer says it is simulated, in its text,
//! its `system_fingerprint` and its id, so it is never mistaken for a model's.

use bytes::Bytes;
use serde_json::{Map, Value, json};

/// The words of every simulated answer; its output tokens are its words, cut at the cap.
const ANSWER: &str = "This answer comes from synthorg's simulated provider: no model was called. \
It exists so that the gateway's hold, forwarding, metering and settlement can be tried and \
measured without a provider key. The usage below is counted from the request and this text.";

/// Roughly four bytes of English text per token, as providers' tokenizers average.
const BYTES_PER_TOKEN: usize = 4;

/// The chat completion a simulated provider answers to `request` (already checked: it has a
/// model and messages), with at most `max_output_tokens` output tokens.
pub(crate) fn chat_completion(request: &Map<String, Value>, model: &str, max_output_tokens: u64) -> Value {
    let prompt_tokens = input_tokens(request);
    let (content, completion_tokens, cut) = answer(max_output_tokens);
    let finish_reason = if cut { "length" } else { "stop" };
    json!({
        "id": format!("chatcmpl-simulated-{}", uuid::Uuid::now_v7().simple()),
        "object": "chat.completion",
        "created": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        "model": model,
        "system_fingerprint": "synthorg-simulated",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "logprobs": null,
            "finish_reason": finish_reason,
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    })
}

/// The same answer as [`chat_completion`], as the chunks of a stream (SSE events): the role,
/// one chunk per word, the finish, the usage chunk (when `stream_options.include_usage`),
/// and `[DONE]`.
pub(crate) fn chat_stream(request: &Map<String, Value>, model: &str, max_output_tokens: u64) -> Vec<Bytes> {
    let whole = chat_completion(request, model, max_output_tokens);
    let (id, created) = (whole["id"].clone(), whole["created"].clone());
    let chunk = |delta: Value, finish: Value| {
        let c = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": "synthorg-simulated",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        Bytes::from(format!("data: {c}\n\n"))
    };
    let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    let content = whole["choices"][0]["message"]["content"].as_str().unwrap_or_default();
    for (i, word) in content.split(' ').enumerate() {
        let text = if i == 0 { word.to_owned() } else { format!(" {word}") };
        events.push(chunk(json!({"content": text}), Value::Null));
    }
    events.push(chunk(json!({}), whole["choices"][0]["finish_reason"].clone()));
    let wants_usage = request.get("stream_options").and_then(|o| o.get("include_usage")) == Some(&Value::Bool(true));
    if wants_usage {
        let usage = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": "synthorg-simulated", "choices": [], "usage": whole["usage"]});
        events.push(Bytes::from(format!("data: {usage}\n\n")));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}

/// An Anthropic message answering `request`, with at most `max_output_tokens` output tokens.
pub(crate) fn message(request: &Map<String, Value>, model: &str, max_output_tokens: u64) -> Value {
    let (content, completion_tokens, cut) = answer(max_output_tokens);
    json!({
        "id": format!("msg_simulated_{}", uuid::Uuid::now_v7().simple()),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": content}],
        "stop_reason": if cut { "max_tokens" } else { "end_turn" },
        "stop_sequence": null,
        "usage": {
            "input_tokens": input_tokens(request),
            "output_tokens": completion_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    })
}

/// The same message as a stream's events: `message_start`, one text block with one delta
/// per word, `message_delta` (stop reason, output usage) and `message_stop`.
pub(crate) fn message_stream(request: &Map<String, Value>, model: &str, max_output_tokens: u64) -> Vec<Bytes> {
    let whole = message(request, model, max_output_tokens);
    let event = |name: &str, data: Value| Bytes::from(format!("event: {name}\ndata: {data}\n\n"));
    let mut start = whole.clone();
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["usage"]["output_tokens"] = json!(1);
    let mut events = vec![
        event("message_start", json!({"type": "message_start", "message": start})),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
    ];
    let text = whole["content"][0]["text"].as_str().unwrap_or_default();
    for (i, word) in text.split(' ').enumerate() {
        let piece = if i == 0 { word.to_owned() } else { format!(" {word}") };
        let delta = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}});
        events.push(event("content_block_delta", delta));
    }
    events.push(event("content_block_stop", json!({"type": "content_block_stop", "index": 0})));
    let delta = json!({"type": "message_delta", "delta": {"stop_reason": whole["stop_reason"], "stop_sequence": null},
        "usage": {"output_tokens": whole["usage"]["output_tokens"]}});
    events.push(event("message_delta", delta));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    events
}

/// The simulated answer cut at `max_output_tokens` words: its text, its tokens, and whether
/// it was cut.
fn answer(max_output_tokens: u64) -> (String, u64, bool) {
    let words: Vec<&str> = ANSWER.split(' ').collect();
    let kept = usize::try_from(max_output_tokens).unwrap_or(usize::MAX).min(words.len());
    (words[..kept].join(" "), kept as u64, kept < words.len())
}

/// The input tokens of a request: its messages' text (and an Anthropic `system`), about four
/// bytes a token, plus a few for the framing.
fn input_tokens(request: &Map<String, Value>) -> u64 {
    let messages: usize = request
        .get("messages")
        .and_then(Value::as_array)
        .map(|messages| messages.iter().map(|m| text_bytes(m.get("content"))).sum())
        .unwrap_or(0);
    let system = text_bytes(request.get("system"));
    ((messages + system).div_ceil(BYTES_PER_TOKEN) + 3) as u64
}

/// Bytes of text in a message's content: a string, or the text parts of an array.
fn text_bytes(content: Option<&Value>) -> usize {
    match content {
        Some(Value::String(text)) => text.len(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).map(str::len).sum()
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_the_request_and_the_cut_answer() {
        let request = json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(40)}]});
        let answer = chat_completion(request.as_object().unwrap(), "m", 5);
        assert_eq!(answer["usage"]["prompt_tokens"], 13);
        assert_eq!(answer["usage"]["completion_tokens"], 5);
        assert_eq!(answer["choices"][0]["finish_reason"], "length");
        assert_eq!(answer["choices"][0]["message"]["content"], "This answer comes from synthorg's");
        let whole = chat_completion(request.as_object().unwrap(), "m", 10_000);
        assert_eq!(whole["choices"][0]["finish_reason"], "stop");
        assert_eq!(whole["usage"]["completion_tokens"], ANSWER.split(' ').count());
    }
}
