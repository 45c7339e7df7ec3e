//! The text console: one line per event,
//! `timestamp LEVEL target: message field=value … span_field=value …`.
//!
//! The same capture and the same redaction as every other sink (secret-named fields, and
//! secret-named keys inside a JSON document held in a string, become `**REDACTED**`). Every
//! character that could end a line or rewrite the terminal — C0 and C1 controls (CR, LF, ESC,
//! NUL …), DEL, the Unicode line and paragraph separators, bidirectional and zero-width
//! format characters — is written as an escape (`\n`, `\u{1b}`), so a value sent by a client
//! can never start a line of its own or pass for another field. Values holding a space, `"`,
//! `=` or `\`, or empty, are quoted.

use std::fmt::Write as _;

use serde_json::Value;

use super::json::{REDACTED, redact_str};
use super::{CapturedEvent, FieldValue, SecretNames};

/// Must `c` be written as an escape?
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}')
        || matches!(c, '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Writes `text` with every line-breaking or terminal-controlling character escaped; with
/// `quote`, also `"` and `\` (the text then goes between quotes).
fn escape_into(out: &mut String, text: &str, quote: bool) {
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' | '\\' if quote => {
                out.push('\\');
                out.push(c);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// A field value: quoted when it is empty or holds a space, `"`, `=` or `\` (so that it
/// reads as one value), escaped either way.
fn value_into(out: &mut String, text: &str) {
    let quote = text.is_empty() || text.chars().any(|c| c.is_whitespace() || matches!(c, '"' | '=' | '\\'));
    if quote {
        out.push('"');
        escape_into(out, text, true);
        out.push('"');
    } else {
        escape_into(out, text, false);
    }
}

impl CapturedEvent {
    /// The event as the text console writes it, without the newline.
    pub fn render_text(&self, is_secret: SecretNames, out: &mut String) {
        let _ = time::OffsetDateTime::from(self.time)
            .format(&time::format_description::well_known::Rfc3339)
            .map(|t| out.push_str(&t));
        let _ = write!(out, " {:>5} {}: ", self.level.as_str(), self.target);
        let message = self.fields.iter().find(|(name, _)| *name == "message");
        if let Some((_, FieldValue::Str(message))) = message {
            escape_into(out, message, false);
        }
        for (name, value) in self.fields.iter().filter(|(name, _)| *name != "message") {
            let _ = write!(out, " {name}=");
            if is_secret(name) {
                out.push_str(REDACTED);
                continue;
            }
            match value {
                FieldValue::Str(s) => value_into(out, &redact_str(s, is_secret)),
                FieldValue::I64(v) => {
                    let _ = write!(out, "{v}");
                }
                FieldValue::U64(v) => {
                    let _ = write!(out, "{v}");
                }
                FieldValue::F64(v) => {
                    let _ = write!(out, "{v}");
                }
                FieldValue::Bool(v) => {
                    let _ = write!(out, "{v}");
                }
            }
        }
        // Span fields (already redacted when recorded), innermost first, once each; an event
        // field of the same name wins.
        let mut seen: Vec<&str> = self.fields.iter().map(|(name, _)| *name).collect();
        for map in self.spans.iter().rev() {
            for (name, value) in map.iter() {
                if seen.contains(&name.as_str()) {
                    continue;
                }
                seen.push(name);
                let _ = write!(out, " {name}=");
                match value {
                    Value::String(s) => value_into(out, s),
                    other => value_into(out, &other.to_string()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use crate::logging::{LineFormat, LineLayer};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn secret(name: &str) -> bool {
        name.contains("password") || name.contains("token")
    }

    fn lines(log: impl FnOnce()) -> Vec<String> {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry().with(LineLayer::new(buffer.clone(), secret, LineFormat::Text));
        tracing::subscriber::with_default(subscriber, log);
        let bytes = buffer.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8(bytes).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    #[test]
    fn a_value_cannot_start_a_line_or_pass_for_another_field() {
        let forged = "ada\n2026-11-30T12:00:00Z  INFO synthorg::audit: approval decided by=key:admin";
        let hostile = [
            forged,
            "a\r\nb",
            "esc\u{1b}[31mred",
            "nul\0byte",
            "line\u{2028}sep\u{2029}para",
            "next\u{85}line",
            "bidi\u{202e}txet",
            "del\u{7f}",
            "x status=200",
        ];
        for value in hostile {
            let out = lines(|| tracing::info!(target: "synthorg::audit", name = value, "agent {value} registered"));
            assert_eq!(out.len(), 1, "{value:?} gave {out:?}");
            let line = &out[0];
            assert!(!line.chars().any(needs_escape), "{line:?}");
            assert!(line.contains(" INFO synthorg::audit: agent "), "{line}");
            // A value with a space or `=` is one quoted token.
            if value.contains([' ', '=']) {
                assert!(line.contains(" name=\""), "{line}");
            }
        }
        let out = lines(|| tracing::info!(name = forged, "m"));
        assert!(
            out[0]
                .ends_with(r#"name="ada\n2026-11-30T12:00:00Z  INFO synthorg::audit: approval decided by=key:admin""#),
            "{}",
            out[0]
        );
        let out = lines(|| tracing::info!(name = "esc\u{1b}[31m", "m"));
        assert!(out[0].ends_with(r"name=esc\u{1b}[31m"), "{}", out[0]);
    }

    #[test]
    fn secrets_are_redacted_like_in_every_sink() {
        let out = lines(|| {
            let span = tracing::info_span!("request", request_id = "r-1", token = "span-secret");
            let _entered = span.enter();
            tracing::info!(password = "hunter2", body = r#"{"user":"ada","password":"hunter2"}"#, n = 3, "login");
        });
        let line = &out[0];
        assert!(!line.contains("hunter2") && !line.contains("span-secret"), "{line}");
        assert!(line.contains("password=**REDACTED**"), "{line}");
        assert!(line.contains(r#"\"password\":\"**REDACTED**\""#) && line.contains(r#"\"user\":\"ada\""#), "{line}");
        assert!(
            line.contains(" n=3") && line.contains(" request_id=r-1") && line.contains(" token=**REDACTED**"),
            "{line}"
        );
        assert!(line.contains(" INFO ") && line.contains(": login "), "{line}");
    }
}
