#!/usr/bin/env bash
# The migration generator must be safe to run as docs/src/adding-a-resource.md says: on a
# scratch copy of the tracked files, this runs the recipe's generate command exactly as
# written there, then fails unless
#   - the workspace still builds (`cargo check --workspace --all-targets`), and
#   - `migration/src/lib.rs` changed by exactly two added lines, the new module and its
#     entry in the migration list, and nothing else in it changed.
# Run by .ci/run. It builds in the caller's CARGO_TARGET_DIR (dependencies are not
# rebuilt); `cargo run` there replaces the `migration` binary, so .ci/run runs it after
# the tests.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '[migration-generate-check] %s\n' "$*" >&2; }
die() { printf '[migration-generate-check] FAILED: %s\n' "$*" >&2; exit 1; }

recipe=$root/docs/src/adding-a-resource.md
command=$(grep -m 1 -E '^cd migration && cargo run -- generate [a-z_]+$' "$recipe") ||
  die "no 'cd migration && cargo run -- generate NAME' line in $recipe"

work=$(mktemp -d "${TMPDIR:-/tmp}/migration-generate-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
git -C "$root" ls-files -z |
  while IFS= read -r -d '' file; do
    if [ -e "$root/$file" ]; then printf '%s\0' "$file"; fi
  done |
  tar -C "$root" --null -T - -cf - | tar -C "$work" -xf -

files() { (cd "$work" && find . -path ./target -prune -o -type f -print | sort); }
before=$(files)
log "in a scratch copy: $command"
(cd "$work" && bash -euo pipefail -c "$command")

created=$(comm -13 <(printf '%s\n' "$before") <(files))
if ! [[ $created =~ ^\./migration/src/m[0-9]{8}_[0-9]{6}_[a-z_]+\.rs$ ]]; then
  printf 'files created:\n%s\n' "$created" >&2
  die "expected exactly one new file, a migration under migration/src/"
fi
changed=$(cd "$work" && git -C "$root" ls-files | while IFS= read -r f; do
  [ -e "$root/$f" ] && ! cmp -s "$root/$f" "$f" && echo "$f"; done || true)
[ "$changed" = migration/src/lib.rs ] ||
  die "expected only migration/src/lib.rs to change, changed: ${changed:-nothing}"
diff=$(diff "$root/migration/src/lib.rs" "$work/migration/src/lib.rs" || true)
added=$(grep -c '^> ' <<<"$diff" || true)
removed=$(grep -c '^< ' <<<"$diff" || true)
if ((added != 2 || removed != 0)) ||
  ! grep -qE '^> mod m[0-9]{8}_[0-9]{6}_[a-z_]+;$' <<<"$diff" ||
  ! grep -qE '^> +Box::new\(m[0-9]{8}_[0-9]{6}_[a-z_]+::Migration\),$' <<<"$diff"; then
  printf '%s\n' "$diff" >&2
  die "migration/src/lib.rs changed by more than the new module and its list entry (diff above)"
fi

log "cargo check --workspace --all-targets"
(cd "$work" && cargo check --quiet --workspace --all-targets --locked)
log "passed: one new migration, two added lines in migration/src/lib.rs, the workspace builds"
