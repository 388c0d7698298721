#!/usr/bin/env bash
# The template check: `cargo generate` on this checkout must give a project that is
# renamed everywhere and green from the start. Run by .ci/run as its last step.
#   1. installs cargo-generate $CARGO_GENERATE_VERSION into ~/.cargo/bin when it is missing
#      (releases from 0.25 need rustc 1.96+);
#   2. copies the checkout's tracked files (what a clone of the template holds) and
#      generates a project from them, as docs/src/start-your-own-project.md says;
#   3. fails when the generated tree still holds `notes-service` or `notes_service`
#      (in a file or a path: no exceptions), a template-only marker or a template-only
#      file, or lacks the new names where they must be;
#   4. runs the generated project's `cargo fmt --check` and its tests on SQLite, with the
#      caller's CARGO_TARGET_DIR (.ci/run shares its own: dependencies are not rebuilt,
#      but the generated `migration` binary replaces ours there, hence last);
#   5. removes what it made, also on failure.
#
# Usage: .ci/generate-check.sh
# Env: GENERATE_NAME (the project name to generate, default acme-todo),
#      CARGO_TARGET_DIR (where the generated project builds; default: inside it, removed
#      afterwards, so everything compiles from scratch).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO_GENERATE_VERSION=0.23.7
name=${GENERATE_NAME:-acme-todo}
crate=${name//-/_}
export PATH=$HOME/.cargo/bin:$PATH

log() { printf '[generate-check] %s\n' "$*" >&2; }
die() { printf '[generate-check] FAILED: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/generate-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

if ! cargo-generate --version >/dev/null 2>&1; then
  log "installing cargo-generate $CARGO_GENERATE_VERSION"
  # Built in a temporary target dir that cargo removes, not in the shared one.
  env -u CARGO_TARGET_DIR cargo install cargo-generate --version "$CARGO_GENERATE_VERSION" --locked
fi
log "using $(cargo-generate --version)"

log "copying the tracked files of $root"
template=$work/template
mkdir "$template"
git -C "$root" ls-files -z |
  while IFS= read -r -d '' file; do
    # A file deleted but not yet committed is not part of the template.
    if [ -e "$root/$file" ]; then printf '%s\0' "$file"; fi
  done |
  tar -C "$root" --null -T - -cf - | tar -C "$template" -xf -

log "cargo generate --name $name"
cargo generate --path "$template" --name "$name" --destination "$work" \
  --vcs none --silent --allow-commands
project=$work/$name
[ -f "$project/Cargo.toml" ] || die "no project generated in $project"

log "no name, marker or file of the template left in $project"
failed=false
if grep -rn -e notes-service -e notes_service "$project"; then
  log 'these lines still name the template (notes-service / notes_service)'
  failed=true
fi
if find "$project" \( -name '*notes-service*' -o -name '*notes_service*' \) | grep .; then
  log 'these paths still name the template'
  failed=true
fi
if grep -rn 'template-only:' "$project"; then
  log 'these template-only markers were not removed'
  failed=true
fi
for path in cargo-generate.toml .cargo-generate .ci/generate-check.sh; do
  if [ -e "$project/$path" ]; then
    log "$path is the template's own and must not be generated"
    failed=true
  fi
done
# The new names where the template's were: package, crate paths, API title, problem URNs.
expect() { # FILE TEXT
  grep -qF -- "$2" "$project/$1" || { log "$1 lacks: $2"; failed=true; }
}
expect Cargo.toml "name = \"$name\""
expect Cargo.lock "name = \"$name\""
expect src/main.rs "use $crate::"
expect tests/api/common/mod.rs "use $crate::"
expect openapi.json "\"title\": \"$name\""
expect src/http/error.rs "\"urn:$name:problem:\""
expect README.md "# $name"
expect Dockerfile "$name:local"
if $failed; then die "the generated project is not renamed cleanly"; fi

log "the generated project's cargo fmt --check and tests (SQLite)"
cd "$project"
cargo fmt --all -- --check
NOTES_TEST_BACKENDS=sqlite scripts/test --locked
log "passed: $name is renamed and its SQLite tests pass"
