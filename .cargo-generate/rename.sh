#!/bin/sh
# Renames a project generated from the notes-service template. rename.rhai (the post hook
# in cargo-generate.toml) runs it in cargo-generate's working copy, before the copy is
# moved to its destination:
#   sh .cargo-generate/rename.sh PROJECT_NAME CRATE_NAME
#
# In every file (it walks the whole tree, so there is no list to keep up to date):
#   1. drops the template-only blocks: the lines from one containing
#      "template-only:begin" to the next containing "template-only:end", both included
#      (the book's "how to generate" text, the template check in .ci/run and the workflow);
#   2. replaces "notes-service" with PROJECT_NAME and "notes_service" with CRATE_NAME;
# then formats the Rust code with `cargo fmt`, since the new names change line lengths
# and the order of `use` lines.
# .ci/generate-check.sh fails CI when a name or marker is left behind.
set -eu

name=${1:-}
crate=${2:-}
die() { echo "rename.sh: $*" >&2; exit 1; }

# cargo-generate gives a kebab-case name and a snake_case crate name; anything else would
# need escaping in sed and is no valid package name anyway.
case $name in '' | *[!a-z0-9_-]*) die "unexpected project name '$name'" ;; esac
case $crate in '' | *[!a-z0-9_]*) die "unexpected crate name '$crate'" ;; esac
[ -f Cargo.toml ] || die 'run it at the root of the generated copy'

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

# rewrite FILE SED_ARGS...: FILE through sed, in place, keeping its mode.
rewrite() {
  file=$1
  shift
  sed "$@" "$file" >"$tmp"
  cat "$tmp" >"$file"
}

# The files under . (but not .cargo-generate/) that contain one of the strings $@.
files_with() {
  find . -path ./.cargo-generate -prune -o -type f -exec grep -lI "$@" {} + || true
}

files_with -e 'template-only:begin' -e 'template-only:end' | while IFS= read -r file; do
  begins=$(grep -c 'template-only:begin' "$file" || true)
  ends=$(grep -c 'template-only:end' "$file" || true)
  [ "$begins" = "$ends" ] || die "$file: $begins template-only:begin lines but $ends template-only:end lines"
  rewrite "$file" -e '/template-only:begin/,/template-only:end/d'
done

files_with -e notes-service -e notes_service | while IFS= read -r file; do
  rewrite "$file" -e "s/notes-service/$name/g" -e "s/notes_service/$crate/g"
done

# Not fatal: the project is complete without it, only not formatted yet.
if ! cargo fmt --version >/dev/null 2>&1; then
  echo "rustfmt is not installed: run 'cargo fmt --all' in $name before its CI runs 'cargo fmt --check'."
elif ! cargo fmt --all >&2; then
  echo "cargo fmt failed: run 'cargo fmt --all' in $name before its CI runs 'cargo fmt --check'."
fi
