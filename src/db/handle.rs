//! `Db`: the service's database handle. It is the SeaORM pool, seen through the database
//! server's availability (see `availability`): database functions take it like any SeaORM
//! connection (`&impl ConnectionTrait`, `&impl TransactionTrait`).

use std::{future::Future, pin::Pin};

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
}

impl Db {
    pub fn new(pool: DatabaseConnection, availability: Availability) -> Self {
        Self { pool, availability }
    }

    /// The pool itself, for what is not a query (closing it, its statistics).
    pub fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.availability.run(self.pool.ping()).await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.availability.run(self.pool.execute_raw(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.availability
            .run(self.pool.execute_unprepared(sql))
            .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.availability.run(self.pool.query_one_raw(stmt)).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.availability.run(self.pool.query_all_raw(stmt)).await
    }

    fn support_returning(&self) -> bool {
        self.pool.support_returning()
    }
}

/// A transaction is checked when it begins; its statements then run on its own connection.
#[async_trait::async_trait]
impl TransactionTrait for Db {
    type Transaction = DatabaseTransaction;

    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.availability.run(self.pool.begin()).await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        let begin = self.pool.begin_with_config(isolation_level, access_mode);
        self.availability.run(begin).await
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.availability
            .run(self.pool.begin_with_options(options))
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
        self.pool
            .transaction_with_config(callback, isolation_level, access_mode)
            .await
    }
}
