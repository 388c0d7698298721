//! Database work on notes. These functions take a connection and know nothing of HTTP, so
//! handlers, tests and tools share them. Each takes the [`Owner`] whose notes it may see and
//! change (everyone's when authentication is off): another owner's note is as good as
//! missing.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, PaginatorTrait,
    QueryFilter, Select, TransactionTrait, sea_query::Expr,
};

use super::{
    entity::{self as note, ActiveModel, Entity as Notes, Listed, Model as Note},
    text::NoteText,
};
use crate::db::{
    clock::now,
    insert,
    keyset::{self, Page, PageSpec},
    owner::Owner,
    versioned::{self, Expected, Written},
};

/// The fields a client sets when creating or replacing a note.
#[derive(Debug, Clone)]
pub struct NoteInput {
    pub text: NoteText,
    pub completed: bool,
}

/// A partial update: `None` leaves the field as it is.
#[derive(Debug, Clone, Default)]
pub struct NotePatch {
    pub text: Option<NoteText>,
    pub completed: Option<bool>,
}

/// Which notes to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoteFilter {
    pub completed: Option<bool>,
}

impl NoteFilter {
    fn select(self, owner: &Owner) -> Select<Notes> {
        let select = Notes::find().filter(owner.condition(note::Column::Owner));
        match self.completed {
            Some(completed) => select.filter(note::Column::Completed.eq(completed)),
            None => select,
        }
    }
}

/// One page of the owner's notes matching `filter`, in id order. Served by an index range
/// scan: the primary key or `idx_notes_completed_id` for everyone's notes,
/// `idx_notes_owner_id` or `idx_notes_owner_completed_id` for one owner's.
pub async fn list(
    db: &impl ConnectionTrait,
    owner: &Owner,
    filter: NoteFilter,
    page: PageSpec,
) -> Result<Page<Listed>, DbErr> {
    keyset::fetch(
        db,
        filter.select(owner),
        note::Column::Id,
        page,
        |n: &Listed| n.id,
    )
    .await
}

/// The query [`list`] runs, for inspecting its plan.
pub fn list_query(owner: &Owner, filter: NoteFilter, page: PageSpec) -> Select<Notes> {
    keyset::select_page(filter.select(owner), note::Column::Id, page)
}

/// How many of the owner's notes match `filter`. Proportional to their number: only on
/// request.
pub async fn count(
    db: &impl ConnectionTrait,
    owner: &Owner,
    filter: NoteFilter,
) -> Result<u64, DbErr> {
    filter.select(owner).count(db).await
}

pub async fn get(db: &impl ConnectionTrait, owner: &Owner, id: i64) -> Result<Option<Note>, DbErr> {
    by_id(owner, id).one(db).await
}

/// Note `id` of `owner`, at any version.
fn by_id(owner: &Owner, id: i64) -> Select<Notes> {
    Notes::find_by_id(id).filter(owner.condition(note::Column::Owner))
}

/// Creates a note that belongs to `owner`. Through `insert::one`: on MySQL/MariaDB the new
/// note is not read back after the insert, so a delete of its id in between cannot fail it.
pub async fn create(
    db: &(impl ConnectionTrait + TransactionTrait),
    owner: &Owner,
    input: NoteInput,
) -> Result<Note, DbErr> {
    let now = now();
    let note = ActiveModel {
        owner: Set(owner.value()),
        text: Set(input.text.into_string()),
        completed: Set(input.completed),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    };
    insert::one(db, note).await
}

/// Replaces both fields.
pub async fn replace(
    db: &(impl ConnectionTrait + TransactionTrait),
    owner: &Owner,
    id: i64,
    input: NoteInput,
    expected: Expected<'_>,
) -> Result<Written<Note>, DbErr> {
    let patch = NotePatch {
        text: Some(input.text),
        completed: Some(input.completed),
    };
    update(db, owner, id, patch, expected).await
}

/// Changes the given fields and raises the version, only if the version is one of
/// `expected`: the check and the write are one `UPDATE`, so of two writers holding the same
/// version exactly one succeeds. What is returned is this write's result, not a later one:
/// the `UPDATE` returns the row (`RETURNING`) where the backend can, else (MySQL) the row is
/// read back in the same transaction. An empty patch changes nothing (not even `updated_at`
/// or the version).
pub async fn update(
    db: &(impl ConnectionTrait + TransactionTrait),
    owner: &Owner,
    id: i64,
    patch: NotePatch,
    expected: Expected<'_>,
) -> Result<Written<Note>, DbErr> {
    if patch.text.is_none() && patch.completed.is_none() {
        // Nothing to apply: done if the version is one expected.
        return Ok(match get(db, owner, id).await? {
            Some(note) if versioned::allows(expected, note.version) => Written::Done(note),
            other => versioned::missed(other.map(|note| note.version)),
        });
    }
    let mut update = Notes::update_many()
        .col_expr(
            note::Column::Version,
            Expr::col(note::Column::Version).add(1),
        )
        .col_expr(note::Column::UpdatedAt, Expr::value(now()))
        .filter(note::Column::Id.eq(id))
        .filter(owner.condition(note::Column::Owner));
    if let Some(text) = patch.text {
        update = update.col_expr(note::Column::Text, Expr::value(text.into_string()));
    }
    if let Some(completed) = patch.completed {
        update = update.col_expr(note::Column::Completed, Expr::value(completed));
    }
    if let Some(versions) = expected {
        update = update.filter(note::Column::Version.is_in(versions.iter().copied()));
    }
    versioned::update(db, update, by_id(owner, id), |note| note.version).await
}

/// Deletes the note if its version is one of `expected`.
pub async fn delete(
    db: &impl ConnectionTrait,
    owner: &Owner,
    id: i64,
    expected: Expected<'_>,
) -> Result<Written<()>, DbErr> {
    let mut delete = Notes::delete_many()
        .filter(note::Column::Id.eq(id))
        .filter(owner.condition(note::Column::Owner));
    if let Some(versions) = expected {
        delete = delete.filter(note::Column::Version.is_in(versions.iter().copied()));
    }
    versioned::delete(db, delete, by_id(owner, id), |note| note.version).await
}
