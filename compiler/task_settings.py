"""Applies validated step settings to a KFP task: kfp for resources, env, retries and
caching, kfp-kubernetes for what only Kubernetes knows (secrets, node selectors,
tolerations, image pull secrets, timeouts).

Secrets and image pull secrets are written with kfp-kubernetes' own proto but only the
`secretName` field: kfp-kubernetes 1.5.0 also writes `secretNameParameter`, which the
KFP 2.2 to 2.4 drivers reject as an unknown field (their `jsonpb` parse of the
Kubernetes executor config in backend/src/v2/cmd/driver/main.go is strict;
kubeflow/pipelines#11935), while 2.5 and later read `secretName` when no parameter is set
(backend/src/v2/driver/driver.go at 2.5.0).
"""

from __future__ import annotations

from google.protobuf import json_format
from kfp import kubernetes
from kfp.dsl import PipelineTask
from kfp.kubernetes import common
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s

from zenml_kf.pipelines.settings import StepSettings


def apply_settings(task: PipelineTask, settings: StepSettings, enable_cache: bool) -> None:
    caching = enable_cache if settings.caching is None else settings.caching
    task.set_caching_options(enable_caching=caching)
    if settings.cpu_request:
        task.set_cpu_request(settings.cpu_request)
    if settings.cpu_limit:
        task.set_cpu_limit(settings.cpu_limit)
    if settings.memory_request:
        task.set_memory_request(settings.memory_request)
    if settings.memory_limit:
        task.set_memory_limit(settings.memory_limit)
    if settings.gpu_type:
        task.set_accelerator_type(settings.gpu_type)
        task.set_accelerator_limit(1 if settings.gpu_count is None else settings.gpu_count)
    for name, value in settings.env.items():
        task.set_env_variable(name, value)
    if settings.retries is not None:
        policy = settings.retries
        task.set_retry(
            num_retries=policy.max_retries,
            backoff_duration=f"{policy.backoff}s" if policy.backoff is not None else None,
            backoff_factor=policy.backoff_factor,
            backoff_max_duration=f"{policy.max_backoff}s" if policy.max_backoff is not None else None,
        )
    _add_secrets(task, settings)
    for label, value in settings.node_selector.items():
        kubernetes.add_node_selector(task, label_key=label, label_value=value)
    for toleration in settings.tolerations:
        kubernetes.add_toleration(
            task,
            key=toleration.key,
            operator=toleration.operator,
            value=toleration.value,
            effect=toleration.effect,
            toleration_seconds=toleration.toleration_seconds,
        )
    if settings.timeout is not None:
        kubernetes.set_timeout(task, settings.timeout)


def _add_secrets(task: PipelineTask, settings: StepSettings) -> None:
    if not settings.secret_env and not settings.image_pull_secrets:
        return
    config = common.get_existing_kubernetes_config_as_message(task)
    # One entry per variable: two variables may read the same key of one secret, which a
    # single key -> variable mapping could not express.
    for env_var, ref in settings.secret_env.items():
        mapping = k8s.SecretAsEnv.SecretKeyToEnvMap(secret_key=ref.key, env_var=env_var)
        config.secret_as_env.append(k8s.SecretAsEnv(secret_name=ref.secret, key_to_env=[mapping]))
    for name in settings.image_pull_secrets:
        config.image_pull_secret.append(k8s.ImagePullSecret(secret_name=name))
    task.platform_config["kubernetes"] = json_format.MessageToDict(config)
