//! `synthorg`: the control plane for organizations of AI agents.
//!
//! `main` reads like the start-up sequence: parse the command line, load and check the
//! configuration, set up logging, then run the command.

mod audit;
mod config;

/// jemalloc, configured (`.cargo/config.toml`) to return freed pages to the system within a
/// second: glibc's malloc keeps what its per-thread arenas freed, so after a burst of
/// connections the process stayed at its peak. Its `malloc` is exported unprefixed, so the
/// bundled SQLite allocates from it too: glibc trimmed the writer thread's heap after most
/// savepoints (a `madvise` and a TLB shootdown of the other cores each time).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod connections;
mod exit;
mod keys;
mod logging;
mod serve;
mod simulate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use synthorg_core::Role;
use synthorg_core::audit::AuditHead;
use uuid::Uuid;

use crate::config::{Settings, Sources};
use crate::exit::Failure;

#[derive(Debug, Parser)]
#[command(name = "synthorg", version, about = "Control plane for organizations of AI agents")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the control plane (HTTP API on the embedded SQLite store, or on PostgreSQL).
    Serve {
        #[command(flatten)]
        config: ConfigArg,
        /// Address to listen on [default: 127.0.0.1:8000].
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
        /// Directory of the store [default: ./data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Seed a demo organization and keep a gentle simulation running (only when given).
        #[arg(long)]
        demo: bool,
    },
    /// Manage API keys directly on the store.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Verify or export the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Drive a simulated organization through a server's public API (load test, demo).
    Simulate(SimulateArgs),
    /// Work on the store itself.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Check or print configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// Configuration file (YAML).
    #[arg(long, value_name = "PATH", env = "SYNTHORG_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// The server to drive; give it several times (or comma-separated) for replicas of one
    /// deployment, which are then driven round robin.
    #[arg(long, default_value = "http://127.0.0.1:8000", value_delimiter = ',', num_args = 1)]
    url: Vec<String>,
    /// An admin key (it registers agents, creates their keys, decides approvals).
    #[arg(long, env = "SYNTHORG_KEY", hide_env_values = true, conflicts_with = "key_file")]
    key: Option<String>,
    /// A file holding the admin key, such as data/admin.key.
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Agents to register.
    #[arg(long, default_value_t = 20)]
    agents: usize,
    /// Target requests per second over all workers (0: as fast as possible).
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Workers sending requests at the same time.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// How long to run, e.g. 60s or 10m.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    duration: std::time::Duration,
    /// Seed of the random choices (the same seed makes the same choices).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share (0–1) of model calls whose report leaves `cost` out for the server to price
    /// (calls to a model the catalogue lacks always report theirs).
    #[arg(long, default_value_t = simulate::COST_OMITTED)]
    cost_omitted: f64,
    /// Share (0–1) of model calls made under a budget reservation (reserved first, settled
    /// by their cost report); the rest report without one.
    #[arg(long, default_value_t = simulate::RESERVED)]
    reserved: f64,
    /// What the workers do; the single-call workloads keep each worker on four tasks of its own.
    #[arg(long, value_enum, default_value_t = simulate::Workload::Organization)]
    workload: simulate::Workload,
    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    summary_json: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct StoreArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Directory of an embedded SQLite store [default: the configuration's store: database.url,
    /// else server.data_dir, ./data].
    #[arg(long, value_name = "DIR", conflicts_with = "config")]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Agent,
    Viewer,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Agent => Role::Agent,
            RoleArg::Viewer => Role::Viewer,
        }
    }
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key and print it (only the key) on stdout. It is shown only once.
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The agent an agent key acts for (required with --role agent).
        #[arg(long, value_name = "ID")]
        agent_id: Option<Uuid>,
        /// A note to recognise the key by.
        #[arg(long, default_value = "")]
        label: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List keys (ids, roles, agents, labels; never secrets).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key by id.
    Revoke {
        /// The key id (the part after `sk_`, before the second `_`).
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the hash chain, in the store or in an export, from its first event; names the
    /// first event altered, removed or reordered and exits 65.
    Verify {
        /// Verify this export (NDJSON from `synthorg audit export`) instead of the store.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// A head held outside synthorg (`SEQ:HASH`, from GET /api/v1/audit/head or the
        /// "audit head" log line): the chain must contain it, which catches a truncated and
        /// re-hashed tail.
        #[arg(long, value_name = "SEQ:HASH", value_parser = parse_head)]
        head: Option<AuditHead>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Write the whole chain as NDJSON, one event per line in chain order.
    Export {
        /// Write to this file (complete or not at all) instead of stdout.
        #[arg(long, value_name = "PATH")]
        output: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// A `--head` that is not `SEQ:HASH`.
#[derive(Debug, thiserror::Error)]
#[error("expected SEQ:HASH, such as 42:<64 hex digits>")]
struct BadHead;

fn parse_head(text: &str) -> Result<AuditHead, BadHead> {
    AuditHead::parse(text).ok_or(BadHead)
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Copy the embedded SQLite store into an empty PostgreSQL database, in one transaction,
    /// and verify the copy. Stop the server first; the SQLite file is left as it was.
    Migrate {
        /// The PostgreSQL database [default: database.url of the configuration or
        /// SYNTHORG_DATABASE__URL, which keeps the password off the command line].
        #[arg(long, value_name = "URL")]
        to: Option<String>,
        /// Schema of the target [default: database.schema of the configuration].
        #[arg(long, value_name = "NAME")]
        schema: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration without binding ports; lists every problem.
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print the commented default configuration.
    Default,
    /// Print the effective configuration (file, environment), secrets redacted.
    Show {
        #[command(flatten)]
        config: ConfigArg,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.exit(),
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Serve { config, bind, data_dir, demo } => {
            let mut flags = Vec::new();
            if let Some(bind) = bind {
                flags.push(("server.bind", bind));
            }
            if let Some(dir) = data_dir {
                flags.push(("server.data_dir", dir.display().to_string()));
            }
            let mut settings = load(config.config, flags)?;
            let exporter = logging::init(&settings.config.logging, settings.otlp.take()).map_err(Failure::io)?;
            for warning in &settings.warnings {
                tracing::warn!("configuration: {warning}");
            }
            // Started after logging, so that their own problems reach the log sinks.
            use synthorg_telemetry::otlp::Exporter;
            let failed = |e: synthorg_telemetry::otlp::StartError| Failure::io(anyhow::anyhow!(e));
            let traces = settings.otlp_traces.take().map(Exporter::start_traces).transpose().map_err(failed)?;
            let metrics = settings
                .otlp_metrics
                .take()
                .map(|(config, interval)| Exporter::start_metrics(config, interval))
                .transpose()
                .map_err(failed)?;
            serve::run(settings, serve::Exporters { logs: exporter, traces, metrics }, demo)
        }
        Command::Keys { command } => {
            let (KeysCommand::Create { store, .. } | KeysCommand::List { store } | KeysCommand::Revoke { store, .. }) =
                &command;
            let location = store_location(store)?;
            logging::init(&config::LoggingConfig { level: "warn".into(), ..Default::default() }, None)
                .map_err(Failure::io)?;
            match command {
                KeysCommand::Create { role, agent_id, label, .. } => {
                    keys::create(&location, role.into(), agent_id, label)
                }
                KeysCommand::List { .. } => keys::list(&location),
                KeysCommand::Revoke { id, .. } => keys::revoke(&location, &id),
            }
        }
        Command::Audit { command } => {
            let (AuditCommand::Verify { store, .. } | AuditCommand::Export { store, .. }) = &command;
            logging::init(&config::LoggingConfig { level: "warn".into(), ..Default::default() }, None)
                .map_err(Failure::io)?;
            if let AuditCommand::Verify { file: Some(file), head, .. } = &command {
                return audit::verify_file(file, head.clone());
            }
            let location = store_location(store)?;
            match command {
                AuditCommand::Verify { head, .. } => audit::verify_store(&location, head),
                AuditCommand::Export { output, .. } => audit::export(&location, output.as_deref()),
            }
        }
        Command::Simulate(args) => simulate(args),
        Command::Store { command: StoreCommand::Migrate { to, schema, store } } => {
            logging::init(&config::LoggingConfig { level: "warn".into(), ..Default::default() }, None)
                .map_err(Failure::io)?;
            store_migrate(to, schema, store)
        }
        Command::Config { command: ConfigCommand::Check { config } } => {
            let settings = load(config.config, vec![])?;
            for warning in &settings.warnings {
                eprintln!("warning: {warning}");
            }
            println!("configuration ok (listen {}, store {})", settings.bind, settings.store);
            Ok(())
        }
        Command::Config { command: ConfigCommand::Default } => {
            print!("{}", config::DEFAULT_YAML);
            Ok(())
        }
        Command::Config { command: ConfigCommand::Show { config } } => {
            let settings = load(config.config, vec![])?;
            println!("{}", config::redacted_json(&settings.config));
            Ok(())
        }
        Command::Version => {
            println!("synthorg {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    }
}

/// The store a store command works on: `--data-dir`, else the configuration's.
fn store_location(store: &StoreArgs) -> Result<config::StoreLocation, Failure> {
    Ok(match &store.data_dir {
        Some(dir) => config::StoreLocation::Sqlite(dir.clone()),
        None => load(store.config.config.clone(), vec![])?.store,
    })
}

/// `synthorg store migrate`: SQLite (the data dir) → PostgreSQL, verified.
fn store_migrate(to: Option<String>, schema: Option<String>, store: StoreArgs) -> Result<(), Failure> {
    let settings = load(store.config.config.clone(), vec![])?;
    let data_dir = store.data_dir.unwrap_or(settings.data_dir.clone());
    let (url, mut options) = match (to, settings.store) {
        (Some(url), config::StoreLocation::Postgres { options, .. }) => (url, options),
        (Some(url), config::StoreLocation::Sqlite(_)) => (url, synthorg_store::PostgresOptions::default()),
        (None, config::StoreLocation::Postgres { url, options }) => (url.0, options),
        (None, config::StoreLocation::Sqlite(_)) => {
            return Err(Failure::data(anyhow::anyhow!(
                "name the PostgreSQL database with --to or database.url (SYNTHORG_DATABASE__URL)"
            )));
        }
    };
    if let Err(problem) = synthorg_store::postgres::check_url(&url) {
        return Err(Failure::data(anyhow::anyhow!("--to: {problem}")));
    }
    if schema.is_some() {
        options.schema = schema;
    }
    let report = synthorg_store::migrate::sqlite_to_postgres(&data_dir, &url, &options).map_err(|e| match e {
        synthorg_store::StoreError::Domain(_) | synthorg_store::StoreError::NotFound { .. } => Failure::data(e.into()),
        synthorg_store::StoreError::Unavailable(_) => Failure::unavailable(e.into()),
        other => Failure::io(other.into()),
    })?;
    for (table, rows) in &report.tables {
        println!("{table:<22} {rows:>10} rows");
    }
    println!("copied and verified: both stores report the same organization");
    Ok(())
}

fn load(file: Option<PathBuf>, flags: Vec<(&'static str, String)>) -> Result<Settings, Failure> {
    let sources = Sources { file, flags, ..Default::default() }.with_process_env();
    config::load(&sources).map_err(|e| Failure::config(e.into()))
}

fn simulate(args: SimulateArgs) -> Result<(), Failure> {
    use anyhow::Context;
    let key = match (args.key, &args.key_file) {
        (Some(key), _) => key,
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the key file {}", path.display()))
            .map_err(Failure::io)?
            .trim()
            .to_owned(),
        (None, None) => {
            return Err(Failure::data(anyhow::anyhow!("give an admin key with --key, SYNTHORG_KEY or --key-file")));
        }
    };
    if args.concurrency == 0 || args.concurrency > 1024 {
        return Err(Failure::data(anyhow::anyhow!("--concurrency must be between 1 and 1024")));
    }
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        return Err(Failure::data(anyhow::anyhow!("--rate must be a number of requests per second, 0 for unlimited")));
    }
    if !(0.0..=1.0).contains(&args.cost_omitted) {
        return Err(Failure::data(anyhow::anyhow!("--cost-omitted must be a share between 0 and 1")));
    }
    if !(0.0..=1.0).contains(&args.reserved) {
        return Err(Failure::data(anyhow::anyhow!("--reserved must be a share between 0 and 1")));
    }
    if args.agents == 0 {
        return Err(Failure::data(anyhow::anyhow!("--agents must be at least 1")));
    }
    let options = simulate::Options {
        urls: args.url,
        key,
        agents: args.agents,
        rate: args.rate,
        concurrency: args.concurrency,
        duration: Some(args.duration),
        seed: args.seed,
        cost_omitted: args.cost_omitted,
        reserved: args.reserved,
        workload: args.workload,
        name_prefix: format!("sim-{}-{:04x}", args.seed, fastrand::u16(..)),
        revoke_keys: true,
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let summary = simulate::run(&options, &stop, simulate::Progress::Auto);
    summary.print(&mut std::io::stdout().lock()).map_err(|e| Failure::io(e.into()))?;
    if let Some(path) = &args.summary_json {
        let json = serde_json::to_vec_pretty(&summary).map_err(|e| Failure::internal(e.into()))?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display())).map_err(Failure::io)?;
    }
    if summary.tally.agents.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        return Err(Failure::unavailable(anyhow::anyhow!(
            "no agent could be registered at {}: is the server up, and is the key an admin key?",
            options.urls.join(", ")
        )));
    }
    match summary.clean() {
        true => Ok(()),
        false => Err(Failure::simulation(anyhow::anyhow!(
            "{} server errors (5xx) and {} transport errors",
            summary.server_errors,
            summary.transport_errors
        ))),
    }
}
