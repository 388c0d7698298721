#!/usr/bin/env bash
# What does a request cost, and does the cost grow with the data? Measures the notes API on a
# 100-note table and on a large one (BENCH_NOTES, default 1,000,000), in one run, on a release
# build. For every request it prints the service's CPU time per request (utime + stime from
# /proc/PID/stat over the wrk run, divided by the requests served), req/s and p99 latency:
#   - GET /notes?limit=100, the first page; the same with authentication on (one bearer token
#     for the whole run); the same in the first second after the service started (cold start);
#   - cursor pages 90% deep: plain, filtered (completed=true), newest first (order=desc);
#   - GET /notes/{id} (a middle id), with authentication off and on;
#   - POST /notes, without and with a fresh Idempotency-Key per request (every answer must
#     have stored a note);
#   - PATCH /notes/{id} (a merge patch switching `completed`, over BENCH_CONNECTIONS ids), last.
# Then the ratios: large÷small table, deep page÷first page, auth on÷off, keyed÷plain POST,
# first second÷steady p99; and the service's peak RSS, on SQLite the peak and final size of the
# write-ahead log (the -wal file), and the machine's load average.
#
#   bench/run.sh                                         # SQLite, a temp file
#   BENCH_DATABASE_URL=postgres://USER:PASS@HOST:5432/DB bench/run.sh
#   BENCH_DATABASE_URL=mysql://USER:PASS@HOST:3306/DB bench/run.sh     # MySQL or MariaDB
#   BENCH_NOTES=1000 BENCH_SECONDS=1 bench/run.sh        # a quick smoke run
#   BENCH_BASELINE_BIN=/tmp/base/target/release/notes-service bench/run.sh   # against another build
#
# Another build in the same run (BENCH_BASELINE_BIN): every measurement is taken on this tree's
# build and on the baseline's, one after the other (this build, then the baseline, request by
# request), and each row prints both and this÷baseline. Build a baseline from any commit:
#   git worktree add --detach /tmp/base COMMIT
#   (cd /tmp/base && cargo build --release --workspace --target-dir target)
# Each build runs against a database of its own, made by its own `migration fresh`: SQLite gets
# a second file; PostgreSQL and MySQL a second database, BENCH_BASELINE_DATABASE_URL (default:
# the database of BENCH_DATABASE_URL with `_baseline` appended, created if missing). The
# baseline reads its own configuration files (BENCH_BASELINE_CONFIG_DIR, default: the
# `config` directory of the source tree its binary was built in), and is given only settings its
# config/default.toml knows, so an older commit runs as it is.
#
# Settings (environment):
#   BENCH_NOTES (1000000)       notes in the large table, at least 1000
#   BENCH_SECONDS (10)          seconds per measurement
#   BENCH_CONNECTIONS (16)      wrk's connections
#   BENCH_PORT (18080)          the services listen on it and the next three ports
#   BENCH_AUTH (auto)           the auth-on rows: auto = when Node.js 20.19+ and npm are there
#                               (otherwise they are skipped, and the report says why); 1 = required
#                               (fails without Node.js); 0 = left out
#   BENCH_DATABASE_URL          a database the script may WIPE: it runs `migration fresh` there
#                               and leaves the large table behind
#   BENCH_SERVICE_DATABASE_URL  the service's own URL (default BENCH_DATABASE_URL): the same
#                               database through a pooler such as PgBouncer, while migrations and
#                               the bulk load go to the server
#   BENCH_BASELINE_BIN          another build's notes-service binary (see above)
#   BENCH_BASELINE_MIGRATION_BIN       its migration binary (default: `migration` beside it)
#   BENCH_BASELINE_CONFIG_DIR          its configuration directory (see above)
#   BENCH_BASELINE_DATABASE_URL        its database, WIPED like BENCH_DATABASE_URL (see above)
#   BENCH_BASELINE_SERVICE_DATABASE_URL  its service URL; required with BENCH_SERVICE_DATABASE_URL
# APP__* variables reach every service (APP__DATABASE__TRANSACTION_POOLING=true, say), except
# APP__AUTH__ISSUER and APP__AUTH__AUDIENCE, which the script sets itself. A request the baseline
# does not serve (a route or body it does not know) fails the run like any other.
#
# Authentication: the script starts the repository's OpenID Connect provider (tools/oidc-provider,
# Node.js; `npm ci` on first use) on a free loopback port, gets ONE access token by the
# client-credentials grant, with every scope openapi.json declares (valid 2 hours), and runs a
# second service per build with APP__AUTH__ISSUER/AUDIENCE set, on the same database; every note
# in the tables belongs to the token's subject, so auth on and off serve the same rows.
#
# The tables are filled with bulk SQL through the database's own client (sqlite3, psql, or
# mariadb/mysql), not over HTTP. The services run on core 0 and wrk on core 1 (2-core
# machines): compare figures within one run, not across runs or machines.
# Exits non-zero when a service does not start or any request fails or answers non-2xx.
set -euo pipefail
caller_dir=$PWD # paths in the settings are relative to it
cd "$(dirname "${BASH_SOURCE[0]}")/.."

notes=${BENCH_NOTES:-1000000}
seconds=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-16}
port=${BENCH_PORT:-18080}
auth_mode=${BENCH_AUTH:-auto}
small=100
page=100          # the limit of every list request
token_ttl=7200    # seconds: one token serves the whole run
audience="notes-api"

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }
need() { command -v "$1" >/dev/null || die "$1 is missing (on Debian/Ubuntu: apt-get install $2)"; }

[[ $notes =~ ^[0-9]+$ && $notes -ge 1000 ]] || die "BENCH_NOTES must be a number of at least 1000"
[[ $seconds =~ ^[0-9]+$ && $seconds -ge 1 ]] || die "BENCH_SECONDS must be a whole number of seconds"
[[ $connections =~ ^[0-9]+$ && $connections -ge 1 ]] || die "BENCH_CONNECTIONS must be a number"
[[ $port =~ ^[0-9]+$ && $port -ge 1024 && $port -le 65532 ]] || die "BENCH_PORT must be a port number (1024-65532)"
[[ $auth_mode == auto || $auth_mode == 0 || $auth_mode == 1 ]] || die "BENCH_AUTH must be auto, 1 or 0"
need wrk wrk
need taskset util-linux
need curl curl
clk_tck=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------------------------
# Cleanup: every process the script starts is recorded here and stopped on exit.
tmp=$(mktemp -d)
declare -A server_pid=()
sampler='' provider=''
alive() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; [[ ${s%% *} != Z ]]; } # $1 = pid
stop_pid() { # $1 = pid: SIGTERM, and SIGKILL if it is still there 10 s later
  kill "$1" 2>/dev/null || true
  for _ in $(seq 100); do alive "$1" || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  local instance
  if [[ -n $sampler ]]; then stop_pid "$sampler"; fi
  for instance in "${!server_pid[@]}"; do stop_pid "${server_pid[$instance]}"; done
  if [[ -n $provider ]]; then stop_pid "$provider"; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# The builds: `new` (this tree, built here) and, with BENCH_BASELINE_BIN, `base`.
# This tree's build first: a baseline given as this tree's own binary (an A/A run) exists then.
say "building the release binaries"
cargo build --release --quiet --workspace

declare -A bin migrator config_dir label commit db_url service_url
builds=(new)
bin[new]=$(realpath "${CARGO_TARGET_DIR:-target}/release/notes-service")
migrator[new]=$(realpath "${CARGO_TARGET_DIR:-target}/release/migration")
config_dir[new]=$PWD/config
label[new]="this build"
commit[new]=$(git describe --always --dirty 2>/dev/null || echo 'commit unknown')

if [[ -n ${BENCH_BASELINE_BIN:-} ]]; then
  builds+=(base)
  (cd "$caller_dir" && [[ -x $BENCH_BASELINE_BIN && -f $BENCH_BASELINE_BIN ]]) ||
    die "BENCH_BASELINE_BIN: $BENCH_BASELINE_BIN is not an executable file"
  bin[base]=$(cd "$caller_dir" && realpath "$BENCH_BASELINE_BIN")
  migrator[base]=$(cd "$caller_dir" && realpath -m "${BENCH_BASELINE_MIGRATION_BIN:-$(dirname "${bin[base]}")/migration}")
  [[ -x ${migrator[base]} && -f ${migrator[base]} ]] ||
    die "the baseline's migration binary ${migrator[base]} is missing: set BENCH_BASELINE_MIGRATION_BIN"
  if [[ -n ${BENCH_BASELINE_CONFIG_DIR:-} ]]; then
    config_dir[base]=$(cd "$caller_dir" && realpath -m "$BENCH_BASELINE_CONFIG_DIR")
  else
    # The source tree the binary was built in: TREE/target/release/notes-service.
    dir=$(dirname "${bin[base]}")
    while [[ $dir != / && ! -f $dir/config/default.toml ]]; do dir=$(dirname "$dir"); done
    [[ -f $dir/config/default.toml ]] ||
      die "no config/default.toml above ${bin[base]}: set BENCH_BASELINE_CONFIG_DIR to the baseline's config directory"
    config_dir[base]=$dir/config
  fi
  [[ -f ${config_dir[base]}/default.toml ]] || die "BENCH_BASELINE_CONFIG_DIR: no default.toml in ${config_dir[base]}"
  label[base]=baseline
  commit[base]=$(git -C "${config_dir[base]}" describe --always --dirty 2>/dev/null || echo 'commit unknown')
fi

knows() { # $1 = build, $2 = section, $3 = key: whether the build's config/default.toml has it
  awk -v section="[$2]" -v key="$3" '
    $0 == section { inside = 1; next }
    /^\[/ { inside = 0 }
    inside && ($1 == key || $1 ~ "^" key "=") { found = 1 }
    END { exit !found }' "${config_dir[$1]}/default.toml"
}

# ---------------------------------------------------------------------------------------------
# The databases: one per build, and `sql BUILD STATEMENTS` through the database's own client.
url=${BENCH_DATABASE_URL:-sqlite://$tmp/bench.db?mode=rwc}
db_url[new]=$url
declare -A sqlite_file client_cnf

with_database() { # $1 = a server URL, $2 = a database name: the URL naming that database instead
  local head=${1%%\?*} query=''
  [[ $1 == *\?* ]] && query="?${1#*\?}"
  [[ ${head#*://} == */* ]] || return 1
  printf '%s/%s%s' "${head%/*}" "$2" "$query"
}
database_of() { # $1 = a server URL: its database name, percent-decoded
  local head=${1%%\?*}
  head=${head#*://}
  [[ $head == */?* ]] || return 1
  decode "${head##*/}"
}
decode() { local s=${1//\\/\\\\}; printf '%b' "${s//%/\\x}"; } # percent-decoding

case $url in
  sqlite:*)
    backend=sqlite
    need sqlite3 sqlite3
    file=${url#sqlite:}
    file=${file#//}
    file=${file%%\?*}
    [[ -n $file && $file != :memory:* ]] || die "BENCH_DATABASE_URL: give SQLite a file, not memory"
    sqlite_file[new]=$file
    if [[ -n ${BENCH_BASELINE_BIN:-} ]]; then
      # Beside the first file, on the same disk: bench.db -> bench-baseline.db.
      if [[ ${file##*/} == *.* ]]; then base_file=${file%.*}-baseline.${file##*.}; else base_file=$file-baseline; fi
      db_url[base]=${BENCH_BASELINE_DATABASE_URL:-${url/"$file"/"$base_file"}}
      [[ ${db_url[base]} == sqlite:* ]] || die "BENCH_BASELINE_DATABASE_URL must be a SQLite URL, as BENCH_DATABASE_URL is"
      file=${db_url[base]#sqlite:}
      file=${file#//}
      sqlite_file[base]=${file%%\?*}
      [[ ${sqlite_file[base]} != "${sqlite_file[new]}" ]] || die "BENCH_BASELINE_DATABASE_URL names the same file as BENCH_DATABASE_URL"
    fi
    ;;
  postgres:* | postgresql:*)
    backend=postgres
    need psql postgresql-client
    ;;
  mysql:* | mariadb:*)
    backend=mysql
    mysql_client=$(command -v mariadb || command -v mysql) || die "mariadb is missing (on Debian/Ubuntu: apt-get install mariadb-client)"
    ;;
  *) die "BENCH_DATABASE_URL must start with sqlite:, postgres:, postgresql: or mysql:" ;;
esac

# mysql://USER:PASS@HOST:PORT/DB -> an option file, so the password stays off the command line.
mysql_cnf() { # $1 = URL, $2 = the file to write
  local rest=${1#*://} userinfo='' hostport user pass='' host db_port=3306 name
  rest=${rest%%\?*}
  [[ $rest == */* ]] || die "$1: no database name in the URL"
  name=${rest##*/} rest=${rest%%/*}
  hostport=$rest
  if [[ $rest == *@* ]]; then userinfo=${rest%@*} hostport=${rest##*@}; fi
  user=${userinfo%%:*}
  if [[ $userinfo == *:* ]]; then pass=${userinfo#*:}; fi
  host=${hostport%:*}
  if [[ $hostport == *:* ]]; then db_port=${hostport##*:}; fi
  cnf_quote() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }
  (umask 077 && printf '[client]\nprotocol=tcp\nhost=%s\nport=%s\nuser=%s\npassword=%s\ndatabase=%s\n' \
    "$host" "$db_port" "$(cnf_quote "$(decode "$user")")" "$(cnf_quote "$(decode "$pass")")" \
    "$(cnf_quote "$(decode "$name")")" >"$2")
}

sql() { # $1 = build, $2 = statements
  case $backend in
    sqlite) sqlite3 -batch -bail -noheader -separator $'\t' -cmd '.timeout 10000' "${sqlite_file[$1]}" "$2" ;;
    postgres) psql -X -q -A -t -F $'\t' -v ON_ERROR_STOP=1 -d "${db_url[$1]}" -c "$2" ;;
    mysql) "$mysql_client" --defaults-extra-file="${client_cnf[$1]}" -N -B -e "$2" ;;
  esac
}

if [[ $backend == mysql ]]; then
  client_cnf[new]=$tmp/new.cnf
  mysql_cnf "$url" "${client_cnf[new]}"
fi
if [[ $backend != sqlite && -n ${BENCH_BASELINE_BIN:-} ]]; then
  name=$(database_of "$url") || die "BENCH_DATABASE_URL: no database name in the URL"
  if [[ -n ${BENCH_BASELINE_DATABASE_URL:-} ]]; then
    db_url[base]=$BENCH_BASELINE_DATABASE_URL
  else
    db_url[base]=$(with_database "$url" "${name}_baseline")
  fi
  base_name=$(database_of "${db_url[base]}") || die "BENCH_BASELINE_DATABASE_URL: no database name in the URL"
  [[ ${db_url[base]} != "$url" ]] || die "BENCH_BASELINE_DATABASE_URL names the same database as BENCH_DATABASE_URL"
  if [[ $backend == mysql ]]; then
    client_cnf[base]=$tmp/base.cnf
    mysql_cnf "${db_url[base]}" "${client_cnf[base]}"
  fi
  if [[ -z ${BENCH_BASELINE_DATABASE_URL:-} ]] && ! sql base "SELECT 1" >/dev/null 2>&1; then
    say "creating the baseline's database $base_name beside $name"
    case $backend in
      postgres) sql new "CREATE DATABASE \"${base_name//\"/\"\"}\"" ;;
      mysql) sql new "CREATE DATABASE IF NOT EXISTS \`${base_name//\`/\`\`}\`" ;;
    esac || die "cannot create database $base_name: create it, or set BENCH_BASELINE_DATABASE_URL to a database the script may wipe"
  fi
fi

service_url[new]=${BENCH_SERVICE_DATABASE_URL:-$url}
if [[ -n ${BENCH_BASELINE_BIN:-} ]]; then
  if [[ -n ${BENCH_SERVICE_DATABASE_URL:-} && -z ${BENCH_BASELINE_SERVICE_DATABASE_URL:-} ]]; then
    die "BENCH_SERVICE_DATABASE_URL is set: set BENCH_BASELINE_SERVICE_DATABASE_URL too (the baseline's database reached the same way)"
  fi
  service_url[base]=${BENCH_BASELINE_SERVICE_DATABASE_URL:-${db_url[base]}}
fi

# ---------------------------------------------------------------------------------------------
# Authentication: the repository's OpenID Connect provider, and one token for the whole run.
# auth[BUILD] = 1 when that build gets an auth-on service; auth_note says why not, if not.
declare -A auth=([new]=0 [base]=0)
auth_note='' token='' subject=''
skip_auth() { # $* = why
  [[ $auth_mode == 1 ]] && die "BENCH_AUTH=1, but $*"
  auth_note="auth-on rows SKIPPED: $*"
  say "$auth_note"
}
start_provider() {
  # shellcheck source=scripts/lib/oidc-provider.sh
  source scripts/lib/oidc-provider.sh
  if ! oidc_provider_check_node 2>"$tmp/node.err"; then
    cat "$tmp/node.err" >&2
    skip_auth "$(head -n 1 "$tmp/node.err" | sed 's/ Install .*//') The OpenID Connect provider" \
      "(tools/oidc-provider) needs Node.js 20.19 or later and npm (BENCH_AUTH=0 leaves these rows out)"
    return
  fi
  if ! oidc_provider_install; then
    skip_auth "npm could not install tools/oidc-provider's packages (its output is above)"
    return
  fi
  local secret issuer scopes line='' attempt
  secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  # Three attempts: node 20 was seen to hang for good, now and then, while the provider made
  # its signing keys at start-up (a deadlock in generateKeyPairSync).
  for attempt in 1 2 3; do
    node "$OIDC_PROVIDER_DIR/provider.mjs" --port 0 --audience "$audience" --token-ttl "$token_ttl" \
      --clients "[{\"client_id\": \"notes-bench\", \"client_secret\": \"$secret\", \"scope\": \"*\"}]" \
      --openapi "$PWD/openapi.json" \
      >"$tmp/oidc.out" 2>"$tmp/oidc.log" &
    provider=$!
    for _ in $(seq 200); do
      line=$(grep -m 1 '^oidc-provider ready: ' "$tmp/oidc.out" || true)
      [[ -n $line ]] && break 2
      alive "$provider" || { stop_pid "$provider"; provider=''; cat "$tmp/oidc.log" >&2; die "the OpenID Connect provider exited (its log is above)"; }
      sleep 0.1
    done
    say "the OpenID Connect provider was not ready after 20 s (attempt $attempt of 3)"
    stop_pid "$provider"
    provider=''
  done
  [[ -n $line ]] || { cat "$tmp/oidc.log" >&2; die "the OpenID Connect provider did not start (its log is above)"; }
  taskset -acp 1 "$provider" >/dev/null # off the services' core
  issuer=$(sed -n 's/.*issuer=\([^ ]*\).*/\1/p' <<<"$line")
  # Every scope the API declares (openapi.json), as the provider printed them.
  scopes=$(sed -n 's/^oidc-provider scopes: //p' "$tmp/oidc.out")
  token=$(curl -sS -f -u "notes-bench:$secret" -d grant_type=client_credentials \
    --data-urlencode "scope=$scopes" "$issuer/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p') ||
    die "the provider at $issuer refused a token (its log: $(tail -n 3 "$tmp/oidc.log"))"
  [[ -n $token ]] || die "no access token in the provider's answer"
  subject=$(node -e 'let t = ""; process.stdin.on("data", (d) => (t += d)).on("end", () =>
    console.log(JSON.parse(Buffer.from(t.trim().split(".")[1], "base64url")).sub))' <<<"$token")
  [[ $subject =~ ^[A-Za-z0-9._:@-]+$ ]] || die "unexpected subject in the token: $subject"
  auth_issuer=$issuer
  say "OpenID Connect provider at $issuer; one token for subject $subject, valid $token_ttl s"
  local build
  for build in "${builds[@]}"; do
    if knows "$build" auth issuer; then
      auth[$build]=1
    else
      say "${label[$build]}: no auth.issuer in its config/default.toml (it predates authentication): no auth-on rows"
    fi
  done
}
if [[ $auth_mode == 0 ]]; then
  auth_note="auth-on rows left out (BENCH_AUTH=0)"
else
  start_provider
fi

# ---------------------------------------------------------------------------------------------
# The services. An instance is a build with authentication off (named as the build) or on
# (BUILD-auth); each listens on a port of its own and runs on core 0.
declare -A instance_build=([new]=new [base]=base [new-auth]=new [base-auth]=base)
declare -A instance_auth=([new]=0 [base]=0 [new-auth]=1 [base-auth]=1)
declare -A instance_port=([new]=$port [base]=$((port + 1)) [new-auth]=$((port + 2)) [base-auth]=$((port + 3)))
address() { echo "http://127.0.0.1:${instance_port[$1]}"; }

start_server() { # $1 = instance
  local instance=$1 build=${instance_build[$1]} p=${instance_port[$1]}
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    die "port $p is already in use: set BENCH_PORT (the script uses it and the next three)"
  fi
  # Only settings the build knows: an older baseline refuses unknown keys. No balancer in
  # front: no drain when the script stops it.
  local -a settings=(DATABASE_URL="${service_url[$build]}" APP_ENV=production APP_CONFIG_DIR="${config_dir[$build]}"
    APP__SERVER__HOST=127.0.0.1 APP__SERVER__PORT="$p" APP__LOG__LEVEL=warn)
  if knows "$build" server drain_seconds; then settings+=(APP__SERVER__DRAIN_SECONDS=0); fi
  if ((instance_auth[$instance])); then settings+=(APP__AUTH__ISSUER="$auth_issuer" APP__AUTH__AUDIENCE="$audience"); fi
  env -u APP__AUTH__ISSUER -u APP__AUTH__AUDIENCE "${settings[@]}" \
    taskset -c 0 "${bin[$build]}" >>"$tmp/server-$instance.log" 2>&1 &
  server_pid[$instance]=$!
  for _ in $(seq 300); do
    if ! alive "${server_pid[$instance]}"; then
      stop_pid "${server_pid[$instance]}"
      unset "server_pid[$instance]"
      tail -n 20 "$tmp/server-$instance.log" >&2
      die "${label[$build]}: the service exited during start-up (its log is above)"
    fi
    curl -sf -o /dev/null --max-time 2 "$(address "$instance")/health/ready" && return 0
    sleep 0.1
  done
  tail -n 20 "$tmp/server-$instance.log" >&2
  die "${label[$build]}: the service was not ready after 30 s (its log is above)"
}

stop_server() { # $1 = instance
  stop_pid "${server_pid[$1]}"
  unset "server_pid[$1]"
}

# ---------------------------------------------------------------------------------------------
# The data: the build's own `migration fresh`, one note created through the build's own API (so
# the timestamp columns hold exactly what it writes), then COUNT-1 more by bulk SQL with the same
# timestamps, alternately not completed and completed. Only these columns are written (and
# `owner`, the token's subject, when the build serves auth-on): columns added later with defaults
# keep their defaults.
declare -A load_insert load_analyze
fill_table() { # $1 = build, $2 = how many notes
  local build=$1 count=$2 created updated started inserted owner_column='' owner_value=''
  DATABASE_URL=${db_url[$build]} "${migrator[$build]}" fresh >"$tmp/migration.log" 2>&1 ||
    { cat "$tmp/migration.log" >&2; die "${label[$build]}: migration fresh failed (its output is above)"; }
  start_server "$build"
  curl -sS -f -o "$tmp/template.json" "$(address "$build")/notes" \
    -H 'content-type: application/json' -d '{"text":"note 1","completed":false}' ||
    die "POST /notes failed while creating the first note"
  stop_server "$build"

  if ((auth[$build])); then
    local has_owner
    case $backend in
      sqlite) has_owner=$(sql "$build" "SELECT COUNT(*) FROM pragma_table_info('notes') WHERE name = 'owner'") ;;
      postgres) has_owner=$(sql "$build" "SELECT COUNT(*) FROM information_schema.columns
                                          WHERE table_schema = current_schema() AND table_name = 'notes' AND column_name = 'owner'") ;;
      mysql) has_owner=$(sql "$build" "SELECT COUNT(*) FROM information_schema.columns
                                       WHERE table_schema = DATABASE() AND table_name = 'notes' AND column_name = 'owner'") ;;
    esac
    ((has_owner == 1)) || die "${label[$build]}: it knows auth.issuer, but its notes table has no owner column"
    owner_column=', owner' owner_value=", '$subject'"
    sql "$build" "UPDATE notes SET owner = '$subject'"
  fi

  case $backend in
    sqlite) IFS=$'\t' read -r created updated < <(sql "$build" "SELECT quote(created_at), quote(updated_at) FROM notes") ;;
    postgres) IFS=$'\t' read -r created updated < <(sql "$build" "SELECT quote_literal(created_at) || '::timestamptz',
                                                                  quote_literal(updated_at) || '::timestamptz' FROM notes") ;;
    mysql) IFS=$'\t' read -r created updated < <(sql "$build" "SELECT QUOTE(created_at), QUOTE(updated_at) FROM notes") ;;
  esac
  [[ -n $created && -n $updated ]] || die "cannot read the first note back from the database"

  started=$EPOCHREALTIME
  case $backend in
    sqlite)
      sql "$build" "WITH RECURSIVE g(n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM g WHERE n < $count)
                    INSERT INTO notes (text, completed, created_at, updated_at$owner_column)
                    SELECT 'note ' || n, n % 2 = 0, $created, $updated$owner_value FROM g;" ;;
    postgres)
      sql "$build" "INSERT INTO notes (text, completed, created_at, updated_at$owner_column)
                    SELECT 'note ' || n, n % 2 = 0, $created, $updated$owner_value FROM generate_series(2, $count) AS g(n);" ;;
    mysql)
      local depth=cte_max_recursion_depth # MySQL's name; MariaDB's is max_recursive_iterations
      [[ $(sql "$build" "SELECT VERSION()") == *MariaDB* ]] && depth=max_recursive_iterations
      sql "$build" "SET SESSION $depth = $count;
                    INSERT INTO notes (text, completed, created_at, updated_at$owner_column)
                    WITH RECURSIVE g(n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM g WHERE n < $count)
                    SELECT CONCAT('note ', n), n % 2 = 0, $created, $updated$owner_value FROM g;" ;;
  esac
  inserted=$EPOCHREALTIME
  case $backend in
    sqlite) sql "$build" "ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null ;;
    postgres) sql "$build" "VACUUM (ANALYZE) notes;" ;;
    mysql) sql "$build" "ANALYZE TABLE notes;" >/dev/null ;;
  esac
  load_insert[$build,$count]=$(awk -v a="$started" -v b="$inserted" 'BEGIN { printf "%.2f", b - a }')
  load_analyze[$build,$count]=$(awk -v a="$inserted" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')

  local have
  have=$(count_notes "$build")
  ((have == count)) || die "the table holds $have notes, not $count"
}

count_notes() { sql "$1" "SELECT COUNT(*) FROM notes"; } # $1 = build
ids_at() { sql "$1" "SELECT id FROM notes ORDER BY id LIMIT $3 OFFSET $2"; } # $1 = build, $2 = ids before, $3 = how many

# ---------------------------------------------------------------------------------------------
# Measuring. Results go into these arrays, keyed "TABLE,REQUEST,BUILD" (TABLE = its number of
# notes): req/s, p99 in ms, and µs of the service's CPU per request.
declare -A rps p99 cpu rows first_ids peak_rss wal_after path patch_ids stuck
served_count=0 # requests served in the last measurement
# In the order they are measured (`cold` is measured first, right after the start).
# Writes last (POSTs grow the table), PATCH last of all: the POSTs' check (a note for every
# answer) must not see what a PATCH run leaves behind.
requests=(first first_auth cursor filtered desc get get_auth post post_key patch)
shown=(first first_auth cold cursor filtered desc get get_auth post post_key patch)
declare -A title=(
  [first]="GET /notes?limit=$page (first page)"
  [first_auth]="  the same, auth on (bearer token)"
  [cold]="  the same, 1st second after start"
  [cursor]="  after=<id at 90%>"
  [filtered]="  after=<id at 90%>&completed=true"
  [desc]="  order=desc&after=<id at 10%>"
  [get]="GET /notes/{id} (a middle id)"
  [get_auth]="  the same, auth on (bearer token)"
  [patch]="PATCH /notes/{id} {\"completed\":...}"
  [post]="POST /notes"
  [post_key]="  with a fresh Idempotency-Key"
)
cat >"$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text":"a benchmark note","completed":false}'
LUA
# Keys PREFIX-THREAD-N: PREFIX (the script's argument) is new in every run, THREAD tells wrk's
# threads apart, N counts the thread's requests, so no key is ever sent twice.
cat >"$tmp/post-key.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text":"a benchmark note","completed":false}'
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("number", threads)
end
local prefix, sent = "", 0
function init(args)
  prefix = args[1] .. "-" .. number .. "-"
end
function request()
  sent = sent + 1
  wrk.headers["Idempotency-Key"] = prefix .. sent
  return wrk.format()
end
LUA
# A small merge patch, each id in turn (the script's arguments), switching `completed` between
# true and false from one round over the ids to the next.
cat >"$tmp/patch.lua" <<'LUA'
wrk.method = "PATCH"
wrk.headers["Content-Type"] = "application/merge-patch+json"
local ids, sent = {}, 0
function init(args)
  for i, id in ipairs(args) do ids[i] = id end
end
function request()
  local id = ids[sent % #ids + 1]
  local completed = math.floor(sent / #ids) % 2 == 0
  sent = sent + 1
  return wrk.format(nil, "/notes/" .. id, nil, '{"completed":' .. tostring(completed) .. '}')
end
LUA

name() { # $1 = request: what it is, for messages
  case $1 in
    first_auth) echo "GET /notes?limit=$page with auth on" ;;
    cold) echo "GET /notes?limit=$page in the first second after start" ;;
    cursor | filtered | desc) echo "GET /notes?limit=$page&${title[$1]#  }" ;;
    get_auth) echo "GET /notes/{id} with auth on" ;;
    post_key) echo "POST /notes with a fresh Idempotency-Key" ;;
    *) echo "${title[$1]%% (*}" ;;
  esac
}
bearer() { # $1 = instance: curl/wrk arguments carrying the token when the instance needs one
  if ((instance_auth[$1])); then printf '%s\n' -H "Authorization: Bearer $token"; fi
}

check() { # $1 = table, $2 = request, $3 = instance, $4 = path: one GET by curl, which must answer 2xx
  local status build=${instance_build[$3]} request=$2 how=''
  local -a headers
  mapfile -t headers < <(bearer "$3")
  if ((instance_auth[$3])); then how=', auth on'; fi
  status=$(curl -sS -o "$tmp/body.json" -w '%{http_code}' "${headers[@]}" "$(address "$3")$4") || die "GET $4: no answer"
  [[ $status == 2?? ]] || die "GET $4 (${label[$build]}$how) answered $status: $(head -c 300 "$tmp/body.json")"
  rows[$1,$request,$build]=$(grep -o '"id":' "$tmp/body.json" | wc -l)
  first_ids[$1,$request,$build]=$(grep -o '"id":[0-9]*' "$tmp/body.json" | head -n 1 | cut -d: -f2)
}

cpu_ticks() { # $1 = pid: its user + system CPU time so far, all threads, in clock ticks
  local stat
  stat=$(<"/proc/$1/stat") || die "cannot read /proc/$1/stat"
  local -a fields
  read -ra fields <<<"${stat##*) }" # after the command name, fields 3 onwards
  echo $((fields[11] + fields[12]))  # fields 14 (utime) and 15 (stime)
}

to_ms() { # wrk's latency (850.00us, 4.01ms, 1.20s) in ms
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000; else if (u != "ms") exit 1
    printf "%.2f", n }'
}

# wrk's own timeout is 2 s, and requests over it are counted as errors and left out of the
# latencies: 10 s keeps a slow page (say, one that counts a large table) in the figures.
measure() { # $1 = table, $2 = request, $3 = instance, $4 = seconds, then wrk's arguments
  local table=$1 request=$2 instance=$3 duration=$4 build=${instance_build[$3]} out before after served
  local pid=${server_pid[$3]}
  shift 4
  before=$(cpu_ticks "$pid")
  out=$(taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" --timeout 10s --latency "$@") ||
    die "wrk failed on $(name "$request") (${label[$build]}): $out"
  after=$(cpu_ticks "$pid")
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "$out" >&2
    die "$(name "$request") on the $table-note table (${label[$build]}): some requests failed (wrk's report is above)"
  fi
  served=$(awk '$2 == "requests" && $3 == "in" { print $1 }' <<<"$out")
  ((served > 0)) || { echo "$out" >&2; die "$(name "$request"): no request served (wrk's report is above)"; }
  rps[$table,$request,$build]=$(awk '$1 == "Requests/sec:" { printf "%.0f", $2 }' <<<"$out")
  p99[$table,$request,$build]=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")") ||
    die "cannot read wrk's p99 latency: $out"
  cpu[$table,$request,$build]=$(awk -v t=$((after - before)) -v hz="$clk_tck" -v n="$served" \
    'BEGIN { printf "%.1f", t / hz / n * 1000000 }')
  served_count=$served
}

run() { # $1 = table, $2 = request, $3 = build
  local table=$1 request=$2 build=$3 instance=$3 before created key
  [[ $request == *_auth ]] && instance=$build-auth
  local base_url
  base_url=$(address "$instance")
  case $request in
    first | cursor | filtered | desc | get)
      measure "$table" "$request" "$instance" "$seconds" "$base_url${path[$table,$request,$build]}" ;;
    first_auth | get_auth)
      measure "$table" "$request" "$instance" "$seconds" -H "Authorization: Bearer $token" \
        "$base_url${path[$table,${request%_auth},$build]}" ;;
    patch)
      # shellcheck disable=SC2086 # the ids, one argument each
      measure "$table" patch "$instance" "$seconds" -s "$tmp/patch.lua" "$base_url/notes" -- ${patch_ids[$table,$build]} ;;
    post | post_key)
      before=$(count_notes "$build")
      key=$(tr -d - </proc/sys/kernel/random/uuid)
      if [[ $request == post ]]; then
        measure "$table" post "$instance" "$seconds" -s "$tmp/post.lua" "$base_url/notes"
      else
        measure "$table" post_key "$instance" "$seconds" -s "$tmp/post-key.lua" "$base_url/notes" -- "$key"
      fi
      # Every answered POST made a note (a replayed answer would not): a check on the keys too.
      created=$(($(count_notes "$build") - before))
      ((created >= served_count)) ||
        die "$(name "$request") (${label[$build]}): $served_count answers but only $created new notes:" \
          "answers were replayed, or notes acknowledged but not committed"
      ;;
  esac
  if [[ $request == post* || $request == patch ]]; then
    sleep 0.5
    stuck[$table,$request,$build]=$(open_transactions "$build")
  fi
}

# Connections of the service left inside a transaction once wrk has stopped. wrk ends a run by
# closing connections with requests in flight; a request cut off inside a transaction must roll
# it back, or the next requests on that pooled connection run inside it, uncommitted. Not
# visible from outside on SQLite.
open_transactions() { # $1 = build
  case $backend in
    sqlite) echo 0 ;;
    postgres) sql "$1" "SELECT COUNT(*) FROM pg_stat_activity
                        WHERE datname = current_database() AND state LIKE 'idle in transaction%'" ;;
    mysql) sql "$1" "SELECT COUNT(*) FROM information_schema.innodb_trx t
                     JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id
                     WHERE p.db = DATABASE() AND p.command = 'Sleep'" ;;
  esac
}

# Samples the services' resident memory (KiB) every 0.2 s, on wrk's core, until stopped.
start_sampler() { # $1 = table
  local -a watched=()
  local instance
  for instance in "${!server_pid[@]}"; do watched+=("$instance=${server_pid[$instance]}"); done
  while :; do
    for instance in "${watched[@]}"; do
      echo "${instance%%=*} $(ps -o rss= -p "${instance#*=}" || echo 0)"
    done
    # SQLite: the size of each build's write-ahead log (the -wal file), in KiB.
    for build in "${!sqlite_file[@]}"; do
      echo "wal-$build $(($(stat -c %s "${sqlite_file[$build]}-wal" 2>/dev/null || echo 0) / 1024))"
    done
    sleep 0.2
  done >"$tmp/rss-$1" &
  sampler=$!
  taskset -cp 1 "$sampler" >/dev/null
}
stop_sampler() { # $1 = table
  stop_pid "$sampler"
  sampler=''
  local instance
  for instance in new base new-auth base-auth wal-new wal-base; do
    peak_rss[$1,$instance]=$(awk -v i="$instance" '$1 == i && $2 > m { m = $2 } END { if (m) printf "%.1f", m / 1024 }' "$tmp/rss-$1")
  done
  local build
  for build in "${!sqlite_file[@]}"; do
    wal_after[$1,$build]=$(awk -v s="$(stat -c %s "${sqlite_file[$build]}-wal" 2>/dev/null || echo 0)" 'BEGIN { printf "%.1f", s / 1048576 }')
  done
}

bench_table() { # $1 = how many notes
  local table=$1 build request instance deep shallow middle first_page="/notes?limit=$page"
  for build in "${builds[@]}"; do
    say "$table-note table: creating it (${label[$build]})"
    fill_table "$build" "$table"
    say "$table-note table: created in ${load_insert[$build,$table]} s, analyzed in ${load_analyze[$build,$table]} s"
    # Ids from the database, not assumed. The two cursors leave exactly 10% of the table beyond
    # them in their listing order: `deep` for ascending pages, `shallow` for order=desc.
    deep=$(ids_at "$build" $((table - table / 10 - 1)) 1)
    shallow=$(ids_at "$build" $((table / 10)) 1)
    middle=$(ids_at "$build" $((table / 2)) 1)
    path[$table,first,$build]=$first_page
    path[$table,cursor,$build]="$first_page&after=$deep"
    path[$table,filtered,$build]="$first_page&after=$deep&completed=true"
    path[$table,desc,$build]="$first_page&order=desc&after=$shallow"
    path[$table,get,$build]="/notes/$middle"
    patch_ids[$table,$build]=$(ids_at "$build" $((table / 2)) "$connections" | tr '\n' ' ')
  done

  # Cold start: the first second of load, right after each service reports ready.
  for build in "${builds[@]}"; do
    start_server "$build"
    measure "$table" cold "$build" 1 "$(address "$build")$first_page"
  done
  for build in "${builds[@]}"; do
    if ((auth[$build])); then start_server "$build-auth"; fi
  done

  for build in "${builds[@]}"; do
    for request in first cursor filtered desc get; do check "$table" $request "$build" "${path[$table,$request,$build]}"; done
    ((auth[$build])) || continue
    local status
    status=$(curl -sS -o /dev/null -w '%{http_code}' "$(address "$build-auth")$first_page") || die "GET $first_page: no answer"
    [[ $status == 401 ]] || die "${label[$build]}: with auth on, GET $first_page without a token answered $status, not 401"
    check "$table" first_auth "$build-auth" "${path[$table,first,$build]}"
    check "$table" get_auth "$build-auth" "${path[$table,get,$build]}"
    ((rows[$table,first_auth,$build] == rows[$table,first,$build])) ||
      die "${label[$build]}: with auth on the first page lists ${rows[$table,first_auth,$build]} notes, not ${rows[$table,first,$build]}: are they the token's subject's?"
  done

  # Warm up (open the pools' connections, prepare the statements, verify the token), then measure.
  for instance in "${!server_pid[@]}"; do
    local -a headers
    mapfile -t headers < <(bearer "$instance")
    taskset -c 1 wrk -t1 -c"$connections" -d"$(((seconds + 4) / 5))s" "${headers[@]}" "$(address "$instance")$first_page" >/dev/null
  done
  say "$table-note table: measuring, ${seconds} s per request and build"
  start_sampler "$table"
  for request in "${requests[@]}"; do
    for build in "${builds[@]}"; do
      [[ $request == *_auth ]] && ((!auth[$build])) && continue
      run "$table" "$request" "$build" # writes last: they grow the table
    done
  done
  stop_sampler "$table"
  for instance in "${!server_pid[@]}"; do stop_server "$instance"; done
}

say "backend $backend; tables of $small and $notes notes; wrk -c$connections, ${seconds} s per request"
read -r load_before _ </proc/loadavg
bench_table $small
bench_table "$notes"

# ---------------------------------------------------------------------------------------------
# The report.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
have_base() { [[ ${#builds[@]} -gt 1 ]]; }
echo
echo "notes-service on $backend; wrk -t1 -c$connections, ${seconds} s per request; services on core 0, wrk on core 1"
for build in "${builds[@]}"; do echo "  ${label[$build]}: ${bin[$build]} (${commit[$build]})"; done
read -r load_after _ </proc/loadavg
echo "Load average (1 min) $load_before at the start, $load_after at the end: other work on the machine skews the figures."
echo "CPU = the service's user + system time over the run (/proc/PID/stat), per request served."
if [[ -n $auth_note ]]; then echo "NOTE: $auth_note."; fi

cell() { printf '%s' "${1:--}"; }
for table in $small "$notes"; do
  echo
  if have_base; then
    printf '%-37s | %-26s | %-26s | %s\n' "$table notes" "this build" "baseline" "this ÷ baseline"
    printf '%-37s | %8s %8s %8s | %8s %8s %8s | %6s %6s %6s\n' request "µs/req" "req/s" "p99 ms" "µs/req" "req/s" "p99 ms" "µs/req" "req/s" p99
  else
    printf '%-37s | %s\n' "$table notes" "this build"
    printf '%-37s | %8s %8s %8s\n' request "µs/req" "req/s" "p99 ms"
  fi
  for request in "${shown[@]}"; do
    [[ -n ${rps[$table,$request,new]:-} || -n ${rps[$table,$request,base]:-} ]] || continue
    printf '%-37s | %8s %8s %8s' "${title[$request]}" "$(cell "${cpu[$table,$request,new]:-}")" \
      "$(cell "${rps[$table,$request,new]:-}")" "$(cell "${p99[$table,$request,new]:-}")"
    if have_base; then
      printf ' | %8s %8s %8s | %6s %6s %6s' "$(cell "${cpu[$table,$request,base]:-}")" \
        "$(cell "${rps[$table,$request,base]:-}")" "$(cell "${p99[$table,$request,base]:-}")" \
        "$(ratio "${cpu[$table,$request,new]:-}" "${cpu[$table,$request,base]:-}")" \
        "$(ratio "${rps[$table,$request,new]:-}" "${rps[$table,$request,base]:-}")" \
        "$(ratio "${p99[$table,$request,new]:-}" "${p99[$table,$request,base]:-}")"
    fi
    echo
  done
done

for key in "${!stuck[@]}"; do
  ((stuck[$key] > 0)) || continue
  IFS=, read -r table request build <<<"$key"
  echo
  echo "WARNING: ${label[$build]}: after $(name "$request") on the $table-note table, ${stuck[$key]} of the service's"
  echo "  database connections stayed idle in a transaction: requests cut off by the end of the wrk run did not"
  echo "  roll theirs back, and later requests on those pooled connections run inside them. Their writes are"
  echo "  acknowledged but not committed: they appear at a later COMMIT on that connection, or are lost."
done

echo
echo "Large table ÷ $small-note table, this build (1.00 = the table's size costs nothing):"
printf '%-37s %12s %12s\n' request "req/s" "µs/request"
for request in "${shown[@]}"; do
  [[ $request != cold && -n ${rps[$notes,$request,new]:-} ]] || continue
  printf '%-37s %12s %12s\n' "${title[$request]}" "$(ratio "${rps[$notes,$request,new]}" "${rps[$small,$request,new]}")" \
    "$(ratio "${cpu[$notes,$request,new]}" "${cpu[$small,$request,new]}")"
done

echo
echo "Depth in the $notes-note table: req/s of a page 90% deep ÷ req/s of the first page (1.00 = depth costs nothing)"
for request in cursor filtered desc; do
  printf '  %-35s' "${title[$request]#  }"
  for build in "${builds[@]}"; do printf ' %6s' "$(ratio "${rps[$notes,$request,$build]}" "${rps[$notes,first,$build]}")"; done
  have_base && printf '   (this build, baseline)'
  echo
done

echo
if [[ -n $token ]]; then
  echo "Auth on ÷ auth off, one token reused (req/s ratio, and µs/request ratio in brackets):"
  printf '  %-35s %18s %18s   %s\n' request "$small notes" "$notes notes" target
  for request in first get; do
    for build in "${builds[@]}"; do
      ((auth[$build])) || continue
      line="${title[$request]%% (*}"
      [[ $build == base ]] && line="  baseline"
      printf '  %-35s' "$line"
      for table in $small "$notes"; do
        printf ' %18s' "$(ratio "${rps[$table,${request}_auth,$build]}" "${rps[$table,$request,$build]}") ($(ratio "${cpu[$table,${request}_auth,$build]}" "${cpu[$table,$request,$build]}"))"
      done
      if [[ $build == new ]]; then printf '   ≥ %s' "$([[ $request == first ]] && echo 0.90 || echo 0.85)"; fi
      echo
    done
  done
else
  echo "Auth on ÷ auth off: not measured ($auth_note)."
fi

echo
echo "POST with a fresh Idempotency-Key ÷ plain POST (req/s ratio, and µs/request ratio in brackets):"
for build in "${builds[@]}"; do
  printf '  %-35s' "${label[$build]}"
  for table in $small "$notes"; do
    printf ' %18s' "$table: $(ratio "${rps[$table,post_key,$build]}" "${rps[$table,post,$build]}") ($(ratio "${cpu[$table,post_key,$build]}" "${cpu[$table,post,$build]}"))"
  done
  if [[ $build == new ]]; then printf '   target ≥ 0.70'; fi
  echo
done

echo
echo "Cold start: p99 of the first second after start ÷ steady p99, GET /notes?limit=$page:"
for build in "${builds[@]}"; do
  printf '  %-35s' "${label[$build]}"
  for table in $small "$notes"; do
    printf '   %s: %s ms ÷ %s ms = %s' "$table" "${p99[$table,cold,$build]}" "${p99[$table,first,$build]}" \
      "$(ratio "${p99[$table,cold,$build]}" "${p99[$table,first,$build]}")"
  done
  if [[ $build == new ]]; then printf '   target ≤ 1.50'; fi
  echo
done

echo
echo "Rows per page, $small / $notes notes: first ${rows[$small,first,new]} / ${rows[$notes,first,new]}," \
  "after ${rows[$small,cursor,new]} / ${rows[$notes,cursor,new]}, completed ${rows[$small,filtered,new]} / ${rows[$notes,filtered,new]}," \
  "desc ${rows[$small,desc,new]} / ${rows[$notes,desc,new]}."
if ((rows[$small,cursor,new] < page || rows[$small,filtered,new] < page || rows[$small,desc,new] < page)); then
  echo "On the $small-note table the deep pages return fewer than $page rows, so they cost less there."
fi
for build in "${builds[@]}"; do
  if [[ ${first_ids[$notes,cursor,$build]} == "${first_ids[$notes,first,$build]}" ]]; then
    echo "NOTE: ${label[$build]}: the service ignores 'after' (no keyset pagination): its deep pages above are first pages."
  fi
done
for build in "${builds[@]}"; do
  line="Peak RSS (ps every 0.2 s), ${label[$build]}: ${peak_rss[$notes,$build]} MiB in the $notes-note run, ${peak_rss[$small,$build]} MiB in the $small-note run"
  if ((auth[$build])); then line+="; with auth on ${peak_rss[$notes,$build-auth]} and ${peak_rss[$small,$build-auth]} MiB"; fi
  echo "$line."
done
if [[ $backend == sqlite ]]; then
  for build in "${builds[@]}"; do
    echo "SQLite write-ahead log (the -wal file, every 0.2 s), ${label[$build]}: peak ${peak_rss[$notes,wal-$build]:-0} MiB" \
      "in the $notes-note run, ${peak_rss[$small,wal-$build]:-0} MiB in the $small-note run; ${wal_after[$notes,$build]} MiB" \
      "at the end$([[ $build == new ]] && echo '   target: peak < 64 MiB')."
  done
fi
for build in "${builds[@]}"; do
  echo "Creating the $notes-note table (${label[$build]}) took ${load_insert[$build,$notes]} s of bulk SQL" \
    "($(ratio "$notes" "${load_insert[$build,$notes]}" | cut -d. -f1) notes/s), then ${load_analyze[$build,$notes]} s to analyze it."
done
