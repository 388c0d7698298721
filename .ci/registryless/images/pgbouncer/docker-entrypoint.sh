#!/bin/sh
# Writes the configuration given in the environment (see the Dockerfile), then runs CMD.
set -eu
if [ -n "${PGBOUNCER_INI:-}" ]; then
  printf '%s\n' "$PGBOUNCER_INI" > /etc/pgbouncer/pgbouncer.ini
fi
if [ -n "${PGBOUNCER_USERLIST:-}" ]; then
  printf '%s\n' "$PGBOUNCER_USERLIST" > /etc/pgbouncer/userlist.txt
fi
if [ "${1:-}" = pgbouncer ] && [ ! -r /etc/pgbouncer/pgbouncer.ini ]; then
  echo 'notes-ci/pgbouncer: no configuration: set PGBOUNCER_INI or mount /etc/pgbouncer/pgbouncer.ini' >&2
  exit 1
fi
exec "$@"
