#!/usr/bin/env bash
# Smoke test of the container image and docker-compose.yml, end to end:
#   1. builds the image (Dockerfile), timed;
#   2. brings up db + migrate + app with docker compose (v2 if present, else v1) under a
#      unique project name;
#   3. over 127.0.0.1: create, list, get, patch, put, delete notes; restarts app and checks
#      the data is still there; a second `up` must apply no migration; the app runs as
#      non-root; `migration status` runs from the image against db; SIGTERM
#      (`docker stop`) ends the app with exit code 0 and a logged graceful shutdown;
#   4. `docker run IMAGE` alone (no DATABASE_URL) serves notes on its built-in SQLite;
#   5. prints a summary (build time, image size, size above the runtime base).
# Everything it started is removed at the end (`down -v`), also on failure; on failure
# the services' logs are printed and the exit code is non-zero.
#
# Usage: .ci/smoke-compose.sh        (needs docker, curl and python3; compose is
#   installed from apt when missing and running as root on Debian)
# Images (the Dockerfile's and docker-compose.yml's variables): RUST_IMAGE
#   (rust:1.95-slim-bookworm), RUNTIME_IMAGE (debian:bookworm-slim), POSTGRES_IMAGE
#   (postgres:17-alpine). Set ones must be present or pullable; a default that cannot be
#   pulled is replaced by its local stand-in (.ci/registryless/), see scripts/lib/docker.sh.
# Env: SMOKE_IMAGE (tag to build, default notes-service:smoke),
#      SMOKE_PORT (first host port to try for the stack, default 18000; the standalone
#      SQLite container takes the next free one), SMOKE_TIMEOUT (seconds to wait for
#      health, default 120).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOG_NAME=smoke
# shellcheck source=scripts/lib/docker.sh
source "$root/scripts/lib/docker.sh"
image=${SMOKE_IMAGE:-notes-service:smoke}
timeout=${SMOKE_TIMEOUT:-120}
project=notes-smoke-$$
sqlite_name=notes-smoke-sqlite-$$
compose_file=$root/docker-compose.yml
# The legacy builder: the docker 28 client here has no buildx.
export DOCKER_BUILDKIT=0

log() { printf '\n[smoke %s] %s\n' "$(date +%T)" "$*" >&2; }
ok() { printf '  ok: %s\n' "$*" >&2; }
die() { printf '[smoke %s] FAILED: %s\n' "$(date +%T)" "$*" >&2; exit 1; }

for tool in curl python3; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

docker_ensure_engine || die 'no Docker engine'
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
  apt_install docker-compose || true
fi
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
  COMPOSE=(docker-compose)
else
  die 'neither "docker compose" nor docker-compose works'
fi

log 'images'
docker_ensure_image RUST_IMAGE rust:1.95-slim-bookworm rust || die 'no builder image'
docker_ensure_image RUNTIME_IMAGE debian:bookworm-slim debian || die 'no runtime base image'
docker_ensure_image POSTGRES_IMAGE postgres:17-alpine postgres || die 'no PostgreSQL image'

compose() { "${COMPOSE[@]}" -p "$project" -f "$compose_file" "$@"; }

# A host port nothing listens on, from $1 upwards.
free_port() {
  local port=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
    [ "$port" -lt $(( $1 + 100 )) ] || die "no free port from $1"
  done
  echo "$port"
}
port=$(free_port "${SMOKE_PORT:-18000}")
sqlite_port=$(free_port $((port + 1)))

# What docker-compose.yml reads (a developer's .env in the repo cannot change these;
# POSTGRES_IMAGE, RUST_IMAGE and RUNTIME_IMAGE are exported above).
export APP_IMAGE=$image
export APP_PORT=$port
export POSTGRES_USER=notes POSTGRES_PASSWORD=smoke-secret POSTGRES_DB=notes
db_url="postgres://$POSTGRES_USER:$POSTGRES_PASSWORD@db:5432/$POSTGRES_DB"

tmp=$(mktemp -d /tmp/notes-smoke.XXXXXX)
stack_up=false
cleanup() {
  local rc=$?
  set +e
  if [ "$rc" -ne 0 ]; then
    if $stack_up; then
      log "service logs (project $project)"
      compose ps >&2
      compose logs --no-color --tail=200 >&2
    fi
    if docker container inspect "$sqlite_name" >/dev/null 2>&1; then
      log "logs of the standalone container $sqlite_name"
      docker logs --tail=100 "$sqlite_name" >&2
    fi
  fi
  if $stack_up; then
    log "removing the stack (down -v)"
    compose down -v --remove-orphans >&2
  fi
  docker rm -fv "$sqlite_name" >/dev/null 2>&1
  rm -rf "$tmp"
  if [ "$rc" -eq 0 ]; then log 'smoke test passed'; else log "smoke test FAILED (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers ---------------------------------------------------------------------------

# req METHOD URL [JSON]: sets STATUS and BODY.
req() {
  local method=$1 url=$2 data=${3:-}
  local args=(-sS --max-time 10 -o "$tmp/body" -w '%{http_code}' -X "$method")
  [ -z "$data" ] || args+=(-H 'content-type: application/json' --data-binary "$data")
  STATUS=$(curl "${args[@]}" "$url") || die "$method $url: curl failed"
  BODY=$(cat "$tmp/body")
}
# expect STATUS: the last req answered STATUS.
expect() {
  [ "$STATUS" = "$1" ] || die "expected HTTP $1, got $STATUS; body: $BODY"
}
# jcheck PYTHON_EXPR: true for the last body parsed as `d` (env vars readable as env[...]).
jcheck() {
  BODY=$BODY python3 -c '
import json, os, sys
env = os.environ
d = json.loads(env["BODY"])
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1" || die "JSON check failed: $1; body: $BODY"
}
# jget PYTHON_EXPR: prints the value for the last body parsed as `d`.
jget() {
  BODY=$BODY python3 -c '
import json, os, sys
d = json.loads(os.environ["BODY"])
print(eval(sys.argv[1]))' "$1" || die "cannot read $1 from: $BODY"
}
# wait_healthy CONTAINER: until docker reports it healthy (fails if it stops or times out).
wait_healthy() {
  local c=$1 state i
  for ((i = 0; i < timeout; i++)); do
    state=$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c")
    case $state in
      running/healthy) ok "$(docker inspect -f '{{.Name}}' "$c" | tr -d /) healthy after ${i}s"; return 0 ;;
      exited/* | dead/*) die "$c stopped while waiting for health ($state)" ;;
    esac
    sleep 1
  done
  die "$c not healthy after ${timeout}s (state $state)"
}
app_id() {
  local id
  id=$(compose ps -q app)
  [ -n "$id" ] || die 'no app container'
  echo "$id"
}
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }

# --- 1. image --------------------------------------------------------------------------
log "building $image (RUST_IMAGE=$RUST_IMAGE RUNTIME_IMAGE=$RUNTIME_IMAGE)"
build_start=$(date +%s)
docker build \
  --build-arg "RUST_IMAGE=$RUST_IMAGE" \
  --build-arg "RUNTIME_IMAGE=$RUNTIME_IMAGE" \
  -t "$image" "$root"
build_secs=$(( $(date +%s) - build_start ))
ok "image built in ${build_secs}s"

# --- 2. the stack ----------------------------------------------------------------------
log "compose up: project $project, ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || echo '?')), app on 127.0.0.1:$port"
compose config -q
stack_up=true
compose up -d --no-build
app=$(app_id)
wait_healthy "$app"
migrate_id=$(compose ps -aq migrate)
[ "$(docker inspect -f '{{.State.ExitCode}}' "$migrate_id")" = 0 ] || die 'migrate did not exit 0'
ok 'migrate exited 0'
base=http://127.0.0.1:$port

# --- 3. API over 127.0.0.1 -------------------------------------------------------------
log 'notes API: create, list, get, patch, put, delete'
req GET "$base/health/ready"; expect 200
req POST "$base/notes" '{"text":"smoke: first","completed":false}'; expect 201
jcheck 'd["text"] == "smoke: first" and d["completed"] is False and isinstance(d["id"], int)'
id1=$(jget 'd["id"]')
ok "created note $id1"
req POST "$base/notes" '{"text":"smoke: survives restarts","completed":true}'; expect 201
id2=$(jget 'd["id"]')
ok "created note $id2"
req GET "$base/notes"; expect 200
ID1=$id1 ID2=$id2 jcheck 'isinstance(d, list) and {int(env["ID1"]), int(env["ID2"])} <= {n["id"] for n in d}'
ok 'list is a bare array holding both'
req GET "$base/notes/$id1"; expect 200
jcheck 'd["text"] == "smoke: first" and d["completed"] is False'
ok 'get'
req PATCH "$base/notes/$id1" '{"completed":true}'; expect 200
jcheck 'd["text"] == "smoke: first" and d["completed"] is True'
ok 'patch'
req PUT "$base/notes/$id1" '{"text":"smoke: replaced","completed":false}'; expect 200
jcheck 'd["text"] == "smoke: replaced" and d["completed"] is False'
ok 'put'
req DELETE "$base/notes/$id1"; expect 204
req GET "$base/notes/$id1"; expect 404
ok 'delete (then 404)'

log 'restart app: data must persist'
compose restart app
wait_healthy "$app"
req GET "$base/notes/$id2"; expect 200
jcheck 'd["text"] == "smoke: survives restarts" and d["completed"] is True'
req GET "$base/notes"; expect 200
ID1=$id1 jcheck 'int(env["ID1"]) not in {n["id"] for n in d}'
ok "note $id2 still there, $id1 still deleted"

log 'second up: migrations must be a no-op'
compose up -d --no-build
migrate_id=$(compose ps -aq migrate)
[ "$(docker inspect -f '{{.State.ExitCode}}' "$migrate_id")" = 0 ] || die 'migrate did not exit 0 on the second up'
docker logs "$migrate_id" >"$tmp/migrate.log" 2>&1
grep -Eq 'Applying migration' "$tmp/migrate.log" || die 'first migrate run applied nothing?'
# Each run logs "Applying all pending migrations"; only the first may apply one.
runs=$(grep -c 'Applying all pending migrations' "$tmp/migrate.log" || true)
[ "$runs" -ge 2 ] || { cat "$tmp/migrate.log" >&2; die "migrate did not run again (runs: $runs)"; }
# Whatever the number of migrations, everything after the last run's banner must apply none.
again=$(awk '/Applying all pending migrations/ { last = "" } { last = last $0 "\n" } END { printf "%s", last }' \
  "$tmp/migrate.log" | grep -c "Applying migration '" || true)
[ "$again" = 0 ] || { cat "$tmp/migrate.log" >&2; die "a migration was applied again ($again applications)"; }
grep -q 'No pending migrations' "$tmp/migrate.log" || die 'the second migrate run did not report "No pending migrations"'
first=$(grep -c "Applying migration '" "$tmp/migrate.log" || true)
ok "migrate ran $runs times; the first applied $first migrations, the last none"
app=$(app_id)
wait_healthy "$app"
req GET "$base/notes/$id2"; expect 200
ok 'app still serves the data'

log 'the app runs as non-root'
uid=$(docker exec "$app" id -u)
user=$(docker inspect -f '{{.Config.User}}' "$app")
[ "$uid" != 0 ] || die 'app runs as root'
ok "uid $uid (Config.User $user)"

log 'migration status, run from the image against db'
network=$(docker inspect -f '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}' "$app" | awk '{print $1}')
docker run --rm --network "$network" -e "DATABASE_URL=$db_url" "$image" migration status \
  >"$tmp/status.log" 2>&1 || { cat "$tmp/status.log" >&2; die 'migration status failed'; }
cat "$tmp/status.log" >&2
grep -q 'm20261124_000001_create_notes' "$tmp/status.log" || die 'migration status lists no migration'
grep -q "create_notes'\.\.\. Applied" "$tmp/status.log" || die 'migration status: not applied'
if grep -q '\.\.\. Pending' "$tmp/status.log"; then die 'migration status shows pending migrations'; fi
ok 'migration status: all applied'

log 'SIGTERM: docker stop -t 40 app'
grace=40
stop_start=$(date +%s)
docker stop -t "$grace" "$app" >/dev/null
stop_secs=$(( $(date +%s) - stop_start ))
code=$(docker inspect -f '{{.State.ExitCode}}' "$app")
[ "$code" = 0 ] || die "app exited with $code after SIGTERM"
[ "$stop_secs" -lt "$grace" ] || die "app took ${stop_secs}s to stop (grace ${grace}s): killed?"
docker logs "$app" >"$tmp/app.log" 2>&1
grep -q 'shutdown signal received' "$tmp/app.log" || die 'no "shutdown signal received" in the app log'
[[ $(tail -n 1 "$tmp/app.log") == *'"message":"stopped"'* ]] ||
  { tail -n 5 "$tmp/app.log" >&2; die 'the app log does not end with "stopped"'; }
ok "exit code 0 after ${stop_secs}s, graceful shutdown logged"

# --- 4. standalone: SQLite, no DATABASE_URL --------------------------------------------
log "standalone: docker run -p 127.0.0.1:$sqlite_port:8000 $image (built-in SQLite)"
docker run -d --name "$sqlite_name" -p "127.0.0.1:$sqlite_port:8000" "$image" >/dev/null
wait_healthy "$sqlite_name"
sbase=http://127.0.0.1:$sqlite_port
req POST "$sbase/notes" '{"text":"smoke: sqlite"}'; expect 201
jcheck 'd["text"] == "smoke: sqlite" and d["completed"] is False'
sid=$(jget 'd["id"]')
req GET "$sbase/notes"; expect 200
ID=$sid jcheck 'isinstance(d, list) and [n["text"] for n in d if n["id"] == int(env["ID"])] == ["smoke: sqlite"]'
docker exec "$sqlite_name" test -s /app/data/notes.db || die '/app/data/notes.db missing'
[ "$(docker exec "$sqlite_name" id -u)" != 0 ] || die 'standalone container runs as root'
docker logs "$sqlite_name" >"$tmp/sqlite.log" 2>&1
grep -q '"database":"sqlite:///app/data/notes.db' "$tmp/sqlite.log" || die 'standalone container does not use /app/data/notes.db'
grep -q "Migration 'm20261124_000001_create_notes' has been applied" "$tmp/sqlite.log" ||
  die 'standalone container did not migrate its SQLite database at start-up'
ok 'migrated at start-up; POST/GET /notes on SQLite in /app/data'
docker rm -fv "$sqlite_name" >/dev/null

# --- 5. summary ------------------------------------------------------------------------
size=$(docker image inspect -f '{{.Size}}' "$image")
base_size=$(docker image inspect -f '{{.Size}}' "$RUNTIME_IMAGE")
log 'summary'
cat >&2 <<EOF
  compose:           ${COMPOSE[*]}
  image:             $image
  build time:        ${build_secs}s (layers cached by earlier builds are reused)
  image size:        $size bytes ($(mb "$size"))
  runtime base:      $RUNTIME_IMAGE, $base_size bytes ($(mb "$base_size"))
  added by service:  $((size - base_size)) bytes ($(mb $((size - base_size))))
  SIGTERM stop:      ${stop_secs}s, exit code 0
EOF
