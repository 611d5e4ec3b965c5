"""Load: 200 MoEngageImportTrigger.run() generators in ONE asyncio event loop, as a triggerer runs them.

Every trigger polls the real emulator over loopback HTTP through the real hook, the real
process-wide :data:`~airflow_provider_moengage.waiting.SHARED_LISTINGS` and the real per-workspace
rate limiter. The 200 triggers watch 20 imports (10 each) with different ``scheduled_after``
baselines and start offsets, so they are not in lockstep. What must hold:

* the emulator never answers 429;
* every trigger yields exactly one event, ``terminal``, with its import's latest file and status;
* no 60 s window of the emulator's request log holds more requests than the workspace's budget;
* coalescing works: one request per import per poll round, not one per trigger. The emulator's
  timelines move on served requests (``after_requests``), so the count is exact.

The fast case fits the budget and takes about ``polls x POLL_SECONDS`` (3 s). The over-budget case
needs more requests than a minute allows, so the client-side limiter must hold some back. Its
window is 61 s (one second over MoEngage's minute) whatever the budget, and nothing shortens it
short of faking the clocks, so that case takes about 62 s of real time, through every real code
path: each emulator enforces its budget on its own clock, one workspace at MoEngage's 50 (the
connection's default) and one at 25, declared in the connection's ``rate_limit_per_minute`` extra
as documented.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_moengage import api
from airflow_provider_moengage.testing import MoEngageEmulator, ScheduledFile, StatusStep
from airflow_provider_moengage.triggers.moengage import MoEngageImportTrigger
from airflow_provider_moengage.waiting import SHARED_LISTINGS

IMPORTS = 20
TRIGGERS_PER_IMPORT = 10
#: Every trigger's poll_interval. Rounds are this far apart.
POLL_SECONDS = 1.0
#: Triggers start at offsets spread over [0, START_SPREAD) s; well under POLL_SECONDS, so every
#: trigger of an import lands inside the same poll round (reusing the listing fetched for it).
START_SPREAD = 0.4
TERMINALS = ("SUCCESSFUL", "FAILED", "PARTIAL_SUCCESS")
#: MoEngage counts requests per minute; the emulator's window.
MINUTE = 60.0


@pytest.fixture(autouse=True)
def fresh_shared_state() -> Iterator[None]:
    """Start and end every test with no shared listings, no fetch count and no rate limiters."""
    SHARED_LISTINGS.clear()
    api._LIMITERS.clear()
    yield
    SHARED_LISTINGS.clear()
    api._LIMITERS.clear()


@dataclass(frozen=True)
class Import:
    """One scripted import: its latest file, the status it ends in, and after how many polls."""

    name: str
    latest_id: str
    terminal: str
    polls: int


@dataclass(frozen=True)
class Workspace:
    """An emulator, the connection id pointing at it, and what it serves."""

    emulator: MoEngageEmulator
    conn_id: str
    budget: int
    imports: list[Import]

    @property
    def expected_requests(self) -> int:
        """One request per import per poll: what coalescing must achieve."""
        return sum(item.polls for item in self.imports)


def script_imports(emulator: MoEngageEmulator, polls: list[int]) -> list[Import]:
    """Serve ``len(polls)`` imports; import ``i`` is PROCESSING for ``polls[i] - 1`` polls, then terminal.

    Each import also has yesterday's file, already SUCCESSFUL, which no trigger may report.
    """
    latest_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=10)
    imports = []
    for number, poll_count in enumerate(polls):
        name = f"load_import_{number:02d}"
        terminal = TERMINALS[number % len(TERMINALS)]
        emulator.add_file(ScheduledFile(name, status="SUCCESSFUL", scheduled_at=latest_at - timedelta(days=1)))
        timeline = [StatusStep("PROCESSING"), StatusStep(terminal, after_requests=poll_count - 1)]
        latest = emulator.add_file(ScheduledFile(name, scheduled_at=latest_at, timeline=timeline))
        imports.append(Import(name, str(latest.id), terminal, poll_count))
    return imports


def baselines(latest_at: datetime) -> list[str | None]:
    """``scheduled_after`` values that all admit the latest file: none, long before, between, exactly at."""
    aware = latest_at.replace(tzinfo=UTC)
    india = timezone(timedelta(hours=5, minutes=30))
    return [
        None,
        (aware - timedelta(days=2)).isoformat(),
        (aware - timedelta(hours=1)).isoformat(),  # after yesterday's file: excludes it
        aware.astimezone(india).isoformat(),  # the very instant, in another zone (inclusive)
        latest_at.isoformat(),  # naive: read as UTC
    ]


@dataclass(frozen=True)
class Planned:
    """A trigger, rebuilt from its serialized kwargs as the triggerer does, and when it starts."""

    trigger: MoEngageImportTrigger
    item: Import
    delay: float


def plan_triggers(workspace: Workspace, seed: int, deadline_seconds: float) -> list[Planned]:
    """10 triggers per import, mixed baselines, start offsets shuffled over [0, START_SPREAD)."""
    rng = random.Random(seed)
    end_time = (datetime.now(UTC) + timedelta(seconds=deadline_seconds)).isoformat()
    latest_at = {file.id: file.scheduled_datetime for file in workspace.emulator.files}
    planned = []
    for item in workspace.imports:
        choices = baselines(latest_at[item.latest_id])
        for number in range(TRIGGERS_PER_IMPORT):
            built = MoEngageImportTrigger(
                moengage_conn_id=workspace.conn_id,
                import_name=item.name,
                end_time=end_time,
                poll_interval=POLL_SECONDS,
                scheduled_after=choices[number % len(choices)],
            )
            _, kwargs = built.serialize()
            planned.append(Planned(MoEngageImportTrigger(**kwargs), item, rng.uniform(0, START_SPREAD)))
    rng.shuffle(planned)
    return planned


async def drive(planned: Planned, events: list[dict[str, Any]]) -> None:
    """What the triggerer does with one trigger: start it, and collect what its generator yields."""
    await asyncio.sleep(planned.delay)
    async for event in planned.trigger.run():
        events.append(event.payload)


def run_in_one_loop(planned: list[Planned], limit_seconds: float) -> tuple[list[list[dict[str, Any]]], float]:
    """Drive every trigger concurrently in one new event loop; return the events of each, and the time.

    Triggers still running after ``limit_seconds`` are cancelled, and what they yielded so far is
    returned, so that the checks say what went wrong (429s, too many requests) rather than "timeout".
    """
    events: list[list[dict[str, Any]]] = [[] for _ in planned]

    async def everything() -> None:
        tasks = [asyncio.create_task(drive(one, got)) for one, got in zip(planned, events, strict=True)]
        done, pending = await asyncio.wait(tasks, timeout=limit_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()  # a trigger that raised fails the test with its own traceback

    started = time.monotonic()
    asyncio.run(everything())
    return events, time.monotonic() - started


def most_in_any_window(times: list[float], window: float = MINUTE) -> int:
    """The most requests in any ``window`` seconds, as the emulator counts them: (t - window, t]."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, moment in enumerate(ordered):
        while ordered[first] <= moment - window:
            first += 1
        most = max(most, last - first + 1)
    return most


@pytest.fixture
def start_workspace(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Workspace]]:
    """Start emulators enforcing a budget, each with a connection pointing at it; stop them afterwards."""
    started: list[MoEngageEmulator] = []

    def start(conn_id: str, budget: int, polls: list[int], **extra: Any) -> Workspace:
        emulator = MoEngageEmulator(workspace_id=f"LOAD_{conn_id.upper()}", rate_limit_per_minute=budget)
        started.append(emulator.start())
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", emulator.connection_json(**extra))
        return Workspace(emulator, conn_id, budget, script_imports(emulator, polls))

    yield start
    for emulator in started:
        emulator.stop()


def check_workspace(workspace: Workspace, planned: list[Planned], events: list[list[dict[str, Any]]]) -> None:
    """Everything the load must hold on one workspace, whatever the schedule."""
    emulator = workspace.emulator
    recorded = emulator.requests
    statuses = sorted({request.response_status for request in recorded})

    assert emulator.rate_limited_count == 0
    assert statuses == [200], f"the emulator answered {statuses}"

    # Coalescing: one request per import per poll round, exactly; 200 lone triggers would send 10x.
    assert len(recorded) == workspace.expected_requests
    for item in workspace.imports:
        assert len(emulator.requests_for(item.name)) == item.polls, item.name
        assert emulator.status_requests_count(item.name) == item.polls, item.name

    most = most_in_any_window([request.at for request in recorded])
    assert most <= workspace.budget, f"{most} requests in one minute, over the budget of {workspace.budget}"

    pairs = zip(planned, events, strict=True)
    mine = [(one, got) for one, got in pairs if one.trigger.moengage_conn_id == workspace.conn_id]
    assert len(mine) == IMPORTS * TRIGGERS_PER_IMPORT
    for one, got in mine:
        assert len(got) == 1, f"{one.item.name}: {len(got)} events {got}"
        (event,) = got
        assert event["kind"] == "terminal", event
        assert event["file"]["id"] == one.item.latest_id
        assert event["file"]["file_status"] == one.item.terminal


def test_200_triggers_within_the_budget_send_one_request_per_import_per_poll(start_workspace) -> None:
    """45 requests for 200 triggers (15 imports x 2 polls + 5 x 3): under 50 a minute, so no waiting."""
    polls = [2] * 15 + [3] * 5
    workspace = start_workspace("moengage_load", budget=50, polls=polls)
    planned = plan_triggers(workspace, seed=20261203, deadline_seconds=60)

    events, elapsed = run_in_one_loop(planned, limit_seconds=30)

    check_workspace(workspace, planned, events)
    assert SHARED_LISTINGS.fetches == workspace.expected_requests == 45
    # Nothing was held back (the limiter would have held a 51st request for a minute).
    assert elapsed < max(polls) * POLL_SECONDS + 10


def test_over_budget_the_limiter_holds_requests_back_and_nothing_is_refused(start_workspace) -> None:
    """More requests than a minute allows, on two workspaces at once: held back client-side, never 429.

    ``default``: 20 imports x 3 polls = 60 requests against 50 a minute (the connection's default).
    ``tight``: 20 imports x 2 polls = 40 requests against 25 a minute, declared in the connection's
    ``rate_limit_per_minute`` extra. Each workspace has its own limiter; 400 triggers share one loop.
    The held requests go out once the oldest leaves the limiter's 61 s window: about 62 s in all.
    """
    default = start_workspace("moengage_load", budget=50, polls=[3] * IMPORTS)
    tight = start_workspace("moengage_tight", budget=25, polls=[2] * IMPORTS, rate_limit_per_minute=25)
    planned = [
        *plan_triggers(default, seed=1, deadline_seconds=240),
        *plan_triggers(tight, seed=2, deadline_seconds=240),
    ]

    events, elapsed = run_in_one_loop(planned, limit_seconds=180)

    for workspace in (default, tight):
        check_workspace(workspace, planned, events)
        times = sorted(request.at for request in workspace.emulator.requests)
        # The requests over the budget really were held back a minute, not sent at once.
        assert times[workspace.budget] - times[0] >= MINUTE
    assert SHARED_LISTINGS.fetches == default.expected_requests + tight.expected_requests == 100
    assert elapsed >= MINUTE
