//! The notes resource, the template's example: its rules (`text`), its table (`entity`, with
//! the migration in the `migration` crate), its database functions (`store`) and its HTTP
//! operations (`api`). A new resource is a folder like this one.

pub mod api;
pub mod bodies;
pub mod entity;
pub mod store;
pub mod text;

pub use api::NotesApi;
