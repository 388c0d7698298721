//! CORS: a browser front end on an allowed origin can call the API and read the headers it
//! needs; any other origin gets the same answers without CORS headers; and with no origins
//! configured (the default) the service sends no CORS headers at all.

use crate::common::{Backend, TestApp};
use reqwest::{Method, header};
use serde_json::json;

const FRONT_END: &str = "https://app.example.com";

async fn app_allowing(origins: &str) -> TestApp {
    let origins: Vec<String> = origins.split(',').map(str::to_owned).collect();
    TestApp::spawn_with(Backend::Sqlite, |s| s.server.cors_allowed_origins = origins).await
}

async fn preflight(app: &TestApp, origin: &str, method: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url("/notes/1"))
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "content-type, if-match",
        )
        .send()
        .await
        .unwrap()
}

fn header_list(response: &reqwest::Response, name: header::HeaderName) -> Vec<String> {
    response
        .headers()
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn allowed_origins_get_preflight_and_readable_headers() {
    let app = app_allowing(&format!("{FRONT_END},http://localhost:5173")).await;
    let note = app.create("/notes", &json!({"text": "shared"})).await;

    let answer = preflight(&app, FRONT_END, "PATCH").await;
    assert_eq!(answer.status(), 204);
    assert_eq!(
        answer.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        FRONT_END
    );
    let methods = header_list(&answer, header::ACCESS_CONTROL_ALLOW_METHODS);
    for method in ["get", "post", "put", "patch", "delete"] {
        assert!(methods.contains(&method.to_owned()), "{methods:?}");
    }
    let headers = header_list(&answer, header::ACCESS_CONTROL_ALLOW_HEADERS);
    for name in [
        "content-type",
        "if-match",
        "if-none-match",
        "prefer",
        "x-request-id",
    ] {
        assert!(headers.contains(&name.to_owned()), "{headers:?}");
    }
    assert!(
        answer
            .headers()
            .contains_key(header::ACCESS_CONTROL_MAX_AGE)
    );

    // The real request: the browser may read Link, X-Total-Count, ETag, x-request-id...
    let list = app
        .client
        .get(app.url("/notes"))
        .header(header::ORIGIN, FRONT_END)
        .header("prefer", "count=exact")
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    assert_eq!(
        list.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        FRONT_END
    );
    let exposed = header_list(&list, header::ACCESS_CONTROL_EXPOSE_HEADERS);
    for name in ["link", "x-total-count", "etag", "x-request-id", "location"] {
        assert!(exposed.contains(&name.to_owned()), "{exposed:?}");
    }
    // Vary keeps what the list varies on, and adds Origin.
    let vary = header_list(&list, header::VARY);
    assert!(
        vary.contains(&"prefer".to_owned()) && vary.contains(&"origin".to_owned()),
        "{vary:?}"
    );

    // Errors are readable too (the browser shows the problem, not a CORS failure).
    let missing = app
        .client
        .get(app.url("/notes/999"))
        .header(header::ORIGIN, "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://localhost:5173"
    );
    let _ = note;
    app.stop().await;
}

#[tokio::test]
async fn other_origins_get_no_cors_headers_and_are_served_as_usual() {
    let app = app_allowing(FRONT_END).await;
    let answer = preflight(&app, "https://evil.example", "DELETE").await;
    assert!(
        answer
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    assert!(
        answer
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_METHODS)
            .is_none()
    );
    // An API client that sends Origin is not refused: it simply gets no CORS headers.
    let list = app
        .client
        .get(app.url("/notes"))
        .header(header::ORIGIN, "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    assert!(
        list.headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    assert!(
        list.headers()
            .get(header::ACCESS_CONTROL_EXPOSE_HEADERS)
            .is_none()
    );
    app.stop().await;
}

#[tokio::test]
async fn no_cors_headers_by_default() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert!(app.database.url.starts_with("sqlite:"));
    let answer = preflight(&app, FRONT_END, "GET").await;
    assert!(
        answer
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    let list = app
        .client
        .get(app.url("/notes"))
        .header(header::ORIGIN, FRONT_END)
        .send()
        .await
        .unwrap();
    assert!(
        list.headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    assert_eq!(header_list(&list, header::VARY), ["prefer"]);
    app.stop().await;
}

#[tokio::test]
async fn any_origin_with_a_star() {
    let app = app_allowing("*").await;
    let answer = preflight(&app, "https://anywhere.example", "POST").await;
    assert_eq!(
        answer.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://anywhere.example"
    );
    app.stop().await;
}
