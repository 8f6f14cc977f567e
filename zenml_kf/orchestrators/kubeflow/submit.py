"""A compiled pipeline into KFP: its pipeline and version, the experiment, then a run or a
recurring run, all through `kfp.Client`.

A pipeline is uploaded once, under the pipeline's name; each distinct compiled file is a
version named by its content hash, so submitting an unchanged pipeline again reuses its
version and every run of it groups under one pipeline in the KFP UI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from zenml_kf.orchestrators.kubeflow.connection import KFPConnection

if TYPE_CHECKING:
    from zenml_kf.orchestrators.schedule import Schedule
    from zenml_kf.pipelines.compilation import CompiledPipeline


@dataclass(frozen=True)
class PipelineVersion:
    pipeline_id: str
    version_id: str
    name: str
    uploaded: bool  # False: an identical version was there already


@dataclass(frozen=True)
class RunRequest:
    """What a run (or each run of a schedule) is created with."""

    name: str
    description: str
    parameters: dict[str, Any]
    pipeline_root: str
    experiment_id: str
    service_account: str | None


def run_parameters(compiled: CompiledPipeline) -> dict[str, Any]:
    """The pipeline inputs the compiler declared (`<step>-<parameter>`), with the values the
    step configs and config file gave, so a run shows them in the KFP UI."""
    from compiler.build import pipeline_parameter_name

    return {
        pipeline_parameter_name(spec.name, name): value
        for spec in compiled.graph.steps
        for name, value in spec.parameters.items()
    }


def version_name(compiled: CompiledPipeline) -> str:
    return f"{compiled.graph.name}-{compiled.spec_hash[:16]}"


def ensure_version(conn: KFPConnection, compiled: CompiledPipeline, namespace: str | None) -> PipelineVersion:
    client = conn.client
    name = compiled.graph.name
    wanted = version_name(compiled)
    pipeline_id = find_pipeline(conn, name, namespace)
    if pipeline_id is None:
        created = conn.call(
            f"uploading pipeline '{name}'",
            client.upload_pipeline,
            str(compiled.path),
            pipeline_name=name,
            description=compiled.graph.description,
            namespace=namespace,
        )
        pipeline_id = created.pipeline_id
    existing = _version_named(conn, pipeline_id, wanted)
    if existing is not None:
        return PipelineVersion(pipeline_id, existing, wanted, uploaded=False)
    uploaded = conn.call(
        f"uploading version '{wanted}' of pipeline '{name}'",
        client.upload_pipeline_version,
        str(compiled.path),
        pipeline_version_name=wanted,
        pipeline_id=pipeline_id,
        description=compiled.graph.description,
    )
    return PipelineVersion(pipeline_id, uploaded.pipeline_version_id, wanted, uploaded=True)


def find_pipeline(conn: KFPConnection, name: str, namespace: str | None) -> str | None:
    """The id of the pipeline named `name` (in `namespace`: multi-user KFP keeps a
    namespace's pipelines apart from the shared ones, which kfp.Client.get_pipeline_id
    searches)."""
    found = conn.call(
        f"looking up pipeline '{name}'",
        conn.client.list_pipelines,
        filter=_name_filter(name),
        namespace=namespace,
    )
    for pipeline in found.pipelines or []:
        if pipeline.display_name == name:
            return str(pipeline.pipeline_id)
    return None


def _version_named(conn: KFPConnection, pipeline_id: str, name: str) -> str | None:
    found = conn.call(
        f"listing the versions of pipeline {pipeline_id}",
        conn.client.list_pipeline_versions,
        pipeline_id,
        filter=_name_filter(name),
    )
    for version in found.pipeline_versions or []:
        if version.display_name == name:
            return str(version.pipeline_version_id)
    return None


def _name_filter(name: str) -> str:
    # KFP's filter syntax (backend/api/v2beta1/filter.proto), as kfp.Client.get_pipeline_id builds it.
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]})


def ensure_experiment(conn: KFPConnection, name: str, namespace: str | None) -> str:
    """The experiment's id; kfp.Client.create_experiment returns an existing one by name."""
    experiment = conn.call(
        f"opening experiment '{name}'", conn.client.create_experiment, name, namespace=namespace
    )
    return str(experiment.experiment_id)


def create_run(conn: KFPConnection, version: PipelineVersion, request: RunRequest) -> Any:
    """The new run, as the KFP API returns it.

    kfp.Client.run_pipeline cannot set a run's description, which carries the git commit,
    so the run is created with kfp's generated RunServiceApi on the client's connection.
    """
    import kfp_server_api as api

    body = api.V2beta1Run(
        display_name=request.name,
        description=request.description,
        experiment_id=request.experiment_id,
        pipeline_version_reference=api.V2beta1PipelineVersionReference(
            pipeline_id=version.pipeline_id, pipeline_version_id=version.version_id
        ),
        runtime_config=api.V2beta1RuntimeConfig(
            parameters=request.parameters, pipeline_root=request.pipeline_root
        ),
        service_account=request.service_account,
    )
    runs = conn.api("RunServiceApi")
    return conn.call(
        f"creating run '{request.name}'",
        runs.run_service_create_run,
        body=body,
        _request_timeout=conn.timeout,
    )


def create_recurring_run(
    conn: KFPConnection, version: PipelineVersion, request: RunRequest, schedule: Schedule
) -> Any:
    def rfc3339(moment: datetime | None) -> str | None:
        if moment is None:
            return None
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # naive: UTC
        return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return conn.call(
        f"creating recurring run '{request.name}'",
        conn.client.create_recurring_run,
        request.experiment_id,
        request.name,
        description=request.description,
        start_time=rfc3339(schedule.start),
        end_time=rfc3339(schedule.end),
        interval_second=schedule.interval_seconds,
        cron_expression=schedule.cron,
        max_concurrency=schedule.max_concurrency,
        no_catchup=not schedule.catchup,
        params=request.parameters,
        pipeline_id=version.pipeline_id,
        version_id=version.version_id,
        pipeline_root=request.pipeline_root,
        service_account=request.service_account,
    )
