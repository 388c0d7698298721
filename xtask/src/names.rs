//! The names a resource's code uses, derived once from its plural and singular.

use crate::spec::{Field, Kind, Resource, camel};

pub struct Names {
    /// `reminders`
    pub plural: String,
    /// `reminder`
    pub singular: String,
    /// `Reminders`
    pub plural_camel: String,
    /// `Reminder`
    pub singular_camel: String,
    /// `REMINDER`
    pub upper: String,
    /// The service's crate, as the tests name it: `notes_service`.
    pub krate: String,
}

impl Names {
    pub fn new(resource: &Resource, krate: &str) -> Self {
        Self {
            plural: resource.plural.clone(),
            singular: resource.singular.clone(),
            plural_camel: camel(&resource.plural),
            singular_camel: camel(&resource.singular),
            upper: resource.singular.to_uppercase(),
            krate: krate.to_owned(),
        }
    }

    /// Replaces `{{plural}}`, `{{singular}}`, `{{Plural}}`, `{{Singular}}`, `{{SINGULAR}}`
    /// and `{{crate}}` in a template.
    pub fn fill(&self, template: &str) -> String {
        template
            .replace("{{plural}}", &self.plural)
            .replace("{{singular}}", &self.singular)
            .replace("{{Plural}}", &self.plural_camel)
            .replace("{{Singular}}", &self.singular_camel)
            .replace("{{SINGULAR}}", &self.upper)
            .replace("{{crate}}", &self.krate)
    }

    /// The rule type of a string, text or enum field: `ReminderLabel`.
    pub fn rule_type(&self, field: &Field) -> String {
        format!("{}{}", self.singular_camel, field.camel())
    }

    /// The type of a field in a request body and in the store's input (not nullable).
    pub fn body_type(&self, field: &Field) -> String {
        match &field.kind {
            Kind::String { .. } | Kind::Text { .. } | Kind::Enum { .. } => self.rule_type(field),
            Kind::Bool => "bool".into(),
            Kind::Int {
                min: None,
                max: None,
            } => "i64".into(),
            Kind::Int { min, max } => {
                let min = min.map_or("{ i64::MIN }".to_owned(), braced);
                match max {
                    Some(max) => format!("IntegerIn<{min}, {}>", braced(*max)),
                    None => format!("IntegerIn<{min}>"),
                }
            }
            Kind::Number => "f64".into(),
            Kind::Timestamp => "ClientTimestamp".into(),
            Kind::Date => "ClientDate".into(),
            Kind::Uuid => "Uuid".into(),
            Kind::Ref(_) => "IntegerIn<1>".into(),
        }
    }

    /// The type of a field in the response body.
    pub fn response_type(&self, field: &Field) -> String {
        let base = match &field.kind {
            Kind::String { .. } | Kind::Text { .. } => "String".into(),
            Kind::Enum { .. } => self.rule_type(field),
            Kind::Bool => "bool".into(),
            Kind::Int { .. } | Kind::Ref(_) => "i64".into(),
            Kind::Number => "f64".into(),
            Kind::Timestamp => "Timestamp".into(),
            Kind::Date => "NaiveDate".into(),
            Kind::Uuid => "Uuid".into(),
        };
        match field.nullable {
            true => format!("OrNull<{base}>"),
            false => base,
        }
    }

    /// The type of a field's column in the entity.
    pub fn model_type(&self, field: &Field) -> String {
        let base = match &field.kind {
            Kind::String { .. } | Kind::Text { .. } => "String".into(),
            Kind::Enum { .. } => self.rule_type(field),
            Kind::Bool => "bool".into(),
            Kind::Int { .. } | Kind::Ref(_) => "i64".into(),
            Kind::Number => "f64".into(),
            Kind::Timestamp => "DateTimeUtc".into(),
            Kind::Date => "Date".into(),
            Kind::Uuid => "Uuid".into(),
        };
        match field.nullable {
            true => format!("Option<{base}>"),
            false => base,
        }
    }

    /// The type a list filter on the field takes (a query parameter).
    pub fn filter_type(&self, field: &Field) -> String {
        match &field.kind {
            Kind::String { .. } | Kind::Text { .. } => "String".into(),
            Kind::Enum { .. } => self.rule_type(field),
            Kind::Bool => "bool".into(),
            Kind::Int { .. } | Kind::Ref(_) => "i64".into(),
            Kind::Number => "f64".into(),
            Kind::Timestamp => "DateTime<Utc>".into(),
            Kind::Date => "NaiveDate".into(),
            Kind::Uuid => "Uuid".into(),
        }
    }
}

/// A const generic argument: negative ones need braces.
fn braced(value: i64) -> String {
    match value < 0 {
        true => format!("{{ {value} }}"),
        false => value.to_string(),
    }
}

/// `value` (a body type, not nullable) as its column's value: `label.into_string()`.
pub fn to_column(field: &Field, value: &str) -> String {
    match &field.kind {
        Kind::String { .. } | Kind::Text { .. } => format!("{value}.into_string()"),
        Kind::Int {
            min: None,
            max: None,
        } => value.to_owned(),
        Kind::Int { .. } | Kind::Ref(_) | Kind::Timestamp | Kind::Date => {
            format!("{value}.get()")
        }
        Kind::Bool | Kind::Number | Kind::Uuid | Kind::Enum { .. } => value.to_owned(),
    }
}

/// The same for an `Option` of the body type: `label.map(ReminderLabel::into_string)`.
pub fn option_to_column(names: &Names, field: &Field, value: &str) -> String {
    match &field.kind {
        Kind::String { .. } | Kind::Text { .. } => {
            format!("{value}.map({}::into_string)", names.rule_type(field))
        }
        Kind::Int {
            min: None,
            max: None,
        } => value.to_owned(),
        Kind::Int { .. } | Kind::Ref(_) => format!("{value}.map(i64::from)"),
        Kind::Timestamp => format!("{value}.map(ClientTimestamp::get)"),
        Kind::Date => format!("{value}.map(ClientDate::get)"),
        Kind::Bool | Kind::Number | Kind::Uuid | Kind::Enum { .. } => value.to_owned(),
    }
}
