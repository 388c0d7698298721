//! Schema migrations for notes-service.
//!
//! This crate stands alone: it knows nothing of the service. The service links it to apply
//! or check migrations at start-up; operators run the `migration` binary (see `main.rs`).
//!
//! This file holds only what SeaORM's generator edits: the migration modules and the
//! [`Migrator`]'s list (`cd migration && cargo run -- generate NAME` adds one of each).
//! Connecting and the migration lock live in the modules below.

pub use sea_orm_migration::prelude::*;

pub mod columns;
pub mod connect;
pub mod database_url;
pub mod lock;
pub mod locking_migrator;

pub use connect::{connect, connect_single, prepare_sqlite_file, sqlite_file, up_exclusively};
pub use database_url::{config_database_url, redact_url};
pub use locking_migrator::LockingMigrator;

mod m20261124_000001_create_notes;
mod m20261125_000001_add_note_version;
mod m20261130_000001_add_note_owner;
mod m20261130_000002_create_idempotency_keys;
mod m20261207_000001_create_jobs;
mod m20261208_000001_create_webhooks;
mod m20261208_000002_create_webhook_deliveries;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_notes::Migration),
            Box::new(m20261125_000001_add_note_version::Migration),
            Box::new(m20261130_000001_add_note_owner::Migration),
            Box::new(m20261130_000002_create_idempotency_keys::Migration),
            Box::new(m20261207_000001_create_jobs::Migration),
            Box::new(m20261208_000001_create_webhooks::Migration),
            Box::new(m20261208_000002_create_webhook_deliveries::Migration),
        ]
    }
}
