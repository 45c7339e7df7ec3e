"""An agent's MCP client for the tool gateway's tests: the official `mcp` SDK.

    python3 client.py URL KEY MODE STEPS_JSON

With TRACEPARENT set, every request continues that trace.
MODE is the SDK's connect mode: `legacy` (the initialize handshake), `auto` (discover, else
initialize) or a stateless revision (`2026-07-28`). STEPS is a JSON list run in one session,
each `{"list": true}` or `{"call": NAME, "arguments": {...}, "progress": bool}`; what each
step gave is printed as one JSON list: tool names, or a call's text, isError, structured
content and the progress notifications it got. A step that raised gives {"error": ...}.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, key: str, mode: str, steps: list, task: str | None) -> list:
    headers = {"Authorization": f"Bearer {key}"}
    if task:
        headers["x-synthorg-task-id"] = task
    if os.environ.get("TRACEPARENT"):
        headers["traceparent"] = os.environ["TRACEPARENT"]
    out = []
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0)) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            for step in steps:
                try:
                    if step.get("list"):
                        tools = await client.list_tools()
                        out.append({"tools": [t.name for t in tools.tools]})
                        continue
                    progress = []

                    async def on_progress(done, total, message):
                        progress.append({"progress": done, "total": total, "message": message})

                    result = await client.call_tool(
                        step["call"],
                        step.get("arguments", {}),
                        progress_callback=on_progress if step.get("progress") else None,
                    )
                    text = "\n".join(c.text for c in result.content if getattr(c, "type", None) == "text")
                    out.append(
                        {
                            "text": text,
                            "isError": bool(result.is_error),
                            "structured": result.structured_content,
                            "progress": progress,
                        }
                    )
                except Exception as e:  # the step's failure is its result
                    out.append({"error": f"{type(e).__name__}: {e}"})
    return out


if __name__ == "__main__":
    url, key, mode, steps = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    task = sys.argv[5] if len(sys.argv) > 5 else None
    print(json.dumps(asyncio.run(main(url, key, mode, steps, task))))
