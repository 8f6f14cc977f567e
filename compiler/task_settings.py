"""Applies validated step settings to a KFP task: kfp for resources, env, retries and
caching, kfp-kubernetes for what only Kubernetes knows (secrets, node selectors,
tolerations, image pull secrets, timeouts)."""

from __future__ import annotations

from kfp import kubernetes
from kfp.dsl import PipelineTask

from zenml_kf.steps.settings import StepSettings


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
    # One call per variable: two variables may read the same key of one secret, which a
    # single key -> variable mapping could not express.
    for env_var, ref in settings.secret_env.items():
        kubernetes.use_secret_as_env(task, secret_name=ref.secret, secret_key_to_env={ref.key: env_var})
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
    if settings.image_pull_secrets:
        kubernetes.set_image_pull_secrets(task, settings.image_pull_secrets)
    if settings.timeout is not None:
        kubernetes.set_timeout(task, settings.timeout)
