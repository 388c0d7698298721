//! The resource's folder, `src/<plural>/`: a template per file, in the shape of `src/notes/`.

use std::fmt::Write as _;

use crate::{
    names::{Names, option_to_column, to_column},
    spec::{Field, Kind, Resource},
};

pub fn module(resource: &Resource, names: &Names) -> String {
    let mut rules = String::new();
    for field in resource.fields.iter().filter(|f| f.has_rule_type()) {
        writeln!(rules, "pub mod {};", field.name).unwrap();
    }
    names.fill(&format!(
        "//! The {{{{plural}}}} resource: its table (`entity`, with the migration in the `migration`
//! crate), its database functions (`store`), its JSON bodies (`bodies`) and HTTP operations
//! (`api`), and a type per field rule. Written by `cargo xtask new-resource`; edit it from
//! here as notes are edited.

pub mod api;
pub mod bodies;
pub mod entity;
pub mod store;
{rules}
pub use api::{{{{Plural}}}}Api;
"
    ))
}

/// A string or text field's type: only what the API accepts can be built.
pub fn string_rule(resource: &Resource, names: &Names, field: &Field) -> String {
    let max = match field.kind {
        Kind::String { max } | Kind::Text { max } => max,
        _ => unreachable!("a string rule for a string"),
    };
    let ty = names.rule_type(field);
    let template = r#"//! A {{singular}}'s `__FIELD__`: a type that can only hold a value the service accepts, so the
//! database functions cannot store what the API would refuse. Add the field's own rules to
//! `parse` (and say them in the schema below).

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;

use crate::http::field_kinds::{FieldKind, Refusal};

/// Not empty, at most [`__TYPE__::MAX_CHARS`] characters, no NUL character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct __TYPE__(String);

impl __TYPE__ {
    /// The longest accepted value, in characters (Unicode scalar values, not bytes).
    pub const MAX_CHARS: usize = __MAX__;

    pub fn parse(text: String) -> Result<Self, String> {
        if text.is_empty() {
            Err("must not be empty".to_owned())
        } else if text.chars().count() > Self::MAX_CHARS {
            Err(format!("must be at most {} characters", Self::MAX_CHARS))
        } else if text.contains('\0') {
            // PostgreSQL cannot store NUL in text; every backend refuses it alike.
            Err("must not contain the NUL character (U+0000)".to_owned())
        } else {
            Ok(Self(text))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl FieldKind for __TYPE__ {
    const EXPECTED: &'static str = "a string";

    fn from_json(value: Value) -> Result<Self, Refusal> {
        match value {
            Value::String(text) => Self::parse(text).map_err(Refusal::Invalid),
            _ => Err(Refusal::WrongType),
        }
    }
}

impl Type for __TYPE__ {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string({{singular}}-__KEBAB__)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some("Not empty, at most __MAX__ characters, no NUL character."),
            min_length: Some(1),
            max_length: Some(Self::MAX_CHARS),
            pattern: Some("^[^\\u0000]*$".to_owned()),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

// Required by `#[derive(Object)]`; request bodies are read by `FromJsonObject` instead.
impl ParseFromJSON for __TYPE__ {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Self::from_json(value.unwrap_or_default()).map_err(|refusal| match refusal {
            Refusal::WrongType => ParseError::custom("must be a string"),
            Refusal::Invalid(message) => ParseError::custom(message),
        })
    }
}

impl ToJSON for __TYPE__ {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.as_str().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_accepted_values_parse() {
        let parse = |s: &str| __TYPE__::parse(s.to_owned());
        assert_eq!(parse("a").map(__TYPE__::into_string), Ok("a".to_owned()));
        assert!(parse(&"🦀".repeat(__TYPE__::MAX_CHARS)).is_ok());
        assert!(parse(&"a".repeat(__TYPE__::MAX_CHARS + 1)).is_err());
        assert!(parse("").is_err());
        assert!(parse("a\0b").is_err());
    }
}
"#;
    let _ = resource;
    names
        .fill(template)
        .replace("__TYPE__", &ty)
        .replace("__FIELD__", &field.name)
        .replace("__KEBAB__", &field.name.replace('_', "-"))
        .replace("__MAX__", &max.to_string())
}

/// An enum field's type: its values in the spec, in bodies, in the query and in the column.
pub fn enum_rule(names: &Names, field: &Field) -> String {
    let Kind::Enum { values } = &field.kind else {
        unreachable!("an enum rule for an enum")
    };
    let ty = names.rule_type(field);
    let mut variants = String::new();
    let mut arms = String::new();
    for value in values {
        let variant = crate::spec::camel(value);
        writeln!(
            variants,
            "    #[sea_orm(string_value = \"{value}\")]\n    {variant},"
        )
        .unwrap();
        writeln!(arms, "            Self::{variant} => \"{value}\",").unwrap();
    }
    let template = r#"//! A {{singular}}'s `__FIELD__`: one of its values, the same in bodies, in the `__FIELD__` query
//! parameter and in its column (a string, so that adding a value needs no change of type).

use poem_openapi::Enum;
use sea_orm::{DeriveActiveEnum, EnumIter};

use crate::http::field_kinds::EnumKind;

/// The {{singular}}'s __FIELD__.
#[derive(
    Enum, Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize,
)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[sea_orm(
    rs_type = "String",
    db_type = "String(sea_orm::sea_query::StringLen::N(__ENUM_CHARS__))"
)]
pub enum __TYPE__ {
__VARIANTS__}

impl EnumKind for __TYPE__ {}

impl __TYPE__ {
    /// As JSON and the column have it.
    pub fn as_str(self) -> &'static str {
        match self {
__ARMS__        }
    }
}
"#;
    names
        .fill(template)
        .replace("__TYPE__", &ty)
        .replace("__FIELD__", &field.name)
        .replace("__ENUM_CHARS__", &crate::spec::ENUM_CHARS.to_string())
        .replace("__VARIANTS__", &variants)
        .replace("__ARMS__", &arms)
}

/// `use super::{label::ReminderLabel, ...};` for the rule types a file names.
fn rule_imports(resource: &Resource, names: &Names, only_enums: bool) -> Vec<String> {
    resource
        .fields
        .iter()
        .filter(|f| f.has_rule_type())
        .filter(|f| !only_enums || matches!(f.kind, Kind::Enum { .. }))
        .map(|f| format!("{}::{}", f.name, names.rule_type(f)))
        .collect()
}

pub fn entity(resource: &Resource, names: &Names) -> String {
    let has_float = resource
        .fields
        .iter()
        .any(|f| matches!(f.kind, Kind::Number));
    let eq = if has_float { "" } else { ", Eq" };
    let mut columns = String::new();
    for field in &resource.fields {
        if let Kind::Ref(reference) = &field.kind {
            writeln!(
                columns,
                "    /// The {} it belongs to (`{}.id`).",
                reference.parent_singular, reference.parent
            )
            .unwrap();
        }
        if matches!(field.kind, Kind::Text { .. }) {
            columns.push_str("    #[sea_orm(column_type = \"Text\")]\n");
        }
        writeln!(
            columns,
            "    pub {}: {},",
            field.name,
            names.model_type(field)
        )
        .unwrap();
    }
    let mut listed = String::new();
    for field in &resource.fields {
        writeln!(
            listed,
            "    pub {}: {},",
            field.name,
            names.model_type(field)
        )
        .unwrap();
    }
    let enums = rule_imports(resource, names, true);
    let imports = match enums.len() {
        0 => String::new(),
        1 => format!("\nuse super::{};\n", enums[0]),
        _ => format!("\nuse super::{{{}}};\n", enums.join(", ")),
    };
    names.fill(&format!(
        r#"//! The `{{{{plural}}}}` table as a SeaORM entity. The schema itself is created by the
//! migration crate.

use sea_orm::entity::prelude::*;
{imports}
#[derive(Clone, Debug, PartialEq{eq}, DeriveEntityModel)]
#[sea_orm(table_name = "{{{{plural}}}}")]
pub struct Model {{
    #[sea_orm(primary_key)]
    pub id: i64,
{columns}    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Starts at 1 and rises with every change: the {{{{singular}}}}'s ETag.
    pub version: i64,
    /// The `sub` of the caller that created it (authentication on); "" otherwise.
    pub owner: String,
}}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {{}}

impl ActiveModelBehavior for ActiveModel {{}}

/// A {{{{singular}}}} as a list shows it: the columns of the response, without the owner (the
/// list is already the caller's) and the version (a list carries no ETags).
#[derive(Clone, Debug, PartialEq{eq}, DerivePartialModel)]
#[sea_orm(entity = "Entity")]
pub struct Listed {{
    pub id: i64,
{listed}    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}}
"#
    ))
}

/// `crate::http::...` imports of the kinds a file's body types use.
fn kind_imports(resource: &Resource, names: &Names, nullable: bool) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    for field in &resource.fields {
        let ty = names.body_type(field);
        for (needle, path) in [
            ("IntegerIn", "field_kinds::IntegerIn"),
            ("ClientTimestamp", "field_kinds::ClientTimestamp"),
            ("ClientDate", "field_kinds::ClientDate"),
        ] {
            if ty.starts_with(needle) && !kinds.contains(&path) {
                kinds.push(path);
            }
        }
    }
    if nullable && resource.fields.iter().any(|f| f.nullable) {
        kinds.push("nullable::Nullable");
    }
    kinds
}

pub fn bodies(resource: &Resource, names: &Names) -> String {
    let s = &names.singular_camel;
    // The response.
    let mut response = String::new();
    let mut from_model = String::new();
    for field in &resource.fields {
        if let Kind::Ref(reference) = &field.kind {
            writeln!(
                response,
                "    /// The {} it belongs to.",
                reference.parent_singular
            )
            .unwrap();
        }
        writeln!(
            response,
            "    pub {}: {},",
            field.name,
            names.response_type(field)
        )
        .unwrap();
        let value = match (&field.kind, field.nullable) {
            (Kind::Timestamp, false) => format!("Timestamp(m.{})", field.name),
            (Kind::Timestamp, true) => format!("m.{}.map(Timestamp).into()", field.name),
            (_, true) => format!("m.{}.into()", field.name),
            (_, false) => format!("m.{}", field.name),
        };
        writeln!(from_model, "            {}: {value},", field.name).unwrap();
    }
    // The request bodies.
    let mut whole = String::new();
    let mut changes = String::new();
    let mut read_whole = String::new();
    let mut build_whole = String::new();
    let mut read_changes = String::new();
    for field in &resource.fields {
        let ty = names.body_type(field);
        let name = &field.name;
        if field.nullable {
            writeln!(whole, "    pub {name}: Nullable<{ty}>,").unwrap();
            writeln!(changes, "    pub {name}: Nullable<{ty}>,").unwrap();
            writeln!(
                read_whole,
                "        let {name} = fields.nullable_field(\"{name}\");"
            )
            .unwrap();
            writeln!(build_whole, "            {name},").unwrap();
            writeln!(
                read_changes,
                "            {name}: fields.nullable_field(\"{name}\"),"
            )
            .unwrap();
        } else {
            writeln!(whole, "    pub {name}: {ty},").unwrap();
            writeln!(changes, "    pub {name}: Option<{ty}>,").unwrap();
            writeln!(
                read_whole,
                "        let {name} = fields.field(\"{name}\", true);"
            )
            .unwrap();
            writeln!(build_whole, "            {name}: {name}?,").unwrap();
            writeln!(
                read_changes,
                "            {name}: fields.field(\"{name}\", false),"
            )
            .unwrap();
        }
    }
    let mut imports = vec![
        "json_body::{Fields, FromJsonObject}",
        "timestamp::Timestamp",
    ];
    imports.extend(kind_imports(resource, names, true));
    if resource.fields.iter().any(|f| f.nullable) {
        imports.retain(|i| *i != "nullable::Nullable");
        imports.push("nullable::{Nullable, OrNull}");
    }
    imports.sort();
    let mut super_imports = vec!["entity".to_owned()];
    super_imports.extend(rule_imports(resource, names, false));
    let mut other = String::new();
    if resource.fields.iter().any(|f| matches!(f.kind, Kind::Date)) {
        other.push_str("use chrono::NaiveDate;\n");
    }
    other.push_str("use poem_openapi::Object;\n");
    if resource.fields.iter().any(|f| matches!(f.kind, Kind::Uuid)) {
        other.push_str("use uuid::Uuid;\n");
    }
    let from_listed = from_model.clone();
    let template = format!(
        r#"//! The JSON a client sends and receives for {{{{plural}}}}: the response body, the three
//! request bodies and how each is read field by field.

{other}
use super::{{{supers}}};
use crate::http::{{{imports}}};

/// Fields every {{{{singular}}}} response has and no request may send.
const SERVER_SET: &[&str] = &["id", "created_at", "updated_at"];

/// A stored {{{{singular}}}}.
#[derive(Object, serde::Serialize)]
pub struct {s} {{
    /// Assigned by the service.
    pub id: i64,
{response}    /// When it was created (UTC, microseconds).
    pub created_at: Timestamp,
    /// When it last changed (UTC, microseconds).
    pub updated_at: Timestamp,
}}

impl From<entity::Listed> for {s} {{
    fn from(m: entity::Listed) -> Self {{
        Self {{
            id: m.id,
{from_listed}            created_at: Timestamp(m.created_at),
            updated_at: Timestamp(m.updated_at),
        }}
    }}
}}

impl From<entity::Model> for {s} {{
    fn from(m: entity::Model) -> Self {{
        Self {{
            id: m.id,
{from_model}            created_at: Timestamp(m.created_at),
            updated_at: Timestamp(m.updated_at),
        }}
    }}
}}

/// A {{{{singular}}}} to create. Any other field is refused.
#[derive(Object)]
pub struct New{s} {{
{whole}}}

/// A whole {{{{singular}}}}, replacing the stored one (a nullable field left out is cleared).
/// Any other field is refused.
#[derive(Object)]
pub struct {s}Replacement {{
{whole}}}

/// Fields to change; those left out keep their value, and `null` clears a nullable one. Any
/// other field is refused.
#[derive(Object)]
pub struct {s}Changes {{
{changes}}}

impl FromJsonObject for New{s} {{
    const READ_ONLY: &'static [&'static str] = SERVER_SET;

    fn from_json_object(fields: &mut Fields) -> Option<Self> {{
        // Every field is read before any `?`, so that each bad one is reported.
{read_whole}        Some(Self {{
{build_whole}        }})
    }}
}}

impl FromJsonObject for {s}Replacement {{
    const READ_ONLY: &'static [&'static str] = SERVER_SET;

    fn from_json_object(fields: &mut Fields) -> Option<Self> {{
{read_whole}        Some(Self {{
{build_whole}        }})
    }}
}}

impl FromJsonObject for {s}Changes {{
    const READ_ONLY: &'static [&'static str] = SERVER_SET;

    fn from_json_object(fields: &mut Fields) -> Option<Self> {{
        Some(Self {{
{read_changes}        }})
    }}
}}
"#,
        supers = super_imports.join(", "),
        imports = imports.join(", "),
    );
    names.fill(&template)
}

pub fn store(resource: &Resource, names: &Names) -> String {
    let s = &names.singular_camel;
    let p = &names.plural_camel;
    let single = &names.singular;
    let mut input = String::new();
    let mut patch = String::new();
    let mut filter = String::new();
    let mut filter_select = String::new();
    let mut set = String::new();
    let mut replace = String::new();
    let mut updates = String::new();
    let mut empty = Vec::new();
    for field in &resource.fields {
        let name = &field.name;
        let ty = names.body_type(field);
        let column = format!("{single}::Column::{}", field.camel());
        if field.nullable {
            writeln!(input, "    pub {name}: Option<{ty}>,").unwrap();
            writeln!(patch, "    pub {name}: Option<Option<{ty}>>,").unwrap();
            let value = option_to_column(names, field, &format!("input.{name}"));
            writeln!(set, "        {name}: Set({value}),").unwrap();
            let value = option_to_column(names, field, name);
            writeln!(
                updates,
                "    if let Some({name}) = patch.{name} {{\n        update = update.col_expr({column}, Expr::value({value}));\n    }}"
            )
            .unwrap();
        } else {
            writeln!(input, "    pub {name}: {ty},").unwrap();
            writeln!(patch, "    pub {name}: Option<{ty}>,").unwrap();
            let value = to_column(field, &format!("input.{name}"));
            writeln!(set, "        {name}: Set({value}),").unwrap();
            let value = to_column(field, name);
            writeln!(
                updates,
                "    if let Some({name}) = patch.{name} {{\n        update = update.col_expr({column}, Expr::value({value}));\n    }}"
            )
            .unwrap();
        }
        writeln!(replace, "        {name}: Some(input.{name}),").unwrap();
        empty.push(format!("self.{name}.is_none()"));
        if field.filter {
            writeln!(
                filter,
                "    pub {name}: Option<{}>,",
                names.filter_type(field)
            )
            .unwrap();
            let value = match field.kind {
                Kind::String { .. } => format!("{name}.clone()"),
                _ => format!("*{name}"),
            };
            writeln!(
                filter_select,
                "        if let Some({name}) = &self.{name} {{\n            select = select.filter({column}.eq({value}));\n        }}"
            )
            .unwrap();
        }
    }
    let select = match filter_select.is_empty() {
        true => format!("        {p}::find().filter(owner.condition({single}::Column::Owner))\n"),
        false => format!(
            "        let mut select = {p}::find().filter(owner.condition({single}::Column::Owner));\n{filter_select}        select\n"
        ),
    };
    let index_doc = {
        let mut indexes = vec![format!("`idx_{}_owner_id`", names.plural)];
        for field in resource.filters() {
            indexes.push(format!("`idx_{}_owner_{}_id`", names.plural, field.name));
        }
        indexes.join(", ")
    };
    let mut supers = vec![format!(
        "entity::{{self as {single}, ActiveModel, Entity as {p}, Listed, Model as {s}}}"
    )];
    // The input and the patch hold the body types: every rule type and kind.
    supers.extend(rule_imports(resource, names, false));
    let mut kinds: Vec<String> = kind_imports(resource, names, false)
        .into_iter()
        .map(|k| k.trim_start_matches("field_kinds::").to_owned())
        .collect();
    kinds.sort();
    let kinds_use = match kinds.len() {
        0 => String::new(),
        1 => format!("    http::field_kinds::{},\n", kinds[0]),
        _ => format!("    http::field_kinds::{{{}}},\n", kinds.join(", ")),
    };
    let mut other = String::new();
    if resource.filters().any(|f| matches!(f.kind, Kind::Date)) {
        other.push_str("use chrono::NaiveDate;\n");
    }
    if resource.fields.iter().any(|f| matches!(f.kind, Kind::Uuid)) {
        other.push_str("use uuid::Uuid;\n");
    }
    let empty = empty.join(" && ");
    let template = format!(
        r#"//! Database work on {{{{plural}}}}. These functions take a connection and know nothing of
//! HTTP, so handlers, tests and tools share them. Each takes the [`Owner`] whose {{{{plural}}}} it
//! may see and change (everyone's when authentication is off): another owner's {{{{singular}}}} is
//! as good as missing.

{other}use sea_orm::{{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait,
    PaginatorTrait, QueryFilter, Select, TransactionTrait, sea_query::Expr,
}};

use super::{{{supers}}};
use crate::{{
    db::{{
        clock::now,
        insert,
        keyset::{{self, Page, PageSpec}},
        owner::Owner,
        versioned::{{self, Expected, Written}},
    }},
{kinds_use}}};

/// The fields a client sets when creating or replacing a {{{{singular}}}}.
#[derive(Debug, Clone)]
pub struct {s}Input {{
{input}}}

/// A partial update: `None` leaves the field as it is; `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct {s}Patch {{
{patch}}}

impl {s}Patch {{
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {{
        {empty}
    }}
}}

/// Which {{{{plural}}}} to list.
#[derive(Debug, Clone, Default)]
pub struct {s}Filter {{
{filter}}}

impl {s}Filter {{
    fn select(&self, owner: &Owner) -> Select<{p}> {{
{select}    }}
}}

/// One page of the owner's {{{{plural}}}} matching `filter`, in id order. Served by an index range
/// scan: the primary key or an index ending with the id ({index_doc}, and the filters'
/// without the owner).
pub async fn list(
    db: &impl ConnectionTrait,
    owner: &Owner,
    filter: &{s}Filter,
    page: PageSpec,
) -> Result<Page<Listed>, DbErr> {{
    keyset::fetch(
        db,
        filter.select(owner),
        {single}::Column::Id,
        page,
        |item: &Listed| item.id,
    )
    .await
}}

/// The query [`list`] runs, for inspecting its plan.
pub fn list_query(owner: &Owner, filter: &{s}Filter, page: PageSpec) -> Select<{p}> {{
    keyset::select_page(filter.select(owner), {single}::Column::Id, page)
}}

/// How many of the owner's {{{{plural}}}} match `filter`. Proportional to their number: only on
/// request.
pub async fn count(
    db: &impl ConnectionTrait,
    owner: &Owner,
    filter: &{s}Filter,
) -> Result<u64, DbErr> {{
    filter.select(owner).count(db).await
}}

pub async fn get(db: &impl ConnectionTrait, owner: &Owner, id: i64) -> Result<Option<{s}>, DbErr> {{
    by_id(owner, id).one(db).await
}}

/// {{{{Singular}}}} `id` of `owner`, at any version.
fn by_id(owner: &Owner, id: i64) -> Select<{p}> {{
    {p}::find_by_id(id).filter(owner.condition({single}::Column::Owner))
}}

/// Creates a {{{{singular}}}} that belongs to `owner`. Through `insert::one`: on MySQL/MariaDB the
/// new row is not read back after the insert, so a delete in between (a parent's, cascading)
/// cannot fail it.
pub async fn create(
    db: &(impl ConnectionTrait + TransactionTrait),
    owner: &Owner,
    input: {s}Input,
) -> Result<{s}, DbErr> {{
    let now = now();
    let {single} = ActiveModel {{
        owner: Set(owner.value()),
{set}        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }};
    insert::one(db, {single}).await
}}

/// Replaces every field.
pub async fn replace(
    db: &(impl ConnectionTrait + TransactionTrait),
    owner: &Owner,
    id: i64,
    input: {s}Input,
    expected: Expected<'_>,
) -> Result<Written<{s}>, DbErr> {{
    let patch = {s}Patch {{
{replace}    }};
    update(db, owner, id, patch, expected).await
}}

/// Changes the given fields and raises the version, only if the version is one of
/// `expected`: the check and the write are one `UPDATE`, so of two writers holding the same
/// version exactly one succeeds. The `UPDATE` returns the row (`RETURNING`) where the backend
/// can, else (MySQL) the row is read back in the same transaction. An empty patch changes
/// nothing (not even `updated_at` or the version).
pub async fn update(
    db: &(impl ConnectionTrait + TransactionTrait),
    owner: &Owner,
    id: i64,
    patch: {s}Patch,
    expected: Expected<'_>,
) -> Result<Written<{s}>, DbErr> {{
    if patch.is_empty() {{
        // Nothing to apply: done if the version is one expected.
        return Ok(match get(db, owner, id).await? {{
            Some(item) if versioned::allows(expected, item.version) => Written::Done(item),
            other => versioned::missed(other.map(|item| item.version)),
        }});
    }}
    let mut update = {p}::update_many()
        .col_expr(
            {single}::Column::Version,
            Expr::col({single}::Column::Version).add(1),
        )
        .col_expr({single}::Column::UpdatedAt, Expr::value(now()))
        .filter({single}::Column::Id.eq(id))
        .filter(owner.condition({single}::Column::Owner));
{updates}    if let Some(versions) = expected {{
        update = update.filter({single}::Column::Version.is_in(versions.iter().copied()));
    }}
    versioned::update(db, update, by_id(owner, id), |item| item.version).await
}}

/// Deletes the {{{{singular}}}} if its version is one of `expected`.
pub async fn delete(
    db: &impl ConnectionTrait,
    owner: &Owner,
    id: i64,
    expected: Expected<'_>,
) -> Result<Written<()>, DbErr> {{
    let mut delete = {p}::delete_many()
        .filter({single}::Column::Id.eq(id))
        .filter(owner.condition({single}::Column::Owner));
    if let Some(versions) = expected {{
        delete = delete.filter({single}::Column::Version.is_in(versions.iter().copied()));
    }}
    versioned::delete(db, delete, by_id(owner, id), |item| item.version).await
}}
"#,
        supers = supers.join(", "),
    );
    names.fill(&template)
}

/// The Rust constant of a reference: `NOTE_ID`.
pub fn reference_const(field: &Field) -> String {
    field.name.to_uppercase()
}

pub fn api(resource: &Resource, names: &Names) -> String {
    let s = &names.singular_camel;
    let single = &names.singular;
    let plural = &names.plural;
    let upper = &names.upper;
    let unique = !resource.uniques.is_empty();
    let referencing = resource.references().next().is_some();
    let kind = |base: &str| {
        let mut kind = base.to_owned();
        if unique {
            kind = format!("Conflicting<{kind}>");
        }
        if referencing {
            kind = format!("Referencing<{kind}>");
        }
        kind
    };
    let (create_kind, update_kind) = (kind("Create"), kind("Update"));
    let mut docs = vec![
        "Create", "Delete", "Keyed", "List", "Problems", "Read", "Update",
    ];
    if unique {
        docs.push("Conflicting");
    }
    if referencing {
        docs.push("Referencing");
    }
    docs.sort();
    let mut resource_imports = vec!["Resource"];
    if unique {
        resource_imports.push("Unique");
    }
    if referencing {
        resource_imports.push("Reference");
    }
    let resource_use = match resource_imports.len() {
        1 => "resource::Resource".to_owned(),
        _ => format!("resource::{{{}}}", resource_imports.join(", ")),
    };
    // The constants: references, then the resource.
    let mut consts = String::new();
    for (field, reference) in resource.references() {
        writeln!(
            consts,
            "/// `{name}` refers to one of the caller's {parents}: checked before each write that sets it; its\n/// foreign key names the field when the {parent} goes in between.\nconst {c}: Reference = Reference {{\n    field: \"{name}\",\n    column: \"{name}\",\n    parent: \"{parent}\",\n    constraint: \"fk_{plural}_{short}\",\n}};\n",
            name = field.name,
            parents = reference.parent,
            parent = reference.parent_singular,
            c = reference_const(field),
            short = reference.short,
        )
        .unwrap();
    }
    let mut declaration = format!("Resource::new(\"{single}\")");
    if unique {
        let mut list = String::new();
        for fields in &resource.uniques {
            let names_of: Vec<&str> = fields
                .iter()
                .map(|&i| resource.fields[i].name.as_str())
                .collect();
            let mut columns = vec!["\"owner\"".to_owned()];
            columns.extend(names_of.iter().map(|n| format!("\"{n}\"")));
            write!(
                list,
                "Unique {{ index: \"{}\", columns: &[{}], field: \"{}\" }}, ",
                unique_index(plural, &names_of),
                columns.join(", "),
                names_of.last().copied().unwrap_or_default(),
            )
            .unwrap();
        }
        write!(declaration, ".with_unique(&[{list}])").unwrap();
    }
    if referencing {
        let list: Vec<String> = resource
            .references()
            .map(|(f, _)| reference_const(f))
            .collect();
        write!(declaration, ".with_references(&[{}])", list.join(", ")).unwrap();
    }
    let doc = match (unique, referencing) {
        (false, false) => "How problems name the resource (`{{singular}}-not-found`).",
        (true, false) => {
            "How problems name the resource (`{{singular}}-not-found`) and which unique index\n/// guards which field (a 409 names it)."
        }
        (false, true) => {
            "How problems name the resource (`{{singular}}-not-found`) and which foreign key carries\n/// which reference (a 422 names it)."
        }
        (true, true) => {
            "How problems name the resource (`{{singular}}-not-found`), which unique index guards\n/// which field (a 409 names it) and which foreign key carries which reference (a 422)."
        }
    };
    writeln!(
        consts,
        "/// {doc}\nconst {upper}: Resource = {declaration};"
    )
    .unwrap();

    // The list's filters.
    let mut filter_params = String::new();
    let mut filter_build = String::new();
    let mut filter_query = String::new();
    for field in resource.filters() {
        let name = &field.name;
        writeln!(
            filter_params,
            "        /// Only {plural} with this `{name}`.\n        {name}: Query<Option<{}>>,",
            names.filter_type(field)
        )
        .unwrap();
        writeln!(filter_build, "            {name}: {name}.0,").unwrap();
        let value = match field.kind {
            Kind::Enum { .. } => format!("{name}.as_str().to_owned()"),
            Kind::String { .. } => format!("{name}.clone()"),
            _ => format!("{name}.to_string()"),
        };
        writeln!(
            filter_query,
            "    if let Some({name}) = &filter.{name} {{\n        query.push((\"{name}\", {value}));\n    }}"
        )
        .unwrap();
    }
    let filter_fn = match filter_query.is_empty() {
        true => format!(
            "/// The filters as the list's links repeat them.\nfn filter_query(_filter: &{s}Filter) -> Vec<(&'static str, String)> {{\n    Vec::new()\n}}\n"
        ),
        false => format!(
            "/// The filters as the list's links repeat them.\nfn filter_query(filter: &{s}Filter) -> Vec<(&'static str, String)> {{\n    let mut query = Vec::new();\n{filter_query}    query\n}}\n"
        ),
    };
    // Body to input.
    let mut to_input = String::new();
    let mut to_patch = String::new();
    for field in &resource.fields {
        let name = &field.name;
        match field.nullable {
            true => {
                writeln!(to_input, "        {name}: body.{name}.into_option(),").unwrap();
                writeln!(to_patch, "            {name}: body.0.{name}.into_change(),").unwrap();
            }
            false => {
                writeln!(to_input, "        {name}: body.{name},").unwrap();
                writeln!(to_patch, "            {name}: body.0.{name},").unwrap();
            }
        }
    }
    // The owner checks of references.
    let mut check_input = String::new();
    let mut check_patch = String::new();
    for (field, reference) in resource.references() {
        let c = reference_const(field);
        let column = format!("crate::{}::entity::Column::Owner", reference.parent);
        if check_input.is_empty() {
            check_input.push_str(
                "// A parent must be the caller's: another owner's answers as a missing one.\n",
            );
            check_patch.push_str(
                "// A parent must be the caller's: another owner's answers as a missing one.\n",
            );
        }
        writeln!(
            check_input,
            "{c}.check(&txn, owner, {column}, input.{name}.get()).await?;",
            name = field.name
        )
        .unwrap();
        writeln!(
            check_patch,
            "if let Some({name}) = patch.{name} {{ {c}.check(&txn, owner, {column}, {name}.get()).await?; }}",
            name = field.name
        )
        .unwrap();
    }
    let enum_filters: Vec<String> = resource
        .filters()
        .filter(|f| matches!(f.kind, Kind::Enum { .. }))
        .map(|f| format!("{}::{}", f.name, names.rule_type(f)))
        .collect();
    let mut supers = vec![
        format!("bodies::{{{s}, {s}Changes, {s}Replacement, New{s}}}"),
        "entity".to_owned(),
        format!("store::{{self, {s}Filter, {s}Input, {s}Patch}}"),
    ];
    supers.extend(enum_filters);
    let mut other = String::new();
    if resource.filters().any(|f| matches!(f.kind, Kind::Date)) {
        other.push_str("use chrono::NaiveDate;\n");
    }
    other.push_str("use poem::web::Data;\n");
    let uuid_use = match resource.filters().any(|f| matches!(f.kind, Kind::Uuid)) {
        true => "use uuid::Uuid;\n",
        false => "",
    };
    let template = format!(
        r#"//! The {{{{plural}}}} operations. Handlers only translate: HTTP in, a `store` call, HTTP out.
//! Each write and its event commit together.

{other}use poem_openapi::{{
    ApiResponse, OpenApi, Tags,
    param::{{Header, Path, Query}},
}};
use sea_orm::TransactionTrait;
{uuid_use}
use super::{{{supers}}};
use crate::{{
    auth::{{Caller, Scope}},
    db::Db,
    events::{{self, EventType, Versioned}},
    http::{{
        error_docs::{{{docs}}},
        etag,
        idempotency::{{IdempotencyKey, Idempotent}},
        json_body::ValidatedJson,
        json_response::SerdeJson,
        pagination::{{Paged, Paging, SortOrder, wants_exact_count}},
        {resource_use},
    }},
    jobs::Wake,
}};

{consts}
/// A {{{{singular}}}} was created.
pub const {upper}_CREATED: EventType = EventType::new("{{{{singular}}}}.created");
/// A {{{{singular}}}} was replaced or changed (PUT or PATCH).
pub const {upper}_UPDATED: EventType = EventType::new("{{{{singular}}}}.updated");
/// A {{{{singular}}}} was deleted.
pub const {upper}_DELETED: EventType = EventType::new("{{{{singular}}}}.deleted");
/// The event types of {{{{plural}}}}, listed in `webhooks::events::RESOURCES`.
pub const EVENTS: [EventType; 3] = [{upper}_CREATED, {upper}_UPDATED, {upper}_DELETED];

/// The scope a token needs to read {{{{plural}}}} (with authentication on).
pub struct Read{{{{Plural}}}};

impl Scope for Read{{{{Plural}}}} {{
    const NAME: &'static str = "{{{{plural}}}}:read";
}}

/// The scope a token needs to create, change and delete {{{{plural}}}}.
pub struct Write{{{{Plural}}}};

impl Scope for Write{{{{Plural}}}} {{
    const NAME: &'static str = "{{{{plural}}}}:write";
}}

#[derive(Tags)]
enum {{{{Plural}}}}Tags {{
    /// The {{{{plural}}}} resource
    {{{{Plural}}}},
}}

pub struct {{{{Plural}}}}Api {{
    db: Db,
}}

impl {{{{Plural}}}}Api {{
    pub fn new(db: Db) -> Self {{
        Self {{ db }}
    }}
}}

#[derive(ApiResponse)]
enum CreateResponse {{
    /// The created {{{{singular}}}}.
    #[oai(status = 201)]
    Created(
        SerdeJson<{s}>,
        /// Where the new {{{{singular}}}} lives: `/{{{{plural}}}}/{{id}}`.
        #[oai(header = "Location")]
        String,
        /// The {{{{singular}}}}'s entity tag, for `If-Match` on a later write.
        #[oai(header = "ETag")]
        String,
    ),
}}

#[derive(ApiResponse)]
enum {s}Response {{
    /// The {{{{singular}}}}.
    #[oai(status = 200)]
    Ok(
        SerdeJson<{s}>,
        /// The {{{{singular}}}}'s entity tag: it changes whenever the {{{{singular}}}} changes.
        #[oai(header = "ETag")]
        String,
    ),
}}

// A response is built once and returned at once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(ApiResponse)]
enum ReadResponse {{
    /// The {{{{singular}}}}.
    #[oai(status = 200)]
    Ok(
        SerdeJson<{s}>,
        /// The {{{{singular}}}}'s entity tag: it changes whenever the {{{{singular}}}} changes.
        #[oai(header = "ETag")]
        String,
    ),
    /// The {{{{singular}}}} has not changed since the entity tag in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}}

#[derive(ApiResponse)]
enum DeleteResponse {{
    /// The {{{{singular}}}} was deleted.
    #[oai(status = 204)]
    Deleted,
}}

#[OpenApi(tag = "{{{{Plural}}}}Tags::{{{{Plural}}}}")]
impl {{{{Plural}}}}Api {{
    /// List {{{{plural}}}}
    ///
    /// A bare JSON array, one page at a time, in id order (oldest first, or newest first
    /// with `order=desc`). To read the next page, follow the `Link` header's `rel="next"`
    /// URL: it pages with `after`, which costs the same at any depth. The total is counted
    /// only on request (`Prefer: count=exact`).
    #[oai(path = "/{{{{plural}}}}", method = "get", operation_id = "list_{{{{plural}}}}")]
    #[allow(clippy::too_many_arguments)] // one argument per documented parameter
    async fn list(
        &self,
        caller: Caller<Read{{{{Plural}}}}>,
        /// Page size (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u32>>,
        /// Only {{{{plural}}}} after the one with this id, in the listing order (with
        /// `order=desc`: older than it). The `next` link carries it.
        after: Query<Option<i64>>,
{filter_params}        /// `asc` (default): oldest first; `desc`: newest first.
        order: Query<Option<SortOrder>>,
        /// Deprecated: how many {{{{plural}}}} to skip, at most 10000, not with `after`. Follow
        /// the `next` link instead.
        #[oai(deprecated, validator(minimum(value = "0"), maximum(value = "10000")))]
        offset: Query<Option<u32>>,
        /// `count=exact` also counts the matching {{{{plural}}}} into `X-Total-Count` (RFC 7240).
        #[oai(name = "Prefer")]
        prefer: Header<Option<String>>,
    ) -> Result<Paged<{s}>, Problems<List>> {{
        let paging = Paging::new(limit.0, after.0, offset.0, order.0)?;
        let filter = {s}Filter {{
{filter_build}        }};
        let page = store::list(&self.db, caller.owner(), &filter, paging.spec()).await?;
        let total = match wants_exact_count(prefer.0.as_deref()) {{
            true => Some(store::count(&self.db, caller.owner(), &filter).await?),
            false => None,
        }};
        Ok(Paged {{
            items: page.items.into_iter().map({s}::from).collect(),
            link: paging.links("/{{{{plural}}}}", &filter_query(&filter), page.next_after),
            total,
        }})
    }}

    /// Create a {{{{singular}}}}
    #[oai(path = "/{{{{plural}}}}", method = "post", operation_id = "create_{{{{singular}}}}")]
    async fn create(
        &self,
        caller: Caller<Write{{{{Plural}}}}>,
        /// Makes a retry safe: a request with a key already answered gets that answer again
        /// (see the API description).
        #[oai(name = "Idempotency-Key")]
        key: IdempotencyKey,
        body: ValidatedJson<New{s}>,
        wake: Data<&Wake>,
    ) -> Result<Idempotent<CreateResponse>, Problems<Keyed<{create_kind}>>> {{
        let input = new_input(body.0);
        let owner = caller.owner();
        let mut sent = 0;
        let response = key
            .once(&self.db, owner, async |db| {{
                // The {{{{singular}}}} and its event commit together (or not at all).
                let txn = db.begin().await?;
                {check_input}                let {single} = store::create(&txn, owner, input)
                    .await
                    .map_err(|err| {upper}.write_error(err))?;
                sent = events::emit(&txn, owner, {upper}_CREATED, &versioned(&{single})).await?;
                txn.commit().await?;
                let location = format!("/{{{{plural}}}}/{{}}", {single}.id);
                let tag = etag::of_version({single}.version);
                Ok(CreateResponse::Created(
                    SerdeJson({single}.into()),
                    location,
                    tag,
                ))
            }})
            .await?;
        events::committed(&wake, sent);
        Ok(response)
    }}

    /// Get a {{{{singular}}}}
    ///
    /// With `If-None-Match` naming the current `ETag`, answers 304 without a body.
    #[oai(path = "/{{{{plural}}}}/:id", method = "get", operation_id = "get_{{{{singular}}}}")]
    async fn get(
        &self,
        caller: Caller<Read{{{{Plural}}}}>,
        id: Path<i64>,
        /// Entity tags the client already has (or `*`).
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> Result<ReadResponse, Problems<Read>> {{
        let {single} = store::get(&self.db, caller.owner(), id.0)
            .await?
            .ok_or_else(|| {upper}.not_found(id.0))?;
        let tag = etag::of_version({single}.version);
        Ok(
            match etag::unchanged(if_none_match.0.as_deref(), {single}.version) {{
                true => ReadResponse::NotModified(tag),
                false => ReadResponse::Ok(SerdeJson({single}.into()), tag),
            }},
        )
    }}

    /// Replace a {{{{singular}}}}
    ///
    /// Every field is required but the nullable ones, which are cleared when left out. With
    /// `If-Match`, only if the {{{{singular}}}}'s `ETag` is one named (else 412, and nothing is
    /// written).
    #[oai(path = "/{{{{plural}}}}/:id", method = "put", operation_id = "replace_{{{{singular}}}}")]
    async fn replace(
        &self,
        caller: Caller<Write{{{{Plural}}}}>,
        id: Path<i64>,
        /// Write only if the {{{{singular}}}}'s current `ETag` is one of these (or `*`: if it exists).
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: ValidatedJson<{s}Replacement>,
        wake: Data<&Wake>,
    ) -> Result<{s}Response, Problems<{update_kind}>> {{
        let input = replacement_input(body.0);
        let expected = etag::expected_versions(if_match.0.as_deref());
        let owner = caller.owner();
        // A refused write returns before the commit: it rolls back, emitting nothing.
        let txn = self.db.begin().await?;
        {check_input}        let written = store::replace(&txn, owner, id.0, input, expected.as_deref())
            .await
            .map_err(|err| {upper}.write_error(err))?;
        let {single} = {upper}.outcome(id.0, written)?;
        let sent = events::emit(&txn, owner, {upper}_UPDATED, &versioned(&{single})).await?;
        txn.commit().await?;
        events::committed(&wake, sent);
        Ok(respond({single}))
    }}

    /// Change some fields of a {{{{singular}}}}
    ///
    /// Fields left out keep their value, `null` clears a nullable one; an empty object
    /// changes nothing. With `If-Match`, only if the {{{{singular}}}}'s `ETag` is one named (else
    /// 412, and nothing is written).
    #[oai(path = "/{{{{plural}}}}/:id", method = "patch", operation_id = "update_{{{{singular}}}}")]
    async fn update(
        &self,
        caller: Caller<Write{{{{Plural}}}}>,
        id: Path<i64>,
        /// Write only if the {{{{singular}}}}'s current `ETag` is one of these (or `*`: if it exists).
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        /// Makes a retry safe: a request with a key already answered gets that answer again
        /// (see the API description).
        #[oai(name = "Idempotency-Key")]
        key: IdempotencyKey,
        body: ValidatedJson<{s}Changes>,
        wake: Data<&Wake>,
    ) -> Result<Idempotent<{s}Response>, Problems<Keyed<{update_kind}>>> {{
        let patch = {s}Patch {{
{to_patch}        }};
        // An empty patch changes nothing: no event.
        let changes = !patch.is_empty();
        let expected = etag::expected_versions(if_match.0.as_deref());
        let owner = caller.owner();
        let mut sent = 0;
        let response = key
            .once(&self.db, owner, async |db| {{
                let txn = db.begin().await?;
                {check_patch}                let written = store::update(&txn, owner, id.0, patch, expected.as_deref())
                    .await
                    .map_err(|err| {upper}.write_error(err))?;
                let {single} = {upper}.outcome(id.0, written)?;
                if changes {{
                    sent = events::emit(&txn, owner, {upper}_UPDATED, &versioned(&{single}))
                        .await?;
                }}
                txn.commit().await?;
                Ok(respond({single}))
            }})
            .await?;
        events::committed(&wake, sent);
        Ok(response)
    }}

    /// Delete a {{{{singular}}}}
    ///
    /// With `If-Match`, only if the {{{{singular}}}}'s `ETag` is one named (else 412).
    #[oai(path = "/{{{{plural}}}}/:id", method = "delete", operation_id = "delete_{{{{singular}}}}")]
    async fn delete(
        &self,
        caller: Caller<Write{{{{Plural}}}}>,
        id: Path<i64>,
        /// Delete only if the {{{{singular}}}}'s current `ETag` is one of these (or `*`: if it exists).
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        wake: Data<&Wake>,
    ) -> Result<DeleteResponse, Problems<Delete>> {{
        let expected = etag::expected_versions(if_match.0.as_deref());
        let owner = caller.owner();
        let txn = self.db.begin().await?;
        // Items that refer to it with `ON DELETE RESTRICT` refuse: a 409 `still-referenced`.
        let written = store::delete(&txn, owner, id.0, expected.as_deref())
            .await
            .map_err(|err| {upper}.delete_error(err))?;
        {upper}.outcome(id.0, written)?;
        let deleted = serde_json::json!({{ "id": id.0 }});
        let sent = events::emit(&txn, owner, {upper}_DELETED, &deleted).await?;
        txn.commit().await?;
        events::committed(&wake, sent);
        Ok(DeleteResponse::Deleted)
    }}
}}

/// A new {{{{singular}}}}'s fields, for the store.
fn new_input(body: New{s}) -> {s}Input {{
    {s}Input {{
{to_input}    }}
}}

/// A replacement's fields, for the store.
fn replacement_input(body: {s}Replacement) -> {s}Input {{
    {s}Input {{
{to_input}    }}
}}

{filter_fn}
/// A {{{{singular}}}} as an event's `data`: as the API returns it, with its version.
fn versioned({single}: &entity::Model) -> Versioned<{s}> {{
    Versioned {{
        item: {single}.clone().into(),
        version: {single}.version,
    }}
}}

fn respond({single}: entity::Model) -> {s}Response {{
    let tag = etag::of_version({single}.version);
    {s}Response::Ok(SerdeJson({single}.into()), tag)
}}
"#,
        supers = supers.join(", "),
        docs = docs.join(", "),
    );
    names.fill(&template)
}

/// The name of a unique index: `idx_reminders_owner_note_id_due_at`.
pub fn unique_index(plural: &str, fields: &[&str]) -> String {
    format!("idx_{plural}_owner_{}", fields.join("_"))
}
