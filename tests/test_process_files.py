"""The Procfile, docker-compose.yml and Dockerfile describe the same four roles with the same commands."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("web", "realtime", "worker-settlement", "worker-ingestion", "beat")

_DEFAULTED = re.compile(r"\$\{[A-Z_]+:-([^}]*)\}")
_SETTINGS_PREFIX = "DJANGO_SETTINGS_MODULE=config.settings.production "


def _resolved(command: str) -> str:
    """A shell command with each ${NAME:-default} replaced by its default, the way it runs when NAME is unset."""
    return " ".join(_DEFAULTED.sub(r"\1", command).split())


def _procfile(*, with_settings: bool = False) -> dict[str, str]:
    """The Procfile's commands; without `with_settings`, minus the settings module each one names first."""
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            command = _resolved(command)
            entries[name.strip()] = command if with_settings else command.removeprefix(_SETTINGS_PREFIX)
    return entries


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_procfile_names_the_release_step_and_the_four_roles():
    assert set(_procfile()) == {"release", *ROLES}


def test_every_procfile_role_names_the_production_settings_module():
    for role, command in _procfile(with_settings=True).items():
        assert command.startswith(_SETTINGS_PREFIX), role


def test_compose_runs_each_procfile_role_with_the_same_command():
    procfile = _procfile()
    services = _compose()["services"]

    for role in ROLES:
        assert _resolved(services[role]["command"]) == procfile[role], role


def test_compose_runs_the_release_step_once_before_every_role():
    services = _compose()["services"]

    assert _resolved(services["migrate"]["command"]) == _procfile()["release"]
    for role in ROLES:
        depends = services[role]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", role
        assert depends["postgres"]["condition"] == "service_healthy", role
        assert depends["redis"]["condition"] == "service_healthy", role


def test_compose_roles_run_production_settings_against_postgres_and_redis():
    services = _compose()["services"]

    assert {"postgres", "redis"} <= set(services)
    for role in (*ROLES, "migrate"):
        environment = services[role]["environment"]
        assert environment["DJANGO_SETTINGS_MODULE"] == "config.settings.production", role
        assert environment["DATABASE_URL"].startswith("postgres://"), role
        assert environment["REDIS_URL"].startswith("redis://redis:"), role
        assert "SECRET_KEY" in environment, role


def test_dockerfile_builds_on_python_311_slim_from_the_pinned_requirements():
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    assert "pip install --no-cache-dir -r requirements.txt" in dockerfile
    assert "collectstatic" in dockerfile


def test_compose_keeps_the_workers_metrics_ports_inside_its_network():
    services = _compose()["services"]
    metrics_ports = {
        str(service["environment"]["WORKER_METRICS_PORT"])
        for service in services.values()
        if "WORKER_METRICS_PORT" in service.get("environment", {})
    }
    published = {str(mapping).rsplit(":", 1)[-1] for service in services.values() for mapping in service.get("ports", [])}

    assert metrics_ports == {"9101", "9201"}
    for role in ("worker-settlement", "worker-ingestion", "beat"):
        assert "ports" not in services[role], role
    assert not metrics_ports & published
