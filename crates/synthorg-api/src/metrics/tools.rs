//! The tool gateway's families (SPEC §18): tool calls by server, tool, verdict and outcome,
//! the time synthorg adds to a call, and the MCP conventions' operation durations, as the
//! server the agent talks to (`mcp.server.operation.duration`) and as the client of the
//! upstream (`mcp.client.operation.duration`). Moved by the `McpRequest` events of the
//! gateway, through the API's effects.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use synthorg_core::event::ToolOutcome;
use synthorg_telemetry::metrics::{Collect, Exemplar, Exposition, Family, Histogram, Kind, OtelName};

use super::{OTHER, observe_keyed};

/// Bounds of the time synthorg adds to a call: 50 µs to a second.
const OVERHEAD_BUCKETS: &[f64] =
    &[0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// The MCP conventions' advice for the operation durations.
const DURATION_BUCKETS: &[f64] = &[0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

const MCP_ATTRIBUTES: &[(&str, &str)] =
    &[("mcp_method_name", "mcp.method.name"), ("gen_ai_tool_name", "gen_ai.tool.name"), ("error_type", "error.type")];

/// Method, tool ("" but for `tools/call`), error type ("" when it succeeded).
type McpKey = (String, String, String);

/// One request through the tool gateway as the metrics take it.
#[derive(Debug, Clone, Copy)]
pub struct ToolRequest<'a> {
    pub server: &'a str,
    pub method: &'a str,
    pub tool: Option<&'a str>,
    pub verdict: Option<&'a str>,
    pub outcome: ToolOutcome,
    pub error_type: Option<&'a str>,
    pub seconds: f64,
    pub upstream_seconds: Option<f64>,
    pub overhead_seconds: f64,
}

/// The tool gateway's families; past `max_tools` (server, tool) pairs, new ones fold into
/// `__other__`.
#[derive(Debug)]
pub struct ToolMetrics {
    calls: Mutex<BTreeMap<(String, String, String, ToolOutcome), u64>>,
    overhead: Mutex<BTreeMap<String, Histogram>>,
    server_duration: Mutex<BTreeMap<McpKey, Histogram>>,
    client_duration: Mutex<BTreeMap<McpKey, Histogram>>,
    tools: Mutex<BTreeSet<(String, String)>>,
    max_tools: usize,
    calls_family: Family<4>,
    overhead_family: Family<1>,
    server_family: Family<3>,
    client_family: Family<3>,
}

impl ToolMetrics {
    pub fn new(prefix: &str, max_tools: usize) -> Self {
        let duration = |side: &'static str, name: &'static str, help: &'static str| {
            Family::new("", name, Kind::Histogram, help)
                .labelled(["mcp_method_name", "gen_ai_tool_name", "error_type"])
                .with_otel(OtelName { name: side, unit: "s", attributes: MCP_ATTRIBUTES })
        };
        Self {
            calls: Mutex::default(),
            overhead: Mutex::default(),
            server_duration: Mutex::default(),
            client_duration: Mutex::default(),
            tools: Mutex::default(),
            max_tools,
            calls_family: Family::new(
                prefix,
                "gateway_tool_calls",
                Kind::Counter,
                "Tool calls through the tool gateway handled by this process, by server, tool (as the policy names \
                 it: <server>.<tool>), the rules' verdict and the outcome (forwarded, denied, approved, rejected, \
                 unanswered, upstream_error, invalid).",
            )
            .labelled(["server", "tool", "verdict", "outcome"]),
            overhead_family: Family::new(
                prefix,
                "gateway_tool_overhead_seconds",
                Kind::Histogram,
                "Time a tool call spent in synthorg (verdict, audit, output scan), not waiting for its server or \
                 for an approval, by server.",
            )
            .labelled(["server"]),
            server_family: duration(
                "mcp.server.operation.duration",
                "mcp_server_operation_duration_seconds",
                "MCP requests' duration as the agents' clients saw them at the tool gateway, by method, tool and \
                 error type. OTLP name mcp.server.operation.duration.",
            ),
            client_family: duration(
                "mcp.client.operation.duration",
                "mcp_client_operation_duration_seconds",
                "MCP requests' duration as the tool gateway saw them at the upstream servers, by method, tool and \
                 error type. OTLP name mcp.client.operation.duration.",
            ),
        }
    }

    /// One request ended, with the current request's trace as the exemplar.
    pub fn request(&self, r: ToolRequest<'_>) {
        let tool = r.tool.map(|tool| self.fold(r.server, &format!("{}.{tool}", r.server)));
        if let (Some(tool), Some(verdict)) = (&tool, r.verdict) {
            let server = if tool == OTHER { OTHER } else { r.server };
            *self
                .calls
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry((server.to_owned(), tool.clone(), verdict.to_owned(), r.outcome))
                .or_default() += 1;
            self.overhead
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(server.to_owned())
                .or_insert_with(|| Histogram::new(OVERHEAD_BUCKETS))
                .observe_with(r.overhead_seconds, Exemplar::in_current_trace(r.overhead_seconds));
        }
        // The conventions' tool name is the server's own (the span's `gen_ai.tool.name`).
        let bare = match (&tool, r.tool) {
            (Some(folded), _) if folded == OTHER => OTHER.to_owned(),
            (_, Some(t)) => t.to_owned(),
            _ => String::new(),
        };
        let key = (r.method.to_owned(), bare, r.error_type.unwrap_or_default().to_owned());
        if let Some(upstream) = r.upstream_seconds {
            observe_keyed(&self.client_duration, key.clone(), DURATION_BUCKETS, upstream);
        }
        observe_keyed(&self.server_duration, key, DURATION_BUCKETS, r.seconds);
    }

    /// `tool` as a label: itself while fewer than `max_tools` are known, else `__other__`.
    fn fold(&self, server: &str, tool: &str) -> String {
        let mut tools = self.tools.lock().unwrap_or_else(|p| p.into_inner());
        let pair = (server.to_owned(), tool.to_owned());
        if tools.contains(&pair) || tools.len() < self.max_tools {
            tools.insert(pair);
            tool.to_owned()
        } else {
            OTHER.to_owned()
        }
    }
}

impl Collect for ToolMetrics {
    fn collect(&self, e: &mut Exposition) {
        self.calls_family.header(e);
        for ((server, tool, verdict, outcome), count) in self.calls.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            self.calls_family.counter(e, [server, tool, verdict, outcome.as_str()], *count as f64);
        }
        self.overhead_family.header(e);
        for (server, histogram) in self.overhead.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            self.overhead_family.histogram(e, [server], &histogram.snapshot());
        }
        for (family, series) in
            [(&self.server_family, &self.server_duration), (&self.client_family, &self.client_duration)]
        {
            family.header(e);
            for ((method, tool, error), histogram) in series.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                family.histogram(e, [method, tool, error], &histogram.snapshot());
            }
        }
    }
}
