"""The launcher's production profile: its environment, nginx config and Procfile.

Starting it for real is tests/production/test_production_profile.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from api.ops.launch import (
    health_checks,
    process_env,
    production_procfile,
    render_nginx,
    wait_until_ready,
)
from api.settings import Settings

SECRETS = {
    name: f"{name}-production-value-0123456789abcdef"
    for name in (
        "rasa_auth_token",
        "action_server_token",
        "api_service_token",
        "chat_token_secret",
        "link_signing_secret",
    )
}


def production(tmp_path: Path, **values: object) -> Settings:
    fields: dict[str, object] = {
        **SECRETS,
        "app_mode": "production",
        "database_url": "postgresql+psycopg://csp:pw@db.internal:5432/csp",
        "rasa_tracker_url": "postgresql+psycopg://rasa:s%40cret@db.internal:5433/rasa",
        "redis_url": "redis://:redis-pw@cache.internal:6380/3",
        "rabbitmq_url": "amqp://csp:rabbit-pw@mq.internal:5673/%2F",
        "rasa_url": "http://127.0.0.1:7005",
        "run_dir": str(tmp_path),
        **values,
    }
    return Settings(**fields)  # type: ignore[arg-type]


def test_the_embedded_profile_is_unchanged() -> None:
    settings = Settings(app_mode="local")
    env = process_env(settings)
    assert env["RASA_ENDPOINTS"].endswith("/endpoints.yml")
    assert "deploy" not in env["RASA_ENDPOINTS"]
    assert env["ACTION_WORKERS"] == "1"
    assert env["SENTENCE_ENCODER_THREADS"] == "0"  # one Rasa: all cores
    assert "REDIS_HOST" not in env
    assert set(health_checks(settings)) == {"API", "action server", "Rasa"}


def test_production_splits_the_service_urls_for_rasa(tmp_path: Path) -> None:
    env = process_env(production(tmp_path))
    assert env["RASA_ENDPOINTS"].endswith("deploy/production/endpoints.yml")
    assert env["RASA_CREDENTIALS"].endswith("deploy/production/credentials.yml")
    assert (env["RASA_TRACKER_PG_HOST"], env["RASA_TRACKER_PG_PORT"]) == (
        "db.internal",
        "5433",
    )
    assert env["RASA_TRACKER_PG_DB"] == "rasa"
    assert env["RASA_TRACKER_PG_PASSWORD"] == "s@cret"
    assert (env["REDIS_HOST"], env["REDIS_PORT"], env["REDIS_DB"]) == (
        "cache.internal",
        "6380",
        "3",
    )
    assert env["REDIS_PASSWORD"] == "redis-pw"
    assert (env["RABBITMQ_HOST"], env["RABBITMQ_PORT"]) == ("mq.internal", "5673")
    assert (env["RABBITMQ_USER"], env["RABBITMQ_PASSWORD"]) == ("csp", "rabbit-pw")
    assert env["ACTION_WORKERS"] == "2"
    # replicas share the cores: one BLAS thread each unless configured
    assert env["SENTENCE_ENCODER_THREADS"] == "1"
    configured = process_env(production(tmp_path, sentence_encoder_threads=2))
    assert configured["SENTENCE_ENCODER_THREADS"] == "2"


def test_production_names_what_is_missing(tmp_path: Path) -> None:
    settings = production(
        tmp_path, rasa_tracker_url="", redis_url="", redis_key_prefix="csp-desk"
    )
    missing = " ".join(settings.production_services_missing())
    assert "RASA_TRACKER_URL" in missing and "REDIS_URL" in missing
    assert "REDIS_KEY_PREFIX" in missing and "RABBITMQ_URL" not in missing
    assert production(tmp_path).production_services_missing() == []


@pytest.mark.parametrize(
    ("values", "ports"),
    [
        ({}, [7006, 7007]),
        ({"rasa_replicas": 3}, [7006, 7007, 7008]),
        ({"rasa_replica_ports": "9001, 9003"}, [9001, 9003]),
    ],
)
def test_replica_ports(tmp_path: Path, values: dict, ports: list[int]) -> None:
    settings = production(tmp_path, **values)
    assert settings.replica_ports() == ports
    checks = health_checks(settings)
    assert [k for k in checks if k.startswith("Rasa replica")] == [
        f"Rasa replica {i}" for i in range(1, len(ports) + 1)
    ]


def test_nginx_hashes_the_conversation_over_the_replicas(tmp_path: Path) -> None:
    conf = render_nginx(production(tmp_path), tmp_path).read_text()
    assert "listen 127.0.0.1:7005;" in conf
    assert "server 127.0.0.1:7006 " in conf and "server 127.0.0.1:7007 " in conf
    assert "hash $csp_route consistent;" in conf
    assert "$arg_conversation" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert str(tmp_path / "nginx" / "access.log") in conf


def test_the_procfile_has_a_line_per_replica(tmp_path: Path) -> None:
    settings = production(tmp_path, rasa_replicas=3)
    procfile = production_procfile(settings, tmp_path, "/usr/sbin/nginx")
    names = [
        line.split(":", 1)[0]
        for line in procfile.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert names == [
        "rasa1",
        "rasa2",
        "rasa3",
        "actions",
        "api",
        "transcripts",
        "webhooks",
        "partner-center",
        "nginx",
        "ready",
    ]
    assert "--port 7008 " in procfile.read_text()
    assert '--workers "$ACTION_WORKERS"' in procfile.read_text()


def test_wait_until_ready_polls_until_up_or_out_of_time(
    seeded_db: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from api.web.app import create_app
    from tests.e2e.stack import free_port
    from tests.web.live import live_server

    nobody = f"http://127.0.0.1:{free_port()}/health"
    with live_server(create_app()) as api:
        started = time.monotonic()
        failing = wait_until_ready(
            {"API": f"{api}/health", "Rasa": nobody}, timeout=2.5
        )
        waited = time.monotonic() - started
        assert wait_until_ready({"API": f"{api}/health"}, timeout=30) == []
    assert failing == ["Rasa"]
    assert 2.5 <= waited < 6  # rounds a second apart until the timeout
    assert capsys.readouterr().out.count("ready: API is up") == 2
