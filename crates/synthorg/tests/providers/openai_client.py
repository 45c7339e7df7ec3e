#!/usr/bin/env python3
"""Drives synthorg's OpenAI-compatible gateway with the official `openai` SDK, as an agent
would: the agent's synthorg key is the API key, the gateway is the base URL.

  python3 openai_client.py BASE_URL KEY SCENARIO

Prints one JSON object: what the SDK returned or raised.
  chat      a plain completion, with the raw response's synthorg headers
  tools     a completion that calls a tool
  stream    a streamed completion, with the usage asked for: its text, finish and usage
  refused   a call the gateway refuses (budget): the SDK's exception, and how many
            attempts it made (a 402 must not be retried)
  limited   an upstream 429 passed through: the SDK's exception and Retry-After
  badkey    a wrong key: the SDK's exception
  responses         a Responses call: its text, status and usage
  responses_stream  a streamed Responses call: its text, the final event's type and usage
  responses_tools   a Responses call that calls a function tool
  responses_cut     a stream the provider runs past the cap: what the SDK saw at the end
  responses_stored  a Responses call continuing a stored one (previous_response_id): refused
  embeddings        embeddings of two texts (the SDK asks for base64 and decodes it)
"""

import json
import sys

import httpx
import openai

base, key, scenario = sys.argv[1], sys.argv[2], sys.argv[3]
attempts = []


def count(request):
    attempts.append(request.url.path)


client = openai.OpenAI(
    base_url=base,
    api_key=key,
    max_retries=2,
    http_client=httpx.Client(event_hooks={"request": [count]}),
)
messages = [{"role": "user", "content": "What is the weather in Paris?"}]


def failure(e):
    return {
        "exception": type(e).__name__,
        "status": getattr(e, "status_code", None),
        "code": getattr(e, "code", None),
        "param": getattr(e, "param", None),
        "retry_after": e.response.headers.get("retry-after") if getattr(e, "response", None) is not None else None,
        "attempts": len(attempts),
    }


try:
    if scenario == "chat":
        raw = client.chat.completions.with_raw_response.create(model="gpt-4.1-mini", messages=messages, max_tokens=50)
        completion = raw.parse()
        out = {
            "content": completion.choices[0].message.content,
            "finish_reason": completion.choices[0].finish_reason,
            "usage": completion.usage.model_dump(),
            "cost_record_id": raw.headers.get("x-synthorg-cost-record-id"),
            "attempts": len(attempts),
        }
    elif scenario == "tools":
        tools = [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "The weather in a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                },
            }
        ]
        completion = client.chat.completions.create(model="gpt-4.1-mini", messages=messages, tools=tools)
        call = completion.choices[0].message.tool_calls[0]
        out = {"tool": call.function.name, "arguments": json.loads(call.function.arguments),
               "finish_reason": completion.choices[0].finish_reason}
    elif scenario == "stream":
        text, finish, usage = "", None, None
        chunks = client.chat.completions.create(
            model="gpt-4.1-mini", messages=messages, max_tokens=6, stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in chunks:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
            if chunk.usage is not None:
                usage = chunk.usage.model_dump()
        out = {"content": text, "finish_reason": finish, "usage": usage}
    elif scenario == "refused":
        client.chat.completions.create(model="gpt-4.1-mini", messages=messages, max_tokens=50)
        out = {"unexpected": "answered"}
    elif scenario == "limited":
        client.with_options(max_retries=0).chat.completions.create(
            model="gpt-4.1-mini", messages=[{"role": "user", "content": "rate-limited"}]
        )
        out = {"unexpected": "answered"}
    elif scenario == "badkey":
        client.chat.completions.create(model="gpt-4.1-mini", messages=messages)
        out = {"unexpected": "answered"}
    elif scenario == "responses":
        response = client.responses.create(model="gpt-4.1-mini", input="What is the weather in Paris?",
                                           instructions="Be brief.", max_output_tokens=40)
        out = {"text": response.output_text, "status": response.status, "usage": response.usage.model_dump()}
    elif scenario in ("responses_stream", "responses_cut"):
        said = "ignore-cap" if scenario == "responses_cut" else "What is the weather in Paris?"
        text, last, usage, reason = "", None, None, None
        for event in client.responses.create(model="gpt-4.1-mini", input=said, max_output_tokens=5, stream=True):
            if event.type == "response.output_text.delta":
                text += event.delta
            if event.type in ("response.completed", "response.incomplete"):
                last = event.type
                usage = event.response.usage.model_dump() if event.response.usage else None
                details = event.response.incomplete_details
                reason = details.reason if details else None
        out = {"text": text, "last": last, "usage": usage, "reason": reason}
    elif scenario == "responses_tools":
        tools = [{"type": "function", "name": "get_weather", "description": "The weather in a city",
                  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
        response = client.responses.create(model="gpt-4.1-mini", input="What is the weather in Paris?", tools=tools)
        call = [item for item in response.output if item.type == "function_call"][0]
        out = {"tool": call.name, "arguments": json.loads(call.arguments)}
    elif scenario == "responses_stored":
        client.responses.create(model="gpt-4.1-mini", input="and then?", previous_response_id="resp_earlier")
        out = {"unexpected": "answered"}
    elif scenario == "embeddings":
        embedded = client.embeddings.create(model="text-embedding-3-small", input=["first text", "second text"])
        out = {"count": len(embedded.data), "dimensions": len(embedded.data[0].embedding),
               "first": embedded.data[0].embedding[:3], "usage": embedded.usage.model_dump()}
    else:
        raise SystemExit("unknown scenario " + scenario)
except openai.APIStatusError as e:
    out = failure(e)
print(json.dumps(out))
