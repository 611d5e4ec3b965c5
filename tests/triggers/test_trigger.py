"""MoEngageImportTrigger driven in a real event loop against the emulator over HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_moengage.api import _LIMITERS
from airflow_provider_moengage.exceptions import MoEngageAuthError, MoEngageUnknownStatusError
from airflow_provider_moengage.models import Verdict
from airflow_provider_moengage.testing import Fault, ScheduledFile, StatusStep
from airflow_provider_moengage.triggers.moengage import MoEngageImportTrigger
from airflow_provider_moengage.waiting import SHARED_LISTINGS, ImportCheck

from ..conftest import API_KEY, WORKSPACE


@pytest.fixture(autouse=True)
def _fresh_shared_state() -> None:
    SHARED_LISTINGS.clear()
    _LIMITERS.clear()


def make_trigger(seconds: float = 10, poll: float = 0.05, **check: object) -> MoEngageImportTrigger:
    built = ImportCheck.build("daily_users", **check)
    return MoEngageImportTrigger.for_check(
        "moengage_default", built, datetime.now(UTC) + timedelta(seconds=seconds), poll
    )


async def first_event(trigger: MoEngageImportTrigger, limit: float = 15) -> dict:
    events = trigger.run()
    event = await asyncio.wait_for(anext(events), limit)
    with pytest.raises(StopAsyncIteration):
        await anext(events)  # exactly one event
    return event.payload


def test_serialize_round_trips_without_credentials() -> None:
    trigger = make_trigger(
        scheduled_after="2026-12-03T00:00:00+00:00",
        import_types=["USERS"],
        pending_statuses=["UPLOADING"],
        max_failed_rows=5,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_moengage.triggers.moengage.MoEngageImportTrigger"
    rebuilt = MoEngageImportTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.check == trigger.check and rebuilt.end_time == trigger.end_time
    assert kwargs["scheduled_after"] == "2026-12-03T00:00:00+00:00"
    text = json.dumps(kwargs)
    assert API_KEY not in text and base64.b64encode(f"{WORKSPACE}:{API_KEY}".encode()).decode() not in text
    assert set(kwargs) == {
        "moengage_conn_id",
        "import_name",
        "filters",
        "scheduled_after",
        "policy",
        "end_time",
        "poll_interval",
    }


def test_kwargs_survive_airflow_serde() -> None:
    from airflow.sdk.serde import deserialize, serialize

    _, kwargs = make_trigger(scheduled_after="2026-12-03T00:00:00+00:00").serialize()
    assert deserialize(serialize(kwargs)) == kwargs


@pytest.mark.parametrize("status", ["SUCCESSFUL", "FAILED", "PARTIAL_SUCCESS", "PARTIAL_FAILURE", "ARCHIVED"])
async def test_each_terminal_status_ends_with_one_terminal_event(emulator, moengage_conn, status: str) -> None:
    emulator.add_file(
        ScheduledFile(
            "daily_users",
            id="f",
            scheduled_at="now-1m",
            timeline=[StatusStep("PROCESSING"), StatusStep(status, after_requests=2)],
        )
    )
    trigger = make_trigger()
    payload = await first_event(trigger)
    assert payload["kind"] == "terminal" and payload["file"]["file_status"] == status
    assert emulator.status_requests_count("daily_users") == 3
    expected = Verdict.SUCCESS if status == "SUCCESSFUL" else Verdict.FAILURE
    assert trigger.check.decision_from_event(payload).verdict is expected


async def test_pending_stays_pending(emulator, moengage_conn) -> None:
    emulator.add_file(ScheduledFile("daily_users", scheduled_at="now-1m", status="PROCESSING"))
    task = asyncio.ensure_future(anext(make_trigger(seconds=30).run()))
    await asyncio.sleep(0.5)
    assert not task.done() and emulator.status_requests_count("daily_users") >= 3
    task.cancel()


async def test_no_file_yet_is_pending(emulator, moengage_conn) -> None:
    task = asyncio.ensure_future(anext(make_trigger(seconds=30).run()))
    await asyncio.sleep(0.3)
    assert not task.done()
    emulator.add_file(ScheduledFile("daily_users", scheduled_at="now", status="SUCCESSFUL"))
    event = await asyncio.wait_for(task, 5)
    assert event.payload["kind"] == "terminal"


async def test_timeout_says_how_long_it_waited(emulator, moengage_conn) -> None:
    emulator.add_file(ScheduledFile("daily_users", scheduled_at="now-1m", status="QUEUED"))
    payload = await first_event(make_trigger(seconds=0.4, poll=0.1))
    assert payload["kind"] == "timeout"
    assert 0.3 <= payload["waited_seconds"] <= 2
    assert "did not reach a terminal status" in payload["message"] and "waited" in payload["message"]


@pytest.mark.parametrize(
    ("fault", "error_class", "status"),
    [
        (
            Fault(status=401, body={"title": "AuthenticationInvalid", "description": "bad key"}),
            "MoEngageAuthError",
            401,
        ),
        (
            Fault(
                status=403,
                body={
                    "status": "fail",
                    "error": {"message": "suspended", "type": "BlockedClient", "request_id": "r-403"},
                },
            ),
            "MoEngageAuthError",
            403,
        ),
        (
            Fault(
                status=400,
                body={"success": False, "status_code": "400 Bad Request", "data": "Unable to process the request"},
            ),
            "MoEngageBadRequestError",
            400,
        ),
        (Fault(status=404, body={"status": "fail", "data": "Resource not found."}), "MoEngageNotFoundError", 404),
        (Fault.html(200), "MoEngageUnexpectedResponseError", 200),
        (Fault.failure_body(), "MoEngageUnexpectedResponseError", 200),
    ],
    ids=["401", "403", "400", "404", "200-html", "200-failure-body"],
)
async def test_each_permanent_error_kind_ends_with_an_error_event(
    emulator, moengage_conn, fault: Fault, error_class: str, status: int
) -> None:
    emulator.inject(fault)
    trigger = make_trigger()
    payload = await first_event(trigger)
    assert payload["kind"] == "error"
    error = payload["error"]
    assert error["error_class"] == error_class and error["http_status"] == status
    assert error["request_id"]
    assert len(emulator.requests) == 1
    with pytest.raises(Exception) as raised:
        trigger.check.decision_from_event(payload)
    assert type(raised.value).__name__ == error_class and raised.value.request_id == error["request_id"]


async def test_auth_error_event_rebuilds_the_same_exception(emulator, moengage_conn) -> None:
    emulator.inject(Fault(status=401, body={"title": "HeaderMissing", "description": "MOE-APPKEY is missing"}))
    trigger = make_trigger()
    payload = await first_event(trigger)
    with pytest.raises(MoEngageAuthError, match="MOE-APPKEY is missing"):
        trigger.check.decision_from_event(payload)


async def test_unknown_status_is_an_error_event(emulator, moengage_conn) -> None:
    emulator.add_file(ScheduledFile("daily_users", scheduled_at="now-1m", status="HALF_DONE"))
    trigger = make_trigger()
    payload = await first_event(trigger)
    assert payload["kind"] == "error" and payload["error"]["error_class"] == "MoEngageUnknownStatusError"
    with pytest.raises(MoEngageUnknownStatusError, match="HALF_DONE"):
        trigger.check.decision_from_event(payload)


@pytest.mark.parametrize(
    "fault",
    [Fault.server_error(503, times=6), Fault.rate_limited(reset_in=0, times=6), Fault.connection_reset(times=6)],
    ids=["503-storm", "429-storm", "resets"],
)
async def test_transient_trouble_beyond_the_retries_keeps_waiting(emulator, monkeypatch, fault: Fault) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MOENGAGE_DEFAULT", emulator.connection_json(max_attempts=2))
    emulator.add_file(ScheduledFile("daily_users", scheduled_at="now-1m", status="SUCCESSFUL"))
    emulator.inject(fault)
    payload = await first_event(make_trigger(seconds=60, poll=0.05), limit=40)
    assert payload["kind"] == "terminal"
    assert [r.response_status for r in emulator.requests][-1] == 200 and len(emulator.requests) == 7


async def test_rebuilt_from_kwargs_mid_wait_it_keeps_baseline_and_deadline(emulator, moengage_conn) -> None:
    emulator.add_file(ScheduledFile("daily_users", id="stale", scheduled_at="now-2d", status="SUCCESSFUL"))
    emulator.add_file(
        ScheduledFile(
            "daily_users",
            id="new",
            scheduled_at="now-1m",
            timeline=[StatusStep("PROCESSING"), StatusStep("FAILED", after_requests=4)],
        )
    )
    baseline = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    original = make_trigger(seconds=20, scheduled_after=baseline)
    task = asyncio.ensure_future(anext(original.run()))
    await asyncio.sleep(0.12)
    task.cancel()  # the triggerer stops...
    seen = emulator.status_requests_count("daily_users")
    assert 1 <= seen < 5
    _, kwargs = original.serialize()
    restarted = MoEngageImportTrigger(**json.loads(json.dumps(kwargs)))  # ...and a new one rebuilds it
    assert restarted.end_time == original.end_time and restarted.check.scheduled_after == original.check.scheduled_after
    payload = await first_event(restarted)
    assert payload["kind"] == "terminal" and payload["file"]["id"] == "new"


async def test_identical_triggers_share_one_request_per_poll(emulator, moengage_conn) -> None:
    emulator.add_file(
        ScheduledFile(
            "daily_users",
            scheduled_at="now-1m",
            timeline=[StatusStep("PROCESSING"), StatusStep("SUCCESSFUL", after_requests=2)],
        )
    )
    triggers = [make_trigger(poll=0.2) for _ in range(10)]
    payloads = await asyncio.gather(*(first_event(t) for t in triggers))
    assert all(p["kind"] == "terminal" for p in payloads)
    assert emulator.status_requests_count("daily_users") == 3


async def test_cancelling_the_trigger_that_started_a_shared_fetch_spares_the_others(emulator, moengage_conn) -> None:
    emulator.add_file(ScheduledFile("daily_users", scheduled_at="now-1m", status="SUCCESSFUL"))
    emulator.inject(Fault.slow(0.4))
    leader = asyncio.ensure_future(anext(make_trigger().run()))
    await asyncio.sleep(0.1)  # the leader's fetch is in flight, held by the slow response
    follower = asyncio.ensure_future(anext(make_trigger().run()))
    await asyncio.sleep(0.05)
    leader.cancel()  # e.g. the leader's task was cleared
    event = await asyncio.wait_for(follower, 5)
    assert event.payload["kind"] == "terminal" and leader.cancelled()
    assert emulator.status_requests_count("daily_users") == 1
