"""Send a campaign only after the day's MoEngage import has really finished, and succeeded.

wait_for_import (sensor, deferrable) -> import_gate (operator) -> send_campaign

The sensor frees its worker slot while MoEngage processes the file. The gate fails the run on
FAILED, PARTIAL_SUCCESS or ARCHIVED, so ``send_campaign`` never runs on top of a broken import.
Trigger it with ``-c '{"import_name": "daily_events"}'`` to watch another import.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_moengage.operators.moengage import MoEngageImportStatusOperator
from airflow_provider_moengage.sensors.moengage import MoEngageImportSensor

# The demo and the tests poll fast; a real deployment keeps MoEngage's 50 requests/minute in mind.
POLL_SECONDS = float(os.environ.get("MOENGAGE_EXAMPLE_POLL_SECONDS", "60"))

# The import of a day's data runs after the day closes, so files scheduled before the end of the
# data interval belong to earlier days and must not open the gate. A run triggered without a
# logical date (Airflow 3's default for the CLI and REST API) has no data interval: fall back to
# the midnight before it was triggered.
BASELINE = (
    "{{ data_interval_end | default(dag_run.run_after.replace(hour=0, minute=0, second=0, microsecond=0), true) }}"
)

# [START howto_moengage_gated_campaign]
with DAG(
    dag_id="moengage_gated_campaign",
    # A real daily interval (yesterday 00:00 to today 00:00): Airflow 3's plain "@daily" gives
    # runs a zero-width interval, which would make the baseline below the trigger time.
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"import_name": Param("daily_users", type="string", description="MoEngage import to gate on")},
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["moengage", "example"],
) as dag:
    wait_for_import = MoEngageImportSensor(
        task_id="wait_for_import",
        import_name="{{ params.import_name }}",
        scheduled_after=BASELINE,
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=timedelta(hours=6).total_seconds(),
    )

    import_gate = MoEngageImportStatusOperator(
        task_id="import_gate",
        import_name="{{ params.import_name }}",
        scheduled_after=BASELINE,
        wait_for_completion=False,  # the sensor already waited
    )

    @task
    def send_campaign(summary: dict) -> str:
        """Stand-in for the campaign call: runs only when the gate passed."""
        message = (
            f"Campaign sent: import {summary['import_name']!r} file {summary['file_name']!r} "
            f"loaded {summary['total_rows']} rows"
        )
        print(message)
        return message

    wait_for_import >> import_gate
    send_campaign(import_gate.output)
# [END howto_moengage_gated_campaign]
