//! What the shared error vocabulary needs to know about a resource: its singular name (for
//! problem types such as `note-not-found`), which unique index guards which field (so a
//! duplicate is a 409 naming the field) and which foreign key carries which reference (so a
//! reference to nothing is a 422 naming the field). Each resource's API module declares one
//! [`Resource`] constant and turns its store's answers into HTTP outcomes through it.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PrimaryKeyTrait};

use super::{
    error::{ApiError, MissingReference},
    etag,
};
use crate::db::{
    errors::{ForeignKeyFailure, ForeignKeyViolation, foreign_key_violation, unique_violation},
    owner::Owner,
    reference,
    versioned::Written,
};

/// A resource as problem responses name it.
#[derive(Debug, Clone, Copy)]
pub struct Resource {
    /// Singular, lower-case: `note` gives `urn:notes-service:problem:note-not-found`.
    pub name: &'static str,
    /// The unique indexes of its table, by the field each guards.
    pub unique: &'static [Unique],
    /// The foreign keys of its table, by the field each carries.
    pub references: &'static [Reference],
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

/// A reference to another resource: a body field holding the parent's id, stored in a column
/// under a foreign key. PostgreSQL and MySQL/MariaDB name the violated constraint (MySQL also
/// its columns); SQLite names neither, so with several references a refused write there
/// names no field.
#[derive(Debug, Clone, Copy)]
pub struct Reference {
    /// The body field named in the 422 problem's `errors`: `note_id`.
    pub field: &'static str,
    /// The column that holds it, as the migration creates it.
    pub column: &'static str,
    /// The singular name of the resource it refers to: `note` ("no note with id 7").
    pub parent: &'static str,
    /// The foreign key's name, as the migration creates it: `fk_reminders_note`.
    pub constraint: &'static str,
}

impl Reference {
    /// The 422 for this field naming `id`, which does not exist or is not the caller's.
    pub fn missing(&self, id: i64) -> ApiError {
        self.refused(Some(id))
    }

    fn refused(&self, id: Option<i64>) -> ApiError {
        ApiError::ReferenceNotFound(Some(MissingReference {
            field: self.field,
            parent: self.parent,
            id,
        }))
    }

    /// Refuses `id` unless the caller may refer to it: the parent row exists and, with
    /// authentication on, is `owner`'s (`owner_column` is the parent table's owner column).
    /// Another owner's row answers exactly as a missing one. Call it before the write:
    /// `NOTE_ID.check(&db, owner, note::Column::Owner, input.note_id).await?;`
    pub async fn check<C>(
        &self,
        db: &impl ConnectionTrait,
        owner: &Owner,
        owner_column: C,
        id: i64,
    ) -> Result<(), ApiError>
    where
        C: ColumnTrait,
        C::EntityName: EntityTrait,
        i64: Into<<<C::EntityName as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType>,
    {
        match reference::visible(db, owner, owner_column, id).await? {
            true => Ok(()),
            false => Err(self.missing(id)),
        }
    }

    /// Whether the backend's report names this reference: by constraint name, or by the
    /// columns where it gives them (MySQL/MariaDB, PostgreSQL for a missing parent), so that
    /// a constraint named otherwise than declared still finds its field.
    fn matches(&self, violation: &ForeignKeyViolation) -> bool {
        violation.constraint.as_deref() == Some(self.constraint)
            || violation.columns == [self.column]
    }
}

impl Resource {
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            unique: &[],
            references: &[],
        }
    }

    /// The same resource, with unique indexes whose violation names a field.
    pub const fn with_unique(self, unique: &'static [Unique]) -> Self {
        Self { unique, ..self }
    }

    /// The same resource, with references (foreign keys) whose violation names a field.
    pub const fn with_references(self, references: &'static [Reference]) -> Self {
        Self { references, ..self }
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

    /// A database error from an insert or update of this resource: a unique violation
    /// becomes a 409 naming the field its index guards; a foreign-key violation the 422
    /// `reference-not-found` naming the field (on SQLite, which does not say which foreign
    /// key failed, only when the resource has one reference); anything else converts as
    /// usual.
    pub fn write_error(&self, err: DbErr) -> ApiError {
        if let Some(violation) = foreign_key_violation(&err) {
            return self.foreign_key_error(&violation, ForeignKeyFailure::MissingParent);
        }
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

    /// A database error from a delete of this resource: a foreign key that restricts the
    /// delete (other rows still reference the item) becomes the 409 `still-referenced`;
    /// anything else converts as usual. A cascade needs nothing: its children go with it.
    pub fn delete_error(&self, err: DbErr) -> ApiError {
        match foreign_key_violation(&err) {
            Some(violation) => {
                self.foreign_key_error(&violation, ForeignKeyFailure::StillReferenced)
            }
            None => err.into(),
        }
    }

    /// A foreign-key violation from a statement that can only fail as `expected` (an
    /// insert: a missing parent; a delete: a parent still referenced), unless the backend
    /// says otherwise.
    fn foreign_key_error(
        &self,
        violation: &ForeignKeyViolation,
        expected: ForeignKeyFailure,
    ) -> ApiError {
        match violation.failure.unwrap_or(expected) {
            ForeignKeyFailure::StillReferenced => ApiError::StillReferenced {
                resource: Some(self.name),
            },
            ForeignKeyFailure::MissingParent => {
                let reference = match self.references {
                    [only] if violation.constraint.is_none() && violation.columns.is_empty() => {
                        Some(only)
                    }
                    references => references.iter().find(|r| r.matches(violation)),
                };
                match reference {
                    Some(reference) => {
                        let id = violation.key.as_deref().and_then(|key| key.parse().ok());
                        reference.refused(id)
                    }
                    None => ApiError::ReferenceNotFound(None),
                }
            }
        }
    }
}
