//! The time the service writes into rows.

use chrono::{DateTime, SubsecRound, Utc};

/// The current time at the precision every backend stores (microseconds), so a row reads
/// back exactly as it was written on SQLite, PostgreSQL and MySQL alike.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
