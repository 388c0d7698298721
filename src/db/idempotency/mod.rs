//! Idempotency keys in the database: a key is reserved by the request that first uses it
//! (a committed row with a lease), completed with that request's response in the same
//! transaction as its write, or released when the request fails so that a retry runs again.
//! A retry finds the stored response; a key still reserved by a live lease is in flight; a
//! lease that ran out (its holder crashed, or its transaction never committed) is taken over.
//! Rows expire after their TTL and are purged in bounded batches, safely from any number of
//! replicas. These functions know nothing of HTTP: a response is a status, headers and bytes.

mod entity;

use std::time::Duration;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
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

/// What reserving a key found.
#[derive(Debug, PartialEq, Eq)]
pub enum Reservation {
    /// The key is this request's now, under this lease token.
    Reserved { token: String },
    /// An earlier request with the key succeeded: its response.
    Done(StoredResponse),
    /// An earlier request with the key still runs (its lease has not run out).
    InFlight,
    /// The key was used for another request (another fingerprint).
    OtherRequest,
}

/// Reserves `key` for `lease` (how long the request may run), to be kept for `ttl`.
pub async fn reserve(
    db: &impl ConnectionTrait,
    key: &KeyUse<'_>,
    lease: Duration,
    ttl: Duration,
) -> Result<Reservation, DbErr> {
    let token = uuid::Uuid::new_v4().to_string();
    if try_insert(db, key, &token, lease, ttl).await? {
        return Ok(Reservation::Reserved { token });
    }
    // The key exists. Each turn of this loop either decides, or lost a race with another
    // request changing the row; three turns are plenty.
    for _ in 0..3 {
        let Some(row) = find(db, key).await? else {
            // Purged meanwhile: the key is free.
            if try_insert(db, key, &token, lease, ttl).await? {
                return Ok(Reservation::Reserved { token });
            }
            continue;
        };
        let now = now();
        let take_over = || take_over(db, row.id, key, &token, lease, ttl);
        if row.expires_at <= now {
            // Expired: the key is free again, for any request.
            if take_over().await? {
                return Ok(Reservation::Reserved { token });
            }
        } else if row.fingerprint != key.fingerprint {
            return Ok(Reservation::OtherRequest);
        } else if let (Some(status), headers, body) = (row.status, row.headers, row.body) {
            return Ok(Reservation::Done(stored(status, headers, body)));
        } else if row.locked_until > now {
            return Ok(Reservation::InFlight);
        } else if take_over().await? {
            // The first request's lease ran out without a response: it crashed or failed.
            return Ok(Reservation::Reserved { token });
        }
    }
    Ok(Reservation::InFlight)
}

async fn find(db: &impl ConnectionTrait, key: &KeyUse<'_>) -> Result<Option<entity::Model>, DbErr> {
    Keys::find()
        .filter(Column::Owner.eq(key.owner))
        .filter(Column::IdempotencyKey.eq(key.key))
        .one(db)
        .await
}

/// Inserts the key's row, reserved under `token`; `false` if the key has a row already.
async fn try_insert(
    db: &impl ConnectionTrait,
    key: &KeyUse<'_>,
    token: &str,
    lease: Duration,
    ttl: Duration,
) -> Result<bool, DbErr> {
    let now = now();
    let insert = Keys::insert(ActiveModel {
        owner: Set(key.owner.to_owned()),
        idempotency_key: Set(key.key.to_owned()),
        fingerprint: Set(key.fingerprint.to_owned()),
        status: Set(None),
        headers: Set(None),
        body: Set(None),
        lock_token: Set(token.to_owned()),
        locked_until: Set(now + lease),
        created_at: Set(now),
        expires_at: Set(now + ttl),
        ..Default::default()
    });
    match insert.exec_without_returning(db).await {
        Ok(_) => Ok(true),
        Err(err) if unique_violation(&err).is_some() => Ok(false),
        Err(err) => Err(err),
    }
}

/// Takes row `id` over for this request if it is still free (expired, or in flight with its
/// lease run out): one statement, so of two requests taking it over one wins.
async fn take_over(
    db: &impl ConnectionTrait,
    id: i64,
    key: &KeyUse<'_>,
    token: &str,
    lease: Duration,
    ttl: Duration,
) -> Result<bool, DbErr> {
    let now = now();
    let free = Condition::any().add(Column::ExpiresAt.lte(now)).add(
        Condition::all()
            .add(Column::Status.is_null())
            .add(Column::LockedUntil.lte(now)),
    );
    let updated = Keys::update_many()
        .col_expr(Column::Fingerprint, Expr::value(key.fingerprint))
        .col_expr(Column::Status, Expr::value(Option::<i16>::None))
        .col_expr(Column::Headers, Expr::value(Option::<String>::None))
        .col_expr(Column::Body, Expr::value(Option::<Vec<u8>>::None))
        .col_expr(Column::LockToken, Expr::value(token))
        .col_expr(Column::LockedUntil, Expr::value(now + lease))
        .col_expr(Column::CreatedAt, Expr::value(now))
        .col_expr(Column::ExpiresAt, Expr::value(now + ttl))
        .filter(Column::Id.eq(id))
        .filter(free)
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Stores the response of the request holding the key's lease `token`; run it in the
/// transaction of the request's write. `false` if the lease was lost (taken over after it
/// ran out): then nothing may be committed.
pub async fn complete(
    txn: &impl ConnectionTrait,
    key: &KeyUse<'_>,
    token: &str,
    response: StoredResponse,
) -> Result<bool, DbErr> {
    let headers = serde_json::to_string(&response.headers).unwrap_or_else(|_| "[]".to_owned());
    let status = i16::try_from(response.status).unwrap_or(i16::MAX);
    let updated = Keys::update_many()
        .col_expr(Column::Status, Expr::value(Some(status)))
        .col_expr(Column::Headers, Expr::value(Some(headers)))
        .col_expr(Column::Body, Expr::value(Some(response.body)))
        .filter(Column::Owner.eq(key.owner))
        .filter(Column::IdempotencyKey.eq(key.key))
        .filter(Column::LockToken.eq(token))
        .filter(Column::Status.is_null())
        .exec(txn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Gives the key up after a request that stored nothing (a refusal, a failure), so that a
/// retry runs again. If this does not happen (a crash), the lease runs out instead.
pub async fn release(
    db: &impl ConnectionTrait,
    key: &KeyUse<'_>,
    token: &str,
) -> Result<(), DbErr> {
    Keys::delete_many()
        .filter(Column::Owner.eq(key.owner))
        .filter(Column::IdempotencyKey.eq(key.key))
        .filter(Column::LockToken.eq(token))
        .filter(Column::Status.is_null())
        .exec(db)
        .await
        .map(|_| ())
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
