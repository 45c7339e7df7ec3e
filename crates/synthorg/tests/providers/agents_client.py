#!/usr/bin/env python3
"""Runs one agent turn with a tool through synthorg's gateway with the OpenAI Agents SDK
(`openai-agents`), as an agent runtime would: the agent's synthorg key is the API key, the
gateway is the base URL.

  python3 agents_client.py BASE_URL KEY SCENARIO

SCENARIO is the SDK's model class: `responses` (its default, the Responses API) or `chat`
(Chat Completions). The model calls the `get_weather` tool, the SDK runs it and sends its
result back, and the model answers. Prints one JSON object: the final output, the tool's
calls, the model calls the run made and the usage the SDK summed.
"""

import json
import sys

from agents import (
    Agent,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI

base, key, scenario = sys.argv[1], sys.argv[2], sys.argv[3]
# The SDK's own trace export goes to OpenAI; the gateway's spans are what this run is traced by.
set_tracing_disabled(True)
client = AsyncOpenAI(base_url=base, api_key=key, max_retries=0)
called = []


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    called.append(city)
    return "sunny in " + city


models = {
    "responses": OpenAIResponsesModel(model="gpt-4.1-mini", openai_client=client),
    "chat": OpenAIChatCompletionsModel(model="gpt-4.1-mini", openai_client=client),
}
agent = Agent(name="forecaster", instructions="Answer with the weather.", tools=[get_weather], model=models[scenario])
result = Runner.run_sync(agent, "What is the weather in Paris?", max_turns=4)
usage = result.context_wrapper.usage
print(json.dumps({
    "final_output": result.final_output,
    "tool_calls": called,
    "model_calls": len(result.raw_responses),
    "usage": {"requests": usage.requests, "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
}))
