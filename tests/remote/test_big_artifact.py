"""A 200 MB artifact moves through the S3 and GCS stores with memory far below its size.

Measured in a fresh subprocess with resource.getrusage: the peak RSS after the upload
(and after the download) against the peak before it, so imports and the client do not
count and the figure is the transfer's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.remote.conftest import Bucket, subprocess_env

SIZE_MB = 200
LIMIT_MB = 64  # growth allowed for a 200 MB transfer: well under its size

SCRIPT = textwrap.dedent(
    """
    import json, os, resource, sys
    from pathlib import Path

    flavor, endpoint, bucket = sys.argv[1:4]
    if flavor == "s3":
        from zenml_kf.artifact_stores import s3
        Store, Config = s3.S3ArtifactStore, s3.S3ArtifactStoreConfig
        config = Config(
            bucket=bucket, prefix="big", endpoint_url=endpoint, region="us-east-1", path_style=True
        )
    else:
        from zenml_kf.artifact_stores import gcp
        Store, Config = gcp.GCPArtifactStore, gcp.GCPArtifactStoreConfig
        config = Config(path=f"gs://{bucket}/big", endpoint_url=endpoint, anonymous=True)
    store = Store("big", flavor, config, Path.cwd())
    uri = store.artifact_uri("p", "run", "step", "out")
    store.exists(uri)  # client made and connection pool warm before measuring

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    block = os.urandom(1 << 20)
    with store.writing(uri) as folder:
        with open(folder / "data.bin", "wb") as f:
            for _ in range(SIZE_MB):
                f.write(block)
        before_upload = peak_mb()
    after_upload = peak_mb()
    with store.reading(uri) as folder:
        size = (folder / "data.bin").stat().st_size
        with open(folder / "data.bin", "rb") as f:
            f.seek(-len(block), 2)
            tail_ok = f.read() == block
    after_download = peak_mb()
    print(json.dumps({"before": before_upload, "upload": after_upload, "download": after_download,
                      "size": size, "tail_ok": tail_ok}))
    """
).replace("SIZE_MB", str(SIZE_MB))


def test_200mb_artifact_transfers_in_bounded_memory(bucket: Bucket) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, bucket.flavor, bucket.server.endpoint, bucket.name],
        capture_output=True,
        text=True,
        timeout=300,
        env=subprocess_env(),
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["size"] == SIZE_MB << 20 and got["tail_ok"]
    upload_growth = got["upload"] - got["before"]
    download_growth = got["download"] - got["before"]
    print(f"{bucket.flavor}: peak RSS +{upload_growth:.0f} MB upload, +{download_growth:.0f} MB download")
    assert upload_growth < LIMIT_MB, got
    assert download_growth < LIMIT_MB, got
    _empty(bucket)


def _empty(bucket: Bucket) -> None:
    """Free the server's memory: the emulators keep objects in RAM."""
    from tests.remote.conftest import gcs_client, s3_client

    keys = bucket.keys()
    if bucket.flavor == "s3":
        s3_client(bucket.server).delete_objects(
            Bucket=bucket.name, Delete={"Objects": [{"Key": k} for k in keys]}
        )
    else:
        gcs = gcs_client(bucket.server).bucket(bucket.name)
        for key in keys:
            gcs.blob(key).delete()
