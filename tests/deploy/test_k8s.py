"""The Kubernetes deployment: ``LAPS_EXECUTOR=k8s`` loads the code location with
``k8s_job_executor``, the ``gpu``-pool steps' tags make dagster-k8s build step Jobs that request a
GPU on a GPU node, and ``deploy/helm/values.yaml`` fits dagster-k8s's own config schemas.

The official chart's ``values.schema.json`` is not available offline (dagster-k8s does not ship
it), so the chart values that become dagster-k8s config (the run launcher's) are checked against
the schema in dagster-k8s, and the rest against what the code location reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from assets.executors import (
    K8S_CONFIG_TAG,
    executor_from_env,
    gpu_step_k8s_config,
    k8s_executor_config,
    pool_op_tags,
)

dagster_k8s = pytest.importorskip("dagster_k8s", reason="pip install -e '.[dev]' (k8s extra)")
from dagster._config import validate_config  # noqa: E402
from dagster_k8s.job import (  # noqa: E402
    DagsterK8sJobConfig,
    construct_dagster_k8s_job,
    get_user_defined_k8s_config,
)

REPO = Path(__file__).resolve().parents[2]
VALUES = REPO / "deploy" / "helm" / "values.yaml"
GPU_STEPS = {"motion_tokenizer", "latent_codes"}

# what the code location shows with LAPS_EXECUTOR=k8s, loaded in a fresh interpreter (this one
# may have imported assets.definitions with another executor already)
_PROBE = """
import json, sys
from dagster._core.execution.api import create_execution_plan
from assets.definitions import defs
out = {"executors": set(), "tags": {}, "pools": {}}
for name in ("partition_job", "train_tokenizer_job"):
    job = defs.get_job_def(name)
    out["executors"].add(job.executor_def.name)
    for s in create_execution_plan(job).steps:
        out["tags"][s.key], out["pools"][s.key] = dict(s.tags), s.pool
out["executors"] = sorted(out["executors"])
out["kubernetes_loaded"] = "kubernetes" in sys.modules
print(json.dumps(out))
"""


def _probe(extra_env: dict[str, str]) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **extra_env}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def _values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def _deployment_env(values: dict) -> dict[str, str]:
    (dep,) = values["dagster-user-deployments"]["deployments"]
    return {e["name"]: e["value"] for e in dep["env"]}


def _step_job(tags: dict[str, str]):
    """The Kubernetes Job dagster-k8s builds for a step with these tags."""
    return construct_dagster_k8s_job(
        job_config=DagsterK8sJobConfig(
            job_image="registry.example.com/laps-pipeline:0.1.0",
            dagster_home="/opt/dagster/dagster_home",
            env_secrets=k8s_executor_config({})["env_secrets"],
        ),
        args=["dagster", "api", "execute_step"],
        job_name="dagster-step-test",
        user_defined_k8s_config=get_user_defined_k8s_config(tags),
    )


@pytest.mark.slow
def test_code_location_with_the_k8s_executor_requests_gpus_for_the_gpu_pool():
    shown = _probe({"LAPS_EXECUTOR": "k8s"})
    assert shown["executors"] == ["laps_k8s"]
    gpu = {k for k, pool in shown["pools"].items() if pool == "gpu"}
    assert gpu == GPU_STEPS
    for key, tags in shown["tags"].items():
        job = _step_job(tags)
        pod = job.spec.template.spec
        (container,) = pod.containers
        limits = (container.resources.limits or {}) if container.resources else {}
        if key in gpu:
            assert limits == {"nvidia.com/gpu": "1"}, key  # a quantity, as Kubernetes has it
            assert pod.node_selector == {"nvidia.com/gpu.present": "true"}, key
            assert [t.key for t in pod.tolerations] == ["nvidia.com/gpu"], key
        else:
            assert "nvidia.com/gpu" not in limits and not pod.node_selector, key
        # the store's Secret is every step pod's environment
        assert [s.secret_ref.name for s in container.env_from] == ["laps-store"], key
    # the default executor: Dagster's, and kubernetes is never imported
    default = _probe({"LAPS_EXECUTOR": ""})
    assert default["executors"] == ["multi_or_in_process_executor"]
    assert not default["kubernetes_loaded"]


def test_k8s_executor_config_fits_dagster_k8s_schema():
    from dagster_k8s import k8s_job_executor

    env = {"LAPS_EXECUTOR": "k8s", "LAPS_K8S_STORE_SECRET": "s3-env", "LAPS_K8S_NAMESPACE": "laps"}
    assert executor_from_env(env).name == "laps_k8s"
    config = k8s_executor_config(env)
    assert config == {"env_secrets": ["s3-env"], "job_namespace": "laps"}
    result = validate_config(k8s_job_executor.config_schema.config_type, config)
    assert result.success, result.errors
    # the step tag is valid dagster-k8s/config (the library validates it when it reads it)
    tags = pool_op_tags(["gpu"], {"LAPS_K8S_GPU_NODE_SELECTOR": "pool=gpu, zone=a"})
    user = get_user_defined_k8s_config(tags)
    assert user.container_config == {"resources": {"limits": {"nvidia.com/gpu": 1}}}
    assert user.pod_spec_config["node_selector"] == {"pool": "gpu", "zone": "a"}
    assert pool_op_tags(["vlm"]) == {}


def test_bad_executor_settings_are_refused():
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="LAPS_EXECUTOR='spark'"):
        executor_from_env({"LAPS_EXECUTOR": "spark"})
    with pytest.raises(ConfigError, match="LAPS_CELERY_BROKER"):
        executor_from_env({"LAPS_EXECUTOR": "celery"})
    with pytest.raises(ConfigError, match="LAPS_MAX_CONCURRENT"):
        executor_from_env({"LAPS_EXECUTOR": "multiprocess", "LAPS_MAX_CONCURRENT": "0"})
    with pytest.raises(ConfigError, match="key=value"):
        gpu_step_k8s_config({"LAPS_K8S_GPU_NODE_SELECTOR": "gpu"})


def test_helm_values_fit_the_run_launcher_schema_and_the_code_location():
    from dagster_k8s import K8sRunLauncher

    values = _values()
    # the run launcher's chart values become its dagster-k8s config (the chart's template
    # renders these keys, snake-cased, into the instance's dagster.yaml)
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    chart = values["runLauncher"]["config"]["k8sRunLauncher"]
    config = {
        "image_pull_policy": chart["imagePullPolicy"],
        "load_incluster_config": chart["loadInclusterConfig"],
        "env_secrets": [s["name"] for s in chart["envSecrets"]],
        "env_vars": chart["envVars"],
        # what the chart's template adds from the release itself
        "instance_config_map": "laps-dagster-instance",
        "service_account_name": "laps-dagster",
        "dagster_home": "/opt/dagster/dagster_home",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
    }
    assert set(chart) == {"imagePullPolicy", "loadInclusterConfig", "envSecrets", "envVars"}
    result = validate_config(K8sRunLauncher.config_type(), config)
    assert result.success, result.errors

    # the user deployment serves this code location with the k8s executor, and the Secret the
    # step pods get is the one the run pods and the code server get
    (dep,) = values["dagster-user-deployments"]["deployments"]
    assert dep["dagsterApiGrpcArgs"] == ["--module-name", "assets.definitions"]
    env = _deployment_env(values)
    assert executor_from_env(env).name == "laps_k8s"
    secret = k8s_executor_config(env)["env_secrets"]
    assert secret == config["env_secrets"] == [s["name"] for s in dep["envSecrets"]]
    assert dep["includeConfigInLaunchedRuns"]["enabled"] is True
    # the GPU node selector the values set is the one the gpu steps' tags carry
    selector = gpu_step_k8s_config(env)["pod_spec_config"]["node_selector"]
    assert selector == {"nvidia.com/gpu.present": "true"}
    assert json.loads(pool_op_tags(["gpu"], env)[K8S_CONFIG_TAG]) == gpu_step_k8s_config(env)

    # the production instance's limits, as docker/dagster.yaml has them
    assert values["telemetry"]["enabled"] is False
    runs = values["concurrency"]["runs"]
    assert runs["tagConcurrencyLimits"] == [
        {
            "key": "dagster/partition/station",
            "value": {"applyLimitPerUniqueValue": True},
            "limit": 1,
        }
    ]
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert (
        values["postgresql"]["enabled"] is True
        and values["generatePostgresqlPasswordSecret"] is False
    )
