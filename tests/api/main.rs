//! The service's test suite, one binary (one link of the whole service instead of one per
//! suite): a module per concern, sharing the harness in `common`. Backend tests are named
//! `suite::sqlite::test`, `suite::postgres::test`, `suite::mariadb::test`.

#[macro_use]
mod common;

/// Every resource, listed once: the query-plan and documented-status suites cover each.
const RESOURCES: &[&common::resource::TestedResource] = &[&notes::RESOURCE, &webhooks::RESOURCE];

mod auth;
mod auth_harness;
mod conditional_requests;
mod config;
mod conflicts;
mod connection_budget;
mod cors;
mod delivery_guarantees;
mod drain;
mod idempotency;
mod jobs;
mod metrics;
mod migration_lock;
mod notes;
mod operations;
mod pagination;
mod parity;
mod pgbouncer;
mod process;
mod query_plans;
mod references;
mod replicas;
mod request_bodies;
mod resilience;
mod sqlite_wal;
mod tracing;
mod webhooks;
