# shellcheck shell=bash
# The local OpenID Connect provider (tools/oidc-provider), sourced by scripts/dev-oidc-provider
# and bench/run.sh. The functions print what went wrong on stderr and return non-zero (the
# caller decides whether that stops it).
#
#   oidc_provider_check_node
#       Node.js 20.19 or later and npm are installed.
#   oidc_provider_install
#       Installs the provider's packages (npm ci) when node_modules is missing or was installed
#       from another lock file. `npm ci` runs in a scratch folder that is then renamed into
#       place, so a test run installing at the same time cannot leave a half-written
#       node_modules (the other one's rename simply fails and finds the install done).

OIDC_PROVIDER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../tools/oidc-provider" && pwd)
OIDC_PROVIDER_HOW_TO_INSTALL="Install Node.js 20.19 or later with npm:
  Debian 13:  sudo apt-get install nodejs npm
  Debian 12 and older Ubuntu releases ship an older Node.js: install Node.js 22 LTS from the
  Node.js project's Debian packages (NodeSource) or release binaries, or with nvm."

oidc_provider_check_node() {
  if ! command -v node >/dev/null 2>&1; then
    echo "node is not installed. $OIDC_PROVIDER_HOW_TO_INSTALL" >&2
    return 1
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is not installed. $OIDC_PROVIDER_HOW_TO_INSTALL" >&2
    return 1
  fi
  if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
                process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    echo "node $(node -v) is too old. $OIDC_PROVIDER_HOW_TO_INSTALL" >&2
    return 1
  fi
}

oidc_provider_install() {
  local dir=$OIDC_PROVIDER_DIR scratch
  local installed=$dir/node_modules/.installed-package-lock.json
  cmp -s "$dir/package-lock.json" "$installed" && return 0
  echo "installing the OpenID Connect provider's packages (npm ci in $dir)..." >&2
  scratch=$(mktemp -d "$dir/.install-XXXXXX") || return 1
  if ! cp "$dir/package.json" "$dir/package-lock.json" "$scratch/" ||
    ! (cd "$scratch" && npm ci --no-audit --no-fund --loglevel=error >&2); then
    rm -rf "$scratch"
    echo "npm ci failed in $dir (is the npm registry reachable?)" >&2
    return 1
  fi
  cp "$dir/package-lock.json" "$scratch/node_modules/.installed-package-lock.json"
  if [ -e "$dir/node_modules" ] && ! cmp -s "$dir/package-lock.json" "$installed"; then
    mv "$dir/node_modules" "$scratch/old-node_modules"
  fi
  if ! mv -T "$scratch/node_modules" "$dir/node_modules" 2>/dev/null &&
    ! cmp -s "$dir/package-lock.json" "$installed"; then
    rm -rf "$scratch"
    echo "could not move the installed packages into $dir/node_modules" >&2
    return 1
  fi
  rm -rf "$scratch"
}
