//! What a resource is made of, as the command line declares it: `due_at:timestamp`,
//! `label:string?:200`, `done:bool:filter`, `note:ref:notes:cascade`.

use std::path::Path;

/// A resource to write.
pub struct Resource {
    /// `reminders`: the table, the path (`/reminders`), the module, the scopes.
    pub plural: String,
    /// `reminder`: problem types (`reminder-not-found`), event types (`reminder.created`).
    pub singular: String,
    pub fields: Vec<Field>,
    /// Each unique constraint, as indexes into `fields`.
    pub uniques: Vec<Vec<usize>>,
}

pub struct Field {
    /// The body field and the column: `due_at`, `note_id` (a reference's name + `_id`).
    pub name: String,
    pub kind: Kind,
    pub nullable: bool,
    pub filter: bool,
}

pub enum Kind {
    /// A `VARCHAR(max)`.
    String {
        max: u32,
    },
    /// A `TEXT`.
    Text {
        max: u32,
    },
    Bool,
    /// An `i64`, with optional bounds.
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    /// An `f64` (`DOUBLE`).
    Number,
    Timestamp,
    Date,
    Uuid,
    Enum {
        values: Vec<String>,
    },
    Ref(Reference),
}

pub struct Reference {
    /// The name given, without `_id`: `note` (the foreign key is `fk_reminders_note`).
    pub short: String,
    /// The parent's table and module: `notes`.
    pub parent: String,
    /// The parent's singular name: `note`.
    pub parent_singular: String,
    pub cascade: bool,
}

/// The longest text a `text` field takes unless told (as notes' text).
const TEXT_MAX: u32 = 10_000;
/// A string field's length unless told.
const STRING_MAX: u32 = 255;
/// Enum values are stored in a `VARCHAR` of this length.
pub const ENUM_CHARS: u32 = 32;

/// Names a field may not have: the columns every resource has, and Rust keywords.
const RESERVED: &[&str] = &[
    "id",
    "owner",
    "version",
    "created_at",
    "updated_at",
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "gen",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "key",
    "db",
    "body",
    "caller",
    "filter",
    "input",
    "patch",
    "limit",
    "after",
    "order",
    "offset",
    "prefer",
    "wake",
    "expected",
    "if_match",
];

pub fn is_snake(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__")
}

/// `reminders` → `reminder`, `categories` → `category`, `addresses` → `address`.
pub fn singular_of(plural: &str) -> Option<String> {
    if let Some(stem) = plural.strip_suffix("ies") {
        return Some(format!("{stem}y"));
    }
    for ending in ["sses", "shes", "ches", "xes"] {
        if plural.ends_with(ending) {
            return Some(plural[..plural.len() - 2].to_owned());
        }
    }
    plural
        .strip_suffix('s')
        .filter(|stem| !stem.is_empty() && !stem.ends_with('s'))
        .map(str::to_owned)
}

/// `due_at` → `DueAt`.
pub fn camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// Reads `name:kind[?][:argument][:filter]`. `root` is the repository, to find parents.
pub fn parse_field(spec: &str, plural: &str, root: &Path) -> Result<Field, String> {
    let mut parts: Vec<&str> = spec.split(':').collect();
    let filter = parts.last() == Some(&"filter");
    if filter {
        parts.pop();
    }
    let [name, kind, args @ ..] = &parts[..] else {
        return Err(format!("{spec:?}: expected NAME:KIND (see --help)"));
    };
    if !is_snake(name) {
        return Err(format!(
            "{spec:?}: a field name is lower snake_case (due_at)"
        ));
    }
    let (kind, nullable) = match kind.strip_suffix('?') {
        Some(kind) => (kind, true),
        None => (*kind, false),
    };
    let one_arg = |what: &str| -> Result<Option<&str>, String> {
        match args {
            [] => Ok(None),
            [arg] => Ok(Some(arg)),
            _ => Err(format!(
                "{spec:?}: {kind} takes at most one argument ({what})"
            )),
        }
    };
    let length = |default: u32| -> Result<u32, String> {
        match one_arg("a maximum length")? {
            None => Ok(default),
            Some(arg) => arg
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| format!("{spec:?}: a length is a number from 1 to 1000000")),
        }
    };
    let kind = match kind {
        "string" => {
            let max = length(STRING_MAX)?;
            // Beyond this MySQL makes a VARCHAR a TEXT, which no index can hold whole.
            if max > 16_383 {
                return Err(format!(
                    "{spec:?}: a string is at most 16383 long; use text"
                ));
            }
            Kind::String { max }
        }
        "text" => Kind::Text {
            max: length(TEXT_MAX)?,
        },
        "bool" => {
            one_arg("none")?
                .map_or(Ok(()), |_| Err(format!("{spec:?}: bool takes no argument")))?;
            Kind::Bool
        }
        "int" => match one_arg("a range, MIN..MAX")? {
            None => Kind::Int {
                min: None,
                max: None,
            },
            Some(range) => {
                let (min, max) = range
                    .split_once("..")
                    .ok_or_else(|| format!("{spec:?}: a range is MIN..MAX, 0..100 or 1.."))?;
                let bound = |text: &str| -> Result<Option<i64>, String> {
                    if text.is_empty() {
                        return Ok(None);
                    }
                    text.parse::<i64>()
                        .ok()
                        // The spec's minimum and maximum are doubles: exact within ±2^53.
                        .filter(|n| n.unsigned_abs() <= 1 << 53)
                        .map(Some)
                        .ok_or_else(|| format!("{spec:?}: a bound is an integer within ±2^53"))
                };
                let (min, max) = (bound(min)?, bound(max)?);
                if let (Some(min), Some(max)) = (min, max)
                    && min > max
                {
                    return Err(format!("{spec:?}: MIN must not be above MAX"));
                }
                Kind::Int { min, max }
            }
        },
        "number" => {
            one_arg("none")?.map_or(Ok(()), |_| {
                Err(format!("{spec:?}: number takes no argument"))
            })?;
            Kind::Number
        }
        "timestamp" => {
            one_arg("none")?.map_or(Ok(()), |_| {
                Err(format!("{spec:?}: timestamp takes no argument"))
            })?;
            Kind::Timestamp
        }
        "date" => {
            one_arg("none")?
                .map_or(Ok(()), |_| Err(format!("{spec:?}: date takes no argument")))?;
            Kind::Date
        }
        "uuid" => {
            one_arg("none")?
                .map_or(Ok(()), |_| Err(format!("{spec:?}: uuid takes no argument")))?;
            Kind::Uuid
        }
        "enum" => {
            let values = one_arg("its values, a,b,c")?
                .ok_or_else(|| format!("{spec:?}: enum needs its values: enum:low,high"))?;
            let values: Vec<String> = values.split(',').map(str::to_owned).collect();
            if values.len() < 2 {
                return Err(format!("{spec:?}: an enum has at least two values"));
            }
            for (i, value) in values.iter().enumerate() {
                if !is_snake(value) || value.len() > ENUM_CHARS as usize {
                    return Err(format!(
                        "{spec:?}: an enum value is lower snake_case, at most {ENUM_CHARS} long"
                    ));
                }
                if values[..i].contains(value) {
                    return Err(format!("{spec:?}: {value} is listed twice"));
                }
            }
            Kind::Enum { values }
        }
        "ref" => {
            if nullable {
                return Err(format!("{spec:?}: a reference cannot be nullable"));
            }
            let [parent, action] = args else {
                return Err(format!(
                    "{spec:?}: a reference is NAME:ref:PARENT:cascade or NAME:ref:PARENT:restrict"
                ));
            };
            let cascade = match *action {
                "cascade" => true,
                "restrict" => false,
                _ => return Err(format!("{spec:?}: on delete, cascade or restrict")),
            };
            if *parent == plural {
                return Err(format!("{spec:?}: a resource cannot refer to itself here"));
            }
            let parent_singular = parent_of(parent, root)?;
            Kind::Ref(Reference {
                short: (*name).to_owned(),
                parent: (*parent).to_owned(),
                parent_singular,
                cascade,
            })
        }
        other => {
            return Err(format!(
                "{spec:?}: unknown kind {other:?} (string, text, bool, int, number, timestamp, \
                 date, uuid, enum, ref)"
            ));
        }
    };
    if filter && matches!(kind, Kind::Text { .. } | Kind::Number | Kind::Timestamp) {
        return Err(format!(
            "{spec:?}: a filter is on a bool, int, enum, ref, string, uuid or date field"
        ));
    }
    let name = match kind {
        Kind::Ref(_) => format!("{name}_id"),
        _ => (*name).to_owned(),
    };
    if RESERVED.contains(&name.as_str()) {
        return Err(format!("{spec:?}: {name} is a reserved name"));
    }
    Ok(Field {
        name,
        kind,
        nullable,
        filter,
    })
}

/// The singular of a parent this command can refer to: notes, or a resource it wrote (its
/// tests have `create_one`, which the child's tests call to make a parent).
fn parent_of(parent: &str, root: &Path) -> Result<String, String> {
    let singular = singular_of(parent).ok_or_else(|| format!("{parent}: not a plural name"))?;
    if parent == "notes" {
        return Ok(singular);
    }
    let tests = root.join("tests/api").join(format!("{parent}.rs"));
    let generated =
        std::fs::read_to_string(&tests).is_ok_and(|text| text.contains("pub async fn create_one("));
    if root.join("src").join(parent).join("entity.rs").exists() && generated {
        Ok(singular)
    } else {
        Err(format!(
            "{parent}: a parent is notes or a resource this command wrote (its tests make \
             parents with create_one); refer to others by hand (docs/src/adding-a-resource.md)"
        ))
    }
}

impl Field {
    pub fn camel(&self) -> String {
        camel(&self.name)
    }

    pub fn reference(&self) -> Option<&Reference> {
        match &self.kind {
            Kind::Ref(reference) => Some(reference),
            _ => None,
        }
    }

    /// Whether the field has a rule type of its own in the resource's folder.
    pub fn has_rule_type(&self) -> bool {
        matches!(
            self.kind,
            Kind::String { .. } | Kind::Text { .. } | Kind::Enum { .. }
        )
    }

    /// Bytes it takes in a MySQL/MariaDB index key (utf8mb4: 4 a character).
    pub fn key_bytes(&self) -> Option<u32> {
        Some(match &self.kind {
            Kind::String { max } => 4 * max,
            Kind::Text { .. } => return None,
            Kind::Bool => 1,
            Kind::Int { .. } | Kind::Ref(_) | Kind::Number | Kind::Timestamp => 8,
            Kind::Date => 3,
            Kind::Uuid => 16,
            Kind::Enum { .. } => 4 * ENUM_CHARS,
        })
    }
}

impl Resource {
    pub fn references(&self) -> impl Iterator<Item = (&Field, &Reference)> {
        self.fields
            .iter()
            .filter_map(|f| f.reference().map(|r| (f, r)))
    }

    pub fn filters(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.filter)
    }

    pub fn nullables(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.nullable)
    }

    /// Reads `--unique a,b`: names as given on the command line (a reference by its name
    /// without `_id`, or with it).
    pub fn add_unique(&mut self, list: &str) -> Result<(), String> {
        let mut indexes = Vec::new();
        for name in list.split(',') {
            let found = self
                .fields
                .iter()
                .position(|f| f.name == name || f.reference().is_some_and(|r| r.short == name));
            let index = found.ok_or_else(|| format!("--unique {list}: no field {name}"))?;
            if indexes.contains(&index) {
                return Err(format!("--unique {list}: {name} twice"));
            }
            indexes.push(index);
        }
        // MySQL/MariaDB: an index key holds at most 3,072 bytes; `owner` takes 1,020.
        let mut bytes = 1020;
        for &index in &indexes {
            let field = &self.fields[index];
            bytes += field.key_bytes().ok_or_else(|| {
                format!(
                    "--unique {list}: {} is a text; no index holds it whole on MySQL \
                     (use a string of at most 512 characters)",
                    field.name
                )
            })?;
        }
        if bytes > 3072 {
            return Err(format!(
                "--unique {list}: {bytes} bytes with owner, over MySQL's 3072-byte index key \
                 (utf8mb4 strings take 4 bytes a character)"
            ));
        }
        if self.uniques.contains(&indexes) {
            return Err(format!("--unique {list} given twice"));
        }
        self.uniques.push(indexes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(spec: &str) -> Result<Field, String> {
        parse_field(spec, "things", Path::new("/nonexistent"))
    }

    #[test]
    fn singulars() {
        assert_eq!(singular_of("reminders").as_deref(), Some("reminder"));
        assert_eq!(singular_of("categories").as_deref(), Some("category"));
        assert_eq!(singular_of("addresses").as_deref(), Some("address"));
        assert_eq!(singular_of("boxes").as_deref(), Some("box"));
        assert_eq!(singular_of("glass"), None);
        assert_eq!(singular_of("s"), None);
    }

    #[test]
    fn fields_parse() {
        let label = field("label:string?:200").unwrap();
        assert!(label.nullable && !label.filter);
        assert!(matches!(label.kind, Kind::String { max: 200 }));
        let done = field("done:bool:filter").unwrap();
        assert!(done.filter && !done.nullable);
        assert!(matches!(
            field("n:int:1..").unwrap().kind,
            Kind::Int {
                min: Some(1),
                max: None
            }
        ));
        let note = parse_field("note:ref:notes:cascade", "reminders", Path::new("/")).unwrap();
        assert_eq!(note.name, "note_id");
        assert!(note.reference().is_some_and(|r| r.cascade));
    }

    #[test]
    fn bad_fields_are_refused() {
        for spec in [
            "label",
            "Label:string",
            "x:float",
            "x:int:5..1",
            "x:enum:one",
            "x:enum:a,a",
            "x:text:filter",
            "id:int",
            "x:ref?:notes:cascade",
            "x:ref:notes",
            "x:ref:webhooks:cascade",
            "x:bool:1",
        ] {
            assert!(field(spec).is_err(), "{spec}");
        }
    }
}
