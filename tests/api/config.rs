//! Configuration layering and validation: default.toml < $APP_ENV.toml < local.toml <
//! APP__SECTION__KEY < DATABASE_URL, and clear errors for bad values.

use std::{collections::HashMap, path::Path};

use notes_service::config::{LogFormat, Settings, SqliteSynchronous};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A config dir with the real default.toml plus the given profile files.
fn config_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        crate::common::config_dir().join("default.toml"),
        dir.path().join("default.toml"),
    )
    .unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    dir
}

fn load(dir: &Path, profile: &str, vars: &[(&str, &str)]) -> Result<Settings, String> {
    Settings::load_with_env(dir, profile, env(vars)).map_err(|e| e.to_string())
}

#[test]
fn each_layer_overrides_the_one_below() {
    let dir = config_dir(&[
        (
            "staging.toml",
            "[server]\nport = 9001\nhost = \"10.1.2.3\"\n[database]\nurl = \"sqlite://profile.db\"\n",
        ),
        ("empty.toml", ""),
    ]);
    let p = dir.path();
    // default.toml alone (an empty profile file).
    let base = load(p, "empty", &[]).unwrap();
    assert_eq!(
        (base.server.host.as_str(), base.server.port),
        ("127.0.0.1", 8000)
    );
    let s = load(p, "staging", &[]).unwrap();
    assert_eq!(
        (s.server.host.as_str(), s.server.port),
        ("10.1.2.3", 9001),
        "profile over default"
    );

    // profile < local.toml
    std::fs::write(p.join("local.toml"), "[server]\nport = 9002\n").unwrap();
    let s = load(p, "staging", &[]).unwrap();
    assert_eq!(s.server.host, "10.1.2.3", "profile over default");
    assert_eq!(s.server.port, 9002, "local.toml over profile");

    // local.toml < env
    let s = load(
        p,
        "staging",
        &[
            ("APP__SERVER__PORT", "9003"),
            ("APP__DATABASE__SQLITE__BUSY_TIMEOUT_MS", "42"),
        ],
    )
    .unwrap();
    assert_eq!(s.server.port, 9003);
    assert_eq!(
        s.database.sqlite.busy_timeout_ms, 42,
        "nested keys through env"
    );

    // env < DATABASE_URL
    let s = load(p, "staging", &[("APP__DATABASE__URL", "sqlite://env.db")]).unwrap();
    assert_eq!(s.database.url.expose(), "sqlite://env.db");
    let s = load(
        p,
        "staging",
        &[
            ("APP__DATABASE__URL", "sqlite://env.db"),
            ("DATABASE_URL", "postgres://u:p@db:5432/notes"),
        ],
    )
    .unwrap();
    assert_eq!(
        s.database.url.expose(),
        "postgres://u:p@db:5432/notes",
        "DATABASE_URL over everything"
    );
}

#[test]
fn shipped_profiles_mean_what_the_readme_says() {
    let dir = crate::common::config_dir();
    let dev = load(&dir, "development", &[]).unwrap();
    assert_eq!(
        (dev.server.host.as_str(), dev.server.port),
        ("127.0.0.1", 8000)
    );
    assert!(dev.database.auto_migrate);
    assert_eq!(dev.log.format, LogFormat::Pretty);
    assert_eq!(dev.database.url.expose(), "sqlite://data/notes.db?mode=rwc");
    assert_eq!(dev.database.sqlite.synchronous, SqliteSynchronous::Normal);

    let prod = load(&dir, "production", &[]).unwrap();
    assert_eq!(prod.server.host, "0.0.0.0");
    assert!(
        !prod.database.auto_migrate,
        "production never migrates at start-up"
    );
    assert_eq!(prod.log.format, LogFormat::Json);

    let test = load(&dir, "test", &[]).unwrap();
    assert_eq!(test.server.port, 0);

    for profile in [&dev, &prod, &test] {
        assert!(profile.metrics.enabled, "metrics on by default");
        assert_eq!(
            profile.metrics.listen_address().unwrap(),
            None,
            "metrics on the main port by default"
        );
    }
}

#[test]
fn metrics_settings_come_from_the_environment_too() {
    let dir = crate::common::config_dir();
    let s = load(
        &dir,
        "production",
        &[
            ("APP__METRICS__ENABLED", "false"),
            ("APP__METRICS__ADDRESS", "127.0.0.1:9464"),
        ],
    )
    .unwrap();
    assert!(!s.metrics.enabled);
    assert_eq!(
        s.metrics.listen_address().unwrap(),
        Some("127.0.0.1:9464".parse().unwrap())
    );
}

#[test]
fn bad_values_name_the_key_and_the_value() {
    let dir = crate::common::config_dir();
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            &[("APP__SERVER__PORT", "eighty")],
            &["server.port", "eighty"],
        ),
        (&[("APP__SERVER__PORT", "70000")], &["server.port", "70000"]),
        (
            &[("APP__DATABASE__AUTO_MIGRATE", "sometimes")],
            &["auto_migrate", "sometimes"],
        ),
        (
            &[("APP__DATABASE__SQLITE__SYNCHRONOUS", "fast")],
            &["synchronous", "fast"],
        ),
        (&[("APP__LOG__FORMAT", "xml")], &["format", "xml"]),
        (
            &[("APP__SERVER__REQUEST_BODY_LIMIT", "10")],
            &["server.request_body_limit", "10"],
        ),
        (
            &[("APP__DATABASE__MAX_CONNECTIONS", "0")],
            &["database.max_connections", "0"],
        ),
        (
            &[("DATABASE_URL", "redis://cache:6379")],
            &["database.url", "redis://cache:6379"],
        ),
        (&[("APP__SERVER__PROT", "1")], &["prot"]),
        (
            &[("APP__SERVER__REQUEST_TIMEOUT_SECONDS", "0")],
            &["server.request_timeout_seconds", "0"],
        ),
        (
            &[("APP__SERVER__HEADER_READ_TIMEOUT_SECONDS", "0")],
            &["server.header_read_timeout_seconds", "0"],
        ),
        (
            &[(
                "APP__SERVER__CORS_ALLOWED_ORIGINS",
                "https://ok.example,https://app.example/path",
            )],
            &["server.cors_allowed_origins", "https://app.example/path"],
        ),
        (
            &[("APP__SERVER__CORS_ALLOWED_ORIGINS", "app.example.com")],
            &["server.cors_allowed_origins", "app.example.com"],
        ),
        (
            &[("APP__METRICS__ADDRESS", "localhost")],
            &["metrics.address", "localhost"],
        ),
        (
            &[("APP__METRICS__ADDRESS", "0.0.0.0:99999")],
            &["metrics.address", "0.0.0.0:99999"],
        ),
    ];
    for (vars, needles) in cases {
        let err = load(&dir, "development", vars).expect_err(&format!("{vars:?} is refused"));
        for needle in *needles {
            assert!(
                err.contains(needle),
                "{vars:?}: {err:?} should mention {needle:?}"
            );
        }
    }
    let err = load(&dir, "producton", &[]).unwrap_err();
    assert!(
        err.contains("producton") && err.contains("APP_ENV"),
        "{err}"
    );
    let err = load(Path::new("/nonexistent"), "development", &[]).unwrap_err();
    assert!(err.contains("APP_CONFIG_DIR"), "{err}");
}

#[test]
fn cors_origins_come_as_a_comma_list_or_a_toml_array() {
    let dir = crate::common::config_dir();
    let s = load(&dir, "development", &[]).unwrap();
    assert!(
        s.server.cors_allowed_origins.is_empty(),
        "no CORS by default"
    );
    let s = load(
        &dir,
        "development",
        &[(
            "APP__SERVER__CORS_ALLOWED_ORIGINS",
            " https://app.example.com , http://localhost:5173,",
        )],
    )
    .unwrap();
    assert_eq!(
        s.server.cors_allowed_origins,
        ["https://app.example.com", "http://localhost:5173"]
    );
    let files = config_dir(&[(
        "cors.toml",
        "[server]\ncors_allowed_origins = [\"https://a.example\", \"*\"]\n",
    )]);
    let s = load(files.path(), "cors", &[]).unwrap();
    assert_eq!(s.server.cors_allowed_origins, ["https://a.example", "*"]);
}

#[test]
fn passwords_never_print() {
    let dir = crate::common::config_dir();
    let s = load(
        &dir,
        "production",
        &[("DATABASE_URL", "postgres://notes:s3cret@db:5432/notes")],
    )
    .unwrap();
    let shown = format!("{} {:?} {:?}", s.database.url, s.database, s);
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(
        shown.contains("postgres://notes:***@db:5432/notes"),
        "{shown}"
    );
    // A refused URL is redacted in the error too.
    let err = load(
        &dir,
        "production",
        &[("DATABASE_URL", "redis://u:hunter2@cache")],
    )
    .unwrap_err();
    assert!(!err.contains("hunter2"), "{err}");
}
