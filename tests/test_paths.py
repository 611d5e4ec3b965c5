"""One status table through every waiting path, run by real Airflow against the emulator.

Each path (sensor poke, sensor reschedule, sensor deferrable = trigger + execute_complete, operator
waiting, operator not waiting, operator deferrable) must reach the same verdict for each status,
and the campaign task behind it must run only on success.
"""

from __future__ import annotations

import pytest

from airflow_provider_moengage.testing import ScheduledFile, StatusStep

STATUSES = [
    ("SUCCESSFUL", True),
    ("successful", True),
    ("FAILED", False),
    ("PARTIAL_SUCCESS", False),
    ("PARTIAL_FAILURE", False),
    ("ARCHIVED", False),
    ("BRAND_NEW_STATUS", False),
]
PATHS = [
    "t_sensor_poke",
    "t_sensor_reschedule",
    "t_sensor_deferrable",
    "t_operator_wait",
    "t_operator_nowait",
    "t_operator_deferrable",
]


def scripted_file(status: str, pending_first: bool) -> ScheduledFile:
    timeline = [StatusStep(status)]
    if pending_first:
        timeline = [
            StatusStep("QUEUED"),
            StatusStep("PROCESSING", after_requests=1),
            StatusStep(status, after_requests=2),
        ]
    return ScheduledFile(
        "daily_users",
        id="file-1",
        file_name="users.csv",
        scheduled_at="now-1m",
        timeline=timeline,
        total_rows=100,
        failed_rows=0 if status.upper() == "SUCCESSFUL" else 7,
        status_msg="" if status.upper() == "SUCCESSFUL" else "7 rows had a bad user_id",
    )


@pytest.mark.parametrize("dag_id", PATHS)
@pytest.mark.parametrize(("status", "passes"), STATUSES, ids=[s for s, _ in STATUSES])
def test_same_verdict_on_every_path(emulator, run_dag, dag_id: str, status: str, passes: bool) -> None:
    waits = dag_id != "t_operator_nowait"
    emulator.add_file(scripted_file(status, pending_first=waits))
    result = run_dag(dag_id)

    assert result.state_of("check") == ("success" if passes else "failed"), result.output[-3000:]
    assert result.state_of("campaign") == ("success" if passes else "upstream_failed")
    assert result.tries_of("check") == 1  # verdicts are final: never retried by Airflow
    assert emulator.status_requests_count("daily_users") == (3 if waits else 1)
    if passes:
        value = result.xcom("check")
        assert value["file_status"] == status and value["total_rows"] == 100
        assert result.xcom("campaign") == "sent for daily_users"
    else:
        assert result.xcom("check") is None and result.xcom("campaign") is None
        assert repr(status) in result.output or status in result.output
