//! notes-service: a notes API on poem-openapi and SeaORM, for SQLite, PostgreSQL and MySQL.
//!
//! Where things are: `config` (settings), `db` (connection, schema check, queries),
//! `api` (HTTP operations), `error` (every failure and its problem body), `telemetry`
//! (logs and request ids), `probe` (the `healthcheck` command), `app` (assembles all of it; used by `main.rs` and the tests).

pub mod api;
pub mod app;
pub mod config;
pub mod db;
pub mod error;
pub mod probe;
pub mod telemetry;
