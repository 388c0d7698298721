#!/usr/bin/env bash
# Entrypoint of notes-ci/mariadb: the part of the official mariadb image's
# docker-entrypoint.sh that CI and docker compose rely on.
#
#   env  MARIADB_ROOT_PASSWORD | MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 |
#        MARIADB_RANDOM_ROOT_PASSWORD=1 (one is required), MARIADB_ROOT_HOST (%),
#        MARIADB_DATABASE, MARIADB_USER, MARIADB_PASSWORD; MYSQL_* aliases accepted
#   args `mariadbd [opts]` or just options, passed to the server
#   init files in /docker-entrypoint-initdb.d: *.sql, *.sql.gz, *.sh (first start only)
#
# Log contract (the testcontainers Mariadb module waits on stderr for
# "mariadbd: ready for connections." then "port: 3306"): initialisation runs in
# a temporary socket-only server whose log goes to STDOUT, so STDERR carries only
# the final server, started as /usr/sbin/mariadbd (argv[0] prefixes its ready line).
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
  set -- mariadbd "$@"
fi
case "$1" in
  mariadbd|mysqld|/usr/sbin/mariadbd|/usr/sbin/mysqld) shift; set -- /usr/sbin/mariadbd "$@" ;;
  *) exec "$@" ;;
esac

datadir=/var/lib/mysql

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$datadir" /run/mysqld
  find "$datadir" /run/mysqld \! -user mysql -exec chown mysql:mysql '{}' +
  exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
fi

# SQL literal / identifier escaping.
sql_str() { local s=${1//\\/\\\\}; s=${s//\'/\\\'}; printf "'%s'" "$s"; }
# shellcheck disable=SC2016 # literal backquotes
sql_id()  { printf '`%s`' "${1//\`/\`\`}"; }

if [ ! -d "$datadir/mysql" ]; then
  : "${MARIADB_ROOT_PASSWORD:=${MYSQL_ROOT_PASSWORD:-}}"
  : "${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:=${MYSQL_ALLOW_EMPTY_PASSWORD:-}}"
  : "${MARIADB_RANDOM_ROOT_PASSWORD:=${MYSQL_RANDOM_ROOT_PASSWORD:-}}"
  : "${MARIADB_ROOT_HOST:=${MYSQL_ROOT_HOST:-%}}"
  : "${MARIADB_DATABASE:=${MYSQL_DATABASE:-}}"
  : "${MARIADB_USER:=${MYSQL_USER:-}}"
  : "${MARIADB_PASSWORD:=${MYSQL_PASSWORD:-}}"

  if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
    MARIADB_ROOT_PASSWORD=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
    echo "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
  elif [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ]; then
    echo 'error: set one of MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD, MARIADB_RANDOM_ROOT_PASSWORD' >&2
    exit 1
  fi

  echo 'Initializing database files'
  mariadb-install-db --datadir="$datadir" --rpm --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve --skip-log-bin "${@:2}"

  # Temporary server: no TCP, its own socket (so the healthcheck stays red), log to stdout.
  init_sock=/run/mysqld/init.sock
  "$@" --skip-networking --socket="$init_sock" --skip-log-bin 2>&1 &
  init_pid=$!
  client=(mariadb --protocol=socket --socket="$init_sock" --user=root --batch)
  for _ in $(seq 60); do
    "${client[@]}" -e 'SELECT 1' >/dev/null 2>&1 && break
    kill -0 "$init_pid" 2>/dev/null || { echo 'error: temporary server died' >&2; exit 1; }
    sleep 0.5
  done
  "${client[@]}" -e 'SELECT 1' >/dev/null

  pw=$(sql_str "$MARIADB_ROOT_PASSWORD")
  {
    # Drop anonymous users and the root@<build hostname> entries of mariadb-install-db.
    echo "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');"
    echo "DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';"
    echo "FLUSH PRIVILEGES;"
    # root@localhost: unix socket (entrypoint, healthcheck) or the password.
    echo "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD($pw);"
    if [ "$MARIADB_ROOT_HOST" != localhost ]; then
      host=$(sql_str "$MARIADB_ROOT_HOST")
      echo "CREATE USER 'root'@$host IDENTIFIED BY $pw;"
      echo "GRANT ALL ON *.* TO 'root'@$host WITH GRANT OPTION;"
      echo "GRANT PROXY ON ''@'%' TO 'root'@$host WITH GRANT OPTION;"
    fi
    if [ -n "$MARIADB_DATABASE" ]; then
      echo "CREATE DATABASE IF NOT EXISTS $(sql_id "$MARIADB_DATABASE");"
    fi
    if [ -n "$MARIADB_USER" ]; then
      echo "CREATE USER $(sql_str "$MARIADB_USER")@'%' IDENTIFIED BY $(sql_str "$MARIADB_PASSWORD");"
      if [ -n "$MARIADB_DATABASE" ]; then
        echo "GRANT ALL ON $(sql_id "$MARIADB_DATABASE").* TO $(sql_str "$MARIADB_USER")@'%';"
      fi
    fi
  } | "${client[@]}"
  # From here on root@localhost needs the password (we run as OS user mysql,
  # so unix_socket does not apply); the client reads it from MYSQL_PWD.
  export MYSQL_PWD=$MARIADB_ROOT_PASSWORD

  dbargs=()
  if [ -n "$MARIADB_DATABASE" ]; then dbargs=(--database="$MARIADB_DATABASE"); fi
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    # shellcheck disable=SC1090 # init scripts are the user's
    case "$f" in
      *.sh)     echo "running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql)    echo "running $f"; "${client[@]}" "${dbargs[@]}" < "$f" ;;
      *.sql.gz) echo "running $f"; gunzip -c "$f" | "${client[@]}" "${dbargs[@]}" ;;
      *)        echo "ignoring $f" ;;
    esac
  done

  "${client[@]}" -e 'SHUTDOWN'
  wait "$init_pid" || true
  unset MYSQL_PWD
  echo 'MariaDB init process done. Ready for start up.'
fi

# Final server: logs to stderr.
exec "$@"
