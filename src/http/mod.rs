//! HTTP plumbing shared by every resource; no resource edits it. Each module holds one
//! piece: errors and their problem bodies, how operations document them, the framework-error
//! middleware, what errors need to know of a resource (its name, its unique fields), entity
//! tags and conditional requests, idempotency keys, request body limits, the validating JSON
//! extractor, the kinds of field it reads and nullable fields, JSON responses, timestamps,
//! pagination, the request deadline, CORS, method names for labels, and the served OpenAPI
//! document.

pub mod body_limit;
pub mod cors;
pub mod error;
pub mod error_docs;
pub mod etag;
pub mod field_kinds;
pub mod idempotency;
pub mod json_body;
pub mod json_response;
pub mod method;
pub mod nullable;
pub mod pagination;
pub mod problem_details;
pub mod request_timeout;
pub mod resource;
pub mod route_table;
pub mod spec;
pub mod timestamp;
