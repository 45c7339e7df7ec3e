#!/usr/bin/env python3
"""A stand-in for OpenAI's Chat Completions, Responses and Embeddings APIs and Anthropic's Messages
API, for the gateway's end-to-end tests.

Runs as its own process on loopback and answers the way the API reference describes:
`POST /v1/chat/completions` with `Authorization: Bearer <key>` answers a `chat.completion`
with `usage` (prompt, completion, cached and reasoning tokens); a wrong key is a 401 in
OpenAI's error shape. The last message's text picks a behaviour, so a test can drive each
path with any model:

  rate-limited   429 `rate_limit_exceeded` with `Retry-After: 7`
  broken         500 `server_error`
  no-usage       200 without `usage`
  slow           answers after 3 s
  wait           answers after 0.5 s (calls that overlap)
  anything else  200; content "ok"; completion_tokens = min(cap, 20); reasoning 2 of them;
                 prompt_tokens = bytes of the messages' text / 4 + 7, cached 4 of them;
                 with `tools`, a `tool_calls` answer calling the first tool (unless the
                 last message is the tool's result: then content "done")

With `"stream": true` the answer is a stream of `chat.completion.chunk` events (chunked
transfer encoding): the role, min(cap, 20) one-word content chunks ("w0 ", "w1 ", ...), the
finish, the usage chunk when `stream_options.include_usage`, and `[DONE]`. Behaviours:

  ignore-cap     keeps sending content chunks past the cap (up to 200), as a provider
                 that ignores it would; the stream's end is then never reached by a client
                 the gateway cuts off
  stream-break   three content chunks, then the connection closes with no finish or usage
  whole-anyway   a whole answer, as if the stream had not been asked for

It stands in for Anthropic's Messages API too: `POST /v1/messages` with `x-api-key: <key>`
and an `anthropic-version` header answers a `message` (content "ok", the same token
counts: `input_tokens` excluding the 4 cached ones, read from the cache), or with
`"stream": true` the events `message_start`, `content_block_start`, one `content_block_delta`
per word, `content_block_stop`, `message_delta` (stop reason, `output_tokens`) and
`message_stop` — with the same behaviours; errors in Anthropic's shape.
`POST /v1/messages/count_tokens` answers `{"input_tokens": n}`.

`POST /v1/responses` answers a `response` (Responses API): an `output_text` message "ok" or,
with `tools` and no `function_call_output` in the input yet, a `function_call` item calling
the first tool; `usage` with `input_tokens` (cached 4) and `output_tokens` (reasoning 2),
the same counts as above; `status: "incomplete"` with `incomplete_details.reason:
"max_output_tokens"` when the output reached `max_output_tokens`. With `"stream": true` the
events `response.created`, `response.in_progress`, `response.output_item.added`,
`response.content_part.added`, one `response.output_text.delta` per word, the matching
`.done` events and `response.completed` / `response.incomplete`, each with its
`sequence_number` — with the same behaviours (rate-limited, broken, ignore-cap, stream-break)
picked by the input's last text.

`POST /v1/embeddings` answers a `list` of one 8-dimension `embedding` per input, as floats or
base64 (`encoding_format`), with `usage.prompt_tokens` = bytes / 4 + 1 per input.

`GET /_requests` returns every request received (headers and JSON body), for assertions on
what the gateway forwarded. Prints `port=<n>` once listening.

  UPSTREAM_KEY=sk-... python3 upstream.py
"""

import base64
import json
import os
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = os.environ.get("UPSTREAM_KEY", "")
RECEIVED = []
LOCK = threading.Lock()


def words_for(said, cap):
    """The output words a behaviour sends: min(cap, 20), 200 past a cap it ignores, 3 before
    a stream breaks."""
    return {"ignore-cap": 200, "stream-break": 3}.get(said, min(cap, 20))


def error(kind, code, message):
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", "req_upstream_%d" % len(RECEIVED))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_requests":
            with LOCK:
                self.reply(200, RECEIVED)
        else:
            self.reply(404, error("invalid_request_error", None, "not found"))

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with LOCK:
            RECEIVED.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        if self.path.startswith("/v1/messages"):
            return self.anthropic(body)
        if self.headers.get("authorization") != "Bearer " + KEY:
            return self.reply(401, error("invalid_request_error", "invalid_api_key", "Incorrect API key provided."))
        if not isinstance(body, dict):
            return self.reply(400, error("invalid_request_error", None, "We could not parse the JSON body"))
        if self.path == "/v1/responses":
            return self.openai_responses(body)
        if self.path == "/v1/embeddings":
            return self.embeddings(body)
        if self.path != "/v1/chat/completions":
            return self.reply(404, error("invalid_request_error", None, "Unknown request URL"))
        model = body.get("model", "")
        messages = body.get("messages") or [{}]
        said = messages[-1].get("content") if isinstance(messages[-1], dict) else None
        if said == "rate-limited":
            return self.reply(
                429,
                error("requests", "rate_limit_exceeded", "Rate limit reached for requests"),
                [("retry-after", "7")],
            )
        if said == "broken":
            return self.reply(500, error("server_error", None, "The server had an error while processing your request."))
        if said == "slow":
            time.sleep(3)
        if said == "wait":
            time.sleep(0.5)
        if body.get("stream") is True and said != "whole-anyway":
            return self.stream(body, model, said)
        cap = body.get("max_completion_tokens") or body.get("max_tokens") or 16
        completion = min(int(cap), 20)
        text = sum(len(m.get("content") or "") for m in body.get("messages", []) if isinstance(m.get("content"), str))
        prompt = text // 4 + 7
        message = {"role": "assistant", "content": "ok", "refusal": None}
        finish = "stop" if completion < int(cap) else "length"
        tools = body.get("tools") or []
        answered_tool = isinstance(messages[-1], dict) and messages[-1].get("role") == "tool"
        if answered_tool:
            message = {"role": "assistant", "content": "done", "refusal": None}
        if tools and not answered_tool:
            name = tools[0]["function"]["name"]
            message = {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": name, "arguments": '{"city": "Paris"}'}}
                ],
            }
            finish = "tool_calls"
        answer = {
            "id": "chatcmpl-upstream-%d" % len(RECEIVED),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_upstream",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        }
        if said != "no-usage":
            answer["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 2, "audio_tokens": 0},
            }
        self.reply(200, answer)


    def chunk(self, event):
        """One event as one chunk of a chunked body, sent at once."""
        self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        self.wfile.flush()

    def begin_events(self):
        """A 200 whose body is a stream of events, sent as they come (chunked)."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

    def words(self, count, said, send_word):
        """Sends `count` words ("w0 ", "w1 ", ...), slowly past a cap the behaviour ignores;
        False when the stream ends there (the client left, or the behaviour breaks it)."""
        try:
            for i in range(count):
                send_word("w%d " % i)
                if said == "ignore-cap":
                    time.sleep(0.005)
        except (BrokenPipeError, ConnectionResetError):
            return False
        if said == "stream-break":
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)
            return False
        return True

    def stream(self, body, model, said):
        cap = int(body.get("max_completion_tokens") or body.get("max_tokens") or 16)
        self.begin_events()
        created = int(time.time())

        def send(data):
            self.chunk(("data: %s\n\n" % data).encode())

        def chunk(delta, finish=None):
            return json.dumps({
                "id": "chatcmpl-stream-%d" % len(RECEIVED), "object": "chat.completion.chunk", "created": created,
                "model": model, "system_fingerprint": "fp_upstream",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            })

        send(chunk({"role": "assistant", "content": ""}))
        words = words_for(said, cap)
        if not self.words(words, said, lambda word: send(chunk({"content": word}))):
            return
        send(chunk({}, "stop" if words < cap else "length"))
        if (body.get("stream_options") or {}).get("include_usage"):
            text = sum(len(m.get("content") or "") for m in body.get("messages", []) if isinstance(m.get("content"), str))
            usage = {"prompt_tokens": text // 4 + 7, "completion_tokens": words, "total_tokens": text // 4 + 7 + words,
                     "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}
            send(json.dumps({"id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": created,
                             "model": model, "choices": [], "usage": usage}))
        send("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


    def embeddings(self, body):
        inputs = body.get("input")
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            return self.reply(400, error("invalid_request_error", None, "'input' is a required property"))
        data, tokens = [], 0
        for index, item in enumerate(inputs):
            tokens += (len(item) // 4 + 1) if isinstance(item, str) else len(item)
            vector = [((index + 1) * (d + 1) % 7) / 7.0 for d in range(8)]
            embedding = vector
            if body.get("encoding_format") == "base64":
                embedding = base64.b64encode(struct.pack("<%df" % len(vector), *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        self.reply(200, {"object": "list", "data": data, "model": body.get("model", ""),
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def openai_responses(self, body):
        model = body.get("model", "")
        items = body.get("input")
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        if not isinstance(items, list) or not items:
            return self.reply(400, error("invalid_request_error", "missing_required_parameter", "Missing required parameter: 'input'."))
        text, said = len(body.get("instructions") or ""), None
        for item in items:
            content = item.get("content") if isinstance(item, dict) else None
            if isinstance(content, str):
                text += len(content)
                said = content
            elif isinstance(content, list):
                parts = [p.get("text", "") for p in content if isinstance(p, dict)]
                text += sum(len(p) for p in parts)
                said = parts[-1] if parts else said
        if said == "rate-limited":
            return self.reply(429, error("requests", "rate_limit_exceeded", "Rate limit reached for requests"),
                              [("retry-after", "7")])
        if said == "broken":
            return self.reply(500, error("server_error", None, "The server had an error while processing your request."))
        cap = int(body.get("max_output_tokens") or 16)
        words = words_for(said, cap)
        prompt = text // 4 + 7
        number = len(RECEIVED)
        response_id, item_id = "resp_upstream_%d" % number, "msg_upstream_%d" % number
        complete = words < cap
        usage = {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 4},
                 "output_tokens": min(words, cap), "output_tokens_details": {"reasoning_tokens": 2},
                 "total_tokens": prompt + min(words, cap)}
        called = any(isinstance(i, dict) and i.get("type") == "function_call_output" for i in items)
        tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
        if tools and not called:
            output = [{"type": "function_call", "id": "fc_%d" % number, "call_id": "call_%d" % number,
                       "name": tools[0]["name"], "arguments": '{"city": "Paris"}', "status": "completed"}]
            complete = True
        else:
            output = [{"type": "message", "id": item_id, "status": "completed" if complete else "incomplete",
                       "role": "assistant", "content": [{"type": "output_text", "text": "done" if called else "ok",
                                                         "annotations": []}]}]
        response = {
            "id": response_id, "object": "response", "created_at": int(time.time()),
            "status": "completed" if complete else "incomplete",
            "incomplete_details": None if complete else {"reason": "max_output_tokens"},
            "error": None, "model": model, "instructions": body.get("instructions"), "max_output_tokens": cap,
            "output": output, "parallel_tool_calls": True, "tool_choice": "auto", "tools": body.get("tools") or [],
            "usage": usage,
        }
        if body.get("stream") is not True:
            return self.reply(200, response)
        self.begin_events()
        sequence = [0]

        def send(kind, data):
            data = dict(data, type=kind, sequence_number=sequence[0])
            sequence[0] += 1
            self.chunk(("event: %s\ndata: %s\n\n" % (kind, json.dumps(data))).encode())

        started = dict(response, status="in_progress", incomplete_details=None, output=[], usage=None)
        at = {"item_id": item_id, "output_index": 0, "content_index": 0}
        try:
            send("response.created", {"response": started})
            send("response.in_progress", {"response": started})
            send("response.output_item.added", {"output_index": 0, "item": {
                "type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []}})
            send("response.content_part.added", dict(at, part={"type": "output_text", "text": "", "annotations": []}))
        except (BrokenPipeError, ConnectionResetError):
            return
        if not self.words(words, said, lambda word: send("response.output_text.delta", dict(at, delta=word, logprobs=[]))):
            return
        full = "".join("w%d " % i for i in range(words))
        part = {"type": "output_text", "text": full, "annotations": []}
        send("response.output_text.done", dict(at, text=full, logprobs=[]))
        send("response.content_part.done", dict(at, part=part))
        item = {"type": "message", "id": item_id, "status": "completed" if complete else "incomplete",
                "role": "assistant", "content": [part]}
        send("response.output_item.done", {"output_index": 0, "item": item})
        send("response.completed" if complete else "response.incomplete", {"response": dict(response, output=[item])})
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def anthropic(self, body):
        def error(status, kind, message, headers=()):
            return self.reply(status, {"type": "error", "error": {"type": kind, "message": message}}, headers)

        if self.headers.get("x-api-key") != KEY:
            return error(401, "authentication_error", "invalid x-api-key")
        if not self.headers.get("anthropic-version"):
            return error(400, "invalid_request_error", "anthropic-version: header is required")
        if not isinstance(body, dict):
            return error(400, "invalid_request_error", "body: not JSON")
        messages = body.get("messages") or [{}]
        text = 0
        for m in messages:
            content = m.get("content")
            if isinstance(content, str):
                text += len(content)
            elif isinstance(content, list):
                text += sum(len(b.get("text", "")) for b in content if isinstance(b, dict))
        last = messages[-1].get("content") if isinstance(messages[-1], dict) else None
        said = last if isinstance(last, str) else (last[0].get("text") if isinstance(last, list) and last else None)
        prompt = text // 4 + 7
        if self.path == "/v1/messages/count_tokens":
            return self.reply(200, {"input_tokens": prompt})
        if said == "rate-limited":
            return error(429, "rate_limit_error", "Number of requests has exceeded your rate limit", [("retry-after", "7")])
        if said == "broken":
            return error(529, "overloaded_error", "Overloaded")
        model = body.get("model", "")
        cap = int(body.get("max_tokens") or 16)
        words = words_for(said, cap)
        usage = {"input_tokens": prompt - 4, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 0}
        message_id = "msg_upstream_%d" % len(RECEIVED)
        if body.get("stream") is not True:
            tools = body.get("tools") or []
            content = [{"type": "text", "text": "ok"}]
            stop = "end_turn" if words < cap else "max_tokens"
            if tools:
                content = [{"type": "tool_use", "id": "toolu_1", "name": tools[0]["name"], "input": {"city": "Paris"}}]
                stop = "tool_use"
            return self.reply(200, {
                "id": message_id, "type": "message", "role": "assistant", "model": model, "content": content,
                "stop_reason": stop, "stop_sequence": None, "usage": dict(usage, output_tokens=words),
            })
        self.begin_events()

        def send(name, data):
            self.chunk(("event: %s\ndata: %s\n\n" % (name, json.dumps(data))).encode())

        try:
            send("message_start", {"type": "message_start", "message": {
                "id": message_id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None, "usage": dict(usage, output_tokens=1)}})
            send("content_block_start", {"type": "content_block_start", "index": 0,
                                         "content_block": {"type": "text", "text": ""}})
            send("ping", {"type": "ping"})
        except (BrokenPipeError, ConnectionResetError):
            return
        if not self.words(words, said, lambda word: send("content_block_delta", {
                "type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}})):
            return
        send("content_block_stop", {"type": "content_block_stop", "index": 0})
        send("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": "end_turn" if words < cap else "max_tokens", "stop_sequence": None},
                               "usage": {"output_tokens": words}})
        send("message_stop", {"type": "message_stop"})
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("port=%d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
