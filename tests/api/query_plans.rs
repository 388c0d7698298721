//! Every list query shape of every resource is an index range search in SQLite's query plan:
//! no full scan and no temporary B-tree for ORDER BY, so a page costs the same at any depth
//! and table size. Every resource in `crate::RESOURCES` is covered.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

#[tokio::test]
async fn every_list_shape_is_an_index_range_search_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("plan.db").display());
    let db = Database::connect(&url).await.unwrap();
    Migrator::up(&db, None).await.unwrap();

    let shapes: Vec<_> = crate::RESOURCES
        .iter()
        .flat_map(|resource| (resource.list_shapes)())
        .collect();
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
/// A job claim reads the claimable jobs in `run_at` order from an index and stops at its limit,
/// whatever the backlog: no full scan and no sort of every due job.
#[tokio::test]
async fn a_job_claim_is_an_index_range_search_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("plan.db").display());
    let db = Database::connect(&url).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    for statement in
        notes_service::jobs::store::claim_statements(DbBackend::Sqlite, chrono::Utc::now(), 16)
    {
        let explain = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!("EXPLAIN QUERY PLAN {}", statement.sql),
            statement.values.clone().map(|v| v.0).unwrap_or_default(),
        );
        let plan: Vec<String> = db
            .query_all_raw(explain)
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<String>("", "detail").unwrap())
            .collect();
        let context = format!("{plan:?}\n{}", statement.sql);
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH jobs USING INDEX idx_jobs_state_run_at")),
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
