"""The origin project's client, request for request (`origin_client.py`), against the API
under uvicorn on Ceph's gateway: every upload it makes must land."""

from __future__ import annotations

import mimetypes
import shutil
import uuid

from .conftest import PASSWORD
from .origin_client import OriginClient

# One of each kind the client meets in a user's folder: a profile, text, JSON, no suffix,
# an empty file, a name with a space; their guessed types all differ.
FILES = {
    "job_5/job_5.h5": None,
    "job_5/slurm-5.out": b"job output\n",
    "job_5/notes.txt": b"plain text\n",
    "job_5/meta.json": b'{"job": 5}',
    "job_5/README": b"no suffix",
    "job_5/empty.csv": b"",
    "runs 2026/result.tar.gz": b"\x1f\x8b not really",
}


def write_user_folder(root, examples_dir):
    for name, data in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            shutil.copy(examples_dir / "job_5.h5", path)
        else:
            path.write_bytes(data)


def test_sync_uploads_every_file_with_the_clients_own_content_type(
    api_server, tmp_path, examples_dir, s3_endpoint, api_bucket
):
    write_user_folder(tmp_path, examples_dir)
    origin = OriginClient(api_server.base_url)
    access = origin.register(f"origin-{uuid.uuid4().hex[:10]}", PASSWORD)

    statuses = origin.sync(access, tmp_path)

    assert statuses == dict.fromkeys(FILES, 200)
    presigned = [r.json() for r in origin.responses if r.request.method == "POST"][1:]
    namespace = presigned[0]["key"].split("/", 1)[0]
    s3 = s3_endpoint.client()
    for name, data in FILES.items():
        stored = s3.get_object(Bucket=api_bucket, Key=f"{namespace}/{name}")
        expected = data if data is not None else (examples_dir / "job_5.h5").read_bytes()
        assert stored["Body"].read() == expected, name
        sent_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        assert stored["ContentType"] == sent_type, name
