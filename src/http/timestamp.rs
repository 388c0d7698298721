//! A UTC time as RFC 3339 with exactly six fraction digits, e.g. `2026-11-24T16:24:34.123456Z`,
//! the same on every backend (poem-openapi's own `DateTime` output varies in digits and zone).

use std::borrow::Cow;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// The RFC 3339 text. A page of notes formats two per note: this writes the digits into a
    /// stack buffer, about a tenth of the work of chrono's general formatter, which it falls
    /// back to for what the fixed layout cannot hold (a year outside 0..=9999, a leap second).
    fn with_text<R>(&self, use_text: impl FnOnce(&str) -> R) -> R {
        // The naive UTC value: `DateTime`'s accessors would apply the (zero) offset each time.
        let t = self.0.naive_utc();
        let (year, micros) = (t.year(), t.nanosecond() / 1_000);
        if !(0..=9999).contains(&year) || micros >= 1_000_000 {
            return use_text(&self.0.to_rfc3339_opts(SecondsFormat::Micros, true));
        }
        let mut buf = *b"0000-00-00T00:00:00.000000Z";
        let mut digits = |at: usize, width: usize, mut value: u32| {
            for i in (at..at + width).rev() {
                buf[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        digits(0, 4, year.unsigned_abs());
        digits(5, 2, t.month());
        digits(8, 2, t.day());
        digits(11, 2, t.hour());
        digits(14, 2, t.minute());
        digits(17, 2, t.second());
        digits(20, 6, micros);
        // Only ASCII digits were written over an ASCII template.
        use_text(std::str::from_utf8(&buf).unwrap_or_default())
    }
}

impl Type for Timestamp {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_date-time".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date-time")))
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

impl ToJSON for Timestamp {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.with_text(str::to_owned)))
    }
}

// Required by `#[derive(Object)]`; the API never reads timestamps from clients.
impl ParseFromJSON for Timestamp {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(s) => Ok(Self(s.parse()?)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.with_text(|text| serializer.serialize_str(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: DateTime<Utc>) -> String {
        Timestamp(t).with_text(str::to_owned)
    }

    #[test]
    fn matches_chrono_rfc3339_with_micros() {
        for input in [
            "2026-11-24T16:24:34.123456Z",
            "2026-01-02T03:04:05Z",
            "0001-01-01T00:00:00.000001Z",
            "9999-12-31T23:59:59.999999999Z",
            "1970-01-01T00:00:00.5+02:00",
        ] {
            let t: DateTime<Utc> = input.parse().unwrap();
            assert_eq!(text(t), t.to_rfc3339_opts(SecondsFormat::Micros, true));
        }
    }

    #[test]
    fn falls_back_where_the_layout_does_not_fit() {
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap()
            .and_utc();
        assert_eq!(text(leap), "2016-12-31T23:59:60.500000Z");
        let far = chrono::NaiveDate::from_ymd_opt(12345, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap()
            .and_utc();
        assert_eq!(text(far), far.to_rfc3339_opts(SecondsFormat::Micros, true));
    }

    #[test]
    fn serializes_as_a_json_string() {
        let t: DateTime<Utc> = "2026-11-24T16:24:34.123456Z".parse().unwrap();
        let json = serde_json::to_string(&Timestamp(t)).unwrap();
        assert_eq!(json, r#""2026-11-24T16:24:34.123456Z""#);
        assert_eq!(
            Timestamp(t).to_json(),
            Some(Value::String(json[1..28].to_owned()))
        );
    }
}
