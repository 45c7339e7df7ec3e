#!/usr/bin/env python3
"""One agent turn with the OpenAI Agents SDK (`openai-agents`) governed at both doors: its
model is called through synthorg's model gateway and its tools come from an MCP server
through synthorg's tool gateway, with the agent's synthorg key at each.

  python3 agents_client.py GATEWAY_BASE_URL MCP_URL KEY

The model calls the server's first tool (`get_weather`), the SDK calls it over MCP, sends
its result back, and the model answers. Prints one JSON object: the final output, the
tools the agent was offered, and the model calls the run made.
"""

import asyncio
import json
import sys

from agents import Agent, OpenAIChatCompletionsModel, Runner, set_tracing_disabled
from agents.mcp import MCPServerStreamableHttp
from openai import AsyncOpenAI


async def main(base: str, mcp_url: str, key: str) -> dict:
    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=base, api_key=key, max_retries=0)
    params = {"url": mcp_url, "headers": {"Authorization": f"Bearer {key}"}, "timeout": 30}
    async with MCPServerStreamableHttp(params, name="files", client_session_timeout_seconds=30) as server:
        offered = [t.name for t in await server.list_tools()]
        agent = Agent(
            name="forecaster",
            instructions="Answer with the weather.",
            mcp_servers=[server],
            model=OpenAIChatCompletionsModel(model="gpt-4.1-mini", openai_client=client),
        )
        result = await Runner.run(agent, "What is the weather in Paris?", max_turns=4)
    return {"final_output": result.final_output, "offered": offered, "model_calls": len(result.raw_responses)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))))
