"""MoEngageImportTrigger: waits for an import's latest file in the triggerer, without a worker slot."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_moengage.api import connection_id
from airflow_provider_moengage.exceptions import MoEngageConfigurationError, MoEngageError
from airflow_provider_moengage.hooks.moengage import MoEngageHook
from airflow_provider_moengage.waiting import (
    EVENT_TERMINAL,
    EVENT_TIMEOUT,
    SHARED_LISTINGS,
    ImportCheck,
    error_event,
    positive_seconds,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class MoEngageImportTrigger(BaseTrigger):
    """Poll the latest matching file of an import until it is terminal, the deadline passes, or an error.

    Yields exactly one event, ``{"kind": "terminal", "file": {...}}``, ``{"kind": "timeout", ...}``
    or ``{"kind": "error", "error": {...}}``. The task judges it with the same decision function as
    poke mode. Transient API trouble (429, 5xx, network) that outlasts the hook's retries is logged
    and the wait goes on; anything permanent ends it.

    The kwargs hold no credentials: the connection is looked up, asynchronously, by id.

    :param moengage_conn_id: the Airflow connection id.
    :param import_name: the import to watch.
    :param filters: the status query's filters (``StatusQuery.to_kwargs`` without the name).
    :param scheduled_after: ISO baseline; older files are ignored.
    :param policy: status overrides and partial-success options (``ImportCheck.to_kwargs()["policy"]``).
    :param end_time: absolute deadline, an aware ISO datetime; survives a triggerer restart unchanged.
    :param poll_interval: seconds between polls.
    """

    def __init__(
        self,
        moengage_conn_id: str,
        import_name: str,
        end_time: str | float,
        poll_interval: float = 60.0,
        filters: dict[str, Any] | None = None,
        scheduled_after: str | None = None,
        policy: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.moengage_conn_id = connection_id(moengage_conn_id)
        self.check = ImportCheck.from_kwargs(import_name, filters, scheduled_after, policy)
        self.end_time = _deadline(end_time)
        self.poll_interval = positive_seconds("poll_interval", poll_interval)

    @classmethod
    def for_check(
        cls, moengage_conn_id: str, check: ImportCheck, end_time: datetime, poll_interval: float
    ) -> MoEngageImportTrigger:
        """Build the trigger for an :class:`ImportCheck` the sensor or operator already validated."""
        return cls(
            moengage_conn_id=moengage_conn_id,
            end_time=end_time.isoformat(),
            poll_interval=poll_interval,
            **check.to_kwargs(),
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and the JSON-like kwargs that rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "moengage_conn_id": self.moengage_conn_id,
                "end_time": self.end_time.isoformat(),
                "poll_interval": self.poll_interval,
                **self.check.to_kwargs(),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until there is something to report; yield it once."""
        async with SHARED_LISTINGS.session_scope():
            async for event in self._poll():
                yield event
                return

    async def _poll(self) -> AsyncIterator[TriggerEvent]:
        # the async path has no requests session; retries end by the deadline, as the wait does
        hook = MoEngageHook(self.moengage_conn_id, tcp_keep_alive=False, deadline=self.end_time)
        started = time.monotonic()
        while True:
            try:
                decision = await self.check.acheck(hook, max_age=self.poll_interval)
            except MoEngageError as err:
                if not err.transient:
                    yield TriggerEvent(error_event(err))
                    return
                self.log.warning("MoEngage is having trouble, still waiting: %s", err)
            else:
                if decision.is_terminal:
                    assert decision.import_file is not None
                    yield TriggerEvent({"kind": EVENT_TERMINAL, "file": decision.import_file.to_dict()})
                    return
                self.log.info("Waiting for MoEngage import %r: %s", self.check.import_name, decision.reason)
            remaining = (self.end_time - datetime.now(UTC)).total_seconds()
            if remaining <= 0:
                yield TriggerEvent(self._timeout_event(time.monotonic() - started))
                return
            await asyncio.sleep(min(self.poll_interval, remaining))

    def _timeout_event(self, waited: float) -> dict[str, Any]:
        return {
            "kind": EVENT_TIMEOUT,
            "waited_seconds": round(waited, 3),
            "message": (
                f"MoEngage import {self.check.import_name!r} did not reach a terminal status by "
                f"{self.end_time.isoformat()} (this trigger waited {waited:.1f} s)"
            ),
        }


def _deadline(value: str | float | datetime) -> datetime:
    try:
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value, UTC)
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value)
        else:
            raise ValueError(value)
    except (ValueError, OverflowError, OSError):
        raise MoEngageConfigurationError(
            f"end_time must be an ISO 8601 datetime such as '2026-12-03T06:00:00+00:00' or epoch seconds, got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
