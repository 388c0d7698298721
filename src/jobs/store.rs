//! The queue's database functions. They take a connection (or a transaction: `enqueue` in the
//! caller's, so a job commits or rolls back with the write that made it) and know nothing of
//! workers. A claimed job is identified by its id and its attempt number: every statement that
//! finishes an attempt is guarded by both, so a worker whose lease ran out (and whose job was
//! claimed again, which raised the attempt number) changes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, ExprTrait,
    IsolationLevel, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionSession, TransactionTrait,
    sea_query::{Expr, LockBehavior, LockType},
};

use super::{
    entity::{ActiveModel, Column, Entity as Jobs, Model},
    job::NewJob,
};
use crate::db::clock::now;

/// A job's state, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for `run_at`.
    Pending,
    /// Claimed by a worker until `lease_until`.
    Running,
    /// Out of attempts, or given up: kept until retried by hand.
    Dead,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Dead => "dead",
        }
    }
}

/// The longest `last_error` kept, in characters.
const MAX_ERROR_CHARS: usize = 2000;

/// Inserts `job` on `db`: pass the transaction of the write that makes it. Returns its id.
/// Once committed, call [`super::Wake::wake`] so that this process's workers look at once.
pub async fn enqueue(db: &impl ConnectionTrait, job: &NewJob) -> Result<i64, DbErr> {
    let now = now();
    let inserted = Jobs::insert(ActiveModel {
        kind: Set(job.kind.to_owned()),
        payload: Set(job.payload.clone()),
        state: Set(State::Pending.as_str().to_owned()),
        attempts: Set(0),
        max_attempts: Set(job
            .max_attempts
            .map(|n| i32::try_from(n).unwrap_or(i32::MAX))),
        run_at: Set(job.run_at.unwrap_or(now)),
        lease_until: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(db)
    .await?;
    Ok(inserted.last_insert_id)
}

/// A job a worker holds: attempt number `attempt` of it, until its lease ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    /// This attempt's number, from 1; with `id`, what proves the job is still this worker's.
    pub attempt: i32,
    pub max_attempts: Option<i32>,
}

/// Claims up to `limit` jobs for `lease`: due pending jobs, oldest first, and running jobs
/// whose lease ran out (their worker died). In one transaction: PostgreSQL and MySQL/MariaDB
/// lock the rows with `FOR UPDATE SKIP LOCKED`, so concurrent claims (other workers, other
/// processes) skip each other's jobs instead of waiting; SQLite has one writer, taken at
/// `BEGIN IMMEDIATE`.
pub async fn claim(
    db: &(impl ConnectionTrait + TransactionTrait),
    limit: u64,
    lease: Duration,
) -> Result<Vec<Claimed>, DbErr> {
    let txn = db
        .begin_with_options(claim_options(db.get_database_backend()))
        .await?;
    let now = now();
    // Two queries, not one with OR: each is an index range scan that stops at `limit`, where
    // the OR made PostgreSQL and SQLite read and sort every due job on each claim (a claim
    // from a backlog of 15,000 took milliseconds, and the drain slowed as the backlog grew).
    let mut rows: Vec<ClaimRow> = claim_query(expired_leases(now), limit)
        .into_tuple()
        .all(&txn)
        .await?;
    let wanted = limit.saturating_sub(rows.len() as u64);
    if wanted > 0 {
        rows.extend(
            claim_query(due(now), wanted)
                .into_tuple::<ClaimRow>()
                .all(&txn)
                .await?,
        );
    }
    if rows.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    Jobs::update_many()
        .col_expr(Column::State, Expr::value(State::Running.as_str()))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .col_expr(Column::LeaseUntil, Expr::value(Some(now + lease)))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.is_in(rows.iter().map(|row| row.0)))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(rows
        .into_iter()
        .map(|(id, kind, payload, attempts, max_attempts)| Claimed {
            id,
            kind,
            payload,
            attempt: attempts + 1,
            max_attempts,
        })
        .collect())
}

/// A claimed job's columns: id, kind, payload, attempts, max_attempts.
type ClaimRow = (i64, String, String, i32, Option<i32>);

/// Pending jobs that are due: `idx_jobs_state_run_at`, in order.
fn due(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(Column::State.eq(State::Pending.as_str()))
        .add(Column::RunAt.lte(now))
}

/// Running jobs whose worker's lease ran out (few: at most one per worker of every process).
fn expired_leases(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(Column::State.eq(State::Running.as_str()))
        .add(Column::LeaseUntil.lt(now))
}

/// The claim's two SELECTs as `backend` runs them (the query-plan test checks that each is an
/// index range search in order, whatever the backlog).
pub fn claim_statements(backend: DbBackend, now: DateTime<Utc>, limit: u64) -> [Statement; 2] {
    [expired_leases(now), due(now)].map(|claimable| claim_query(claimable, limit).build(backend))
}

/// The claim's SELECT: claimable jobs, oldest first, locked (SQLite's builder writes no
/// lock clause: its transaction holds the database's write lock already).
fn claim_query(claimable: Condition, limit: u64) -> Select<Jobs> {
    Jobs::find()
        .select_only()
        .columns([
            Column::Id,
            Column::Kind,
            Column::Payload,
            Column::Attempts,
            Column::MaxAttempts,
        ])
        .filter(claimable)
        .order_by_asc(Column::RunAt)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
}

/// SQLite: take the write lock at `BEGIN`, not at the first write (a deferred transaction
/// that upgrades fails at once with SQLITE_BUSY when another writer is active).
/// MySQL/MariaDB: READ COMMITTED, so that the claim locks the rows it takes, not the gaps
/// between index entries that its scan passed (REPEATABLE READ would, and make concurrent
/// enqueues wait for it). PostgreSQL reads committed by default.
fn claim_options(backend: DbBackend) -> TransactionOptions {
    match backend {
        DbBackend::Sqlite => TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        },
        DbBackend::MySql => TransactionOptions {
            isolation_level: Some(IsolationLevel::ReadCommitted),
            ..Default::default()
        },
        _ => TransactionOptions::default(),
    }
}

/// The guard of every statement that finishes an attempt: still this attempt, still running.
fn held(job: &Claimed) -> Condition {
    Condition::all()
        .add(Column::Id.eq(job.id))
        .add(Column::Attempts.eq(job.attempt))
        .add(Column::State.eq(State::Running.as_str()))
}

/// The attempt succeeded: the job goes. `false` if it was no longer this worker's.
pub async fn complete(db: &impl ConnectionTrait, job: &Claimed) -> Result<bool, DbErr> {
    let deleted = Jobs::delete_many().filter(held(job)).exec(db).await?;
    Ok(deleted.rows_affected == 1)
}

/// The attempt failed: pending again, not before `run_at`. `false` if it was no longer this
/// worker's.
pub async fn retry_at(
    db: &impl ConnectionTrait,
    job: &Claimed,
    run_at: DateTime<Utc>,
    error: &str,
) -> Result<bool, DbErr> {
    let updated = Jobs::update_many()
        .col_expr(Column::State, Expr::value(State::Pending.as_str()))
        .col_expr(Column::RunAt, Expr::value(run_at))
        .col_expr(
            Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::LastError, Expr::value(Some(truncated(error))))
        .col_expr(Column::UpdatedAt, Expr::value(now()))
        .filter(held(job))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// The attempt failed for the last time (or for good): the job is dead, kept with its error.
/// `false` if it was no longer this worker's.
pub async fn bury(db: &impl ConnectionTrait, job: &Claimed, error: &str) -> Result<bool, DbErr> {
    let updated = Jobs::update_many()
        .col_expr(Column::State, Expr::value(State::Dead.as_str()))
        .col_expr(
            Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::LastError, Expr::value(Some(truncated(error))))
        .col_expr(Column::UpdatedAt, Expr::value(now()))
        .filter(held(job))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// The worker gives the job back unfinished (it is stopping): pending again at once, this
/// attempt not counted. `false` if it was no longer this worker's.
pub async fn release(db: &impl ConnectionTrait, job: &Claimed) -> Result<bool, DbErr> {
    let updated = Jobs::update_many()
        .col_expr(Column::State, Expr::value(State::Pending.as_str()))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).sub(1))
        .col_expr(Column::RunAt, Expr::value(now()))
        .col_expr(
            Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::UpdatedAt, Expr::value(now()))
        .filter(held(job))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Queues dead job `id` again, its attempts reset (its last error kept until it runs).
/// `false` if there is no such dead job.
pub async fn retry_dead(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    let now = now();
    let updated = Jobs::update_many()
        .col_expr(Column::State, Expr::value(State::Pending.as_str()))
        .col_expr(Column::Attempts, Expr::value(0))
        .col_expr(Column::RunAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::State.eq(State::Dead.as_str()))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Job `id` as stored; `None` once it succeeded (or never existed).
pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<Option<Model>, DbErr> {
    Jobs::find_by_id(id).one(db).await
}

/// The queue at a glance, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    pub pending: i64,
    pub running: i64,
    pub dead: i64,
    /// How long the longest-waiting due pending job has waited past its `run_at` (zero when
    /// none is due): how far the workers are behind.
    pub oldest_due_age: Duration,
}

/// Counts the jobs by state, in one statement (an index-only scan of `idx_jobs_state_run_at`).
pub async fn stats(db: &impl ConnectionTrait) -> Result<Stats, DbErr> {
    let rows: Vec<(String, i64, Option<DateTime<Utc>>)> = Jobs::find()
        .select_only()
        .column(Column::State)
        .column_as(Expr::col(Column::Id).count(), "count")
        .column_as(Expr::col(Column::RunAt).min(), "oldest")
        .group_by(Column::State)
        .into_tuple()
        .all(db)
        .await?;
    let mut stats = Stats::default();
    for (state, count, oldest) in rows {
        match state.as_str() {
            "pending" => {
                stats.pending = count;
                // The earliest run_at of all pending jobs: in the past only if one is due.
                stats.oldest_due_age = oldest
                    .and_then(|at| (now() - at).to_std().ok())
                    .unwrap_or_default();
            }
            "running" => stats.running = count,
            "dead" => stats.dead = count,
            _ => {}
        }
    }
    Ok(stats)
}

fn truncated(error: &str) -> String {
    match error.char_indices().nth(MAX_ERROR_CHARS) {
        Some((end, _)) => format!("{}…", &error[..end]),
        None => error.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claim_skips_locked_rows_on_servers_and_relies_on_the_write_lock_on_sqlite() {
        for backend in [DbBackend::Postgres, DbBackend::MySql] {
            for statement in claim_statements(backend, now(), 4) {
                let sql = statement.to_string();
                assert!(sql.ends_with("FOR UPDATE SKIP LOCKED"), "{sql}");
            }
        }
        for statement in claim_statements(DbBackend::Sqlite, now(), 4) {
            assert!(!statement.to_string().contains("FOR UPDATE"));
        }
    }
}
