#!/usr/bin/env bash
# Entrypoint of notes-ci/postgres: the part of the official postgres image's
# docker-entrypoint.sh that CI and docker compose rely on.
#
#   env  POSTGRES_USER (postgres), POSTGRES_PASSWORD (required unless
#        POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB (= POSTGRES_USER),
#        POSTGRES_HOST_AUTH_METHOD (scram-sha-256), POSTGRES_INITDB_ARGS, PGDATA
#   args `postgres [opts]` or just options (`-c fsync=off`), passed to postgres
#   init files in /docker-entrypoint-initdb.d: *.sql, *.sql.gz, *.sh (first start only)
#
# Log contract (the testcontainers Postgres module waits for both lines): on a
# first start a temporary, socket-only server runs the initialisation and logs
# "database system is ready to accept connections" on STDOUT; the final server
# logs the same line on STDERR. With an existing $PGDATA (e.g. a compose volume)
# the server just starts.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@"
fi

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

if [ "$(id -u)" = 0 ]; then
  # Fix ownership (e.g. of a fresh named volume), then drop to the postgres user.
  mkdir -p "$PGDATA" /var/run/postgresql
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
  chmod 700 "$PGDATA"
  chown postgres:postgres /var/run/postgresql
  chmod 2775 /var/run/postgresql
  export HOME=/var/lib/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_USER:=postgres}"
  : "${POSTGRES_DB:=$POSTGRES_USER}"
  : "${POSTGRES_PASSWORD:=}"
  : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    echo "error: POSTGRES_PASSWORD is empty; set it (or POSTGRES_HOST_AUTH_METHOD=trust)" >&2
    exit 1
  fi

  pwargs=()
  if [ -n "$POSTGRES_PASSWORD" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    pwargs=(--pwfile="$pwfile")
  fi
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a word list, as upstream
  initdb --username="$POSTGRES_USER" "${pwargs[@]}" --encoding=UTF8 --locale=C.UTF-8 \
    ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA"
  rm -f "${pwfile:-}"
  # Accept TCP from anywhere with a password (or trust), as the official image does.
  printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"
  printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"

  # Temporary server: no TCP and a private socket directory (so `pg_isready`
  # healthchecks stay red until the final server is up); without -l its log
  # goes to our stdout. Init scripts reach it through PGHOST.
  PGHOST=$(mktemp -d)
  export PGHOST
  tmp_opts=("${@:2}" -c listen_addresses='' -c unix_socket_directories="$PGHOST" -p "${PGPORT:-5432}")
  pg_ctl -D "$PGDATA" -o "$(printf '%q ' "${tmp_opts[@]}")" -w start

  psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --no-password)
  if [ "$POSTGRES_DB" != postgres ]; then
    "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    # shellcheck disable=SC1090 # init scripts are the user's
    case "$f" in
      *.sh)     echo "running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql)    echo "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) echo "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
      *)        echo "ignoring $f" ;;
    esac
  done

  pg_ctl -D "$PGDATA" -m fast -w stop
  rmdir "$PGHOST"
  unset PGHOST
  echo 'PostgreSQL init process complete; ready for start up.'
fi

# Final server: logs to stderr.
exec "$@"
