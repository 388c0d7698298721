//! The documented API: every API module's operations, registered in one place. Its spec is
//! checked in as `openapi.json`; a test keeps them equal.

use poem_openapi::{OpenApi, OpenApiService};

use crate::{
    db::Db,
    health::{HealthApi, Readiness},
    notes::NotesApi,
};

/// The API service. A new resource adds its API type to the tuple.
pub fn service(db: Db, readiness: Readiness) -> OpenApiService<impl OpenApi, ()> {
    let apis = (NotesApi::new(db), HealthApi::new(readiness));
    OpenApiService::new(apis, "notes-service", env!("CARGO_PKG_VERSION")).description(
        "A notes API. Every error is an RFC 9457 problem (`application/problem+json`).",
    )
}
