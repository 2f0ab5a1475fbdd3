"""The executor every job runs its steps with, chosen where the code location loads.

``LAPS_EXECUTOR`` picks it (unset or ``default``: Dagster's default, in-process or one process
per step):

- ``multiprocess``: one process per step on this machine; ``LAPS_MAX_CONCURRENT`` caps how
  many run at once (default: the CPU count).
- ``celery``: ``dagster-celery``'s ``celery_executor``; steps are Celery tasks on a broker
  (``LAPS_CELERY_BROKER``, e.g. ``redis://127.0.0.1:6379/0``, required) with results in
  ``LAPS_CELERY_BACKEND`` (default: the broker). The broker and backend URLs are read from the
  environment by the run process, so a password in them never reaches the run config. Workers
  run the same app: ``celery -A assets.celery_app worker -n NAME@%h`` with the same variables.
- ``k8s``: ``dagster-k8s``'s ``k8s_job_executor``; every step is a Kubernetes Job.
  ``LAPS_K8S_STORE_SECRET`` (default ``laps-store``) names the Secret whose keys become the
  step pods' environment (``LAPS_STORE_URI``, ``LAPS_LANDING_URI``, ``LAPS_S3_ENDPOINT_URL``,
  ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``);
  ``LAPS_K8S_NAMESPACE`` the namespace of the step Jobs (default: the run launcher's).

Steps of the ``gpu`` pool (the tokenizer and the codes) carry a ``dagster-k8s/config`` tag
(``pool_op_tags``) asking for one ``nvidia.com/gpu``, a node selector
(``LAPS_K8S_GPU_NODE_SELECTOR``, ``key=value[,key=value]``, default
``nvidia.com/gpu.present=true``, the label NVIDIA's GPU feature discovery sets) and a
toleration of the ``nvidia.com/gpu`` taint. Other executors ignore the tag.

The default path imports neither celery nor kubernetes: each executor's library is imported
only when it is chosen.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg

from pipeline.errors import ConfigError

EXECUTOR_VAR = "LAPS_EXECUTOR"
EXECUTOR_NAMES = ("default", "multiprocess", "celery", "k8s")
GPU_POOL = "gpu"
GPU_NODE_SELECTOR = "nvidia.com/gpu.present=true"
K8S_CONFIG_TAG = "dagster-k8s/config"
STORE_SECRET = "laps-store"
# steps are acknowledged when they finish (a worker that dies hands its step back) and a
# worker takes one step at a time; a step may run for hours (training), so the broker waits
# that long before handing an unacknowledged step to another worker
CELERY_SETTINGS: dict[str, Any] = {
    "task_acks_late": True,
    "worker_prefetch_multiplier": 1,
    "broker_transport_options": {
        "max_retries": 3,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
        "visibility_timeout": 12 * 3600,
    },
}


def executor_name(env: Mapping[str, str] | None = None) -> str:
    """The executor ``LAPS_EXECUTOR`` names (``default`` when unset or empty)."""
    env = os.environ if env is None else env
    name = (env.get(EXECUTOR_VAR) or "default").strip().lower()
    if name not in EXECUTOR_NAMES:
        raise ConfigError(f"{EXECUTOR_VAR}={name!r}: expected one of {', '.join(EXECUTOR_NAMES)}")
    return name


def _node_selector(env: Mapping[str, str]) -> dict[str, str]:
    text = env.get("LAPS_K8S_GPU_NODE_SELECTOR", GPU_NODE_SELECTOR)
    out = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"LAPS_K8S_GPU_NODE_SELECTOR: {item!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


def gpu_step_k8s_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``dagster-k8s/config`` of a ``gpu``-pool step: one GPU, on a GPU node."""
    env = os.environ if env is None else env
    return {
        "container_config": {"resources": {"limits": {"nvidia.com/gpu": 1}}},
        "pod_spec_config": {
            "node_selector": _node_selector(env),
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ],
        },
    }


def pool_op_tags(pools: Iterable[str], env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The op tags of a step in ``pools`` (the ``gpu`` pool: its Kubernetes GPU request)."""
    if GPU_POOL in set(pools):
        return {K8S_CONFIG_TAG: json.dumps(gpu_step_k8s_config(env), sort_keys=True)}
    return {}


def celery_app_args(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Broker, backend and Celery settings, as ``dagster_celery``'s executor passes them to its
    app (the workers' app, ``assets.celery_app``, is built from the same)."""
    env = os.environ if env is None else env
    broker = env.get("LAPS_CELERY_BROKER", "")
    if not broker:
        raise ConfigError(
            "LAPS_EXECUTOR=celery needs LAPS_CELERY_BROKER (e.g. redis://host:6379/0)"
        )
    return {
        "broker": broker,
        "backend": env.get("LAPS_CELERY_BACKEND") or broker,
        "config_source": dict(CELERY_SETTINGS),
    }


def _celery_executor(env: Mapping[str, str]) -> dg.ExecutorDefinition:
    from dagster_celery import celery_executor

    celery_app_args(env)  # refuse a missing broker when the code location loads
    backend = "LAPS_CELERY_BACKEND" if env.get("LAPS_CELERY_BACKEND") else "LAPS_CELERY_BROKER"
    return celery_executor.configured(
        {
            "broker": {"env": "LAPS_CELERY_BROKER"},
            "backend": {"env": backend},
            "config_source": CELERY_SETTINGS,
        },
        name="laps_celery",
    )


def k8s_executor_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``k8s_job_executor`` config: the store Secret as every step's environment, the
    namespace when one is set."""
    env = os.environ if env is None else env
    config: dict[str, Any] = {"env_secrets": [env.get("LAPS_K8S_STORE_SECRET") or STORE_SECRET]}
    if env.get("LAPS_K8S_NAMESPACE"):
        config["job_namespace"] = env["LAPS_K8S_NAMESPACE"]
    return config


def _k8s_executor(env: Mapping[str, str]) -> dg.ExecutorDefinition:
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor.configured(k8s_executor_config(env), name="laps_k8s")


def executor_from_env(env: Mapping[str, str] | None = None) -> dg.ExecutorDefinition | None:
    """The executor ``LAPS_EXECUTOR`` chooses; ``None`` keeps Dagster's default."""
    env = os.environ if env is None else env
    name = executor_name(env)
    if name == "multiprocess":
        limit = env.get("LAPS_MAX_CONCURRENT", "")
        if not limit:
            return dg.multiprocess_executor
        if not limit.isdigit() or int(limit) < 1:
            raise ConfigError(f"LAPS_MAX_CONCURRENT={limit!r}: expected a positive integer")
        return dg.multiprocess_executor.configured({"max_concurrent": int(limit)})
    if name == "celery":
        return _celery_executor(env)
    if name == "k8s":
        return _k8s_executor(env)
    return None
