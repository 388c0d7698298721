//! ETags and conditional requests (RFC 9110) on every backend: each note's `ETag` changes
//! with every change, `If-None-Match` saves a body, and `If-Match` makes concurrent writers
//! safe: a write naming an old ETag is refused with 412 and changes nothing.

use crate::common::{Backend, TestApp, problem};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

backend_tests!(
    etag_changes_with_every_change_and_if_none_match_gives_304,
    if_match_guards_put_patch_and_delete,
    of_concurrent_writers_holding_one_etag_exactly_one_wins,
);

fn etag(response: &reqwest::Response) -> String {
    let Some(etag) = response.headers().get(header::ETAG) else {
        panic!("an ETag on a {} response", response.status());
    };
    etag.to_str().unwrap().to_owned()
}

/// Sends `method path` with `body` (if any) and extra `headers`.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn etag_changes_with_every_change_and_if_none_match_gives_304(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.post("/notes", &json!({"text": "v1"})).await;
    let first = etag(&created);
    assert!(
        first.starts_with('"') && first.ends_with('"'),
        "strong: {first}"
    );
    let note: Value = created.json().await.unwrap();
    let path = format!("/notes/{}", note["id"]);

    let read = app.get(&path).await;
    assert_eq!(etag(&read), first, "GET gives the ETag POST gave");

    for same in [
        first.clone(),
        format!("W/{first}"),
        format!("\"x\", {first}"),
        "*".into(),
    ] {
        let cached = send(&app, Method::GET, &path, &[("if-none-match", &same)], None).await;
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED, "{same}");
        assert_eq!(etag(&cached), first);
        assert_eq!(cached.text().await.unwrap(), "", "a 304 has no body");
    }
    let other = send(
        &app,
        Method::GET,
        &path,
        &[("if-none-match", "\"999\"")],
        None,
    )
    .await;
    assert_eq!(other.status(), 200);

    let mut seen = vec![first.clone()];
    for (method, body) in [
        (Method::PATCH, json!({"completed": true})),
        (Method::PUT, json!({"text": "v3", "completed": false})),
        (Method::PATCH, json!({"text": "v4"})),
    ] {
        let changed = send(&app, method.clone(), &path, &[], Some(body)).await;
        assert_eq!(changed.status(), 200, "{method}");
        let tag = etag(&changed);
        assert!(
            !seen.contains(&tag),
            "{method} gives a new ETag: {tag} after {seen:?}"
        );
        assert_eq!(etag(&app.get(&path).await), tag);
        seen.push(tag);
    }
    let unchanged = send(&app, Method::PATCH, &path, &[], Some(json!({}))).await;
    assert_eq!(
        etag(&unchanged),
        *seen.last().unwrap(),
        "no change, same ETag"
    );
    let stale = send(&app, Method::GET, &path, &[("if-none-match", &first)], None).await;
    assert_eq!(stale.status(), 200, "an old ETag gets the new note");
    app.stop().await;
}

async fn if_match_guards_put_patch_and_delete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.post("/notes", &json!({"text": "original"})).await;
    let old = etag(&created);
    let note: Value = created.json().await.unwrap();
    let path = format!("/notes/{}", note["id"]);
    let changed = send(
        &app,
        Method::PATCH,
        &path,
        &[("if-match", &old)],
        Some(json!({"completed": true})),
    )
    .await;
    assert_eq!(changed.status(), 200);
    let current = etag(&changed);
    let current_note: Value = changed.json().await.unwrap();

    // Stale, garbled or weak tags: 412, with the current ETag, and nothing written.
    for stale in [old.as_str(), "\"nope\"", "garbled", "W/\"2\""] {
        let refusals = [
            send(
                &app,
                Method::PUT,
                &path,
                &[("if-match", stale)],
                Some(json!({"text": "lost", "completed": false})),
            )
            .await,
            send(
                &app,
                Method::PATCH,
                &path,
                &[("if-match", stale)],
                Some(json!({"text": "lost"})),
            )
            .await,
            send(
                &app,
                Method::PATCH,
                &path,
                &[("if-match", stale)],
                Some(json!({})),
            )
            .await,
            send(&app, Method::DELETE, &path, &[("if-match", stale)], None).await,
        ];
        for response in refusals {
            assert_eq!(etag(&response), current, "{stale}");
            let body = problem(response, 412).await;
            assert_eq!(
                body["type"],
                "urn:notes-service:problem:precondition-failed"
            );
            assert!(
                body["detail"].as_str().unwrap().contains(&current),
                "{body}"
            );
        }
        assert_eq!(
            app.get_json(&path).await,
            current_note,
            "nothing written ({stale})"
        );
    }

    // The current tag, one of several, or `*`: the write goes through.
    let listed = format!("\"1000\", {current}");
    let replaced = send(
        &app,
        Method::PUT,
        &path,
        &[("if-match", &listed)],
        Some(json!({"text": "kept", "completed": false})),
    )
    .await;
    assert_eq!(replaced.status(), 200);
    let any = send(
        &app,
        Method::PATCH,
        &path,
        &[("if-match", "*")],
        Some(json!({"completed": true})),
    )
    .await;
    assert_eq!(any.status(), 200);
    let latest = etag(&any);
    let deleted = send(&app, Method::DELETE, &path, &[("if-match", &latest)], None).await;
    assert_eq!(deleted.status(), 204);
    // On a note that does not exist, If-Match gives 404, not 412.
    let gone = send(
        &app,
        Method::PATCH,
        &path,
        &[("if-match", "*")],
        Some(json!({"completed": true})),
    )
    .await;
    problem(gone, 404).await;
    app.stop().await;
}

async fn of_concurrent_writers_holding_one_etag_exactly_one_wins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.post("/notes", &json!({"text": "contested"})).await;
    let held = etag(&created);
    let note: Value = created.json().await.unwrap();
    let url = app.url(&format!("/notes/{}", note["id"]));

    let writers: Vec<_> = (0..8)
        .map(|i| {
            let client = app.client.clone();
            let (url, held) = (url.clone(), held.clone());
            tokio::spawn(async move {
                let method = if i % 2 == 0 {
                    Method::PUT
                } else {
                    Method::PATCH
                };
                let response = client
                    .request(method, &url)
                    .header("if-match", held)
                    .json(&json!({"text": format!("writer {i}"), "completed": i % 3 == 0}))
                    .send()
                    .await
                    .unwrap();
                (i, response.status().as_u16())
            })
        })
        .collect();
    let mut winners = Vec::new();
    for writer in writers {
        let (i, status) = writer.await.unwrap();
        match status {
            200 => winners.push(i),
            412 => {}
            other => panic!("writer {i} got {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins: {winners:?}");
    let stored = app.get_json(&format!("/notes/{}", note["id"])).await;
    assert_eq!(stored["text"], format!("writer {}", winners[0]));
    app.stop().await;
}
