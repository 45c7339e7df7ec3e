//! The `simulated` provider: answers OpenAI chat completions, responses and embeddings and
//! Anthropic messages in process, with usage counted
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
        "created": unix_now(),
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

/// An OpenAI response answering `request` (it has a model and an input), with at most
/// `max_output_tokens` output tokens.
pub(crate) fn response(request: &Map<String, Value>, model: &str, max_output_tokens: u64) -> Value {
    let (content, output_tokens, cut) = answer(max_output_tokens);
    let input_tokens = input_tokens(request);
    let id = uuid::Uuid::now_v7().simple();
    json!({
        "id": format!("resp_simulated_{id}"),
        "object": "response",
        "created_at": unix_now(),
        "status": if cut { "incomplete" } else { "completed" },
        "incomplete_details": if cut { json!({"reason": "max_output_tokens"}) } else { Value::Null },
        "error": null,
        "model": model,
        "instructions": request.get("instructions").cloned().unwrap_or(Value::Null),
        "max_output_tokens": max_output_tokens,
        "output": [{
            "type": "message",
            "id": format!("msg_simulated_{id}"),
            "status": if cut { "incomplete" } else { "completed" },
            "role": "assistant",
            "content": [{"type": "output_text", "text": content, "annotations": []}],
        }],
        "parallel_tool_calls": true,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        },
    })
}

/// The same response as a stream's events: `response.created`, the message item and its
/// text part opened, one `response.output_text.delta` per word, the parts closed, and
/// `response.completed` (or `response.incomplete` when cut) with the usage.
pub(crate) fn response_stream(request: &Map<String, Value>, model: &str, max_output_tokens: u64) -> Vec<Bytes> {
    let whole = response(request, model, max_output_tokens);
    let mut sequence = 0u64;
    let mut event = |kind: &str, mut data: Value| {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(sequence);
        sequence += 1;
        Bytes::from(format!("event: {kind}\ndata: {data}\n\n"))
    };
    let mut started = whole.clone();
    started["status"] = json!("in_progress");
    started["incomplete_details"] = Value::Null;
    started["output"] = json!([]);
    started["usage"] = Value::Null;
    let item = &whole["output"][0];
    let item_id = item["id"].clone();
    let part = &item["content"][0];
    let mut opened = item.clone();
    opened["status"] = json!("in_progress");
    opened["content"] = json!([]);
    let at = json!({"item_id": item_id, "output_index": 0, "content_index": 0});
    let with = |extra: Value| {
        let mut data = at.clone();
        if let (Value::Object(data), Value::Object(extra)) = (&mut data, extra) {
            data.extend(extra);
        }
        data
    };
    let mut events = vec![
        event("response.created", json!({"response": started.clone()})),
        event("response.in_progress", json!({"response": started})),
        event("response.output_item.added", json!({"output_index": 0, "item": opened})),
        event(
            "response.content_part.added",
            with(json!({"part": {"type": "output_text", "text": "", "annotations": []}})),
        ),
    ];
    let text = part["text"].as_str().unwrap_or_default();
    for (i, word) in text.split(' ').enumerate() {
        let piece = if i == 0 { word.to_owned() } else { format!(" {word}") };
        events.push(event("response.output_text.delta", with(json!({"delta": piece, "logprobs": []}))));
    }
    events.push(event("response.output_text.done", with(json!({"text": text, "logprobs": []}))));
    events.push(event("response.content_part.done", with(json!({"part": part}))));
    events.push(event("response.output_item.done", json!({"output_index": 0, "item": item})));
    let last = if whole["status"] == "completed" { "response.completed" } else { "response.incomplete" };
    events.push(event(last, json!({"response": whole})));
    events
}

/// Dimensions of a simulated embedding when the request does not ask for a number
/// (`text-embedding-3-small`'s).
const EMBEDDING_DIMENSIONS: u64 = 1536;

/// An OpenAI embeddings answer to `request` (it has a model and an input): one unit vector
/// per input, derived from the input so that equal inputs embed equally, as floats or — with
/// `encoding_format: "base64"`, which OpenAI's SDKs ask for — little-endian `f32`s in base64.
pub(crate) fn embeddings(request: &Map<String, Value>, model: &str) -> Value {
    use base64::Engine as _;
    let inputs: Vec<&Value> = match request.get("input") {
        // An array of token ids is one input; an array of strings or arrays is several.
        Some(Value::Array(items)) if items.iter().all(Value::is_number) => vec![&request["input"]],
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    let dimensions = request.get("dimensions").and_then(Value::as_u64).filter(|d| (1..=3072).contains(d));
    let dimensions = dimensions.unwrap_or(EMBEDDING_DIMENSIONS) as usize;
    let base64 = request.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let mut tokens = 0u64;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            tokens += match input {
                Value::String(text) => text.len().div_ceil(BYTES_PER_TOKEN).max(1) as u64,
                Value::Array(ids) => ids.len() as u64,
                _ => 1,
            };
            let vector = unit_vector(&input.to_string(), dimensions);
            let embedding = match base64 {
                true => {
                    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                    json!(base64::engine::general_purpose::STANDARD.encode(bytes))
                }
                false => json!(vector),
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })
}

/// A unit vector of `dimensions` derived from `seed` (a 64-bit FNV-1a hash driving an
/// xorshift sequence): the same seed, the same vector.
fn unit_vector(seed: &str, dimensions: usize) -> Vec<f32> {
    let mut state =
        seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let mut vector: Vec<f32> = (0..dimensions)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    vector.iter_mut().for_each(|x| *x /= norm);
    vector
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The simulated answer cut at `max_output_tokens` words: its text, its tokens, and whether
/// it was cut.
fn answer(max_output_tokens: u64) -> (String, u64, bool) {
    let words: Vec<&str> = ANSWER.split(' ').collect();
    let kept = usize::try_from(max_output_tokens).unwrap_or(usize::MAX).min(words.len());
    (words[..kept].join(" "), kept as u64, kept < words.len())
}

/// The input tokens of a request: its messages' text (Responses: its input items' text, or
/// its input string) and its system prompt (`system`, `instructions`), about four bytes a
/// token, plus a few for the framing.
fn input_tokens(request: &Map<String, Value>) -> u64 {
    let items = |field: &str| -> usize {
        match request.get(field) {
            Some(Value::Array(items)) => items.iter().map(|m| text_bytes(m.get("content"))).sum(),
            Some(Value::String(text)) => text.len(),
            _ => 0,
        }
    };
    let system = text_bytes(request.get("system")) + text_bytes(request.get("instructions"));
    ((items("messages") + items("input") + system).div_ceil(BYTES_PER_TOKEN) + 3) as u64
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

    #[test]
    fn responses_count_their_input_and_end_incomplete_when_cut() {
        let request = json!({"model": "m", "instructions": "x".repeat(8), "input": "y".repeat(32)});
        let cut = response(request.as_object().unwrap(), "m", 3);
        assert_eq!(cut["usage"]["input_tokens"], 13);
        assert_eq!(cut["usage"]["output_tokens"], 3);
        assert_eq!(
            (cut["status"].as_str(), cut["incomplete_details"]["reason"].as_str()),
            (Some("incomplete"), Some("max_output_tokens"))
        );
        let events = response_stream(request.as_object().unwrap(), "m", 3);
        let last = String::from_utf8(events.last().unwrap().to_vec()).unwrap();
        assert!(last.starts_with("event: response.incomplete\n"), "{last}");
        assert!(last.contains(&format!("\"sequence_number\":{}", events.len() - 1)), "{last}");
        let deltas = events.iter().filter(|e| e.starts_with(b"event: response.output_text.delta")).count();
        assert_eq!(deltas, 3);
    }

    #[test]
    fn embeddings_are_unit_vectors_per_input_in_either_encoding() {
        use base64::Engine as _;
        let request = json!({"model": "e", "input": ["hello", "hello", "other text"], "dimensions": 8});
        let answer = embeddings(request.as_object().unwrap(), "e");
        let vectors: Vec<Vec<f64>> = answer["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect())
            .collect();
        assert_eq!(vectors.len(), 3);
        assert_eq!(vectors[0], vectors[1], "equal inputs embed equally");
        assert_ne!(vectors[0], vectors[2]);
        let norm: f64 = vectors[2].iter().map(|x| x * x).sum::<f64>();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
        assert_eq!(answer["usage"]["prompt_tokens"], 2 + 2 + 3);
        let tokens = json!({"model": "e", "input": [1, 2, 3, 4, 5], "encoding_format": "base64"});
        let answer = embeddings(tokens.as_object().unwrap(), "e");
        assert_eq!(answer["usage"]["prompt_tokens"], 5, "token ids count one each");
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(answer["data"][0]["embedding"].as_str().unwrap()).unwrap();
        assert_eq!(bytes.len(), 1536 * 4);
    }
}
