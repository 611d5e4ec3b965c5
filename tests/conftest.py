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


def dag(dag_id: str):
    """A DAG from the test bundle, parsed by Airflow from its file."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


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
