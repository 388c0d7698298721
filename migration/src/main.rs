//! The `migration` binary: `up`, `down`, `status`, `fresh`, `refresh`, `reset`, ...
//!
//! It finds the same database as the service for the same environment: `-u URL`, else
//! `DATABASE_URL`, else `APP__DATABASE__URL`, else `database.url` from the service's config
//! files (`config/default.toml` < `config/$APP_ENV.toml` < `config/local.toml`).
//! This lookup is repeated here on purpose: the migration crate depends on nothing of the service.

use std::{process::ExitCode, time::Duration};

use migration::Migrator;
use sea_orm_migration::{
    cli,
    sea_orm::{ConnectOptions, Database, DbConn, DbErr},
};

fn main() -> ExitCode {
    let explicit_url = std::env::args().any(|a| a == "-u" || a.starts_with("--database-url"));
    if !explicit_url && std::env::var_os("DATABASE_URL").is_none() {
        match migration::config_database_url() {
            // Safety: no other thread exists yet (the runtime is built below).
            Ok(Some(url)) => unsafe { std::env::set_var("DATABASE_URL", url) },
            Ok(None) => {}
            Err(message) => {
                eprintln!("migration: {message}");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("migration: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    // run_cli exits with a non-zero code itself when a migration fails.
    runtime.block_on(cli::run_cli_with_connection(Migrator, connect));
    ExitCode::SUCCESS
}

async fn connect(mut options: ConnectOptions) -> Result<DbConn, DbErr> {
    eprintln!(
        "migration: database {}",
        migration::redact_url(options.get_url())
    );
    migration::prepare_sqlite_file(options.get_url())
        .map_err(|err| DbErr::Custom(format!("cannot create the SQLite directory: {err}")))?;
    // Fail within seconds on an unreachable server (sqlx would retry for 30 s).
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10));
    #[cfg(feature = "sqlite")]
    options.map_sqlx_sqlite_opts(|o| o.create_if_missing(true));
    Database::connect(options).await
}
