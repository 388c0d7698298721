#!/usr/bin/env bash
# The resource generator's output must pass every suite the hand-written notes resource
# passes, on every run (docs/src/adding-a-resource.md). On a scratch copy of the tracked
# files this runs `cargo xtask new-resource` twice, so that between them every field kind and
# modifier is used:
#   - projects: every kind but ref, nullable and not, filters, two unique sets;
#   - tasks: a reference to notes with ON DELETE CASCADE and one to projects with RESTRICT
#     (which documents the 409 on DELETE /projects/{id}), a filter on a reference, a unique
#     set with a reference;
# then fails unless
#   - --dry-run writes nothing, and a second run over an existing resource is refused and
#     writes nothing;
#   - the existing files it changes are the registrations' and openapi.json, and they only
#     gain lines (but the list of resources in tests/api/main.rs, rewrapped);
#   - `cargo fmt --check` and `cargo clippy -D warnings` pass;
#   - the generated suites pass on SQLite, PostgreSQL and MariaDB, with the suites that cover
#     every resource (documented statuses and scopes, the served spec equal to the
#     regenerated openapi.json, every list shape an index range scan);
#   - the contract tests pass over the result, authentication off and on.
# Run by .ci/run. It builds in the caller's CARGO_TARGET_DIR: the copy's files get fresh
# modification times, so cargo rebuilds its crates and reuses the dependencies.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '[resource-generate-check] %s\n' "$*" >&2; }
die() { printf '[resource-generate-check] FAILED: %s\n' "$*" >&2; exit 1; }
started=$(date +%s)

work=$(mktemp -d "${TMPDIR:-/tmp}/resource-generate-check.XXXXXX")
trap 'rm -rf "$work" "$work.dry-run" "$work.again"' EXIT
# -m: extracted files get the time of extraction, so the copy is rebuilt, not taken for the
# original (whose artifacts would otherwise look up to date).
git -C "$root" ls-files -z |
  while IFS= read -r -d '' file; do
    if [ -e "$root/$file" ]; then printf '%s\0' "$file"; fi
  done |
  tar -C "$root" --null -T - -cf - | tar -C "$work" -m -xf -
# The local OpenID Connect provider's packages, when the checkout has them (else --auth
# installs them in the copy).
if [ -d "$root/tools/oidc-provider/node_modules" ]; then
  cp -a "$root/tools/oidc-provider/node_modules" "$work/tools/oidc-provider/"
fi
cd "$work"
git init -q && git add -A && git -c user.name=ci -c user.email=ci@localhost commit -qm base

projects=(projects name:string:120 summary:text? stage:enum:draft,active,done:filter
  budget:number? cost:number starts_on:date:filter ends_on:date? external_id:uuid?:filter
  ref_code:uuid level:int:0..10:filter priority:int? archived:bool:filter flag:bool?
  kickoff_at:timestamp due_at:timestamp? code:string?:16:filter
  --unique name --unique code,level)
tasks=(tasks note:ref:notes:cascade project:ref:projects:restrict:filter title:string:200
  done:bool:filter --unique project,title)

unchanged() { [ -z "$(git status --porcelain)" ]; }
log "cargo xtask new-resource ${projects[*]} --dry-run"
cargo xtask new-resource "${projects[@]}" --dry-run >"$work.dry-run"
grep -q '^== would write src/projects/api.rs' "$work.dry-run" || die "the dry run printed no api.rs"
rm -f "$work.dry-run"
unchanged || die "--dry-run wrote: $(git status --porcelain)"

log "cargo xtask new-resource ${projects[*]} --no-spec"
cargo xtask new-resource "${projects[@]}" --no-spec
log "cargo xtask new-resource ${tasks[*]}"
cargo xtask new-resource "${tasks[@]}"
git add -A && git -c user.name=ci -c user.email=ci@localhost commit -qm generated
if cargo xtask new-resource "${projects[@]}" --no-spec 2>"$work.again"; then
  die "a second new-resource projects was not refused"
fi
grep -q 'nothing was written' "$work.again" || die "the refusal does not say nothing was written"
rm -f "$work.again"
unchanged || die "a refused run wrote: $(git status --porcelain)"

# Existing files: registration lines only, and openapi.json regenerated. tests/api/main.rs's
# list of resources is one statement that rustfmt rewraps; openapi.json's enums gain a comma.
changed=$(git diff --name-only --diff-filter=M HEAD~1 | sort | tr '\n' ' ')
expected="docs/src/api.md migration/src/lib.rs openapi.json schemathesis.toml src/api.rs src/lib.rs src/webhooks/events.rs tests/api/main.rs "
[ "$changed" = "$expected" ] || die "existing files changed: $changed (expected: $expected)"
removed=$(git diff --histogram --numstat HEAD~1 -- docs/src/api.md migration/src/lib.rs schemathesis.toml \
  src/api.rs src/lib.rs src/webhooks/events.rs | awk '$2 != 0 { print $3 }')
[ -z "$removed" ] || die "lines removed from: $removed"
grep -q 'Problems<Referenced<Delete>>' src/projects/api.rs ||
  die "DELETE /projects/{id} does not document the 409 of tasks' RESTRICT"

log "cargo fmt --check; cargo clippy -D warnings"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

log "the generated suites and the suites over every resource, on every backend"
NOTES_TEST_BACKENDS=all scripts/test --locked --test api -- \
  projects:: tasks:: operations:: query_plans::

log "contract tests over the result, authentication off and on"
scripts/contract-test
scripts/contract-test --auth
log "passed in $(( $(date +%s) - started ))s: two resources generated (every kind and modifier), their suites green on three backends, fmt, clippy and the contract tests"
