//! What the shared error vocabulary needs to know about a resource: its singular name (for
//! problem types such as `note-not-found`) and which unique index guards which field (so a
//! duplicate is a 409 naming the field). Each resource's API module declares one
//! [`Resource`] constant and turns its store's answers into HTTP outcomes through it.

use sea_orm::DbErr;

use super::{error::ApiError, etag};
use crate::db::{errors::unique_violation, versioned::Written};

/// A resource as problem responses name it.
#[derive(Debug, Clone, Copy)]
pub struct Resource {
    /// Singular, lower-case: `note` gives `urn:notes-service:problem:note-not-found`.
    pub name: &'static str,
    /// The unique indexes of its table, by the field each guards.
    pub unique: &'static [Unique],
}

/// A unique index and the body field whose value it keeps unique. SQLite reports the
/// columns of a violated index and MySQL/MariaDB its name (PostgreSQL both), so both are
/// given, as the migration creates them.
#[derive(Debug, Clone, Copy)]
pub struct Unique {
    pub index: &'static str,
    pub columns: &'static [&'static str],
    /// The field named in the 409 problem's `errors`.
    pub field: &'static str,
}

impl Resource {
    pub const fn new(name: &'static str) -> Self {
        Self { name, unique: &[] }
    }

    /// The same resource, with unique indexes whose violation names a field.
    pub const fn with_unique(self, unique: &'static [Unique]) -> Self {
        Self { unique, ..self }
    }

    pub fn not_found(&self, id: i64) -> ApiError {
        ApiError::NotFound {
            resource: self.name,
            id,
        }
    }

    /// A versioned write's outcome as the client sees it: done, 404, or 412 with the
    /// current `ETag`.
    pub fn outcome<T>(&self, id: i64, written: Written<T>) -> Result<T, ApiError> {
        match written {
            Written::Done(value) => Ok(value),
            Written::Missing => Err(self.not_found(id)),
            Written::Stale { current_version } => Err(ApiError::PreconditionFailed {
                resource: self.name,
                id,
                etag: etag::of_version(current_version),
            }),
        }
    }

    /// A database error from a write of this resource: a unique violation becomes a 409
    /// naming the field its index guards; anything else converts as usual.
    pub fn write_error(&self, err: DbErr) -> ApiError {
        let Some(violation) = unique_violation(&err) else {
            return err.into();
        };
        let field = self.unique.iter().find(|unique| {
            violation.index.as_deref() == Some(unique.index)
                || (!violation.columns.is_empty() && violation.columns == unique.columns)
        });
        ApiError::Conflict {
            resource: Some(self.name),
            field: field.map(|unique| unique.field),
        }
    }
}
