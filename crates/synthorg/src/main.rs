//! `synthorg`: the control plane for organizations of AI agents.
//!
//! `main` reads like the start-up sequence: parse the command line, load and check the
//! configuration, set up logging, then run the command.

mod config;
mod exit;
mod keys;
mod logging;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use synthorg_core::Role;
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
    /// Run the control plane (HTTP API on the embedded SQLite store).
    Serve {
        #[command(flatten)]
        config: ConfigArg,
        /// Address to listen on [default: 127.0.0.1:8000].
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
        /// Directory of the store [default: ./data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Manage API keys directly on the store.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
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
struct StoreArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Directory of the store [default: server.data_dir of the configuration, ./data].
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
        Command::Serve { config, bind, data_dir } => {
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
            serve::run(settings, exporter)
        }
        Command::Keys { command } => {
            let (KeysCommand::Create { store, .. } | KeysCommand::List { store } | KeysCommand::Revoke { store, .. }) =
                &command;
            let data_dir = match &store.data_dir {
                Some(dir) => dir.clone(),
                None => load(store.config.config.clone(), vec![])?.data_dir,
            };
            logging::init(&config::LoggingConfig { level: "warn".into(), ..Default::default() }, None)
                .map_err(Failure::io)?;
            match command {
                KeysCommand::Create { role, agent_id, label, .. } => {
                    keys::create(&data_dir, role.into(), agent_id, label)
                }
                KeysCommand::List { .. } => keys::list(&data_dir),
                KeysCommand::Revoke { id, .. } => keys::revoke(&data_dir, &id),
            }
        }
        Command::Config { command: ConfigCommand::Check { config } } => {
            let settings = load(config.config, vec![])?;
            for warning in &settings.warnings {
                eprintln!("warning: {warning}");
            }
            println!("configuration ok (listen {}, data dir {})", settings.bind, settings.data_dir.display());
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

fn load(file: Option<PathBuf>, flags: Vec<(&'static str, String)>) -> Result<Settings, Failure> {
    let sources = Sources { file, flags, ..Default::default() }.with_process_env();
    config::load(&sources).map_err(|e| Failure::config(e.into()))
}
