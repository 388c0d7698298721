//! A job queue in the database (a transactional outbox), for any resource: a job is enqueued
//! in the transaction of the write that makes it, so it commits or rolls back with that
//! write; workers claim jobs under a lease, retry failures with backoff, and keep a job that
//! ran out of attempts as `dead` until it is retried by hand.
//!
//! - `job`: what a job kind is ([`Job`]), what its handler answers ([`JobError`]), a job to
//!   enqueue ([`NewJob`]);
//! - `store`: the database functions (enqueue, claim, finish, retry, statistics);
//! - `registry`: which handler runs which kind here; `worker`: the workers of a process and
//!   their wake-up; `backoff`: the wait before a retry; `entity`: the `jobs` table;
//!   `metrics`: attempts by kind and result.
//!
//! Plumbing only: the job kinds themselves live with the resources that use them, and are
//! registered in `crate::job_kinds`.

pub mod backoff;
pub mod entity;
pub mod job;
pub mod metrics;
pub mod registry;
pub mod store;
pub mod worker;

pub use job::{Job, JobError, NewJob};
pub use registry::Registry;
pub use store::{Claimed, State, enqueue};
pub use worker::{Queue, Wake};
