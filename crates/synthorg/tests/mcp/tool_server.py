"""An upstream MCP server for the tool gateway's tests, built with the official `mcp` SDK.

    python3 tool_server.py stdio            # speaks MCP on stdin/stdout
    python3 tool_server.py http             # Streamable HTTP on 127.0.0.1; prints "port=N"

Every tool call it receives is appended, as one JSON line with its arguments and `_meta`,
to the file named by TOOL_CALLS (when set), so a test can tell what reached it. With
EXTRA_TOOLS=N it also offers N read-only tools `tool_0` … (for listings of many tools).
"""

import asyncio
import json
import os
import socket
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations

server = MCPServer("files", instructions="A small file store for tests.")
STORE: dict[str, str] = {"README.md": "hello from the tool server"}


def record(name: str, arguments: dict, ctx: Context) -> None:
    path = os.environ.get("TOOL_CALLS")
    if not path:
        return
    meta = ctx.request_context.meta
    meta = meta.model_dump(by_alias=True, exclude_none=True) if hasattr(meta, "model_dump") else (meta or {})
    with open(path, "a") as f:
        f.write(json.dumps({"tool": name, "arguments": arguments, "meta": meta}) + "\n")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def get_weather(city: str, ctx: Context) -> str:
    """The weather in a city."""
    record("get_weather", {"city": city}, ctx)
    return "sunny in " + city


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def read_file(path: str, ctx: Context) -> str:
    """Reads a file."""
    record("read_file", {"path": path}, ctx)
    return STORE.get(path, f"no such file: {path}")


@server.tool()
def write_file(path: str, content: str, ctx: Context) -> str:
    """Writes a file."""
    record("write_file", {"path": path, "content": content}, ctx)
    STORE[path] = content
    return f"wrote {len(content)} bytes to {path}"


@server.tool(annotations=ToolAnnotations(destructiveHint=True))
def delete_file(path: str, ctx: Context) -> str:
    """Deletes a file."""
    record("delete_file", {"path": path}, ctx)
    STORE.pop(path, None)
    return f"deleted {path}"


@server.tool(annotations=ToolAnnotations(openWorldHint=True))
def fetch(url: str, ctx: Context) -> str:
    """Fetches a URL (not really)."""
    record("fetch", {"url": url}, ctx)
    return f"fetched {url}"


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def show_config(ctx: Context) -> str:
    """Shows a configuration that holds a credential."""
    record("show_config", {}, ctx)
    return "region=eu-west-1\naws_access_key_id=AKIAABCDEFGHIJKLMNOP\nowner=ops@example.com"


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
async def slow(seconds: float, ctx: Context) -> str:
    """Answers after `seconds`."""
    record("slow", {"seconds": seconds}, ctx)
    await asyncio.sleep(seconds)
    return "done"


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def huge(megabytes: int, ctx: Context) -> str:
    """Answers `megabytes` MiB of text."""
    record("huge", {"megabytes": megabytes}, ctx)
    return "x" * (megabytes * 1024 * 1024)


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def crash(ctx: Context) -> str:
    """Ends the server's process in the middle of the call."""
    record("crash", {}, ctx)
    os._exit(3)


for i in range(int(os.environ.get("EXTRA_TOOLS", "0"))):
    def extra(ctx: Context, i: int = i) -> str:
        return f"tool {i}"

    server.tool(name=f"tool_{i}", description=f"Extra tool {i}.", annotations=ToolAnnotations(readOnlyHint=True))(extra)


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if mode == "stdio":
        server.run("stdio")
        return
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(f"port={sock.getsockname()[1]}", flush=True)
    app = server.streamable_http_app(streamable_http_path="/mcp", json_response=mode == "http-json")
    config = uvicorn.Config(app, log_level="warning")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
