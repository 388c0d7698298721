//! The `migration` binary on its own, as an operator runs it. (The service's tests also run
//! it against PostgreSQL and MariaDB; this file needs nothing but SQLite.)

use std::{path::Path, process::Command};

use migration::MigratorTrait;

/// Runs `migration ARGS` with only the given settings in its environment.
fn migration(dir: &Path, env: &[(&str, String)], args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migration"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("APP_") || key == "DATABASE_URL" {
            cmd.env_remove(key.as_ref());
        }
    }
    let output = cmd
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args)
        .output()
        .expect("the migration binary runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn up_status_down_on_a_fresh_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    // The directory does not exist yet: the binary creates it, as the service does.
    let file = dir.path().join("nested/dir/notes.db");
    let url = vec![(
        "DATABASE_URL",
        format!("sqlite://{}?mode=rwc", file.display()),
    )];

    let (ok, out) = migration(dir.path(), &url, &["status"]);
    assert!(ok && out.contains("Pending"), "{out}");
    let (ok, out) = migration(dir.path(), &url, &["up"]);
    // The first migration, whatever a team names it.
    let first = migration::Migrator::migrations()[0].name().to_owned();
    assert!(
        ok && out.contains(&format!("Applying migration '{first}'")),
        "{out}"
    );
    assert!(file.exists());
    let (ok, out) = migration(dir.path(), &url, &["up"]);
    assert!(
        ok && out.contains("No pending migrations"),
        "up twice is a no-op: {out}"
    );
    let (ok, out) = migration(dir.path(), &url, &["status"]);
    assert!(
        ok && out.contains("Applied") && !out.contains("Pending"),
        "{out}"
    );
    let (ok, out) = migration(dir.path(), &url, &["down"]);
    assert!(ok && out.contains("Rolling back migration"), "{out}");
    let (ok, out) = migration(dir.path(), &url, &["status"]);
    assert!(ok && out.contains("Pending"), "{out}");
}

#[test]
fn finds_the_same_database_as_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir(&config).unwrap();
    let url_of = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    std::fs::write(
        config.join("default.toml"),
        format!("[database]\nurl = \"{}\"\n", url_of("default.db")),
    )
    .unwrap();
    std::fs::write(
        config.join("staging.toml"),
        format!("[database]\nurl = \"{}\"\n", url_of("staging.db")),
    )
    .unwrap();
    std::fs::write(config.join("development.toml"), "").unwrap();
    let dir_env = ("APP_CONFIG_DIR", config.display().to_string());
    let chosen = |env: Vec<(&str, String)>| {
        let (ok, out) = migration(dir.path(), &env, &["status"]);
        assert!(ok, "{out}");
        out.lines()
            .find_map(|l| l.strip_prefix("migration: database "))
            .unwrap_or_default()
            .to_owned()
    };
    // config/default.toml (APP_ENV unset: development, whose file is empty) ...
    assert_eq!(chosen(vec![dir_env.clone()]), url_of("default.db"));
    // ... < config/$APP_ENV.toml ...
    let staging = ("APP_ENV", "staging".to_owned());
    assert_eq!(
        chosen(vec![dir_env.clone(), staging.clone()]),
        url_of("staging.db")
    );
    // ... < APP__DATABASE__URL ...
    let app_url = ("APP__DATABASE__URL", url_of("env.db"));
    let env = vec![dir_env.clone(), staging.clone(), app_url.clone()];
    assert_eq!(chosen(env), url_of("env.db"));
    // ... < DATABASE_URL, over everything.
    let env = vec![
        dir_env,
        staging,
        app_url,
        ("DATABASE_URL", url_of("top.db")),
    ];
    assert_eq!(chosen(env), url_of("top.db"));

    // A profile without its file is refused, as the service refuses it.
    let typo = vec![
        ("APP_CONFIG_DIR", config.display().to_string()),
        ("APP_ENV", "producton".to_owned()),
    ];
    let (ok, out) = migration(dir.path(), &typo, &["up"]);
    assert!(!ok && out.contains("producton"), "{out}");
}
