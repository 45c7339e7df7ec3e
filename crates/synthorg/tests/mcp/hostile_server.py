"""A stdio MCP server that breaks the protocol, for the tool gateway's tests: it completes
the handshake and lists one tool, `garble`, whose call is answered by a line that is not
JSON-RPC (what an SDK-built server cannot be made to do: the SDK guards its stdout)."""

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
        result = {"tools": [{"name": "garble", "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": True}}]}
    elif method == "tools/call":
        sys.stdout.write("this is not json\n")
        sys.stdout.flush()
        continue
    else:
        result = {}
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": id_, "result": result}) + "\n")
    sys.stdout.flush()
