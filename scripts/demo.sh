#!/usr/bin/env bash
# The main job end to end on the default local stack: compile the digits example to
# Kubeflow Pipelines v2 YAML, run it, run it again (every step cached), and show what
# ML Metadata recorded. Run twice, the first run may itself be cached by an earlier demo.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -f .zen/config.yaml ] || zenml init
example=examples/digits/pipeline.py:digits_pipeline_run

echo "== Compile to KFP v2 YAML: one container per step"
zenml compile "$example" -o out/digits_pipeline.yaml
echo
echo "== Run the pipeline (steps whose inputs are unchanged come from the cache)"
zenml run "$example"
echo
echo "== Run it again: nothing changed, so every step comes from the cache"
zenml run "$example"
echo
echo "== The latest runs recorded in ML Metadata (.zen/local_stores/metadata.db)"
zenml runs list --pipeline digits_pipeline --limit 5
