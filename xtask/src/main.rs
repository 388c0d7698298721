//! Project tasks, run from the repository root as `cargo xtask <task>` (an alias in
//! `.cargo/config.toml`). One task: `new-resource`, which writes a resource in the shape of
//! `src/notes/` (see docs/src/adding-a-resource.md).

mod edits;
mod names;
mod render;
mod spec;

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use clap::{Parser, Subcommand};

use crate::{
    names::Names,
    spec::{Resource, is_snake, parse_field, singular_of},
};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Project tasks for notes-service"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Write a new resource: migration, entity, rule types, bodies, store, handlers, tests,
    /// registrations, contract-test entries and openapi.json.
    #[command(after_long_help = FIELD_HELP)]
    NewResource(NewResource),
}

const FIELD_HELP: &str = "\
FIELDS are NAME:KIND, in lower snake_case, with modifiers:

  KIND                  body (JSON)                          column
  string[:MAX]          a string, 1 to MAX characters        VARCHAR(MAX), MAX defaults to 255
  text[:MAX]            a string, 1 to MAX characters        TEXT, MAX defaults to 10000
  bool                  true or false                        BOOLEAN
  int[:MIN..MAX]        an integer, optionally bounded       BIGINT   (int:0..100, int:1..)
  number                any JSON number (a double)           DOUBLE
  timestamp             RFC 3339 with an offset, kept in     DATETIME(6) / TIMESTAMPTZ
                        UTC to the microsecond, years 1000-9999
  date                  YYYY-MM-DD, years 1000-9999          DATE
  uuid                  a hyphenated UUID                    UUID / BINARY(16)
  enum:A,B,C            one of the values (snake_case)       VARCHAR(32)
  ref:PARENT:cascade    the id of one of the caller's        BIGINT, a foreign key to PARENT(id)
  ref:PARENT:restrict   PARENT items; the field is NAME_id   ON DELETE CASCADE or RESTRICT

  Modifiers:
  KIND?                 nullable: may be left out or null; `null` in a PATCH clears it
                        (string?:200, timestamp?; not for ref)
  ...:filter            the list takes ?NAME=value (bool, int, enum, ref, string, uuid, date),
                        with an index for it
  --unique a,b          a, b are unique together, per owner (a 409 names the last); repeat
                        for several sets. A ref is named as given (note) or with _id.

A PARENT is notes or a resource this command wrote. With restrict, the parent's delete is
documented as answering 409 (its api.rs and its test's `referenced` are edited).

Every resource has id, owner, version (its ETag), created_at and updated_at; CRUD at
/PLURAL and /PLURAL/{id} with ETags and If-Match, keyset lists in both orders, scopes
PLURAL:read and PLURAL:write, Idempotency-Key on POST and PATCH, and events
SINGULAR.created, SINGULAR.updated, SINGULAR.deleted.

It writes nothing if any file it would write exists, or any line it would add has no
place; --dry-run prints every file and line instead. Afterwards it runs `cargo fmt --all`
and regenerates openapi.json (skip with --no-spec).

Example:
  cargo xtask new-resource reminders note:ref:notes:cascade due_at:timestamp \\
      label:string?:200 done:bool:filter --unique note,due_at";

#[derive(clap::Args)]
struct NewResource {
    /// The resource's plural name, lower snake_case: `reminders`.
    plural: String,
    /// Its fields: NAME:KIND[?][:ARG][:filter] (see below).
    #[arg(required = true)]
    fields: Vec<String>,
    /// Fields unique together per owner, comma-separated; repeat for several sets.
    #[arg(long, value_name = "A,B")]
    unique: Vec<String>,
    /// The singular, when it is not the plural without its `s` (`people`: `person`).
    #[arg(long)]
    singular: Option<String>,
    /// Print every file and every line it would write; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Do not regenerate openapi.json afterwards (it builds and runs one test).
    #[arg(long)]
    no_spec: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.task {
        Task::NewResource(args) => match new_resource(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("new-resource: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

/// The repository root: the directory of the workspace's `Cargo.toml` (cargo runs the
/// alias from anywhere in it).
fn root() -> Result<PathBuf, String> {
    let here = std::env::current_dir().map_err(|e| format!("the current directory: {e}"))?;
    here.ancestors()
        .find(|dir| dir.join("migration/src/lib.rs").exists() && dir.join("Cargo.toml").exists())
        .map(Path::to_path_buf)
        .ok_or_else(|| "run it inside the repository".to_owned())
}

/// The service's crate name, as tests `use` it: the root package's name.
fn crate_name(root: &Path) -> Result<String, String> {
    let manifest =
        std::fs::read_to_string(root.join("Cargo.toml")).map_err(|e| format!("Cargo.toml: {e}"))?;
    let package = manifest
        .split("[package]")
        .nth(1)
        .ok_or("Cargo.toml has no [package]")?;
    let name = package
        .lines()
        .find_map(|line| line.trim().strip_prefix("name = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .ok_or("Cargo.toml: no package name")?;
    Ok(name.replace('-', "_"))
}

/// A file the command writes, relative to the root.
struct Output {
    path: PathBuf,
    text: String,
}

/// What a run writes, all of it rendered and checked.
struct Prepared {
    root: PathBuf,
    plural: String,
    migration_name: String,
    migration: String,
    outputs: Vec<Output>,
    edits: Vec<edits::Edit>,
}

fn new_resource(args: &NewResource) -> Result<(), String> {
    let Prepared {
        root,
        plural,
        migration_name,
        migration,
        outputs,
        edits,
    } = prepare(args).map_err(|e| format!("{e}; nothing was written"))?;
    let plural = &plural;
    if args.dry_run {
        println!(
            "== would run: cd migration && cargo run -- generate {migration_name}\n   \
             (writes migration/src/m<date>_<time>_{migration_name}.rs and adds its two lines to \
             migration/src/lib.rs), then write the migration:\n"
        );
        println!("{migration}");
        for output in &outputs {
            println!(
                "== would write {}:\n\n{}",
                output.path.display(),
                output.text
            );
        }
        for edit in &edits {
            for change in &edit.changes {
                println!("== would edit {}: {change}", edit.path.display());
            }
        }
        println!("== would run: cargo fmt --all");
        if !args.no_spec {
            println!("== would run: {SPEC_COMMAND}");
        }
        return Ok(());
    }

    // The migration, through the migration crate's own generator.
    let before = migration_files(&root)?;
    run(
        Command::new("cargo")
            .args(["run", "--quiet", "--", "generate", &migration_name])
            .current_dir(root.join("migration")),
        "cd migration && cargo run -- generate",
    )?;
    let created: Vec<_> = migration_files(&root)?
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    let [file] = &created[..] else {
        return Err(format!(
            "the migration generator made {created:?}, not one file"
        ));
    };
    std::fs::write(file, migration).map_err(|e| format!("{}: {e}", file.display()))?;
    println!(
        "wrote {}",
        file.strip_prefix(&root).unwrap_or(file).display()
    );

    for output in &outputs {
        let path = root.join(&output.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&path, &output.text).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", output.path.display());
    }
    for edit in &edits {
        edit.apply(&root)?;
        for change in &edit.changes {
            println!("edited {}: {change}", edit.path.display());
        }
    }
    run(
        Command::new("cargo")
            .args(["fmt", "--all"])
            .current_dir(&root),
        "cargo fmt --all",
    )?;
    if !args.no_spec {
        println!("regenerating openapi.json: {SPEC_COMMAND}");
        run(
            Command::new("bash")
                .args(["-c", SPEC_COMMAND])
                .current_dir(&root),
            SPEC_COMMAND,
        )?;
    }
    println!(
        "\nDone. Next: review `git diff --histogram openapi.json`, then run the suite on every \
         backend: scripts/test --test api {plural}::"
    );
    Ok(())
}

fn prepare(args: &NewResource) -> Result<Prepared, String> {
    let root = root()?;
    let plural = &args.plural;
    if !is_snake(plural) {
        return Err(format!("{plural}: a resource's name is lower snake_case"));
    }
    let singular = match &args.singular {
        Some(singular) => singular.clone(),
        None => singular_of(plural).ok_or_else(|| {
            format!("{plural}: give its singular with --singular (it does not end in s)")
        })?,
    };
    if !is_snake(&singular) || singular == *plural {
        return Err(format!(
            "{singular}: the singular is lower snake_case, not the plural"
        ));
    }
    let taken = [
        "api",
        "app",
        "auth",
        "config",
        "db",
        "events",
        "http",
        "jobs",
        "notes",
        "webhooks",
        "health",
        "metrics",
        "telemetry",
        "server",
        "tls",
        "probe",
        "drain",
    ];
    if taken.contains(&plural.as_str()) || root.join("src").join(plural).exists() {
        return Err(format!(
            "{plural}: src/{plural} or a module of that name exists"
        ));
    }
    let mut fields = Vec::new();
    for spec in &args.fields {
        let field = parse_field(spec, plural, &root)?;
        if fields.iter().any(|f: &spec::Field| f.name == field.name) {
            return Err(format!("{spec}: {} twice", field.name));
        }
        fields.push(field);
    }
    let mut resource = Resource {
        plural: plural.clone(),
        singular,
        fields,
        uniques: Vec::new(),
    };
    for list in &args.unique {
        resource.add_unique(list)?;
    }
    let names = Names::new(&resource, &crate_name(&root)?);
    for name in render::migration::object_names(&resource, &names) {
        if name.len() > 63 {
            return Err(format!(
                "{name}: longer than PostgreSQL's 63 bytes for a name; use shorter names"
            ));
        }
    }

    // Everything is rendered, formatted and checked before anything is written: a template
    // that makes invalid Rust fails here, not halfway through.
    let mut outputs = outputs(&resource, &names, &root)?;
    for output in &mut outputs {
        output.text = rustfmt(&root, &output.text)
            .map_err(|e| format!("{}: {e} (a template bug)", output.path.display()))?;
    }
    for output in &outputs {
        if root.join(&output.path).exists() {
            return Err(format!(
                "{} exists: nothing was written",
                output.path.display()
            ));
        }
    }
    let migration_name = format!("create_{plural}");
    if let Some(existing) = existing_migration(&root, &migration_name)? {
        return Err(format!("{existing} exists"));
    }
    let edits = edits::registrations(&resource, &names, &root)?;
    let migration = rustfmt(&root, &render::migration::migration(&resource, &names))
        .map_err(|e| format!("the migration: {e} (a template bug)"))?;

    Ok(Prepared {
        root,
        plural: plural.clone(),
        migration_name,
        migration,
        outputs,
        edits,
    })
}

const SPEC_COMMAND: &str =
    "UPDATE_OPENAPI=1 NOTES_TEST_BACKENDS=sqlite scripts/test --test api operations::served_spec";

fn outputs(resource: &Resource, names: &Names, root: &Path) -> Result<Vec<Output>, String> {
    use render::{source, tests};
    let dir = PathBuf::from("src").join(&resource.plural);
    let mut outputs = vec![
        Output {
            path: dir.join("mod.rs"),
            text: source::module(resource, names),
        },
        Output {
            path: dir.join("entity.rs"),
            text: source::entity(resource, names),
        },
        Output {
            path: dir.join("bodies.rs"),
            text: source::bodies(resource, names),
        },
        Output {
            path: dir.join("store.rs"),
            text: source::store(resource, names),
        },
        Output {
            path: dir.join("api.rs"),
            text: source::api(resource, names),
        },
    ];
    for field in resource.fields.iter().filter(|f| f.has_rule_type()) {
        let text = match field.kind {
            spec::Kind::Enum { .. } => source::enum_rule(names, field),
            _ => source::string_rule(resource, names, field),
        };
        outputs.push(Output {
            path: dir.join(format!("{}.rs", field.name)),
            text,
        });
    }
    let mut parent_scopes = Vec::new();
    for (_, reference) in resource.references() {
        parent_scopes.extend(edits::scopes_of(&reference.parent, root)?);
    }
    let scopes = tests::scopes(resource, &parent_scopes);
    outputs.push(Output {
        path: PathBuf::from("tests/api").join(format!("{}.rs", resource.plural)),
        text: tests::tests(resource, names, &scopes),
    });
    Ok(outputs)
}

/// `source` as `cargo fmt` would leave it (rustfmt on stdin, with the repository's settings).
fn rustfmt(root: &Path, source: &str) -> Result<String, String> {
    use std::io::Write as _;
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout"])
        .current_dir(root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("rustfmt could not start: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("rustfmt: no stdin")?
        .write_all(source.as_bytes())
        .map_err(|e| format!("rustfmt: {e}"))?;
    let output = child
        .wait_with_output()
        .map_err(|e| format!("rustfmt: {e}"))?;
    match output.status.success() {
        true => String::from_utf8(output.stdout).map_err(|e| format!("rustfmt: {e}")),
        false => Err(format!(
            "rustfmt refused it: {}",
            String::from_utf8_lossy(&output.stderr)
        )),
    }
}

fn migration_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    let dir = root.join("migration/src");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('m') && n.ends_with(".rs"))
        })
        .collect())
}

fn existing_migration(root: &Path, name: &str) -> Result<Option<String>, String> {
    let suffix = format!("_{name}.rs");
    Ok(migration_files(root)?
        .into_iter()
        .find(|path| path.to_string_lossy().ends_with(&suffix))
        .map(|path| path.display().to_string()))
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    match status.success() {
        true => Ok(()),
        false => Err(format!("{what} failed ({status})")),
    }
}
