//! The webhook subscription operations: CRUD as for notes, and a secret rotation. Handlers
//! only translate: HTTP in, a `store` call, HTTP out. A URL is checked against private
//! networks (see `ssrf`) before it is stored.

use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    param::{Header, Path, Query},
};

use super::{
    bodies::{
        CreatedWebhook, Delivery, NewWebhook, RotatedSecret, Webhook, WebhookChanges,
        WebhookReplacement, WebhookUrl,
    },
    deliveries::{self, Retried},
    entity, secret, ssrf,
    store::{self, WebhookInput, WebhookPatch},
};
use crate::{
    auth::{Caller, Scope},
    config::WebhooksSettings,
    db::Db,
    http::{
        error::{ApiError, FieldError},
        error_docs::{Action, Create, Delete, List, Problems, Read, Requeue, Update},
        etag,
        json_body::ValidatedJson,
        json_response::SerdeJson,
        pagination::{Paged, Paging, SortOrder},
        resource::Resource,
        timestamp::Timestamp,
    },
    jobs::Wake,
};
use sea_orm::TransactionTrait;

/// How problems name the resource (`webhook-not-found`).
const WEBHOOK: Resource = Resource::new("webhook");

/// The scope a token needs to read webhook subscriptions and their deliveries.
pub struct ReadWebhooks;

impl Scope for ReadWebhooks {
    const NAME: &'static str = "webhooks:read";
}

/// The scope a token needs to create, change, delete subscriptions, rotate their secrets and
/// retry their deliveries.
pub struct WriteWebhooks;

impl Scope for WriteWebhooks {
    const NAME: &'static str = "webhooks:write";
}

#[derive(Tags)]
enum WebhooksTags {
    /// Webhook subscriptions: where note events are sent
    Webhooks,
}

pub struct WebhooksApi {
    db: Db,
    settings: WebhooksSettings,
}

impl WebhooksApi {
    pub fn new(db: Db, settings: WebhooksSettings) -> Self {
        Self { db, settings }
    }

    /// Refuses a URL the service may not send to (a 422 naming `url`).
    async fn check_url(&self, url: &WebhookUrl) -> Result<(), ApiError> {
        if self.settings.allow_private_networks {
            return Ok(());
        }
        ssrf::check(&url.0).await.map_err(|why| {
            ApiError::Validation(vec![FieldError::new(
                "url",
                format!(
                    "must not point at a private network: its host {why} (webhooks.allow_private_networks is off)"
                ),
            )])
        })
    }
}

#[derive(ApiResponse)]
enum CreateResponse {
    /// The created subscription, with its secret (shown only here).
    #[oai(status = 201)]
    Created(
        SerdeJson<CreatedWebhook>,
        /// Where the new subscription lives: `/webhooks/{id}`.
        #[oai(header = "Location")]
        String,
        /// Its entity tag, for `If-Match` on a later write.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
enum WebhookResponse {
    /// The subscription.
    #[oai(status = 200)]
    Ok(
        SerdeJson<Webhook>,
        /// Its entity tag: it changes whenever the subscription changes.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
enum ReadResponse {
    /// The subscription.
    #[oai(status = 200)]
    Ok(
        SerdeJson<Webhook>,
        /// Its entity tag: it changes whenever the subscription changes.
        #[oai(header = "ETag")]
        String,
    ),
    /// It has not changed since the entity tag in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
enum DeleteResponse {
    /// The subscription and its deliveries were deleted.
    #[oai(status = 204)]
    Deleted,
}

#[derive(ApiResponse)]
enum RetryResponse {
    /// Queued again: pending, its attempts reset.
    #[oai(status = 202)]
    Accepted,
}

#[derive(ApiResponse)]
enum RotateResponse {
    /// The new secret (shown only here).
    #[oai(status = 200)]
    Ok(SerdeJson<RotatedSecret>),
}

fn input(
    url: WebhookUrl,
    events: Vec<super::events::EventType>,
    description: Option<String>,
    enabled: bool,
) -> WebhookInput {
    WebhookInput {
        url: url.0.to_string(),
        events,
        description,
        enabled,
    }
}

fn new_secret() -> Result<String, ApiError> {
    secret::generate().map_err(|err| ApiError::Internal(format!("generating a secret: {err}")))
}

#[OpenApi(tag = "WebhooksTags::Webhooks")]
impl WebhooksApi {
    /// List webhook subscriptions
    ///
    /// A bare JSON array, one page at a time, in id order, paged by the `Link` header's
    /// `rel="next"` URL as for notes. Secrets are never shown.
    #[oai(path = "/webhooks", method = "get", operation_id = "list_webhooks")]
    async fn list(
        &self,
        caller: Caller<ReadWebhooks>,
        /// Page size (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u32>>,
        /// Only subscriptions after the one with this id, in the listing order. The `next`
        /// link carries it.
        after: Query<Option<i64>>,
        /// `asc` (default): oldest first; `desc`: newest first.
        order: Query<Option<SortOrder>>,
    ) -> Result<Paged<Webhook>, Problems<List>> {
        let paging = Paging::new(limit.0, after.0, None, order.0)?;
        let page = store::list(&self.db, caller.owner(), paging.spec()).await?;
        Ok(Paged {
            items: page.items.into_iter().map(Webhook::from).collect(),
            link: paging.links("/webhooks", &[], page.next_after),
            total: None,
        })
    }

    /// Create a webhook subscription
    ///
    /// The response holds the signing secret, once: keep it to verify deliveries.
    #[oai(path = "/webhooks", method = "post", operation_id = "create_webhook")]
    async fn create(
        &self,
        caller: Caller<WriteWebhooks>,
        body: ValidatedJson<NewWebhook>,
    ) -> Result<CreateResponse, Problems<Create>> {
        let body = body.0;
        self.check_url(&body.url).await?;
        let input = input(
            body.url,
            body.events,
            body.description.into_option().map(|d| d.0),
            body.enabled,
        );
        let webhook = store::create(&self.db, caller.owner(), input, new_secret()?)
            .await
            .map_err(|err| WEBHOOK.write_error(err))?;
        let location = format!("/webhooks/{}", webhook.id);
        let tag = etag::of_version(webhook.version);
        Ok(CreateResponse::Created(
            SerdeJson(CreatedWebhook::new(webhook)),
            location,
            tag,
        ))
    }

    /// Get a webhook subscription
    ///
    /// With `If-None-Match` naming the current `ETag`, answers 304 without a body.
    #[oai(path = "/webhooks/:id", method = "get", operation_id = "get_webhook")]
    async fn get(
        &self,
        caller: Caller<ReadWebhooks>,
        id: Path<i64>,
        /// Entity tags the client already has (or `*`).
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> Result<ReadResponse, Problems<Read>> {
        let webhook = store::get(&self.db, caller.owner(), id.0)
            .await?
            .ok_or_else(|| WEBHOOK.not_found(id.0))?;
        let tag = etag::of_version(webhook.version);
        Ok(
            match etag::unchanged(if_none_match.0.as_deref(), webhook.version) {
                true => ReadResponse::NotModified(tag),
                false => ReadResponse::Ok(SerdeJson(webhook.into()), tag),
            },
        )
    }

    /// Replace a webhook subscription
    ///
    /// `url`, `events` and `enabled` are required; a `description` left out is cleared.
    /// With `If-Match`, only if the `ETag` is one named (else 412, and nothing is written).
    #[oai(
        path = "/webhooks/:id",
        method = "put",
        operation_id = "replace_webhook"
    )]
    async fn replace(
        &self,
        caller: Caller<WriteWebhooks>,
        id: Path<i64>,
        /// Write only if the current `ETag` is one of these (or `*`: if it exists).
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: ValidatedJson<WebhookReplacement>,
    ) -> Result<WebhookResponse, Problems<Update>> {
        let body = body.0;
        self.check_url(&body.url).await?;
        let input = input(
            body.url,
            body.events,
            body.description.into_option().map(|d| d.0),
            body.enabled,
        );
        let expected = etag::expected_versions(if_match.0.as_deref());
        let written = store::replace(&self.db, caller.owner(), id.0, input, expected.as_deref())
            .await
            .map_err(|err| WEBHOOK.write_error(err))?;
        Ok(WEBHOOK.outcome(id.0, written).map(respond)?)
    }

    /// Change some fields of a webhook subscription
    ///
    /// Fields left out keep their value; a `null` description clears it; an empty object
    /// changes nothing. With `If-Match`, only if the `ETag` is one named (else 412).
    #[oai(
        path = "/webhooks/:id",
        method = "patch",
        operation_id = "update_webhook"
    )]
    async fn update(
        &self,
        caller: Caller<WriteWebhooks>,
        id: Path<i64>,
        /// Write only if the current `ETag` is one of these (or `*`: if it exists).
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: ValidatedJson<WebhookChanges>,
    ) -> Result<WebhookResponse, Problems<Update>> {
        let body = body.0;
        if let Some(url) = &body.url {
            self.check_url(url).await?;
        }
        let patch = WebhookPatch {
            url: body.url.map(|url| url.0.to_string()),
            events: body.events,
            description: body.description.into_change().map(|d| d.map(|d| d.0)),
            enabled: body.enabled,
        };
        let expected = etag::expected_versions(if_match.0.as_deref());
        let written = store::update(&self.db, caller.owner(), id.0, patch, expected.as_deref())
            .await
            .map_err(|err| WEBHOOK.write_error(err))?;
        Ok(WEBHOOK.outcome(id.0, written).map(respond)?)
    }

    /// Delete a webhook subscription
    ///
    /// Its deliveries go with it, pending ones included. With `If-Match`, only if the `ETag`
    /// is one named (else 412).
    #[oai(
        path = "/webhooks/:id",
        method = "delete",
        operation_id = "delete_webhook"
    )]
    async fn delete(
        &self,
        caller: Caller<WriteWebhooks>,
        id: Path<i64>,
        /// Delete only if the current `ETag` is one of these (or `*`: if it exists).
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> Result<DeleteResponse, Problems<Delete>> {
        let expected = etag::expected_versions(if_match.0.as_deref());
        let written = store::delete(&self.db, caller.owner(), id.0, expected.as_deref())
            .await
            .map_err(|err| WEBHOOK.delete_error(err))?;
        WEBHOOK.outcome(id.0, written)?;
        Ok(DeleteResponse::Deleted)
    }

    /// Rotate a webhook subscription's secret
    ///
    /// Returns a new secret, once. For 24 hours the previous one still signs every
    /// delivery too (`webhook-signature` carries both), so receivers can switch without
    /// refusing any.
    #[oai(
        path = "/webhooks/:id/rotate-secret",
        method = "post",
        operation_id = "rotate_webhook_secret"
    )]
    async fn rotate_secret(
        &self,
        caller: Caller<WriteWebhooks>,
        id: Path<i64>,
    ) -> Result<RotateResponse, Problems<Action>> {
        let secret = new_secret()?;
        let expires_at = store::rotate_secret(&self.db, caller.owner(), id.0, secret.clone())
            .await?
            .ok_or_else(|| WEBHOOK.not_found(id.0))?;
        Ok(RotateResponse::Ok(SerdeJson(RotatedSecret {
            secret,
            previous_secret_expires_at: Timestamp(expires_at),
        })))
    }

    /// List a webhook subscription's deliveries
    ///
    /// One per event sent (or to be sent) to it, in id order, paged by the `Link` header's
    /// `rel="next"` URL: its status (pending, succeeded, dead), attempts, the last answer's
    /// HTTP status or the last error, and when a pending one is tried next.
    #[oai(
        path = "/webhooks/:id/deliveries",
        method = "get",
        operation_id = "list_webhook_deliveries"
    )]
    async fn deliveries(
        &self,
        caller: Caller<ReadWebhooks>,
        id: Path<i64>,
        /// Page size (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u32>>,
        /// Only deliveries after the one with this id, in the listing order.
        after: Query<Option<i64>>,
        /// `asc` (default): oldest first; `desc`: newest first.
        order: Query<Option<SortOrder>>,
    ) -> Result<Paged<Delivery>, Problems<Read>> {
        let paging = Paging::new(limit.0, after.0, None, order.0)?;
        if store::get(&self.db, caller.owner(), id.0).await?.is_none() {
            return Err(WEBHOOK.not_found(id.0).into());
        }
        let page = deliveries::list(&self.db, id.0, paging.spec()).await?;
        Ok(Paged {
            items: page.items.into_iter().map(Delivery::from).collect(),
            link: paging.links(
                &format!("/webhooks/{}/deliveries", id.0),
                &[],
                page.next_after,
            ),
            total: None,
        })
    }

    /// Retry a dead delivery
    ///
    /// Queues it again, its attempts reset, with the same `webhook-id`. 409 if it is not
    /// dead.
    #[oai(
        path = "/webhooks/:id/deliveries/:delivery_id/retry",
        method = "post",
        operation_id = "retry_webhook_delivery"
    )]
    async fn retry_delivery(
        &self,
        caller: Caller<WriteWebhooks>,
        id: Path<i64>,
        delivery_id: Path<i64>,
        wake: Data<&Wake>,
    ) -> Result<RetryResponse, Problems<Requeue>> {
        let txn = self.db.begin().await?;
        if store::get(&txn, caller.owner(), id.0).await?.is_none() {
            return Err(WEBHOOK.not_found(id.0).into());
        }
        match deliveries::retry(&txn, id.0, delivery_id.0).await? {
            Retried::Queued => {}
            Retried::Missing => return Err(DELIVERY.not_found(delivery_id.0).into()),
            Retried::NotDead => {
                return Err(ApiError::WrongState {
                    problem: "delivery-not-dead",
                    detail: format!(
                        "delivery {} is not dead (pending or succeeded): there is nothing to retry",
                        delivery_id.0
                    ),
                }
                .into());
            }
        }
        txn.commit().await?;
        wake.wake();
        Ok(RetryResponse::Accepted)
    }
}

/// How problems name a delivery (`delivery-not-found`).
const DELIVERY: Resource = Resource::new("delivery");

fn respond(webhook: entity::Model) -> WebhookResponse {
    let tag = etag::of_version(webhook.version);
    WebhookResponse::Ok(SerdeJson(webhook.into()), tag)
}
