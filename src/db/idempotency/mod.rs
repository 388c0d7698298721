//! Idempotency keys in the database: a key's row is written with its request's response, in
//! the transaction of that request's write, so both commit or neither does; a request that
//! fails or crashes leaves no row, and its retry runs again. A retry finds the stored
//! response; a concurrent request with the key waits at the unique index for the first one's
//! outcome. Rows expire after their TTL and are purged in bounded batches, safely from any
//! number of replicas. These functions know nothing of HTTP: a response is a status, headers
//! and bytes. (Rows also have a lease, `lock_token` and `locked_until`: versions before
//! December 2026 reserved a key with a committed row first. Rows written now hold it spent.)

mod entity;

use std::time::Duration;

use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TryInsertResult,
    sea_query::{Expr, OnConflict},
};

use self::entity::{ActiveModel, Column, Entity as Keys};
use super::{clock::now, errors::unique_violation};

/// A response as stored: replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// The headers that matter (`Location`, `ETag`, `Content-Type`), in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A key, as the request that uses it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse<'a> {
    /// The owner's `sub`, or "" when every caller shares one space.
    pub owner: &'a str,
    pub key: &'a str,
    /// Of method, path and body: a key reused for another request is refused.
    pub fingerprint: &'a str,
}

/// What storing a key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The key is stored with this request's response: commit.
    Saved,
    /// The key belongs to a request that committed first: roll back, and see [`earlier`].
    Taken,
}

/// Stores `key` with the `response` of its request, on `txn`: the transaction of the
/// request's write, after the write, so that the key and the write commit together or not at
/// all, and a crash leaves nothing behind. A concurrent request holding the same key
/// uncommitted makes this wait at the unique index for its outcome: if it commits, `Taken`;
/// if it rolls back, this one stores. A row that no longer holds the key (expired and not
/// purged yet, or reserved by an earlier version of the service past its lease) is taken over.
pub async fn store(
    txn: &impl ConnectionTrait,
    key: &KeyUse<'_>,
    response: &StoredResponse,
    ttl: Duration,
) -> Result<Stored, DbErr> {
    let now = now();
    let headers = serde_json::to_string(&response.headers).unwrap_or_else(|_| "[]".to_owned());
    let status = i16::try_from(response.status).unwrap_or(i16::MAX);
    let row = ActiveModel {
        owner: Set(key.owner.to_owned()),
        idempotency_key: Set(key.key.to_owned()),
        fingerprint: Set(key.fingerprint.to_owned()),
        status: Set(Some(status)),
        headers: Set(Some(headers.clone())),
        body: Set(Some(response.body.clone())),
        lock_token: Set(String::new()),
        locked_until: Set(now),
        created_at: Set(now),
        expires_at: Set(now + ttl),
        ..Default::default()
    };
    let inserted = if txn.get_database_backend() == DbBackend::MySql {
        // A duplicate key fails only the statement on MySQL/MariaDB (the transaction goes
        // on), and its `ON DUPLICATE KEY UPDATE id = id` stand-in for DO NOTHING counts the
        // found row as affected under sqlx's CLIENT_FOUND_ROWS: catch the error instead.
        match Keys::insert(row).exec_without_returning(txn).await {
            Ok(_) => true,
            Err(err) if unique_violation(&err).is_some() => false,
            Err(err) => return Err(err),
        }
    } else {
        // PostgreSQL aborts a transaction at its first error: DO NOTHING keeps it usable.
        let on_conflict = OnConflict::columns([Column::Owner, Column::IdempotencyKey])
            .do_nothing()
            .to_owned();
        matches!(
            Keys::insert(row)
                .on_conflict(on_conflict)
                .try_insert()
                .exec_without_returning(txn)
                .await?,
            TryInsertResult::Inserted(n) if n > 0
        )
    };
    if inserted {
        return Ok(Stored::Saved);
    }
    // The row as committed (a locking read: MySQL's plain read would see this transaction's
    // snapshot, from before the first request committed). A shared lock, because the
    // requests that waited for the first one all hold one now: an update here would make
    // them deadlock. Only a row that no longer holds the key is updated.
    let current = Keys::find()
        .filter(Column::Owner.eq(key.owner))
        .filter(Column::IdempotencyKey.eq(key.key))
        .lock_shared()
        .one(txn)
        .await?;
    let free = |row: &entity::Model| {
        row.expires_at <= now || (row.status.is_none() && row.locked_until <= now)
    };
    let Some(row) = current.filter(free) else {
        return Ok(Stored::Taken);
    };
    // One statement that checks again, so that of two requests taking a row over one wins.
    let taken_over = Keys::update_many()
        .col_expr(Column::Fingerprint, Expr::value(key.fingerprint))
        .col_expr(Column::Status, Expr::value(Some(status)))
        .col_expr(Column::Headers, Expr::value(Some(headers)))
        .col_expr(Column::Body, Expr::value(Some(response.body.clone())))
        .col_expr(Column::LockToken, Expr::value(""))
        .col_expr(Column::LockedUntil, Expr::value(now))
        .col_expr(Column::CreatedAt, Expr::value(now))
        .col_expr(Column::ExpiresAt, Expr::value(now + ttl))
        .filter(Column::Id.eq(row.id))
        .filter(Column::LockedUntil.eq(row.locked_until))
        .filter(Column::ExpiresAt.eq(row.expires_at))
        .exec(txn)
        .await?;
    Ok(if taken_over.rows_affected == 1 {
        Stored::Saved
    } else {
        Stored::Taken
    })
}

/// What a request that used a key before left.
#[derive(Debug, PartialEq, Eq)]
pub enum Earlier {
    /// It succeeded with the same request: its response.
    Done(StoredResponse),
    /// It was another request (another fingerprint).
    OtherRequest,
    /// Nothing that decides: no live row, or one an earlier version of the service still
    /// holds reserved (its lease has not run out).
    Undecided,
}

/// What the request that used `key` before left, as committed.
pub async fn earlier(db: &impl ConnectionTrait, key: &KeyUse<'_>) -> Result<Earlier, DbErr> {
    let row = Keys::find()
        .filter(Column::Owner.eq(key.owner))
        .filter(Column::IdempotencyKey.eq(key.key))
        .filter(Column::ExpiresAt.gt(now()))
        .one(db)
        .await?;
    Ok(match row {
        Some(row) if row.fingerprint != key.fingerprint => Earlier::OtherRequest,
        Some(entity::Model {
            status: Some(status),
            headers,
            body,
            ..
        }) => Earlier::Done(stored(status, headers, body)),
        _ => Earlier::Undecided,
    })
}

/// Deletes up to `batch` expired keys; returns how many went. Replicas may purge at once:
/// each deletes by id what it found, and a row deleted twice is deleted once.
pub async fn purge_expired(db: &impl ConnectionTrait, batch: u64) -> Result<u64, DbErr> {
    let expired: Vec<i64> = Keys::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::ExpiresAt.lt(now()))
        .order_by_asc(Column::ExpiresAt)
        .limit(batch)
        .into_tuple()
        .all(db)
        .await?;
    if expired.is_empty() {
        return Ok(0);
    }
    let deleted = Keys::delete_many()
        .filter(Column::Id.is_in(expired))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}

fn stored(status: i16, headers: Option<String>, body: Option<Vec<u8>>) -> StoredResponse {
    StoredResponse {
        status: u16::try_from(status).unwrap_or(500),
        headers: headers
            .and_then(|headers| serde_json::from_str(&headers).ok())
            .unwrap_or_default(),
        body: body.unwrap_or_default(),
    }
}

/// Purges expired keys every `interval`, a batch at a time until none is left, on its own
/// task; abort the handle to stop it. Failures are logged and tried again next time.
pub fn purge_in_background(
    db: impl ConnectionTrait + Send + 'static,
    interval: Duration,
    batch: u64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            loop {
                match purge_expired(&db, batch).await {
                    Ok(deleted) if deleted >= batch => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "purging expired idempotency keys failed");
                        break;
                    }
                }
            }
        }
    })
}
