"""Uploads stream to disk: a large package costs a real node process almost no memory, accepted or
refused (its peak RSS, VmHWM, is read from /proc before and after)."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator

import pytest
import requests

MIB = 2**20


def _peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _stored_package(size: int) -> bytes:
    """A zip whose big entry is stored (not compressed): ``size`` bytes of random data, built in memory
    once by the test (the node's memory is what is measured)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("manifest.json", json.dumps({"name": "big", "version": "1.0", "entry": "tasks.robot"}))
        zf.writestr("tasks.robot", "*** Tasks ***\nT\n    Log    x\n")
        zf.writestr("data.bin", os.urandom(size))
    return buf.getvalue()


def _multipart(boundary: str, payload_chunks: Iterator[bytes], filename: str = "p.zip") -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="package"; filename="{filename}"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    yield from payload_chunks
    yield f"\r\n--{boundary}--\r\n".encode()


def _chunks(data: bytes, size: int = MIB) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.slow
def test_a_large_package_costs_the_node_little_memory(live_node):
    """A 150 MiB package is accepted and a 520 MiB one refused (413, read only up to its limit),
    each costing the node's peak RSS less than 20 MiB."""
    headers = {"Authorization": "Bearer " + live_node.token}
    pid = live_node.proc.pid
    data = _stored_package(150 * MIB)
    before = _peak_rss_mib(pid)
    boundary = "rpaboundary"
    r = requests.post(
        f"{live_node.url}/api/v1/apps",
        data=_multipart(boundary, _chunks(data)),
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=120,
    )
    assert r.status_code == 201, r.text
    accepted = _peak_rss_mib(pid) - before
    del data

    def endless() -> Iterator[bytes]:
        block = os.urandom(MIB)
        for _ in range(520):
            yield block

    before = _peak_rss_mib(pid)
    try:
        r = requests.post(
            f"{live_node.url}/api/v1/apps",
            data=_multipart(boundary, endless()),  # chunked: no Content-Length to refuse it by
            headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            timeout=120,
        )
        assert r.status_code == 413 and r.json()["resultValue"]["errorCode"] == 10007
    except requests.ConnectionError:
        pass  # the node may close the connection once it has refused the body: also a refusal
    refused = _peak_rss_mib(pid) - before
    assert accepted < 20 and refused < 20, (accepted, refused)
    apps = requests.get(f"{live_node.url}/api/v1/apps", headers=headers, timeout=10).json()["resultValue"]
    assert apps["total"] == 1
