"""Test set-up: a throwaway AIRFLOW_HOME with a real sqlite metadata DB, and emulator helpers.

The environment is set before Airflow is imported anywhere, so every test sees this home.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="moengage-tests-airflow-"))
# One bundle holding the example DAGs and the test DAGs, as real files that Airflow parses.
DAGS = _HOME / "dags"
DAGS.mkdir()
for source in [*(REPO / "dags_examples").glob("*.py"), *(REPO / "tests" / "dags").glob("*.py")]:
    shutil.copy(source, DAGS / source.name)
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "MOENGAGE_EXAMPLE_POLL_SECONDS": "0.05",
    }
)
os.environ.pop("AIRFLOW_CONN_MOENGAGE_DEFAULT", None)

import pytest  # noqa: E402

from airflow_provider_moengage.testing import MoEngageEmulator  # noqa: E402

#: The emulator fixture's credentials; tests scan output for these.
API_KEY = "test-api-key-not-secret"
WORKSPACE = "TEST_WORKSPACE"


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Create the sqlite metadata DB once per session (what ``airflow db migrate`` does)."""
    from airflow.utils.db import initdb

    initdb()
    return _HOME


@pytest.fixture
def emulator() -> MoEngageEmulator:
    """A fresh emulator on a free loopback port, records in shuffled order, 50 requests a minute."""
    with MoEngageEmulator(workspace_id=WORKSPACE, api_key=API_KEY, shuffle_seed=7) as running:
        yield running


@pytest.fixture
def moengage_conn(emulator: MoEngageEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``moengage_default`` pointing at the emulator through ``AIRFLOW_CONN_MOENGAGE_DEFAULT`` (JSON form)."""
    monkeypatch.setenv("AIRFLOW_CONN_MOENGAGE_DEFAULT", emulator.connection_json(max_retry_seconds=10))
    return "moengage_default"


class DagResult:
    """What one ``dag.test()`` run left behind: the run state, each task's state and tries, output, XComs."""

    def __init__(self, dag_id: str, run_id: str, state: str, output: str) -> None:
        from airflow.models import TaskInstance
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        self.dag_id, self.run_id, self.state, self.output = dag_id, run_id, state, output
        with create_session() as session:
            rows = session.scalars(
                select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
            )
            self.tasks = {ti.task_id: (str(ti.state), ti.try_number) for ti in rows}
            xcoms = session.scalars(select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == run_id))
            self.xcoms = {(x.task_id, x.key): XComModel.deserialize_value(x) for x in xcoms}

    def state_of(self, task_id: str) -> str:
        return self.tasks[task_id][0]

    def tries_of(self, task_id: str) -> int:
        return self.tasks[task_id][1]

    def xcom(self, task_id: str, key: str = "return_value") -> object:
        return self.xcoms.get((task_id, key))


def dag(dag_id: str):
    """A DAG from the test bundle, freshly parsed by Airflow from its file.

    Never reuse a parsed DAG between runs: ``dag.test()`` renders templates into the task objects in
    place, so a reused DAG would carry the previous run's rendered values instead of its templates.
    """
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


@pytest.fixture
def run_dag(airflow_db: Path, moengage_conn: str, capfd: pytest.CaptureFixture[str]):
    """Run a bundle DAG with ``dag.test(run_conf=...)`` against the emulator; return a :class:`DagResult`."""

    def run(dag_id: str, **conf: object) -> DagResult:
        capfd.readouterr()
        dag_run = dag(dag_id).test(run_conf=conf or None)
        captured = capfd.readouterr()
        return DagResult(dag_id, dag_run.run_id, str(dag_run.state), captured.out + captured.err)

    return run
