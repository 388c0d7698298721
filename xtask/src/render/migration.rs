//! The body of the migration that `cargo run -- generate create_<plural>` created.

use std::fmt::Write as _;

use crate::{
    names::Names,
    render::source::unique_index,
    spec::{Kind, Resource},
};

/// An index: its name, whether unique, its columns (as the migration's idens).
struct Index {
    name: String,
    unique: bool,
    columns: Vec<String>,
}

fn indexes(resource: &Resource, names: &Names) -> Vec<Index> {
    let plural = &names.plural;
    let mut indexes = vec![Index {
        name: format!("idx_{plural}_owner_id"),
        unique: false,
        columns: vec!["Owner".into(), "Id".into()],
    }];
    for field in &resource.fields {
        // A reference needs an index that starts with it (PostgreSQL and SQLite make none
        // for a foreign key, and each parent's delete would scan the table); a filter needs
        // one for everyone's list and one for an owner's, each ending with the id.
        if field.filter || field.reference().is_some() {
            indexes.push(Index {
                name: format!("idx_{plural}_{}_id", field.name),
                unique: false,
                columns: vec![field.camel(), "Id".into()],
            });
        }
        if field.filter {
            indexes.push(Index {
                name: format!("idx_{plural}_owner_{}_id", field.name),
                unique: false,
                columns: vec!["Owner".into(), field.camel(), "Id".into()],
            });
        }
    }
    for unique in &resource.uniques {
        let fields: Vec<&str> = unique
            .iter()
            .map(|&i| resource.fields[i].name.as_str())
            .collect();
        let mut columns = vec!["Owner".to_owned()];
        columns.extend(unique.iter().map(|&i| resource.fields[i].camel()));
        indexes.push(Index {
            name: unique_index(plural, &fields),
            unique: true,
            columns,
        });
    }
    indexes
}

/// Every index and constraint name, for the length check (PostgreSQL: 63 bytes).
pub fn object_names(resource: &Resource, names: &Names) -> Vec<String> {
    let mut all: Vec<String> = indexes(resource, names)
        .into_iter()
        .map(|i| i.name)
        .collect();
    for (_, reference) in resource.references() {
        all.push(format!("fk_{}_{}", names.plural, reference.short));
    }
    all
}

pub fn migration(resource: &Resource, names: &Names) -> String {
    let p = &names.plural_camel;
    let mut columns = String::new();
    let mut idens = String::new();
    for field in &resource.fields {
        let iden = format!("{p}::{}", field.camel());
        let null = if field.nullable { "_null" } else { "" };
        let column = match &field.kind {
            Kind::String { max } => format!("string_len{null}({iden}, {max})"),
            Kind::Text { .. } => format!("text{null}({iden})"),
            Kind::Bool => format!("boolean{null}({iden})"),
            // The exact type of the parent's id: InnoDB refuses a foreign key between others.
            Kind::Int { .. } | Kind::Ref(_) => format!("big_integer{null}({iden})"),
            Kind::Number => format!("double{null}({iden})"),
            Kind::Timestamp => format!("utc_timestamp(manager, {iden}, {})", field.nullable),
            Kind::Date => format!("date{null}({iden})"),
            Kind::Uuid => format!("uuid{null}({iden})"),
            Kind::Enum { .. } => format!("string_len{null}({iden}, {})", crate::spec::ENUM_CHARS),
        };
        writeln!(columns, "                    .col({column})").unwrap();
        writeln!(idens, "    {},", field.camel()).unwrap();
    }
    let mut foreign_keys = String::new();
    for (field, reference) in resource.references() {
        let action = if reference.cascade {
            "Cascade"
        } else {
            "Restrict"
        };
        write!(
            foreign_keys,
            r#"                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_{plural}_{short}")
                            .from({p}::Table, {p}::{column})
                            .to(Alias::new("{parent}"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::{action}),
                    )
"#,
            plural = names.plural,
            short = reference.short,
            column = field.camel(),
            parent = reference.parent,
        )
        .unwrap();
    }
    let mut index_list = String::new();
    for index in indexes(resource, names) {
        let columns: Vec<String> = index.columns.iter().map(|c| format!("{p}::{c}")).collect();
        writeln!(
            index_list,
            "            (\"{}\", {}, vec![{}]),",
            index.name,
            index.unique,
            columns.join(", ")
        )
        .unwrap();
    }
    let template = format!(
        r#"//! The `{{{{plural}}}}` table (written by `cargo xtask new-resource`): a 64-bit id that
//! lists page by, the owner (the token's `sub`, or '' with authentication off: not NULL, so
//! that a unique index that includes it holds with authentication off too), the fields, the
//! timestamps and the version (the ETag); an index for each list shape, ending with the id,
//! and a unique index per unique set of fields, with the owner.

use crate::columns::utc_timestamp;
use sea_orm_migration::{{prelude::*, schema::*}};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {{
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {{
        manager
            .create_table(
                Table::create()
                    .table({p}::Table)
                    .col(big_pk_auto({p}::Id))
                    // OpenID Connect's limit for `sub`.
                    .col(string_len({p}::Owner, 255).default(""))
{columns}                    .col(utc_timestamp(manager, {p}::CreatedAt, false))
                    .col(utc_timestamp(manager, {p}::UpdatedAt, false))
                    .col(big_integer({p}::Version).default(1))
{foreign_keys}                    .to_owned(),
            )
            .await?;
        for (name, unique, columns) in [
{index_list}        ] {{
            let mut index = Index::create();
            index.name(name).table({p}::Table);
            if unique {{
                index.unique();
            }}
            for column in columns {{
                index.col(column);
            }}
            manager.create_index(index.to_owned()).await?;
        }}
        Ok(())
    }}

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {{
        manager
            .drop_table(Table::drop().table({p}::Table).to_owned())
            .await
    }}
}}

#[derive(DeriveIden, Clone, Copy)]
enum {p} {{
    Table,
    Id,
    Owner,
{idens}    CreatedAt,
    UpdatedAt,
    Version,
}}
"#
    );
    names.fill(&template)
}
