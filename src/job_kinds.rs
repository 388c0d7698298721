//! The job kinds this service runs, registered in one place (as `api` registers the API
//! modules). A new kind is a file beside its resource and one line here:
//! `.with(crate::things::jobs::Reindex::new(db.clone()))` (pass this function what the kind
//! needs).

use crate::jobs::Registry;

pub fn registry() -> Registry {
    Registry::default()
}
