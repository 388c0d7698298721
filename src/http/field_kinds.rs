//! The kinds of request body field that `Fields::field` and `Fields::nullable_field` read:
//! strings, booleans, integers (`i64`, or bounded with [`IntegerIn`]), numbers (`f64`), UUIDs,
//! client-sent timestamps ([`ClientTimestamp`]), dates ([`ClientDate`]) and a resource's own
//! enums ([`EnumKind`]). A kind is also the field's type in the body struct: its schema says
//! exactly what the parser accepts, so the spec does too.

use std::{borrow::Cow, ops::RangeInclusive};

use chrono::{DateTime, Datelike, NaiveDate, SubsecRound, Timelike, Utc};
use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;
use uuid::Uuid;

use super::timestamp::Timestamp;

/// A kind of body field: how a JSON value becomes a `Self`, or why it does not.
pub trait FieldKind: Type + Sized {
    /// What a value of the wrong JSON type is told it must be: `"an integer"` gives "must be
    /// an integer, not a string" (or "must be an integer or null, ..." for a nullable field).
    const EXPECTED: &'static str;

    /// Reads a field's value; `null` too, except for a nullable field, where it means null.
    fn from_json(value: Value) -> Result<Self, Refusal>;
}

/// Why a value was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not the JSON type the kind reads: the message is built from [`FieldKind::EXPECTED`].
    WrongType,
    /// The right JSON type but not an accepted value; the message says what is accepted
    /// ("must be at least 1").
    Invalid(String),
}

/// The years a date or timestamp may have: MySQL/MariaDB's `DATETIME` holds no other, so
/// every backend stores the same values.
pub const YEARS: RangeInclusive<i32> = 1000..=9999;

/// The schema's part of [`YEARS`]: a four-digit year not starting with 0 (the `format` says
/// the rest).
const YEAR_PATTERN: &str = "^[1-9][0-9]{3}-";

impl FieldKind for String {
    const EXPECTED: &'static str = "a string";

    fn from_json(value: Value) -> Result<Self, Refusal> {
        match value {
            Value::String(s) => Ok(s),
            _ => Err(Refusal::WrongType),
        }
    }
}

impl FieldKind for bool {
    const EXPECTED: &'static str = "true or false";

    fn from_json(value: Value) -> Result<Self, Refusal> {
        match value {
            Value::Bool(b) => Ok(b),
            _ => Err(Refusal::WrongType),
        }
    }
}

/// Reads a string with `parse`, whose error is the refusal's message.
fn string<T>(value: Value, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, Refusal> {
    match value {
        Value::String(s) => parse(&s).map_err(Refusal::Invalid),
        _ => Err(Refusal::WrongType),
    }
}

// Required by `#[derive(Object)]`; request bodies are read by `FromJsonObject` instead.
fn parse_by_kind<T: FieldKind>(value: Option<Value>) -> ParseResult<T> {
    let value = value.unwrap_or_default();
    let got = value.clone();
    T::from_json(value).map_err(|refusal| match refusal {
        Refusal::WrongType => ParseError::expected_type(got),
        Refusal::Invalid(message) => ParseError::custom(message),
    })
}

// Integers.

/// Any `i64`: `integer`, format `int64` in the spec. A fraction (`1.5`), a whole number
/// written as one (`1.0`, `1e3`) and a number out of range are refused.
impl FieldKind for i64 {
    const EXPECTED: &'static str = "an integer";

    fn from_json(value: Value) -> Result<Self, Refusal> {
        integer(value, i64::MIN, i64::MAX)
    }
}

/// An `i64` from `MIN` to `MAX`, which the spec publishes as `minimum` and `maximum`:
/// `IntegerIn<1>` is at least 1 (an id), `IntegerIn<0, 100>` a percentage.
///
/// A bound is `i64::MIN`/`i64::MAX` (left to `format: int64`) or within ±2^53, so that the
/// spec's `minimum`/`maximum` (JSON numbers, read as doubles) are exactly the bounds; the
/// build fails otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IntegerIn<const MIN: i64, const MAX: i64 = { i64::MAX }>(i64);

/// The largest integer that a double holds exactly, and all below it.
const EXACT_IN_F64: i64 = 1 << 53;

impl<const MIN: i64, const MAX: i64> IntegerIn<MIN, MAX> {
    const BOUNDS_OK: () = assert!(
        MIN <= MAX
            && (MIN == i64::MIN || MIN.abs() <= EXACT_IN_F64)
            && (MAX == i64::MAX || MAX.abs() <= EXACT_IN_F64),
        "IntegerIn bounds: MIN <= MAX, each an i64 extreme or within ±2^53"
    );

    pub fn new(value: i64) -> Option<Self> {
        let () = Self::BOUNDS_OK;
        (MIN..=MAX).contains(&value).then_some(Self(value))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl<const MIN: i64, const MAX: i64> From<IntegerIn<MIN, MAX>> for i64 {
    fn from(value: IntegerIn<MIN, MAX>) -> Self {
        value.0
    }
}

impl<const MIN: i64, const MAX: i64> FieldKind for IntegerIn<MIN, MAX> {
    const EXPECTED: &'static str = "an integer";

    fn from_json(value: Value) -> Result<Self, Refusal> {
        let () = Self::BOUNDS_OK;
        integer(value, MIN, MAX).map(Self)
    }
}

/// 2^63: the first float above `i64::MAX`.
const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;

fn integer(value: Value, min: i64, max: i64) -> Result<i64, Refusal> {
    let Value::Number(n) = value else {
        return Err(Refusal::WrongType);
    };
    // With one side unbounded (beyond it only what i64 cannot hold), name the side passed.
    let one_sided = min == i64::MIN || max == i64::MAX;
    let out_of_range = |below: bool| {
        Refusal::Invalid(match (one_sided, below) {
            (false, _) => format!("must be from {min} to {max}"),
            (true, true) => format!("must be at least {min}"),
            (true, false) => format!("must be at most {max}"),
        })
    };
    if let Some(i) = n.as_i64() {
        return if i < min {
            Err(out_of_range(true))
        } else if i > max {
            Err(out_of_range(false))
        } else {
            Ok(i)
        };
    }
    // Not an i64: an integer beyond it (serde_json reads one that fits a u64 as a u64, any
    // other as a float, rounded: -2^63 - 1 becomes -2^63), or a float.
    match n.as_f64() {
        _ if n.is_u64() => Err(out_of_range(false)),
        Some(f) if f.fract() == 0.0 && f >= TWO_TO_63 => Err(out_of_range(false)),
        Some(f) if f.fract() == 0.0 && f <= -TWO_TO_63 => Err(out_of_range(true)),
        _ => Err(Refusal::Invalid(
            "must be a whole number, written without a decimal point or exponent".to_owned(),
        )),
    }
}

impl<const MIN: i64, const MAX: i64> Type for IntegerIn<MIN, MAX> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        format!("integer_int64({MIN}..={MAX})").into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let () = Self::BOUNDS_OK;
        // Exact: a bound other than an extreme is within ±2^53 (`BOUNDS_OK`).
        let bound = |value: i64, extreme: i64| (value != extreme).then_some(value as f64);
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            minimum: bound(MIN, i64::MIN),
            maximum: bound(MAX, i64::MAX),
            ..MetaSchema::new_with_format("integer", "int64")
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

impl<const MIN: i64, const MAX: i64> ToJSON for IntegerIn<MIN, MAX> {
    fn to_json(&self) -> Option<Value> {
        Some(self.0.into())
    }
}

impl<const MIN: i64, const MAX: i64> ParseFromJSON for IntegerIn<MIN, MAX> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        parse_by_kind(value)
    }
}

impl<const MIN: i64, const MAX: i64> serde::Serialize for IntegerIn<MIN, MAX> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

// Numbers.

/// Any finite `f64`: `number`, format `double` in the spec. An integer is read as a number.
impl FieldKind for f64 {
    const EXPECTED: &'static str = "a number";

    fn from_json(value: Value) -> Result<Self, Refusal> {
        // serde_json refuses a number too large for a double (`1e400`) as malformed JSON; the
        // check holds if a build ever reads numbers differently.
        match value {
            Value::Number(n) => n
                .as_f64()
                .filter(|f| f.is_finite())
                .ok_or_else(|| Refusal::Invalid("must be a finite number".to_owned())),
            _ => Err(Refusal::WrongType),
        }
    }
}

// UUIDs.

/// A UUID in the hyphenated form, either case (`123e4567-e89b-12d3-a456-426614174000`):
/// `string`, format `uuid` in the spec. The other forms the `uuid` crate reads (32 bare
/// digits, braces, `urn:uuid:`) are refused.
impl FieldKind for Uuid {
    const EXPECTED: &'static str = "a string";

    fn from_json(value: Value) -> Result<Self, Refusal> {
        string(value, |s| {
            // 36 characters: only the hyphenated form has that length.
            (s.len() == 36)
                .then(|| Uuid::try_parse(s).ok())
                .flatten()
                .ok_or_else(|| {
                    "must be a UUID in the hyphenated form, e.g. \
                     123e4567-e89b-12d3-a456-426614174000"
                        .to_owned()
                })
        })
    }
}

// Timestamps.

/// A time a client sends: RFC 3339 with an offset (`2026-11-24T17:24:34.5+01:00`), held in
/// UTC and truncated to the microsecond (as the service's own timestamps are stored, so a
/// unique index compares the same values on every backend), from year 1000 to 9999 in UTC.
/// A leap second (`:60`) is refused. It is written back as a [`Timestamp`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientTimestamp(DateTime<Utc>);

impl ClientTimestamp {
    pub fn parse(text: &str) -> Result<Self, String> {
        let refused = || {
            "must be an RFC 3339 date-time with an offset, e.g. 2026-11-24T16:24:34.123456Z, \
             from year 1000 to 9999 in UTC"
                .to_owned()
        };
        // chrono also reads a space for the `T` and U+2212 for the offset's minus sign; RFC
        // 3339's `date-time` (the spec's format) has neither.
        if !text.is_ascii() || text.as_bytes().get(10) == Some(&b' ') {
            return Err(refused());
        }
        let time = DateTime::parse_from_rfc3339(text).map_err(|_| refused())?;
        if time.nanosecond() >= 1_000_000_000 {
            return Err("must not be a leap second (second 60)".to_owned());
        }
        let utc = time.with_timezone(&Utc).trunc_subsecs(6);
        if !YEARS.contains(&utc.year()) {
            return Err(refused());
        }
        Ok(Self(utc))
    }

    pub fn get(self) -> DateTime<Utc> {
        self.0
    }
}

impl From<ClientTimestamp> for Timestamp {
    fn from(value: ClientTimestamp) -> Self {
        Self(value.0)
    }
}

impl FieldKind for ClientTimestamp {
    const EXPECTED: &'static str = "a string";

    fn from_json(value: Value) -> Result<Self, Refusal> {
        string(value, Self::parse)
    }
}

impl Type for ClientTimestamp {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_date-time(client)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some(
                "RFC 3339 with an offset, from year 1000 to 9999 in UTC, no leap second; \
                 stored in UTC to the microsecond (further digits are dropped).",
            ),
            pattern: Some(YEAR_PATTERN.to_owned()),
            ..MetaSchema::new_with_format("string", "date-time")
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

impl ToJSON for ClientTimestamp {
    fn to_json(&self) -> Option<Value> {
        Timestamp(self.0).to_json()
    }
}

impl ParseFromJSON for ClientTimestamp {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        parse_by_kind(value)
    }
}

impl serde::Serialize for ClientTimestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&Timestamp(self.0), serializer)
    }
}

// Dates.

/// A calendar date a client sends, `YYYY-MM-DD` (`2026-11-24`), from year 1000 to 9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientDate(NaiveDate);

impl ClientDate {
    pub fn parse(text: &str) -> Result<Self, String> {
        // The exact layout first: chrono would also read `2026-1-2` or `+2026-01-02`.
        let layout = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        layout
            .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
            .flatten()
            .filter(|date| YEARS.contains(&date.year()))
            .map(Self)
            .ok_or_else(|| {
                "must be a date as YYYY-MM-DD, e.g. 2026-11-24, from year 1000 to 9999".to_owned()
            })
    }

    pub fn get(self) -> NaiveDate {
        self.0
    }
}

impl FieldKind for ClientDate {
    const EXPECTED: &'static str = "a string";

    fn from_json(value: Value) -> Result<Self, Refusal> {
        string(value, Self::parse)
    }
}

impl Type for ClientDate {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_date(client)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some("YYYY-MM-DD, from year 1000 to 9999."),
            pattern: Some(YEAR_PATTERN.to_owned()),
            ..MetaSchema::new_with_format("string", "date")
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

impl ToJSON for ClientDate {
    fn to_json(&self) -> Option<Value> {
        // `NaiveDate` displays as `YYYY-MM-DD` for every year in `YEARS`.
        Some(Value::String(self.0.to_string()))
    }
}

impl ParseFromJSON for ClientDate {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        parse_by_kind(value)
    }
}

impl serde::Serialize for ClientDate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

// Enums.

/// A string that must be one of the values of a poem-openapi `#[derive(Enum)]` type; declare
/// it with `impl EnumKind for Color {}`. The values accepted, and listed in the refusal, are
/// those of the type's schema: exactly the spec's `enum`.
pub trait EnumKind: Type + ParseFromJSON {}

impl<T: EnumKind> FieldKind for T {
    const EXPECTED: &'static str = "a string";

    fn from_json(value: Value) -> Result<Self, Refusal> {
        if !value.is_string() {
            return Err(Refusal::WrongType);
        }
        T::parse_from_json(Some(value)).map_err(|_| {
            let values: Vec<String> = enum_values::<T>().iter().map(Value::to_string).collect();
            Refusal::Invalid(format!("must be one of {}", values.join(", ")))
        })
    }
}

/// The `enum` of `T`'s schema, registered (a derived enum's schema is a reference) or inline.
pub fn enum_values<T: Type>() -> Vec<Value> {
    match T::schema_ref() {
        MetaSchemaRef::Inline(schema) => schema.enum_items,
        MetaSchemaRef::Reference(name) => {
            let mut registry = Registry::new();
            T::register(&mut registry);
            registry
                .schemas
                .remove(&name)
                .map(|schema| schema.enum_items)
                .unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::{Enum, Object};
    use regex::Regex;

    use super::*;
    use crate::http::{
        error::ApiError,
        json_body::{Fields, FromJsonObject, ValidatedJson},
        nullable::Nullable,
    };

    /// A body whose one field `f` is read as required, optional or nullable.
    struct Required<T>(T);
    struct Optional<T>(Option<T>);
    struct Nullably<T>(Nullable<T>);

    impl<T: FieldKind> FromJsonObject for Required<T> {
        fn from_json_object(fields: &mut Fields) -> Option<Self> {
            fields.field("f", true).map(Self)
        }
    }

    impl<T: FieldKind> FromJsonObject for Optional<T> {
        fn from_json_object(fields: &mut Fields) -> Option<Self> {
            Some(Self(fields.field("f", false)))
        }
    }

    impl<T: FieldKind> FromJsonObject for Nullably<T> {
        fn from_json_object(fields: &mut Fields) -> Option<Self> {
            Some(Self(fields.nullable_field("f")))
        }
    }

    /// The body's value, or the message of its one error (which must be on `f`).
    fn parse<B: FromJsonObject>(body: &str) -> Result<B, String> {
        match ValidatedJson::<B>::parse(body.as_bytes()) {
            Ok(body) => Ok(body),
            Err(ApiError::Validation(errors)) => match &errors[..] {
                [error] if error.field == "f" => Err(error.message.clone()),
                _ => panic!("one error, on f: {errors:?}"),
            },
            Err(other) => panic!("a validation error: {other:?}"),
        }
    }

    /// `f` written as `json` (JSON text, so that `1e3` and `1.0` arrive as written).
    fn read<T: FieldKind>(json: &str) -> Result<T, String> {
        parse::<Required<T>>(&format!(r#"{{"f": {json}}}"#)).map(|Required(value)| value)
    }

    fn read_nullable<T: FieldKind>(body: &str) -> Result<Nullable<T>, String> {
        parse::<Nullably<T>>(body).map(|Nullably(value)| value)
    }

    fn refused<T: FieldKind + std::fmt::Debug>(json: &str) -> String {
        match read::<T>(json) {
            Ok(value) => panic!("{json} was read as {value:?}"),
            Err(message) => message,
        }
    }

    const WHOLE: &str = "must be a whole number, written without a decimal point or exponent";

    #[test]
    fn integers() {
        assert_eq!(read::<i64>("42"), Ok(42));
        assert_eq!(read::<i64>("-7"), Ok(-7));
        assert_eq!(read::<i64>("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(read::<i64>("-9223372036854775808"), Ok(i64::MIN));
        for fraction in ["1.5", "1.0", "1e3", "-0.5", "9.2e18"] {
            assert_eq!(refused::<i64>(fraction), WHOLE, "{fraction}");
        }
        let above = "must be at most 9223372036854775807";
        let below = "must be at least -9223372036854775808";
        assert_eq!(refused::<i64>("9223372036854775808"), above);
        assert_eq!(refused::<i64>("18446744073709551616"), above);
        assert_eq!(refused::<i64>("1e30"), above);
        assert_eq!(refused::<i64>("-9223372036854775809"), below);
        assert_eq!(refused::<i64>("-1e30"), below);
        assert_eq!(refused::<i64>(r#""1""#), "must be an integer, not a string");
        assert_eq!(refused::<i64>("null"), "must be an integer, not null");
        assert_eq!(refused::<i64>("true"), "must be an integer, not a boolean");
    }

    #[test]
    fn bounded_integers() {
        type Percent = IntegerIn<0, 100>;
        assert_eq!(read::<Percent>("0").map(Percent::get), Ok(0));
        assert_eq!(read::<Percent>("100").map(i64::from), Ok(100));
        assert_eq!(refused::<Percent>("-1"), "must be from 0 to 100");
        assert_eq!(refused::<Percent>("101"), "must be from 0 to 100");
        assert_eq!(refused::<Percent>("50.5"), WHOLE);

        type Id = IntegerIn<1>;
        assert_eq!(read::<Id>("9223372036854775807").map(Id::get), Ok(i64::MAX));
        assert_eq!(refused::<Id>("0"), "must be at least 1");
        assert_eq!(refused::<Id>("-1e30"), "must be at least 1");
        let too_large = "must be at most 9223372036854775807";
        assert_eq!(refused::<Id>("9223372036854775808"), too_large);

        type NotPositive = IntegerIn<{ i64::MIN }, 0>;
        assert_eq!(refused::<NotPositive>("1"), "must be at most 0");
        assert_eq!(
            refused::<NotPositive>("-9223372036854775809"),
            "must be at least -9223372036854775808"
        );

        assert_eq!(Percent::new(100).map(Percent::get), Some(100));
        assert_eq!(Percent::new(101), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(read::<f64>("1.5"), Ok(1.5));
        assert_eq!(read::<f64>("-2"), Ok(-2.0));
        assert_eq!(read::<f64>("1e300"), Ok(1e300));
        assert_eq!(
            read::<f64>("18446744073709551616"),
            Ok(18_446_744_073_709_551_616.0)
        );
        assert_eq!(refused::<f64>(r#""1.5""#), "must be a number, not a string");
        // Not finite: serde_json refuses the body as malformed (400) before a field is read.
        let too_large = ValidatedJson::<Required<f64>>::parse(br#"{"f": 1e400}"#);
        assert!(matches!(too_large, Err(ApiError::MalformedJson(_))));
    }

    #[test]
    fn uuids() {
        let id = "123e4567-e89b-12d3-a456-426614174000";
        let parsed = Uuid::try_parse(id).ok();
        assert_eq!(read::<Uuid>(&format!(r#""{id}""#)).ok(), parsed);
        let upper = id.to_uppercase();
        assert_eq!(read::<Uuid>(&format!(r#""{upper}""#)).ok(), parsed);
        let message = "must be a UUID in the hyphenated form, e.g. \
                       123e4567-e89b-12d3-a456-426614174000";
        for other in [
            "123e4567e89b12d3a456426614174000",
            "{123e4567-e89b-12d3-a456-426614174000}",
            "urn:uuid:123e4567-e89b-12d3-a456-426614174000",
            "123e4567-e89b-12d3-a456-42661417400g",
            "123e4567-e89b-12d3-a456+426614174000",
            "",
        ] {
            assert_eq!(
                refused::<Uuid>(&format!(r#""{other}""#)),
                message,
                "{other}"
            );
        }
        assert_eq!(refused::<Uuid>("1"), "must be a string, not a number");
    }

    fn time(text: &str) -> Result<String, String> {
        ClientTimestamp::parse(text).map(|t| Timestamp::from(t).to_json().unwrap().to_string())
    }

    #[test]
    fn timestamps_are_normalised_to_utc_microseconds() {
        let utc = |s: &str| Ok(format!(r#""{s}""#));
        assert_eq!(
            time("2026-11-24T16:24:34.123456Z"),
            utc("2026-11-24T16:24:34.123456Z")
        );
        assert_eq!(
            time("2026-11-24T16:24:34Z"),
            utc("2026-11-24T16:24:34.000000Z")
        );
        // Lower case `t` and `z`, as RFC 3339 allows.
        assert_eq!(
            time("2026-11-24t16:24:34z"),
            utc("2026-11-24T16:24:34.000000Z")
        );
        assert_eq!(
            time("2026-11-24T17:24:34.5+01:00"),
            utc("2026-11-24T16:24:34.500000Z")
        );
        assert_eq!(
            time("2026-11-24T12:24:34-04:00"),
            utc("2026-11-24T16:24:34.000000Z")
        );
        // Digits beyond the microsecond are dropped, not rounded.
        assert_eq!(
            time("2026-11-24T16:24:34.1234569Z"),
            utc("2026-11-24T16:24:34.123456Z")
        );
        assert_eq!(
            time("2026-11-24T16:24:34.999999999999Z"),
            utc("2026-11-24T16:24:34.999999Z")
        );
        let read = read::<ClientTimestamp>(r#""2026-11-24T17:24:34.000001+01:00""#);
        let expected = "2026-11-24T16:24:34.000001Z".parse::<DateTime<Utc>>().ok();
        assert_eq!(read.ok().map(ClientTimestamp::get), expected);
    }

    #[test]
    fn timestamps_are_from_year_1000_to_9999_in_utc() {
        let first = "1000-01-01T00:00:00Z";
        let last = "9999-12-31T23:59:59.999999999Z";
        assert_eq!(time(first), Ok(format!(r#""{}.000000Z""#, &first[..19])));
        assert_eq!(
            time(last),
            Ok(r#""9999-12-31T23:59:59.999999Z""#.to_owned())
        );
        let message = "must be an RFC 3339 date-time with an offset, e.g. \
                       2026-11-24T16:24:34.123456Z, from year 1000 to 9999 in UTC";
        for outside in [
            "0999-12-31T23:59:59.999999Z",
            "10000-01-01T00:00:00Z",
            "+10000-01-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
            // In range as written, not in UTC.
            "1000-01-01T00:30:00+01:00",
            "9999-12-31T23:30:00-01:00",
        ] {
            assert_eq!(time(outside), Err(message.to_owned()), "{outside}");
        }
        for malformed in [
            "2026-11-24T16:24:34",
            "2026-11-24 16:24:34Z",
            "2026-11-24T16:24:34\u{2212}01:00",
            "2026-11-24T16:24Z",
            "2026-11-24T16:24:34.Z",
            "2026-11-24",
            "2026-02-30T00:00:00Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T16:24:34+24:00",
            "1764001474",
            "",
        ] {
            assert_eq!(time(malformed), Err(message.to_owned()), "{malformed}");
        }
        assert_eq!(
            time("2016-12-31T23:59:60Z"),
            Err("must not be a leap second (second 60)".to_owned())
        );
        assert_eq!(
            refused::<ClientTimestamp>("1764001474"),
            "must be a string, not a number"
        );
    }

    #[test]
    fn dates() {
        let date = |text: &str| ClientDate::parse(text).map(|d| d.get().to_string());
        assert_eq!(date("2026-11-24"), Ok("2026-11-24".to_owned()));
        assert_eq!(date("2024-02-29"), Ok("2024-02-29".to_owned()));
        assert_eq!(date("1000-01-01"), Ok("1000-01-01".to_owned()));
        assert_eq!(date("9999-12-31"), Ok("9999-12-31".to_owned()));
        let message = "must be a date as YYYY-MM-DD, e.g. 2026-11-24, from year 1000 to 9999";
        for refused in [
            "0999-12-31",
            "10000-01-01",
            "+2026-11-24",
            "2026-02-29",
            "2026-13-01",
            "2026-1-2",
            "2026-01-2 ",
            "2026/01/02",
            "2026-11-24T00:00:00Z",
            "",
        ] {
            assert_eq!(date(refused), Err(message.to_owned()), "{refused}");
        }
        let read = read::<ClientDate>(r#""2026-11-24""#).map(|d| d.to_json());
        assert_eq!(read, Ok(Some(Value::String("2026-11-24".to_owned()))));
        assert_eq!(
            refused::<ClientDate>("20261124"),
            "must be a string, not a number"
        );
    }

    #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
    #[oai(rename_all = "snake_case")]
    enum Priority {
        Low,
        VeryHigh,
    }

    impl EnumKind for Priority {}

    #[test]
    fn enums() {
        assert_eq!(read::<Priority>(r#""low""#), Ok(Priority::Low));
        assert_eq!(read::<Priority>(r#""very_high""#), Ok(Priority::VeryHigh));
        let message = r#"must be one of "low", "very_high""#;
        for other in ["Low", "VeryHigh", "high", ""] {
            assert_eq!(refused::<Priority>(&format!(r#""{other}""#)), message);
        }
        assert_eq!(refused::<Priority>("1"), "must be a string, not a number");
    }

    #[test]
    fn strings_and_booleans() {
        assert_eq!(read::<String>(r#""a""#), Ok("a".to_owned()));
        assert_eq!(refused::<String>("1"), "must be a string, not a number");
        assert_eq!(read::<bool>("false"), Ok(false));
        assert_eq!(
            refused::<bool>(r#""true""#),
            "must be true or false, not a string"
        );
    }

    #[test]
    fn absent_fields() {
        let absent = parse::<Optional<i64>>("{}").map(|Optional(value)| value);
        assert_eq!(absent, Ok(None));
        let required = parse::<Required<i64>>("{}").map(|Required(value)| value);
        assert_eq!(required, Err("is required".to_owned()));
        let optional = parse::<Optional<i64>>(r#"{"f": 1.5}"#).map(|Optional(value)| value);
        assert_eq!(optional, Err(WHOLE.to_owned()));
    }

    #[test]
    fn nullable_fields() {
        assert_eq!(read_nullable::<i64>("{}"), Ok(Nullable::Absent));
        assert_eq!(read_nullable::<i64>(r#"{"f": null}"#), Ok(Nullable::Null));
        assert_eq!(read_nullable::<i64>(r#"{"f": 3}"#), Ok(Nullable::Value(3)));
        assert_eq!(
            read_nullable::<i64>(r#"{"f": "3"}"#),
            Err("must be an integer or null, not a string".to_owned())
        );
        assert_eq!(read_nullable::<i64>(r#"{"f": 1.5}"#), Err(WHOLE.to_owned()));

        let date = read_nullable::<ClientDate>(r#"{"f": "2026-11-24"}"#);
        assert_eq!(
            date,
            Ok(Nullable::Value(ClientDate::parse("2026-11-24").unwrap()))
        );
        assert_eq!(
            read_nullable::<ClientDate>(r#"{"f": null}"#),
            Ok(Nullable::Null)
        );
        let priority = read_nullable::<Priority>(r#"{"f": "low"}"#);
        assert_eq!(priority, Ok(Nullable::Value(Priority::Low)));
        assert_eq!(
            read_nullable::<Priority>(r#"{"f": false}"#),
            Err("must be a string or null, not a boolean".to_owned())
        );
        assert_eq!(
            read_nullable::<Uuid>(r#"{"f": "nope"}"#),
            Err("must be a UUID in the hyphenated form, e.g. \
                 123e4567-e89b-12d3-a456-426614174000"
                .to_owned())
        );
    }

    /// A request body with every kind, as a resource declares one.
    #[derive(Object)]
    struct Everything {
        count: i64,
        percent: IntegerIn<0, 100>,
        id: IntegerIn<1>,
        score: f64,
        key: Uuid,
        at: ClientTimestamp,
        on: ClientDate,
        priority: Priority,
        maybe_on: Nullable<ClientDate>,
        maybe_priority: Nullable<Priority>,
    }

    fn schemas() -> (Registry, MetaSchema) {
        let mut registry = Registry::new();
        <Everything as Type>::register(&mut registry);
        let everything = registry.schemas.remove("Everything").unwrap();
        (registry, everything)
    }

    fn property<'a>(schema: &'a MetaSchema, name: &str) -> &'a MetaSchemaRef {
        let found = schema.properties.iter().find(|(field, _)| *field == name);
        &found.unwrap_or_else(|| panic!("no property {name}")).1
    }

    fn inline<'a>(schema: &'a MetaSchema, name: &str) -> &'a MetaSchema {
        match property(schema, name) {
            MetaSchemaRef::Inline(schema) => schema,
            MetaSchemaRef::Reference(to) => panic!("{name} is a reference to {to}"),
        }
    }

    #[test]
    fn each_kind_has_its_schema() {
        let (registry, everything) = schemas();
        let shape = |name: &str| {
            let s = inline(&everything, name);
            (s.ty, s.format, s.minimum, s.maximum, s.nullable)
        };
        assert_eq!(
            shape("count"),
            ("integer", Some("int64"), None, None, false)
        );
        let percent = ("integer", Some("int64"), Some(0.0), Some(100.0), false);
        assert_eq!(shape("percent"), percent);
        assert_eq!(
            shape("id"),
            ("integer", Some("int64"), Some(1.0), None, false)
        );
        assert_eq!(
            shape("score"),
            ("number", Some("double"), None, None, false)
        );
        assert_eq!(shape("key"), ("string", Some("uuid"), None, None, false));
        assert_eq!(
            shape("at"),
            ("string", Some("date-time"), None, None, false)
        );
        assert_eq!(shape("on"), ("string", Some("date"), None, None, false));
        assert_eq!(
            shape("maybe_on"),
            ("string", Some("date"), None, None, true)
        );
        assert_eq!(
            inline(&everything, "maybe_on").pattern,
            inline(&everything, "on").pattern
        );

        let reference = MetaSchemaRef::Reference("Priority".to_owned());
        assert_eq!(property(&everything, "priority"), &reference);
        let maybe = inline(&everything, "maybe_priority");
        assert_eq!((&maybe.all_of, maybe.nullable), (&vec![reference], true));
        let priority = &registry.schemas["Priority"];
        assert_eq!(priority.ty, "string");
        assert_eq!(priority.enum_items, ["low", "very_high"]);

        assert_eq!(everything.required.len(), 8, "all but the nullable ones");
    }

    /// What each kind's schema says is accepted is what its parser accepts.
    #[test]
    fn each_schema_says_what_its_parser_accepts() {
        let (_, everything) = schemas();

        // Bounds: the published minimum and maximum are accepted, one beyond them is not.
        let percent = inline(&everything, "percent");
        let (min, max) = (percent.minimum.unwrap(), percent.maximum.unwrap());
        for (value, accepted) in [
            (min, true),
            (max, true),
            (min - 1.0, false),
            (max + 1.0, false),
        ] {
            let read = read::<IntegerIn<0, 100>>(&value.to_string());
            assert_eq!(read.is_ok(), accepted, "{value}");
        }
        assert_eq!(
            read::<IntegerIn<1>>(&inline(&everything, "id").minimum.unwrap().to_string())
                .map(IntegerIn::get),
            Ok(1)
        );
        assert!(read::<IntegerIn<1>>("0").is_err());

        // Strings: the format (as RFC 3339 and RFC 4122 define it) and the pattern hold for
        // exactly the values the parser accepts.
        let full_date = r"[0-9]{4}-[0-9]{2}-[0-9]{2}";
        let time = r"[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?";
        let offset = r"([Zz]|[+-][0-9]{2}:[0-9]{2})";
        let date_time = format!("^{full_date}[Tt]{time}{offset}$");
        let uuid = "^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$";
        let samples: [(&str, &str, &[&str]); 3] = [
            (
                "at",
                &date_time,
                &[
                    "2026-11-24T16:24:34.123456Z",
                    "1000-01-01t00:00:00.1234567z",
                    "9999-12-31T23:59:59+00:00",
                    "0999-12-31T23:59:59Z",
                    "2026-11-24 16:24:34Z",
                    "2026-11-24T16:24:34",
                    "10000-01-01T00:00:00Z",
                ],
            ),
            (
                "on",
                &format!("^{full_date}$"),
                &[
                    "2026-11-24",
                    "1000-01-01",
                    "9999-12-31",
                    "0999-12-31",
                    "2026-1-24",
                    "10000-01-01",
                ],
            ),
            (
                "key",
                uuid,
                &[
                    "123e4567-e89b-12d3-a456-426614174000",
                    "123E4567-E89B-12D3-A456-426614174000",
                    "123e4567e89b12d3a456426614174000",
                    "{123e4567-e89b-12d3-a456-426614174000}",
                ],
            ),
        ];
        for (name, format, values) in samples {
            let schema = inline(&everything, name);
            let format = Regex::new(format).unwrap();
            let pattern = schema.pattern.as_deref().map(|p| Regex::new(p).unwrap());
            for value in values {
                let in_spec =
                    format.is_match(value) && pattern.as_ref().is_none_or(|p| p.is_match(value));
                let json = Value::String((*value).to_owned()).to_string();
                let accepted = match name {
                    "at" => read::<ClientTimestamp>(&json).is_ok(),
                    "on" => read::<ClientDate>(&json).is_ok(),
                    _ => read::<Uuid>(&json).is_ok(),
                };
                assert_eq!(accepted, in_spec, "{name}: {value}");
            }
        }

        // Enums: every value of the schema's `enum` is accepted, and nothing else.
        for value in enum_values::<Priority>() {
            assert!(read::<Priority>(&value.to_string()).is_ok(), "{value}");
        }
        assert!(read::<Priority>(r#""LOW""#).is_err());
    }
}
