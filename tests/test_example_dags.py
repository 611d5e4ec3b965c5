"""The example DAG, end to end with dag.test(), against the emulator running the bundled demo scenario."""

from __future__ import annotations

import pytest

from airflow_provider_moengage.testing import MoEngageEmulator, bundled_scenario


@pytest.fixture
def demo_emulator(monkeypatch: pytest.MonkeyPatch):
    with MoEngageEmulator.from_scenario(bundled_scenario("demo", ".json")) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_MOENGAGE_DEFAULT", emulator.connection_json())
        yield emulator


@pytest.fixture
def run_example(airflow_db, demo_emulator, capfd):
    from .conftest import DagResult, dag

    def run(import_name: str) -> DagResult:
        capfd.readouterr()
        dag_run = dag("moengage_gated_campaign").test(run_conf={"import_name": import_name})
        captured = capfd.readouterr()
        return DagResult("moengage_gated_campaign", dag_run.run_id, str(dag_run.state), captured.out + captured.err)

    return run


def test_successful_import_sends_the_campaign(run_example, demo_emulator) -> None:
    result = run_example("daily_users")
    assert result.state == "success"
    assert {task: state for task, (state, _) in result.tasks.items()} == {
        "wait_for_import": "success",
        "import_gate": "success",
        "send_campaign": "success",
    }
    summary = result.xcom("import_gate")
    assert summary["file_status"] == "SUCCESSFUL" and summary["total_rows"] == 1000
    assert "Campaign sent: import 'daily_users'" in result.xcom("send_campaign")
    # the stale SUCCESSFUL file from two days ago is not what the sensor and the gate judged
    assert summary["file_name"] == result.xcom("wait_for_import")["file_name"] == "daily_users_1.csv"


def test_partial_success_blocks_the_campaign(run_example) -> None:
    result = run_example("daily_events")
    assert result.state == "failed"
    assert result.state_of("wait_for_import") == "success"
    assert result.state_of("import_gate") == "failed" and result.tries_of("import_gate") == 1
    assert result.state_of("send_campaign") == "upstream_failed"
    assert "PARTIAL_SUCCESS" in result.output and "800 rows failed validation" in result.output
