//! The JSON-RPC messages the tool gateway answers with.

use serde_json::value::RawValue;
use serde_json::{Value, json};

/// A JSON-RPC message the door sends: a tree, or text already written (a tool list passed
/// through as the server wrote its tools; always a success).
#[derive(Debug)]
pub(crate) enum Reply {
    Tree(Value),
    Text(String),
}

impl From<Value> for Reply {
    fn from(value: Value) -> Self {
        Reply::Tree(value)
    }
}

impl Reply {
    /// The answer to `id` with `result`.
    pub(crate) fn result(id: &Value, result: Body) -> Self {
        match result {
            Body::Tree(result) => Reply::Tree(json!({"jsonrpc": "2.0", "id": id, "result": result})),
            Body::Text(result) => Reply::Text(format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{}}}"#, result.get())),
        }
    }

    pub(crate) fn pointer(&self, path: &str) -> Option<&Value> {
        match self {
            Reply::Tree(value) => value.pointer(path),
            Reply::Text(_) => None,
        }
    }

    /// The JSON-RPC error's code, for an error.
    pub(crate) fn error_code(&self) -> Option<i64> {
        self.pointer("/error/code").and_then(Value::as_i64)
    }

    pub(crate) fn error_message(&self) -> Option<&str> {
        self.pointer("/error/message").and_then(Value::as_str)
    }

    /// Whether the result is a tool result marked `isError`.
    pub(crate) fn tool_error(&self) -> bool {
        self.pointer("/result/isError").and_then(Value::as_bool) == Some(true)
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Tree(value) => write!(f, "{value}"),
            Reply::Text(text) => f.write_str(text),
        }
    }
}

/// A method's result: a tree, or the server's text passed through.
pub(crate) enum Body {
    Tree(Value),
    Text(Box<RawValue>),
}
