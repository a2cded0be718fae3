"""`/healthz` and `/readyz` through the real app factory."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from persistence import database, schema


def settings_for(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'pai.sqlite'}")


def test_healthz_answers_while_the_process_is_alive(tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(tmp_path))) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


def test_readyz_is_unavailable_until_the_schema_is_current(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    with TestClient(create_app(settings)) as client:
        before = client.get("/readyz")
        schema.upgrade(database.create_engine(settings.database_url))
        after = client.get("/readyz")
    assert before.status_code == 503
    assert before.json()["reason"] == "the database schema is not current"
    assert after.status_code == 200
    assert after.json() == {"status": "ready"}


def test_readyz_is_unavailable_when_the_database_cannot_be_reached() -> None:
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reason"] == "the database cannot be reached"
