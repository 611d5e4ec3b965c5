"""
Pytest fixtures for testing against the MoEngage emulator; loaded through the ``pytest11`` entry point.

This module must not import Airflow: it is loaded into every pytest session of a project that
installs the provider.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_moengage.testing.emulator import MoEngageEmulator

if TYPE_CHECKING:
    from collections.abc import Iterator

#: The connection id the fixtures point at the emulator (the hook's default).
DEFAULT_CONN_ID = "moengage_default"


@pytest.fixture
def moengage_emulator() -> Iterator[MoEngageEmulator]:
    """A started emulator (real clock, 50 requests a minute, shuffle seed 0), stopped afterwards."""
    with MoEngageEmulator(rate_limit_per_minute=50, shuffle_seed=0) as emulator:
        yield emulator


@pytest.fixture
def moengage_conn_env(moengage_emulator: MoEngageEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point ``AIRFLOW_CONN_MOENGAGE_DEFAULT`` at ``moengage_emulator``; return the connection id."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{DEFAULT_CONN_ID.upper()}", moengage_emulator.connection_json())
    return DEFAULT_CONN_ID
