//! What the service does with request bodies, on every backend: every invalid field named in
//! one 422, malformed JSON 400, other media types 415, and bodies over the limit 413 even
//! when sent chunked. Nothing invalid is ever stored.

use crate::{
    common::{Backend, TestApp, error_fields, problem},
    notes::note_json,
};
use reqwest::{Method, header};
use serde_json::{Value, json};

backend_tests!(
    validation_names_every_bad_field,
    malformed_json_is_400_and_wrong_content_type_415,
    bodies_over_the_limit_are_413_even_chunked,
);

/// POSTs `body` to /notes as a chunked stream (no Content-Length) of `chunk`-byte pieces.
async fn post_chunked(app: &TestApp, body: &[u8], chunk: usize) -> reqwest::Response {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(chunk).map(|c| Ok(c.to_vec())).collect();
    app.client
        .post(app.url("/notes"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap()
}

async fn validation_names_every_bad_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        (json!({"completed": true}), vec!["text"]),
        (json!({"text": ""}), vec!["text"]),
        (json!({"text": "   \n\t"}), vec!["text"]),
        (json!({"text": null}), vec!["text"]),
        (json!({"text": 42}), vec!["text"]),
        (json!({"text": "a\u{0}b"}), vec!["text"]),
        (
            json!({"text": "ok", "completed": "true"}),
            vec!["completed"],
        ),
        (json!({"text": "ok", "completed": 1}), vec!["completed"]),
        (json!({"text": "ok", "completed": null}), vec!["completed"]),
        (json!({"text": "ok", "id": 7}), vec!["id"]),
        (json!({"text": "ok", "colour": "red"}), vec!["colour"]),
        (
            json!({"text": "", "completed": "no", "id": 1, "extra": 0}),
            vec!["text", "completed", "extra", "id"],
        ),
        (json!([{"text": "ok"}]), vec![""]),
        (json!("text"), vec![""]),
    ];
    for (body, fields) in cases {
        let response = app.post("/notes", &body).await;
        let problem = problem(response, 422).await;
        assert_eq!(
            problem["type"], "urn:notes-service:problem:validation-error",
            "{body}"
        );
        assert_eq!(error_fields(&problem), fields, "{body}");
    }
    // Nothing was stored by any of them.
    assert_eq!(app.get_json("/notes").await, json!([]));

    let note = app.create("/notes", &json!({"text": "keep"})).await;
    let path = format!("/notes/{}", note["id"]);
    let replace_without_completed = app
        .send_json(Method::PUT, &path, &json!({"text": "x"}))
        .await;
    assert_eq!(
        error_fields(&problem(replace_without_completed, 422).await),
        ["completed"]
    );
    let patch_bad = app
        .send_json(
            Method::PATCH,
            &path,
            &json!({"text": "", "created_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        error_fields(&problem(patch_bad, 422).await),
        ["text", "created_at"]
    );
    assert_eq!(app.get_json(&path).await, note, "no partial write");
    app.stop().await;
}

async fn malformed_json_is_400_and_wrong_content_type_415(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let note = app.create("/notes", &json!({"text": "target"})).await;
    let path = format!("/notes/{}", note["id"]);
    for (method, path) in [
        (Method::POST, "/notes"),
        (Method::PUT, path.as_str()),
        (Method::PATCH, path.as_str()),
    ] {
        for raw in [
            "{\"text\": ",
            "{text: 'x'}",
            "",
            "   ",
            "{\"text\":\"a\"} trailing",
        ] {
            let response = app
                .client
                .request(method.clone(), app.url(path))
                .header(header::CONTENT_TYPE, "application/json")
                .body(raw)
                .send()
                .await
                .unwrap();
            let body = problem(response, 400).await;
            assert_eq!(
                body["type"], "urn:notes-service:problem:malformed-json",
                "{method} {raw:?}"
            );
        }
        let form = app
            .client
            .request(method.clone(), app.url(path))
            .header(header::CONTENT_TYPE, "text/plain")
            .body("{\"text\":\"x\",\"completed\":true}")
            .send()
            .await
            .unwrap();
        assert!(
            problem(form, 415).await["detail"]
                .as_str()
                .unwrap()
                .contains("text/plain")
        );
        let untyped = app
            .client
            .request(method.clone(), app.url(path))
            .body("{\"text\":\"x\",\"completed\":true}")
            .send()
            .await
            .unwrap();
        problem(untyped, 415).await;
    }
    // A JSON media type with parameters or a +json suffix is accepted.
    let merge_patch = app
        .client
        .patch(app.url(&path))
        .header(header::CONTENT_TYPE, "application/merge-patch+json")
        .body("{\"completed\":true}")
        .send()
        .await
        .unwrap();
    assert_eq!(merge_patch.status(), 200);
    let charset = app
        .client
        .post(app.url("/notes"))
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body("{\"text\":\"x\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(charset.status(), 201);
    app.stop().await;
}

async fn bodies_over_the_limit_are_413_even_chunked(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.server.request_body_limit = 4096).await;
    let big = serde_json::to_vec(&note_json(&"a".repeat(5000), false)).unwrap();
    let declared = app
        .client
        .post(app.url("/notes"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let detail = problem(declared, 413).await["detail"].to_string();
    assert!(detail.contains("4096"), "{detail}");

    // Chunked, with no Content-Length: a stream of 1 KiB pieces.
    problem(post_chunked(&app, &big, 1024).await, 413).await;
    // A chunked body under the limit is served normally.
    let small = serde_json::to_vec(&note_json("small", true)).unwrap();
    let ok = post_chunked(&app, &small, 4).await;
    assert_eq!(ok.status(), 201);
    // Nothing over the limit was stored.
    let list: Value = app.get_json("/notes").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    app.stop().await;
}
