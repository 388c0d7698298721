//! Entity tags and conditional requests (RFC 9110 §8.8.3 and §13.1), for any resource whose
//! rows carry a version that every change raises: the version is the strong `ETag`;
//! `If-Match` (strong comparison) guards writes and `If-None-Match` (weak comparison) saves
//! re-sending an unchanged item.

/// The strong `ETag` header value of `version`: `"3"`.
pub fn of_version(version: i64) -> String {
    format!("\"{version}\"")
}

/// The versions an `If-Match` header lets a write apply to: `None` without the header or
/// with `*` (any existing item), else those its strong entity tags name (none for a
/// garbled header, so that the write fails its precondition).
pub fn expected_versions(if_match: Option<&str>) -> Option<Vec<i64>> {
    if_match.and_then(|header| Condition::parse(header).versions())
}

/// Whether an `If-None-Match` header names `version` (the client's copy is current: 304).
pub fn unchanged(if_none_match: Option<&str>, version: i64) -> bool {
    if_none_match.is_some_and(|header| Condition::parse(header).names_weakly(version))
}

/// An `If-Match` or `If-None-Match` header: `*`, or a list of entity tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Any,
    Tags(Vec<EntityTag>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag {
    weak: bool,
    opaque: String,
}

impl Condition {
    /// Parses a header value; members that are not valid entity tags are dropped (they
    /// could match nothing), so a garbled `If-Match` fails its precondition, as it should.
    pub fn parse(header: &str) -> Self {
        if header.trim() == "*" {
            return Self::Any;
        }
        let tags = header
            .split(',')
            .filter_map(|member| {
                let member = member.trim();
                let (weak, quoted) = match member.strip_prefix("W/") {
                    Some(rest) => (true, rest),
                    None => (false, member),
                };
                let opaque = quoted.strip_prefix('"')?.strip_suffix('"')?;
                (!opaque.contains('"')).then(|| EntityTag {
                    weak,
                    opaque: opaque.to_owned(),
                })
            })
            .collect();
        Self::Tags(tags)
    }

    /// For `If-Match`: the versions a write may apply to, by strong comparison; `None` for
    /// `*` (any existing item).
    pub fn versions(&self) -> Option<Vec<i64>> {
        match self {
            Self::Any => None,
            Self::Tags(tags) => Some(
                tags.iter()
                    .filter(|tag| !tag.weak)
                    .filter_map(|tag| tag.opaque.parse().ok())
                    .collect(),
            ),
        }
    }

    /// For `If-None-Match`: whether `version` is named, by weak comparison.
    pub fn names_weakly(&self, version: i64) -> bool {
        match self {
            Self::Any => true,
            Self::Tags(tags) => tags
                .iter()
                .any(|tag| tag.opaque.parse::<i64>() == Ok(version)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_names_versions_by_strong_comparison() {
        assert_eq!(Condition::parse("*").versions(), None);
        assert_eq!(Condition::parse("\"3\"").versions(), Some(vec![3]));
        assert_eq!(
            Condition::parse(" \"3\" , W/\"4\", \"x\", \"5\"").versions(),
            Some(vec![3, 5])
        );
        assert_eq!(Condition::parse("3").versions(), Some(vec![]));
        assert_eq!(Condition::parse("").versions(), Some(vec![]));
        assert_eq!(Condition::parse("\"a\"b\"").versions(), Some(vec![]));
    }

    #[test]
    fn if_none_match_compares_weakly() {
        assert!(Condition::parse("W/\"7\"").names_weakly(7));
        assert!(Condition::parse("\"1\", \"7\"").names_weakly(7));
        assert!(Condition::parse("*").names_weakly(7));
        assert!(!Condition::parse("\"8\"").names_weakly(7));
        assert_eq!(of_version(7), "\"7\"");
    }
}
