//! The resource's suite, `tests/api/<plural>.rs`, run on every backend.

use std::fmt::Write as _;

use crate::{
    names::Names,
    spec::{Field, Kind, Resource},
};

/// A JSON value of `field` for item `i` (a Rust expression), distinct from item to item.
fn sample(field: &Field) -> String {
    match &field.kind {
        Kind::String { max } | Kind::Text { max } => {
            if field.name.len() + 7 <= *max as usize {
                format!("json!(format!(\"{}-{{i}}\"))", field.name)
            } else {
                let digits = (*max).min(9);
                format!("json!((i % 10usize.pow({digits})).to_string())")
            }
        }
        Kind::Bool => "json!(i.is_multiple_of(2))".into(),
        Kind::Int { min, max } => match (min, max) {
            (None, None) => "json!(i as i64)".into(),
            (Some(0), None) => "json!(i as i64)".into(),
            (Some(min), None) => format!("json!({min} + i as i64)"),
            (None, Some(max)) => format!("json!({max} - i as i64)"),
            (Some(min), Some(max)) => {
                let span = i128::from(*max) - i128::from(*min) + 1;
                match min {
                    0 => format!("json!((i as i64) % {span})"),
                    _ => format!("json!({min} + (i as i64) % {span})"),
                }
            }
        },
        Kind::Number => "json!(i as f64 + 0.5)".into(),
        Kind::Timestamp => "json!(timestamp(i))".into(),
        Kind::Date => "json!(date(i))".into(),
        Kind::Uuid => "json!(uuid(i))".into(),
        Kind::Enum { values } => {
            let list: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
            format!("json!([{}][i % {}])", list.join(", "), values.len())
        }
        Kind::Ref(_) => format!("json!(parents.{})", field.name),
    }
}

/// The scopes a token needs to make this resource and its parents (`create_one` makes them).
pub fn scopes(resource: &Resource, parent_scopes: &[String]) -> String {
    let mut scopes = vec![
        format!("{}:read", resource.plural),
        format!("{}:write", resource.plural),
    ];
    for scope in parent_scopes {
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    scopes.join(" ")
}

pub fn tests(resource: &Resource, names: &Names, scopes: &str) -> String {
    let p = &names.plural;
    let s = &names.singular_camel;
    let quoted = |fields: Vec<&Field>| -> String {
        let list: Vec<String> = fields.iter().map(|f| format!("\"{}\"", f.name)).collect();
        format!("&[{}]", list.join(", "))
    };
    let unique_sets: Vec<String> = resource
        .uniques
        .iter()
        .map(|set| quoted(set.iter().map(|&i| &resource.fields[i]).collect()))
        .collect();
    let conflicting = match resource.uniques.is_empty() {
        true => "&[]",
        false => "&[\"post\", \"put\", \"patch\"]",
    };
    // The filter shapes for the query-plan suite.
    let filters: Vec<&Field> = resource.filters().collect();
    let mut shapes = vec![format!("store::{s}Filter::default()")];
    for field in &filters {
        let value = match &field.kind {
            Kind::Bool => "Some(true)".to_owned(),
            Kind::Int { .. } | Kind::Ref(_) => "Some(1)".to_owned(),
            Kind::String { .. } => "Some(\"x\".to_owned())".to_owned(),
            Kind::Uuid => "Some(uuid::Uuid::nil())".to_owned(),
            Kind::Date => "chrono::NaiveDate::from_ymd_opt(2030, 1, 1)".to_owned(),
            Kind::Enum { values } => format!(
                "Some({krate}::{p}::{name}::{ty}::{variant})",
                krate = names.krate,
                name = field.name,
                ty = names.rule_type(field),
                variant = crate::spec::camel(&values[0]),
            ),
            _ => unreachable!("not a filter kind"),
        };
        let rest = match filters.len() {
            1 => "",
            _ => ", ..Default::default()",
        };
        shapes.push(format!(
            "store::{s}Filter {{ {}: {value}{rest} }}",
            field.name
        ));
    }
    // The parents.
    let mut parent_fields = String::new();
    let mut parent_new = String::new();
    let mut parent_makers = String::new();
    for (field, reference) in resource.references() {
        writeln!(parent_fields, "    {}: i64,", field.name).unwrap();
        writeln!(
            parent_new,
            "            {}: new_{}(app, token).await,",
            field.name, reference.parent_singular
        )
        .unwrap();
        let make = if reference.parent == "notes" {
            "let created = create_in(app, \"/notes\", token, &json!({\"text\": \"a parent\"})).await;".to_owned()
        } else {
            format!(
                "let created = crate::{}::create_one(app, token).await;",
                reference.parent
            )
        };
        let maker = format!(
            "/// A new {s} as `token`'s owner: its id.\nasync fn new_{s}(app: &TestApp, token: Option<&str>) -> i64 {{\n    {make}\n    created[\"id\"].as_i64().expect(\"an id\")\n}}\n\n",
            s = reference.parent_singular
        );
        if !parent_makers.contains(&format!("fn new_{}(", reference.parent_singular)) {
            parent_makers.push_str(&maker);
        }
    }
    let (app_param, token_param) = match parent_fields.is_empty() {
        true => ("_app", "_token"),
        false => ("app", "token"),
    };
    let mut body_fields = String::new();
    for field in &resource.fields {
        writeln!(
            body_fields,
            "        \"{}\": {},",
            field.name,
            sample(field)
        )
        .unwrap();
    }
    let parents_param = match parent_fields.is_empty() {
        true => "_parents",
        false => "parents",
    };
    // The field a PATCH changes: the first that is not a reference, else the first.
    let changed = resource
        .fields
        .iter()
        .find(|f| f.reference().is_none())
        .unwrap_or(&resource.fields[0]);
    let all_fields = quoted(resource.fields.iter().collect());
    let required = quoted(resource.fields.iter().filter(|f| !f.nullable).collect());
    let nullable = quoted(resource.fields.iter().filter(|f| f.nullable).collect());
    let filter_names = quoted(filters.clone());
    let mut too_long = String::new();
    for field in &resource.fields {
        if let Kind::String { max } | Kind::Text { max } = field.kind {
            writeln!(
                too_long,
                "    let mut long = body(0, &parents);\n    long[\"{name}\"] = json!(\"a\".repeat({max} + 1));\n    let refused = problem(app.post(\"/{p}\", &long).await, 422).await;\n    assert_eq!(error_fields(&refused), [\"{name}\"]);",
                name = field.name
            )
            .unwrap();
        }
    }

    let mut list: Vec<String> = [
        "create_read_replace_change_delete",
        "etags_guard_every_write",
        "lists_page_by_id_in_both_orders",
        "bad_bodies_are_422_naming_each_field",
        "idempotency_keys_replay_the_first_answer",
        "owners_see_and_change_only_their_own",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut extra = String::new();
    if !filters.is_empty() {
        list.push("filters_select_what_they_name".to_owned());
        extra.push_str(&names.fill(FILTERS));
    }
    if !resource.uniques.is_empty() {
        list.push("unique_fields_conflict_even_in_a_race".to_owned());
        extra.push_str(&names.fill(UNIQUE));
    }
    if resource.nullables().next().is_some() {
        list.push("nullable_fields_clear".to_owned());
        extra.push_str(&names.fill(NULLABLE));
    }
    if resource.references().next().is_some() {
        list.push("a_missing_parent_is_a_422_naming_the_field".to_owned());
        extra.push_str(&names.fill(MISSING_PARENT));
    }
    for (field, reference) in resource.references() {
        let test = match reference.cascade {
            true => format!("deleting_a_{}_deletes_its_{p}", reference.parent_singular),
            false => format!("a_{}_with_{p}_cannot_be_deleted", reference.parent_singular),
        };
        let template = match reference.cascade {
            true => CASCADE,
            false => RESTRICT,
        };
        extra.push_str(
            &names
                .fill(template)
                .replace("__TEST__", &test)
                .replace("__FIELD__", &field.name)
                .replace("__PARENTS__", &reference.parent)
                .replace("__PARENT__", &reference.parent_singular),
        );
        list.push(test);
    }
    let references: Vec<String> = resource
        .references()
        .map(|(f, r)| format!("(\"{}\", \"{}\")", f.name, r.parent_singular))
        .collect();

    let has = |kind: fn(&Kind) -> bool| resource.fields.iter().any(|f| kind(&f.kind));
    let mut helpers = String::new();
    if has(|k| matches!(k, Kind::Timestamp)) {
        helpers.push_str(
            "/// A timestamp for item `i`: distinct for each.\nfn timestamp(i: usize) -> String {\n    format!(\n        \"2030-01-01T{:02}:{:02}:{:02}.000001Z\",\n        i / 3600 % 24,\n        i / 60 % 60,\n        i % 60\n    )\n}\n\n",
        );
    }
    if has(|k| matches!(k, Kind::Date)) {
        helpers.push_str(
            "/// A date for item `i`: distinct for each.\nfn date(i: usize) -> String {\n    format!(\"{}-01-01\", 2000 + i % 8000)\n}\n\n",
        );
    }
    if has(|k| matches!(k, Kind::Uuid)) {
        helpers.push_str(
            "/// A UUID for item `i`: distinct for each.\nfn uuid(i: usize) -> String {\n    format!(\"00000000-0000-4000-8000-{i:012}\")\n}\n\n",
        );
    }
    let head = format!(
        r#"//! The {{{{plural}}}} resource over HTTP, on every backend (written by `cargo xtask
//! new-resource`; extend it as the resource grows): create, read, replace, change and delete
//! with ETags, keyset lists in both orders, filters, unique fields under a race, nullable
//! fields, bad bodies, owners, references to parents and `Idempotency-Key`.

use std::sync::atomic::{{AtomicUsize, Ordering}};

use crate::common::{{
    Backend, TestApp, all_pages, counted, error_fields, problem,
    resource::{{Shape, TestedResource, owners, pages}},
    tokens::{{self, Signer, TestIssuer, keys}},
}};
use {{{{crate}}}}::{{{{plural}}}}::store;
use reqwest::{{Method, Response, header}};
use serde_json::{{Value, json}};

/// The {{{{plural}}}} resource, for the suites that cover every resource.
pub const RESOURCE: TestedResource = TestedResource {{
    collection: "/{{{{plural}}}}",
    item: "/{{{{plural}}}}/{{id}}",
    bodies: &["New{s}", "{s}Replacement", "{s}Changes"],
    conflicting: {conflicting},
    keyed: &["post", "patch"],
    referenced: &[],
    read_scope: "{{{{plural}}}}:read",
    write_scope: "{{{{plural}}}}:write",
    list_shapes,
}};

/// The scopes a token needs to make a {{{{singular}}}} and its parents.
pub const SCOPES: &str = "{scopes}";

/// Every field, the required ones, the nullable ones, the filters.
const FIELDS: &[&str] = {all_fields};
const REQUIRED: &[&str] = {required};
const NULLABLE: &[&str] = {nullable};
const FILTERS: &[&str] = {filter_names};
/// Each set of fields that is unique per owner.
const UNIQUE: &[&[&str]] = &[{unique_sets}];
/// Each reference and the singular of its parent.
const REFERENCES: &[(&str, &str)] = &[{references}];

/// Every list query shape: each owner scope, filter and page.
fn list_shapes() -> Vec<Shape> {{
    let filters = vec![{shapes}];
    let mut shapes = Vec::new();
    for owner in owners() {{
        for filter in &filters {{
            for page in pages() {{
                let query = store::list_query(&owner, filter, page);
                let label = format!("{{owner:?}} {{filter:?}} {{page:?}}");
                shapes.push(Shape::new("{{{{plural}}}}", label, query));
            }}
        }}
    }}
    shapes
}}

backend_tests!(
    {list},
);

/// A request, with a bearer token when one is given.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Response {{
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {{
        request = request.bearer_auth(token);
    }}
    if let Some(body) = body {{
        request = request.json(body);
    }}
    request.send().await.expect("the request reaches the service")
}}

/// POSTs `body` to `collection`, asserting a 201; returns the item.
async fn create_in(app: &TestApp, collection: &str, token: Option<&str>, body: &Value) -> Value {{
    let response = send(app, Method::POST, collection, token, Some(body)).await;
    assert_eq!(response.status(), 201, "POST {{collection}} {{body}}");
    response.json().await.expect("a JSON item")
}}

async fn create(app: &TestApp, token: Option<&str>, body: &Value) -> Value {{
    create_in(app, "/{{{{plural}}}}", token, body).await
}}

{helpers}
/// The parents a {{{{singular}}}} refers to.
struct Parents {{
{parent_fields}}}

impl Parents {{
    /// New parents, made by `token`'s owner.
    async fn new({app_param}: &TestApp, {token_param}: Option<&str>) -> Self {{
        Self {{
{parent_new}        }}
    }}
}}

{parent_makers}/// A valid body for item `i`: each field's value differs from item to item.
fn body(i: usize, {parents_param}: &Parents) -> Value {{
    json!({{
{body_fields}    }})
}}

/// Items made by [`create_one`] take their values from here, apart from the tests' own.
#[allow(dead_code)] // until a resource refers to {{{{plural}}}}
static NEXT: AtomicUsize = AtomicUsize::new(1000);

/// Creates a {{{{singular}}}} (and its parents) as `token`'s owner: the suites of resources that
/// refer to {{{{plural}}}} make their parents with it.
#[allow(dead_code)] // until a resource refers to {{{{plural}}}}
pub async fn create_one(app: &TestApp, token: Option<&str>) -> Value {{
    let parents = Parents::new(app, token).await;
    let i = NEXT.fetch_add(1, Ordering::Relaxed);
    create(app, token, &body(i, &parents)).await
}}

/// Asserts that `item` holds every field of `sent` as sent.
fn assert_holds(item: &Value, sent: &Value) {{
    for field in FIELDS {{
        assert_eq!(item[*field], sent[*field], "{{field}} in {{item}}");
    }}
}}

fn ids(items: &[Value]) -> Vec<i64> {{
    items.iter().map(|item| item["id"].as_i64().expect("an id")).collect()
}}

async fn create_read_replace_change_delete(backend: Backend) {{
    let app = TestApp::spawn(backend).await;
    let parents = Parents::new(&app, None).await;
    let response = app.post("/{{{{plural}}}}", &body(1, &parents)).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let etag = response.headers()[header::ETAG].clone();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_i64().expect("an integer id");
    assert_eq!(location, format!("/{{{{plural}}}}/{{id}}"));
    assert_holds(&created, &body(1, &parents));
    let read = app.get(&location).await;
    assert_eq!(read.headers()[header::ETAG], etag);
    assert_eq!(read.json::<Value>().await.unwrap(), created);

    // PUT replaces every field.
    let replaced = app
        .send_json(Method::PUT, &location, &body(2, &parents))
        .await;
    assert_eq!(replaced.status(), 200);
    let replaced: Value = replaced.json().await.unwrap();
    assert_holds(&replaced, &body(2, &parents));
    assert_eq!(replaced["id"], created["id"]);
    assert_eq!(replaced["created_at"], created["created_at"]);

    // PATCH changes the fields it is given and keeps the others.
    let change = json!({{"{changed}": body(3, &parents)["{changed}"]}});
    let patched = app.send_json(Method::PATCH, &location, &change).await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    let mut expected = body(2, &parents);
    expected["{changed}"] = change["{changed}"].clone();
    assert_holds(&patched, &expected);
    let unchanged = app.send_json(Method::PATCH, &location, &json!({{}})).await;
    assert_eq!(unchanged.status(), 200);
    assert_eq!(
        unchanged.json::<Value>().await.unwrap(),
        patched,
        "an empty PATCH changes nothing"
    );
    assert_eq!(app.get_json(&location).await, patched);

    let deleted = app.client.delete(app.url(&location)).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = problem(app.get(&location).await, 404).await;
    assert_eq!(
        gone["type"],
        "urn:notes-service:problem:{{{{singular}}}}-not-found"
    );
    for method in [Method::PUT, Method::PATCH] {{
        problem(
            app.send_json(method, &location, &body(4, &parents)).await,
            404,
        )
        .await;
    }}
    let refused = problem(app.get("/{{{{plural}}}}/abc").await, 400).await;
    assert_eq!(error_fields(&refused), ["id"]);
    app.stop().await;
}}

async fn etags_guard_every_write(backend: Backend) {{
    let app = TestApp::spawn(backend).await;
    let parents = Parents::new(&app, None).await;
    let item = app.create("/{{{{plural}}}}", &body(1, &parents)).await;
    let path = format!("/{{{{plural}}}}/{{}}", item["id"]);
    let read = app.get(&path).await;
    let etag = read.headers()[header::ETAG].to_str().unwrap().to_owned();
    let not_modified = app
        .client
        .get(app.url(&path))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);

    // A stale tag: 412 with the current one, and nothing is written.
    let change = json!({{"{changed}": body(2, &parents)["{changed}"]}});
    let stale = app
        .client
        .patch(app.url(&path))
        .header(header::IF_MATCH, "\"999\"")
        .json(&change)
        .send()
        .await
        .unwrap();
    problem(stale, 412).await;
    assert_eq!(app.get_json(&path).await, item);

    // The current tag: written, and the tag changes.
    let fresh = app
        .client
        .patch(app.url(&path))
        .header(header::IF_MATCH, &etag)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    let newer = fresh.headers()[header::ETAG].to_str().unwrap().to_owned();
    assert_ne!(newer, etag);
    for method in [Method::PUT, Method::DELETE] {{
        let refused = app
            .client
            .request(method.clone(), app.url(&path))
            .header(header::IF_MATCH, &etag)
            .json(&body(3, &parents))
            .send()
            .await
            .unwrap();
        problem(refused, 412).await;
    }}
    let deleted = app
        .client
        .delete(app.url(&path))
        .header(header::IF_MATCH, &newer)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    app.stop().await;
}}

async fn lists_page_by_id_in_both_orders(backend: Backend) {{
    let app = TestApp::spawn(backend).await;
    let parents = Parents::new(&app, None).await;
    let mut created = Vec::new();
    for i in 0..5 {{
        created.push(app.create("/{{{{plural}}}}", &body(i, &parents)).await);
    }}
    let base = app.url("");
    let ascending = all_pages(&app.client, &base, "/{{{{plural}}}}?limit=2").await;
    assert_eq!(ascending, created);
    let descending = all_pages(&app.client, &base, "/{{{{plural}}}}?limit=2&order=desc").await;
    let mut newest_first = ids(&created);
    newest_first.reverse();
    assert_eq!(ids(&descending), newest_first);
    assert_eq!(counted(&app, "/{{{{plural}}}}").await, 5);
    let refused = app.get("/{{{{plural}}}}?after=1&offset=1").await;
    problem(refused, 400).await;
    app.stop().await;
}}

async fn bad_bodies_are_422_naming_each_field(backend: Backend) {{
    let app = TestApp::spawn(backend).await;
    let parents = Parents::new(&app, None).await;
    // A value of a JSON type no field takes, in every field: each is named.
    let mut wrong = body(0, &parents);
    for field in FIELDS {{
        wrong[*field] = json!([1]);
    }}
    let refused = problem(app.post("/{{{{plural}}}}", &wrong).await, 422).await;
    let mut named = error_fields(&refused);
    named.sort();
    let mut fields: Vec<&str> = FIELDS.to_vec();
    fields.sort();
    assert_eq!(named, fields);
    // Every required field left out is named.
    let refused = problem(app.post("/{{{{plural}}}}", &json!({{}})).await, 422).await;
    let mut named = error_fields(&refused);
    named.sort();
    let mut required: Vec<&str> = REQUIRED.to_vec();
    required.sort();
    assert_eq!(named, required);
    // Unknown fields and fields the server sets are refused.
    let mut extra = body(0, &parents);
    extra["id"] = json!(1);
    extra["unknown"] = json!(true);
    let refused = problem(app.post("/{{{{plural}}}}", &extra).await, 422).await;
    let mut named = error_fields(&refused);
    named.sort();
    assert_eq!(named, ["id", "unknown"]);
{too_long}
    // Malformed JSON is a 400.
    let malformed = app
        .client
        .post(app.url("/{{{{plural}}}}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body("{{")
        .send()
        .await
        .unwrap();
    problem(malformed, 400).await;
    assert_eq!(counted(&app, "/{{{{plural}}}}").await, 0);
    app.stop().await;
}}

async fn idempotency_keys_replay_the_first_answer(backend: Backend) {{
    let app = TestApp::spawn(backend).await;
    let parents = Parents::new(&app, None).await;
    let post = |body: Value| {{
        app.client
            .post(app.url("/{{{{plural}}}}"))
            .header("idempotency-key", "{{{{plural}}}}-key-1")
            .json(&body)
            .send()
    }};
    let first = post(body(0, &parents)).await.unwrap();
    assert_eq!(first.status(), 201);
    let location = first.headers()[header::LOCATION].clone();
    let first: Value = first.json().await.unwrap();
    let again = post(body(0, &parents)).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()[header::LOCATION], location);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(counted(&app, "/{{{{plural}}}}").await, 1);
    // The same key with another body: 422, and nothing is written.
    let other = problem(post(body(1, &parents)).await.unwrap(), 422).await;
    assert_eq!(
        other["type"],
        "urn:notes-service:problem:idempotency-key-reused"
    );
    assert_eq!(counted(&app, "/{{{{plural}}}}").await, 1);
    app.stop().await;
}}

/// The audience the test issuer's tokens name.
const AUDIENCE: &str = "notes-api";

async fn owners_see_and_change_only_their_own(backend: Backend) {{
    let issuer = TestIssuer::with_test_keys().await;
    let app = TestApp::spawn_with(backend, |settings| {{
        settings.auth.issuer = issuer.issuer().to_owned();
        settings.auth.audience = AUDIENCE.to_owned();
    }})
    .await;
    let token = |sub: &str| {{
        let claims = tokens::claims(issuer.issuer(), AUDIENCE, sub);
        let claims = tokens::patch(&claims, &json!({{"scope": SCOPES}}));
        tokens::mint(&Signer::Key(&keys().rs256), &json!({{}}), &claims)
    }};
    let (a, b) = (token("owner-a"), token("owner-b"));
    let (a, b) = (Some(a.as_str()), Some(b.as_str()));
    let theirs_parents = Parents::new(&app, a).await;
    let theirs = create(&app, a, &body(0, &theirs_parents)).await;
    let path = format!("/{{{{plural}}}}/{{}}", theirs["id"]);
    let own_parents = Parents::new(&app, b).await;

    // Another owner's {{{{singular}}}} is not listed, and is a 404 for every method.
    let listed = send(&app, Method::GET, "/{{{{plural}}}}", b, None).await;
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.json::<Value>().await.unwrap(), json!([]));
    for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {{
        let response = send(&app, method.clone(), &path, b, Some(&body(1, &own_parents))).await;
        let refused = problem(response, 404).await;
        assert_eq!(
            refused["type"],
            "urn:notes-service:problem:{{{{singular}}}}-not-found",
            "{{method}}"
        );
    }}
    let still = send(&app, Method::GET, &path, a, None).await;
    assert_eq!(still.json::<Value>().await.unwrap(), theirs);
    // The same values are free for another owner: uniqueness is per owner.
    create(&app, b, &body(0, &own_parents)).await;

    // A reference to another owner's parent answers as one to a missing parent.
    for (field, parent) in REFERENCES {{
        let mut refers = body(2, &own_parents);
        refers[*field] = theirs[*field].clone();
        let response = send(&app, Method::POST, "/{{{{plural}}}}", b, Some(&refers)).await;
        let refused = problem(response, 422).await;
        let mut missing = body(2, &own_parents);
        missing[*field] = json!(i64::MAX);
        let response = send(&app, Method::POST, "/{{{{plural}}}}", b, Some(&missing)).await;
        let absent = problem(response, 422).await;
        for answer in [&refused, &absent] {{
            assert_eq!(
                answer["type"],
                "urn:notes-service:problem:reference-not-found"
            );
            assert_eq!(error_fields(answer), [*field]);
        }}
        assert_eq!(refused["detail"], absent["detail"]);
        assert_eq!(
            refused["errors"][0]["message"],
            format!("no {{parent}} with id {{}}", theirs[*field])
        );
        assert_eq!(
            absent["errors"][0]["message"],
            format!("no {{parent}} with id {{}}", i64::MAX)
        );
    }}
    app.stop().await;
}}
"#,
        list = list.join(",\n    "),
        unique_sets = unique_sets.join(", "),
        references = references.join(", "),
        shapes = shapes.join(", "),
        changed = changed.name,
    );
    let mut out = names.fill(&head);
    out.push_str(&extra);
    // The lists only some tests read.
    let unused = [
        ("const FILTERS:", filters.is_empty()),
        ("const NULLABLE:", resource.nullables().next().is_none()),
        ("const UNIQUE:", resource.uniques.is_empty()),
    ];
    out.lines()
        .filter(|line| {
            !unused
                .iter()
                .any(|(start, drop)| *drop && line.starts_with(start))
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

const FILTERS: &str = r#"
async fn filters_select_what_they_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (first, second) = (
        Parents::new(&app, None).await,
        Parents::new(&app, None).await,
    );
    let items = [
        app.create("/{{plural}}", &body(0, &first)).await,
        app.create("/{{plural}}", &body(1, &second)).await,
    ];
    let base = app.url("");
    for field in FILTERS {
        for item in &items {
            let value = match &item[*field] {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            // One at a time: the `next` links carry the filter.
            let path = format!("/{{plural}}?{field}={value}&limit=1");
            let listed = all_pages(&app.client, &base, &path).await;
            assert_eq!(listed, std::slice::from_ref(item), "{path}");
            let path = format!("/{{plural}}?{field}={value}");
            assert_eq!(counted(&app, &path).await, 1, "{path}");
        }
    }
    app.stop().await;
}
"#;

const UNIQUE: &str = r#"
async fn unique_fields_conflict_even_in_a_race(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let parents = Parents::new(&app, None).await;
    let first = app.create("/{{plural}}", &body(0, &parents)).await;
    for (n, fields) in UNIQUE.iter().enumerate() {
        let mut duplicate = body(10 + n, &parents);
        for field in *fields {
            duplicate[*field] = first[*field].clone();
        }
        let refused = problem(app.post("/{{plural}}", &duplicate).await, 409).await;
        assert_eq!(refused["type"], "urn:notes-service:problem:already-exists");
        let named = fields.last().copied().unwrap_or_default();
        assert_eq!(error_fields(&refused), [named]);
        // A replace or a change that takes the values: 409 too.
        let other = app.create("/{{plural}}", &body(20 + n, &parents)).await;
        let path = format!("/{{plural}}/{}", other["id"]);
        for method in [Method::PUT, Method::PATCH] {
            let response = app.send_json(method, &path, &duplicate).await;
            problem(response, 409).await;
        }
    }
    // Sixteen creates of one new item at once: one is created, fifteen conflict.
    let racer = body(100, &parents);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, url, racer) = (app.client.clone(), app.url("/{{plural}}"), racer.clone());
        tasks.push(tokio::spawn(async move {
            let response = client.post(url).json(&racer).send().await.unwrap();
            response.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [vec![201], vec![409; 15]].concat());
    app.stop().await;
}
"#;

const NULLABLE: &str = r#"
async fn nullable_fields_clear(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let parents = Parents::new(&app, None).await;
    let item = app.create("/{{plural}}", &body(0, &parents)).await;
    let path = format!("/{{plural}}/{}", item["id"]);
    let mut clear = json!({});
    for field in NULLABLE {
        assert!(!item[*field].is_null(), "{field}");
        clear[*field] = Value::Null;
    }
    // `null` in a PATCH clears.
    let cleared = app.send_json(Method::PATCH, &path, &clear).await;
    assert_eq!(cleared.status(), 200);
    let cleared: Value = cleared.json().await.unwrap();
    for field in NULLABLE {
        assert!(cleared[*field].is_null(), "{field}");
    }
    assert_eq!(app.get_json(&path).await, cleared);
    // Left out of a create or a replace: null, and still in the response.
    let sparse = |i| {
        let mut sparse = body(i, &parents);
        for field in NULLABLE {
            sparse.as_object_mut().unwrap().remove(*field);
        }
        sparse
    };
    let created = app.create("/{{plural}}", &sparse(1)).await;
    let replaced = app.send_json(Method::PUT, &path, &sparse(2)).await;
    assert_eq!(replaced.status(), 200);
    let replaced: Value = replaced.json().await.unwrap();
    for field in NULLABLE {
        assert_eq!(created[*field], Value::Null, "{field}");
        assert_eq!(replaced[*field], Value::Null, "{field}");
    }
    app.stop().await;
}
"#;

const MISSING_PARENT: &str = r#"
async fn a_missing_parent_is_a_422_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let parents = Parents::new(&app, None).await;
    let item = app.create("/{{plural}}", &body(0, &parents)).await;
    let path = format!("/{{plural}}/{}", item["id"]);
    for (field, parent) in REFERENCES {
        let mut missing = body(1, &parents);
        missing[*field] = json!(424242);
        for (method, target) in [
            (Method::POST, "/{{plural}}"),
            (Method::PUT, path.as_str()),
            (Method::PATCH, path.as_str()),
        ] {
            let response = app.send_json(method.clone(), target, &missing).await;
            let refused = problem(response, 422).await;
            assert_eq!(
                refused["type"],
                "urn:notes-service:problem:reference-not-found",
                "{method}"
            );
            assert_eq!(error_fields(&refused), [*field]);
            assert_eq!(
                refused["errors"][0]["message"],
                format!("no {parent} with id 424242")
            );
        }
        // Not an id at all: a 422 naming the field, as for any field.
        missing[*field] = json!(0);
        let refused = problem(app.post("/{{plural}}", &missing).await, 422).await;
        assert_eq!(error_fields(&refused), [*field]);
    }
    assert_eq!(app.get_json(&path).await, item);
    app.stop().await;
}
"#;

const CASCADE: &str = r#"
/// `ON DELETE CASCADE`: a __PARENT__'s {{plural}} go with it; the others stay.
async fn __TEST__(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (parents, others) = (
        Parents::new(&app, None).await,
        Parents::new(&app, None).await,
    );
    let gone = app.create("/{{plural}}", &body(0, &parents)).await;
    let kept = app.create("/{{plural}}", &body(1, &others)).await;
    let parent = format!("/__PARENTS__/{}", parents.__FIELD__);
    let deleted = app.client.delete(app.url(&parent)).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    problem(app.get(&format!("/{{plural}}/{}", gone["id"])).await, 404).await;
    assert_eq!(app.get_json(&format!("/{{plural}}/{}", kept["id"])).await, kept);
    app.stop().await;
}
"#;

const RESTRICT: &str = r#"
/// `ON DELETE RESTRICT`: a __PARENT__ cannot be deleted while {{plural}} refer to it (409).
async fn __TEST__(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let parents = Parents::new(&app, None).await;
    let item = app.create("/{{plural}}", &body(0, &parents)).await;
    let parent = format!("/__PARENTS__/{}", parents.__FIELD__);
    let refused = app.client.delete(app.url(&parent)).send().await.unwrap();
    let refused = problem(refused, 409).await;
    assert_eq!(refused["type"], "urn:notes-service:problem:still-referenced");
    assert_eq!(app.get(&parent).await.status(), 200);
    let path = format!("/{{plural}}/{}", item["id"]);
    assert_eq!(app.client.delete(app.url(&path)).send().await.unwrap().status(), 204);
    let deleted = app.client.delete(app.url(&parent)).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    app.stop().await;
}
"#;
