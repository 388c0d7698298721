//! Liveness (the process answers) and readiness (it should be sent requests: it is not
//! draining, and the database answers).

use std::time::Duration;

use poem_openapi::{Object, OpenApi, Tags, payload::Json};

use crate::{
    db::{self, Db},
    drain::Draining,
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

/// Every condition `/health/ready` checks: a new one is a field here and a line in `check`:
/// not draining, the pool warm (`database.min_connections` open), the database answering.
#[derive(Clone)]
pub struct Readiness {
    db: Db,
    draining: Draining,
    /// The pool must hold this many open connections (`database.min_connections`).
    warm_connections: u32,
}

impl Readiness {
    pub fn new(db: Db, draining: Draining, warm_connections: u32) -> Self {
        Self {
            db,
            draining,
            warm_connections,
        }
    }

    /// The first condition that fails, in order: the cheap ones first.
    pub async fn check(&self) -> Result<(), ApiError> {
        if self.draining.is_draining() {
            return Err(ApiError::NotReady("the service is shutting down"));
        }
        // A replica taking traffic with a cold pool makes its first requests wait for
        // connections (after start-up the pool is full: this is for after an outage).
        if self
            .db
            .pool_stats()
            .is_some_and(|pool| pool.size < self.warm_connections)
        {
            self.db.warm_up(self.warm_connections);
            return Err(ApiError::NotReady(
                "the service is still connecting to the database",
            ));
        }
        db::ping(&self.db, READY_TIMEOUT)
            .await
            .map_err(ApiError::Unavailable)
    }
}

pub struct HealthApi {
    readiness: Readiness,
}

impl HealthApi {
    pub fn new(readiness: Readiness) -> Self {
        Self { readiness }
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

    /// Readiness: the service takes new requests and the database answers; 503 when the
    /// database does not, or from SIGTERM on (the drain before it stops).
    #[oai(path = "/health/ready", method = "get", operation_id = "health_ready")]
    async fn ready(&self) -> Result<Json<Health>, Problems<Probe>> {
        self.readiness.check().await?;
        Ok(ok())
    }
}
