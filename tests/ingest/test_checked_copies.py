"""The worker's copies of small job files: a job's analysis takes the file it checked from
memory instead of downloading it again, and only ever at the ETag it was checked at."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis_module.pipeline_core.errors import TransientError
from analysis_module.worker.checked_copies import CheckedCopies


class Bucket:
    """The store's side: objects by key, a GET counter, If-Match as S3 does it."""

    bucket = "b"

    def __init__(self, objects: dict[str, tuple[str, bytes]]):
        self.objects = dict(objects)  # key -> (etag, data)
        self.gets = 0

    def download(self, key: str, dest_path: Path, *, etag: str | None = None) -> str:
        self.gets += 1
        current, data = self.objects[key]
        if etag is not None and etag != current:
            raise TransientError(f"S3 unavailable: s3://b/{key}: PreconditionFailed")
        Path(dest_path).write_bytes(data)
        return current


JOB_FILE = "user-1/run/5_0_node01.h5"  # a node-step file of job 5


def test_the_job_analysis_gets_the_checked_file_without_a_request(tmp_path):
    store = Bucket({JOB_FILE: ("e1", b"checked content")})
    objects = CheckedCopies(store)
    assert objects.download(JOB_FILE, tmp_path / "check.h5", etag="e1") == "e1"
    assert objects.download(JOB_FILE, tmp_path / "job.h5", etag="e1") == "e1"
    assert (tmp_path / "job.h5").read_bytes() == b"checked content"
    assert store.gets == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["check.h5", "job.h5"]


def test_another_etag_goes_to_the_store_and_a_changed_object_is_refused(tmp_path):
    store = Bucket({JOB_FILE: ("e1", b"first")})
    objects = CheckedCopies(store)
    objects.download(JOB_FILE, tmp_path / "a.h5", etag="e1")
    store.objects[JOB_FILE] = ("e2", b"second")
    assert objects.download(JOB_FILE, tmp_path / "b.h5", etag="e2") == "e2"
    assert (tmp_path / "b.h5").read_bytes() == b"second"
    with pytest.raises(TransientError, match="PreconditionFailed"):
        objects.download(JOB_FILE, tmp_path / "c.h5", etag="e3")
    assert store.gets == 3
    # without an ETag to hold it to, the store is asked
    objects.download(JOB_FILE, tmp_path / "d.h5")
    assert store.gets == 4


@pytest.mark.parametrize(
    ("key", "size"),
    [
        ("user-1/run/upload job_5.h5", 10),  # a job of its own: no second download to spare
        (JOB_FILE, 2 * 1024 * 1024),  # over max_file_bytes (1 MiB)
    ],
)
def test_files_not_of_a_job_or_large_are_not_kept(tmp_path, key, size):
    store = Bucket({key: ("e1", b"x" * size)})
    objects = CheckedCopies(store)
    for name in ("a.h5", "b.h5"):
        objects.download(key, tmp_path / name, etag="e1")
    assert store.gets == 2


def test_copies_are_bounded_in_bytes_and_age(tmp_path):
    keys = [f"user-1/run/5_0_node{n:02d}.h5" for n in range(3)]
    store = Bucket({key: (f"e{n}", b"x" * 400) for n, key in enumerate(keys)})
    now = [0.0]
    objects = CheckedCopies(store, max_bytes=1000, max_age_s=60, clock=lambda: now[0])
    for n, key in enumerate(keys):
        objects.download(key, tmp_path / f"check{n}.h5", etag=f"e{n}")
    assert store.gets == 3
    # 1200 bytes do not fit in 1000: the least recently used (the first) is gone
    objects.download(keys[0], tmp_path / "again0.h5", etag="e0")
    assert store.gets == 4
    objects.download(keys[2], tmp_path / "again2.h5", etag="e2")
    assert store.gets == 4
    now[0] = 61.0
    objects.download(keys[2], tmp_path / "late2.h5", etag="e2")
    assert store.gets == 5
