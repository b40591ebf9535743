# syntax=docker/dockerfile:1
# The API service (api_backend): `podman build --format docker -t api-backend .`
# (--format docker keeps the HEALTHCHECK; podman's default OCI format drops it).
# Dependencies come from deploy/images/api-requirements.txt: every transitive pin, wheels only.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY deploy/images/api-requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-deps --only-binary=:all: --require-virtualenv \
      -r /tmp/requirements.txt \
 && /opt/venv/bin/pip check

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="benchsuite api-backend" \
      org.opencontainers.image.description="Accounts, uploads and results API of the benchmarking suite"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    HEALTHCHECK_URL=http://127.0.0.1:8000/healthz
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
# Code stays owned by root: the service can read it, not change it.
COPY api_backend /app/api_backend
COPY job_report /app/job_report
RUN python -m compileall -q /app/api_backend /app/job_report
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# A container serving on another port sets HEALTHCHECK_URL to match.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4)"]
# The service applies its own pending migrations at start (MIGRATE_ON_START, advisory lock);
# deployments also run `python -m api_backend.migrate` once before starting it.
# --no-proxy-headers: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1; the
# API reads it itself, from TRUSTED_PROXIES only (default: nobody).
CMD ["uvicorn", "api_backend.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-proxy-headers", "--timeout-graceful-shutdown", "20"]
