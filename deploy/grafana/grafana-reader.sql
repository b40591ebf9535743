-- Read-only access for Grafana's PostgreSQL data source: the analysis outputs, nothing else.
--
--   psql "<connection of the application role>" --set=reader=grafana_reader \
--        --file=deploy/grafana/grafana-reader.sql
--
-- Run it as the role that owns the tables (the one the services and migrations use), after
-- every migration; it is idempotent. The reader role itself is created once by a database
-- administrator (CREATE ROLE grafana_reader LOGIN PASSWORD '...').
--
-- The reader may SELECT job_summary, job_step_node, job_files and every job_<stem> table,
-- including the ones the workers create later (default privileges). Everything else this role owns (the
-- API's api_* tables with password hashes, the ingest log, the job queue) is revoked again, so
-- a table a later migration adds is hidden at the latest when this script runs next.
\set ON_ERROR_STOP on
SELECT set_config('benchsuite.grafana_reader', :'reader', false);

DO $grants$
DECLARE
    reader text := current_setting('benchsuite.grafana_reader');
    item record;
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', reader);
    EXECUTE format(
        'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO %I', reader
    );
    FOR item IN
        SELECT c.relname
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public'
          AND c.relkind IN ('r', 'p', 'v', 'm')
          AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
    LOOP
        IF item.relname ~ '^job_[a-z0-9_]+$' THEN
            EXECUTE format('GRANT SELECT ON TABLE public.%I TO %I', item.relname, reader);
        ELSE
            EXECUTE format('REVOKE ALL ON TABLE public.%I FROM %I', item.relname, reader);
        END IF;
    END LOOP;
END
$grants$;
