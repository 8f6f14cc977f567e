"""The zenml-kf-stack Helm chart, checked with the real helm binary and Kubernetes' schemas.

No cluster runs here, so the chart is checked as far as a client can: `helm lint --strict`,
`helm template` of every supported combination validated strictly against Kubernetes 1.29
and the newest schema kubernetes-validate ships, values.schema.json refusing bad values,
the two ConfigMaps other programs read (KFP's `kfp-launcher`, zenml's `zenml-kf-stack`)
against their formats, a security walk over every object, and the helm-test script run
for real against loopback servers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.helm_chart import (
    CHART,
    FULLNAME,
    INSTALL_HELM,
    NAMESPACE,
    Helm,
    containers,
    find,
    kn,
    kubernetes_versions,
    pod_specs,
    validate_strict,
)
from tests.remote import remote_servers as servers

pytestmark = pytest.mark.xdist_group("chart")

MINIO_SVC = f"{FULLNAME}-minio.{NAMESPACE}:9000"
MLMD_SVC = f"{FULLNAME}-mlmd.{NAMESPACE}"

# --- the combinations the chart supports: values, and what each must produce ----------------
# stack: the zenml-kf-stack ConfigMap's stack.yaml (the contract with `zenml stack import-values`)
# launcher: the kfp-launcher ConfigMap (defaultPipelineRoot, providers parsed from YAML)

COMBOS: dict[str, dict[str, Any]] = {
    "aws-default": {
        "values": {"artifactStore": {"pipelineRoot": "s3://zenml-bucket/kfp"}},
        "stack": {
            "stack": "kubeflow",
            "orchestrator": {"flavor": "kubeflow", "config": {"service_account": "zenml-kf-pipeline"}},
            "artifact_store": {"flavor": "s3", "config": {"path": "s3://zenml-bucket/kfp"}},
            "metadata_store": {
                "flavor": "grpc",
                "config": {"host": "metadata-grpc-service.kubeflow", "port": 8080},
            },
        },
        "launcher": {
            "defaultPipelineRoot": "s3://zenml-bucket/kfp",
            "providers": {
                "s3": {
                    "default": {
                        "disableSSL": False,
                        "forcePathStyle": False,
                        "credentials": {"fromEnv": True},
                    }
                }
            },
        },
        "secrets": set(),
    },
    "minio": {
        "values": {
            "stackName": "local-minio",
            "minio": {"enabled": True, "rootCredentialsSecret": "minio-root"},
        },
        "stack": {
            "stack": "local-minio",
            "orchestrator": {"flavor": "kubeflow", "config": {"service_account": "zenml-kf-pipeline"}},
            "artifact_store": {
                "flavor": "s3",
                "config": {
                    "path": "s3://zenml-artifacts",
                    "endpoint_url": f"http://{MINIO_SVC}",
                    "path_style": True,
                },
            },
            "metadata_store": {
                "flavor": "grpc",
                "config": {"host": "metadata-grpc-service.kubeflow", "port": 8080},
            },
        },
        "launcher": {
            "defaultPipelineRoot": "s3://zenml-artifacts",
            "providers": {
                "s3": {
                    "default": {
                        "endpoint": MINIO_SVC,
                        "region": "us-east-1",
                        "disableSSL": True,
                        "forcePathStyle": True,
                        "credentials": {
                            "fromEnv": False,
                            "secretRef": {
                                "secretName": "minio-root",
                                "accessKeyKey": "root-user",
                                "secretKeyKey": "root-password",
                            },
                        },
                    }
                }
            },
        },
        "secrets": {"minio-root"},
    },
    "minio-scheme-root": {
        # A minio:// root on the in-chart MinIO: KFP looks its provider up under "minio".
        "values": {
            "artifactStore": {"pipelineRoot": "minio://zenml-artifacts/runs"},
            "minio": {"enabled": True, "rootCredentialsSecret": "minio-root"},
        },
        "stack": {
            "stack": "kubeflow",
            "orchestrator": {"flavor": "kubeflow", "config": {"service_account": "zenml-kf-pipeline"}},
            "artifact_store": {
                "flavor": "s3",
                "config": {
                    "path": "minio://zenml-artifacts/runs",
                    "endpoint_url": f"http://{MINIO_SVC}",
                    "path_style": True,
                },
            },
            "metadata_store": {
                "flavor": "grpc",
                "config": {"host": "metadata-grpc-service.kubeflow", "port": 8080},
            },
        },
        "launcher": {
            "defaultPipelineRoot": "minio://zenml-artifacts/runs",
            "providers": {
                "minio": {
                    "default": {
                        "endpoint": MINIO_SVC,
                        "region": "us-east-1",
                        "disableSSL": True,
                        "forcePathStyle": True,
                        "credentials": {
                            "fromEnv": False,
                            "secretRef": {
                                "secretName": "minio-root",
                                "accessKeyKey": "root-user",
                                "secretKeyKey": "root-password",
                            },
                        },
                    }
                }
            },
        },
        "secrets": {"minio-root"},
    },
    "mlmd-mysql": {
        "values": {
            "artifactStore": {"pipelineRoot": "s3://zenml-bucket/kfp"},
            "mlmd": {"enabled": True, "passwordSecret": {"name": "mlmd-mysql"}},
        },
        "stack": {
            "stack": "kubeflow",
            "orchestrator": {"flavor": "kubeflow", "config": {"service_account": "zenml-kf-pipeline"}},
            "artifact_store": {"flavor": "s3", "config": {"path": "s3://zenml-bucket/kfp"}},
            "metadata_store": {"flavor": "grpc", "config": {"host": MLMD_SVC, "port": 8080}},
        },
        "launcher": {
            "defaultPipelineRoot": "s3://zenml-bucket/kfp",
            "providers": {
                "s3": {
                    "default": {
                        "disableSSL": False,
                        "forcePathStyle": False,
                        "credentials": {"fromEnv": True},
                    }
                }
            },
        },
        "secrets": set(),
    },
    "mlmd-external": {
        "values": {
            "artifactStore": {"pipelineRoot": "s3://zenml-bucket/kfp"},
            "mlmd": {
                "enabled": True,
                "mysql": {"enabled": False},
                "externalDatabase": {
                    "host": "mysql.databases.svc.cluster.local",
                    "port": 3307,
                    "database": "kfp_mlmd",
                    "user": "zenml",
                    "passwordSecret": {"name": "mlmd-db", "key": "mlmd-password"},
                },
            },
        },
        "stack": {
            "stack": "kubeflow",
            "orchestrator": {"flavor": "kubeflow", "config": {"service_account": "zenml-kf-pipeline"}},
            "artifact_store": {"flavor": "s3", "config": {"path": "s3://zenml-bucket/kfp"}},
            "metadata_store": {"flavor": "grpc", "config": {"host": MLMD_SVC, "port": 8080}},
        },
        "launcher": {
            "defaultPipelineRoot": "s3://zenml-bucket/kfp",
            "providers": {
                "s3": {
                    "default": {
                        "disableSSL": False,
                        "forcePathStyle": False,
                        "credentials": {"fromEnv": True},
                    }
                }
            },
        },
        "secrets": set(),
    },
    "gke": {
        "values": {
            "stackName": "gke-prod",
            "kfp": {"host": "https://kubeflow.example.com/pipeline", "namespace": "team-a"},
            "imageRegistry": "europe-docker.pkg.dev/my-project-123/steps",
            "artifactStore": {
                "type": "gcs",
                "pipelineRoot": "gs://zenml-gke/pipelines",
                "gcs": {"project": "my-project-123"},
            },
            "serviceAccount": {"gcpServiceAccount": "kfp-steps@my-project-123.iam.gserviceaccount.com"},
        },
        "stack": {
            "stack": "gke-prod",
            "orchestrator": {
                "flavor": "kubeflow",
                "config": {
                    "host": "https://kubeflow.example.com/pipeline",
                    "namespace": "team-a",
                    "image_registry": "europe-docker.pkg.dev/my-project-123/steps",
                    "service_account": "zenml-kf-pipeline",
                },
            },
            "artifact_store": {
                "flavor": "gcp",
                "config": {"path": "gs://zenml-gke/pipelines", "project": "my-project-123"},
            },
            "metadata_store": {
                "flavor": "grpc",
                "config": {"host": "metadata-grpc-service.kubeflow", "port": 8080},
            },
        },
        "launcher": {
            "defaultPipelineRoot": "gs://zenml-gke/pipelines",
            "providers": {"gs": {"default": {"credentials": {"fromEnv": True}}}},
        },
        "secrets": set(),
        "sa_annotations": {
            "iam.gke.io/gcp-service-account": "kfp-steps@my-project-123.iam.gserviceaccount.com"
        },
    },
    "gcs-key-secret": {
        "values": {
            "artifactStore": {
                "type": "gcs",
                "pipelineRoot": "gs://zenml-gcs/root",
                "gcs": {"credentials": {"fromEnv": False, "secretName": "gcs-sa", "tokenKey": "key.json"}},
            },
        },
        "stack": {
            "stack": "kubeflow",
            "orchestrator": {"flavor": "kubeflow", "config": {"service_account": "zenml-kf-pipeline"}},
            "artifact_store": {"flavor": "gcp", "config": {"path": "gs://zenml-gcs/root"}},
            "metadata_store": {
                "flavor": "grpc",
                "config": {"host": "metadata-grpc-service.kubeflow", "port": 8080},
            },
        },
        "launcher": {
            "defaultPipelineRoot": "gs://zenml-gcs/root",
            "providers": {
                "gs": {
                    "default": {
                        "credentials": {
                            "fromEnv": False,
                            "secretRef": {"secretName": "gcs-sa", "tokenKey": "key.json"},
                        }
                    }
                }
            },
        },
        "secrets": {"gcs-sa"},
    },
    "eks": {
        "values": {
            "artifactStore": {
                "pipelineRoot": "s3://zenml-eks/pipelines",
                "s3": {"region": "eu-west-1", "credentials": {"fromEnv": True}},
            },
            "serviceAccount": {
                "name": "kfp-steps",
                "awsRoleArn": "arn:aws:iam::123456789012:role/zenml-kf-steps",
                "annotations": {"example.com/owner": "ml-platform"},
            },
        },
        "stack": {
            "stack": "kubeflow",
            "orchestrator": {"flavor": "kubeflow", "config": {"service_account": "kfp-steps"}},
            "artifact_store": {
                "flavor": "s3",
                "config": {"path": "s3://zenml-eks/pipelines", "region": "eu-west-1"},
            },
            "metadata_store": {
                "flavor": "grpc",
                "config": {"host": "metadata-grpc-service.kubeflow", "port": 8080},
            },
        },
        "launcher": {
            "defaultPipelineRoot": "s3://zenml-eks/pipelines",
            "providers": {
                "s3": {
                    "default": {
                        "region": "eu-west-1",
                        "disableSSL": False,
                        "forcePathStyle": False,
                        "credentials": {"fromEnv": True},
                    }
                }
            },
        },
        "secrets": set(),
        "sa_annotations": {
            "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/zenml-kf-steps",
            "example.com/owner": "ml-platform",
        },
    },
    "s3-compatible": {
        "values": {
            "artifactStore": {
                "pipelineRoot": "s3://artifacts/zenml",
                "s3": {
                    "endpoint": "ceph-rgw.storage.svc:7480",
                    "region": "default",
                    "disableSSL": True,
                    "forcePathStyle": True,
                    "credentials": {
                        "secretName": "rgw-keys",
                        "accessKeyKey": "access",
                        "secretKeyKey": "secret",
                    },
                },
            },
            "metadataStore": {"grpc": {"host": "mlmd.shared-services", "port": 9090}},
        },
        "stack": {
            "stack": "kubeflow",
            "orchestrator": {"flavor": "kubeflow", "config": {"service_account": "zenml-kf-pipeline"}},
            "artifact_store": {
                "flavor": "s3",
                "config": {
                    "path": "s3://artifacts/zenml",
                    "endpoint_url": "http://ceph-rgw.storage.svc:7480",
                    "region": "default",
                    "path_style": True,
                },
            },
            "metadata_store": {"flavor": "grpc", "config": {"host": "mlmd.shared-services", "port": 9090}},
        },
        "launcher": {
            "defaultPipelineRoot": "s3://artifacts/zenml",
            "providers": {
                "s3": {
                    "default": {
                        "endpoint": "ceph-rgw.storage.svc:7480",
                        "region": "default",
                        "disableSSL": True,
                        "forcePathStyle": True,
                        "credentials": {
                            "fromEnv": False,
                            "secretRef": {
                                "secretName": "rgw-keys",
                                "accessKeyKey": "access",
                                "secretKeyKey": "secret",
                            },
                        },
                    }
                }
            },
        },
        "secrets": {"rgw-keys"},
    },
    "kfp-minio": {
        # KFP's own MinIO with its own secret, through a minio:// root (provider key "minio").
        "values": {
            "artifactStore": {
                "pipelineRoot": "minio://mlpipeline/zenml",
                "s3": {
                    "endpoint": "minio-service.kubeflow:9000",
                    "region": "minio",
                    "disableSSL": True,
                    "forcePathStyle": True,
                    "credentials": {
                        "secretName": "mlpipeline-minio-artifact",
                        "accessKeyKey": "accesskey",
                        "secretKeyKey": "secretkey",
                    },
                },
            },
        },
        "stack": {
            "stack": "kubeflow",
            "orchestrator": {"flavor": "kubeflow", "config": {"service_account": "zenml-kf-pipeline"}},
            "artifact_store": {
                "flavor": "s3",
                "config": {
                    "path": "minio://mlpipeline/zenml",
                    "endpoint_url": "http://minio-service.kubeflow:9000",
                    "region": "minio",
                    "path_style": True,
                },
            },
            "metadata_store": {
                "flavor": "grpc",
                "config": {"host": "metadata-grpc-service.kubeflow", "port": 8080},
            },
        },
        "launcher": {
            "defaultPipelineRoot": "minio://mlpipeline/zenml",
            "providers": {
                "minio": {
                    "default": {
                        "endpoint": "minio-service.kubeflow:9000",
                        "region": "minio",
                        "disableSSL": True,
                        "forcePathStyle": True,
                        "credentials": {
                            "fromEnv": False,
                            "secretRef": {
                                "secretName": "mlpipeline-minio-artifact",
                                "accessKeyKey": "accesskey",
                                "secretKeyKey": "secretkey",
                            },
                        },
                    }
                }
            },
        },
        "secrets": {"mlpipeline-minio-artifact"},
    },
}


@pytest.fixture(scope="module")
def rendered(helm: Helm) -> dict[str, list[dict[str, Any]]]:
    """Every combination rendered once (Kubernetes 1.29 capabilities)."""
    return {name: helm.objects(combo["values"]) for name, combo in COMBOS.items()}


# --- lint and strict Kubernetes validation -------------------------------------------------


def test_lint_strict_with_defaults_and_a_pipeline_root(helm: Helm) -> None:
    result = helm.lint(sets=("artifactStore.pipelineRoot=s3://b/p",))
    assert result.code == 0, result
    assert "1 chart(s) linted, 0 chart(s) failed" in result.out, result
    assert "[WARNING]" not in result.out and "[ERROR]" not in result.out, result


@pytest.mark.parametrize("combo", sorted(COMBOS))
def test_lint_strict_each_combination(helm: Helm, combo: str) -> None:
    result = helm.lint(COMBOS[combo]["values"])
    assert result.code == 0, result


@pytest.mark.parametrize("combo", sorted(COMBOS))
def test_every_rendered_object_is_valid_kubernetes(helm: Helm, combo: str) -> None:
    for version in kubernetes_versions():
        objects = helm.objects(COMBOS[combo]["values"], kube_version=version)
        assert objects
        for obj in objects:
            try:
                validate_strict(obj, version)
            except Exception as exc:  # pragma: no cover - the message is the point
                pytest.fail(f"{combo}: {kn(obj)} is not valid Kubernetes {version}: {exc}")


def test_strict_validation_catches_a_bad_field(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The validator used above really rejects unknown fields and wrong types."""
    from kubernetes_validate import ValidationError

    newest = kubernetes_versions()[1]
    deployment = find(rendered["minio"], "Deployment", f"{FULLNAME}-minio")
    bad = yaml.safe_load(yaml.safe_dump(deployment))
    bad["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonroot"] = True
    with pytest.raises(ValidationError):
        validate_strict(bad, newest)
    bad = yaml.safe_load(yaml.safe_dump(deployment))
    bad["spec"]["replicas"] = "one"
    with pytest.raises(ValidationError):
        validate_strict(bad, newest)


def test_each_combination_renders_the_expected_objects(rendered: dict[str, list[dict[str, Any]]]) -> None:
    def names(combo: str) -> set[str]:
        return {kn(o) for o in rendered[combo]}

    base = {
        "ConfigMap/kfp-launcher",
        "ConfigMap/zenml-kf-stack",
        "ServiceAccount/zenml-kf-pipeline",
        f"Role/{FULLNAME}-pipeline",
        f"RoleBinding/{FULLNAME}-pipeline",
        f"Pod/{FULLNAME}-test",
    }
    minio = {
        f"PersistentVolumeClaim/{FULLNAME}-minio",
        f"Deployment/{FULLNAME}-minio",
        f"Service/{FULLNAME}-minio",
        f"Job/{FULLNAME}-minio-bucket",
    }
    mlmd = {f"Deployment/{FULLNAME}-mlmd", f"Service/{FULLNAME}-mlmd"}
    mysql = {f"StatefulSet/{FULLNAME}-mysql", f"Service/{FULLNAME}-mysql"}
    assert names("aws-default") == base
    assert names("minio") == base | minio
    assert names("mlmd-mysql") == base | mlmd | mysql
    assert names("mlmd-external") == base | mlmd
    assert names("eks") == (base - {"ServiceAccount/zenml-kf-pipeline"}) | {"ServiceAccount/kfp-steps"}
    for obj in (o for objects in rendered.values() for o in objects):
        assert obj["metadata"]["namespace"] == NAMESPACE, kn(obj)


# --- values.schema.json and the chart's own checks refuse bad values -----------------------

ROOT = "artifactStore.pipelineRoot=s3://b/p"
BAD_VALUES = [
    # (id, --set values, fragments the error must contain)
    ("wrong-type-port", (ROOT, "metadataStore.grpc.port=abc"), ["metadataStore.grpc.port", "Invalid type"]),
    ("wrong-type-bool", (ROOT, "minio.enabled=yes"), ["minio.enabled", "Invalid type"]),
    ("wrong-type-object", (ROOT, "kfp=abc"), ["kfp", "Invalid type"]),
    ("unknown-key", (ROOT, "kfp.hostname=x"), ["kfp", "Additional property hostname is not allowed"]),
    ("unknown-top-key", (ROOT, "replicas=2"), ["Additional property replicas is not allowed"]),
    (
        "clear-text-secret-access-key",
        (ROOT, "artifactStore.s3.credentials.secretAccessKey=abc"),
        ["artifactStore.s3.credentials", "secretAccessKey"],
    ),
    (
        "clear-text-access-key",
        (ROOT, "artifactStore.s3.credentials.accessKey=AKIAIOSFODNN7EXAMPLE"),
        ["artifactStore.s3.credentials", "accessKey"],
    ),
    (
        "clear-text-db-password",
        (ROOT, "mlmd.externalDatabase.password=pw"),
        ["mlmd.externalDatabase", "password"],
    ),
    ("clear-text-minio-password", (ROOT, "minio.rootPassword=pw"), ["minio", "rootPassword"]),
    (
        "clear-text-gcs-token",
        (ROOT, "artifactStore.gcs.credentials.token=x"),
        ["artifactStore.gcs.credentials", "token"],
    ),
    (
        "access-key-as-key-name",
        (ROOT, "artifactStore.s3.credentials.accessKeyKey=AKIAIOSFODNN7EXAMPLE"),
        ["artifactStore.s3.credentials.accessKeyKey"],
    ),
    (
        "secret-name-not-a-k8s-name",
        (ROOT, "artifactStore.s3.credentials.secretName=My Secret"),
        ["artifactStore.s3.credentials.secretName", "pattern"],
    ),
    (
        "root-without-scheme",
        ("artifactStore.pipelineRoot=my-bucket/path",),
        ["artifactStore.pipelineRoot", "pattern"],
    ),
    ("root-missing", (), ["artifactStore.pipelineRoot", "greater than or equal to 1"]),
    (
        "gs-root-for-s3",
        ("artifactStore.pipelineRoot=gs://b/p",),
        ["artifactStore.pipelineRoot", "(s3|minio)"],
    ),
    (
        "s3-root-for-gcs",
        ("artifactStore.type=gcs", "artifactStore.pipelineRoot=s3://b/p"),
        ["artifactStore.pipelineRoot", "gs://"],
    ),
    ("unknown-store-type", ("artifactStore.type=azure", ROOT), ["artifactStore.type"]),
    ("minio-without-root-secret", ("minio.enabled=true",), ["minio.rootCredentialsSecret"]),
    (
        "minio-with-gcs",
        ("minio.enabled=true", "minio.rootCredentialsSecret=m", "artifactStore.type=gcs"),
        ["artifactStore.type"],
    ),
    (
        "mlmd-external-without-host",
        (
            ROOT,
            "mlmd.enabled=true",
            "mlmd.mysql.enabled=false",
            "mlmd.externalDatabase.passwordSecret.name=db",
        ),
        ["mlmd.externalDatabase.host"],
    ),
    (
        "mlmd-external-without-password-secret",
        (ROOT, "mlmd.enabled=true", "mlmd.mysql.enabled=false", "mlmd.externalDatabase.host=db"),
        ["mlmd.externalDatabase.passwordSecret.name"],
    ),
    ("mlmd-mysql-without-password-secret", (ROOT, "mlmd.enabled=true"), ["mlmd.passwordSecret.name"]),
    ("image-latest", (ROOT, "testImage=ghcr.io/zenml-kf/zenml-kf-base:latest"), ["testImage"]),
    ("image-untagged", (ROOT, "minio.image=quay.io/minio/minio"), ["minio.image", "pattern"]),
    ("resources-without-limits", (ROOT, "resources.limits=null"), ["resources", "limits is required"]),
    ("bad-stack-name", (ROOT, "stackName=-bad name"), ["stackName", "pattern"]),
    (
        "endpoint-with-scheme",
        (ROOT, "artifactStore.s3.endpoint=https://s3.example.com"),
        ["artifactStore.s3.endpoint"],
    ),
    (
        "from-env-and-secret",
        (ROOT, "artifactStore.s3.credentials.fromEnv=true", "artifactStore.s3.credentials.secretName=keys"),
        ["artifactStore.s3.credentials.secretName"],
    ),
    (
        "gcs-secret-without-token-key",
        (
            "artifactStore.type=gcs",
            "artifactStore.pipelineRoot=gs://b/p",
            "artifactStore.gcs.credentials.fromEnv=false",
            "artifactStore.gcs.credentials.secretName=gcs-sa",
        ),
        ["artifactStore.gcs.credentials.tokenKey"],
    ),
    ("role-arn", (ROOT, "serviceAccount.awsRoleArn=zenml-role"), ["serviceAccount.awsRoleArn"]),
]


@pytest.mark.parametrize(("sets", "fragments"), [c[1:] for c in BAD_VALUES], ids=[c[0] for c in BAD_VALUES])
def test_schema_refuses_bad_values(helm: Helm, sets: tuple[str, ...], fragments: list[str]) -> None:
    for result in (helm.template(sets=sets), helm.lint(sets=sets)):
        assert result.code != 0, result
        message = result.out + result.err
        # helm template says so; helm lint reports the schema errors against values.yaml.
        assert "values don't meet the specifications of the schema" in message or (
            "[ERROR] values.yaml:" in message
        ), result
        for fragment in fragments:
            assert fragment in message, f"{fragment!r} not in the error:\n{result}"


# Checks values.schema.json cannot express (two values compared, or KFP launcher behaviour):
# the chart fails with one message naming the value and the fix.
CHART_CHECKS = [
    (
        "endpoint-with-env-credentials",
        (ROOT, "artifactStore.s3.endpoint=rgw.example.com:7480", "artifactStore.s3.region=default"),
        'artifactStore.s3.endpoint "rgw.example.com:7480" needs artifactStore.s3.credentials.secretName',
    ),
    (
        "secret-without-region",
        (ROOT, "artifactStore.s3.credentials.secretName=keys"),
        "artifactStore.s3.region is required with artifactStore.s3.credentials.secretName",
    ),
    (
        "minio-root-on-another-bucket",
        ("minio.enabled=true", "minio.rootCredentialsSecret=m", "artifactStore.pipelineRoot=s3://other/p"),
        'artifactStore.pipelineRoot "s3://other/p" is not on minio.bucket "zenml-artifacts"',
    ),
    (
        "minio-scheme-without-endpoint",
        ("artifactStore.pipelineRoot=minio://b/p",),
        'artifactStore.pipelineRoot "minio://b/p" is a minio:// root: set artifactStore.s3.endpoint',
    ),
]


@pytest.mark.parametrize(("sets", "message"), [c[1:] for c in CHART_CHECKS], ids=[c[0] for c in CHART_CHECKS])
def test_chart_refuses_inconsistent_values(helm: Helm, sets: tuple[str, ...], message: str) -> None:
    result = helm.template(sets=sets)
    assert result.code != 0, result
    assert message in result.err, result
    # helm lint runs templates in lint mode, where `fail` is reported but not fatal.
    result = helm.lint(sets=sets)
    assert f"Fail: {message}" in result.out + result.err, result


# --- KFP's kfp-launcher ConfigMap ----------------------------------------------------------
# Field names of KFP's launcher config, from kubeflow/pipelines at tag 2.5.0 (identical at 2.2.0
# and 2.14.0 except forcePathStyle, which 2.4.0 added and older launchers ignore: the YAML is read
# with sigs.k8s.io/yaml, which drops unknown fields):
#   backend/src/v2/config/env.go    configMapName "kfp-launcher", keys "defaultPipelineRoot" and
#                                   "providers"; BucketProviders{minio, s3, gs}; the provider is
#                                   picked by the root's scheme (GetStoreSessionInfo)
#   backend/src/v2/config/s3.go     S3ProviderConfig{default, Overrides}, S3ProviderDefault,
#                                   S3Credentials, S3SecretRef
#   backend/src/v2/config/minio.go  MinioProviderConfig = S3ProviderConfig
#   backend/src/v2/config/gcs.go    GCSProviderConfig{default, Overrides}, GCSCredentials, GCSSecretRef
# ("Overrides" is the json tag; encoding/json matches keys case-insensitively, KFP's own
# testdata/provider_cases.yaml writes "overrides".) Introduced by kubeflow/pipelines#10625.
LAUNCHER_KEYS = {"defaultPipelineRoot", "providers"}
BUCKET_PROVIDERS = {"minio", "s3", "gs"}
PROVIDER_CONFIG = {"default", "overrides"}
S3_PROVIDER_DEFAULT = {"endpoint", "credentials", "region", "disableSSL", "forcePathStyle"}
S3_CREDENTIALS = {"fromEnv", "secretRef"}
S3_SECRET_REF = {"secretName", "accessKeyKey", "secretKeyKey"}
GCS_PROVIDER_DEFAULT = {"credentials"}
GCS_CREDENTIALS = {"fromEnv", "secretRef"}
GCS_SECRET_REF = {"secretName", "tokenKey"}
SCHEME_TO_PROVIDER = {"s3": "s3", "minio": "minio", "gs": "gs"}


def launcher_config(objects: list[dict[str, Any]]) -> dict[str, Any]:
    data = find(objects, "ConfigMap", "kfp-launcher")["data"]
    assert set(data) == LAUNCHER_KEYS, data
    assert all(isinstance(value, str) for value in data.values()), data
    return {
        "defaultPipelineRoot": data["defaultPipelineRoot"],
        "providers": yaml.safe_load(data["providers"]),
    }


def check_kfp_structure(config: dict[str, Any]) -> None:
    """Every key is one KFP's structs know, with the type KFP gives it, and KFP would not reject it."""
    providers = config["providers"]
    assert set(providers) <= BUCKET_PROVIDERS, providers
    scheme = config["defaultPipelineRoot"].split("://", 1)[0]
    # The launcher looks the root's provider up by its scheme; nothing else would be read.
    assert set(providers) == {SCHEME_TO_PROVIDER[scheme]}, providers
    for name, provider in providers.items():
        assert set(provider) <= PROVIDER_CONFIG, provider
        default = provider["default"]
        # s3.go/gcs.go: a default without credentials is "invalid provider config".
        assert "credentials" in default, default
        creds = default["credentials"]
        if name == "gs":
            assert set(default) <= GCS_PROVIDER_DEFAULT, default
            assert set(creds) <= GCS_CREDENTIALS, creds
            ref_keys = GCS_SECRET_REF
        else:
            assert set(default) <= S3_PROVIDER_DEFAULT, default
            assert set(creds) <= S3_CREDENTIALS, creds
            ref_keys = S3_SECRET_REF
            for key in ("endpoint", "region"):
                assert isinstance(default.get(key, ""), str) and default.get(key) != "", default
            # *bool in KFP: an unset forcePathStyle means true (2.4+), so both are explicit.
            assert isinstance(default["disableSSL"], bool) and isinstance(default["forcePathStyle"], bool)
            assert "://" not in default.get("endpoint", ""), "KFP's endpoint is host[:port], no scheme"
        assert isinstance(creds["fromEnv"], bool), creds
        if creds["fromEnv"]:
            assert "secretRef" not in creds, creds
        else:
            # "if FromEnv is False then SecretRef is required" (s3.go, gcs.go).
            assert "secretRef" in creds, creds
            assert set(creds["secretRef"]) == ref_keys, creds
            assert all(isinstance(v, str) and v for v in creds["secretRef"].values()), creds


@pytest.mark.parametrize("combo", sorted(COMBOS))
def test_kfp_launcher_configmap_matches_kfp_format(
    rendered: dict[str, list[dict[str, Any]]], combo: str
) -> None:
    config = launcher_config(rendered[combo])
    check_kfp_structure(config)
    assert config == COMBOS[combo]["launcher"]


def test_launcher_structure_check_can_fail() -> None:
    good = COMBOS["s3-compatible"]["launcher"]
    for mutate in (
        lambda c: c["providers"]["s3"]["default"].update(endpointURL="x"),
        lambda c: c["providers"]["s3"]["default"]["credentials"].pop("secretRef"),
        lambda c: c["providers"]["s3"]["default"].pop("credentials"),
        lambda c: c["providers"].update(minio=c["providers"].pop("s3")),
        lambda c: c["providers"]["s3"]["default"].update(endpoint="http://x:1"),
    ):
        bad = yaml.safe_load(yaml.safe_dump(good))
        mutate(bad)
        with pytest.raises(AssertionError):
            check_kfp_structure(bad)


# --- the zenml-kf-stack ConfigMap ----------------------------------------------------------


@pytest.mark.parametrize("combo", sorted(COMBOS))
def test_stack_configmap_is_the_import_values_document(
    rendered: dict[str, list[dict[str, Any]]], combo: str
) -> None:
    data = find(rendered[combo], "ConfigMap", "zenml-kf-stack")["data"]
    assert set(data) == {"stack.yaml"}
    assert yaml.safe_load(data["stack.yaml"]) == COMBOS[combo]["stack"]


def test_stack_document_is_deterministic(helm: Helm) -> None:
    values = COMBOS["gke"]["values"]
    first = find(helm.objects(values), "ConfigMap", "zenml-kf-stack")["data"]["stack.yaml"]
    second = find(helm.objects(values), "ConfigMap", "zenml-kf-stack")["data"]["stack.yaml"]
    assert first == second
    assert first.splitlines()[0] == "artifact_store:", first  # toYaml: sorted keys


def test_stack_document_is_valid_for_zenml() -> None:
    """The documents name real zenml-kf flavors and settings."""
    from zenml_kf.artifact_stores.gcp import GCPArtifactStoreConfig
    from zenml_kf.artifact_stores.s3 import S3ArtifactStoreConfig
    from zenml_kf.metadata.grpc import GRPCMetadataStoreConfig
    from zenml_kf.orchestrators.kubeflow.config import KubeflowOrchestratorConfig

    stores = {"s3": S3ArtifactStoreConfig, "gcp": GCPArtifactStoreConfig}
    for combo in COMBOS.values():
        doc = combo["stack"]
        for config_cls, part in (
            (KubeflowOrchestratorConfig, doc["orchestrator"]),
            (stores[doc["artifact_store"]["flavor"]], doc["artifact_store"]),
            (GRPCMetadataStoreConfig, doc["metadata_store"]),
        ):
            unknown = set(part["config"]) - set(config_cls.model_fields)
            assert not unknown, f"{config_cls.__name__} has no {unknown}"


# --- RBAC and the service account ----------------------------------------------------------


@pytest.mark.parametrize("combo", sorted(COMBOS))
def test_role_grants_only_named_configmaps_and_secrets(
    rendered: dict[str, list[dict[str, Any]]], combo: str
) -> None:
    objects = rendered[combo]
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    role = find(objects, "Role", f"{FULLNAME}-pipeline")
    granted: dict[str, set[str]] = {}
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
        for resource in rule["resources"]:
            if rule["apiGroups"] == [""]:
                # Core objects only by name: an empty resourceNames would mean all of them.
                assert rule.get("resourceNames"), rule
                assert rule["verbs"] == ["get"], rule
                granted.setdefault(resource, set()).update(rule["resourceNames"])
            else:
                assert (rule["apiGroups"], resource) == (["argoproj.io"], "workflowtaskresults"), rule
                assert set(rule["verbs"]) == {"create", "patch"}, rule
    assert granted.get("configmaps") == {"kfp-launcher", "zenml-kf-stack"}
    assert granted.get("secrets", set()) == COMBOS[combo]["secrets"]
    assert set(granted) <= {"configmaps", "secrets"}
    binding = find(objects, "RoleBinding", f"{FULLNAME}-pipeline")
    sa_name = COMBOS[combo]["stack"]["orchestrator"]["config"]["service_account"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa_name, "namespace": NAMESPACE}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    sa = find(objects, "ServiceAccount", sa_name)
    assert sa["metadata"].get("annotations", {}) == COMBOS[combo].get("sa_annotations", {})


def test_existing_service_account_is_bound_not_created(helm: Helm) -> None:
    objects = helm.objects(
        {
            "artifactStore": {"pipelineRoot": "s3://b/p"},
            "serviceAccount": {"create": False, "name": "pipeline-runner"},
        }
    )
    assert not [o for o in objects if o["kind"] == "ServiceAccount"]
    binding = find(objects, "RoleBinding", f"{FULLNAME}-pipeline")
    assert binding["subjects"][0]["name"] == "pipeline-runner"
    assert find(objects, "Pod", f"{FULLNAME}-test")["spec"]["serviceAccountName"] == "pipeline-runner"


# --- security walk over every object of every combination ----------------------------------

CREDENTIAL_NAME = (
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "ACCESS_KEY",
    "ACCESSKEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
    "API_KEY",
)


def secret_mount_paths(spec: dict[str, Any], container: dict[str, Any]) -> list[str]:
    secret_volumes = {v["name"] for v in spec.get("volumes") or [] if "secret" in v}
    return [m["mountPath"] for m in container.get("volumeMounts") or [] if m["name"] in secret_volumes]


def security_problems(objects: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    for obj in objects:
        if obj["kind"] == "Secret" and (obj.get("data") or obj.get("stringData")):
            problems.append(f"{kn(obj)} carries data")
        for where, spec in pod_specs(obj):
            pod_sc = spec.get("securityContext") or {}
            if (pod_sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                problems.append(f"{where}: pod seccompProfile is not RuntimeDefault")
            for c in containers(spec):
                name = f"{where}/{c['name']}"
                sc = c.get("securityContext") or {}
                run_as_non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
                run_as_user = sc.get("runAsUser", pod_sc.get("runAsUser"))
                if run_as_non_root is not True or not isinstance(run_as_user, int) or run_as_user == 0:
                    problems.append(f"{name}: not non-root ({run_as_non_root=}, {run_as_user=})")
                if sc.get("allowPrivilegeEscalation") is not False:
                    problems.append(f"{name}: allowPrivilegeEscalation is not false")
                if sc.get("privileged"):
                    problems.append(f"{name}: privileged")
                if (sc.get("capabilities") or {}).get("drop") != ["ALL"] or (
                    sc.get("capabilities") or {}
                ).get("add"):
                    problems.append(f"{name}: capabilities do not drop ALL (or add some)")
                if sc.get("readOnlyRootFilesystem") is not True:
                    problems.append(f"{name}: root filesystem is writable")
                resources = c.get("resources") or {}
                for part in ("requests", "limits"):
                    if not {"cpu", "memory"} <= set(resources.get(part) or {}):
                        problems.append(f"{name}: no {part} for cpu and memory")
                image = c.get("image", "")
                last = image.rsplit("/", 1)[-1]
                if "@sha256:" not in image and (":" not in last or last.endswith(":latest")):
                    problems.append(f"{name}: image {image!r} is not pinned to a tag")
                for env in c.get("env") or []:
                    if "value" in env and any(word in env["name"].upper() for word in CREDENTIAL_NAME):
                        value = env["value"]
                        # A path to a file of a mounted Secret is a reference, not a credential.
                        if not any(
                            value.startswith(p.rstrip("/") + "/") for p in secret_mount_paths(spec, c)
                        ):
                            problems.append(f"{name}: env {env['name']} has a literal value")
                for arg in [*(c.get("command") or []), *(c.get("args") or [])]:
                    for word in ("password=", "secret=", "token="):
                        if word in arg.lower():
                            value = arg.lower().split(word, 1)[1]
                            if not value.startswith("$("):
                                problems.append(f"{name}: argument {arg!r} holds a credential")
    return problems


@pytest.mark.parametrize("combo", sorted(COMBOS))
def test_security_walk(rendered: dict[str, list[dict[str, Any]]], combo: str) -> None:
    assert security_problems(rendered[combo]) == []


def test_security_walk_can_fail(rendered: dict[str, list[dict[str, Any]]]) -> None:
    mlmd = find(rendered["mlmd-external"], "Deployment", f"{FULLNAME}-mlmd")
    for mutate, expected in (
        (lambda c: c["securityContext"].update(runAsNonRoot=False), "not non-root"),
        (lambda c: c["securityContext"].update(allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
        (lambda c: c["securityContext"]["capabilities"].update(drop=["NET_RAW"]), "capabilities"),
        (lambda c: c["resources"].pop("limits"), "no limits"),
        (lambda c: c.update(image="gcr.io/tfx-oss-public/ml_metadata_store_server"), "not pinned"),
        (lambda c: c.update(image="mysql:latest"), "not pinned"),
        (lambda c: c["env"].append({"name": "DB_PASSWORD", "value": "pw"}), "literal value"),
        (lambda c: c["args"].append("--mysql_config_password=hunter2"), "holds a credential"),
    ):
        bad = yaml.safe_load(yaml.safe_dump(mlmd))
        mutate(bad["spec"]["template"]["spec"]["containers"][0])
        problems = security_problems([bad])
        assert any(expected in p for p in problems), (expected, problems)
    assert security_problems([{"kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "dg=="}}])


# --- components --------------------------------------------------------------------------


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


def test_mlmd_server_runs_as_kfp_runs_it(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """Flags of ml_metadata_store_server as KFP 2.5.0 passes them
    (manifests/kustomize/base/metadata/base/metadata-grpc-deployment.yaml)."""
    for combo, host, port, database, user, secret in (
        (
            "mlmd-mysql",
            f"{FULLNAME}-mysql.{NAMESPACE}",
            "3306",
            "mlmd",
            "mlmd",
            {"name": "mlmd-mysql", "key": "password"},
        ),
        (
            "mlmd-external",
            "mysql.databases.svc.cluster.local",
            "3307",
            "kfp_mlmd",
            "zenml",
            {"name": "mlmd-db", "key": "mlmd-password"},
        ),
    ):
        deployment = find(rendered[combo], "Deployment", f"{FULLNAME}-mlmd")
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "gcr.io/tfx-oss-public/ml_metadata_store_server:1.14.0"
        assert container["command"] == ["/bin/metadata_store_server"]
        assert container["args"] == [
            "--grpc_port=8080",
            "--mysql_config_host=$(MYSQL_HOST)",
            "--mysql_config_port=$(MYSQL_PORT)",
            "--mysql_config_database=$(MYSQL_DATABASE)",
            "--mysql_config_user=$(DBCONFIG_USER)",
            "--mysql_config_password=$(DBCONFIG_PASSWORD)",
            "--enable_database_upgrade=true",
        ]
        assert env_of(container) == {
            "MYSQL_HOST": host,
            "MYSQL_PORT": port,
            "MYSQL_DATABASE": database,
            "DBCONFIG_USER": user,
            "DBCONFIG_PASSWORD": {"secretKeyRef": secret},
        }
        service = find(rendered[combo], "Service", f"{FULLNAME}-mlmd")
        assert service["spec"]["ports"][0]["port"] == 8080
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    mysql = find(rendered["mlmd-mysql"], "StatefulSet", f"{FULLNAME}-mysql")
    [db] = mysql["spec"]["template"]["spec"]["containers"]
    env = env_of(db)
    assert env["MYSQL_DATABASE"] == "mlmd" and env["MYSQL_USER"] == "mlmd"
    assert env["MYSQL_PASSWORD"] == {"secretKeyRef": {"name": "mlmd-mysql", "key": "password"}}
    assert env["MYSQL_ROOT_HOST"] == "localhost"
    assert "--default-authentication-plugin=mysql_native_password" in db["args"]
    [claim] = mysql["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"


def test_minio_and_its_bucket_job(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["minio"]
    deployment = find(objects, "Deployment", f"{FULLNAME}-minio")
    [server] = deployment["spec"]["template"]["spec"]["containers"]
    assert env_of(server)["MINIO_ROOT_USER"] == {"secretKeyRef": {"name": "minio-root", "key": "root-user"}}
    assert env_of(server)["MINIO_ROOT_PASSWORD"] == {
        "secretKeyRef": {"name": "minio-root", "key": "root-password"}
    }
    assert server["image"].startswith("quay.io/minio/minio:RELEASE.")
    service = find(objects, "Service", f"{FULLNAME}-minio")
    assert service["spec"]["ports"][0]["port"] == 9000
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    pvc = find(objects, "PersistentVolumeClaim", f"{FULLNAME}-minio")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    job = find(objects, "Job", f"{FULLNAME}-minio-bucket")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    [mc] = job["spec"]["template"]["spec"]["containers"]
    assert mc["image"] == server["image"]
    assert env_of(mc)["MINIO_URL"] == f"http://{MINIO_SVC}"
    assert env_of(mc)["MINIO_BUCKET"] == "zenml-artifacts"
    assert 'mc mb --ignore-existing "zenml/$MINIO_BUCKET"' in mc["args"][0]


# --- NOTES.txt ---------------------------------------------------------------------------


@pytest.mark.parametrize("combo", ["minio", "gke", "s3-compatible", "mlmd-mysql"])
def test_notes_print_the_matching_zenml_commands(helm: Helm, notes_dir: Path, combo: str) -> None:
    notes = helm.notes(COMBOS[combo]["values"], notes_dir)
    doc = COMBOS[combo]["stack"]
    name = doc["stack"]
    assert (
        f"kubectl -n {NAMESPACE} get configmap zenml-kf-stack -o jsonpath='{{.data.stack\\.yaml}}' > stack.yaml"
        " && zenml stack import-values stack.yaml"
    ) in notes
    lines = [line.strip() for line in notes.splitlines()]

    def command(prefix: str) -> list[str]:
        [line] = [line for line in lines if line.startswith(prefix)]
        return line.split()

    def settings(args: list[str]) -> dict[str, str]:
        i = args.index("--flavor") + 2
        return {args[j][2:].replace("-", "_"): args[j + 1] for j in range(i, len(args), 2)}

    store = command(f"zenml artifact-store register {name}-artifacts ")
    assert store[store.index("--flavor") + 1] == doc["artifact_store"]["flavor"]
    assert settings(store) == {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in doc["artifact_store"]["config"].items()
    }
    orchestrator = command(f"zenml orchestrator register {name}-kfp ")
    assert settings(orchestrator) == doc["orchestrator"]["config"]
    meta = doc["metadata_store"]["config"]
    assert (
        f"zenml metadata-store register {name}-mlmd --flavor grpc --host {meta['host']} --port {meta['port']}"
        in lines
    )
    assert (
        f"zenml stack register {name} --orchestrator {name}-kfp --artifact-store {name}-artifacts"
        f" --metadata-store {name}-mlmd --set"
    ) in lines
    assert "kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80" in lines
    mlmd_forward = [line for line in lines if "port-forward" in line and "8081:" in line]
    assert len(mlmd_forward) == 1, lines
    service, _, namespace = meta["host"].partition(".")
    assert mlmd_forward[0] == f"kubectl -n {namespace} port-forward svc/{service} 8081:{meta['port']}"
    assert f"helm test zkf -n {NAMESPACE} --logs" in lines


# --- the helm test pod and its script ----------------------------------------------------


def helm_test_pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    pod = find(objects, "Pod", f"{FULLNAME}-test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    return pod


def script_of(pod: dict[str, Any]) -> str:
    [container] = pod["spec"]["containers"]
    command = container["command"]
    assert command[:2] == ["python", "-c"], command
    script: str = command[2]
    return script


@pytest.mark.parametrize("combo", sorted(COMBOS))
def test_helm_test_pod_wiring(rendered: dict[str, list[dict[str, Any]]], combo: str) -> None:
    pod = helm_test_pod(rendered[combo])
    spec = pod["spec"]
    stack = COMBOS[combo]["stack"]
    assert spec["serviceAccountName"] == stack["orchestrator"]["config"]["service_account"]
    assert spec["restartPolicy"] == "Never"
    [container] = spec["containers"]
    assert container["image"] == "ghcr.io/zenml-kf/zenml-kf-base:0.1.0"
    env = env_of(container)
    assert env["ZKF_CHECK_PIPELINE_ROOT"] == stack["artifact_store"]["config"]["path"]
    assert env["ZKF_CHECK_MLMD_HOST"] == stack["metadata_store"]["config"]["host"]
    assert env["ZKF_CHECK_MLMD_PORT"] == str(stack["metadata_store"]["config"]["port"])
    provider = next(iter(COMBOS[combo]["launcher"]["providers"].values()))["default"]
    ref = provider["credentials"].get("secretRef")
    if "gs://" in env["ZKF_CHECK_PIPELINE_ROOT"]:
        if ref:
            assert env["GOOGLE_APPLICATION_CREDENTIALS"] == "/var/run/secrets/zenml-kf/gcs/key.json"
            [volume] = [v for v in spec["volumes"] if "secret" in v]
            assert volume["secret"]["secretName"] == ref["secretName"]
            assert volume["secret"]["items"] == [{"key": ref["tokenKey"], "path": "key.json"}]
        else:
            assert "GOOGLE_APPLICATION_CREDENTIALS" not in env
    else:
        assert env["ZKF_CHECK_S3_ENDPOINT_URL"] == stack["artifact_store"]["config"].get("endpoint_url", "")
        assert env["ZKF_CHECK_S3_REGION"] == provider.get("region", "")
        assert env["ZKF_CHECK_S3_PATH_STYLE"] == str(provider["forcePathStyle"]).lower()
        if ref:
            assert env["AWS_ACCESS_KEY_ID"] == {
                "secretKeyRef": {"name": ref["secretName"], "key": ref["accessKeyKey"]}
            }
            assert env["AWS_SECRET_ACCESS_KEY"] == {
                "secretKeyRef": {"name": ref["secretName"], "key": ref["secretKeyKey"]}
            }
        else:
            assert "AWS_ACCESS_KEY_ID" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    compile(script_of(pod), f"{combo}:stack_check", "exec")


def test_helm_test_script_is_the_charts_file(rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert (
        script_of(helm_test_pod(rendered["aws-default"])) == (CHART / "files" / "stack_check.py").read_text()
    )


def run_pod_script(
    pod: dict[str, Any], tmp_path: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the pod's command here with the pod's environment: literal values as rendered,
    Secret references given dummy keys (what the kubelet would fill in)."""
    [container] = pod["spec"]["containers"]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            assert "secretKeyRef" in item["valueFrom"], item
            env[item["name"]] = f"dummy-{item['valueFrom']['secretKeyRef']['key']}"
    env["HOME"] = str(tmp_path)
    env.update(extra_env or {})
    command = [sys.executable, *container["command"][1:]]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def loopback_values(moto_port: int, mlmd_port: int, bucket: str) -> dict[str, Any]:
    return {
        "artifactStore": {
            "pipelineRoot": f"s3://{bucket}/pipelines",
            "s3": {
                "endpoint": f"127.0.0.1:{moto_port}",
                "region": "us-east-1",
                "disableSSL": True,
                "forcePathStyle": True,
                "credentials": {"secretName": "s3-keys"},
            },
        },
        "metadataStore": {"grpc": {"host": "127.0.0.1", "port": mlmd_port}},
    }


def output_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]


def make_bucket(moto: servers.Server, name: str) -> Any:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=f"http://{servers.HOST}:{moto.port}",
        region_name="us-east-1",
        aws_access_key_id="dummy-AWS_ACCESS_KEY_ID",
        aws_secret_access_key="dummy-AWS_SECRET_ACCESS_KEY",
    )
    client.create_bucket(Bucket=name)
    return client


def test_helm_test_script_passes_against_real_servers(
    helm: Helm, moto: servers.Server, mlmd_grpc: servers.Server, tmp_path: Path
) -> None:
    s3 = make_bucket(moto, "helm-test-ok")
    pod = helm_test_pod(helm.objects(loopback_values(moto.port, mlmd_grpc.port, "helm-test-ok")))
    proc = run_pod_script(pod, tmp_path)
    lines = output_lines(proc)
    assert proc.returncode == 0, proc
    assert len(lines) == 1, proc
    assert lines[0].startswith("OK bucket s3://helm-test-ok/pipelines"), proc
    assert f"MLMD 127.0.0.1:{mlmd_grpc.port}" in lines[0], proc
    # The round trip happened under the pipeline root and cleaned up after itself.
    assert "s3://helm-test-ok/pipelines/.zenml-kf-helm-test/" in lines[0]
    assert s3.list_objects_v2(Bucket="helm-test-ok").get("KeyCount") == 0


def test_helm_test_script_names_unreachable_mlmd_in_one_line(
    helm: Helm, moto: servers.Server, tmp_path: Path
) -> None:
    make_bucket(moto, "helm-test-mlmd-down")
    dead_port = servers.free_port()  # nothing listens here
    pod = helm_test_pod(helm.objects(loopback_values(moto.port, dead_port, "helm-test-mlmd-down")))
    proc = run_pod_script(pod, tmp_path)
    lines = output_lines(proc)
    assert proc.returncode != 0, proc
    assert len(lines) == 1, proc
    assert lines[0].startswith(f"FAILED MLMD gRPC store at 127.0.0.1:{dead_port}: "), proc
    assert "bucket" not in lines[0], proc  # the bucket check passed


def test_helm_test_script_names_a_missing_bucket_in_one_line(
    helm: Helm, moto: servers.Server, mlmd_grpc: servers.Server, tmp_path: Path
) -> None:
    pod = helm_test_pod(helm.objects(loopback_values(moto.port, mlmd_grpc.port, "no-such-bucket")))
    proc = run_pod_script(pod, tmp_path)
    lines = output_lines(proc)
    assert proc.returncode != 0, proc
    assert len(lines) == 1, proc
    assert lines[0].startswith("FAILED bucket s3://no-such-bucket/pipelines: "), proc
    assert "NoSuchBucket" in lines[0], proc
    assert "MLMD" not in lines[0], proc


def test_helm_test_script_round_trips_a_gcs_bucket(
    helm: Helm, fake_gcs: servers.Server, mlmd_grpc: servers.Server, tmp_path: Path
) -> None:
    """The gs:// branch, against fake-gcs-server; the only env the pod would not have is the
    emulator's address (in a cluster the client finds GCS and workload identity itself)."""
    import urllib.request

    request = urllib.request.Request(
        f"http://{servers.HOST}:{fake_gcs.port}/storage/v1/b?project=zenml-test",
        data=b'{"name": "helm-test-gcs"}',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass
    values = {
        "artifactStore": {
            "type": "gcs",
            "pipelineRoot": "gs://helm-test-gcs/runs",
            "gcs": {"project": "zenml-test"},
        },
        "metadataStore": {"grpc": {"host": "127.0.0.1", "port": mlmd_grpc.port}},
    }
    pod = helm_test_pod(helm.objects(values))
    emulator = {"STORAGE_EMULATOR_HOST": f"http://{servers.HOST}:{fake_gcs.port}"}
    proc = run_pod_script(pod, tmp_path, emulator)
    lines = output_lines(proc)
    assert proc.returncode == 0, proc
    assert len(lines) == 1, proc
    assert lines[0].startswith(
        "OK bucket gs://helm-test-gcs/runs (wrote, read back and deleted gs://helm-test-gcs/runs/"
    ), proc


# --- scripts/install_helm.sh -------------------------------------------------------------


def test_install_helm_is_idempotent(helm: Helm) -> None:
    before = helm.binary.stat()
    proc = subprocess.run(["bash", str(INSTALL_HELM)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc
    assert proc.stdout.strip() == str(helm.binary)
    after = helm.binary.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    version = helm.run("version", "--short")
    assert version.code == 0 and version.out.startswith("v3."), version
