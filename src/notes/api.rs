//! The notes operations. `GET /notes/` and `POST /notes/` behave as in FastAPI's tutorial
//! (a bare JSON array; create takes `{text, completed}`); the rest goes beyond it. Handlers
//! only translate: HTTP in, a `store` call, HTTP out.

use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    param::{Header, Path, Query},
};
use sea_orm::TransactionTrait;

use super::{
    bodies::{NewNote, Note, NoteChanges, NoteReplacement},
    entity,
    store::{self, NoteFilter, NoteInput, NotePatch},
};
use crate::{
    auth::{Caller, Scope},
    db::Db,
    events::{self, EventType, Versioned},
    http::{
        error_docs::{Create, Delete, Keyed, List, Problems, Read, Update},
        etag,
        idempotency::{IdempotencyKey, Idempotent},
        json_body::ValidatedJson,
        json_response::SerdeJson,
        pagination::{Paged, Paging, SortOrder, wants_exact_count},
        resource::Resource,
    },
    jobs::Wake,
};

/// How problems name the resource (`note-not-found`). Notes have no unique field.
const NOTE: Resource = Resource::new("note");

/// A note was created.
pub const NOTE_CREATED: EventType = EventType::new("note.created");
/// A note was replaced or changed (PUT or PATCH).
pub const NOTE_UPDATED: EventType = EventType::new("note.updated");
/// A note was deleted.
pub const NOTE_DELETED: EventType = EventType::new("note.deleted");
/// The event types of notes, listed in `webhooks::events::RESOURCES`.
pub const EVENTS: [EventType; 3] = [NOTE_CREATED, NOTE_UPDATED, NOTE_DELETED];

/// The scope a token needs to read notes (with authentication on).
pub struct ReadNotes;

impl Scope for ReadNotes {
    const NAME: &'static str = "notes:read";
}

/// The scope a token needs to create, change and delete notes.
pub struct WriteNotes;

impl Scope for WriteNotes {
    const NAME: &'static str = "notes:write";
}

#[derive(Tags)]
enum NotesTags {
    /// The notes resource
    Notes,
}

pub struct NotesApi {
    db: Db,
}

impl NotesApi {
    pub fn new(db: Db) -> Self {
        Self { db }
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
        /// The note's entity tag, for `If-Match` on a later write.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
enum NoteResponse {
    /// The note.
    #[oai(status = 200)]
    Ok(
        SerdeJson<Note>,
        /// The note's entity tag: it changes whenever the note changes.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
enum ReadResponse {
    /// The note.
    #[oai(status = 200)]
    Ok(
        SerdeJson<Note>,
        /// The note's entity tag: it changes whenever the note changes.
        #[oai(header = "ETag")]
        String,
    ),
    /// The note has not changed since the entity tag in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
enum DeleteResponse {
    /// The note was deleted.
    #[oai(status = 204)]
    Deleted,
}

#[OpenApi(tag = "NotesTags::Notes")]
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
        caller: Caller<ReadNotes>,
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
    ) -> Result<Paged<Note>, Problems<List>> {
        let paging = Paging::new(limit.0, after.0, offset.0, order.0)?;
        let filter = NoteFilter {
            completed: completed.0,
        };
        let page = store::list(&self.db, caller.owner(), filter, paging.spec()).await?;
        let total = match wants_exact_count(prefer.0.as_deref()) {
            true => Some(store::count(&self.db, caller.owner(), filter).await?),
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
    async fn create(
        &self,
        caller: Caller<WriteNotes>,
        /// Makes a retry safe: a request with a key already answered gets that answer again
        /// (see the API description).
        #[oai(name = "Idempotency-Key")]
        key: IdempotencyKey,
        body: ValidatedJson<NewNote>,
        wake: Data<&Wake>,
    ) -> Result<Idempotent<CreateResponse>, Problems<Keyed<Create>>> {
        let input = NoteInput {
            text: body.0.text,
            completed: body.0.completed,
        };
        let owner = caller.owner();
        let mut sent = 0;
        let response = key
            .once(&self.db, owner, async |db| {
                // The note and its event commit together (or not at all).
                let txn = db.begin().await?;
                let note = store::create(&txn, owner, input).await?;
                sent = events::emit(&txn, owner, NOTE_CREATED, &versioned(&note)).await?;
                txn.commit().await?;
                let location = format!("/notes/{}", note.id);
                let tag = etag::of_version(note.version);
                Ok(CreateResponse::Created(
                    SerdeJson(note.into()),
                    location,
                    tag,
                ))
            })
            .await?;
        events::committed(&wake, sent);
        Ok(response)
    }

    /// Get a note
    ///
    /// With `If-None-Match` naming the current `ETag`, answers 304 without a body.
    #[oai(path = "/notes/:id", method = "get", operation_id = "get_note")]
    async fn get(
        &self,
        caller: Caller<ReadNotes>,
        id: Path<i64>,
        /// Entity tags the client already has (or `*`).
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> Result<ReadResponse, Problems<Read>> {
        let note = store::get(&self.db, caller.owner(), id.0)
            .await?
            .ok_or_else(|| NOTE.not_found(id.0))?;
        let tag = etag::of_version(note.version);
        Ok(
            match etag::unchanged(if_none_match.0.as_deref(), note.version) {
                true => ReadResponse::NotModified(tag),
                false => ReadResponse::Ok(SerdeJson(note.into()), tag),
            },
        )
    }

    /// Replace a note
    ///
    /// Both fields are required. With `If-Match`, only if the note's `ETag` is one named
    /// (else 412, and nothing is written).
    #[oai(path = "/notes/:id", method = "put", operation_id = "replace_note")]
    async fn replace(
        &self,
        caller: Caller<WriteNotes>,
        id: Path<i64>,
        /// Write only if the note's current `ETag` is one of these (or `*`: if it exists).
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: ValidatedJson<NoteReplacement>,
        wake: Data<&Wake>,
    ) -> Result<NoteResponse, Problems<Update>> {
        let input = NoteInput {
            text: body.0.text,
            completed: body.0.completed,
        };
        let expected = etag::expected_versions(if_match.0.as_deref());
        let owner = caller.owner();
        // A refused write (404, 412) returns before the commit: it rolls back, emitting nothing.
        let txn = self.db.begin().await?;
        let written = store::replace(&txn, owner, id.0, input, expected.as_deref()).await?;
        let note = NOTE.outcome(id.0, written)?;
        let sent = events::emit(&txn, owner, NOTE_UPDATED, &versioned(&note)).await?;
        txn.commit().await?;
        events::committed(&wake, sent);
        Ok(respond(note))
    }

    /// Change some fields of a note
    ///
    /// Fields left out keep their value; an empty object changes nothing. With `If-Match`,
    /// only if the note's `ETag` is one named (else 412, and nothing is written).
    #[oai(path = "/notes/:id", method = "patch", operation_id = "update_note")]
    async fn update(
        &self,
        caller: Caller<WriteNotes>,
        id: Path<i64>,
        /// Write only if the note's current `ETag` is one of these (or `*`: if it exists).
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        /// Makes a retry safe: a request with a key already answered gets that answer again
        /// (see the API description).
        #[oai(name = "Idempotency-Key")]
        key: IdempotencyKey,
        body: ValidatedJson<NoteChanges>,
        wake: Data<&Wake>,
    ) -> Result<Idempotent<NoteResponse>, Problems<Keyed<Update>>> {
        let patch = NotePatch {
            text: body.0.text,
            completed: body.0.completed,
        };
        // An empty patch changes nothing: no event.
        let changes = patch.text.is_some() || patch.completed.is_some();
        let expected = etag::expected_versions(if_match.0.as_deref());
        let owner = caller.owner();
        let mut sent = 0;
        let response = key
            .once(&self.db, owner, async |db| {
                let txn = db.begin().await?;
                let written = store::update(&txn, owner, id.0, patch, expected.as_deref()).await?;
                let note = NOTE.outcome(id.0, written)?;
                if changes {
                    sent = events::emit(&txn, owner, NOTE_UPDATED, &versioned(&note)).await?;
                }
                txn.commit().await?;
                Ok(respond(note))
            })
            .await?;
        events::committed(&wake, sent);
        Ok(response)
    }

    /// Delete a note
    ///
    /// With `If-Match`, only if the note's `ETag` is one named (else 412).
    #[oai(path = "/notes/:id", method = "delete", operation_id = "delete_note")]
    async fn delete(
        &self,
        caller: Caller<WriteNotes>,
        id: Path<i64>,
        /// Delete only if the note's current `ETag` is one of these (or `*`: if it exists).
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        wake: Data<&Wake>,
    ) -> Result<DeleteResponse, Problems<Delete>> {
        let expected = etag::expected_versions(if_match.0.as_deref());
        let owner = caller.owner();
        let txn = self.db.begin().await?;
        let written = store::delete(&txn, owner, id.0, expected.as_deref()).await?;
        NOTE.outcome(id.0, written)?;
        let deleted = serde_json::json!({ "id": id.0 });
        let sent = events::emit(&txn, owner, NOTE_DELETED, &deleted).await?;
        txn.commit().await?;
        events::committed(&wake, sent);
        Ok(DeleteResponse::Deleted)
    }
}

/// A note as an event's `data`: as the API returns it, with its version.
fn versioned(note: &entity::Model) -> Versioned<Note> {
    Versioned {
        item: note.clone().into(),
        version: note.version,
    }
}

fn respond(note: entity::Model) -> NoteResponse {
    let tag = etag::of_version(note.version);
    NoteResponse::Ok(SerdeJson(note.into()), tag)
}
