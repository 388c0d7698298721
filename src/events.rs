//! Events: what changed, as other systems are told (webhooks). An event is emitted in the
//! transaction of the change it reports, so it commits or rolls back with it (a
//! transactional outbox): a refused or rolled-back write sends nothing, a committed one is
//! never lost. A resource emits one line per write:
//!
//! ```ignore
//! let txn = db.begin().await?;
//! let note = store::create(&txn, owner, input).await?;
//! let sent = events::emit(&txn, owner, NOTE_CREATED, &versioned(&note)).await?;
//! txn.commit().await?;
//! events::committed(&wake, sent); // after the commit: the workers look at once
//! ```
//!
//! The body is `{"type", "timestamp", "data"}`; `data` is the item as the API returns it,
//! with its `version` (receivers drop stale events by it), or `{"id": N}` for a delete.

use chrono::SecondsFormat;
use sea_orm::{ConnectionTrait, DbErr};
use serde::Serialize;

pub use crate::webhooks::events::EventType;
use crate::{
    db::{clock::now, owner::Owner},
    jobs::Wake,
    webhooks::deliveries,
};

/// An item as its API returns it, with its version: an event's `data`.
#[derive(Debug, Serialize)]
pub struct Versioned<T> {
    #[serde(flatten)]
    pub item: T,
    pub version: i64,
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    #[serde(rename = "type")]
    event: EventType,
    timestamp: String,
    data: &'a T,
}

/// Emits `event` about `data` on `db`, which must be the transaction of the change it
/// reports: one delivery (and one job) per subscription of `owner` that wants it. Returns
/// how many; pass it to [`committed`] after the commit.
pub async fn emit(
    db: &impl ConnectionTrait,
    owner: &Owner,
    event: EventType,
    data: &impl Serialize,
) -> Result<usize, DbErr> {
    let body = serde_json::to_string(&Envelope {
        event,
        timestamp: now().to_rfc3339_opts(SecondsFormat::Micros, true),
        data,
    })
    .map_err(|err| DbErr::Json(format!("an event's body: {err}")))?;
    deliveries::fan_out(db, owner, event, &body).await
}

/// After the commit of a transaction that emitted `sent` deliveries: wakes this process's
/// job workers if there is anything to send.
pub fn committed(wake: &Wake, sent: usize) {
    if sent > 0 {
        wake.wake();
    }
}
