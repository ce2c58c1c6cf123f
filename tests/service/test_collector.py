"""A worker's collector runs its young-generation passes less often after startup
(``roamlike.service.app.GC_THRESHOLDS``): the rows of large commit groups are freed by their
reference counts, and a pass per request only walked them."""

from __future__ import annotations

import gc

import pytest
from starlette.testclient import TestClient

import roamlike.service.app as app_module
from roamlike.service import create_app
from roamlike.service.config import ServiceConfig


def test_the_thresholds_are_raised_once_startup_froze_its_objects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app_module, "warm_engine", lambda catalog: True)
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        with TestClient(create_app(ServiceConfig())) as client:
            assert client.get("/healthz").status_code == 200
            during = gc.get_threshold()
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
    assert during == app_module.GC_THRESHOLDS
    assert during[0] > 700  # fewer young-generation passes than Python's default
