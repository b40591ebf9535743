"""`--s3`: the batch CLI pulls profiles from an S3 bucket (Ceph's RADOS Gateway) into PostgreSQL."""

from __future__ import annotations

import json

from tests.analysis.test_cli import run_cli
from tests.support import postgres


def test_s3_objects_are_analysed_with_their_owner(tmp_path, s3_endpoint, s3_bucket, examples_dir):
    client = s3_endpoint.client()
    client.upload_file(str(examples_dir / "job_5.h5"), s3_bucket, "user-7f3c2a/runs 2026/job_5.h5")
    client.upload_file(str(examples_dir / "job_4.h5"), s3_bucket, "shared/job_4.h5")
    for name in ("5_batch_vm.h5", "5_0_vm.h5", "5_1_vm.h5"):  # job 5 again, unmerged
        client.upload_file(
            str(examples_dir / "nodestep" / name), s3_bucket, f"user-7f3c2a/ns/{name}"
        )
    client.put_object(Bucket=s3_bucket, Key="user-7f3c2a/notes.txt", Body=b"not a profile")
    db = postgres.create_database("bs_cli_s3")
    try:
        from analysis_module.migrate import upgrade_database

        upgrade_database(db.dsn)
        env = {**s3_endpoint.env(s3_bucket), **db.env(), "INTEGRATION_RULE": "left"}
        result = run_cli("--s3", "--json", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        records = {r["source"]: r for r in map(json.loads, result.stdout.splitlines())}
        assert set(records) == {  # jobs, keyed by folder and job id
            f"s3://{s3_bucket}/user-7f3c2a/runs 2026/job_5",
            f"s3://{s3_bucket}/user-7f3c2a/ns/job_5",
            f"s3://{s3_bucket}/shared/job_4",
        }
        job_5 = records[f"s3://{s3_bucket}/user-7f3c2a/runs 2026/job_5"]
        assert job_5["owner"] == "user-7f3c2a" and job_5["energy_j"] == 3150.0
        assert job_5["source_etag"]  # the object's ETag, so a rescan knows it is done
        assembled = records[f"s3://{s3_bucket}/user-7f3c2a/ns/job_5"]
        assert assembled["energy_j"] == 3150.0 and assembled["n_files"] == 3
        assert sorted(f["name"] for f in assembled["files"]) == [
            "5_0_vm.h5",
            "5_1_vm.h5",
            "5_batch_vm.h5",
        ]
        with db.connect() as conn:
            owners = conn.execute("SELECT owner FROM job_summary ORDER BY source").fetchall()
        assert sorted(owners, key=str) == sorted(
            [(None,), ("user-7f3c2a",), ("user-7f3c2a",)], key=str
        )
    finally:
        postgres.drop_database(db)


def test_an_empty_prefix_says_so_and_is_not_an_error(tmp_path, s3_endpoint, s3_bucket):
    client = s3_endpoint.client()
    client.put_object(Bucket=s3_bucket, Key="quiet/notes.txt", Body=b"not a profile")
    env = {**s3_endpoint.env(s3_bucket), "MINIO_PREFIX": "quiet/"}
    result = run_cli("--s3", "--db", "o.duckdb", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert (
        result.stderr.strip() == f"nothing to analyse: no *.h5 object under s3://{s3_bucket}/quiet/"
    )
    assert not (tmp_path / "o.duckdb").exists()


def test_the_table_names_objects_by_their_key_under_the_prefix(
    tmp_path, s3_endpoint, s3_bucket, examples_dir
):
    client = s3_endpoint.client()
    client.upload_file(str(examples_dir / "job_4.h5"), s3_bucket, "table/user-1/job_4.h5")
    env = {**s3_endpoint.env(s3_bucket), "MINIO_PREFIX": "table/"}
    result = run_cli("--s3", "--db", "o.duckdb", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert any(line.startswith("user-1/job_4.h5 ") for line in result.stdout.splitlines())
