#!/bin/sh
# One-shot: creates the Temporal and visibility databases on first start and brings both schemas to
# the version of the temporal-sql-tool that runs it. Safe to run again: nothing is reset.
# Runs in two places with the same environment (DB, POSTGRES_SEEDS, DB_PORT, POSTGRES_USER,
# SQL_PASSWORD, DBNAME, VISIBILITY_DBNAME):
#   - temporal-schema in docker-compose.yml (image temporalio/admin-tools);
#   - npm run test:production (dev/production/), against a local PostgreSQL, with the
#     temporal-sql-tool built from the same server version first on PATH.
# The schemas are the ones embedded in temporal-sql-tool (--schema-name), so the schema version is
# always the tool's own: no schema directory has to be where the image keeps it.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
PORT=${DB_PORT:-5432}
export SQL_PASSWORD

sql() {
  temporal-sql-tool --plugin "${DB:-postgres12}" --ep "$POSTGRES_SEEDS" -p "$PORT" -u "$POSTGRES_USER" "$@"
}

ensure() {
  db=$1
  schema=$2
  # `create` fails when the database exists (a restart of the stack): that is fine, the update
  # below fails too if the real problem was something else (credentials, network).
  sql --db "$db" create || echo "database $db exists (or could not be created; the update below tells)"
  if ! sql --db "$db" update-schema --schema-name "$schema"; then
    # A new database has no version tables yet: lay them, then update from version 0.0.
    sql --db "$db" setup-schema -v 0.0
    sql --db "$db" update-schema --schema-name "$schema"
  fi
}

ensure "${DBNAME:-temporal}" postgresql/v12/temporal
ensure "${VISIBILITY_DBNAME:-temporal_visibility}" postgresql/v12/visibility
echo "Temporal schemas are up to date ($(temporal-sql-tool --version))"
