//! Which database the `migration` binary works on, and how its URL is printed.

/// `database.url` as the service would resolve it (without `DATABASE_URL`, which the caller
/// checks first): `APP__DATABASE__URL`, else the config files for `APP_ENV`.
/// Returns `Ok(None)` when no config directory exists, so `-u`/`DATABASE_URL` can still be used.
pub fn config_database_url() -> Result<Option<String>, String> {
    use config::{Config, Environment, File};

    let dir = std::env::var("APP_CONFIG_DIR").unwrap_or_else(|_| "config".to_owned());
    let profile = std::env::var("APP_ENV").unwrap_or_else(|_| "development".to_owned());
    let dir = std::path::Path::new(&dir);
    if !dir.join("default.toml").exists() {
        return Ok(std::env::var("APP__DATABASE__URL").ok());
    }
    // As the service: a profile without its file is a mistake (APP_ENV=producton), not a
    // reason to migrate the default database.
    let profile_file = dir.join(format!("{profile}.toml"));
    if !profile_file.is_file() {
        return Err(format!(
            "APP_ENV = {profile:?}: there is no {}",
            profile_file.display()
        ));
    }
    let settings = Config::builder()
        .add_source(File::from(dir.join("default.toml")))
        .add_source(File::from(profile_file))
        .add_source(File::from(dir.join("local.toml")).required(false))
        .add_source(
            Environment::with_prefix("APP")
                .prefix_separator("__")
                .separator("__"),
        )
        .build()
        .map_err(|err| format!("cannot read the configuration in {}: {err}", dir.display()))?;
    settings
        .get_string("database.url")
        .map(Some)
        .map_err(|err| format!("no usable `database.url` in the configuration: {err}"))
}

/// The URL with any password replaced by `***`, for logs and output.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => raw.to_owned(),
        Err(_) => "<unparsable database URL>".to_owned(),
    }
}
