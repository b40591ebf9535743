"""Malformed and hostile input answers a 4xx with a reason, never a 500, and never echoes a
secret: deep JSON, NaN and huge numbers, unpaired surrogates, NUL, object names the pipeline
can't process, trailing newlines past anchors, and CSV cells a spreadsheet would run."""

from __future__ import annotations

import csv
import io
import uuid

import pytest

from .analysis_tables import add_job, add_timeseries, job_id_of
from .conftest import PASSWORD

SECRET = "a secret passphrase nobody may see 7319"
DEEP = b"[" * 1000 + b"]" * 1000
OVER_THE_LIMIT = b"[" * 40 + b"]" * 40  # parses, but deeper than any body of this API


def _json(client, path, raw: bytes, headers=None):
    return client.post(
        path, content=raw, headers={"Content-Type": "application/json", **(headers or {})}
    )


@pytest.mark.parametrize(
    "path", ["/auth/password", "/auth/refresh", "/auth/register", "/auth/logout"]
)
def test_deeply_nested_json_is_refused_with_a_reason(client, path):
    for body in (DEEP, OVER_THE_LIMIT, b'{"username": ' + DEEP + b', "password": "x"}'):
        answer = _json(client, path, body)
        assert answer.status_code in (400, 422), answer.text
        if answer.status_code == 400:
            assert "nested deeper than 32 levels" in answer.json()["detail"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"username": NaN, "password": "%s"}',
        b'{"username": 1e999, "password": "%s"}',
        b'{"username": "\\ud800", "password": "%s"}',
        b'{"username": "a\\u0000b", "password": "%s"}',
        b'{"username": 123456789012345678901234567890, "password": "%s"}',
    ],
)
def test_odd_values_in_register_are_refused_without_echoing_the_password(client, api_server, raw):
    log_start = len(api_server.output())
    answer = _json(client, "/auth/register", raw % SECRET.encode())
    assert answer.status_code in (400, 422), answer.text
    assert SECRET not in answer.text
    assert SECRET not in api_server.output()[log_start:]


def test_odd_values_in_password_change_and_logout_are_refused(client, account, api_server):
    log_start = len(api_server.output())
    bodies = [
        b'{"current_password": NaN, "new_password": "%s"}',
        b'{"current_password": "\\udfff", "new_password": "%s"}',
        b'{"current_password": Infinity, "new_password": "%s"}',
    ]
    for raw in bodies:
        answer = _json(client, "/auth/password/change", raw % SECRET.encode(), account.headers)
        assert answer.status_code in (400, 422), answer.text
        assert SECRET not in answer.text
    for raw in (
        b'{"refresh_token": NaN}',
        b'{"refresh_token": "\\ud83d"}',
        b'{"all_sessions": 1e999}',
    ):
        answer = _json(client, "/auth/logout", raw, account.headers)
        assert answer.status_code in (400, 422), answer.text
    assert SECRET not in api_server.output()[log_start:]
    # The session survived every refused request.
    assert client.get("/auth/me", headers=account.headers).status_code == 200


def test_validation_errors_name_the_field_but_never_echo_secret_values(client, account):
    too_long = "p" * 2000
    answer = client.post("/auth/register", json={"username": "x", "password": too_long})
    assert answer.status_code == 422
    assert too_long not in answer.text
    fields = {tuple(error["loc"]) for error in answer.json()["detail"]}
    assert ("body", "username") in fields and ("body", "password") in fields
    change = client.post(
        "/auth/password/change",
        json={"current_password": SECRET, "new_password": 12},
        headers=account.headers,
    )
    assert change.status_code == 422 and SECRET not in change.text
    assert all("input" not in error for error in change.json()["detail"])


def test_nul_in_job_ids_and_query_parameters_is_refused(client, account, pg_db, api_bucket):
    with pg_db.connect() as db:
        source = add_job(db, bucket=api_bucket, namespace=account.user["namespace"], name="n.h5")
    job = job_id_of(source)
    for url in (
        "/jobs/%00",
        f"/jobs/{job}/timeseries?node=%00",
        f"/jobs/{job}/timeseries?step=a%00b",
        "/jobs?status=%00",
        f"/jobs/{job_id_of(chr(0))}",
        f"/jobs/{job_id_of('s3://b/' + chr(0))}/timeseries",
    ):
        answer = client.get(url, headers=account.headers)
        assert answer.status_code in (404, 422), (url, answer.text)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a/./b.h5", "'.' as a folder or file name"),
        ("./b.h5", "'.' as a folder or file name"),
        ("a/.", "'.' as a folder or file name"),
        ("x" * 256 + ".h5", "at most 255 bytes"),
        ("d/" + "é" * 128, "at most 255 bytes"),
        ("a/../b.h5", "'..'"),
        ("a//b.h5", "empty folder names"),
        ("bell\x07.h5", "U+0007"),
    ],
)
def test_names_the_pipeline_cannot_process_are_refused(client, account, name, reason):
    for method, path in (("POST", "/storage/presign/upload"), ("POST", "/storage/presign/post")):
        answer = client.request(method, path, params={"object_name": name}, headers=account.headers)
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "invalid_object_name"
        assert reason in answer.json()["detail"]


def test_names_at_the_documented_limits_are_accepted(client, account):
    longest_segment = "x" * 252 + ".h5"  # 255 bytes
    for name in (longest_segment, f"runs/{longest_segment}", "a.b..h5"[:3] + ".h5", "v1.2/x.h5"):
        answer = client.post(
            "/storage/presign/upload", params={"object_name": name}, headers=account.headers
        )
        assert answer.status_code == 200, (name, answer.text)


def test_a_trailing_newline_does_not_pass_the_content_type_check(client, account):
    answer = client.post(
        "/storage/presign/upload",
        params={"object_name": "x.h5", "content_type": "application/x-hdf5\n"},
        headers=account.headers,
    )
    assert answer.status_code == 400
    assert "content_type" in answer.json()["detail"]


def test_a_trailing_newline_does_not_pass_the_username_check(client):
    answer = client.post("/auth/register", json={"username": "trailing\n", "password": PASSWORD})
    assert answer.status_code == 422


def test_csv_cells_a_spreadsheet_would_run_are_escaped(client, account, pg_db, api_bucket):
    table = f"job_t{uuid.uuid4().hex[:12]}"
    with pg_db.connect() as db:
        source = add_job(
            db,
            bucket=api_bucket,
            namespace=account.user["namespace"],
            name="c.h5",
            table_name=table,
        )
        add_timeseries(db, table, samples=1)
        for node in ('=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
            db.execute(
                f'INSERT INTO "{table}" (step, node, time, epoch_s, power_w) '
                "VALUES (%s, %s, to_timestamp(1), 1, -5.5)",
                ("0", node),
            )
    answer = client.get(
        f"/jobs/{job_id_of(source)}/timeseries",
        params={"format": "csv"},
        headers=account.headers,
    )
    rows = list(csv.DictReader(io.StringIO(answer.text, newline="")))
    nodes = {row["node"] for row in rows}
    assert {'\'=HYPERLINK("http://x","y")', "'+1+1", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx"} <= nodes
    assert {"n1", "n2"} <= nodes  # ordinary text is left alone
    # Negative numbers stay numbers.
    assert {row["power_w"] for row in rows if row["node"].startswith("'")} == {"-5.5"}
