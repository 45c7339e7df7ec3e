"""A stdio MCP server that breaks the protocol, for the tool gateway's tests: it completes
the handshake and lists its tools in two pages (`garble` and `wipe`, then `peek`); a call of
`garble` is answered by a line that is not JSON-RPC (what an SDK-built server cannot be made
to do: the SDK guards its stdout); the others answer "ok"."""

import json
import sys

for line in sys.stdin:
    message = json.loads(line)
    method, id_ = message.get("method"), message.get("id")
    if id_ is None:
        continue
    if method == "initialize":
        result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "bad", "version": "0"}}
    elif method == "tools/list":
        tool = lambda name, hints: {"name": name, "inputSchema": {"type": "object"}, "annotations": hints}
        if (message.get("params") or {}).get("cursor") == "page-2":
            result = {"tools": [tool("peek", {"readOnlyHint": True})]}
        else:
            result = {"tools": [tool("garble", {"readOnlyHint": True}), tool("wipe", {"destructiveHint": True})], "nextCursor": "page-2"}
    elif method == "tools/call" and message["params"]["name"] != "garble":
        result = {"content": [{"type": "text", "text": "ok"}]}
    elif method == "tools/call":
        sys.stdout.write("this is not json\n")
        sys.stdout.flush()
        continue
    else:
        result = {}
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": id_, "result": result}) + "\n")
    sys.stdout.flush()
