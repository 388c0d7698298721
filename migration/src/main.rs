//! The `migration` binary: `up`, `down`, `status`, `fresh`, `refresh`, `reset`, ...
//!
//! It finds the same database as the service for the same environment: `-u URL`, else
//! `DATABASE_URL`, else `APP__DATABASE__URL`, else `database.url` from the service's config
//! files (`config/default.toml` < `config/$APP_ENV.toml` < `config/local.toml`).
//! This lookup is repeated here on purpose: the migration crate depends on nothing of the service.
//!
//! Every command that changes the schema holds the database-wide migration lock for its whole
//! run (see `migration::lock`), so replicas or jobs that migrate at once take turns.

use std::{process::ExitCode, time::Duration};

use migration::LockingMigrator;
use sea_orm_migration::{
    cli,
    sea_orm::{ConnectOptions, DbConn, DbErr},
};

fn main() -> ExitCode {
    if let Err(message) = generate_into_this_crate() {
        eprintln!("migration: {message}");
        return ExitCode::FAILURE;
    }
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
    let migrator = match LockingMigrator::from_env() {
        Ok(migrator) => migrator,
        Err(message) => {
            eprintln!("migration: {message}");
            return ExitCode::from(2);
        }
    };
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
    runtime.block_on(cli::run_cli_with_connection(migrator, connect));
    ExitCode::SUCCESS
}

/// `generate NAME` writes `src/<migration>.rs` and edits `src/lib.rs` under the current
/// directory. Run from anywhere else (the repository root), it would write into another
/// crate; so it always works on this crate's own sources when they are there (a source
/// checkout, as in `cargo run`), whatever the current directory.
fn generate_into_this_crate() -> Result<(), String> {
    let generating = std::env::args().skip(1).any(|arg| arg == "generate");
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    if !generating || !crate_dir.join("src/lib.rs").is_file() {
        return Ok(());
    }
    std::env::set_current_dir(crate_dir)
        .map_err(|err| format!("cannot enter {}: {err}", crate_dir.display()))
}

async fn connect(mut options: ConnectOptions) -> Result<DbConn, DbErr> {
    let url = migration::redact_url(options.get_url());
    eprintln!("migration: database {url}");
    if let Err(err) = migration::prepare_sqlite_file(options.get_url()) {
        fail(&format!(
            "cannot create the directory of the SQLite database {url}: {err}"
        ));
    }
    // Fail within seconds on an unreachable server (sqlx would retry for 30 s).
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10));
    // A statement that meets another writer (the service, or a `status` run) waits for it.
    #[cfg(feature = "sqlite")]
    options.map_sqlx_sqlite_opts(|o| {
        o.create_if_missing(true)
            .busy_timeout(Duration::from_secs(10))
    });
    match migration::connect_single(options).await {
        Ok(db) => Ok(db),
        // sea-orm-migration would panic ("Fail to acquire database connection", exit 101).
        Err(err) => fail(&format!("cannot connect to the database {url}: {err}")),
    }
}

/// One line on stderr and exit code 1, as sea-orm-migration does for a failed command.
fn fail(message: &str) -> ! {
    eprintln!("migration: {message}");
    std::process::exit(1)
}
