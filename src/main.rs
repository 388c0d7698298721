use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use notes_service::{
    app::{Application, Stop},
    config::Settings,
    telemetry,
};

/// The notes API: poem-openapi + SeaORM on SQLite (default), PostgreSQL or MySQL/MariaDB.
///
/// Settings: config/default.toml < config/$APP_ENV.toml < config/local.toml <
/// APP__SECTION__KEY env vars < DATABASE_URL. API docs are served at /docs.
#[derive(Parser)]
#[command(name = "notes-service", version)]
struct Cli {
    /// Directory holding default.toml and the profile files.
    #[arg(long, env = "APP_CONFIG_DIR", default_value = "config")]
    config_dir: PathBuf,
    /// Profile: reads CONFIG_DIR/PROFILE.toml over default.toml.
    #[arg(long = "env", env = "APP_ENV", default_value = notes_service::config::DEFAULT_PROFILE)]
    profile: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (what runs without a command).
    Serve,
    /// Run job workers only (jobs.workers of them): no API. Serves /health/live,
    /// /health/ready and /metrics on the configured address, for probes and scrapes.
    Worker,
    /// Probe a running service's /health/ready on 127.0.0.1 and the configured port; exit 0
    /// when it answers 200. For container health checks: no curl needed.
    Healthcheck {
        /// Port to probe; default: server.port from the configuration.
        #[arg(long)]
        port: Option<u16>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(&cli.config_dir, &cli.profile) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("notes-service: {err}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Healthcheck { port }) = cli.command {
        let port = port.unwrap_or(settings.server.port);
        return match notes_service::probe::ready(port).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("notes-service healthcheck: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let telemetry = match telemetry::init(&settings.log) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("notes-service: {err}");
            return ExitCode::from(2);
        }
    };
    let database = settings.database.url.to_string();
    let worker = matches!(cli.command, Some(Command::Worker));
    let built = if worker {
        Application::build_worker(settings).await
    } else {
        Application::build(settings).await
    };
    let app = match built {
        Ok(app) => app,
        Err(err) => {
            tracing::error!("cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = shutdown_signal();
    tracing::info!(
        profile = %cli.profile,
        database = %database,
        role = if worker { "worker" } else { "api" },
        "listening on http://{}",
        app.local_addr()
    );
    if let Some(address) = app.metrics_addr() {
        tracing::info!("metrics on http://{address}/metrics");
    }
    app.run_until_stop(shutdown).await;
    // After the server has stopped: the spans of the last requests are still queued.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Resolves on SIGTERM (what `docker stop` and Kubernetes send: drain first) or SIGINT
/// (Ctrl-C: someone at a terminal wants it to stop now). The handlers are installed when this
/// is called, not when it is first polled: a SIGTERM that arrives right after the "listening"
/// line must stop the service gracefully, not kill it.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = Stop> {
    use tokio::signal::unix::{Signal, SignalKind, signal};

    async fn received(signal: Option<Signal>) {
        match signal {
            Some(mut signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    let terminate = signal(SignalKind::terminate()).ok();
    let interrupt = signal(SignalKind::interrupt()).ok();
    async move {
        let (signal, stop) = tokio::select! {
            () = received(terminate) => ("SIGTERM", Stop::Drain),
            () = received(interrupt) => ("SIGINT", Stop::Now),
        };
        tracing::info!(signal, "shutdown signal received");
        stop
    }
}

#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = Stop> {
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received");
        Stop::Now
    }
}
