//! The OpenAPI document as served at `/openapi.json` and shown at `/docs`: poem-openapi's,
//! completed with what its derive macros cannot say, so the spec states exactly what the
//! service accepts: closed request bodies, and each operation's security as configured
//! (with authentication on, the OpenID Connect provider, the operation's scope, 401 and 403;
//! with it off, none).

use poem::{Endpoint, EndpointExt, IntoResponse, endpoint::make_sync, web::Html};
use poem_openapi::{OpenApi, OpenApiService, Webhook};
use serde_json::{Map, Value, json};

use super::{error_docs, idempotency, route_table::RouteTable};
use crate::config::{AuthSettings, IdempotencySettings, Settings};

/// How an operation's scope is marked in the generated document (a security scheme named
/// after the scope, with this description; `auth::Caller` registers it), until
/// `secure_operations` turns it into the operation's security requirement.
pub const SCOPE_MARKER: &str = "x-notes-service-scope";

/// The security schemes of the document when authentication is on.
const OPENID_CONNECT: &str = "openIdConnect";
const BEARER: &str = "bearerToken";

pub struct ApiDocument {
    json: String,
    swagger_ui: String,
}

impl ApiDocument {
    pub fn new<T: OpenApi, W: Webhook>(
        service: &OpenApiService<T, W>,
        settings: &Settings,
    ) -> Self {
        let generated = service.spec();
        let mut spec: Value = serde_json::from_str(&generated).unwrap_or_default();
        close_request_bodies(&mut spec);
        let auth = settings.auth.enabled().then_some(&settings.auth);
        secure_operations(&mut spec, auth);
        publish_key_policy(&mut spec, &settings.idempotency);
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

/// Each operation that takes a `Caller` is marked with its scope (a security scheme named
/// after the scope, `SCOPE_MARKER` in its description). With authentication on, the mark
/// becomes the operation's security requirement, with its scope, and its 401 and 403
/// answers; with it off, the mark goes and nothing is required.
fn secure_operations(spec: &mut Value, auth: Option<&AuthSettings>) {
    // `get_mut`: indexing a JSON object mutably would add the key, as null.
    let schemes = spec
        .get_mut("components")
        .and_then(|components| components.get_mut("securitySchemes"))
        .and_then(Value::as_object_mut);
    let mut scopes = Vec::new();
    if let Some(schemes) = schemes {
        scopes.extend(
            schemes
                .iter()
                .filter(|(_, scheme)| scheme["description"] == SCOPE_MARKER)
                .map(|(name, _)| name.clone()),
        );
        schemes.retain(|name, _| !scopes.contains(name));
    }
    let problem = |status: u16| {
        json!({
            "description": error_docs::description(status),
            "content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}
            }}
        })
    };
    for operation in operations(spec) {
        let Some(Value::Array(requirements)) = operation.remove("security") else {
            continue;
        };
        let needed: Vec<&String> = requirements
            .iter()
            .filter_map(Value::as_object)
            .flat_map(|requirement| requirement.keys())
            .filter(|name| scopes.contains(name))
            .collect();
        if auth.is_none() || needed.is_empty() {
            continue;
        }
        operation.insert(
            "security".to_owned(),
            json!([{OPENID_CONNECT: needed}, {BEARER: []}]),
        );
        if let Some(responses) = operation["responses"].as_object_mut() {
            responses.insert("401".to_owned(), problem(401));
            responses.insert("403".to_owned(), problem(403));
        }
    }
    if let Some(auth) = auth {
        let discovery = auth.discovery_url();
        let token = format!(
            "A JWT access token from {} for the audience `{}`, with the operation's scope",
            auth.issuer, auth.audience
        );
        spec["components"]["securitySchemes"] = json!({
            OPENID_CONNECT: {"type": "openIdConnect", "openIdConnectUrl": discovery},
            BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": token},
        });
    } else if let Some(components) = spec.get_mut("components").and_then(Value::as_object_mut)
        && components
            .get("securitySchemes")
            .and_then(Value::as_object)
            .is_some_and(|schemes| schemes.is_empty())
    {
        components.remove("securitySchemes");
    }
}

/// Each `Idempotency-Key` parameter states the policy as configured (the draft asks that it
/// be published): whether it is required, and how long a key is kept.
fn publish_key_policy(spec: &mut Value, settings: &IdempotencySettings) {
    let parameters = operations(spec)
        // `get_mut`: indexing a JSON object mutably would add `"parameters": null`.
        .filter_map(|operation| operation.get_mut("parameters"))
        .filter_map(Value::as_array_mut)
        .flatten()
        .filter(|parameter| parameter["name"] == idempotency::HEADER);
    for parameter in parameters {
        let said = parameter["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        parameter["description"] = json!(format!(
            "{said} A key is 1 to 255 printable ASCII characters, sent as a quoted string \
             (`\"8e03978e-40d5\"`) or bare; it is scoped to the caller, and kept for {} s \
             after its first use (then free again). A retry with the same key and the same \
             request gets the stored response with `Idempotent-Replayed: true`; with another \
             request, 422; while the first is still in flight, it waits for the first's \
             answer and gets it. Only successful responses are stored.{}",
            settings.ttl_seconds,
            if settings.required {
                " Required on this service."
            } else {
                ""
            }
        ));
        parameter["required"] = json!(settings.required);
    }
}

/// Every operation object of the document (`paths.<path>.<method>`).
fn operations(spec: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    spec.get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|path| path.values_mut())
        .filter_map(Value::as_object_mut)
}
