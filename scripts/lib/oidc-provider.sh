# shellcheck shell=bash
# The local OpenID Connect provider (tools/oidc-provider), sourced by scripts/dev-oidc-provider,
# scripts/contract-test and bench/run.sh. Functions print what went wrong on stderr and return
# non-zero (the caller decides what to tell the user, or whether that stops it).
#
#   oidc_provider_check_node
#       Node.js 20.19 or later and npm are installed; else says how to install them.
#   oidc_provider_install
#       Installs the provider's packages (npm ci) when node_modules is missing or was
#       installed from another lock file (npm_install in scripts/lib/npm.sh).
#   oidc_provider_prepare
#       Both of the above.
#   oidc_provider_start LOG ARGS...
#       Starts the provider in the background (`node provider.mjs ARGS...`, stdout and stderr
#       in LOG) and waits for its ready line: sets OIDC_PROVIDER_PID and OIDC_ISSUER. Give
#       `--port 0` for a free port. The caller stops it (kill "$OIDC_PROVIDER_PID"). The lines
#       before the ready line in LOG name the API's scopes (from openapi.json) and each
#       client's: `oidc-provider scopes: ...`, `oidc-provider client ID: ...`.

# shellcheck source=scripts/lib/npm.sh
source "$(dirname "${BASH_SOURCE[0]}")/npm.sh"

OIDC_PROVIDER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tools/oidc-provider
OIDC_PROVIDER_PID=
OIDC_ISSUER=
OIDC_PROVIDER_HOW_TO_INSTALL="Install Node.js 20.19 or later with npm:
  Debian 13:  sudo apt-get install nodejs npm
  Debian 12 and older Ubuntu releases ship an older Node.js: install Node.js 22 LTS from the
  Node.js project's Debian packages (NodeSource) or release binaries, or with nvm."

_oidc_say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

oidc_provider_check_node() {
  if ! command -v node >/dev/null 2>&1; then
    _oidc_say "node is not installed. $OIDC_PROVIDER_HOW_TO_INSTALL"
    return 1
  fi
  if ! command -v npm >/dev/null 2>&1; then
    _oidc_say "npm is not installed. $OIDC_PROVIDER_HOW_TO_INSTALL"
    return 1
  fi
  if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
                process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    _oidc_say "node $(node -v) is too old. $OIDC_PROVIDER_HOW_TO_INSTALL"
    return 1
  fi
}

oidc_provider_install() {
  npm_install "$OIDC_PROVIDER_DIR"
}

oidc_provider_prepare() {
  oidc_provider_check_node && oidc_provider_install
}

oidc_provider_start() {
  local log=$1 ready=
  shift
  node "$OIDC_PROVIDER_DIR/provider.mjs" "$@" >"$log" 2>&1 &
  OIDC_PROVIDER_PID=$!
  # One line on stdout once it listens: "oidc-provider ready: issuer=URL audience=...".
  for _ in $(seq 300); do
    ready=$(sed -n 's/^oidc-provider ready: .*issuer=\([^ ]*\).*/\1/p' "$log")
    [ -n "$ready" ] && break
    kill -0 "$OIDC_PROVIDER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    cat "$log" >&2
    _oidc_say "the OpenID Connect provider did not start (its output is above)"
    return 1
  fi
  # shellcheck disable=SC2034 # read by the caller
  OIDC_ISSUER=$ready
}
