"""ML Metadata: the store component, run records and the post-run views."""
