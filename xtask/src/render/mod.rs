//! A template per file the command writes: plain Rust strings with `{{placeholders}}` and
//! `format!`, so that each reads like the file it writes.

pub mod migration;
pub mod source;
pub mod tests;
