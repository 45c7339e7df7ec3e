//! The simulated MCP server: answered in process, for `serve --demo` and the tour, so that
//! the tool gateway can be tried without a server of one's own. Its four tools run nothing
//! and say so in every result.

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::link::LinkError;

/// The name the demo serves it under: `/mcp/demo`.
pub(super) const DEMO_SERVER: &str = "demo";

/// The answer to `method` with `params`: the result, as a server would write it.
pub(crate) fn answer(method: &str, params: &Value) -> Result<Box<RawValue>, LinkError> {
    let result = match method {
        "initialize" => json!({
            "protocolVersion": super::link::UPSTREAM_VERSION,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "synthorg-simulated", "version": env!("CARGO_PKG_VERSION")},
            "instructions": "A simulated server: its tools run nothing and say so.",
        }),
        "tools/list" => json!({"tools": [
            tool("read_file", "Reads a file (simulated).", json!({"path": {"type": "string"}}), json!({"readOnlyHint": true})),
            tool("write_file", "Writes a file (simulated).",
                json!({"path": {"type": "string"}, "content": {"type": "string"}}), json!({})),
            tool("delete_file", "Deletes a file (simulated).", json!({"path": {"type": "string"}}),
                json!({"destructiveHint": true})),
            tool("fetch", "Fetches a URL (simulated).", json!({"url": {"type": "string"}}), json!({"openWorldHint": true})),
        ]}),
        "tools/call" => {
            let name = params.get("name").and_then(Value::as_str).unwrap_or_default();
            let argument = |key: &str| {
                params.pointer(&format!("/arguments/{key}")).and_then(Value::as_str).unwrap_or_default().to_owned()
            };
            let text = match name {
                "read_file" => format!("simulated: the contents of {} (no file was read)", argument("path")),
                "write_file" => format!(
                    "simulated: {} bytes would be written to {} (nothing was written)",
                    argument("content").len(),
                    argument("path")
                ),
                "delete_file" => format!("simulated: {} would be deleted (nothing was deleted)", argument("path")),
                "fetch" => format!("simulated: {} would be fetched (nothing was fetched)", argument("url")),
                other => {
                    return Err(LinkError::Rpc(json!({"code": -32602, "message": format!("unknown tool: {other}")})));
                }
            };
            json!({"content": [{"type": "text", "text": text}], "isError": false})
        }
        "ping" => json!({}),
        other => return Err(LinkError::Rpc(json!({"code": -32601, "message": format!("method not found: {other}")}))),
    };
    RawValue::from_string(result.to_string()).map_err(|e| LinkError::Protocol(e.to_string()))
}

fn tool(name: &str, description: &str, properties: Value, annotations: Value) -> Value {
    json!({
        "name": name,
        "description": description,
        "inputSchema": {"type": "object", "properties": properties},
        "annotations": annotations,
    })
}
