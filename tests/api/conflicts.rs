//! A value that must be unique, sent twice, is a 409 `already-exists` problem on every
//! backend, never a 500: also when the duplicates race each other, and naming the field when
//! the resource says which index guards it. Notes have no unique field, so the tests give
//! their text one (a unique index made here, on the test's own database).

use crate::common::{Backend, TestApp, problem};
use notes_service::{
    db::owner::Owner,
    http::resource::{Resource, Unique},
    notes::{
        store::{self, NoteInput},
        text::NoteText,
    },
};
use sea_orm::ConnectionTrait;
use serde_json::json;

backend_tests!(
    concurrent_duplicates_give_one_201_and_409s,
    the_resource_names_the_field_its_index_guards,
);

const INDEX: &str = "idx_test_notes_text_unique";

/// What a resource with a unique `text` would declare.
const UNIQUE_TEXT: Resource = Resource::new("note").with_unique(&[Unique {
    index: INDEX,
    columns: &["text"],
    field: "text",
}]);

async fn make_text_unique(app: &TestApp) {
    // MySQL/MariaDB index a TEXT column by a prefix only (see docs/src/adding-a-resource.md).
    let columns = match app.database.backend {
        Backend::MariaDb => "text(191)",
        Backend::Sqlite | Backend::Postgres => "text",
    };
    app.db
        .execute_unprepared(&format!("CREATE UNIQUE INDEX {INDEX} ON notes ({columns})"))
        .await
        .expect("a unique index on notes.text");
}

async fn concurrent_duplicates_give_one_201_and_409s(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    make_text_unique(&app).await;
    let body = json!({"text": "only once"});
    let answers = futures_util::future::join_all((0..16).map(|_| app.post("/notes", &body))).await;
    let mut created = 0;
    for response in answers {
        if response.status() == 201 {
            created += 1;
            continue;
        }
        let problem = problem(response, 409).await;
        assert_eq!(problem["type"], "urn:notes-service:problem:already-exists");
        let text = problem.to_string().to_lowercase();
        for leak in ["duplicate", "unique constraint", "sql", INDEX] {
            assert!(!text.contains(leak), "{leak:?} leaked: {text}");
        }
    }
    assert_eq!(
        created, 1,
        "exactly one of 16 concurrent duplicates is created"
    );
    let list: serde_json::Value = app.get_json("/notes").await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    app.stop().await;
}

async fn the_resource_names_the_field_its_index_guards(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    make_text_unique(&app).await;
    let input = || NoteInput {
        text: NoteText::parse("taken".to_owned()).unwrap(),
        completed: false,
    };
    store::create(&app.db, &Owner::Anyone, input())
        .await
        .expect("the first one");
    let duplicate = store::create(&app.db, &Owner::Anyone, input())
        .await
        .expect_err("the second is refused by the index");
    let error = UNIQUE_TEXT.write_error(duplicate);
    assert_eq!(error.status(), 409);
    let body = serde_json::to_value(error.problem()).unwrap();
    assert_eq!(body["type"], "urn:notes-service:problem:already-exists");
    assert_eq!(
        body["errors"],
        json!([{"field": "text", "message": "is already taken"}])
    );
    assert_eq!(body["detail"], "another note already has this `text`");
    app.stop().await;
}
