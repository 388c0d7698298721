# shellcheck shell=bash
# Installs a tool's pinned npm packages, sourced by scripts/lib/oidc-provider.sh and
# scripts/client-check. Prints what went wrong on stderr and returns non-zero.
#
#   npm_install DIR
#       Runs `npm ci` for DIR's package.json and package-lock.json when DIR/node_modules is
#       missing or was installed from another lock file. `npm ci` runs in a scratch folder that
#       is then renamed into place, so a run installing at the same time cannot leave a
#       half-written node_modules (the other one's rename simply fails and finds it done).

_npm_say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

npm_install() {
  local dir=$1 scratch
  local installed=$dir/node_modules/.installed-package-lock.json
  cmp -s "$dir/package-lock.json" "$installed" && return 0
  _npm_say "installing the packages of ${dir##*/} (npm ci in $dir)..."
  scratch=$(mktemp -d "$dir/.install-XXXXXX") || return 1
  if ! cp "$dir/package.json" "$dir/package-lock.json" "$scratch/" ||
    ! (cd "$scratch" && npm ci --no-audit --no-fund --loglevel=error >&2); then
    rm -rf "$scratch"
    _npm_say "npm ci failed in $dir (is the npm registry reachable?)"
    return 1
  fi
  cp "$dir/package-lock.json" "$scratch/node_modules/.installed-package-lock.json"
  if [ -e "$dir/node_modules" ] && ! cmp -s "$dir/package-lock.json" "$installed"; then
    mv "$dir/node_modules" "$scratch/old-node_modules"
  fi
  if ! mv -T "$scratch/node_modules" "$dir/node_modules" 2>/dev/null &&
    ! cmp -s "$dir/package-lock.json" "$installed"; then
    rm -rf "$scratch"
    _npm_say "could not move the installed packages into $dir/node_modules"
    return 1
  fi
  rm -rf "$scratch"
}
