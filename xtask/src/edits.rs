//! The lines a new resource adds to existing files: its registrations, its contract-test
//! entries, and, where it restricts a parent's delete, the parent's documented 409. Each edit
//! is computed from the file as it is, before anything is written; one that finds no place
//! stops the command.

use std::path::{Path, PathBuf};

use crate::{names::Names, spec::Resource};

/// One file's edits: the file before and after, and what changed, line by line.
pub struct Edit {
    pub path: PathBuf,
    pub changes: Vec<String>,
    before: String,
    after: String,
}

impl Edit {
    /// Writes the edited file, unless it changed since the edit was computed.
    pub fn apply(&self, root: &Path) -> Result<(), String> {
        let path = root.join(&self.path);
        let now = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if now != self.before {
            return Err(format!("{} changed meanwhile", self.path.display()));
        }
        std::fs::write(&path, &self.after).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The files being edited: several edits of one file apply in turn.
struct Files {
    root: PathBuf,
    edits: Vec<Edit>,
}

impl Files {
    fn current(&self, path: &str) -> Result<String, String> {
        if let Some(edit) = self.edits.iter().find(|e| e.path == Path::new(path)) {
            return Ok(edit.after.clone());
        }
        std::fs::read_to_string(self.root.join(path)).map_err(|e| format!("{path}: {e}"))
    }

    fn push(&mut self, path: &str, before: String, after: String, change: String) {
        match self.edits.iter_mut().find(|e| e.path == Path::new(path)) {
            Some(edit) => {
                edit.after = after;
                edit.changes.push(change);
            }
            None => self.edits.push(Edit {
                path: PathBuf::from(path),
                changes: vec![change],
                before,
                after,
            }),
        }
    }

    /// Adds `line` before the first line that contains `anchor`.
    fn insert_before(&mut self, path: &str, anchor: &str, line: &str) -> Result<(), String> {
        let text = self.current(path)?;
        let at = text
            .find(anchor)
            .ok_or_else(|| format!("{path}: no `{}` to add a line before", anchor.trim()))?;
        let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let after = format!("{}{line}\n{}", &text[..start], &text[start..]);
        self.push(path, text, after, format!("add `{}`", line.trim()));
        Ok(())
    }

    /// Adds `line` among the lines starting with `prefix`, in name order.
    fn insert_sorted(&mut self, path: &str, prefix: &str, line: &str) -> Result<(), String> {
        let text = self.current(path)?;
        let lines: Vec<&str> = text.lines().collect();
        let block: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].starts_with(prefix) && lines[i].ends_with(';'))
            .collect();
        let last = *block
            .last()
            .ok_or_else(|| format!("{path}: no `{prefix}...` lines"))?;
        let at = block
            .iter()
            .copied()
            .find(|&i| lines[i] > line)
            .unwrap_or(last + 1);
        let mut out: Vec<&str> = lines.clone();
        out.insert(at, line);
        let mut after = out.join("\n");
        if text.ends_with('\n') {
            after.push('\n');
        }
        self.push(path, text, after, format!("add `{}`", line.trim()));
        Ok(())
    }

    fn replace(&mut self, path: &str, from: &str, to: &str) -> Result<(), String> {
        let text = self.current(path)?;
        if text.matches(from).count() != 1 {
            return Err(format!("{path}: expected `{from}` once"));
        }
        let after = text.replacen(from, to, 1);
        self.push(
            path,
            text,
            after,
            format!("`{}` becomes `{}`", from.trim(), to.trim()),
        );
        Ok(())
    }
}

pub fn registrations(resource: &Resource, names: &Names, root: &Path) -> Result<Vec<Edit>, String> {
    let plural = &names.plural;
    let mut files = Files {
        root: root.to_path_buf(),
        edits: Vec::new(),
    };
    files.insert_sorted("src/lib.rs", "pub mod ", &format!("pub mod {plural};"))?;
    files.insert_before(
        "src/api.rs",
        "// A new resource: `crate::things::ThingsApi",
        &format!(
            "        crate::{plural}::{}Api::new(db.clone()),",
            names.plural_camel
        ),
    )?;
    files.insert_before(
        "src/webhooks/events.rs",
        "// A new resource: `&crate::things::api::EVENTS,`",
        &format!("    &crate::{plural}::api::EVENTS,"),
    )?;
    files.insert_sorted("tests/api/main.rs", "mod ", &format!("mod {plural};"))?;
    let main = files.current("tests/api/main.rs")?;
    let list = main
        .find("const RESOURCES")
        .and_then(|at| main[at..].find("];").map(|end| at + end))
        .ok_or("tests/api/main.rs: no `const RESOURCES: ... = &[...];`")?;
    let statement_start = main.find("const RESOURCES").unwrap_or_default();
    let old = &main[statement_start..list + 2];
    let new = format!(
        "{}, &{plural}::RESOURCE];",
        old.trim_end_matches("];").trim_end().trim_end_matches(',')
    );
    let (old, new) = (old.to_owned(), new);
    files.replace("tests/api/main.rs", &old, &new)?;

    // The book's table of problem types.
    files.insert_before(
        "docs/src/api.md",
        "| 409 | `urn:notes-service:problem:already-exists`",
        &format!(
            "| 404 | `urn:notes-service:problem:{singular}-not-found` | There is no {singular} with that id (with authentication on: none of the caller's). |",
            singular = names.singular
        ),
    )?;

    // The contract test's expected statuses, as for notes (schemathesis.toml says why).
    let mut entries = String::new();
    let conflict = if resource.uniques.is_empty() {
        ""
    } else {
        ", \"409\""
    };
    let reference = if resource.references().next().is_some() {
        ", \"422\""
    } else {
        ""
    };
    for (pattern, statuses) in [
        (
            format!("^PUT /{plural}/\\\\{{id\\\\}}$"),
            format!("\"2xx\", \"3xx\", \"404\", \"412\"{reference}{conflict}"),
        ),
        (
            format!("^PATCH /{plural}/\\\\{{id\\\\}}$"),
            format!("\"2xx\", \"3xx\", \"404\", \"412\", \"422\"{conflict}"),
        ),
        (
            format!("^DELETE /{plural}/\\\\{{id\\\\}}$"),
            "\"2xx\", \"3xx\", \"404\", \"412\"".to_owned(),
        ),
        (format!("^GET /{plural}$"), "\"2xx\", \"400\"".to_owned()),
        (
            format!("^POST /{plural}$"),
            format!("\"2xx\", \"422\"{conflict}"),
        ),
    ] {
        entries.push_str(&format!(
            "[[operations]]\ninclude-name-regex = \"{pattern}\"\nchecks.positive_data_acceptance.expected-statuses = [{statuses}]\n\n"
        ));
    }
    let anchor = "# A body over `server.request_body_limit`";
    let text = files.current("schemathesis.toml")?;
    let at = text
        .find(anchor)
        .ok_or_else(|| format!("schemathesis.toml: no `{anchor}`"))?;
    let header = format!("# {plural} (written by `cargo xtask new-resource`).\n");
    let after = format!("{}{header}{entries}{}", &text[..at], &text[at..]);
    files.push(
        "schemathesis.toml",
        text,
        after,
        format!("add five [[operations]] entries for /{plural}:\n{header}{entries}"),
    );

    // A parent whose delete this resource restricts documents the 409.
    for (_, reference) in resource.references().filter(|(_, r)| !r.cascade) {
        let parent = &reference.parent;
        let api = format!("src/{parent}/api.rs");
        let text = files.current(&api)?;
        if !text.contains("Problems<Referenced<Delete>>") {
            files.replace(&api, "Problems<Delete>>", "Problems<Referenced<Delete>>>")?;
            files.replace(&api, "error_docs::{", "error_docs::{Referenced, ")?;
            let tests = format!("tests/api/{parent}.rs");
            let text = files.current(&tests)?;
            if text.contains("    // Nothing references notes in the shipped schema.\n") {
                files.replace(
                    &tests,
                    "    // Nothing references notes in the shipped schema.\n",
                    "",
                )?;
            }
            files.replace(&tests, "referenced: &[],", "referenced: &[\"delete\"],")?;
            let schemathesis = files.current("schemathesis.toml")?;
            let delete = format!("DELETE) /{parent}/\\\\{{id\\\\}}$\"\n");
            let delete_only = format!("^DELETE /{parent}/\\\\{{id\\\\}}$\"\n");
            let at = schemathesis
                .find(&delete)
                .or_else(|| schemathesis.find(&delete_only))
                .ok_or_else(|| {
                    format!("schemathesis.toml: no entry for DELETE /{parent}/{{id}}")
                })?;
            let line_end = schemathesis[at..]
                .find("]\n")
                .map(|i| at + i)
                .ok_or("schemathesis.toml: an entry without its statuses")?;
            let statuses_start = schemathesis[..line_end].rfind('[').unwrap_or(line_end);
            let old = schemathesis[statuses_start..=line_end].to_owned();
            if !old.contains("\"409\"") {
                let new = old.replace(']', ", \"409\"]");
                let after = format!(
                    "{}{new}{}",
                    &schemathesis[..statuses_start],
                    &schemathesis[line_end + 1..]
                );
                files.push(
                    "schemathesis.toml",
                    schemathesis,
                    after,
                    format!("`{old}` becomes `{new}` (DELETE /{parent}/{{id}})"),
                );
            }
        }
    }
    Ok(files.edits)
}

/// The scopes a parent's items need, its own parents' included.
pub fn scopes_of(parent: &str, root: &Path) -> Result<Vec<String>, String> {
    if parent == "notes" {
        return Ok(vec!["notes:read".into(), "notes:write".into()]);
    }
    let path = root.join("tests/api").join(format!("{parent}.rs"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let scopes = text
        .lines()
        .find_map(|line| line.strip_prefix("pub const SCOPES: &str = \""))
        .and_then(|rest| rest.strip_suffix("\";"))
        .ok_or_else(|| format!("{}: no `pub const SCOPES`", path.display()))?;
    Ok(scopes.split(' ').map(str::to_owned).collect())
}
