//! The notes resource. `GET /notes/` and `POST /notes/` behave as in FastAPI's tutorial
//! (a bare JSON array; create takes `{text, completed}`); the rest goes beyond it.

use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
};
use sea_orm::DatabaseConnection;

use super::{
    ApiTags,
    body::{Fields, FromJsonObject, ValidatedJson},
    json_response::SerdeJson,
    pagination::{Paged, Paging, SortOrder, wants_exact_count},
    timestamp::Timestamp,
};
use crate::{
    db::{
        note,
        notes::{self, NoteFilter, NoteInput, NotePatch},
    },
    error::ApiError,
};

/// The longest accepted note text, in characters (Unicode scalar values).
pub const MAX_TEXT_CHARS: usize = 10_000;

pub struct NotesApi {
    db: DatabaseConnection,
}

impl NotesApi {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// A stored note.
#[derive(Object, serde::Serialize)]
struct Note {
    /// Assigned by the service.
    id: i64,
    text: String,
    completed: bool,
    /// When the note was created (UTC, microseconds).
    created_at: Timestamp,
    /// When the note last changed (UTC, microseconds).
    updated_at: Timestamp,
}

impl From<note::Model> for Note {
    fn from(m: note::Model) -> Self {
        Self {
            id: m.id,
            text: m.text,
            completed: m.completed,
            created_at: Timestamp(m.created_at),
            updated_at: Timestamp(m.updated_at),
        }
    }
}

/// A note to create. Unknown fields, and `id`, are rejected.
#[derive(Object)]
#[oai(deny_unknown_fields)]
struct NewNote {
    /// Not blank, at most 10000 characters, no NUL character.
    #[oai(validator(min_length = 1, max_length = 10000))]
    text: String,
    /// Defaults to false.
    #[oai(default)]
    completed: bool,
}

/// A whole note, replacing the stored one. Unknown fields, and `id`, are rejected.
#[derive(Object)]
#[oai(deny_unknown_fields)]
struct NoteReplacement {
    /// Not blank, at most 10000 characters, no NUL character.
    #[oai(validator(min_length = 1, max_length = 10000))]
    text: String,
    completed: bool,
}

/// Fields to change; those left out keep their value. Unknown fields, and `id`, are rejected.
#[derive(Object)]
#[oai(deny_unknown_fields)]
struct NoteChanges {
    /// Not blank, at most 10000 characters, no NUL character.
    #[oai(validator(min_length = 1, max_length = 10000))]
    text: Option<String>,
    completed: Option<bool>,
}

/// Reads and checks the `text` field.
fn note_text(fields: &mut Fields, required: bool) -> Option<String> {
    let text = fields.string("text", required)?;
    let problem = if text.trim().is_empty() {
        Some("must not be empty or blank".to_owned())
    } else if text.chars().count() > MAX_TEXT_CHARS {
        Some(format!("must be at most {MAX_TEXT_CHARS} characters"))
    } else if text.contains('\0') {
        // PostgreSQL cannot store NUL in text; refuse it everywhere alike.
        Some("must not contain the NUL character (U+0000)".to_owned())
    } else {
        None
    };
    match problem {
        Some(message) => {
            fields.error("text", message);
            None
        }
        None => Some(text),
    }
}

impl FromJsonObject for NewNote {
    fn from_json_object(fields: &mut Fields) -> Option<Self> {
        let text = note_text(fields, true);
        let completed = fields.boolean("completed", false);
        Some(Self {
            text: text?,
            completed: completed.unwrap_or(false),
        })
    }
}

impl FromJsonObject for NoteReplacement {
    fn from_json_object(fields: &mut Fields) -> Option<Self> {
        let text = note_text(fields, true);
        let completed = fields.boolean("completed", true);
        Some(Self {
            text: text?,
            completed: completed?,
        })
    }
}

impl FromJsonObject for NoteChanges {
    fn from_json_object(fields: &mut Fields) -> Option<Self> {
        Some(Self {
            text: note_text(fields, false),
            completed: fields.boolean("completed", false),
        })
    }
}

#[derive(ApiResponse)]
enum CreateResponse {
    /// The created note.
    #[oai(status = 201)]
    Created(
        SerdeJson<Note>,
        /// Where the new note lives: `/notes/{id}`.
        #[oai(header = "Location")]
        String,
    ),
}

#[derive(ApiResponse)]
enum DeleteResponse {
    /// The note was deleted.
    #[oai(status = 204)]
    Deleted,
}

#[OpenApi(tag = "ApiTags::Notes")]
impl NotesApi {
    /// List notes
    ///
    /// A bare JSON array, one page at a time, in id order (oldest first, or newest first
    /// with `order=desc`). To read the next page, follow the `Link` header's `rel="next"`
    /// URL: it pages with `after`, which costs the same at any depth. The total is counted
    /// only on request (`Prefer: count=exact`). `/notes/` works the same.
    #[oai(path = "/notes", method = "get", operation_id = "list_notes")]
    #[allow(clippy::too_many_arguments)] // one argument per documented parameter
    async fn list(
        &self,
        /// Page size (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u32>>,
        /// Only notes after the note with this id, in the listing order (with
        /// `order=desc`: older than it). The `next` link carries it.
        after: Query<Option<i64>>,
        /// Only notes with this `completed` value.
        completed: Query<Option<bool>>,
        /// `asc` (default): oldest first; `desc`: newest first.
        order: Query<Option<SortOrder>>,
        /// Deprecated: how many notes to skip, at most 10000, not with `after`. Follow
        /// the `next` link instead.
        #[oai(deprecated, validator(minimum(value = "0"), maximum(value = "10000")))]
        offset: Query<Option<u32>>,
        /// `count=exact` also counts the matching notes into `X-Total-Count` (RFC 7240).
        #[oai(name = "Prefer")]
        prefer: Header<Option<String>>,
    ) -> Result<Paged<Note>, ApiError> {
        let paging = Paging::new(limit.0, after.0, offset.0, order.0)?;
        let filter = NoteFilter {
            completed: completed.0,
        };
        let page = notes::list(&self.db, filter, paging.spec()).await?;
        let total = match wants_exact_count(prefer.0.as_deref()) {
            true => Some(notes::count(&self.db, filter).await?),
            false => None,
        };
        let filters: Vec<_> = completed
            .0
            .map(|c| ("completed", c.to_string()))
            .into_iter()
            .collect();
        Ok(Paged {
            items: page.items.into_iter().map(Note::from).collect(),
            link: paging.links("/notes", &filters, page.next_after),
            total,
        })
    }

    /// Create a note
    ///
    /// `/notes/` works the same.
    #[oai(path = "/notes", method = "post", operation_id = "create_note")]
    async fn create(&self, body: ValidatedJson<NewNote>) -> Result<CreateResponse, ApiError> {
        let input = NoteInput {
            text: body.0.text,
            completed: body.0.completed,
        };
        let note = notes::create(&self.db, input).await?;
        let location = format!("/notes/{}", note.id);
        Ok(CreateResponse::Created(SerdeJson(note.into()), location))
    }

    /// Get a note
    #[oai(path = "/notes/:id", method = "get", operation_id = "get_note")]
    async fn get(&self, id: Path<i64>) -> Result<SerdeJson<Note>, ApiError> {
        let note = notes::get(&self.db, id.0).await?;
        found(id.0, note)
    }

    /// Replace a note
    ///
    /// Both fields are required.
    #[oai(path = "/notes/:id", method = "put", operation_id = "replace_note")]
    async fn replace(
        &self,
        id: Path<i64>,
        body: ValidatedJson<NoteReplacement>,
    ) -> Result<SerdeJson<Note>, ApiError> {
        let input = NoteInput {
            text: body.0.text,
            completed: body.0.completed,
        };
        let note = notes::replace(&self.db, id.0, input).await?;
        found(id.0, note)
    }

    /// Change some fields of a note
    ///
    /// Fields left out keep their value; an empty object changes nothing.
    #[oai(path = "/notes/:id", method = "patch", operation_id = "update_note")]
    async fn update(
        &self,
        id: Path<i64>,
        body: ValidatedJson<NoteChanges>,
    ) -> Result<SerdeJson<Note>, ApiError> {
        let patch = NotePatch {
            text: body.0.text,
            completed: body.0.completed,
        };
        let note = notes::update(&self.db, id.0, patch).await?;
        found(id.0, note)
    }

    /// Delete a note
    #[oai(path = "/notes/:id", method = "delete", operation_id = "delete_note")]
    async fn delete(&self, id: Path<i64>) -> Result<DeleteResponse, ApiError> {
        if notes::delete(&self.db, id.0).await? {
            Ok(DeleteResponse::Deleted)
        } else {
            Err(ApiError::NoteNotFound(id.0))
        }
    }
}

fn found(id: i64, note: Option<note::Model>) -> Result<SerdeJson<Note>, ApiError> {
    note.map(|n| SerdeJson(n.into()))
        .ok_or(ApiError::NoteNotFound(id))
}
