"""No known secret is ever accepted outside development and test, and `make run` writes random ones."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from dotenv import dotenv_values

from api import create_app
from api.config import DEV_SECRET
from tests.services import PROJECT_ROOT

RANDOM_KEY = "q3V9sNf0bW2xK7pLz8rT1mYc4hJ6dGa5eUoIiRkE"  # 40 bytes, never published anywhere else


@pytest.fixture
def production(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", RANDOM_KEY)
    monkeypatch.setenv("JWT_SECRET_KEY", RANDOM_KEY[::-1])
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:" + RANDOM_KEY[:20])
    return monkeypatch


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("SECRET_KEY", "", "published placeholder"),  # empty: the development default
        ("SECRET_KEY", DEV_SECRET, "published placeholder"),
        ("SECRET_KEY", "change-me-to-a-long-random-string", "published placeholder"),
        ("SECRET_KEY", "x" * 31, "shorter than 32 bytes"),
        ("JWT_SECRET_KEY", "change-me-to-a-long-random-string", "published placeholder"),
        ("JWT_SECRET_KEY", "short", "shorter than 32 bytes"),
        ("FLOWER_BASIC_AUTH", "admin:change-me", "published placeholder"),
    ],
)
def test_production_refuses_to_start_with_a_known_or_weak_secret(production, name, value, reason):
    production.setenv(name, value)
    with pytest.raises(RuntimeError, match=reason):
        create_app()


def test_production_starts_with_random_secrets(production):
    assert create_app().config["ENV_NAME"] == "production"


def test_make_writes_a_settings_file_with_fresh_random_secrets(tmp_path):
    files = []
    for run in ("first", "second"):
        folder = tmp_path / run
        folder.mkdir()
        shutil.copy(PROJECT_ROOT / ".env.example", folder / ".env.example")
        subprocess.run(["make", "-s", "-f", str(PROJECT_ROOT / "Makefile"), ".env"], cwd=folder, check=True)
        files.append(dotenv_values(folder / ".env"))
    first, second = files
    for name in ("SECRET_KEY", "JWT_SECRET_KEY", "FLOWER_BASIC_AUTH"):
        assert first[name] != second[name], name
    assert len(first["SECRET_KEY"]) >= 32 and len(first["JWT_SECRET_KEY"]) >= 32
    user, password = first["FLOWER_BASIC_AUTH"].split(":")
    assert user == "admin" and len(password) >= 24
    assert first["SECRET_KEY"] != first["JWT_SECRET_KEY"]
    # Everything else is the example's.
    example = dotenv_values(PROJECT_ROOT / ".env.example")
    assert {k: v for k, v in first.items() if k not in example or example[k] != v} == {
        name: first[name] for name in ("SECRET_KEY", "JWT_SECRET_KEY", "FLOWER_BASIC_AUTH")
    }


def test_env_example_publishes_no_secret_to_copy_by_mistake():
    example = dotenv_values(PROJECT_ROOT / ".env.example")
    assert not example["SECRET_KEY"] and not example["JWT_SECRET_KEY"] and not example["FLOWER_BASIC_AUTH"]
