"""Ceph's RADOS Gateway on loopback: a real S3 server that checks signatures, expiry,
signed headers and POST policies, and sends bucket notifications.

One monitor, one OSD whose objects live in memory (memstore) and radosgw (beast) run from
Debian's packages in a temporary directory, on free ports; nothing survives `stop()`.
`scripts/ensure-rgw.sh` installs the packages. Start-up takes about 2 s: the settings that
make it fast (or make it work at all) are commented in `_ceph_conf`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import boto3

from .net import free_port, wait_for_http
from .s3_endpoint import ACCESS_KEY, SECRET_KEY, S3Endpoint

USER_ID = "tests"
DAEMONS = ("client.rgw.a", "osd.0", "mon.a")  # stop order
# boto3 would add trailing CRC checksums this gateway (16.2) refuses over HTTPS; on plain
# HTTP it does not, but the services must not depend on the scheme.
BOTO_CHECKSUM_ENV = {
    "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
    "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
}


def _ceph_conf(root: Path, fsid: str, mon_port: int, rgw_port: int) -> str:
    return f"""[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{mon_port}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
run dir = {root}/run
pid file = {root}/run/$name.pid
admin socket = {root}/run/$name.asok
log file = {root}/log/$name.log
log to stderr = false
mon cluster log file = {root}/log/cluster.log
crash dir = {root}/crash
# one OSD: pools of size 1 in few placement groups
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
# proposals every 50 ms instead of 1 s: the OSD boot and the gateway's pools take seconds
paxos propose interval = 0.05
mon osd report timeout = 3600
ms bind msgr1 = false
mon warn on insecure global id reclaim allowed = false
[mon]
mon data = {root}/mon.$id
mon data avail crit = 1
mon data avail warn = 2
[osd]
osd data = {root}/osd.$id
osd objectstore = memstore
memstore device bytes = 2147483648
osd crush initial weight = 1
osd op num shards = 1
osd op num threads per shard = 2
[client]
# radosgw insists on "secure" mode by default, which auth = none cannot provide
ms mon client mode = crc secure
rgw frontends = beast endpoint=127.0.0.1:{rgw_port} tcp_nodelay=1
rgw data = {root}/rgw
rgw dns name = localhost
rgw enable usage log = false
rgw thread pool size = 64
"""


@dataclass
class RgwServer:
    """The daemons of one gateway; `stop()` ends them by their recorded PIDs."""

    root: Path
    mon_port: int = field(default_factory=free_port)
    rgw_port: int = field(default_factory=free_port)

    @property
    def conf(self) -> Path:
        return self.root / "ceph.conf"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rgw_port}"

    def _run(self, *args: str, timeout_s: float = 60) -> str:
        done = subprocess.run(
            [*args], capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:3])} failed: {done.stderr.strip()[-2000:]}")
        return done.stdout

    def _ceph(self, *args: str) -> str:
        return self._run("ceph", "-c", str(self.conf), "--connect-timeout", "30", *args)

    def start(self) -> RgwServer:
        for sub in ("mon.a", "osd.0", "run", "log", "rgw"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        fsid = str(uuid.uuid4())
        self.conf.write_text(_ceph_conf(self.root, fsid, self.mon_port, self.rgw_port))
        conf = str(self.conf)
        monmap = str(self.root / "monmap")
        self._run("monmaptool", "--create", "--clobber", "--fsid", fsid, "--addv", "a",
                  f"[v2:127.0.0.1:{self.mon_port}]", monmap)  # fmt: skip
        self._run("ceph-mon", "-c", conf, "-i", "a", "--mkfs", "--monmap", monmap)
        self._run("ceph-mon", "-c", conf, "-i", "a")  # daemonizes
        osd_uuid = str(uuid.uuid4())
        osd_id = self._ceph("osd", "new", osd_uuid).strip()
        self._run("ceph-osd", "-c", conf, "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid)
        self._run("ceph-osd", "-c", conf, "-i", osd_id)
        self._wait_for_osd(osd_id)
        self._run("radosgw", "-c", conf, "-n", "client.rgw.a")
        wait_for_http(self.url + "/", timeout_s=60)
        self._run("radosgw-admin", "-c", conf, "user", "create", f"--uid={USER_ID}",
                  f"--display-name={USER_ID}", f"--access-key={ACCESS_KEY}",
                  f"--secret-key={SECRET_KEY}")  # fmt: skip
        return self

    def _wait_for_osd(self, osd_id: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if f"osd.{osd_id} up" in self._ceph("osd", "dump"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the OSD did not come up; see {self.root}/log")

    def stop(self) -> None:
        for name in DAEMONS:
            pid_file = self.root / "run" / f"{name}.pid"
            with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                pid = int(pid_file.read_text().strip())
                os.kill(pid, signal.SIGTERM)
                _wait_gone(pid)
        shutil.rmtree(self.root, ignore_errors=True)


def _wait_gone(pid: int, timeout_s: float = 3) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


@dataclass
class RgwEndpoint(S3Endpoint):
    """The common endpoint (client, fresh buckets, our env vars) plus the gateway's topics."""

    extra_env: ClassVar[dict[str, str]] = BOTO_CHECKSUM_ENV

    def sns(self):
        """The gateway's topic API (CreateTopic with a push endpoint) on the same port."""
        return boto3.client("sns", **self._session_args())

    def notify(
        self,
        bucket: str,
        push_endpoint: str,
        opaque_data: str,
        suffix: str | tuple[str, ...] = ".h5",
        events: tuple[str, ...] = ("s3:ObjectCreated:*",),
    ):
        """A non-persistent topic pushing to `push_endpoint` (delivered inside the upload
        request), subscribed to the bucket's `events` (created objects) ending in `suffix`
        (several: one subscription each, as S3 filters take one suffix)."""
        topic = f"topic-{uuid.uuid4().hex[:10]}"
        attributes = {
            "push-endpoint": push_endpoint,
            "persistent": "false",
            "OpaqueData": opaque_data,
        }
        arn = self.sns().create_topic(Name=topic, Attributes=attributes)["TopicArn"]
        suffixes = (suffix,) if isinstance(suffix, str) else suffix
        self.client().put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "TopicConfigurations": [
                    {
                        "Id": f"created-{topic}-{index}",
                        "TopicArn": arn,
                        "Events": list(events),
                        "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": end}]}},
                    }
                    for index, end in enumerate(suffixes)
                ]
            },
        )
        return arn


def start() -> RgwEndpoint:
    """A running gateway in a fresh temporary directory (removed again by `server.stop()`)."""
    if shutil.which("radosgw") is None:
        raise RuntimeError("radosgw is not installed: run scripts/ensure-rgw.sh")
    server = RgwServer(Path(tempfile.mkdtemp(prefix="rgw-")))
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    # The gateway answers before its user is visible everywhere: wait for a signed call.
    endpoint = RgwEndpoint(url=server.url, server=server)
    _wait_for_credentials(endpoint)
    return endpoint


def _wait_for_credentials(endpoint: RgwEndpoint, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            endpoint.client().list_buckets()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
