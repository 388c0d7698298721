//! Listing notes a page at a time, on every backend: keyset pages that walk the whole table
//! exactly once in both orders while it changes, `Link` URLs followed as sent, the opt-in
//! total (`Prefer: count=exact`), the bounded `offset`, and what bad paging parameters get.

use crate::common::{Backend, TestApp, counted, error_fields, ids, link_to, problem, total};
use serde_json::{Value, json};

backend_tests!(
    keyset_pages_walk_every_note_once_in_both_orders,
    last_page_has_no_next_and_links_keep_filter_order_limit,
    count_is_opt_in_with_prefer_count_exact,
    offset_paging_still_works_within_its_bound,
    list_defaults_to_100_and_rejects_bad_paging,
    list_filters_by_completed,
);

async fn keyset_pages_walk_every_note_once_in_both_orders(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // (id, completed) of every note that exists now.
    let mut existing = Vec::new();
    for i in 0..23 {
        let note = app
            .create(
                "/notes",
                &json!({"text": format!("note {i}"), "completed": i % 3 == 0}),
            )
            .await;
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
                let created = app
                    .create(
                        "/notes",
                        &json!({"text": "written during the walk", "completed": true}),
                    )
                    .await;
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
            app.create(
                "/notes",
                &json!({"text": format!("note {i}"), "completed": i % 2 == 0}),
            )
            .await["id"]
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
        app.create(
            "/notes",
            &json!({"text": format!("n{i}"), "completed": i < 3}),
        )
        .await;
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
    assert_eq!(counted(&app, "/notes").await, 7);
    assert_eq!(counted(&app, "/notes?completed=false").await, 4);
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
            app.create("/notes", &json!({"text": format!("note {i}")}))
                .await["id"]
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
        app.create("/notes", &json!({"text": format!("n{i}")}))
            .await;
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
    let done = app
        .create("/notes", &json!({"text": "done", "completed": true}))
        .await;
    let open = app.create("/notes", &json!({"text": "open"})).await;
    let done2 = app
        .create("/notes", &json!({"text": "done too", "completed": true}))
        .await;

    let completed = app.get("/notes?completed=true").await;
    assert_eq!(
        completed.json::<Value>().await.unwrap(),
        json!([done, done2])
    );
    let pending = app.get("/notes?completed=false").await;
    assert_eq!(pending.json::<Value>().await.unwrap(), json!([open]));
    assert_eq!(counted(&app, "/notes?completed=true").await, 2);

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
