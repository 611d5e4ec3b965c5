"""Register the ``e2e`` marker (pyproject is not ours to edit); the tests still run by default."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "e2e: runs the real Airflow stack (api-server, scheduler, dag-processor, triggerer) as subprocesses; "
        "select or deselect with -m e2e / -m 'not e2e'",
    )
