#!/bin/sh
# Applies the numbered migrations in sql/migrations that the database has
# not recorded yet, each in its own transaction together with its record,
# in file-name order. Usage: sql/migrate.sh DATABASE_URL
set -eu

url=${1:?usage: migrate.sh DATABASE_URL}
dir=$(cd "$(dirname "$0")/migrations" && pwd)

psql_quiet() {
    psql "$url" -X -q -v ON_ERROR_STOP=1 "$@"
}

psql_quiet -c "CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp())"

for file in "$dir"/[0-9][0-9][0-9]_*.sql; do
    version=$(basename "$file" .sql)
    applied=$(psql_quiet -At -c "SELECT 1 FROM schema_migrations WHERE version = '$version'")
    [ -n "$applied" ] && continue
    echo "migrate: applying $version"
    # The advisory lock makes a second migrator wait instead of applying the
    # same file twice.
    psql_quiet -1 -c "SELECT pg_advisory_xact_lock(7262)" \
        -c "DO \$\$ BEGIN IF EXISTS (SELECT 1 FROM schema_migrations WHERE version = '$version') THEN RAISE EXCEPTION 'already applied'; END IF; END \$\$" \
        -f "$file" \
        -c "INSERT INTO schema_migrations (version) VALUES ('$version')" >/dev/null
done
