//! The job kind that sends one webhook delivery (Standard Webhooks 1.0): a `POST` of the
//! stored body with `webhook-id` (the delivery's, the same on every attempt),
//! `webhook-timestamp` (this attempt, Unix seconds), `webhook-signature` (`v1,<base64
//! HMAC-SHA256>` of `id.timestamp.body`, and a second one with the previous secret during a
//! rotation's overlap) and `content-type: application/json`.
//!
//! A 2xx is a success. A `410 Gone` disables the subscription and the delivery is dead. Any
//! other answer, a connection error or no answer within `webhooks.timeout_seconds` is retried
//! (after the receiver's `Retry-After`, up to `webhooks.retry_after_max_seconds`, else after
//! the queue's backoff), until `webhooks.max_attempts`: then the delivery is dead, kept until
//! it is retried by hand. Redirects are not followed; at most 64 KiB of an answer is read.
//! Unless private networks are allowed, the host is checked again (see `ssrf`): the
//! connection goes to an address that was checked.

use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, StatusCode, Uri, header};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

use super::{
    deliveries::{self, Attempted, DeliveryJob, Status},
    metrics::WebhookMetrics,
    secret, ssrf, store,
};
use crate::{
    config::{JobsSettings, WebhooksSettings},
    db::{Db, clock::now},
    jobs::{Job, JobError, backoff},
};

/// The most of an answer read (and then dropped).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

type HttpClient = Client<HttpsConnector<HttpConnector<ssrf::CheckedResolver>>, Full<Bytes>>;

/// Sends webhook deliveries; registered in `crate::job_kinds`.
pub struct Deliver {
    db: Db,
    settings: WebhooksSettings,
    jobs: JobsSettings,
    client: HttpClient,
    metrics: Option<WebhookMetrics>,
}

impl Deliver {
    pub fn new(
        db: Db,
        settings: &WebhooksSettings,
        jobs: &JobsSettings,
        metrics: Option<WebhookMetrics>,
    ) -> Self {
        let mut http = HttpConnector::new_with_resolver(ssrf::CheckedResolver {
            allow_private: settings.allow_private_networks,
        });
        http.enforce_http(false);
        http.set_connect_timeout(Some(settings.timeout()));
        let tls = crate::tls::connector_builder("webhooks");
        let connector = tls.https_or_http().enable_http1().wrap_connector(http);
        Self {
            db,
            settings: settings.clone(),
            jobs: jobs.clone(),
            client: Client::builder(TokioExecutor::new()).build(connector),
            metrics,
        }
    }

    /// One attempt: the response's status, or why there is none.
    async fn send(
        &self,
        url: &str,
        message_id: &str,
        signatures: &str,
        timestamp: i64,
        body: String,
    ) -> Result<(StatusCode, Option<Duration>), String> {
        // An address in the URL is connected to as it is (the resolver never sees it): check
        // it here. A name is checked by the resolver, address by address.
        if !self.settings.allow_private_networks {
            let parsed = url::Url::parse(url).map_err(|err| format!("bad URL: {err}"))?;
            if let Some(why) = ssrf::refused_host(&parsed) {
                return Err(format!(
                    "refused: the host {why} (webhooks.allow_private_networks is off)"
                ));
            }
        }
        let uri: Uri = url.parse().map_err(|err| format!("bad URL: {err}"))?;
        let request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                concat!("notes-service/", env!("CARGO_PKG_VERSION")),
            )
            .header("webhook-id", message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signatures)
            .body(Full::new(Bytes::from(body)))
            .map_err(|err| format!("bad request: {err}"))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|err| error_chain(&err))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(retry_after);
            // Read (and drop) at most 64 KiB, so the connection can be reused; an answer
            // that is longer or breaks off changes nothing.
            let _ = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await;
            Ok((status, retry_after))
        };
        let timeout = self.settings.timeout();
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {timeout:?}"))?
    }

    fn count(&self, result: &'static str, started: Instant) {
        if let Some(metrics) = &self.metrics {
            metrics.count(result, started.elapsed().as_secs_f64());
        }
    }
}

/// An error and its sources, one line: hyper's own message says little ("client error").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A `Retry-After` value: seconds, or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now()).to_std().unwrap_or_default())
}

/// The `webhook-signature` value: one signature per secret in use, space-separated.
fn signatures(
    webhook: &super::entity::Model,
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let mut secrets = vec![webhook.secret.as_str()];
    if let (Some(previous), Some(until)) =
        (&webhook.previous_secret, webhook.previous_secret_expires_at)
        && until > now()
    {
        secrets.push(previous.as_str());
    }
    let signed: Vec<String> = secrets
        .into_iter()
        .filter_map(secret::key)
        .map(|key| secret::sign(&key, message_id, timestamp, body))
        .collect();
    signed.join(" ")
}

impl Job for Deliver {
    const KIND: &'static str = deliveries::JOB_KIND;
    type Payload = DeliveryJob;

    async fn run(&self, job: DeliveryJob) -> Result<(), JobError> {
        let db_error = |err: sea_orm::DbErr| JobError::retry(format!("database: {err}"));
        // Gone with its subscription, or already settled (a repeated job): nothing to do.
        let Some(delivery) = deliveries::get(&self.db, job.delivery_id)
            .await
            .map_err(db_error)?
        else {
            return Ok(());
        };
        if delivery.status != Status::Pending.as_str() {
            return Ok(());
        }
        let Some(webhook) = store::find(&self.db, delivery.webhook_id)
            .await
            .map_err(db_error)?
        else {
            return Ok(());
        };
        let attempt = delivery.attempts.saturating_add(1);
        if !webhook.enabled {
            let outcome = Attempted {
                status: Status::Dead,
                http_status: None,
                error: Some("the subscription is disabled".to_owned()),
                next_attempt_at: None,
            };
            deliveries::record(&self.db, delivery.id, delivery.attempts, &outcome)
                .await
                .map_err(db_error)?;
            return Ok(());
        }
        let timestamp = now().timestamp();
        let signed = signatures(
            &webhook,
            &delivery.message_id,
            timestamp,
            delivery.payload.as_bytes(),
        );
        let started = Instant::now();
        let sent = self
            .send(
                &webhook.url,
                &delivery.message_id,
                &signed,
                timestamp,
                delivery.payload,
            )
            .await;
        let last = attempt >= i32::try_from(self.settings.max_attempts).unwrap_or(i32::MAX);
        let (outcome, wait) = match sent {
            Ok((status, _)) if status.is_success() => (
                Attempted {
                    status: Status::Succeeded,
                    http_status: Some(status.as_u16()),
                    error: None,
                    next_attempt_at: None,
                },
                None,
            ),
            Ok((StatusCode::GONE, _)) => {
                store::disable(&self.db, webhook.id)
                    .await
                    .map_err(db_error)?;
                tracing::info!(
                    webhook = webhook.id,
                    "410 Gone: the subscription is disabled"
                );
                (
                    Attempted {
                        status: Status::Dead,
                        http_status: Some(410),
                        error: Some("410 Gone: the subscription was disabled".to_owned()),
                        next_attempt_at: None,
                    },
                    None,
                )
            }
            Ok((status, after)) => {
                let error = format!("answered {status}");
                self.failed(attempt, last, Some(status.as_u16()), error, after)
            }
            Err(error) => self.failed(attempt, last, None, error, None),
        };
        let result = match (outcome.status, wait) {
            (Status::Succeeded, _) => "succeeded",
            (Status::Pending, _) => "retried",
            (Status::Dead, _) => "dead",
        };
        self.count(result, started);
        let recorded = deliveries::record(&self.db, delivery.id, attempt, &outcome)
            .await
            .map_err(db_error)?;
        match (recorded, wait) {
            // Retried by the queue after `wait`: the job stays, the delivery says when.
            (true, Some(wait)) => Err(JobError::retry_after(
                outcome.error.unwrap_or_default(),
                wait,
            )),
            _ => Ok(()),
        }
    }
}

impl Deliver {
    /// A failed attempt: pending again after the wait (the receiver's `Retry-After`, bounded,
    /// else the queue's backoff), or dead if it was the last.
    fn failed(
        &self,
        attempt: i32,
        last: bool,
        http_status: Option<u16>,
        error: String,
        after: Option<Duration>,
    ) -> (Attempted, Option<Duration>) {
        if last {
            return (
                Attempted {
                    status: Status::Dead,
                    http_status,
                    error: Some(error),
                    next_attempt_at: None,
                },
                None,
            );
        }
        let bound = self.settings.retry_after_max().min(self.jobs.backoff_max());
        let wait = after.map_or_else(
            || {
                let retry = u32::try_from(attempt).unwrap_or(1);
                backoff::delay(retry, self.jobs.backoff_base(), self.jobs.backoff_max())
            },
            |after| after.min(bound),
        );
        let next = now() + chrono::TimeDelta::from_std(wait).unwrap_or_default();
        (
            Attempted {
                status: Status::Pending,
                http_status,
                error: Some(error),
                next_attempt_at: Some(next),
            },
            Some(wait),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        assert_eq!(retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }
}
