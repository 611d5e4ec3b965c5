"""Fixtures for the emulator's own tests: emulators on a manual clock, and a client for them."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from airflow_provider_moengage.testing import STATUS_PATH, ManualClock, MoEngageEmulator

# The plugin's fixtures, for runs where the package is not installed (so its pytest11 entry point
# is not loaded); when it is, these are the same functions.
from airflow_provider_moengage.testing.pytest_plugin import moengage_conn_env, moengage_emulator

__all__ = ["moengage_conn_env", "moengage_emulator"]

WORKSPACE = "TEST_WORKSPACE"
API_KEY = "test-api-key-not-secret"


class Client:
    """
    A client that sends what the API documents: Basic auth, ``MOE-APPKEY`` and a JSON body.

    :param emulator: the emulator to talk to.
    """

    def __init__(self, emulator: MoEngageEmulator) -> None:
        self.emulator = emulator
        self.session = requests.Session()

    def post(
        self,
        body: Any = None,
        path: str = STATUS_PATH,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """
        Send a request; ``headers`` replace the documented ones of the same name.

        :param body: the JSON body (``{}`` if None); pass ``data=`` instead for raw bytes.
        :param path: the path.
        :param headers: header overrides; a None value drops that header.
        :param kwargs: more arguments for ``requests.Session.request`` (``method``, ``data``,
            ``timeout``...).
        """
        merged = {**documented_headers(), **(headers or {})}
        sent = {name: value for name, value in merged.items() if value is not None}
        if "data" not in kwargs:
            kwargs["json"] = {} if body is None else body
        kwargs.setdefault("timeout", 5)
        method = kwargs.pop("method", "POST")
        return self.session.request(method, self.emulator.url + path, headers=sent, **kwargs)

    def pages(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Read every page of a query, following ``more_files``; return the page bodies."""
        bodies = []
        offset = 1
        while True:
            page = self.post({**body, "offset": offset}).json()
            bodies.append(page)
            if page["more_files"] not in (True, "true"):
                return bodies
            offset += 1


def documented_headers(workspace: str = WORKSPACE, api_key: str = API_KEY) -> dict[str, str]:
    """Return the headers the API documents, for these credentials."""
    token = base64.b64encode(f"{workspace}:{api_key}".encode()).decode()
    return {"Authorization": f"Basic {token}", "MOE-APPKEY": workspace, "Content-Type": "application/json"}


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock, for emulators whose time a test moves."""
    return ManualClock(start=1000.0, epoch=1_731_587_491.713)


@pytest.fixture
def make_emulator(clock: ManualClock) -> Iterator[Callable[..., MoEngageEmulator]]:
    """Start emulators on the manual clock (other options as given); stop them after the test."""
    started: list[MoEngageEmulator] = []

    def make(**options: Any) -> MoEngageEmulator:
        emulator = MoEngageEmulator(**{"clock": clock, **options}).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(make_emulator: Callable[..., MoEngageEmulator]) -> MoEngageEmulator:
    """A started emulator on the manual clock, with default options."""
    return make_emulator()


@pytest.fixture
def client(emulator: MoEngageEmulator) -> Iterator[Client]:
    """A client of ``emulator``."""
    client = Client(emulator)
    yield client
    client.session.close()
