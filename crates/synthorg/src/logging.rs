//! Logging set-up: the console sink on stderr (stdout is kept for command output such as a
//! new key), as text or JSON, plus the configured file sinks, each with its own level and
//! target routing. The JSON renderer is shared by the JSON console and the files.

use anyhow::Context;
use synthorg_telemetry::logging::{JsonLayer, RotatingFile, Rotation};
use tracing_subscriber::filter::{FilterFn, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogFormat, LoggingConfig, SinkConfig};

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global subscriber. A second call (tests) is ignored. Fails when a file sink
/// cannot be opened.
pub fn init(config: &LoggingConfig) -> anyhow::Result<()> {
    let secret = synthorg_core::security::is_secret_name;
    let console: BoxedLayer = match config.format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_target(true)
            .with_filter(filter(&config.level))
            .boxed(),
        LogFormat::Json => JsonLayer::new(std::io::stderr(), secret).with_filter(filter(&config.level)).boxed(),
    };
    let mut layers = vec![console];
    for sink in &config.sinks {
        let SinkConfig::File { path, level, targets, max_bytes, max_files, gzip } = sink else { continue };
        let full = config.dir.join(path);
        let rotation = Rotation { max_bytes: *max_bytes, max_files: *max_files, gzip: *gzip };
        let file =
            RotatingFile::open(&full, rotation).with_context(|| format!("cannot open log file {}", full.display()))?;
        let targets = targets.clone();
        let max = level.parse::<LevelFilter>().unwrap_or(LevelFilter::INFO);
        // Spans always pass, so that events keep the request's correlation fields whatever
        // the sink's level and targets; events are filtered by level and target prefix.
        let routed = FilterFn::new(move |meta| {
            meta.is_span()
                || (*meta.level() <= max
                    && (targets.is_empty() || targets.iter().any(|t| meta.target().starts_with(t.as_str()))))
        });
        layers.push(JsonLayer::new(file, secret).with_filter(routed).boxed());
    }
    let _ = tracing_subscriber::registry().with(layers).try_init();
    Ok(())
}
