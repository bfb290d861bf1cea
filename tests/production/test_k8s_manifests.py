"""deploy/k8s/: the manifests render, hang together, and give Rasa every variable its
endpoints file reads. Applying them to a cluster is not tested here (no cluster on
this machine; docs/production.md says what was and was not)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from api.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
ENDPOINTS = ROOT / "deploy" / "production" / "endpoints.yml"
# Read by libraries, not by our settings: SQLAlchemy 1.4's warning switch (Rasa's
# venv) and TensorFlow's log level.
LIBRARY_VARIABLES = {"SQLALCHEMY_SILENCE_UBER_WARNING", "TF_CPP_MIN_LOG_LEVEL"}


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


@pytest.fixture(scope="module")
def environment() -> dict[str, str]:
    """What a pod sees: config.env and (the example of) secrets.env."""
    return {**env_file(K8S / "config.env"), **env_file(K8S / "secrets.env.example")}


def test_rasa_gets_every_variable_its_endpoints_file_reads(
    environment: dict[str, str],
) -> None:
    wanted = set(re.findall(r"\$\{(\w+)\}", ENDPOINTS.read_text()))
    assert wanted, "endpoints.yml reads no variables?"
    assert sorted(wanted - set(environment)) == []


def test_every_variable_is_read_by_something(environment: dict[str, str]) -> None:
    code = "\n".join(
        path.read_text()
        for folder in ("api", "bot", "actions", "common")
        for path in (ROOT / folder).rglob("*.py")
    )
    known = {name.upper() for name in Settings.model_fields} | LIBRARY_VARIABLES
    unread = [
        name
        for name in environment
        if name not in known
        and f'"{name}"' not in code
        and f"${{{name}}}" not in ENDPOINTS.read_text()
    ]
    assert unread == [], f"set in deploy/k8s but read by nothing: {unread}"


def test_the_spelt_out_fields_match_the_urls(environment: dict[str, str]) -> None:
    """config.env spells out host, port, user... for endpoints.yml; they must say
    what the URLs in secrets.env say, or Rasa and the API use different servers."""
    tracker = urlsplit(environment["RASA_TRACKER_URL"])
    assert (
        environment["RASA_TRACKER_PG_HOST"],
        int(environment["RASA_TRACKER_PG_PORT"]),
        environment["RASA_TRACKER_PG_DB"],
        environment["RASA_TRACKER_PG_USER"],
        environment["RASA_TRACKER_PG_PASSWORD"],
    ) == (
        tracker.hostname,
        tracker.port,
        tracker.path.strip("/"),
        tracker.username,
        unquote(tracker.password or ""),
    )
    redis = urlsplit(environment["REDIS_URL"])
    assert (
        environment["REDIS_HOST"],
        int(environment["REDIS_PORT"]),
        environment["REDIS_DB"],
        environment["REDIS_PASSWORD"],
    ) == (redis.hostname, redis.port, redis.path.strip("/"), redis.password)
    rabbit = urlsplit(environment["RABBITMQ_URL"])
    assert (
        environment["RABBITMQ_HOST"],
        int(environment["RABBITMQ_PORT"]),
        environment["RABBITMQ_USER"],
        environment["RABBITMQ_PASSWORD"],
    ) == (rabbit.hostname, rabbit.port, rabbit.username, rabbit.password)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    folder = tmp_path_factory.mktemp("k8s")
    shutil.copytree(K8S, folder, dirs_exist_ok=True)
    shutil.copy(folder / "secrets.env.example", folder / "secrets.env")
    output = subprocess.run(
        [kubectl, "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_the_kustomization_renders_the_whole_product(
    rendered: list[dict[str, Any]],
) -> None:
    assert all(
        o["metadata"].get("namespace") == "csp-desk"
        for o in rendered
        if o["kind"] != "Namespace"
    )
    deployments = by_kind(rendered, "Deployment")
    assert set(deployments) == {
        "rasa",
        "actions",
        "api",
        "transcripts",
        "webhooks",
        "partner-center",
    }
    assert deployments["rasa"]["spec"]["replicas"] >= 2
    assert deployments["transcripts"]["spec"]["replicas"] == 1, (
        "one consumer per queue: it numbers events in arrival order"
    )
    assert set(by_kind(rendered, "Job")) == {"migrate"}
    assert set(by_kind(rendered, "Service")) == {"rasa", "actions", "api"}


def test_every_pod_reads_the_rendered_config_and_secret(
    rendered: list[dict[str, Any]],
) -> None:
    [config] = by_kind(rendered, "ConfigMap")
    [secret] = by_kind(rendered, "Secret")
    pods = [
        o["spec"]["template"]["spec"]
        for o in rendered
        if "template" in o.get("spec", {})
    ]
    assert len(pods) == 7  # six deployments and the migration job
    for pod in pods:
        for container in pod["containers"]:
            sources = container["envFrom"]
            assert {"configMapRef": {"name": config}} in sources, container["name"]
            assert {"secretRef": {"name": secret}} in sources, container["name"]


def test_the_chat_ingress_keeps_a_conversation_on_one_replica(
    rendered: list[dict[str, Any]],
) -> None:
    ingresses = by_kind(rendered, "Ingress")
    chat = [
        ingress
        for ingress in ingresses.values()
        if any(
            path["backend"]["service"]["name"] == "rasa"
            for rule in ingress["spec"]["rules"]
            for path in rule["http"]["paths"]
        )
    ]
    assert len(chat) == 1
    annotations = chat[0]["metadata"]["annotations"]
    # The widget's routing key, as nginx hashes it in the local production profile.
    assert (
        annotations["nginx.ingress.kubernetes.io/upstream-hash-by"]
        == "$arg_conversation"
    )
