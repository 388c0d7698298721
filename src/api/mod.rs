//! The HTTP API: its operations, their request and response types, and the OpenAPI service.

pub mod body;
pub mod health;
pub mod json_response;
pub mod notes;
pub mod pagination;
pub mod timestamp;

use poem_openapi::{OpenApiService, Tags};
use sea_orm::DatabaseConnection;

#[derive(Tags)]
enum ApiTags {
    /// The notes resource
    Notes,
    /// Liveness and readiness probes
    Health,
}

pub type Api = (notes::NotesApi, health::HealthApi);

/// The documented API. Its spec is checked in as `openapi.json`; a test keeps them equal.
pub fn service(db: DatabaseConnection) -> OpenApiService<Api, ()> {
    OpenApiService::new(
        (notes::NotesApi::new(db.clone()), health::HealthApi::new(db)),
        "notes-service",
        env!("CARGO_PKG_VERSION"),
    )
    .description("A notes API. Every error is an RFC 9457 problem (`application/problem+json`).")
}
