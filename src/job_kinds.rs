//! The job kinds this service runs, registered in one place (as `api` registers the API
//! modules). A new kind is a file beside its resource and one line here:
//! `.with(crate::things::jobs::Reindex::new(db.clone()))` (pass this function what the kind
//! needs).

use crate::{config::Settings, db::Db, jobs::Registry, metrics::Metrics, webhooks};

pub fn registry(db: &Db, settings: &Settings, metrics: Option<&Metrics>) -> Registry {
    Registry::default().with(webhooks::delivery::Deliver::new(
        db.clone(),
        &settings.webhooks,
        &settings.jobs,
        metrics.map(|m| m.webhooks().clone()),
    ))
}
