//! `synthorg serve`: the start-up and shutdown sequence.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use synthorg_core::audit::AuditContext;

use anyhow::Context;
use synthorg_core::Role;
use synthorg_store::{PostgresStore, SqliteOptions, SqliteStore, Store, now};
use synthorg_telemetry::otlp::{DropReason, Exporter, ExporterStats, Metrics, Traces};
use tokio::net::TcpListener;

use crate::config::{Settings, StoreLocation};
use crate::exit::Failure;

/// The running OTLP exporters.
pub(crate) struct Exporters {
    pub logs: Option<Exporter>,
    pub traces: Option<Exporter<Traces>>,
    pub metrics: Option<Exporter<Metrics>>,
}

/// Runs the server until SIGINT or SIGTERM, then drains in-flight requests and then the OTLP
/// exporters' queues (the metric exporter after its final reading), all within one
/// `server.shutdown_timeout` counted from the signal.
pub(crate) fn run(mut settings: Settings, exporters: Exporters, demo: bool) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::internal)?;
    let Exporters { logs: exporter, traces, metrics } = exporters;
    settings.api.otlp = (exporter.iter().map(Exporter::handle))
        .chain(traces.iter().map(Exporter::handle))
        .chain(metrics.iter().map(Exporter::handle))
        .collect();
    settings.api.tracer = traces.as_ref().map(Exporter::tracer);
    settings.api.meter = metrics.as_ref().and_then(Exporter::meter);
    settings.api.quiet_requests = demo;
    let deadline = settings.shutdown_timeout;
    let signalled = Arc::new(std::sync::OnceLock::new());
    let result = runtime.block_on(serve(settings, demo, signalled.clone()));
    // Always drain, whatever ended the server: what is still queued is sent within what is
    // left of the deadline, the rest is counted as dropped and said so. The exporters drain
    // side by side, so one deadline bounds them all.
    let left = signalled.get().map_or(deadline, |at: &std::time::Instant| deadline.saturating_sub(at.elapsed()));
    let (traces, metrics, logs) = std::thread::scope(|scope| {
        let traces = traces.as_ref().map(|t| scope.spawn(move || t.shutdown(left)));
        let metrics = metrics.as_ref().map(|m| scope.spawn(move || m.shutdown(left)));
        let logs = exporter.as_ref().map(|e| e.shutdown(left));
        let joined = |h: Option<std::thread::ScopedJoinHandle<'_, ExporterStats>>| h.and_then(|h| h.join().ok());
        (joined(traces), joined(metrics), logs)
    });
    let drained = [
        (traces, "traces", "OTLP trace exporter drained"),
        (metrics, "metrics", "OTLP metric exporter drained"),
        (logs, "logs", "OTLP exporter drained"),
    ];
    for (stats, signal, message) in
        drained.iter().filter_map(|(s, signal, message)| Some((s.as_ref()?, *signal, *message)))
    {
        let lost = stats.dropped_by(DropReason::Shutdown);
        if lost > 0 {
            tracing::warn!(target: "synthorg::otlp", signal, emitted = stats.emitted, delivered = stats.delivered, rejected = stats.rejected, dropped = stats.dropped_total(), dropped_at_shutdown = lost, "{message}; records still queued at the deadline were dropped");
        } else {
            tracing::info!(target: "synthorg::otlp", signal, emitted = stats.emitted, delivered = stats.delivered, rejected = stats.rejected, dropped = stats.dropped_total(), "{message}");
        }
    }
    result
}

/// Serves until a signal, recording in `signalled` when it arrived.
async fn serve(
    mut settings: Settings,
    demo: bool,
    signalled: Arc<std::sync::OnceLock<std::time::Instant>>,
) -> Result<(), Failure> {
    // Store calls block (a PostgreSQL client drives its own connection), so they run outside
    // the async workers, like every handler's store call.
    let store = tokio::task::block_in_place(|| {
        let store = open_store(&settings.store)?;
        bootstrap_admin_key(store.as_ref(), &settings.data_dir, &settings.config.auth.bootstrap_key_file)?;
        // Before anything is counted: the totals the store keeps count from its origin (the
        // start time of their OTLP sums), written once, at its first start.
        store.origin().map_err(|e| Failure::io(e.into()))?;
        // The chain's head as this process finds it, for whoever keeps it outside the store.
        synthorg_api::log_audit_head(store.as_ref(), None).map_err(|e| Failure::io(e.into()))?;
        Ok::<_, Failure>(store)
    })?;

    let listener = TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("cannot listen on {}", settings.bind))
        .map_err(Failure::unavailable)?;
    let address = listener.local_addr().map_err(|e| Failure::unavailable(e.into()))?;
    let shutdown = shutdown_signal();
    let prices = &settings.api.prices;
    tracing::info!(price_version = prices.version(), models = prices.models().len(), "price catalogue in force");
    if settings.api.security_mode == synthorg_core::security::SecurityMode::Shadow {
        tracing::warn!(target: "synthorg::audit", security_mode = "shadow",
            "security.mode is shadow: deny and escalate verdicts are recorded but not enforced");
    }
    let console = format!("http://{address}/console");
    tracing::info!(%address, store = %settings.store, synthorg_version = env!("CARGO_PKG_VERSION"), %console, "listening");

    let demo = match demo {
        true => Some(tokio::task::block_in_place(|| Demo::start(store.as_ref(), address))?),
        false => None,
    };
    if let Some(demo) = &demo {
        // For the person at the terminal, not the log (a process manager may keep stdout, so
        // the link works once, for ten minutes): a one-time sign-in, never a key.
        let mut reachable = address;
        if reachable.ip().is_unspecified() {
            reachable.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let (once, token) = synthorg_api::console::OneTimeSignIn::new(demo.console_key.clone(), SIGN_IN_LIFETIME)
            .map_err(|e| Failure::internal(anyhow::anyhow!(e.message)))?;
        settings.api.console_sign_in = Some(Arc::new(once));
        let key_file = settings.data_dir.join(&settings.config.auth.bootstrap_key_file);
        println!(
            "synthorg demo: sign in to the console at http://{reachable}/console#sign-in={token} \
             (works once, within 10 minutes), or at http://{reachable}/console with the admin key in {}",
            key_file.display()
        );
    }
    // The model gateway is a second door on the API's engine (SPEC §16, §17). The demo,
    // when no provider is configured, gets the simulated one: a gateway call can be tried
    // without a provider key.
    let mut gateway = settings.gateway.clone();
    if demo.is_some() && gateway.providers.is_empty() {
        let mcp = gateway.mcp.clone();
        gateway = synthorg_gateway::GatewaySettings::simulated(gateway.default_max_output_tokens);
        gateway.mcp = mcp;
        tracing::info!("demo: the model gateway answers gpt-* and text-embedding-* models with its simulated provider");
    }
    // ... and the tool gateway, when no MCP server is configured, fronts a simulated one.
    if demo.is_some() && gateway.mcp.servers.is_empty() {
        gateway.mcp = gateway.mcp.with_simulated();
        tracing::info!("demo: the tool gateway serves /mcp/demo, a simulated MCP server whose tools run nothing");
    }
    let mut gateway_failed = None;
    let mut gateway_door = None;
    let (app, _) =
        synthorg_api::app_with_doors(
            store.clone(),
            settings.api.clone(),
            |engine| match synthorg_gateway::Gateway::new(engine.clone(), gateway) {
                Ok(gateway) => {
                    gateway_door = Some(gateway.clone());
                    synthorg_gateway::router(gateway)
                }
                Err(e) => {
                    gateway_failed = Some(e);
                    axum::Router::new()
                }
            },
        );
    if let Some(e) = gateway_failed {
        return Err(Failure::config(e.into()));
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let demo_stop = demo.as_ref().map(|d| Arc::clone(&d.stop));
    let shutdown = async move {
        let signal = shutdown.await;
        let _ = signalled.set(std::time::Instant::now());
        tracing::info!(signal, "shutting down: draining in-flight requests");
        if let Some(stop) = demo_stop {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        let _ = stop_tx.send(true);
    };
    let server = crate::connections::serve(listener, app, settings.connections, shutdown);
    let deadline = settings.shutdown_timeout;
    let forced = async move {
        let mut stop = stop_rx;
        let _ = stop.wait_for(|stopped| *stopped).await;
        tokio::time::sleep(deadline).await;
    };
    tokio::select! {
        () = server => {}
        () = forced => tracing::warn!(timeout_ms = deadline.as_millis() as u64, "shutdown deadline passed; abandoning in-flight requests"),
    }
    // Gateway calls answered but not yet settled (and streams' relays) finish their
    // records before the store closes.
    if let Some(gateway) = gateway_door {
        if !gateway.drained(deadline).await {
            tracing::warn!(
                timeout_ms = deadline.as_millis() as u64,
                "shutdown deadline passed with gateway calls not yet settled; their holds expire"
            );
        }
        // The tool gateway's sessions end: their server processes are stopped.
        gateway.close_sessions().await;
    }
    if let Some(demo) = demo {
        tokio::task::block_in_place(|| demo.finish(store.as_ref()));
    }
    // The chain's last head, for whoever keeps it outside the store.
    if let Err(error) = tokio::task::block_in_place(|| synthorg_api::log_audit_head(store.as_ref(), None)) {
        tracing::warn!(%error, "could not read the audit chain's head at shutdown");
    }
    tracing::info!("stopped");
    Ok(())
}

/// `serve --demo`: a gentle simulated organization driving this server through its own API,
/// so metrics and logs show a living organization at once. It acts with an admin key made for
/// it (never logged) and revoked when the server stops.
struct Demo {
    stop: Arc<std::sync::atomic::AtomicBool>,
    key_id: String,
    /// The admin key the console's one-time sign-in hands over; revoked with the others.
    console_key: String,
    console_key_id: String,
    thread: std::thread::JoinHandle<Vec<String>>,
}

/// The labels of the demo's own admin keys.
const DEMO_KEY_LABEL: &str = "demo simulation";
const DEMO_CONSOLE_LABEL: &str = "demo console sign-in";

/// Was this key made by a demo (its admin keys, or its simulated agents' keys)?
fn made_by_a_demo(label: &str) -> bool {
    label == DEMO_KEY_LABEL
        || label == DEMO_CONSOLE_LABEL
        || (label.starts_with("demo-") && label.ends_with(" simulator"))
}

/// Revokes the keys an earlier demo left active because it ended without its clean-up
/// (killed, crashed, the machine lost power): a demo's keys never outlive the demo by more
/// than one start.
fn revoke_stale_demo_keys(store: &dyn Store) -> Result<usize, Failure> {
    let keys = synthorg_store::all_pages(|page| store.list_api_keys(page)).map_err(|e| Failure::io(e.into()))?;
    let stale: Vec<_> = keys.into_iter().filter(|k| k.revoked_at.is_none() && made_by_a_demo(&k.label)).collect();
    for key in &stale {
        store.revoke_api_key(&key.id, now(), &AuditContext::system()).map_err(|e| Failure::io(e.into()))?;
    }
    Ok(stale.len())
}

impl Demo {
    fn start(store: &dyn Store, address: std::net::SocketAddr) -> Result<Self, Failure> {
        let stale = revoke_stale_demo_keys(store)?;
        if stale > 0 {
            tracing::info!(keys = stale, "revoked the keys an earlier demo left active");
        }
        let new = synthorg_api::auth::generate_key(Role::Admin, None, DEMO_KEY_LABEL.into(), now())
            .map_err(|e| Failure::internal(anyhow::anyhow!(e)))?;
        store.create_api_key(&new.record, &AuditContext::system()).map_err(|e| Failure::io(e.into()))?;
        let console = synthorg_api::auth::generate_key(Role::Admin, None, DEMO_CONSOLE_LABEL.into(), now())
            .map_err(|e| Failure::internal(anyhow::anyhow!(e)))?;
        store.create_api_key(&console.record, &AuditContext::system()).map_err(|e| Failure::io(e.into()))?;
        // A budget makes the budget panels move; an operator's own budget is kept.
        if store.budget_config().map_err(|e| Failure::io(e.into()))?.is_none() {
            let budget = synthorg_core::budget::BudgetConfig {
                total_monthly: synthorg_core::Usd::from_nanos(200_000_000_000),
                ..Default::default()
            };
            store.set_budget_config(&budget, &AuditContext::system()).map_err(|e| Failure::io(e.into()))?;
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seed = u64::from(fastrand::u32(..));
        let options = crate::simulate::Options {
            urls: vec![format!("http://{address}")],
            key: new.key,
            agents: 12,
            rate: 4.0,
            concurrency: 2,
            duration: None,
            seed,
            cost_omitted: crate::simulate::COST_OMITTED,
            reserved: crate::simulate::RESERVED,
            workload: crate::simulate::Workload::Organization,
            name_prefix: format!("demo-{seed:08x}"),
            revoke_keys: false,
        };
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("synthorg-demo".into())
            .spawn(move || crate::simulate::run(&options, &flag, crate::simulate::Progress::Quiet).key_ids)
            .map_err(|e| Failure::internal(e.into()))?;
        tracing::info!(
            agents = 12,
            requests_per_second = 4,
            "demo mode: a simulated organization is at work (request lines at debug)"
        );
        Ok(Self { stop, key_id: new.record.id, console_key: console.key, console_key_id: console.record.id, thread })
    }

    fn finish(self, store: &dyn Store) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let agent_keys = self.thread.join().unwrap_or_default();
        for id in agent_keys.iter().chain([&self.key_id, &self.console_key_id]) {
            if let Err(error) = store.revoke_api_key(id, now(), &AuditContext::system()) {
                tracing::warn!(%error, key_id = %id, "could not revoke a demo key");
            }
        }
    }
}

/// How long the demo's one-time console sign-in link works.
const SIGN_IN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(600);

/// Opens the store (creating the SQLite file or connecting to PostgreSQL) and applies
/// pending migrations.
pub(crate) fn open_store(location: &StoreLocation) -> Result<Arc<dyn Store>, Failure> {
    let store: Arc<dyn Store> = match location {
        StoreLocation::Sqlite(dir) => Arc::new(
            SqliteStore::open_dir(dir, &SqliteOptions::default())
                .with_context(|| format!("cannot open the store in {}", dir.display()))
                .map_err(Failure::io)?,
        ),
        StoreLocation::Postgres { url, options } => Arc::new(
            PostgresStore::connect(&url.0, options)
                .with_context(|| format!("cannot open the store {location}"))
                .map_err(Failure::unavailable)?,
        ),
    };
    Ok(store)
}

/// On a store without any active key, creates an admin key and writes it to a file readable
/// only by this user, so the operator can authenticate at once. The key never reaches a log.
fn bootstrap_admin_key(store: &dyn Store, data_dir: &Path, file: &str) -> Result<(), Failure> {
    if store.active_api_keys().map_err(|e| Failure::io(e.into()))? > 0 {
        return Ok(());
    }
    let new = synthorg_api::auth::generate_key(Role::Admin, None, "bootstrap".into(), now())
        .map_err(|e| Failure::internal(anyhow::anyhow!(e)))?;
    let path = data_dir.join(file);
    write_secret_file(&path, &new.key).map_err(Failure::io)?;
    store.create_api_key(&new.record, &AuditContext::system()).map_err(|e| Failure::io(e.into()))?;
    tracing::warn!(
        key_id = %new.record.id,
        path = %path.display(),
        "no API key existed: created an admin key and wrote it to the file at path (mode 0600); \
         use it as 'Authorization: Bearer <key>', then create your own keys and revoke this one"
    );
    Ok(())
}

fn write_secret_file(path: &PathBuf, secret: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(file, "{secret}")?;
    file.sync_all()?;
    Ok(())
}

/// Starts listening for SIGINT and SIGTERM at once (the handlers are installed by this call,
/// not when the future is first polled), so a signal sent as soon as the server says it
/// listens is a graceful shutdown, not the default kill.
fn shutdown_signal() -> impl std::future::Future<Output = &'static str> {
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::interrupt()).ok(), signal(SignalKind::terminate()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let interrupted = async {
                match interrupt.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let terminated = async {
                match terminate.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = interrupted => "SIGINT",
                _ = terminated => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
