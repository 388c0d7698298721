//! The HTTP API, end to end: the real service on port 0, a fresh database per test, on every
//! backend (`sqlite::*`, `postgres::*`, `mariadb::*`).

mod common;

use common::{Backend, TestApp, error_fields, problem};
use reqwest::{Method, header};
use serde_json::{Value, json};

backend_tests!(
    create_answers_201_with_location_and_the_note,
    seed_routes_work_with_and_without_trailing_slash,
    get_replace_patch_delete_round_trip,
    missing_notes_are_404_problems,
    keyset_pages_walk_every_note_once_in_both_orders,
    last_page_has_no_next_and_links_keep_filter_order_limit,
    count_is_opt_in_with_prefer_count_exact,
    offset_paging_still_works_within_its_bound,
    list_defaults_to_100_and_rejects_bad_paging,
    list_filters_by_completed,
    validation_names_every_bad_field,
    text_length_limit_is_in_characters,
    text_round_trips_unicode_exactly,
    malformed_json_is_400_and_wrong_content_type_415,
    bodies_over_the_limit_are_413_even_chunked,
    routing_errors_are_problems_with_allow,
    timestamps_are_utc_microseconds_and_updated_on_change,
    concurrent_writers_and_readers_all_succeed,
    health_probes_report_database_state,
    request_id_is_echoed_or_generated,
    ids_are_64_bit,
);

fn note_json(text: &str, completed: bool) -> Value {
    json!({"text": text, "completed": completed})
}

async fn create_answers_201_with_location_and_the_note(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.post("/notes", &note_json("buy milk", false)).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let note: Value = response.json().await.unwrap();
    assert_eq!(note["text"], "buy milk");
    assert_eq!(note["completed"], false);
    let id = note["id"].as_i64().expect("an integer id");
    assert_eq!(location, format!("/notes/{id}"));
    let fetched: Value = app.get_json(&location).await;
    assert_eq!(fetched, note);

    // `completed` may be left out on create; it defaults to false.
    let response = app.post("/notes", &json!({"text": "call mum"})).await;
    assert_eq!(response.status(), 201);
    let note: Value = response.json().await.unwrap();
    assert_eq!(note["completed"], false);
    app.stop().await;
}

async fn seed_routes_work_with_and_without_trailing_slash(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // As in FastAPI's tutorial: POST /notes/ and GET /notes/ with a bare array.
    let created = app.post("/notes/", &note_json("seed", true)).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    for path in ["/notes/", "/notes"] {
        let response = app.get(path).await;
        assert_eq!(
            response.status(),
            200,
            "GET {path} answers directly, no redirect"
        );
        let list: Value = response.json().await.unwrap();
        assert_eq!(list, json!([created.clone()]), "GET {path} is a bare array");
    }
    let id = created["id"].as_i64().unwrap();
    let response = app.get(&format!("/notes/{id}/")).await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

async fn get_replace_patch_delete_round_trip(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let note = app.create_note("draft", false).await;
    let path = format!("/notes/{}", note["id"]);

    let replaced = app
        .send_json(Method::PUT, &path, &note_json("final", true))
        .await;
    assert_eq!(replaced.status(), 200);
    let replaced: Value = replaced.json().await.unwrap();
    assert_eq!(
        (replaced["text"].as_str(), replaced["completed"].as_bool()),
        (Some("final"), Some(true))
    );
    assert_eq!(replaced["id"], note["id"]);
    assert_eq!(replaced["created_at"], note["created_at"]);

    let patched = app
        .send_json(Method::PATCH, &path, &json!({"completed": false}))
        .await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        patched["text"], "final",
        "PATCH keeps fields it was not given"
    );
    assert_eq!(patched["completed"], false);

    let unchanged = app.send_json(Method::PATCH, &path, &json!({})).await;
    assert_eq!(unchanged.status(), 200);
    assert_eq!(
        unchanged.json::<Value>().await.unwrap(),
        patched,
        "an empty PATCH changes nothing"
    );

    assert_eq!(app.get_json(&path).await, patched);

    let deleted = app.client.delete(app.url(&path)).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(deleted.text().await.unwrap(), "");
    problem(app.get(&path).await, 404).await;
    let list: Value = app.get_json("/notes").await;
    assert_eq!(list, json!([]));
    app.stop().await;
}

async fn missing_notes_are_404_problems(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = problem(app.get("/notes/4242").await, 404).await;
    assert_eq!(body["type"], "urn:notes-service:problem:note-not-found");
    assert!(body["detail"].as_str().unwrap().contains("4242"));
    problem(
        app.send_json(Method::PUT, "/notes/4242", &note_json("x", true))
            .await,
        404,
    )
    .await;
    problem(
        app.send_json(Method::PATCH, "/notes/4242", &json!({"text": "x"}))
            .await,
        404,
    )
    .await;
    problem(
        app.send_json(Method::PATCH, "/notes/4242", &json!({}))
            .await,
        404,
    )
    .await;
    problem(
        app.client
            .delete(app.url("/notes/4242"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    // An id that is not an integer names the parameter.
    let body = problem(app.get("/notes/abc").await, 400).await;
    assert_eq!(error_fields(&body), ["id"]);
    app.stop().await;
}

/// `X-Total-Count`, when the response has one.
fn total(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get("x-total-count")
        .map(|v| v.to_str().unwrap().parse().unwrap())
}

/// The URL of the `Link` relation `rel`, as sent (relative to the service).
fn link_to(response: &reqwest::Response, rel: &str) -> Option<String> {
    let header = response.headers().get(header::LINK)?.to_str().unwrap();
    header.split(", ").find_map(|link| {
        let (url, params) = link.split_once(">; ")?;
        (params == format!("rel=\"{rel}\"")).then(|| url.trim_start_matches('<').to_owned())
    })
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect()
}

/// How many notes `GET /notes?{query}` counts with `Prefer: count=exact`.
async fn counted(app: &TestApp, query: &str) -> u64 {
    let response = app
        .client
        .get(app.url(&format!("/notes?{query}")))
        .header("prefer", "count=exact")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    total(&response).expect("X-Total-Count with Prefer: count=exact")
}

async fn keyset_pages_walk_every_note_once_in_both_orders(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // (id, completed) of every note that exists now.
    let mut existing = Vec::new();
    for i in 0..23 {
        let note = app.create_note(&format!("note {i}"), i % 3 == 0).await;
        existing.push((note["id"].as_i64().unwrap(), i % 3 == 0));
    }
    for order in ["asc", "desc"] {
        for filter in [None, Some(true), Some(false)] {
            let first = match filter {
                Some(completed) => format!("/notes?limit=4&completed={completed}&order={order}"),
                None => format!("/notes?limit=4&order={order}"),
            };
            let first = first.replace("&order=asc", "");
            // Notes that match and exist throughout the walk: each must be seen exactly once.
            let mut throughout: Vec<i64> = existing
                .iter()
                .filter(|(_, completed)| filter.is_none_or(|f| f == *completed))
                .map(|(id, _)| *id)
                .collect();
            let mut seen = Vec::new();
            let mut next = Some(first.clone());
            while let Some(url) = next {
                let response = app.get(&url).await;
                assert_eq!(response.status(), 200, "{url}");
                assert_eq!(link_to(&response, "first").as_ref(), Some(&first), "{url}");
                next = link_to(&response, "next");
                let page = ids(&response.json().await.unwrap());
                assert!(!page.is_empty() && page.len() <= 4, "{url}: {page:?}");
                seen.extend(page);
                // Change the table between pages: a new note, and the deletion of a note
                // not yet seen (it no longer exists throughout, so it may or may not show).
                let created = app.create_note("written during the walk", true).await;
                existing.push((created["id"].as_i64().unwrap(), true));
                let unseen = throughout.iter().rposition(|id| !seen.contains(id));
                if let Some(victim) = unseen.map(|i| throughout.remove(i)) {
                    let response = app
                        .client
                        .delete(app.url(&format!("/notes/{victim}")))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 204);
                    existing.retain(|(id, _)| *id != victim);
                }
            }
            let mut sorted = seen.clone();
            sorted.sort_unstable();
            if order == "desc" {
                sorted.reverse();
            }
            assert_eq!(seen, sorted, "{first}: pages come in {order} order");
            sorted.dedup();
            assert_eq!(sorted.len(), seen.len(), "{first}: no note is repeated");
            for id in &throughout {
                assert!(seen.contains(id), "{first}: note {id} was skipped");
            }
        }
    }
    app.stop().await;
}

async fn last_page_has_no_next_and_links_keep_filter_order_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(
            app.create_note(&format!("note {i}"), i % 2 == 0).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let first = app.get("/notes?limit=2&completed=true&order=desc").await;
    assert_eq!(
        link_to(&first, "next"),
        Some(format!(
            "/notes?limit=2&after={}&completed=true&order=desc",
            created[2]
        ))
    );
    assert_eq!(
        link_to(&first, "first").as_deref(),
        Some("/notes?limit=2&completed=true&order=desc")
    );
    assert_eq!(ids(&first.json().await.unwrap()), [created[4], created[2]]);
    let last = app
        .get(&format!(
            "/notes?limit=2&completed=true&order=desc&after={}",
            created[2]
        ))
        .await;
    assert_eq!(link_to(&last, "next"), None, "the last page has no next");
    assert_eq!(ids(&last.json().await.unwrap()), [created[0]]);

    // A page that ends exactly at the last note has no next either.
    let exact = app.get("/notes?limit=5").await;
    assert_eq!(link_to(&exact, "next"), None);
    assert_eq!(ids(&exact.json().await.unwrap()), created);
    // `after` an id that does not exist pages from where it would be.
    let beyond = app.get(&format!("/notes?after={}", created[4] + 100)).await;
    assert_eq!(beyond.json::<Value>().await.unwrap(), json!([]));
    let from_zero = app.get("/notes?after=0&order=asc&limit=1").await;
    assert_eq!(ids(&from_zero.json().await.unwrap()), [created[0]]);
    app.stop().await;
}

async fn count_is_opt_in_with_prefer_count_exact(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for i in 0..7 {
        app.create_note(&format!("n{i}"), i < 3).await;
    }
    let plain = app.get("/notes?limit=2").await;
    assert_eq!(total(&plain), None, "no count unless asked");
    assert!(plain.headers().get("preference-applied").is_none());
    assert_eq!(plain.headers()["vary"], "Prefer");

    let asked = app
        .client
        .get(app.url("/notes?limit=2&completed=true"))
        .header("prefer", "return=minimal, count=exact")
        .send()
        .await
        .unwrap();
    assert_eq!(
        total(&asked),
        Some(3),
        "the total covers every page, filtered"
    );
    assert_eq!(asked.headers()["preference-applied"], "count=exact");
    assert_eq!(counted(&app, "").await, 7);
    assert_eq!(counted(&app, "completed=false").await, 4);
    // Other preferences are ignored (RFC 7240), not an error.
    let other = app
        .client
        .get(app.url("/notes"))
        .header("prefer", "count=estimated, wait=5")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    assert_eq!(total(&other), None);
    app.stop().await;
}

async fn offset_paging_still_works_within_its_bound(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(
            app.create_note(&format!("note {i}"), false).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let middle = app.get("/notes?limit=2&offset=2").await;
    assert_eq!(
        link_to(&middle, "next"),
        Some(format!("/notes?limit=2&after={}", created[3]))
    );
    assert_eq!(
        link_to(&middle, "prev").as_deref(),
        Some("/notes?limit=2&offset=0")
    );
    assert_eq!(ids(&middle.json().await.unwrap()), created[2..4]);
    let beyond = app.get("/notes?offset=50").await;
    assert_eq!(beyond.status(), 200);
    assert_eq!(beyond.json::<Value>().await.unwrap(), json!([]));
    assert_eq!(app.get("/notes?offset=10000").await.status(), 200);
    app.stop().await;
}

async fn list_defaults_to_100_and_rejects_bad_paging(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for i in 0..101 {
        app.create_note(&format!("n{i}"), false).await;
    }
    let page = app.get("/notes").await;
    assert!(link_to(&page, "next").unwrap().contains("after="));
    assert_eq!(
        page.json::<Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        100
    );
    let max = app.get("/notes?limit=1000").await;
    assert_eq!(
        max.json::<Value>().await.unwrap().as_array().unwrap().len(),
        101
    );

    let cases = [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("offset=99999999999", "offset"),
        ("offset=10001", "offset"),
        ("offset=10&after=3", "offset"),
        ("after=abc", "after"),
        ("after=1.5", "after"),
        ("after=9223372036854775808", "after"),
        ("order=sideways", "order"),
        ("order=", "order"),
    ];
    for (query, parameter) in cases {
        let body = problem(app.get(&format!("/notes?{query}")).await, 400).await;
        assert_eq!(error_fields(&body), [parameter], "{query}");
        assert_eq!(
            body["type"], "urn:notes-service:problem:invalid-parameter",
            "{query}"
        );
    }
    // A refused offset points to `after`.
    for query in ["offset=10001", "offset=10&after=3"] {
        let body = problem(app.get(&format!("/notes?{query}")).await, 400).await;
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("`after`"), "{query}: {message}");
    }
    app.stop().await;
}

async fn list_filters_by_completed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let done = app.create_note("done", true).await;
    let open = app.create_note("open", false).await;
    let done2 = app.create_note("done too", true).await;

    let completed = app.get("/notes?completed=true").await;
    assert_eq!(
        completed.json::<Value>().await.unwrap(),
        json!([done, done2])
    );
    let pending = app.get("/notes?completed=false").await;
    assert_eq!(pending.json::<Value>().await.unwrap(), json!([open]));
    assert_eq!(counted(&app, "completed=true").await, 2);

    let paged = app.get("/notes?completed=true&limit=1").await;
    assert_eq!(
        link_to(&paged, "next"),
        Some(format!(
            "/notes?limit=1&after={}&completed=true",
            done["id"]
        ))
    );
    let body = problem(app.get("/notes?completed=maybe").await, 400).await;
    assert_eq!(error_fields(&body), ["completed"]);
    app.stop().await;
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

    let note = app.create_note("keep", false).await;
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

async fn text_length_limit_is_in_characters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // 10000 four-byte characters: at the limit, and 40000 bytes of UTF-8.
    let longest = "🦀".repeat(10_000);
    let note = app.create_note(&longest, false).await;
    assert_eq!(note["text"], longest);
    let stored: Value = app.get_json(&format!("/notes/{}", note["id"])).await;
    assert_eq!(stored["text"], longest);
    let too_long = app
        .post("/notes", &note_json(&"a".repeat(10_001), false))
        .await;
    let body = problem(too_long, 422).await;
    assert_eq!(error_fields(&body), ["text"]);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("10000")
    );
    app.stop().await;
}

async fn text_round_trips_unicode_exactly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for text in [
        "plain",
        "  padded  ",
        "line\nbreak\ttab",
        "ünïcødé — “quotes” 日本語 🦀👩‍👩‍👧",
        "'; DROP TABLE notes; --",
        "back\\slash and \"quotes\" and %_ wildcards",
    ] {
        let note = app.create_note(text, false).await;
        let stored: Value = app.get_json(&format!("/notes/{}", note["id"])).await;
        assert_eq!(stored["text"], text);
    }
    app.stop().await;
}

async fn malformed_json_is_400_and_wrong_content_type_415(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let note = app.create_note("target", false).await;
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

async fn routing_errors_are_problems_with_allow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = problem(app.get("/nothing/here").await, 404).await;
    assert!(body["detail"].as_str().unwrap().contains("/nothing/here"));

    let cases = [
        (Method::DELETE, "/notes", "GET, POST"),
        (Method::PUT, "/notes/", "GET, POST"),
        (Method::POST, "/notes/1", "GET, PUT, PATCH, DELETE"),
        (Method::POST, "/health/live", "GET"),
    ];
    for (method, path, allow) in cases {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        let mut allowed: Vec<_> = response.headers()[header::ALLOW]
            .to_str()
            .unwrap()
            .split(", ")
            .map(str::to_owned)
            .collect();
        allowed.sort();
        let mut expected: Vec<_> = allow.split(", ").map(str::to_owned).collect();
        expected.sort();
        assert_eq!(allowed, expected, "{method} {path}");
        problem(response, 405).await;
    }
    app.stop().await;
}

fn is_utc_micros(value: &Value) -> bool {
    let s = value.as_str().unwrap_or_default();
    // 2026-11-24T16:24:34.123456Z
    s.len() == 27
        && s.ends_with('Z')
        && s.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

async fn timestamps_are_utc_microseconds_and_updated_on_change(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = chrono::Utc::now();
    let note = app.create_note("time", false).await;
    assert!(is_utc_micros(&note["created_at"]), "{}", note["created_at"]);
    assert_eq!(note["created_at"], note["updated_at"]);
    let created: chrono::DateTime<chrono::Utc> =
        note["created_at"].as_str().unwrap().parse().unwrap();
    assert!(created >= before - chrono::Duration::seconds(1));

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let path = format!("/notes/{}", note["id"]);
    let patched: Value = app
        .send_json(Method::PATCH, &path, &json!({"completed": true}))
        .await
        .json()
        .await
        .unwrap();
    assert!(is_utc_micros(&patched["updated_at"]));
    assert_eq!(patched["created_at"], note["created_at"]);
    assert!(patched["updated_at"].as_str() > note["updated_at"].as_str());
    // What is read back equals what the write returned, to the microsecond.
    assert_eq!(app.get_json(&path).await, patched);
    app.stop().await;
}

async fn concurrent_writers_and_readers_all_succeed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let client = app.client.clone();
        let base = app.url("");
        tasks.push(tokio::spawn(async move {
            let response = if i % 4 == 3 {
                client.get(format!("{base}/notes")).send().await.unwrap()
            } else {
                client
                    .post(format!("{base}/notes"))
                    .json(&note_json(&format!("concurrent {i}"), false))
                    .send()
                    .await
                    .unwrap()
            };
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }));
    }
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert!(status == 200 || status == 201, "{status}: {body}");
    }
    assert_eq!(counted(&app, "").await, 48);
    let all = app.get("/notes?limit=1000").await;
    let mut seen = ids(&all.json().await.unwrap());
    seen.dedup();
    assert_eq!(seen.len(), 48, "every write got its own id");
    app.stop().await;
}

async fn health_probes_report_database_state(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let live = app.get("/health/live").await;
    assert_eq!(live.status(), 200);
    assert_eq!(live.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 200);

    // Take the database away: readiness and data routes answer 503, liveness stays up,
    // and no driver text reaches the client.
    app.db.pool().close_by_ref().await.unwrap();
    let body = problem(app.get("/health/ready").await, 503).await;
    let list = problem(app.get("/notes").await, 503).await;
    for body in [&body, &list] {
        let text = body.to_string().to_lowercase();
        for leak in ["pool", "sqlx", "sql", "connection closed", "select"] {
            assert!(!text.contains(leak), "{leak:?} leaked: {text}");
        }
    }
    assert_eq!(app.get("/health/live").await.status(), 200);
    app.stop().await;
}

/// GETs `path` with an `x-request-id` header; returns the id the response carries.
async fn request_id_answered(app: &TestApp, path: &str, id: &str) -> String {
    let response = app
        .client
        .get(app.url(path))
        .header("x-request-id", id)
        .send()
        .await
        .unwrap();
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn request_id_is_echoed_or_generated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let generated = app.get("/notes").await;
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

    assert_eq!(
        request_id_answered(&app, "/notes", "abc-123").await,
        "abc-123"
    );
    // Errors carry it too.
    assert_eq!(
        request_id_answered(&app, "/missing", "err-1").await,
        "err-1"
    );
    // An unusable id (spaces, too long) is replaced, not echoed.
    for bad in ["has space", &"x".repeat(200)] {
        let id = request_id_answered(&app, "/notes", bad).await;
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "{bad:?} was replaced by {id}"
        );
    }
    app.stop().await;
}

async fn ids_are_64_bit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let big = i64::from(i32::MAX) + 10;
    problem(app.get(&format!("/notes/{big}")).await, 404).await;
    problem(app.get(&format!("/notes/{}", i64::MAX)).await, 404).await;
    let body = problem(app.get("/notes/9223372036854775808").await, 400).await;
    assert_eq!(error_fields(&body), ["id"]);
    app.stop().await;
}

// ---- Not per backend: the API surface itself. ----

#[tokio::test]
async fn served_spec_matches_the_checked_in_openapi_json() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let served: Value = app.get_json("/openapi.json").await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        let pretty = serde_json::to_string_pretty(&served).unwrap() + "\n";
        std::fs::write(&path, pretty).unwrap();
    }
    let checked_in: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
            .unwrap_or(Value::Null);
    assert!(
        served == checked_in,
        "the served spec differs from openapi.json: review the API change, then run \
         `UPDATE_OPENAPI=1 cargo test --test api served_spec` and commit openapi.json"
    );
    // Each operation documents exactly the problems it can answer with.
    let expected = [
        ("/notes", "get", vec!["200", "400", "500", "503"]),
        (
            "/notes",
            "post",
            vec!["201", "400", "413", "415", "422", "500", "503"],
        ),
        (
            "/notes/{id}",
            "get",
            vec!["200", "304", "400", "404", "500", "503"],
        ),
        (
            "/notes/{id}",
            "put",
            vec![
                "200", "400", "404", "412", "413", "415", "422", "500", "503",
            ],
        ),
        (
            "/notes/{id}",
            "delete",
            vec!["204", "400", "404", "412", "500", "503"],
        ),
        ("/health/live", "get", vec!["200"]),
        ("/health/ready", "get", vec!["200", "503"]),
    ];
    for (path, method, statuses) in expected {
        let responses = served["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} is documented"));
        let documented: Vec<_> = responses.keys().map(String::as_str).collect();
        assert_eq!(documented, statuses, "{method} {path}");
    }
    // Request bodies are closed: the service refuses fields it does not know.
    for schema in ["NewNote", "NoteReplacement", "NoteChanges"] {
        assert_eq!(
            served["components"]["schemas"][schema]["additionalProperties"], false,
            "{schema}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for path in ["/docs", "/docs/"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("swagger"), "{path} serves Swagger UI");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_scheme_is_the_same_as_postgres() {
    if !Backend::Postgres.selected() {
        eprintln!("not run: postgres is not in NOTES_TEST_BACKENDS");
        return;
    }
    let mut database = common::TestDatabase::new(Backend::Postgres).await;
    database.url = database.url.replacen("postgres://", "postgresql://", 1);
    let settings = common::test_settings(&database);
    assert!(settings.database.url.expose().starts_with("postgresql://"));
    let app = TestApp::start(database, settings).await;
    app.create_note("via postgresql://", false).await;
    assert_eq!(counted(&app, "").await, 1);
    app.stop().await;
}
