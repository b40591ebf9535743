"""The S3 connector against a real S3 endpoint (Ceph's RADOS Gateway)."""

from __future__ import annotations

import pytest

from analysis_module.connectors.s3 import ObjectStore
from analysis_module.pipeline_core.errors import ObjectNotFound, TransientError
from analysis_module.settings import AnalysisSettings
from tests.ingest.support import upload
from tests.support.net import free_port


def store_for(s3_endpoint, bucket: str, **overrides) -> ObjectStore:
    env = {**s3_endpoint.env(bucket), "S3_CONNECT_TIMEOUT_S": "1", "S3_MAX_ATTEMPTS": "1"}
    env.update(overrides)
    return ObjectStore(AnalysisSettings(**env).object_store_config())


def test_listing_pages_through_every_object_under_the_prefix(s3_endpoint, s3_bucket):
    client = s3_endpoint.client()
    keys = [f"user-1/runs 2026/job {n}.h5" for n in range(5)]
    for key in keys:
        upload(client, s3_bucket, key, b"x" * 3)
    upload(client, s3_bucket, "user-2/other.h5", b"y")
    listed = list(store_for(s3_endpoint, s3_bucket).list_objects("user-1/", page_size=2))
    assert [info.key for info in listed] == sorted(keys)
    assert all(info.size == 3 and len(info.etag) == 32 for info in listed)
    assert all(info.last_modified is not None for info in listed)
    # each page says when the gateway served it, by the gateway's clock (whole seconds)
    newest = max(info.last_modified for info in listed).replace(microsecond=0)
    assert all(info.listed_at >= newest for info in listed)


def test_download_streams_the_object_and_returns_its_etag(s3_endpoint, s3_bucket, tmp_path):
    data = bytes(range(256)) * 5000
    etag = upload(s3_endpoint.client(), s3_bucket, "user-1/a b+c.h5", data)
    store = store_for(s3_endpoint, s3_bucket)
    assert store.head("user-1/a b+c.h5").etag == etag
    target = tmp_path / "a.h5"
    assert store.download("user-1/a b+c.h5", target, etag=etag) == etag
    assert target.read_bytes() == data
    assert list(tmp_path.iterdir()) == [target]  # no partial file left


def test_download_refuses_content_that_changed_since_head(s3_endpoint, s3_bucket, tmp_path):
    client = s3_endpoint.client()
    old = upload(client, s3_bucket, "user-1/x.h5", b"first")
    upload(client, s3_bucket, "user-1/x.h5", b"second")
    with pytest.raises(TransientError, match="PreconditionFailed"):
        store_for(s3_endpoint, s3_bucket).download("user-1/x.h5", tmp_path / "x.h5", etag=old)
    assert list(tmp_path.iterdir()) == []


def test_missing_object_is_not_found(s3_endpoint, s3_bucket, tmp_path):
    store = store_for(s3_endpoint, s3_bucket)
    with pytest.raises(ObjectNotFound):
        store.head("user-1/nope.h5")
    with pytest.raises(ObjectNotFound):
        store.download("user-1/nope.h5", tmp_path / "nope.h5")


def test_unreachable_endpoint_is_transient(s3_endpoint, s3_bucket, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    store = store_for(s3_endpoint, s3_bucket, MINIO_ENDPOINT=url, MINIO_ADMIN_ENDPOINT=url)
    with pytest.raises(TransientError, match="S3 unreachable"):
        store.head("user-1/a.h5")
    with pytest.raises(TransientError):
        list(store.list_objects(""))


def test_the_store_config_takes_the_admin_endpoint_and_hides_the_keys():
    config = AnalysisSettings(
        MINIO_ENDPOINT="public.example:9000",
        MINIO_ADMIN_ENDPOINT="internal.example:9000",
        MINIO_SECURE="false",
        MINIO_ACCESS_KEY="reader",
        MINIO_SECRET_KEY="s3cr3t-value",
        MINIO_BUCKET="runs",
    ).object_store_config()
    assert config.endpoint_url == "http://internal.example:9000"
    assert (config.access_key, config.secret_key, config.bucket) == (
        "reader",
        "s3cr3t-value",
        "runs",
    )
    assert "s3cr3t-value" not in repr(config) and "reader" not in repr(config)
    unset = AnalysisSettings(MINIO_ENDPOINT="s3.example").object_store_config()
    assert (unset.endpoint_url, unset.access_key, unset.secret_key) == (
        "https://s3.example",
        None,
        None,
    )
