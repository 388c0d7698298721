//! Liveness (the process answers) and readiness (the database answers too).

use std::time::Duration;

use poem_openapi::{Object, OpenApi, Tags, payload::Json};

use crate::{
    db::{self, Db},
    http::{
        error::ApiError,
        error_docs::{Probe, Problems},
    },
};

#[derive(Tags)]
enum HealthTags {
    /// Liveness and readiness probes
    Health,
}

/// Readiness gives the database this long to answer before reporting 503.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub struct HealthApi {
    db: Db,
}

impl HealthApi {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[derive(Object)]
struct Health {
    /// Always `ok` in a 200 response.
    status: String,
}

fn ok() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

#[OpenApi(tag = "HealthTags::Health")]
impl HealthApi {
    /// Liveness: the process is up (does not touch the database).
    #[oai(path = "/health/live", method = "get", operation_id = "health_live")]
    async fn live(&self) -> Json<Health> {
        ok()
    }

    /// Readiness: the database answers; 503 when it does not.
    #[oai(path = "/health/ready", method = "get", operation_id = "health_ready")]
    async fn ready(&self) -> Result<Json<Health>, Problems<Probe>> {
        db::ping(&self.db, READY_TIMEOUT)
            .await
            .map_err(ApiError::Unavailable)?;
        Ok(ok())
    }
}
