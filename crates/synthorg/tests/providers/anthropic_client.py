#!/usr/bin/env python3
"""Drives synthorg's Anthropic-compatible gateway with the official `anthropic` SDK, as an
agent would: the agent's synthorg key is the API key (sent as `x-api-key`), the gateway is
the base URL.

  python3 anthropic_client.py BASE_URL KEY SCENARIO

Prints one JSON object: what the SDK returned or raised.
  message   a plain message, with the raw response's synthorg header
  stream    a streamed message: its text, stop reason and usage
  tools     a message that uses a tool
  count     count_tokens
  refused   a call the gateway refuses (budget): the SDK's exception and its attempts
  limited   an upstream 429 passed through
  badkey    a wrong key
"""

import json
import sys

import anthropic
import httpx2

base, key, scenario = sys.argv[1], sys.argv[2], sys.argv[3]
attempts = []


def count(request):
    attempts.append(request.url.path)


client = anthropic.Anthropic(
    base_url=base, api_key=key, max_retries=2, http_client=httpx2.Client(event_hooks={"request": [count]})
)
messages = [{"role": "user", "content": "What is the weather in Paris?"}]
model = "claude-haiku-4-5"


def failure(e):
    return {
        "exception": type(e).__name__,
        "status": getattr(e, "status_code", None),
        "type": (e.body or {}).get("error", {}).get("type") if isinstance(e.body, dict) else None,
        "retry_after": e.response.headers.get("retry-after"),
        "attempts": len(attempts),
    }


try:
    if scenario == "message":
        raw = client.messages.with_raw_response.create(model=model, max_tokens=50, messages=messages)
        message = raw.parse()
        out = {
            "text": message.content[0].text,
            "stop_reason": message.stop_reason,
            "usage": message.usage.model_dump(),
            "cost_record_id": raw.headers.get("x-synthorg-cost-record-id"),
        }
    elif scenario == "stream":
        with client.messages.stream(model=model, max_tokens=6, messages=messages) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        out = {"text": text, "stop_reason": final.stop_reason, "usage": final.usage.model_dump()}
    elif scenario == "tools":
        tools = [{"name": "get_weather", "description": "The weather in a city",
                  "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
        message = client.messages.create(model=model, max_tokens=100, messages=messages, tools=tools)
        use = message.content[0]
        out = {"tool": use.name, "input": use.input, "stop_reason": message.stop_reason}
    elif scenario == "count":
        out = {"input_tokens": client.messages.count_tokens(model=model, messages=messages).input_tokens}
    elif scenario == "refused":
        client.messages.create(model=model, max_tokens=50, messages=messages)
        out = {"unexpected": "answered"}
    elif scenario == "limited":
        client.with_options(max_retries=0).messages.create(
            model=model, max_tokens=50, messages=[{"role": "user", "content": "rate-limited"}]
        )
        out = {"unexpected": "answered"}
    elif scenario == "badkey":
        client.messages.create(model=model, max_tokens=50, messages=messages)
        out = {"unexpected": "answered"}
    else:
        raise SystemExit("unknown scenario " + scenario)
except anthropic.APIStatusError as e:
    out = failure(e)
print(json.dumps(out))
