//! JSON response bodies serialized straight from `serde::Serialize`, documented with the
//! type's poem-openapi schema. poem-openapi's own `Json` first builds a `serde_json::Value`
//! tree, which is most of the cost of a page of notes.

use poem::{IntoResponse, Response};
use poem_openapi::{
    ApiResponse,
    payload::Payload,
    registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry},
    types::Type,
};
use serde::Serialize;

use super::error::ApiError;

pub struct SerdeJson<T>(pub T);

pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// `value` as a 200 JSON response; a serialization failure becomes a 500 problem.
pub fn serialize<T: Serialize + ?Sized>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => Response::builder().content_type(CONTENT_TYPE).body(body),
        Err(err) => ApiError::Internal(format!("serializing a response: {err}")).into_response(),
    }
}

impl<T: Type + Send> Payload for SerdeJson<T> {
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Serialize + Send> IntoResponse for SerdeJson<T> {
    fn into_response(self) -> Response {
        serialize(&self.0)
    }
}

impl<T: Type + Serialize + Send> ApiResponse for SerdeJson<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: CONTENT_TYPE,
                    schema: T::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}
