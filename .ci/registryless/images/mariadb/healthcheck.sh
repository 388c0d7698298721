#!/bin/sh
# Compose healthcheck for notes-ci/mariadb: succeeds once the final server
# answers over its socket (root@localhost authenticates via unix_socket).
# Arguments (e.g. the official image's --connect --innodb_initialized) are ignored.
# Exits 1 while the init-time temporary server runs (it uses a separate socket).
exec mariadb --protocol=socket --user=root --batch --skip-column-names -e 'SELECT 1' >/dev/null
