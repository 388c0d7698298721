//! `Db`: the service's database handle. It is the SeaORM pool, seen through the database
//! server's availability (see `availability`): database functions take it like any SeaORM
//! connection (`&impl ConnectionTrait`, `&impl TransactionTrait`). It also counts the calls
//! in flight through it, from which the metrics estimate how many wait for a connection
//! (sqlx does not expose its waiters). Behind a transaction pooler it runs each statement in
//! a transaction of its own (see `db::for_transaction_pooling`).

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, IsolationLevel, QueryResult, Statement, TransactionError, TransactionOptions,
    TransactionTrait,
};

use super::availability::Availability;

#[derive(Clone)]
pub struct Db {
    pool: DatabaseConnection,
    availability: Availability,
    calls: Arc<AtomicUsize>,
    /// Whether `warm_up` runs.
    warming: Arc<AtomicBool>,
    /// Every statement outside a transaction runs in one of its own.
    statements_in_transactions: bool,
}

impl Db {
    pub fn new(pool: DatabaseConnection, availability: Availability) -> Self {
        Self {
            pool,
            availability,
            calls: Arc::default(),
            warming: Arc::default(),
            statements_in_transactions: false,
        }
    }

    /// Runs every statement outside a transaction in a transaction of its own, so that a
    /// pooler in transaction mode keeps it on one server connection from Parse to Bind.
    pub fn statements_in_transactions(mut self, yes: bool) -> Self {
        self.statements_in_transactions = yes;
        self
    }

    /// The pool itself, for what is not a query (closing it, its statistics).
    pub fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.run(self.pool.ping()).await
    }

    /// Opens connections in the background until the pool holds `target` (or the database
    /// refuses): a pool below its `min_connections` (after an outage) is otherwise refilled
    /// only when sqlx's maintenance next runs, minutes later. One refill at a time.
    pub fn warm_up(&self, target: u32) {
        if self.warming.swap(true, Ordering::AcqRel) {
            return;
        }
        let db = self.clone();
        tokio::spawn(async move {
            let open = db.pool_stats().map_or(target, |pool| pool.size);
            // Concurrent pings each need a connection: the pool opens what is missing.
            let mut pings = tokio::task::JoinSet::new();
            for _ in open..target {
                let pool = db.pool.clone();
                pings.spawn(async move { pool.ping().await });
            }
            while pings.join_next().await.is_some() {}
            db.warming.store(false, Ordering::Release);
        });
    }

    /// Calls through this handle (all its clones) that are waiting for a connection or
    /// holding one right now. A transaction from `begin` counts only while it begins.
    pub fn calls_in_flight(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// Runs a database call, counted in `calls_in_flight` until it ends or is dropped.
    async fn run<T>(&self, call: impl Future<Output = Result<T, DbErr>>) -> Result<T, DbErr> {
        let _counted = InFlight::enter(&self.calls);
        self.availability.run(call).await
    }
}

/// One call in flight; the count goes down when it is dropped, even when cancelled.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(calls: &'a AtomicUsize) -> Self {
        calls.fetch_add(1, Ordering::Relaxed);
        Self(calls)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        if self.statements_in_transactions {
            return self
                .run(async {
                    let txn = self.pool.begin().await?;
                    let result = txn.execute_raw(stmt).await?;
                    txn.commit().await?;
                    Ok(result)
                })
                .await;
        }
        self.run(self.pool.execute_raw(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.run(self.pool.execute_unprepared(sql)).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if self.statements_in_transactions {
            return self
                .run(async {
                    let txn = self.pool.begin().await?;
                    let row = txn.query_one_raw(stmt).await?;
                    txn.commit().await?;
                    Ok(row)
                })
                .await;
        }
        if self.get_database_backend() == DbBackend::Sqlite && is_write(&stmt.sql) {
            // Stepped to its end, not reset after its first row as sqlx's fetch_one does: SQLite
            // runs its WAL hook, the automatic checkpoint, only when an autocommit statement
            // steps to completion, and a write committed by a reset never checkpoints. Every
            // `INSERT ... RETURNING` of SeaORM's `ActiveModel::insert` comes through here, and
            // without this the -wal file grew by every write (tests/api/sqlite_wal.rs).
            let rows = self.run(self.pool.query_all_raw(stmt)).await?;
            return Ok(rows.into_iter().next());
        }
        self.run(self.pool.query_one_raw(stmt)).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if self.statements_in_transactions {
            return self
                .run(async {
                    let txn = self.pool.begin().await?;
                    let rows = txn.query_all_raw(stmt).await?;
                    txn.commit().await?;
                    Ok(rows)
                })
                .await;
        }
        self.run(self.pool.query_all_raw(stmt)).await
    }

    fn support_returning(&self) -> bool {
        self.pool.support_returning()
    }
}

impl Db {
    /// Begins a transaction unless the database is known to be down, and never cancels the
    /// `BEGIN` half-way (as `run` would when the server goes down meanwhile): a `BEGIN` cut
    /// after it was sent could leave a pooled connection inside a transaction that nothing
    /// ends, and later statements on it would never be committed.
    async fn begin_whole(
        &self,
        begin: impl Future<Output = Result<DatabaseTransaction, DbErr>>,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.availability.check()?;
        let _counted = InFlight::enter(&self.calls);
        begin.await
    }
}

/// A transaction is checked when it begins; its statements then run on its own connection.
#[async_trait::async_trait]
impl TransactionTrait for Db {
    type Transaction = DatabaseTransaction;

    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.begin_whole(self.pool.begin()).await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        let begin = self.pool.begin_with_config(isolation_level, access_mode);
        self.begin_whole(begin).await
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.begin_whole(self.pool.begin_with_options(options))
            .await
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.transaction_with_config(callback, None, None).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.availability
            .check()
            .map_err(TransactionError::Connection)?;
        // It holds its connection for the whole callback: counted for all of it.
        let _counted = InFlight::enter(&self.calls);
        self.pool
            .transaction_with_config(callback, isolation_level, access_mode)
            .await
    }
}

/// Whether a statement writes (a write with `RETURNING` answers rows like a query).
fn is_write(sql: &str) -> bool {
    let verb = sql
        .trim_start()
        .split_ascii_whitespace()
        .next()
        .unwrap_or_default();
    ["INSERT", "UPDATE", "DELETE", "REPLACE"]
        .iter()
        .any(|write| verb.eq_ignore_ascii_case(write))
}

#[cfg(test)]
mod tests {
    use super::is_write;

    #[test]
    fn writes_are_told_from_reads() {
        assert!(is_write(
            r#"INSERT INTO "notes" ("text") VALUES (?) RETURNING "id""#
        ));
        assert!(is_write("  update notes SET text = ? RETURNING id"));
        assert!(is_write("DELETE FROM notes WHERE id = ? RETURNING id"));
        assert!(!is_write(
            r#"SELECT "id" FROM "notes" WHERE "id" = ? LIMIT ?"#
        ));
        assert!(!is_write(""));
    }
}
