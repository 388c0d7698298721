//! notes-service: a notes API on poem-openapi and SeaORM, for SQLite, PostgreSQL and MySQL.
//!
//! Where things are:
//! - `notes`: the example resource (entity, database functions, HTTP operations, its rules);
//! - `webhooks`: webhook subscriptions (a resource) and the delivery of events to them;
//! - `health`: liveness and readiness; `api`: the registry of API modules;
//! - `http`: HTTP plumbing every resource shares (errors, bodies, pagination, the spec);
//! - `db`: connecting, the schema check at start-up, keyset paging;
//! - `events`: a change's events, emitted in its transaction (plumbing: one line per write);
//! - `jobs`: the job queue in the database (plumbing), `job_kinds`: the kinds this service
//!   runs;
//! - `auth`: who calls (OpenID Connect bearer tokens, scopes, the caller's identity);
//! - `config`: settings; `telemetry`: logs, request ids and opt-in trace export; `metrics`:
//!   Prometheus metrics at `/metrics`; `probe`: the `healthcheck` command; `server`:
//!   HTTP/1.1 serving with its timeouts; `tls`: TLS for outgoing HTTP clients; `app`:
//!   assembles all of it (used by `main.rs` and the tests).

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod drain;
pub mod events;
pub mod health;
pub mod http;
pub mod job_kinds;
pub mod jobs;
pub mod metrics;
pub mod notes;
pub mod probe;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod webhooks;
