#!/bin/sh
# First start of the compose PostgreSQL only (docker-entrypoint-initdb.d): creates the login
# Grafana reads with. Its grants come from deploy/grafana/grafana-reader.sql (service
# grafana-grants), run after every migration.
set -eu
psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set=password="$GRAFANA_DB_PASSWORD" <<'SQL'
CREATE ROLE grafana_reader LOGIN PASSWORD :'password';
SQL
