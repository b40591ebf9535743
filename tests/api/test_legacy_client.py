"""LEGACY_CLIENT_COMPAT: the origin client's register, sync, refresh (`?rid=`), sync, login
(`?u=&p=`), sync flow against the API under uvicorn on Ceph's gateway; every upload lands,
the old forms are marked deprecated and no log line shows a password or token. Off (the
default), the 400 says how to send them and which setting allows the old form."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import apply_migrations
from tests.ingest.support import wait_until
from tests.support import postgres
from tests.support.servers import AppProcess, PythonProcess

from .conftest import PASSWORD, api_env
from .origin_client import OriginClient
from .test_origin_client import FILES, write_user_folder

DEPRECATION = "@1796083200"


WEBHOOK_TOKEN = "legacy-flow-webhook-token"


@pytest.fixture(scope="module")
def analysed_store(s3_endpoint):
    """A database and bucket of this module, with the listener and a worker behind a
    notification of the gateway: what the client uploads gets analysed."""
    db = postgres.create_database("bs_legacy")
    apply_migrations(db)
    bucket = s3_endpoint.new_bucket("legacy")
    env = {
        **db.env(),
        **s3_endpoint.env(bucket),
        "APP_ENV": "development",
        "MINIO_WEBHOOK_AUTH_TOKEN": WEBHOOK_TOKEN,
        "INGEST_RESCAN_CRON": "",
        "WORKER_METRICS_PORT": "0",
        "WORKER_POLL_INTERVAL_S": "0.5",
        "FLAT_PRICE_EUR_PER_KWH": "0.30",
        "INTEGRATION_RULE": "left",
    }
    listener = AppProcess("analysis_module.minio_listener:app", env)
    worker = PythonProcess(["-m", "analysis_module.worker"], env)
    with listener, worker:
        s3_endpoint.notify(bucket, listener.base_url + "/ceph-event", opaque_data=WEBHOOK_TOKEN)
        yield db, bucket
    postgres.drop_database(db)


@pytest.fixture(scope="module")
def legacy_server(analysed_store, s3_endpoint):
    db, bucket = analysed_store
    env = api_env(
        db,
        s3_endpoint,
        bucket,
        LEGACY_CLIENT_COMPAT="true",
        LOG_LEVEL="INFO",  # uvicorn's access log and our own lines, all captured
        LOGIN_MAX_FAILURES_PER_ACCOUNT="3",
        # no grace: a replayed refresh token is refused at once, whenever the test runs
        REFRESH_REUSE_GRACE_S="0",
    )
    with AppProcess("api_backend.main:app", env) as server:
        server.bucket = bucket
        yield server


def analysed_jobs(base_url: str, access: str, expected: int) -> list[dict]:
    def ready():
        answer = httpx.get(
            f"{base_url}/jobs",
            params={"status": "ok"},
            headers={"Authorization": f"Bearer {access}"},
        )
        jobs = answer.json()["jobs"]
        return jobs if len(jobs) >= expected else None

    return wait_until(ready, timeout_s=60, what=f"{expected} analysed jobs")


def folder(root, examples_dir, round_name: str):
    """A user folder with every kind of file, under a folder of this sync round."""
    write_user_folder(root / round_name, examples_dir)
    return root


def test_register_sync_refresh_sync_login_sync(legacy_server, tmp_path, examples_dir, s3_endpoint):
    username = f"origin-{uuid.uuid4().hex[:10]}"
    origin = OriginClient(legacy_server.base_url)
    refresh_tokens, access_tokens = [], []

    access = origin.register(username, PASSWORD)
    refresh_tokens.append(origin.refresh_token)
    statuses = origin.sync(access, folder(tmp_path, examples_dir, "first"))

    access = origin.refresh()
    refresh_tokens.append(origin.refresh_token)
    refreshed = origin.responses[-1]
    statuses |= origin.sync(access, folder(tmp_path, examples_dir, "second"))

    access = origin.login(username, PASSWORD)
    refresh_tokens.append(origin.refresh_token)
    logged_in = origin.responses[-1]
    statuses |= origin.sync(access, folder(tmp_path, examples_dir, "third"))
    access_tokens += [r.json()["access"] for r in (refreshed, logged_in)]

    names = [f"{r}/{name}" for r in ("first", "second", "third") for name in FILES]
    assert statuses == dict.fromkeys(names, 200)
    namespace = origin.responses[1].json()["key"].split("/", 1)[0]
    listing = s3_endpoint.client().list_objects_v2(
        Bucket=legacy_server.bucket, Prefix=namespace + "/"
    )
    assert {item["Key"].split("/", 1)[1] for item in listing["Contents"]} == set(names)
    # every profile among them analysed, as the client's user sees it: `job_5.h5` is the
    # merged file of Slurm job 5, so its job is `<folder>/job_5`
    profiles = sorted(f"{namespace}/{name}" for name in names if name.endswith(".h5"))
    jobs = analysed_jobs(legacy_server.base_url, access, len(profiles))
    assert sorted(job["key"] for job in jobs) == [p.removesuffix(".h5") for p in profiles]

    for answer in (refreshed, logged_in):
        assert answer.headers["Deprecation"] == DEPRECATION
        assert answer.headers["Cache-Control"] == "no-store"
    assert "Deprecation" not in origin.responses[0].headers  # register: the body form

    log = legacy_server.output()
    assert "POST /auth/password" in log and "POST /auth/refresh" in log  # access log is on
    for secret in (PASSWORD, *refresh_tokens, *access_tokens):
        assert secret not in log


def test_the_old_login_form_is_throttled_like_the_body_form(legacy_server):
    origin = OriginClient(legacy_server.base_url)
    username = f"origin-{uuid.uuid4().hex[:10]}"
    origin.register(username, PASSWORD)
    url = f"{legacy_server.base_url}/auth/password"
    wrong = [httpx.post(url, params={"u": username, "p": "wrong " * 4}) for _ in range(3)]
    assert [a.status_code for a in wrong] == [401, 401, 401]
    throttled = httpx.post(url, params={"u": username, "p": PASSWORD})
    assert throttled.status_code == 429 and "Retry-After" in throttled.headers
    assert throttled.headers["Deprecation"] == DEPRECATION
    body = httpx.post(url, json={"username": username, "password": PASSWORD})
    assert body.status_code == 429  # one account, one counter, whichever form
    for answer in (*wrong, throttled):
        assert PASSWORD not in answer.text and "wrong" not in answer.text
    incomplete = httpx.post(url, params={"u": username})
    assert incomplete.status_code == 400 and username not in incomplete.text


def test_a_stale_token_file_falls_back_to_the_old_login_and_syncs(legacy_server, tmp_path):
    """The client's token file restored from before a refresh: its `?rid=` is refused with
    the reason, the client then logs in with `?u=&p=` and its next sync works."""
    username = f"origin-{uuid.uuid4().hex[:10]}"
    origin = OriginClient(legacy_server.base_url)
    origin.register(username, PASSWORD)
    stale = origin.refresh_token
    origin.refresh()
    replay = httpx.post(f"{legacy_server.base_url}/auth/refresh", params={"rid": stale})
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_grant" and stale not in replay.text
    assert replay.headers["Deprecation"] == DEPRECATION

    access = origin.login(username, PASSWORD)
    (tmp_path / "job_7").mkdir()
    (tmp_path / "job_7" / "slurm-7.err").write_bytes(b"")  # the client's zero-byte PUT
    (tmp_path / "7_batch_vm.h5").write_bytes(b"h5")
    assert origin.sync(access, tmp_path) == {"7_batch_vm.h5": 200, "job_7/slurm-7.err": 200}
    assert origin.refresh()  # the new session refreshes as usual


def test_benchmark_name_is_stored_as_signed_metadata(legacy_server, s3_endpoint):
    origin = OriginClient(legacy_server.base_url)
    access = origin.register(f"origin-{uuid.uuid4().hex[:10]}", PASSWORD)
    auth = {"Authorization": f"Bearer {access}"}
    url = f"{legacy_server.base_url}/storage/presign/upload"
    answer = httpx.post(
        url, params={"object_name": "b/job.h5", "benchmark_name": "stream_v2.1"}, headers=auth
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["Deprecation"] == DEPRECATION
    presigned = answer.json()
    assert presigned["headers"] == {"x-amz-meta-benchmark-name": "stream_v2.1"}
    # The client's own way: the answer's headers, then its own Content-Type on top.
    headers = {**presigned["headers"], "Content-Type": "application/octet-stream"}
    assert httpx.put(presigned["url"], content=b"h5", headers=headers).status_code == 200
    head = s3_endpoint.client().head_object(Bucket=legacy_server.bucket, Key=presigned["key"])
    assert head["Metadata"] == {"benchmark-name": "stream_v2.1"}
    # signed: another name, or none, is refused by the store
    other = {**headers, "x-amz-meta-benchmark-name": "other"}
    assert httpx.put(presigned["url"], content=b"h5", headers=other).status_code == 403
    assert httpx.put(presigned["url"], content=b"h5").status_code == 403

    bad = httpx.post(
        url, params={"object_name": "b/x.h5", "benchmark_name": "a b/../c"}, headers=auth
    )
    assert bad.status_code == 400 and "benchmark_name" in bad.json()["detail"]


@pytest.mark.parametrize(
    ("path", "query", "body_form"),
    [
        ("/auth/password", {"u": "alice", "p": PASSWORD}, "grant_type=password"),
        ("/auth/refresh", {"rid": "abc"}, '{"refresh_token": ...}'),
    ],
)
def test_off_by_default_the_400_names_the_setting_and_the_body_form(client, path, query, body_form):
    answer = client.post(path, params=query)
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert "LEGACY_CLIENT_COMPAT=true" in detail and body_form in detail
    assert PASSWORD not in detail and "abc" not in detail
    assert "Deprecation" not in answer.headers


def test_off_by_default_benchmark_name_is_ignored(client, account):
    answer = client.post(
        "/storage/presign/upload",
        params={"object_name": "x.h5", "benchmark_name": "stream"},
        headers=account.headers,
    )
    assert answer.status_code == 200 and answer.json()["headers"] == {}
    assert "Deprecation" not in answer.headers
