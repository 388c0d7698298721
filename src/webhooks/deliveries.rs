//! Database work on webhook deliveries: fanning an event out to the subscriptions that want
//! it (in the caller's transaction, with one job per delivery), recording each attempt's
//! outcome, listing a subscription's deliveries and queueing a dead one again.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Select,
    sea_query::Expr,
};
use serde::{Deserialize, Serialize};

use super::{
    delivery_entity::{self as delivery, ActiveModel, Entity as Deliveries, Listed, Model},
    events::EventType,
    store,
};
use crate::{
    db::{
        clock::now,
        keyset::{self, Page, PageSpec},
        owner::Owner,
    },
    jobs::{self, NewJob},
};

/// A delivery's state, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not yet delivered; tried again at `next_attempt_at`.
    Pending,
    Succeeded,
    /// Out of attempts, or refused for good (`410 Gone`, a disabled subscription): kept
    /// until retried by hand.
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Dead => "dead",
        }
    }
}

/// The job that sends one delivery: its payload (see `super::delivery::Deliver`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub delivery_id: i64,
}

/// The job kind's name, stored in every such job.
pub const JOB_KIND: &str = "webhook_delivery";

/// A delivery job's own attempt limit, above any `webhooks.max_attempts` (at most 100): the
/// delivery decides when it is dead; the job's limit only stops a handler that never ends
/// an attempt (panics, lease timeouts).
pub const JOB_MAX_ATTEMPTS: u32 = 200;

/// The longest `last_error` kept, in characters.
const MAX_ERROR_CHARS: usize = 500;

/// One delivery of `body` (an event of type `event`) to each of `owner`'s enabled
/// subscriptions that want it, each with its job; on `db`, which must be the transaction of
/// the change that made the event. Returns how many (wake the workers after the commit
/// when it is not 0).
pub async fn fan_out(
    db: &impl ConnectionTrait,
    owner: &Owner,
    event: EventType,
    body: &str,
) -> Result<usize, DbErr> {
    let subscriptions = store::subscribed(db, owner, event).await?;
    let now = now();
    for webhook_id in &subscriptions {
        let inserted = Deliveries::insert(ActiveModel {
            webhook_id: Set(*webhook_id),
            event_type: Set(event.as_str().to_owned()),
            payload: Set(body.to_owned()),
            message_id: Set(format!("msg_{}", uuid::Uuid::new_v4().simple())),
            status: Set(Status::Pending.as_str().to_owned()),
            attempts: Set(0),
            last_status: Set(None),
            last_error: Set(None),
            next_attempt_at: Set(Some(now)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .exec(db)
        .await?;
        enqueue(db, inserted.last_insert_id).await?;
    }
    Ok(subscriptions.len())
}

/// The job that sends delivery `id`, on `db` (the transaction that makes or revives it).
async fn enqueue(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    let payload = serde_json::to_string(&DeliveryJob { delivery_id: id })
        .map_err(|err| DbErr::Json(err.to_string()))?;
    let job = NewJob {
        kind: JOB_KIND,
        payload,
        run_at: None,
        max_attempts: Some(JOB_MAX_ATTEMPTS),
    };
    jobs::enqueue(db, &job).await.map(|_| ())
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<Option<Model>, DbErr> {
    Deliveries::find_by_id(id).one(db).await
}

fn of_webhook(webhook_id: i64) -> Select<Deliveries> {
    Deliveries::find().filter(delivery::Column::WebhookId.eq(webhook_id))
}

/// One page of a subscription's deliveries, in id order (index
/// `idx_webhook_deliveries_webhook_id`). The caller checks the subscription is the owner's.
pub async fn list(
    db: &impl ConnectionTrait,
    webhook_id: i64,
    page: PageSpec,
) -> Result<Page<Listed>, DbErr> {
    keyset::fetch(
        db,
        of_webhook(webhook_id),
        delivery::Column::Id,
        page,
        |d: &Listed| d.id,
    )
    .await
}

/// The query [`list`] runs, for inspecting its plan.
pub fn list_query(webhook_id: i64, page: PageSpec) -> Select<Deliveries> {
    keyset::select_page(of_webhook(webhook_id), delivery::Column::Id, page)
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    pub status: Status,
    /// The response's HTTP status, if there was one.
    pub http_status: Option<u16>,
    pub error: Option<String>,
    /// For a delivery still pending: when it is tried again.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Records attempt number `attempt` of pending delivery `id`. `false` if it was not pending
/// (retried by hand or finished meanwhile).
pub async fn record(
    db: &impl ConnectionTrait,
    id: i64,
    attempt: i32,
    outcome: &Attempted,
) -> Result<bool, DbErr> {
    let updated = Deliveries::update_many()
        .col_expr(
            delivery::Column::Status,
            Expr::value(outcome.status.as_str()),
        )
        .col_expr(delivery::Column::Attempts, Expr::value(attempt))
        .col_expr(
            delivery::Column::LastStatus,
            Expr::value(outcome.http_status.map(i32::from)),
        )
        .col_expr(
            delivery::Column::LastError,
            Expr::value(outcome.error.as_deref().map(truncated)),
        )
        .col_expr(
            delivery::Column::NextAttemptAt,
            Expr::value(outcome.next_attempt_at),
        )
        .col_expr(delivery::Column::UpdatedAt, Expr::value(now()))
        .filter(delivery::Column::Id.eq(id))
        .filter(delivery::Column::Status.eq(Status::Pending.as_str()))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// What a manual retry found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retried {
    /// Pending again, its attempts reset, with a new job.
    Queued,
    /// No such delivery of this subscription.
    Missing,
    /// It is not dead (pending or succeeded): nothing to retry.
    NotDead,
}

/// Queues dead delivery `id` of subscription `webhook_id` again, on `db` (a transaction:
/// the delivery and its new job commit together).
pub async fn retry(db: &impl ConnectionTrait, webhook_id: i64, id: i64) -> Result<Retried, DbErr> {
    let now = now();
    let updated = Deliveries::update_many()
        .col_expr(
            delivery::Column::Status,
            Expr::value(Status::Pending.as_str()),
        )
        .col_expr(delivery::Column::Attempts, Expr::value(0))
        .col_expr(delivery::Column::NextAttemptAt, Expr::value(Some(now)))
        .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
        .filter(delivery::Column::Id.eq(id))
        .filter(delivery::Column::WebhookId.eq(webhook_id))
        .filter(delivery::Column::Status.eq(Status::Dead.as_str()))
        .exec(db)
        .await?;
    if updated.rows_affected == 1 {
        enqueue(db, id).await?;
        return Ok(Retried::Queued);
    }
    let exists = of_webhook(webhook_id)
        .filter(delivery::Column::Id.eq(id))
        .one(db)
        .await?
        .is_some();
    Ok(match exists {
        true => Retried::NotDead,
        false => Retried::Missing,
    })
}

fn truncated(error: &str) -> String {
    match error.char_indices().nth(MAX_ERROR_CHARS) {
        Some((end, _)) => format!("{}…", &error[..end]),
        None => error.to_owned(),
    }
}
