//! The paths the app serves, their methods (for a 405's `Allow` header), their templates
//! (`/notes/{id}`, the route label of the metrics) and what each parameter accepts (to word a
//! refused parameter in the API's own terms). Read from the OpenAPI document itself, so it
//! cannot drift from the API.

use std::{collections::HashMap, sync::Arc};

use poem::http::Method;
use serde_json::Value;

#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

#[derive(Debug)]
struct Route {
    /// The path as the spec writes it, e.g. `/notes/{id}`.
    template: Arc<str>,
    segments: Vec<Segment>,
    methods: Vec<Method>,
    /// Parameter name -> what it accepts, e.g. "must be an integer from 1 to 1000".
    params: HashMap<String, String>,
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    /// `{name}` in the spec's path.
    Variable(String),
}

impl RouteTable {
    /// Every path of an OpenAPI document (JSON), with its methods and parameters.
    pub fn from_spec(spec: &Value) -> Self {
        let mut table = Self::default();
        let empty = serde_json::Map::new();
        for (path, operations) in spec["paths"].as_object().unwrap_or(&empty) {
            let operations = operations.as_object().unwrap_or(&empty);
            let methods = operations
                .keys()
                .filter_map(|m| m.to_ascii_uppercase().parse::<Method>().ok())
                .collect();
            let params = operations
                .values()
                .filter_map(|op| op["parameters"].as_array())
                .flatten()
                .filter_map(|param| {
                    let name = param["name"].as_str()?;
                    Some((name.to_owned(), accepted_values(spec, &param["schema"])))
                })
                .collect();
            table.routes.push(Route::new(path, methods, params));
        }
        table
    }

    /// Adds a path served outside the OpenAPI document (`{name}` for a variable segment).
    pub fn add(&mut self, path: &str, methods: Vec<Method>) {
        self.routes.push(Route::new(path, methods, HashMap::new()));
    }

    fn find(&self, path: &str) -> Option<&Route> {
        // Empty segments are skipped, as `NormalizePath` does before the router sees a path.
        let parts: Vec<_> = segments(path).collect();
        self.routes.iter().find(|route| {
            route.segments.len() == parts.len()
                && route
                    .segments
                    .iter()
                    .zip(&parts)
                    .all(|(seg, part)| match seg {
                        Segment::Literal(s) => s == part,
                        Segment::Variable(_) => true,
                    })
        })
    }

    /// The template of the route that serves `path` (`/notes/{id}` for `/notes/7`), if any.
    pub fn template(&self, path: &str) -> Option<&Arc<str>> {
        self.find(path).map(|route| &route.template)
    }

    /// The methods served on `path` (empty when no route matches).
    pub fn allowed_methods(&self, path: &str) -> Vec<Method> {
        self.find(path)
            .map(|route| route.methods.clone())
            .unwrap_or_default()
    }

    /// What parameter `name` accepts on `path`, e.g. "must be true or false".
    pub fn accepted(&self, path: &str, name: &str) -> &str {
        self.find(path)
            .and_then(|route| route.params.get(name))
            .map_or("is not valid", String::as_str)
    }

    /// poem-openapi names path parameters `param0`, `param1`, ... in errors; this gives the
    /// name the spec uses instead.
    pub fn path_param_name(&self, path: &str, internal: &str) -> String {
        let index = internal
            .strip_prefix("param")
            .and_then(|n| n.parse::<usize>().ok());
        let named = self.find(path).and_then(|route| {
            route
                .segments
                .iter()
                .filter_map(|s| match s {
                    Segment::Variable(name) => Some(name.clone()),
                    Segment::Literal(_) => None,
                })
                .nth(index?)
        });
        named.unwrap_or_else(|| internal.to_owned())
    }
}

impl Route {
    fn new(path: &str, methods: Vec<Method>, params: HashMap<String, String>) -> Self {
        let parsed = segments(path)
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Variable(name.to_owned()),
                    None => Segment::Literal(s.to_owned()),
                },
            )
            .collect();
        Self {
            template: path.into(),
            segments: parsed,
            methods,
            params,
        }
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|segment| !segment.is_empty())
}

/// What a parameter with this JSON schema accepts, e.g. "must be an integer from 1 to 1000".
fn accepted_values(spec: &Value, schema: &Value) -> String {
    let schema = match schema["$ref"].as_str() {
        Some(reference) => spec
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or(schema),
        None => schema,
    };
    if let Some(choices) = schema["enum"].as_array() {
        let choices: Vec<_> = choices.iter().filter_map(Value::as_str).collect();
        return format!("must be one of: {}", choices.join(", "));
    }
    let number = |key: &str| schema[key].as_f64().map(|n| n.to_string());
    match schema["type"].as_str() {
        Some("boolean") => "must be true or false".to_owned(),
        Some("integer") => match (number("minimum"), number("maximum")) {
            (Some(min), Some(max)) => format!("must be an integer from {min} to {max}"),
            (Some(min), None) => format!("must be an integer of at least {min}"),
            (None, Some(max)) => format!("must be an integer of at most {max}"),
            // Unbounded in the spec means the full 64-bit range.
            (None, None) => "must be a 64-bit integer".to_owned(),
        },
        _ => "is not valid".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_described_from_their_schema() {
        let spec = serde_json::json!({
            "paths": {"/items/{id}": {"get": {"parameters": [
                {"name": "id", "schema": {"type": "integer", "format": "int64"}},
                {"name": "limit", "schema": {"type": "integer", "minimum": 1.0, "maximum": 10.0}},
                {"name": "flag", "schema": {"type": "boolean"}},
                {"name": "order", "schema": {"$ref": "#/components/schemas/Order"}}
            ]}}},
            "components": {"schemas": {"Order": {"type": "string", "enum": ["asc", "desc"]}}}
        });
        let table = RouteTable::from_spec(&spec);
        assert_eq!(table.accepted("/items/7", "id"), "must be a 64-bit integer");
        assert_eq!(
            table.accepted("/items/7", "limit"),
            "must be an integer from 1 to 10"
        );
        assert_eq!(table.accepted("/items/7", "flag"), "must be true or false");
        assert_eq!(
            table.accepted("/items/7", "order"),
            "must be one of: asc, desc"
        );
        assert_eq!(table.path_param_name("/items/7", "param0"), "id");
        assert_eq!(table.allowed_methods("/items/7"), [Method::GET]);
        assert!(table.allowed_methods("/nothing").is_empty());
    }

    #[test]
    fn a_path_maps_to_its_template_whatever_its_values() {
        let spec = serde_json::json!({"paths": {
            "/items": {"get": {}},
            "/items/{id}": {"get": {}}
        }});
        let mut table = RouteTable::from_spec(&spec);
        table.add("/metrics", vec![Method::GET]);
        let template = |path| table.template(path).map(|t| t.to_string());
        for path in ["/items/7", "/items/abc", "/items/7/", "//items//7"] {
            assert_eq!(template(path).as_deref(), Some("/items/{id}"), "{path}");
        }
        assert_eq!(template("/items/").as_deref(), Some("/items"));
        assert_eq!(template("/metrics").as_deref(), Some("/metrics"));
        assert_eq!(template("/items/7/more"), None);
        assert_eq!(template("/nothing"), None);
        assert_eq!(template("/"), None);
    }
}
