//! A note's text: a type that can only hold text the service accepts, so the database
//! functions cannot store what the API would refuse.

use std::fmt;

/// Not blank, at most [`NoteText::MAX_CHARS`] characters, no NUL character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteText(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoteTextError {
    #[error("must not be empty or blank")]
    Blank,
    #[error("must be at most {} characters", NoteText::MAX_CHARS)]
    TooLong,
    /// PostgreSQL cannot store NUL in text; every backend refuses it alike.
    #[error("must not contain the NUL character (U+0000)")]
    ContainsNul,
}

impl NoteText {
    /// The longest accepted text, in characters (Unicode scalar values, not bytes).
    pub const MAX_CHARS: usize = 10_000;

    /// "Blank" is Unicode White_Space only (Rust's `char::is_whitespace`), the same set the
    /// OpenAPI pattern for `text` spells out.
    pub fn parse(text: String) -> Result<Self, NoteTextError> {
        if text.chars().all(char::is_whitespace) {
            Err(NoteTextError::Blank)
        } else if text.chars().count() > Self::MAX_CHARS {
            Err(NoteTextError::TooLong)
        } else if text.contains('\0') {
            Err(NoteTextError::ContainsNul)
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

impl fmt::Display for NoteText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_valid_text_parses() {
        let parse = |s: &str| NoteText::parse(s.to_owned());
        assert_eq!(parse("buy milk").unwrap().as_str(), "buy milk");
        assert_eq!(parse("  padded  ").unwrap().as_str(), "  padded  ");
        assert_eq!(parse(""), Err(NoteTextError::Blank));
        assert_eq!(parse(" \t\n\u{3000}\u{85}"), Err(NoteTextError::Blank));
        assert_eq!(parse("a\0b"), Err(NoteTextError::ContainsNul));
        assert!(parse(&"🦀".repeat(NoteText::MAX_CHARS)).is_ok());
        assert_eq!(
            parse(&"a".repeat(NoteText::MAX_CHARS + 1)),
            Err(NoteTextError::TooLong)
        );
    }
}
