# shellcheck shell=bash
# Docker functions, sourced by scripts/test, .ci/smoke-compose.sh and
# .ci/registryless/docker-setup.sh. They log to stderr and return non-zero on failure
# (the caller decides what to tell the user).
#
#   docker_ensure_engine
#       Succeeds once `docker info` answers. If it does not: as root, starts an installed
#       but stopped engine (systemctl, else dockerd in the background, log in $DOCKERD_LOG),
#       and installs docker.io first on a Debian/Ubuntu machine that has none. Never
#       starts or installs anything as another user, nor when DOCKER_HOST names another
#       engine.
#   docker_ensure_image VAR DEFAULT KIND
#       Exports VAR as an image that is present locally. If VAR is set, that image must be
#       present or pullable. Otherwise DEFAULT (an official image) is used when present or
#       pullable; when it cannot be pulled, the local stand-in for KIND (postgres, mariadb,
#       debian, rust) is built by .ci/registryless/docker-setup.sh, if that folder exists.
#   docker_pull IMAGE
#       `docker pull` that fails fast on a machine without a registry: it gives up when the
#       registry has not answered within $DOCKER_PULL_CONNECT_TIMEOUT seconds (default 20),
#       and after $DOCKER_PULL_TIMEOUT seconds in all (default 1200).
#   apt_install PACKAGE...
#       apt-get install as root on Debian/Ubuntu, waiting for another apt run's locks.

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/notes-dockerd.log}
_docker_lib_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

docker_log() { printf '[%s %s] %s\n' "${LOG_NAME:-docker}" "$(date +%T)" "$*" >&2; }

_is_root() { [ "$(id -u)" = 0 ]; }
_is_debian() { [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }

apt_install() {
  _is_root || { docker_log "installing $* needs root"; return 1; }
  _is_debian || { docker_log "installing $* needs apt (Debian/Ubuntu)"; return 1; }
  docker_log "installing $* (apt-get)"
  local i
  for i in $(seq 30); do
    # DPkg::Lock::Timeout: wait for another apt run instead of failing.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update >&2 && break
    [ "$i" = 30 ] && { docker_log 'apt-get update kept failing'; return 1; }
    docker_log 'apt-get update failed (lock held?); retrying in 10 s'
    sleep 10
  done
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y "$@" >&2
}

docker_ensure_engine() {
  docker info >/dev/null 2>&1 && return 0
  if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != unix:///var/run/docker.sock ]; then
    docker_log "the Docker engine at DOCKER_HOST=$DOCKER_HOST does not answer"
    return 1
  fi
  if ! _is_root; then
    if command -v docker >/dev/null 2>&1; then
      docker_log 'the Docker engine does not answer: is it running, and may this user use it? (e.g. sudo systemctl start docker)'
    else
      docker_log 'Docker is not installed (it is installed automatically only as root on Debian/Ubuntu)'
    fi
    return 1
  fi
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    if ! _is_debian; then
      docker_log 'no Docker engine is installed (it is installed automatically only on Debian/Ubuntu)'
      return 1
    fi
    apt_install docker.io || return 1
    docker info >/dev/null 2>&1 && return 0
  fi
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    docker_log 'starting the Docker engine (systemctl start docker)'
    systemctl start docker || true
  elif ! pgrep -x dockerd >/dev/null; then
    docker_log "starting dockerd (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    # Its own session, so it outlives this script (other runs on the machine reuse it).
    setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  else
    docker_log 'dockerd is running but not answering yet; waiting'
  fi
  local i
  for i in $(seq 60); do
    if docker info >/dev/null 2>&1; then
      docker_log 'the Docker engine is up'
      return 0
    fi
    sleep 1
  done
  docker_log 'the Docker engine did not answer within 60 s'
  [ -r "$DOCKERD_LOG" ] && tail -n 30 "$DOCKERD_LOG" >&2
  return 1
}

docker_pull() {
  local image=$1 out pid rc answered=false start=$SECONDS
  local connect=${DOCKER_PULL_CONNECT_TIMEOUT:-20} total=${DOCKER_PULL_TIMEOUT:-1200}
  out=$(mktemp)
  docker_log "pulling $image"
  docker pull "$image" >"$out" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    # These lines mean the registry answered: from then on only the overall limit applies.
    if ! $answered && grep -qE 'Pulling from|Pulling fs layer|Already exists|Digest:' "$out"; then
      answered=true
    fi
    if { ! $answered && [ $((SECONDS - start)) -ge "$connect" ]; } ||
       [ $((SECONDS - start)) -ge "$total" ]; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      docker_log "pull of $image gave up after $((SECONDS - start)) s$($answered || echo ': no answer from the registry')"
      rm -f "$out"
      return 1
    fi
    sleep 0.2
  done
  wait "$pid" && rc=0 || rc=$?
  if [ "$rc" != 0 ]; then
    docker_log "cannot pull $image: $(tail -n 1 "$out")"
  fi
  rm -f "$out"
  return "$rc"
}

_docker_have_or_pull() {
  docker image inspect "$1" >/dev/null 2>&1 || docker_pull "$1"
}

docker_ensure_image() {
  local var=$1 default=$2 kind=$3 image=${!1:-} setup tag
  if [ -n "$image" ]; then
    if _docker_have_or_pull "$image"; then
      export "$var=$image"
      return 0
    fi
    docker_log "$var=$image is neither present nor pullable (unset $var to use $default)"
    return 1
  fi
  if _docker_have_or_pull "$default"; then
    export "$var=$default"
    return 0
  fi
  setup=$_docker_lib_root/.ci/registryless/docker-setup.sh
  if [ ! -f "$setup" ]; then
    docker_log "cannot get $default (is a registry reachable? set $var to an image you have)"
    return 1
  fi
  docker_log "$default cannot be pulled: using a local stand-in for it (.ci/registryless/)"
  tag=$(bash "$setup" "$kind") || return 1
  docker_log "$var=$tag"
  export "$var=$tag"
}
