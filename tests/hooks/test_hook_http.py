"""MoEngageHook against the emulator over real HTTP on loopback: requests, paging, errors, retries."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_moengage.api import _LIMITERS
from airflow_provider_moengage.exceptions import (
    MoEngageAuthError,
    MoEngageBadRequestError,
    MoEngageRateLimitError,
    MoEngageServerError,
    MoEngageTransportError,
    MoEngageUnexpectedResponseError,
)
from airflow_provider_moengage.hooks.moengage import MoEngageHook
from airflow_provider_moengage.testing import Fault, MoEngageEmulator, ScheduledFile

from ..conftest import API_KEY, WORKSPACE


class Sleeps(list):
    """A fake sleep that records how long it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(autouse=True)
def _fresh_limiters() -> None:
    _LIMITERS.clear()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def hook(moengage_conn: str, sleeps: Sleeps) -> MoEngageHook:
    return MoEngageHook(moengage_conn, sleep=sleeps)


def add_files(emulator: MoEngageEmulator, count: int, import_name: str = "daily_users", **fields: object) -> None:
    start = datetime(2026, 11, 1, 6, 0)
    emulator.add_files(
        ScheduledFile(import_name, id=f"{import_name}-{i:03d}", scheduled_at=start + timedelta(hours=i), **fields)
        for i in range(count)
    )


def test_every_request_carries_basic_auth_appkey_json_and_user_agent(emulator, hook) -> None:
    add_files(emulator, 1)
    hook.get_import_status("daily_users")
    (request,) = emulator.requests
    expected = "Basic " + base64.b64encode(f"{WORKSPACE}:{API_KEY}".encode()).decode()
    assert request.headers["authorization"] == expected
    assert request.headers["moe-appkey"] == WORKSPACE
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("airflow-provider-moengage/")
    assert request.json == {"import_name": "daily_users", "offset": 1}
    assert not {"max_retry_seconds", "data_center", "timezone"} & set(request.headers)


@pytest.mark.parametrize(("count", "requests"), [(60, 2), (50, 1), (0, 1), (101, 3)])
def test_pagination_request_counts(emulator, hook, count: int, requests: int) -> None:
    add_files(emulator, count)
    files = list(hook.iter_import_files("daily_users"))
    assert len(files) == count and len({f.id for f in files}) == count
    assert [r.offset for r in emulator.requests] == list(range(1, requests + 1))


def test_more_files_and_total_count_as_strings(emulator, hook) -> None:
    emulator.more_files_as = "string"
    emulator.total_count_as = "string"
    add_files(emulator, 60)
    assert len(list(hook.iter_import_files("daily_users"))) == 60
    assert len(emulator.requests) == 2


def test_newest_file_on_the_last_page_of_shuffled_records(emulator, hook) -> None:
    add_files(emulator, 120)
    latest = hook.get_latest_import_file("daily_users")
    assert latest is not None and latest.id == "daily_users-119"
    assert latest.scheduled_at == datetime(2026, 11, 6, 5, 0, tzinfo=UTC)
    first_page_ids = {r["id"] for r in json.loads(emulator.requests[0].body or b"{}").get("data", [])} or None
    assert first_page_ids is None  # request bodies hold no records; the order is the emulator's shuffle
    assert len(emulator.requests) == 3


def test_an_error_on_page_two_raises_instead_of_returning_page_one(emulator, hook) -> None:
    add_files(emulator, 60)
    emulator.inject(
        Fault(
            status=400,
            body={"status": "FAILURE", "error_type": "Invalid Offset Value", "message": "offset not valid"},
            offset=2,
        )
    )
    with pytest.raises(MoEngageBadRequestError, match="offset not valid"):
        hook.get_latest_import_file("daily_users")
    assert [r.offset for r in emulator.requests] == [1, 2]


def test_stale_files_before_the_baseline_are_ignored(emulator, hook) -> None:
    emulator.add_file(ScheduledFile("daily_users", id="old", scheduled_at="now-2d"))
    assert hook.get_latest_import_file("daily_users", scheduled_after=datetime.now(UTC) - timedelta(hours=1)) is None
    assert hook.get_latest_import_file("daily_users").id == "old"


def test_401_is_not_retried(emulator, moengage_conn, monkeypatch, sleeps) -> None:
    bad = json.loads(emulator.connection_json())
    bad["password"] = "wrong-key-123"
    monkeypatch.setenv("AIRFLOW_CONN_MOENGAGE_DEFAULT", json.dumps(bad))
    with pytest.raises(MoEngageAuthError) as caught:
        MoEngageHook(sleep=sleeps).get_import_status("daily_users")
    assert len(emulator.requests) == 1 and sleeps == []
    assert caught.value.http_status == 401 and caught.value.error_type == "AuthenticationInvalid"
    assert "wrong-key-123" not in str(caught.value)


@pytest.mark.parametrize("status", [400, 403, 404, 405, 415])
def test_client_errors_are_never_retried(emulator, hook, sleeps, status: int) -> None:
    emulator.inject(Fault(status=status, body={"status": "fail", "message": f"nope {status}"}, times=None))
    with pytest.raises((MoEngageBadRequestError, MoEngageAuthError)):
        hook.get_import_status("daily_users")
    assert len(emulator.requests) == 1 and sleeps == []


def test_429_then_200_waits_as_the_headers_say(emulator, hook, sleeps) -> None:
    add_files(emulator, 1)
    emulator.inject(Fault.rate_limited(reset_in=7))
    page = hook.get_import_status("daily_users")
    assert len(page.files) == 1 and len(emulator.requests) == 2
    retry_waits = list(sleeps)
    assert len(retry_waits) == 1 and 6.0 <= retry_waits[0] <= 7.5


def test_429_without_headers_backs_off_exponentially(emulator, hook, sleeps) -> None:
    add_files(emulator, 1)
    emulator.inject(Fault.rate_limited(with_headers=False, times=3))
    hook.get_import_status("daily_users")
    waits = list(sleeps)
    assert len(waits) == 3 and len(emulator.requests) == 4
    assert all(0.5 <= w <= 4.0 for w in waits)


@pytest.mark.parametrize(
    "fault",
    [
        Fault.server_error(500),
        Fault.html(502),
        Fault.server_error(503),
        Fault.server_error(504),
        Fault.connection_reset(),
    ],
    ids=["500", "502-html", "503", "504", "reset"],
)
def test_transient_failure_then_200_recovers(emulator, hook, fault: Fault) -> None:
    add_files(emulator, 1)
    emulator.inject(fault)
    assert len(hook.get_import_status("daily_users").files) == 1
    assert len(emulator.requests) == 2


def test_a_storm_of_5xx_stops_at_the_attempt_budget(emulator, hook, sleeps) -> None:
    emulator.inject(Fault.html(502, times=None))
    with pytest.raises(MoEngageServerError) as caught:
        hook.get_import_status("daily_users")
    assert len(emulator.requests) == 5 and len(sleeps) == 4
    assert "HTTP 502" in str(caught.value) and "502 Bad Gateway" in str(caught.value)


def test_slow_response_past_the_timeout_is_a_transport_error(emulator, monkeypatch, sleeps) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MOENGAGE_DEFAULT", emulator.connection_json(timeout=0.2, max_attempts=2))
    emulator.inject(Fault.slow(0.6, times=None))
    with pytest.raises(MoEngageTransportError, match="Could not reach MoEngage"):
        MoEngageHook(sleep=sleeps).get_import_status("daily_users")
    assert len(emulator.requests) >= 1


def test_200_with_a_failure_body_is_an_error(emulator, hook) -> None:
    emulator.inject(Fault.failure_body())
    with pytest.raises(MoEngageUnexpectedResponseError) as caught:
        hook.get_import_status("daily_users")
    assert caught.value.message == "Something failed" and caught.value.request_id


def test_client_side_rate_limit_waits_instead_of_sending(emulator, monkeypatch, sleeps) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MOENGAGE_DEFAULT", emulator.connection_json(rate_limit_per_minute=3))
    hook = MoEngageHook(sleep=sleeps)
    for _ in range(5):
        hook.get_import_status("daily_users")
    assert len(emulator.requests) == 5
    assert len(sleeps) == 2 and all(55 < s <= 61 for s in sleeps)


def test_rate_limit_budget_is_shared_by_hooks_of_one_workspace(emulator, monkeypatch, sleeps) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MOENGAGE_DEFAULT", emulator.connection_json(rate_limit_per_minute=2))
    MoEngageHook(sleep=sleeps).get_import_status("a")
    MoEngageHook(sleep=sleeps).get_import_status("b")
    MoEngageHook(sleep=sleeps).get_import_status("c")
    assert len(sleeps) == 1 and sleeps[0] > 55


def test_sync_and_async_paths_send_the_same_request(emulator, hook) -> None:
    from airflow_provider_moengage.api import StatusQuery

    add_files(emulator, 1)
    query = StatusQuery.build("daily_users", import_types=["USERS"], start_date="2026-11-01", end_date="2026-11-02")
    hook.fetch_page(query)
    asyncio.run(MoEngageHook(hook.moengage_conn_id).afetch_page(query))
    sync, async_ = emulator.requests
    assert sync.body == async_.body and sync.path == async_.path
    for name in ("authorization", "moe-appkey", "content-type", "accept", "user-agent"):
        assert sync.headers[name] == async_.headers[name]
    extra = {"max_retry_seconds", "data_center", "timezone", "rate_limit_per_minute"}
    assert not extra & set(async_.headers)


def test_async_path_retries_like_the_sync_path(emulator, moengage_conn) -> None:
    add_files(emulator, 1)
    emulator.inject(Fault.server_error(503))
    from airflow_provider_moengage.api import StatusQuery

    page = asyncio.run(MoEngageHook(moengage_conn).afetch_page(StatusQuery.build("daily_users")))
    assert len(page.files) == 1 and len(emulator.requests) == 2


def test_test_connection_succeeds_and_fails_without_secrets(emulator, moengage_conn, monkeypatch) -> None:
    ok, message = MoEngageHook(moengage_conn).test_connection()
    assert ok and WORKSPACE in message
    bad = json.loads(emulator.connection_json())
    bad["password"] = "wrong-secret-key"
    monkeypatch.setenv("AIRFLOW_CONN_MOENGAGE_DEFAULT", json.dumps(bad))
    ok, message = MoEngageHook().test_connection()
    assert not ok and "HTTP 401" in message and "wrong-secret-key" not in message
    assert len(emulator.requests) == 2


def test_connection_uri_form_with_port_reaches_the_emulator(emulator, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MOENGAGE_DEFAULT", emulator.connection_uri())
    add_files(emulator, 1)
    assert len(MoEngageHook().get_import_status("daily_users").files) == 1


def test_data_center_routing_from_the_env_var_json(monkeypatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_MOENGAGE_DEFAULT",
        json.dumps({"conn_type": "moengage", "login": "W", "password": "K", "extra": {"data_center": "02"}}),
    )
    assert MoEngageHook().settings.status_url == (
        "https://fileimports-data-api-02.moengage.com/v1.0/data/fileimports/import/status"
    )


def test_rate_limit_error_is_transient_and_carries_retry_after(emulator, monkeypatch, sleeps) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MOENGAGE_DEFAULT", emulator.connection_json(max_attempts=1))
    emulator.inject(Fault.rate_limited(reset_in=3))
    with pytest.raises(MoEngageRateLimitError) as caught:
        MoEngageHook(sleep=sleeps).get_import_status("daily_users")
    assert caught.value.transient and caught.value.retry_after is not None


def test_test_connection_sends_exactly_one_request_even_when_it_could_retry(emulator, moengage_conn) -> None:
    emulator.inject(Fault.server_error(503, times=None))
    ok, message = MoEngageHook(moengage_conn).test_connection()
    assert not ok and "HTTP 503" in message
    assert len(emulator.requests) == 1
