//! The OpenAPI document as served at `/openapi.json` and shown at `/docs`: poem-openapi's,
//! completed with what its derive macros cannot say, so the spec states exactly what the
//! service accepts.

use poem::{Endpoint, EndpointExt, IntoResponse, endpoint::make_sync, web::Html};
use poem_openapi::{OpenApi, OpenApiService, Webhook};
use serde_json::Value;

use super::route_table::RouteTable;

pub struct ApiDocument {
    json: String,
    swagger_ui: String,
}

impl ApiDocument {
    pub fn new<T: OpenApi, W: Webhook>(service: &OpenApiService<T, W>) -> Self {
        let generated = service.spec();
        let mut spec: Value = serde_json::from_str(&generated).unwrap_or_default();
        close_request_bodies(&mut spec);
        let json = serde_json::to_string_pretty(&spec).unwrap_or(generated.clone());
        // Swagger UI embeds the document; show the completed one.
        let swagger_ui = service.swagger_ui_html().replacen(&generated, &json, 1);
        Self { json, swagger_ui }
    }

    /// Paths, methods and parameters of the document.
    pub fn routes(&self) -> RouteTable {
        RouteTable::from_spec(&serde_json::from_str(&self.json).unwrap_or_default())
    }

    pub fn json(&self) -> &str {
        &self.json
    }

    /// `GET /openapi.json`.
    pub fn spec_endpoint(&self) -> impl Endpoint + 'static {
        let json = self.json.clone();
        make_sync(move |_| {
            json.clone()
                .with_content_type("application/json; charset=utf-8")
                .into_response()
        })
        .map_to_response()
    }

    /// `GET /docs`: Swagger UI.
    pub fn swagger_ui(&self) -> impl Endpoint + 'static {
        let html = self.swagger_ui.clone();
        make_sync(move |_| Html(html.clone()))
    }
}

/// Every request body is read by `ValidatedJson`, which refuses fields it does not know: say
/// so in each body schema (`additionalProperties: false`), which poem-openapi cannot express.
fn close_request_bodies(spec: &mut Value) {
    let mut names = Vec::new();
    if let Some(paths) = spec["paths"].as_object() {
        for operation in paths
            .values()
            .filter_map(Value::as_object)
            .flat_map(|o| o.values())
        {
            let content = operation["requestBody"]["content"].as_object();
            for media in content.into_iter().flat_map(|c| c.values()) {
                if let Some(reference) = media["schema"]["$ref"].as_str() {
                    names.push(
                        reference
                            .trim_start_matches("#/components/schemas/")
                            .to_owned(),
                    );
                }
            }
        }
    }
    for name in names {
        if let Some(schema) = spec["components"]["schemas"][&name].as_object_mut() {
            schema.insert("additionalProperties".to_owned(), Value::Bool(false));
        }
    }
}
