"""Property-based requests generated from our OpenAPI schema never get a 5xx.

Runs against the uvicorn server with a logged-in user, so generated requests reach the
handlers instead of stopping at 401. Bounded: a few examples per operation.

CI replays the same derandomized cases every run (bounded in time). To explore new ones
locally: `FUZZ_RANDOM=1 FUZZ_EXAMPLES=200 .venv/bin/pytest tests/api/test_schemathesis.py`
(random mode, positive and negative cases, still bounded by FUZZ_EXAMPLES per operation).
"""

from __future__ import annotations

import os

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api_backend.core.config import Settings
from api_backend.main import create_app

from .conftest import PASSWORD, register

EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def fuzz_account(api_server):
    with httpx.Client(base_url=api_server.base_url) as http:
        return register(http)


# The schema the server publishes, built in-process (building the app does no I/O).
schema = schemathesis.openapi.from_dict(create_app(Settings(app_env="development")).openapi())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    # CI replays the same cases every run; FUZZ_RANDOM=1 explores new ones locally.
    derandomize=not os.environ.get("FUZZ_RANDOM"),
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case, api_server, fuzz_account):
    headers = dict(fuzz_account.headers)
    if case.path == "/auth/logout":
        # Logging out would end the session the other operations use: give it its own.
        fresh = httpx.post(
            api_server.base_url + "/auth/password",
            json={"username": fuzz_account.username, "password": PASSWORD},
        )
        headers = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
    response = case.call(base_url=api_server.base_url, headers=headers, timeout=30)
    case.validate_response(response, checks=[not_a_server_error])


def test_fuzzed_schema_is_the_served_one(client):
    assert client.get("/openapi.json").json() == schema.raw_schema
