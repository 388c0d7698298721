//! Every list query shape of every resource is an index range search in SQLite's query plan:
//! no full scan and no temporary B-tree for ORDER BY, so a page costs the same at any depth
//! and table size. A resource lists its shapes once, in [`every_list_shape`].

use migration::{Migrator, MigratorTrait};
use notes_service::{
    db::{
        keyset::{Direction, PageSpec},
        owner::Owner,
    },
    notes::store::{NoteFilter, list_query},
};
use sea_orm::{ConnectionTrait, Database, DbBackend, QueryTrait, Select, Statement};

/// One list query as a resource's store builds it.
struct Shape {
    table: &'static str,
    label: String,
    query: Statement,
}

impl Shape {
    fn new<E: sea_orm::EntityTrait>(table: &'static str, label: String, query: Select<E>) -> Self {
        Self {
            table,
            label,
            query: query.build(DbBackend::Sqlite),
        }
    }
}

/// Every page a list can ask for: both orders, and the first page, a page after a key, or
/// a page at an offset (the API never combines `after` with an offset).
fn pages() -> Vec<PageSpec> {
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

/// Every list query shape, of every resource: one line per resource.
fn every_list_shape() -> Vec<Shape> {
    [notes_shapes()].into_iter().flatten().collect()
}

/// Everyone's notes (authentication off) and one owner's, in every filter and page shape.
fn notes_shapes() -> Vec<Shape> {
    let mut shapes = Vec::new();
    for owner in [Owner::Anyone, Owner::Subject("owner-a".into())] {
        for completed in [None, Some(true), Some(false)] {
            for page in pages() {
                let query = list_query(&owner, NoteFilter { completed }, page);
                let label = format!("{owner:?} completed={completed:?} {page:?}");
                shapes.push(Shape::new("notes", label, query));
            }
        }
    }
    shapes
}

#[tokio::test]
async fn every_list_shape_is_an_index_range_search_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("plan.db").display());
    let db = Database::connect(&url).await.unwrap();
    Migrator::up(&db, None).await.unwrap();

    let shapes = every_list_shape();
    assert!(!shapes.is_empty());
    for shape in shapes {
        let explain = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!("EXPLAIN QUERY PLAN {}", shape.query.sql),
            shape.query.values.clone().map(|v| v.0).unwrap_or_default(),
        );
        let plan: Vec<String> = db
            .query_all_raw(explain)
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<String>("", "detail").unwrap())
            .collect();
        let context = format!("{}: {plan:?}\n{}", shape.label, shape.query.sql);
        let search = format!("SEARCH {} USING", shape.table);
        assert!(
            plan.iter().any(|step| step.starts_with(&search)),
            "{context}"
        );
        assert!(
            !plan
                .iter()
                .any(|step| step.starts_with("SCAN") || step.contains("TEMP B-TREE")),
            "{context}"
        );
    }
}
/// `.cargo/config.toml` builds the bundled SQLite with the query planner stability guarantee;
/// without it SQLite re-plans every cached statement whose `LIMIT ?` is bound again, which
/// cost about a sixth of a list request's CPU time.
#[tokio::test]
async fn sqlite_keeps_cached_plans_whatever_the_bound_limit() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    let used = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT sqlite_compileoption_used('ENABLE_QPSG') AS used",
        ))
        .await
        .unwrap()
        .and_then(|row| row.try_get::<i64>("", "used").ok());
    assert_eq!(
        used,
        Some(1),
        "SQLite built without SQLITE_ENABLE_QPSG: is LIBSQLITE3_FLAGS in .cargo/config.toml?"
    );
}
