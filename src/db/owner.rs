//! Whose rows a database function sees and changes. With authentication on, every row
//! belongs to the subject that created it and no other subject sees it; with it off, the
//! service has no notion of callers and every row is everyone's. A table's `owner` column
//! holds the subject, or "" for a row created with authentication off (not NULL, so that a
//! unique index on `(owner, ...)` holds without authentication too).

use std::sync::Arc;

use sea_orm::{ColumnTrait, Condition};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Authentication is off: every row, whoever created it. New rows have the owner "".
    Anyone,
    /// One subject (a token's `sub`): only its rows; the rows it creates are its own.
    Subject(Arc<str>),
}

impl Owner {
    /// The condition on the owner `column` that keeps only this owner's rows.
    pub fn condition(&self, column: impl ColumnTrait) -> Condition {
        match self {
            Self::Anyone => Condition::all(),
            Self::Subject(subject) => Condition::all().add(column.eq(subject.as_ref())),
        }
    }

    /// What the owner column of a row this owner creates holds.
    pub fn value(&self) -> String {
        match self {
            Self::Anyone => String::new(),
            Self::Subject(subject) => subject.to_string(),
        }
    }
}
