"""DAGs the tests run through real Airflow: every waiting path, each followed by a campaign task.

One DAG per path, so the same status table can run through all of them. The import and the
baseline come from the run's conf (``params``); everything that is not templatable is fixed per DAG.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_moengage.operators.moengage import MoEngageImportStatusOperator
from airflow_provider_moengage.sensors.moengage import MoEngageImportSensor

FAST = 0.05
PARAMS = {
    "import_name": Param("daily_users", type="string"),
    "scheduled_after": Param("", type="string"),
}
TEMPLATED = {"import_name": "{{ params.import_name }}", "scheduled_after": "{{ params.scheduled_after }}"}

SENSOR_PATHS: dict[str, dict[str, Any]] = {
    "poke": {"mode": "poke", "deferrable": False},
    "reschedule": {"mode": "reschedule", "deferrable": False},
    "deferrable": {"deferrable": True},
}
OPERATOR_PATHS: dict[str, dict[str, Any]] = {
    "wait": {"wait_for_completion": True, "deferrable": False},
    "nowait": {"wait_for_completion": False, "deferrable": False},
    "deferrable": {"wait_for_completion": True, "deferrable": True},
}


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1), params=PARAMS, catchup=False)


@task
def campaign(result: dict) -> str:
    return f"sent for {result['import_name']}"


def _sensor_dags() -> dict[str, DAG]:
    dags = {}
    for path, options in SENSOR_PATHS.items():
        for variant, extra in {
            "": {"fail_on_failure": True, "timeout": 20},
            "_nojudge": {"timeout": 20},
            "_timeout": {"timeout": 1},
            "_timeout_soft": {"timeout": 1, "soft_fail": True},
            "_soft": {"fail_on_failure": True, "timeout": 20, "soft_fail": True},
        }.items():
            with _dag(f"t_sensor_{path}{variant}") as dag:
                check = MoEngageImportSensor(
                    task_id="check",
                    poke_interval=FAST,
                    retries=3,
                    retry_delay=timedelta(seconds=0.1),
                    **TEMPLATED,
                    **options,
                    **extra,
                )
                campaign(check.output)
            dags[dag.dag_id] = dag
    return dags


def _operator_dags() -> dict[str, DAG]:
    dags = {}
    for path, options in OPERATOR_PATHS.items():
        for variant, extra in {"": {"timeout": 20}, "_timeout": {"timeout": 1}}.items():
            with _dag(f"t_operator_{path}{variant}") as dag:
                check = MoEngageImportStatusOperator(
                    task_id="check",
                    poll_interval=FAST,
                    retries=3,
                    retry_delay=timedelta(seconds=0.1),
                    **TEMPLATED,
                    **options,
                    **extra,
                )
                campaign(check.output)
            dags[dag.dag_id] = dag
    return dags


globals().update(_sensor_dags())
globals().update(_operator_dags())
