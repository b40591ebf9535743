"""The ingest worker (`python -m analysis_module.worker`): analyses, removals, rescans.

Run any number of replicas. Each process waits for PostgreSQL, applies pending migrations,
builds its S3 client and analysis runners once, then runs a procrastinate worker on the ingest
queue. Alongside it, a recovery loop puts jobs of dead workers (no heartbeat for
WORKER_STALLED_AFTER_S) back in the queue. When the database goes away the worker stops and is
started again with backoff; SIGTERM/SIGINT stop it gracefully (running jobs finish within
WORKER_SHUTDOWN_GRACE_S).

On WORKER_METRICS_HOST:WORKER_METRICS_PORT (0 disables it) a thread serves `GET /metrics`
(Prometheus: job outcomes, analysis and download times, queue depth, objects by status),
`GET /healthz` (the event loop answered within 3 heartbeats) and `GET /readyz` (the last
database check succeeded, within 3 check intervals, and analysis runners can be built).

At start-up the worker removes the download folders that dead workers of its host left in
INGEST_DOWNLOAD_DIR. Jobs of dead workers count as kills of their object's content, and the
analysis of one object may take INGEST_JOB_TIMEOUT_S: twice killed or twice over the budget,
the object is failed as a poison pill (see `ingest.service`). A job's analysis that lost its
worker twice is failed as a poison pill too (see `ingest.job_service`).

Modules: `__main__` (flags -> settings -> run), `supervisor` (start-up, the restart loop, stalled
job recovery, database checks), `tasks` (the queue's tasks, thin), `runner_pool` (analysis
runners reused while healthy), `metrics` (Prometheus), `health` (/healthz, /readyz and the
endpoint's HTTP server).
"""
