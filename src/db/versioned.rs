//! Versioned writes, for any resource whose rows carry a `version` that every change raises
//! (it is the row's ETag): a write names the versions it may apply to, and the check and the
//! write are one statement, so of two writers holding the same version exactly one wins.

/// Which versions a write may apply to. `None`: any.
pub type Expected<'a> = Option<&'a [i64]>;

/// What became of a write that names its row by id.
#[derive(Debug, PartialEq, Eq)]
pub enum Written<T> {
    /// Applied: for an update the row as it now is, for a delete nothing.
    Done(T),
    /// No row has this id.
    Missing,
    /// The row's version is not one of those expected; nothing was written.
    Stale { current_version: i64 },
}

/// Whether `version` is one of `expected` (any version when `None`).
pub fn allows(expected: Expected<'_>, version: i64) -> bool {
    expected.is_none_or(|versions| versions.contains(&version))
}

/// What a versioned write that changed nothing found: `current_version` is the row's version
/// read back after the miss, `None` when no row has the id.
pub fn missed<T>(current_version: Option<i64>) -> Written<T> {
    match current_version {
        Some(current_version) => Written::Stale { current_version },
        None => Written::Missing,
    }
}
