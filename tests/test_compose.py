"""docker-compose.yml, checked by reading it (no Docker engine runs here): what an operator relies on."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.services import PROJECT_ROOT, procfile_command

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("migrate", "api", "worker", "beat", "flower")
ONE_SHOT = ("migrate",)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_an_image_a_command_or_entrypoint_and_a_healthcheck(name):
    service = SERVICES[name]
    assert "image" in service or "build" in service
    assert "container_name" not in service  # fixed names break `--scale`
    if name not in ONE_SHOT:
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_the_app_services_run_the_procfile_processes_from_one_image():
    commands = {name: " ".join(SERVICES[name]["command"]) for name in APP_SERVICES}
    assert commands["api"].startswith("gunicorn wsgi:app")
    for process in ("worker", "beat", "flower"):
        assert commands[process].startswith(procfile_command(process).split(" --")[0]), process
    assert "-Q" not in commands["worker"]  # every queue, as the Procfile's worker
    assert {SERVICES[name].get("image") for name in APP_SERVICES} == {"ragbot:latest"}


def test_workers_can_be_scaled():
    worker = SERVICES["worker"]
    assert "ports" not in worker and "container_name" not in worker


def test_dependencies_wait_for_health_and_migrations():
    def conditions(name: str) -> dict[str, str]:
        depends = SERVICES[name].get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        return {dependency: spec["condition"] for dependency, spec in depends.items()}

    assert conditions("migrate") == {"postgres": "service_healthy", "redis": "service_healthy"}
    for name in ("api", "worker", "beat"):
        assert conditions(name)["migrate"] == "service_completed_successfully", name
    assert conditions("flower")["redis"] == "service_healthy"


def test_api_and_workers_share_the_index_and_uploads():
    for name in ("api", "worker", "migrate"):
        volumes = SERVICES[name]["volumes"]
        assert "instance:/app/instance" in volumes, name
        environment = SERVICES[name]["environment"]
        assert environment["INSTANCE_DIR"] == "/app/instance"
        # INDEX_DIR and UPLOAD_DIR default to folders inside INSTANCE_DIR: not overridden elsewhere.
        assert "INDEX_DIR" not in environment and "UPLOAD_DIR" not in environment


def test_the_migrate_service_also_loads_the_shipped_knowledge_base():
    command = " ".join(SERVICES["migrate"]["command"])
    assert re.search(r"db upgrade && .*rag ingest docs_corpus", command)


def test_secrets_are_required_from_the_environment():
    text = (PROJECT_ROOT / "docker-compose.yml").read_text()
    for name in ("SECRET_KEY", "JWT_SECRET_KEY", "FLOWER_BASIC_AUTH"):
        assert re.search(rf"{name}: \$\{{{name}:\?", text), name
    for name in APP_SERVICES:
        assert SERVICES[name]["environment"]["APP_ENV"] == "production"
