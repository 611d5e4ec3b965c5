"""The question a waiting task asks, shared by the sensor, the operator and the trigger.

An :class:`ImportCheck` is "the latest file of this import, filtered so, scheduled after that,
judged by this policy". Poke mode, the trigger and the operator all call :meth:`ImportCheck.check`
(or its async twin) and :meth:`ImportCheck.decision_from_event`, which end in
:meth:`StatusPolicy.decide`: one verdict for every path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp

from airflow_provider_moengage import exceptions
from airflow_provider_moengage.api import DEFAULT_RATE_LIMIT_PER_MINUTE, StatusQuery, connection_id
from airflow_provider_moengage.exceptions import MoEngageConfigurationError, MoEngageError
from airflow_provider_moengage.models import (
    Decision,
    ImportFile,
    StatusPolicy,
    latest_file,
    parse_baseline,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

    from airflow_provider_moengage.hooks.moengage import MoEngageHook

log = logging.getLogger(__name__)

#: Trigger event kinds.
EVENT_TERMINAL = "terminal"
EVENT_TIMEOUT = "timeout"
EVENT_ERROR = "error"


def is_template(value: object) -> bool:
    """Whether a value is still an unrendered Jinja template (checked again once rendered)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def true_or_false(argument: str, value: object) -> bool:
    """Return ``value`` if it is a bool, or fail naming ``argument`` (``"false"`` is a true string)."""
    if not isinstance(value, bool):
        raise MoEngageConfigurationError(f"{argument} must be True or False, got {value!r}")
    return value


def positive_seconds(argument: str, value: object) -> float:
    """Return ``value`` (seconds or a timedelta) as a float > 0, or fail naming ``argument``."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise MoEngageConfigurationError(f"{argument} must be a number of seconds > 0, got {value!r}")
    return float(seconds)


def warn_if_over_budget(argument: str, interval: float, logger: Any) -> None:
    """Warn when one waiter alone would spend more than MoEngage's per-workspace budget."""
    per_minute = 60.0 / interval
    if per_minute > DEFAULT_RATE_LIMIT_PER_MINUTE:
        logger.warning(
            "%s=%.2f s means %.0f requests a minute from this task alone, over MoEngage's budget of %d "
            "requests a minute per workspace; the hook will hold requests back to stay within it.",
            argument,
            interval,
            per_minute,
            DEFAULT_RATE_LIMIT_PER_MINUTE,
        )


@dataclass(frozen=True)
class ImportCheck:
    """What to ask MoEngage and how to judge the answer.

    :param query: the validated filters (the import name among them).
    :param scheduled_after: ignore files scheduled before this (aware UTC), e.g. the data interval start.
    :param policy: how statuses are judged.
    """

    query: StatusQuery
    scheduled_after: datetime | None = None
    policy: StatusPolicy = field(default_factory=StatusPolicy)

    @classmethod
    def build(
        cls,
        import_name: str,
        *,
        scheduled_after: object = None,
        import_types: Any = None,
        schedule_types: Any = None,
        file_sources: Any = None,
        schedule_statuses: Any = None,
        window_start: object = None,
        window_end: object = None,
        pending_statuses: Any = None,
        failure_statuses: Any = None,
        allow_partial_success: bool = False,
        max_failed_rows: int | None = None,
        max_failed_ratio: float | None = None,
    ) -> ImportCheck:
        """Validate every argument; an error names the argument and what it accepts."""
        _require_import_name(import_name)
        return cls(
            query=StatusQuery.build(
                import_name,
                import_types=import_types,
                schedule_types=schedule_types,
                file_sources=file_sources,
                schedule_statuses=schedule_statuses,
                start_date=window_start,
                end_date=window_end,
                window_names=("window_start", "window_end"),
            ),
            scheduled_after=parse_baseline(scheduled_after),
            policy=StatusPolicy.build(
                pending_statuses=pending_statuses,
                failure_statuses=failure_statuses,
                allow_partial_success=allow_partial_success,
                max_failed_rows=max_failed_rows,
                max_failed_ratio=max_failed_ratio,
            ),
        )

    @property
    def import_name(self) -> str:
        """The import asked about."""
        assert self.query.import_name is not None
        return self.query.import_name

    # ---------------------------------------------------------------------------------------------
    # Asking
    # ---------------------------------------------------------------------------------------------

    def check(self, hook: MoEngageHook) -> Decision:
        """Fetch the latest matching file and judge it (workers: poke mode and the operator)."""
        return self._judge(hook.iter_query(self.query))

    async def acheck(self, hook: MoEngageHook, max_age: float = 0.0) -> Decision:
        """Async :meth:`check` (the triggerer). Identical questions in one process share requests.

        :param max_age: a listing fetched by another trigger this many seconds ago or less is reused.
        """
        records = await SHARED_LISTINGS.get(hook, self.query, max_age)
        return self._judge(records)

    def _judge(self, records: Iterable[ImportFile]) -> Decision:
        decision = self.policy.decide(latest_file(records, self.scheduled_after))
        if decision.import_file is not None:
            return decision
        since = f" scheduled at or after {self.scheduled_after.isoformat()}" if self.scheduled_after else ""
        return Decision(decision.verdict, f"MoEngage import {self.import_name!r} has no matching file{since} yet")

    # ---------------------------------------------------------------------------------------------
    # Trigger kwargs and events
    # ---------------------------------------------------------------------------------------------

    def to_kwargs(self) -> dict[str, Any]:
        """JSON-like values for a trigger's serialized kwargs: import name, filters, baseline, policy."""
        filters = self.query.to_kwargs()
        return {
            "import_name": filters.pop("import_name"),
            "filters": filters,
            "scheduled_after": self.scheduled_after.isoformat() if self.scheduled_after else None,
            "policy": {
                "pending_statuses": sorted(self.policy.pending_statuses),
                "failure_statuses": sorted(self.policy.failure_statuses),
                "allow_partial_success": self.policy.allow_partial_success,
                "max_failed_rows": self.policy.max_failed_rows,
                "max_failed_ratio": self.policy.max_failed_ratio,
            },
        }

    @classmethod
    def from_kwargs(
        cls,
        import_name: str,
        filters: dict[str, Any] | None = None,
        scheduled_after: str | None = None,
        policy: dict[str, Any] | None = None,
    ) -> ImportCheck:
        """Rebuild a check from :meth:`to_kwargs` output."""
        # Without a name the query would cover every import, and another import's file could pass the gate.
        _require_import_name(import_name)
        return cls(
            query=StatusQuery.build(import_name, **(filters or {})),
            scheduled_after=parse_baseline(scheduled_after),
            policy=StatusPolicy.build(**(policy or {})),
        )

    def decision_from_event(self, event: dict[str, Any] | None) -> Decision:
        """Turn a trigger event back into a decision, or raise what the trigger reported.

        :raises MoEngageError: the error the trigger saw (same class, same message).
        :raises TimeoutError: when the trigger stopped at its deadline (callers turn it into their
            own timeout: ``AirflowSensorTimeout`` for the sensor).
        """
        if not isinstance(event, dict) or "kind" not in event:
            raise exceptions.MoEngageUnexpectedResponseError(f"the trigger sent an event of no known shape: {event!r}")
        kind = event["kind"]
        if kind == EVENT_TERMINAL:
            return self.policy.decide(ImportFile.from_dict(event["file"]))
        if kind == EVENT_TIMEOUT:
            raise TimeoutError(event.get("message") or "the trigger reached its deadline")
        if kind == EVENT_ERROR:
            raise error_from_event(event.get("error") or {})
        raise exceptions.MoEngageUnexpectedResponseError(f"the trigger sent an event of unknown kind {kind!r}")


def _require_import_name(import_name: object) -> None:
    if not isinstance(import_name, str) or not import_name.strip():
        raise MoEngageConfigurationError(f"import_name must be a non-empty string, got {import_name!r}")


class ImportCheckArguments:
    """The arguments the sensor and the operator share, stored once and validated into an :class:`ImportCheck`.

    Values that are still Jinja templates are validated after rendering, when the task starts;
    everything else fails at DAG parse time.
    """

    #: The templated fields of both the sensor and the operator.
    check_template_fields: tuple[str, ...] = ("import_name", "scheduled_after", "window_start", "window_end")

    import_name: str
    moengage_conn_id: str
    scheduled_after: Any
    window_start: Any
    window_end: Any
    filters: dict[str, Any]
    policy_options: dict[str, Any]

    def store_check_arguments(self, import_name: str, moengage_conn_id: str, **arguments: Any) -> None:
        """Keep the arguments on the task (the templated ones as attributes) and validate them if rendered."""
        self.import_name = import_name
        self.moengage_conn_id = connection_id(moengage_conn_id)
        self.scheduled_after = arguments.pop("scheduled_after", None)
        self.window_start = arguments.pop("window_start", None)
        self.window_end = arguments.pop("window_end", None)
        filter_names = ("import_types", "schedule_types", "file_sources", "schedule_statuses")
        self.filters = {name: arguments.pop(name, None) for name in filter_names}
        self.policy_options = arguments
        # Values still templated are checked once rendered (build_check at task start); the rest now.
        window_templated = is_template(self.window_start) or is_template(self.window_end)
        ImportCheck.build(
            "(templated)" if is_template(import_name) else import_name,
            scheduled_after=None if is_template(self.scheduled_after) else self.scheduled_after,
            window_start=None if window_templated else self.window_start,
            window_end=None if window_templated else self.window_end,
            **self.filters,
            **self.policy_options,
        )

    def build_check(self) -> ImportCheck:
        """Validate the (rendered) arguments into the question the task asks."""
        return ImportCheck.build(
            self.import_name,
            scheduled_after=self.scheduled_after,
            window_start=self.window_start,
            window_end=self.window_end,
            **self.filters,
            **self.policy_options,
        )

    def defer_check(self, check: ImportCheck, context: Any, timeout: float, poll_interval: float) -> None:
        """Hand the wait to :class:`MoEngageImportTrigger` until what is left of ``timeout`` runs out.

        What is left counts from the start of this try, so a deferral never outlives the task's
        own timeout; the trigger's absolute deadline and Airflow's deferral timeout agree.
        """
        from airflow_provider_moengage.triggers.moengage import MoEngageImportTrigger

        now = datetime.now(UTC)
        started = getattr(context.get("ti"), "start_date", None) if hasattr(context, "get") else None
        elapsed = (now - started).total_seconds() if isinstance(started, datetime) and started.tzinfo else 0.0
        remaining = max(timeout - max(elapsed, 0.0), 0.001)
        trigger = MoEngageImportTrigger.for_check(
            self.moengage_conn_id, check, now + timedelta(seconds=remaining), poll_interval
        )
        self.defer(  # type: ignore[attr-defined]  # provided by BaseOperator
            trigger=trigger, method_name="execute_complete", timeout=timedelta(seconds=remaining)
        )

    def hook(self, deadline: datetime | None = None) -> MoEngageHook:
        """A hook on the task's connection whose retries end by ``deadline`` (the task's timeout)."""
        from airflow_provider_moengage.hooks.moengage import MoEngageHook

        return MoEngageHook(self.moengage_conn_id, deadline=deadline)

    def look(
        self, check: ImportCheck, deadline: datetime | None, *, tolerate_transient: bool = True
    ) -> Decision | None:
        """One look from a worker (poke, reschedule, the operator's loop), its retries ending by ``deadline``.

        Transient trouble that outlasts the hook's retries is logged and gives ``None`` ("look again")
        when ``tolerate_transient``; anything permanent raises.
        """
        try:
            decision = check.check(self.hook(deadline))
        except MoEngageError as err:
            if not (err.transient and tolerate_transient):
                raise
            self.log.warning("MoEngage is having trouble, will look again: %s", err)  # type: ignore[attr-defined]
            return None
        self.log.info("%s", decision.reason)  # type: ignore[attr-defined]
        return decision


def error_event(error: MoEngageError) -> dict[str, Any]:
    """The trigger event for an error that ends the wait."""
    details = error.to_dict() if isinstance(error, exceptions.MoEngageAPIError) else {}
    details.update({"error_class": type(error).__name__, "text": str(error)})
    return {"kind": EVENT_ERROR, "error": details}


def error_from_event(details: dict[str, Any]) -> MoEngageError:
    """Rebuild the provider exception a trigger reported, keeping its class and message."""
    found = getattr(exceptions, str(details.get("error_class")), None)
    text = str(details.get("text") or "the trigger reported an error")
    if isinstance(found, type) and issubclass(found, exceptions.MoEngageAPIError):
        api_error: type[exceptions.MoEngageAPIError] = found
        return api_error(
            details.get("summary") or text,
            http_status=details.get("http_status"),
            message=details.get("message"),
            error_type=details.get("error_type"),
            request_id=details.get("request_id"),
            excerpt=details.get("excerpt"),
        )
    if isinstance(found, type) and issubclass(found, MoEngageError):
        return found(text)
    return MoEngageError(text)


# --------------------------------------------------------------------------------------------------
# One request per poll for identical questions (triggerer)
# --------------------------------------------------------------------------------------------------


_FORGET_AFTER_SECONDS = 3600.0


@dataclass
class _Listing:
    fetched_at: float
    records: list[ImportFile]


class SharedListings:
    """Coalesces identical listings across the triggers of one process.

    Triggers that ask the same question (same connection and filters) share one in-flight request,
    and reuse a listing younger than their own poll interval instead of fetching it again.
    ``scheduled_after`` is applied by each trigger afterwards, so triggers with different baselines
    still share.
    """

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        # One HTTP session (and connection pool) per event loop: the triggerer's loop lives as
        # long as the process, and a new TCP + TLS handshake per poll is what a pool avoids.
        self._sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
            weakref.WeakKeyDictionary()
        )
        self._users: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()
        self._listings: dict[tuple[str, StatusQuery], _Listing] = {}
        self._in_flight: dict[tuple[str, StatusQuery], asyncio.Future[list[ImportFile]]] = {}
        #: how many listings were actually fetched (for benchmarks and tests)
        self.fetches = 0

    async def get(self, hook: MoEngageHook, query: StatusQuery, max_age: float) -> list[ImportFile]:
        """Return the records of ``query``: a fresh enough shared listing, or a new fetch.

        The fetch runs in a task of its own, so cancelling the trigger that started it (cleared,
        timed out) does not cancel the other triggers waiting on the same listing.
        """
        key = (hook.moengage_conn_id, query)
        cached = self._listings.get(key)
        if cached is not None and self.clock() - cached.fetched_at <= max_age:
            return cached.records
        fetch = self._in_flight.get(key)
        if fetch is None:
            fetch = self._in_flight[key] = asyncio.ensure_future(self._fetch(key, hook, query))
            # If every waiter is gone by the time it fails, nobody else retrieves the error.
            fetch.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(fetch)

    async def _fetch(self, key: tuple[str, StatusQuery], hook: MoEngageHook, query: StatusQuery) -> list[ImportFile]:
        try:
            records = [record async for record in hook.aiter_query(query, self._session())]
        finally:
            del self._in_flight[key]
        self.fetches += 1
        self._forget_older_than(_FORGET_AFTER_SECONDS)
        self._listings[key] = _Listing(self.clock(), records)
        return records

    @contextlib.asynccontextmanager
    async def session_scope(self) -> AsyncIterator[None]:
        """Keep this loop's HTTP session open while a trigger runs; close it after the last one."""
        loop = asyncio.get_running_loop()
        self._users[loop] = self._users.get(loop, 0) + 1
        try:
            yield
        finally:
            self._users[loop] -= 1
            if self._users[loop] == 0:
                session = self._sessions.pop(loop, None)
                if session is not None:
                    await session.close()

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            session = self._sessions[loop] = aiohttp.ClientSession()
        return session

    def _forget_older_than(self, seconds: float) -> None:
        horizon = self.clock() - seconds
        for key in [key for key, listing in self._listings.items() if listing.fetched_at < horizon]:
            del self._listings[key]

    def clear(self) -> None:
        """Forget cached listings (tests)."""
        self._listings.clear()
        self.fetches = 0


#: The process-wide instance the triggers use.
SHARED_LISTINGS = SharedListings()
