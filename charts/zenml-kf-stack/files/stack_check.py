"""`helm test` of the zenml-kf-stack chart: can this stack's pods use its bucket and its MLMD store?

Runs in the chart's testImage as the pipeline service account (templates/tests/). Settings come
from ZKF_CHECK_* environment variables; credentials only from Secret references (AWS_* env vars
from secretKeyRef, GOOGLE_APPLICATION_CREDENTIALS pointing at a mounted Secret) or from the
pod's identity. Prints exactly one line: "OK ..." (exit 0) or "FAILED ..." naming each check
that failed and why (exit 1).
"""

import os
import sys
import uuid
import warnings

# Library warnings (google-api-core's Python version notice, ...) and gRPC's C core / absl
# logging go to stderr on their own; keep the output to our one line.
warnings.simplefilter("ignore")
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
os.environ.setdefault("GLOG_minloglevel", "3")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def setting(name, default=""):
    return os.environ.get("ZKF_CHECK_" + name, default).strip()


def one_line(exc):
    text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:400]


def split_root(root):
    scheme, sep, rest = root.partition("://")
    bucket, _, prefix = rest.partition("/")
    if not sep or scheme not in ("s3", "minio", "gs") or not bucket:
        raise ValueError(f"pipeline root {root!r} is not s3://, minio:// or gs:// bucket/prefix")
    prefix = prefix.strip("/")
    return scheme, bucket, prefix + "/" if prefix else ""


def round_trip_s3(bucket, key, body):
    import boto3
    from botocore.config import Config

    path_style = setting("S3_PATH_STYLE", "false").lower() == "true"
    config = Config(
        s3={"addressing_style": "path" if path_style else "auto"},
        connect_timeout=10,
        read_timeout=30,
        retries={"max_attempts": 2},
    )
    client = boto3.client(
        "s3",
        endpoint_url=setting("S3_ENDPOINT_URL") or None,
        region_name=setting("S3_REGION") or None,
        config=config,
    )
    client.put_object(Bucket=bucket, Key=key, Body=body)
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    finally:
        client.delete_object(Bucket=bucket, Key=key)


def round_trip_gcs(bucket, key, body):
    from google.cloud import storage

    client = storage.Client(project=setting("GCS_PROJECT") or None)
    blob = client.bucket(bucket).blob(key)
    blob.upload_from_string(body, timeout=30)
    try:
        return blob.download_as_bytes(timeout=30)
    finally:
        blob.delete(timeout=30)


def check_bucket():
    root = setting("PIPELINE_ROOT")
    scheme, bucket, prefix = split_root(root)
    key = f"{prefix}.zenml-kf-helm-test/{uuid.uuid4().hex}"
    body = f"zenml-kf helm test {uuid.uuid4().hex}".encode()
    round_trip = round_trip_gcs if scheme == "gs" else round_trip_s3
    got = round_trip(bucket, key, body)
    if got != body:
        raise ValueError(f"read back {len(got)} bytes that differ from the {len(body)} written")
    return f"bucket {root} (wrote, read back and deleted {scheme}://{bucket}/{key})"


def check_mlmd():
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    host, port = setting("MLMD_HOST"), int(setting("MLMD_PORT", "8080"))
    config = metadata_store_pb2.MetadataStoreClientConfig(host=host, port=port)
    config.client_timeout_sec = float(setting("MLMD_TIMEOUT_SECONDS", "10"))
    store = metadata_store.MetadataStore(config)
    types = store.get_context_types()
    return f"MLMD {host}:{port} ({len(types)} context types)"


def main():
    passed, failed = [], []
    mlmd_address = f"{setting('MLMD_HOST')}:{setting('MLMD_PORT', '8080')}"
    checks = (
        (f"bucket {setting('PIPELINE_ROOT')}", check_bucket),
        (f"MLMD gRPC store at {mlmd_address}", check_mlmd),
    )
    for name, check in checks:
        try:
            passed.append(check())
        except Exception as exc:
            failed.append(f"{name}: {one_line(exc)}")
    if failed:
        print("FAILED " + " | ".join(failed), flush=True)
        return 1
    print("OK " + "; ".join(passed), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
