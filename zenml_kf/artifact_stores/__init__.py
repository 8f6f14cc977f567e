"""Artifact stores: where artifact bytes live (a local folder, GCS, S3)."""
