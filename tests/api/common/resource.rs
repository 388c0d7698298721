//! What the suites that cover every resource need to know of one: its paths, bodies, scopes
//! and which writes can conflict or take an `Idempotency-Key` (the documented-status suite,
//! `operations`), and its list query shapes (the query-plan suite, `query_plans`). Each
//! resource's test module defines one [`TestedResource`]; `main.rs` lists them all, once.

use notes_service::db::{
    keyset::{Direction, PageSpec},
    owner::Owner,
};
use sea_orm::{DbBackend, EntityTrait, QueryTrait, Select, Statement};

pub struct TestedResource {
    /// `/notes` and `/notes/{id}`.
    pub collection: &'static str,
    pub item: &'static str,
    /// Its request body schemas (all closed: unknown fields are refused).
    pub bodies: &'static [&'static str],
    /// Methods that write a field that must be unique (409).
    pub conflicting: &'static [&'static str],
    /// Methods that take an `Idempotency-Key` (409, and more for 400 and 422).
    pub keyed: &'static [&'static str],
    /// Methods that delete an item other items may still reference with `ON DELETE
    /// RESTRICT` (409 `still-referenced`).
    pub referenced: &'static [&'static str],
    /// The scopes its reads (GET) and writes need, with authentication on.
    pub read_scope: &'static str,
    pub write_scope: &'static str,
    /// Every list query shape its store builds.
    pub list_shapes: fn() -> Vec<Shape>,
}

/// One list query as a resource's store builds it, for SQLite.
pub struct Shape {
    pub table: &'static str,
    pub label: String,
    pub query: Statement,
}

impl Shape {
    pub fn new<E: EntityTrait>(table: &'static str, label: String, query: Select<E>) -> Self {
        Self {
            table,
            label,
            query: query.build(DbBackend::Sqlite),
        }
    }
}

/// Every page a list can ask for: both orders, and the first page, a page after a key, or a
/// page at an offset (the API never combines `after` with an offset).
pub fn pages() -> Vec<PageSpec> {
    let mut pages = Vec::new();
    for direction in [Direction::Ascending, Direction::Descending] {
        for (after, offset) in [(None, 0), (Some(500), 0), (None, 20)] {
            pages.push(PageSpec {
                after,
                offset,
                limit: 100,
                direction,
            });
        }
    }
    pages
}

/// Everyone's rows (authentication off) and one owner's: a list is scoped to either.
pub fn owners() -> [Owner; 2] {
    [Owner::Anyone, Owner::Subject("owner-a".into())]
}
