//! The job queue (a transactional outbox): a job is inserted in the transaction of the write
//! that makes it, claimed by a worker under a lease, deleted when it succeeds, retried with
//! backoff when it fails, and kept as `dead` after its last attempt.

use crate::columns::utc_timestamp;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Jobs::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Jobs::Id))
                    // The job kind's name: which handler runs it.
                    .col(string_len(Jobs::Kind, 64))
                    // The handler's input, as JSON.
                    .col(text(Jobs::Payload))
                    // pending | running | dead (a job that succeeded is deleted).
                    .col(string_len(Jobs::State, 16))
                    // Attempts begun, the one running included.
                    .col(integer(Jobs::Attempts).default(0))
                    // NULL: the `jobs.max_attempts` of the process that runs it.
                    .col(integer_null(Jobs::MaxAttempts))
                    // When a pending job may be claimed (its next attempt).
                    .col(utc_timestamp(manager, Jobs::RunAt, false))
                    // When a running job's lease ends: past it, its worker is presumed dead
                    // and the job is claimed again.
                    .col(utc_timestamp(manager, Jobs::LeaseUntil, true))
                    .col(text_null(Jobs::LastError))
                    .col(utc_timestamp(manager, Jobs::CreatedAt, false))
                    .col(utc_timestamp(manager, Jobs::UpdatedAt, false))
                    .to_owned(),
            )
            .await?;
        // The claim looks for due pending jobs (state = 'pending' AND run_at <= now, oldest
        // first) and for running ones whose lease ran out (few: one per busy worker).
        manager
            .create_index(
                Index::create()
                    .name("idx_jobs_state_run_at")
                    .table(Jobs::Table)
                    .col(Jobs::State)
                    .col(Jobs::RunAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Jobs::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    Kind,
    Payload,
    State,
    Attempts,
    MaxAttempts,
    RunAt,
    LeaseUntil,
    LastError,
    CreatedAt,
    UpdatedAt,
}
