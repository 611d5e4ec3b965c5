"""Helpers for the hardening suite: fresh shared state, a trigger spy, secrets and where they could leak."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_moengage.api import _LIMITERS
from airflow_provider_moengage.waiting import SHARED_LISTINGS


@pytest.fixture(autouse=True)
def _fresh_shared_state() -> None:
    """Each test starts with empty process-wide rate limiters and shared trigger listings."""
    _LIMITERS.clear()
    SHARED_LISTINGS.clear()


class Sleeps(list):
    """A fake sleep for the sync hook: records the waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def secrets_of(workspace: str, api_key: str) -> list[str]:
    """The two values that must never be printed: the key and the base64 ``workspace:key`` credential."""
    return [api_key, base64.b64encode(f"{workspace}:{api_key}".encode()).decode("ascii")]


def leaks(secrets: Iterable[str], haystacks: dict[str, str]) -> list[str]:
    """Return ``"<secret> in <where>"`` for every secret found in any haystack (empty: no leak)."""
    return [f"{secret[:6]}... in {where}" for where, text in haystacks.items() for secret in secrets if secret in text]


@dataclass
class TriggerSpy:
    """What the deferrable paths handed to the triggerer and what came back."""

    serialized: list[Any] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)

    def text(self) -> str:
        return json.dumps({"serialized": self.serialized, "events": self.events}, default=str)


@pytest.fixture
def trigger_spy(monkeypatch: pytest.MonkeyPatch) -> TriggerSpy:
    """Record every ``MoEngageImportTrigger.serialize()`` result and every event its ``run()`` yields.

    ``dag.test()`` runs tasks and triggers in this process, so the spy sees exactly what a real
    triggerer would store (the serialized kwargs) and what the task resumes with (the event).
    """
    from airflow_provider_moengage.triggers.moengage import MoEngageImportTrigger

    spy = TriggerSpy()
    serialize, run = MoEngageImportTrigger.serialize, MoEngageImportTrigger.run

    def recording_serialize(self: MoEngageImportTrigger) -> tuple[str, dict[str, Any]]:
        classpath, kwargs = serialize(self)
        spy.serialized.append([classpath, kwargs])
        return classpath, kwargs

    async def recording_run(self: MoEngageImportTrigger) -> Any:
        async for event in run(self):
            spy.events.append(event.payload)
            yield event

    monkeypatch.setattr(MoEngageImportTrigger, "serialize", recording_serialize)
    monkeypatch.setattr(MoEngageImportTrigger, "run", recording_run)
    return spy


def rendered_fields(dag_id: str, run_id: str) -> str:
    """The rendered template fields Airflow stored for one run (the RenderedTaskInstanceFields table), as text."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(RenderedTaskInstanceFields).filter_by(dag_id=dag_id, run_id=run_id).all()
        return json.dumps([row.rendered_fields for row in rows], default=str)
