"""The engine's first rating is done at startup, before the collector freezes what startup built
(``roamlike.service.warmup``): its long-lived objects are then left out of full collections."""

from __future__ import annotations

import gc

import pytest
from starlette.testclient import TestClient

import roamlike.service.app as app_module
from roamlike.law import default_catalog
from roamlike.service import create_app
from roamlike.service.config import ServiceConfig


def test_the_warm_up_rates_with_the_engine() -> None:
    assert app_module.warm_engine(default_catalog()) is True


def test_the_warm_up_runs_before_the_startup_freeze(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def warm(catalog: object) -> bool:
        seen.append(gc.get_freeze_count())
        return True

    monkeypatch.setattr(app_module, "warm_engine", warm)
    gc.unfreeze()
    try:
        with TestClient(create_app(ServiceConfig())) as client:
            assert client.get("/healthz").status_code == 200
            frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()
    assert seen == [0]  # called once, before anything was frozen
    assert frozen > 0


def test_a_catalog_that_cannot_rate_leaves_the_engine_cold() -> None:
    class Broken:
        def __getattr__(self, name: str) -> object:
            raise AttributeError(name)

    assert app_module.warm_engine(Broken()) is False  # type: ignore[arg-type]
