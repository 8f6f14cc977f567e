"""Pipelines: `@pipeline` and the serializable graph model."""
