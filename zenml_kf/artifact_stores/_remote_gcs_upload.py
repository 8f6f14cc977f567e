"""A large file into a GCS resumable upload session, streamed from disk, resumed after errors.

google-cloud-storage sends resumable uploads as chunks it first reads into memory (100 MiB
each by default), so memory grows with the chunk size and small chunks cost a round trip
each. Here the whole file goes as one streamed PUT, read from disk a few KiB at a time;
after a dropped connection or a 5xx the session is asked how many bytes it holds and the
rest is sent from that offset. The CRC32C of the bytes sent is checked against the one the
server computed, so a corrupted upload never gets a completion marker.
"""

from __future__ import annotations

import base64
import random
import time
from pathlib import Path
from typing import IO, Any

from zenml_kf.artifact_stores._remote import ArtifactStoreError
from zenml_kf.exceptions import first_line

MAX_ATTEMPTS = 6
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_READ_SIZE = 256 * 1024


class _CRCReader:
    """A file from `offset` on, checksumming what is read; `__len__` sets Content-Length."""

    def __init__(self, file: IO[bytes], offset: int, size: int, checksum: Any) -> None:
        self._file = file
        self._left = size - offset
        self._checksum = checksum
        file.seek(offset)

    def __len__(self) -> int:
        return self._left

    def read(self, n: int = -1) -> bytes:
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._file.read(max(n, 0))
        self._left -= len(data)
        self._checksum.update(data)
        return data


def _checksum_of_prefix(file: IO[bytes], offset: int) -> Any:
    import google_crc32c

    checksum: Any = google_crc32c.Checksum()  # type: ignore[no-untyped-call]
    file.seek(0)
    left = offset
    while left > 0:
        data = file.read(min(_READ_SIZE * 4, left))
        if not data:
            break
        checksum.update(data)
        left -= len(data)
    return checksum


def stream_upload(session: Any, url: str, path: Path, where: str, timeout: float) -> None:
    """PUT `path` into the resumable session at `url`; raise ArtifactStoreError if it fails."""
    import requests

    size = path.stat().st_size
    offset = 0
    last = "no attempt"
    with open(path, "rb") as file:
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                time.sleep(min(8.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0))
                try:
                    offset = _committed(session, url, size, timeout)
                except requests.RequestException as exc:
                    last = first_line(exc)
                    continue
                if offset == size:
                    return
            checksum = _checksum_of_prefix(file, offset)
            body = _CRCReader(file, offset, size, checksum)
            headers = {"Content-Type": "application/octet-stream"}
            if offset:
                headers["Content-Range"] = f"bytes {offset}-{size - 1}/{size}"
            try:
                response = session.put(url, data=body, headers=headers, timeout=(timeout, timeout))
            except requests.RequestException as exc:
                last = first_line(exc)
                continue
            if response.status_code in (200, 201):
                _verify(response, checksum, size, where)
                return
            last = f"HTTP {response.status_code}: {first_line(Exception(response.text or 'no body'))}"
            if response.status_code != 308 and response.status_code not in _RETRY_STATUS:
                break
    raise ArtifactStoreError(f"upload to {where} failed after {attempt + 1} attempt(s) ({last})")


def _committed(session: Any, url: str, size: int, timeout: float) -> int:
    """How many bytes the session holds (`size` once the object is complete)."""
    response = session.put(
        url, data=b"", headers={"Content-Range": f"bytes */{size}"}, timeout=(timeout, timeout)
    )
    if response.status_code in (200, 201):
        return size
    received = response.headers.get("Range", "")
    if response.status_code == 308 and received.startswith("bytes=0-"):
        return int(received.rpartition("-")[2]) + 1
    return 0


def _verify(response: Any, checksum: Any, size: int, where: str) -> None:
    try:
        meta = response.json()
    except ValueError:
        return
    stored = int(meta.get("size", size))
    expected = base64.b64encode(checksum.digest()).decode()
    server = meta.get("crc32c")
    if stored != size or (server is not None and server != expected):
        raise ArtifactStoreError(
            f"upload to {where} was corrupted in transit (server has {stored} bytes, CRC32C "
            f"{server}; sent {size} bytes, CRC32C {expected}); run the step again"
        )
