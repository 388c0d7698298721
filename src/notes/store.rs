//! Database work on notes. These functions take a connection and know nothing of HTTP, so
//! handlers, tests and tools share them.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ActiveValue::Unchanged, ColumnTrait, ConnectionTrait,
    DbErr, EntityTrait, PaginatorTrait, QueryFilter, Select,
};

use super::{
    entity::{self as note, ActiveModel, Entity as Notes, Model as Note},
    text::NoteText,
};
use crate::db::keyset::{self, Page, PageSpec};

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
    fn select(self) -> Select<Notes> {
        let select = Notes::find();
        match self.completed {
            Some(completed) => select.filter(note::Column::Completed.eq(completed)),
            None => select,
        }
    }
}

/// The current time at the precision every backend stores (microseconds), so a note reads
/// back exactly as it was written on SQLite, PostgreSQL and MySQL alike.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// One page of the notes matching `filter`, in id order. Served by an index range scan:
/// the primary key, or `idx_notes_completed_id` when filtered.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: NoteFilter,
    page: PageSpec,
) -> Result<Page<Note>, DbErr> {
    keyset::fetch(db, filter.select(), note::Column::Id, page, |n| n.id).await
}

/// The query [`list`] runs, for inspecting its plan.
pub fn list_query(filter: NoteFilter, page: PageSpec) -> Select<Notes> {
    keyset::select_page(filter.select(), note::Column::Id, page)
}

/// How many notes match `filter`. Proportional to their number: only on request.
pub async fn count(db: &impl ConnectionTrait, filter: NoteFilter) -> Result<u64, DbErr> {
    filter.select().count(db).await
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<Option<Note>, DbErr> {
    Notes::find_by_id(id).one(db).await
}

pub async fn create(db: &impl ConnectionTrait, input: NoteInput) -> Result<Note, DbErr> {
    let now = now();
    ActiveModel {
        text: Set(input.text.into_string()),
        completed: Set(input.completed),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Replaces both fields; `None` when the note does not exist.
pub async fn replace(
    db: &impl ConnectionTrait,
    id: i64,
    input: NoteInput,
) -> Result<Option<Note>, DbErr> {
    let patch = NotePatch {
        text: Some(input.text),
        completed: Some(input.completed),
    };
    update(db, id, patch).await
}

/// Changes the given fields; `None` when the note does not exist. An empty patch changes
/// nothing (not even `updated_at`) and returns the note as it is.
pub async fn update(
    db: &impl ConnectionTrait,
    id: i64,
    patch: NotePatch,
) -> Result<Option<Note>, DbErr> {
    if patch.text.is_none() && patch.completed.is_none() {
        return get(db, id).await;
    }
    let mut model = ActiveModel {
        id: Unchanged(id),
        updated_at: Set(now()),
        ..Default::default()
    };
    if let Some(text) = patch.text {
        model.text = Set(text.into_string());
    }
    if let Some(completed) = patch.completed {
        model.completed = Set(completed);
    }
    match model.update(db).await {
        Ok(note) => Ok(Some(note)),
        Err(DbErr::RecordNotUpdated) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Deletes the note; false when it did not exist.
pub async fn delete(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    let result = Notes::delete_by_id(id).exec(db).await?;
    Ok(result.rows_affected > 0)
}
