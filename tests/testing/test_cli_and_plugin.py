"""The command line and the pytest plugin, each run the way users run them: in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from airflow_provider_moengage.testing.__main__ import build_emulator, parse_args

from .conftest import documented_headers

if TYPE_CHECKING:
    from airflow_provider_moengage.testing import MoEngageEmulator

REPO = Path(__file__).resolve().parents[2]
STATUS_URL = "{url}/v1.0/data/fileimports/import/status"


def subprocess_env() -> dict[str, str]:
    """The environment with the repository importable, as if the package were installed."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def wait_for_file(path: Path, process: subprocess.Popen, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.02)
    return path.read_text().strip()


def start_cli(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    ready = tmp_path / "ready" / "url.txt"
    ready.parent.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_moengage.testing", "--port", "0", "--ready-file", str(ready), *args],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, wait_for_file(ready, process)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_serves_the_demo_until_signalled(tmp_path: Path, stop_signal):
    process, url = start_cli(tmp_path, "--scenario", "demo")
    try:
        response = requests.post(
            STATUS_URL.format(url=url),
            json={"import_name": "daily_users"},
            headers=documented_headers("DEMO_WORKSPACE", "demo-api-key"),
            timeout=5,
        )
        assert response.status_code == 200
        assert response.json()["total_count"] == 2
    finally:
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=10)

    assert process.returncode == 0, stderr
    assert stdout == f"MoEngage emulator listening on {url} (workspace DEMO_WORKSPACE)\n"
    assert "demo-api-key" not in stdout + stderr


def test_cli_options_override_the_scenario(tmp_path: Path):
    process, url = start_cli(tmp_path, "--scenario", "demo", "--workspace-id", "CLI_WS", "--api-key", "cli-key")
    try:
        response = requests.post(
            STATUS_URL.format(url=url), json={}, headers=documented_headers("CLI_WS", "cli-key"), timeout=5
        )
        assert response.status_code == 200
    finally:
        process.terminate()
        stdout, _ = process.communicate(timeout=10)

    assert "(workspace CLI_WS)" in stdout
    assert "cli-key" not in stdout


def test_cli_arguments_build_the_emulator(tmp_path: Path):
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"workspace_id": "FROM_FILE", "files": [{"import_name": "a"}]}))

    emulator = build_emulator(parse_args(["--scenario", str(scenario), "--rate-limit", "5", "--port", "0"]))
    plain = build_emulator(parse_args([]))

    assert (emulator.workspace_id, emulator.rate_limit_per_minute, len(emulator.files)) == ("FROM_FILE", 5, 1)
    assert (plain.workspace_id, plain.port, plain.host, plain.files) == ("TEST_WORKSPACE", 8089, "127.0.0.1", [])


def test_fixtures_point_the_default_connection_at_the_emulator(moengage_emulator: MoEngageEmulator, moengage_conn_env):
    connection = json.loads(os.environ["AIRFLOW_CONN_MOENGAGE_DEFAULT"])

    assert moengage_conn_env == "moengage_default"
    assert connection == {
        "conn_type": "moengage",
        "login": "TEST_WORKSPACE",
        "password": "test-api-key-not-secret",
        "host": moengage_emulator.url,
        "extra": {},
    }
    response = requests.post(STATUS_URL.format(url=connection["host"]), json={}, headers=documented_headers())
    assert response.status_code == 200


PLUGIN_USER_TESTS = """
import os
import sys

import requests


def test_fixtures(moengage_emulator, moengage_conn_env):
    assert moengage_conn_env == "moengage_default"
    assert moengage_emulator.url in os.environ["AIRFLOW_CONN_MOENGAGE_DEFAULT"]
    response = requests.post(moengage_emulator.url + "/nope", timeout=5)
    assert response.status_code == 404


def test_plugin_does_not_import_airflow():
    assert not [name for name in sys.modules if name == "airflow" or name.startswith("airflow.")]
"""


def test_plugin_gives_a_project_its_fixtures_without_airflow(tmp_path: Path):
    (tmp_path / "test_user.py").write_text(PLUGIN_USER_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    # Autoload off, and the plugin named: the same whether or not the package is installed.
    env = {**subprocess_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["-p", "airflow_provider_moengage.testing.pytest_plugin", "-c", str(tmp_path / "pytest.ini")]

    result = subprocess.run(
        [*command, str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_connection_uri_form(emulator):
    host, port = emulator.url.removeprefix("http://").split(":")

    assert emulator.connection_uri() == f"moengage://http://TEST_WORKSPACE:test-api-key-not-secret@{host}:{port}"
    assert emulator.connection_uri(data_center="01").endswith("/?__extra__=%7B%22data_center%22%3A%20%2201%22%7D")


def test_connection_json_carries_extras(emulator):
    connection = json.loads(emulator.connection_json(data_center="02", timezone="UTC"))

    assert connection["extra"] == {"data_center": "02", "timezone": "UTC"}
