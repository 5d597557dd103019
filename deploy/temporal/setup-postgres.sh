#!/bin/sh
# One-shot (temporal-schema in docker-compose.yml, image temporalio/admin-tools): creates the
# Temporal and visibility databases on first start and brings both schemas to the version of the
# pinned admin-tools image on every start. Safe to run again: nothing is reset.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
PORT=${DB_PORT:-5432}
SCHEMA=/etc/temporal/schema/postgresql/v12

sql() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$PORT" -u "$POSTGRES_USER" "$@"
}

ensure() {
  db=$1
  versioned=$2
  # `create` fails when the database exists (a restart of the stack): that is fine, the update
  # below fails too if the real problem was something else (credentials, network).
  sql --db "$db" create || echo "database $db exists (or could not be created; the update below tells)"
  if ! sql --db "$db" update-schema -d "$versioned"; then
    # A new database has no version tables yet: lay them, then update from version 0.0.
    sql --db "$db" setup-schema -v 0.0
    sql --db "$db" update-schema -d "$versioned"
  fi
}

ensure "${DBNAME:-temporal}" "$SCHEMA/temporal/versioned"
ensure "${VISIBILITY_DBNAME:-temporal_visibility}" "$SCHEMA/visibility/versioned"
echo "Temporal schemas are up to date"
