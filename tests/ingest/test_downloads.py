"""The worker's downloads: names that fit any key, errors that name the user's object, and a
download folder cleaned of what killed workers left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from analysis_module.ingest import downloads
from tests.ingest.conftest import listener_process, running, service_env, worker_process
from tests.ingest.support import minio_event, object_row, profile_bytes, upload, wait_until

LONG_NAME = "x" * 250 + ".h5"  # with ".part" appended, over the 255 bytes of a file name


@pytest.fixture
def s3(s3_endpoint):
    return s3_endpoint.client()


def dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


def leftovers(folder) -> dict[str, object]:
    """What a killed worker, a live one and someone else leave in the download folder."""
    own = f"{downloads.PREFIX}{downloads._host()}"
    dead = folder / f"{own}-{dead_pid()}-abc123"
    dead.mkdir()
    (dead / "object.h5").write_bytes(b"\0" * 4096)  # a half-written download
    live = folder / f"{own}-{os.getpid()}-def456"  # this test process: alive
    live.mkdir()
    other_host = folder / f"{downloads.PREFIX}elsewhere-{dead_pid()}-0"
    other_host.mkdir()
    unrelated = folder / "keep-me.h5"
    unrelated.write_bytes(b"mine")
    return {"dead": dead, "live": live, "other_host": other_host, "unrelated": unrelated}


def test_long_keys_are_analysed_and_errors_name_the_users_key(
    ingest_db, s3_endpoint, s3_bucket, s3, post_event, tmp_path
):
    folder = tmp_path / "downloads"
    folder.mkdir()
    left = leftovers(folder)
    env = service_env(ingest_db, s3_endpoint, s3_bucket, INGEST_DOWNLOAD_DIR=str(folder))
    run = uuid.uuid4().hex[:8]
    good_key = f"user-7f3c2a/{run}/{LONG_NAME}"
    bad_key = f"user-7f3c2a/{run}/broken/{LONG_NAME}"
    with running(listener_process(env)) as listener, running(worker_process(env)):
        for key, data in ((good_key, profile_bytes()), (bad_key, profile_bytes()[:3000])):
            etag = upload(s3, s3_bucket, key, data)
            post_event(listener.base_url, minio_event(s3_bucket, key, etag=etag, size=len(data)))
        rows = {
            key: wait_until(
                lambda key=key: (
                    (row := object_row(ingest_db, s3_bucket, key))
                    and row["status"] in ("ok", "failed")
                    and row
                ),
                what=key,
            )
            for key in (good_key, bad_key)
        }
        remaining = sorted(path.name for path in folder.iterdir())
    assert rows[good_key]["status"] == "ok"
    bad = rows[bad_key]
    assert (bad["status"], bad["failure_kind"], bad["attempts"]) == ("failed", "file", 1)
    assert bad["error"].startswith(f"{run}/broken/{LONG_NAME}: truncated")
    assert str(folder) not in bad["error"] and downloads.PREFIX not in bad["error"]
    # the dead worker's download is gone; the live worker's, another host's and files
    # without our prefix are left; the worker's own downloads were removed after each job
    assert remaining == sorted(left[name].name for name in ("live", "other_host", "unrelated"))


def test_download_path_has_a_fixed_length_name(tmp_path):
    with downloads.download_path(tmp_path) as path:
        assert path.name == downloads.FILE_NAME
        assert path.parent.parent == tmp_path
        path.write_bytes(b"data")
    assert list(tmp_path.iterdir()) == []
