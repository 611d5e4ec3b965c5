"""Issue-level behaviours through real Airflow runs: stale files, errors, retries, timeouts, secrets."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_moengage.testing import Fault, ScheduledFile, StatusStep

from .conftest import API_KEY, WORKSPACE

BASELINE = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
WAITING_PATHS = [
    "t_sensor_poke",
    "t_sensor_reschedule",
    "t_sensor_deferrable",
    "t_operator_wait",
    "t_operator_deferrable",
]


def stale_and_new(emulator, final: str) -> None:
    emulator.add_file(
        ScheduledFile("daily_users", id="stale", scheduled_at="now-2d", status="SUCCESSFUL", total_rows=10)
    )
    emulator.add_file(
        ScheduledFile(
            "daily_users",
            id="new",
            scheduled_at="now-5m",
            total_rows=50,
            failed_rows=5,
            status_msg="5 rows rejected",
            timeline=[StatusStep("PROCESSING"), StatusStep(final, after_requests=2)],
        )
    )


@pytest.mark.parametrize("final", ["FAILED", "PARTIAL_SUCCESS"])
@pytest.mark.parametrize("dag_id", WAITING_PATHS)
def test_older_success_is_ignored_and_the_new_failure_fails_on_the_first_poll_after_it(
    emulator, run_dag, dag_id: str, final: str
) -> None:
    stale_and_new(emulator, final)
    result = run_dag(dag_id, scheduled_after=BASELINE)
    assert result.state_of("check") == "failed" and result.state_of("campaign") == "upstream_failed"
    # polls 1 and 2 see PROCESSING; poll 3 is the first to see the failure, and it is the last poll
    assert emulator.status_requests_count("daily_users") == 3
    assert "(id new)" in result.output and final in result.output and "5 rows rejected" in result.output


def test_without_a_baseline_the_stale_success_would_pass(emulator, run_dag) -> None:
    emulator.add_file(ScheduledFile("daily_users", id="stale", scheduled_at="now-2d", status="SUCCESSFUL"))
    result = run_dag("t_operator_nowait")
    assert result.state_of("campaign") == "success" and result.xcom("check")["file_id"] == "stale"


def test_no_matching_file_keeps_the_sensor_waiting_until_one_arrives(emulator, run_dag) -> None:
    emulator.add_file(ScheduledFile("daily_users", id="stale", scheduled_at="now-2d", status="SUCCESSFUL"))

    def arrive_after_two_looks() -> None:
        deadline = time.monotonic() + 30
        while len(emulator.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        emulator.add_file(ScheduledFile("daily_users", id="fresh", scheduled_at="now", status="SUCCESSFUL"))

    arrival = threading.Thread(target=arrive_after_two_looks, daemon=True)
    arrival.start()
    result = run_dag("t_sensor_poke", scheduled_after=BASELINE)
    arrival.join(5)
    assert result.state_of("check") == "success" and result.xcom("check")["id"] == "fresh"
    assert "MoEngage import 'daily_users' has no matching file scheduled at or after" in result.output
    assert emulator.status_requests_count("daily_users") >= 3


def test_operator_fails_when_no_file_matches(emulator, run_dag) -> None:
    result = run_dag("t_operator_wait", scheduled_after=BASELINE)
    assert result.state_of("check") == "failed" and result.tries_of("check") == 1
    assert "has no file matching" in result.output


@pytest.mark.parametrize(
    "dag_id",
    [*WAITING_PATHS, "t_operator_nowait", "t_sensor_poke_soft", "t_sensor_reschedule_soft", "t_sensor_deferrable_soft"],
)
def test_401_fails_the_task_after_exactly_one_request(emulator, run_dag, monkeypatch, dag_id: str) -> None:
    bad = json.loads(emulator.connection_json())
    bad["password"] = "a-wrong-api-key"
    monkeypatch.setenv("AIRFLOW_CONN_MOENGAGE_DEFAULT", json.dumps(bad))
    result = run_dag(dag_id)
    assert result.state_of("check") == "failed"  # not skipped, even with soft_fail
    assert result.tries_of("check") == 1  # not retried, although the task has retries=3
    assert len(emulator.requests) == 1 and emulator.requests[0].response_status == 401
    assert "HTTP 401" in result.output and "AuthenticationInvalid" in result.output


@pytest.mark.parametrize("dag_id", ["t_sensor_poke", "t_sensor_deferrable", "t_operator_wait"])
@pytest.mark.parametrize(
    "fault", [Fault.rate_limited(reset_in=1), Fault.server_error(500), Fault.html(502)], ids=["429", "500", "502"]
)
def test_transient_error_then_200_recovers(emulator, run_dag, dag_id: str, fault: Fault) -> None:
    emulator.add_file(ScheduledFile("daily_users", scheduled_at="now-1m", status="SUCCESSFUL"))
    emulator.inject(fault)
    result = run_dag(dag_id)
    assert result.state_of("campaign") == "success"
    assert [r.response_status for r in emulator.requests] == [fault.status, 200]


@pytest.mark.parametrize("dag_id", ["t_sensor_poke", "t_sensor_deferrable", "t_operator_wait", "t_operator_nowait"])
def test_unknown_status_fails_with_its_value(emulator, run_dag, dag_id: str) -> None:
    emulator.add_file(ScheduledFile("daily_users", scheduled_at="now-1m", status="HALF_DONE"))
    result = run_dag(dag_id)
    assert result.state_of("check") == "failed" and result.tries_of("check") == 1
    assert "'HALF_DONE', which is not a known status" in result.output


@pytest.mark.parametrize(
    ("dag_id", "state"),
    [
        ("t_sensor_poke_timeout", "failed"),
        ("t_sensor_reschedule_timeout", "failed"),
        ("t_sensor_deferrable_timeout", "failed"),
        ("t_sensor_poke_timeout_soft", "skipped"),
        ("t_sensor_reschedule_timeout_soft", "skipped"),
        ("t_sensor_deferrable_timeout_soft", "skipped"),
        ("t_operator_wait_timeout", "failed"),
        ("t_operator_deferrable_timeout", "failed"),
    ],
)
def test_a_file_that_never_finishes_times_out(emulator, run_dag, dag_id: str, state: str) -> None:
    emulator.add_file(ScheduledFile("daily_users", scheduled_at="now-1m", status="PROCESSING"))
    result = run_dag(dag_id)
    assert result.state_of("check") == state
    assert result.tries_of("check") == 1
    assert result.state_of("campaign") in ("upstream_failed", "skipped")
    assert "timed out" in result.output.lower() or "timeout" in result.output.lower()


def test_sensor_without_fail_on_failure_waits_but_does_not_judge(emulator, run_dag) -> None:
    emulator.add_file(ScheduledFile("daily_users", scheduled_at="now-1m", status="FAILED"))
    result = run_dag("t_sensor_poke_nojudge")
    assert result.state_of("check") == "success" and result.xcom("check")["file_status"] == "FAILED"


def test_api_key_never_appears_in_logs_errors_xcom_or_rendered_fields(emulator, run_dag, monkeypatch) -> None:
    secrets = [API_KEY, base64.b64encode(f"{WORKSPACE}:{API_KEY}".encode()).decode()]
    emulator.add_file(ScheduledFile("daily_users", scheduled_at="now-1m", status="SUCCESSFUL"))
    emulator.inject(Fault.server_error(500))
    good = run_dag("t_sensor_deferrable")
    bad_conn = json.loads(emulator.connection_json())
    bad_conn["password"] = API_KEY + "-rotated"
    monkeypatch.setenv("AIRFLOW_CONN_MOENGAGE_DEFAULT", json.dumps(bad_conn))
    bad = run_dag("t_operator_wait")
    assert good.state_of("campaign") == "success" and bad.state_of("check") == "failed"
    assert [r.response_status for r in emulator.requests] == [500, 200, 401]

    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rendered = [json.dumps(row.rendered_fields, default=str) for row in session.query(RenderedTaskInstanceFields)]
    haystacks = [
        good.output,
        bad.output,
        json.dumps({str(k): v for k, v in good.xcoms.items()}, default=str),
        *rendered,
    ]
    for secret in [*secrets, API_KEY + "-rotated"]:
        for text in haystacks:
            assert secret not in text
