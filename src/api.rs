//! The documented API: every API module's operations, registered in one place. Its spec is
//! checked in as `openapi.json`; a test keeps them equal.

use poem_openapi::{OpenApi, OpenApiService};

use crate::{
    config::WebhooksSettings,
    db::Db,
    health::{HealthApi, Readiness},
    notes::NotesApi,
    webhooks::WebhooksApi,
};

/// The API service.
pub fn service(
    db: Db,
    readiness: Readiness,
    webhooks: WebhooksSettings,
) -> OpenApiService<impl OpenApi, ()> {
    let apis = (
        NotesApi::new(db.clone()),
        HealthApi::new(readiness),
        WebhooksApi::new(db.clone(), webhooks),
        // A new resource: `crate::things::ThingsApi::new(db.clone()),` on a line here, after
        // the others, so that `openapi.json` only gains lines.
    );
    OpenApiService::new(apis, "notes-service", env!("CARGO_PKG_VERSION")).description(
        "A notes API. Every error is an RFC 9457 problem (`application/problem+json`). \
         Writes that take an `Idempotency-Key` can be retried safely: the header's \
         description states the policy (how long keys are kept, what is replayed).",
    )
}
