//! Database work on notes. These functions take a connection and know nothing of HTTP, so
//! handlers, tests and tools share them.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ActiveValue::Unchanged, ColumnTrait, ConnectionTrait,
    DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::note::{self, ActiveModel, Entity as Notes, Model as Note};

/// The fields a client sets when creating or replacing a note.
#[derive(Debug, Clone)]
pub struct NoteInput {
    pub text: String,
    pub completed: bool,
}

/// A partial update: `None` leaves the field as it is.
#[derive(Debug, Clone, Default)]
pub struct NotePatch {
    pub text: Option<String>,
    pub completed: Option<bool>,
}

/// Which notes to list: optional filter, then a page in id order.
#[derive(Debug, Clone, Copy)]
pub struct ListQuery {
    pub completed: Option<bool>,
    pub limit: u64,
    pub offset: u64,
}

/// One page of notes and the number of notes matching the filter.
#[derive(Debug)]
pub struct Page {
    pub notes: Vec<Note>,
    pub total: u64,
}

/// The current time at the precision every backend stores (microseconds), so a note reads
/// back exactly as it was written on SQLite, PostgreSQL and MySQL alike.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub async fn list(db: &impl ConnectionTrait, query: ListQuery) -> Result<Page, DbErr> {
    let mut select = Notes::find();
    if let Some(completed) = query.completed {
        select = select.filter(note::Column::Completed.eq(completed));
    }
    let total = select.clone().count(db).await?;
    let notes = select
        .order_by_asc(note::Column::Id)
        .limit(query.limit)
        .offset(query.offset)
        .all(db)
        .await?;
    Ok(Page { notes, total })
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<Option<Note>, DbErr> {
    Notes::find_by_id(id).one(db).await
}

pub async fn create(db: &impl ConnectionTrait, input: NoteInput) -> Result<Note, DbErr> {
    let now = now();
    ActiveModel {
        text: Set(input.text),
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
        model.text = Set(text);
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
