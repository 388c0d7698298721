//! Database work on webhook subscriptions. As for notes: functions that take a connection
//! and the [`Owner`] whose subscriptions they may see and change, and know nothing of HTTP.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter,
    QuerySelect, Select, TransactionTrait, sea_query::Expr,
};

use super::{
    entity::{self as webhook, ActiveModel, Entity as Webhooks, Listed, Model as Webhook},
    events::{self, EventType},
};
use crate::db::{
    clock::now,
    insert,
    keyset::{self, Page, PageSpec},
    owner::Owner,
    versioned::{self, Expected, Written},
};

/// How long the previous secret still signs deliveries after a rotation.
pub const ROTATION_OVERLAP: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The fields a client sets when creating or replacing a subscription.
#[derive(Debug, Clone)]
pub struct WebhookInput {
    pub url: String,
    pub events: Vec<EventType>,
    pub description: Option<String>,
    pub enabled: bool,
}

/// A partial update: `None` leaves the field as it is (`Some(None)` clears the description).
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub events: Option<Vec<EventType>>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

impl WebhookPatch {
    fn is_empty(&self) -> bool {
        self.url.is_none()
            && self.events.is_none()
            && self.description.is_none()
            && self.enabled.is_none()
    }
}

fn select(owner: &Owner) -> Select<Webhooks> {
    Webhooks::find().filter(owner.condition(webhook::Column::Owner))
}

/// One page of the owner's subscriptions, in id order (index `idx_webhooks_owner_id`).
pub async fn list(
    db: &impl ConnectionTrait,
    owner: &Owner,
    page: PageSpec,
) -> Result<Page<Listed>, DbErr> {
    keyset::fetch(
        db,
        select(owner),
        webhook::Column::Id,
        page,
        |w: &Listed| w.id,
    )
    .await
}

/// The query [`list`] runs, for inspecting its plan.
pub fn list_query(owner: &Owner, page: PageSpec) -> Select<Webhooks> {
    keyset::select_page(select(owner), webhook::Column::Id, page)
}

pub async fn get(
    db: &impl ConnectionTrait,
    owner: &Owner,
    id: i64,
) -> Result<Option<Webhook>, DbErr> {
    by_id(owner, id).one(db).await
}

/// Subscription `id` of `owner`, at any version.
fn by_id(owner: &Owner, id: i64) -> Select<Webhooks> {
    select(owner).filter(webhook::Column::Id.eq(id))
}

/// Creates a subscription that belongs to `owner`, signed with `secret`.
pub async fn create(
    db: &(impl ConnectionTrait + TransactionTrait),
    owner: &Owner,
    input: WebhookInput,
    secret: String,
) -> Result<Webhook, DbErr> {
    let now = now();
    let model = ActiveModel {
        owner: Set(owner.value()),
        url: Set(input.url),
        events: Set(events::store(&input.events)),
        description: Set(input.description),
        enabled: Set(input.enabled),
        secret: Set(secret),
        previous_secret: Set(None),
        previous_secret_expires_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    };
    insert::one(db, model).await
}

/// Replaces every field a client sets.
pub async fn replace(
    db: &(impl ConnectionTrait + TransactionTrait),
    owner: &Owner,
    id: i64,
    input: WebhookInput,
    expected: Expected<'_>,
) -> Result<Written<Webhook>, DbErr> {
    let patch = WebhookPatch {
        url: Some(input.url),
        events: Some(input.events),
        description: Some(input.description),
        enabled: Some(input.enabled),
    };
    update(db, owner, id, patch, expected).await
}

/// Changes the given fields and raises the version, only if the version is one of
/// `expected` (one `UPDATE`, as for notes). An empty patch changes nothing.
pub async fn update(
    db: &(impl ConnectionTrait + TransactionTrait),
    owner: &Owner,
    id: i64,
    patch: WebhookPatch,
    expected: Expected<'_>,
) -> Result<Written<Webhook>, DbErr> {
    if patch.is_empty() {
        return Ok(match get(db, owner, id).await? {
            Some(w) if versioned::allows(expected, w.version) => Written::Done(w),
            other => versioned::missed(other.map(|w| w.version)),
        });
    }
    let mut update = Webhooks::update_many()
        .col_expr(
            webhook::Column::Version,
            Expr::col(webhook::Column::Version).add(1),
        )
        .col_expr(webhook::Column::UpdatedAt, Expr::value(now()))
        .filter(webhook::Column::Id.eq(id))
        .filter(owner.condition(webhook::Column::Owner));
    if let Some(url) = patch.url {
        update = update.col_expr(webhook::Column::Url, Expr::value(url));
    }
    if let Some(types) = patch.events {
        update = update.col_expr(webhook::Column::Events, Expr::value(events::store(&types)));
    }
    if let Some(description) = patch.description {
        update = update.col_expr(webhook::Column::Description, Expr::value(description));
    }
    if let Some(enabled) = patch.enabled {
        update = update.col_expr(webhook::Column::Enabled, Expr::value(enabled));
    }
    if let Some(versions) = expected {
        update = update.filter(webhook::Column::Version.is_in(versions.iter().copied()));
    }
    versioned::update(db, update, by_id(owner, id), |w| w.version).await
}

/// Deletes the subscription (and, by the foreign key, its deliveries) if its version is one
/// of `expected`.
pub async fn delete(
    db: &impl ConnectionTrait,
    owner: &Owner,
    id: i64,
    expected: Expected<'_>,
) -> Result<Written<()>, DbErr> {
    let mut delete = Webhooks::delete_many()
        .filter(webhook::Column::Id.eq(id))
        .filter(owner.condition(webhook::Column::Owner));
    if let Some(versions) = expected {
        delete = delete.filter(webhook::Column::Version.is_in(versions.iter().copied()));
    }
    versioned::delete(db, delete, by_id(owner, id), |w| w.version).await
}

/// Replaces the secret with `secret`; the one it replaces still signs until the returned
/// time. `None` when the owner has no such subscription. The client-visible fields (and so
/// the version) do not change.
pub async fn rotate_secret(
    db: &impl ConnectionTrait,
    owner: &Owner,
    id: i64,
    secret: String,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let expires_at = now() + ROTATION_OVERLAP;
    // `previous_secret` first: MySQL/MariaDB assign left to right, each seeing the ones
    // before it, so it must read the secret before the secret changes.
    let updated = Webhooks::update_many()
        .col_expr(
            webhook::Column::PreviousSecret,
            Expr::col(webhook::Column::Secret),
        )
        .col_expr(
            webhook::Column::PreviousSecretExpiresAt,
            Expr::value(Some(expires_at)),
        )
        .col_expr(webhook::Column::Secret, Expr::value(secret))
        .filter(webhook::Column::Id.eq(id))
        .filter(owner.condition(webhook::Column::Owner))
        .exec(db)
        .await?;
    Ok((updated.rows_affected > 0).then_some(expires_at))
}

/// The ids of the owner's enabled subscriptions that want `event`.
pub async fn subscribed(
    db: &impl ConnectionTrait,
    owner: &Owner,
    event: EventType,
) -> Result<Vec<i64>, DbErr> {
    let rows: Vec<(i64, String)> = select(owner)
        .select_only()
        .column(webhook::Column::Id)
        .column(webhook::Column::Events)
        .filter(webhook::Column::Enabled.eq(true))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, stored)| events::wants(stored, event))
        .map(|(id, _)| id)
        .collect())
}

/// Turns a subscription off, whoever owns it (its receiver answered `410 Gone`).
pub async fn disable(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    Webhooks::update_many()
        .col_expr(webhook::Column::Enabled, Expr::value(false))
        .col_expr(
            webhook::Column::Version,
            Expr::col(webhook::Column::Version).add(1),
        )
        .col_expr(webhook::Column::UpdatedAt, Expr::value(now()))
        .filter(webhook::Column::Id.eq(id))
        .filter(webhook::Column::Enabled.eq(true))
        .exec(db)
        .await?;
    Ok(())
}

/// A subscription by id, whoever owns it (for its deliveries).
pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<Webhook>, DbErr> {
    Webhooks::find_by_id(id).one(db).await
}
