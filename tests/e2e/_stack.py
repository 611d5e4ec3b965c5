"""Airflow's components as separate processes in a throwaway AIRFLOW_HOME, and ways to watch them.

Each component (api-server, scheduler, dag-processor, triggerer) is its own process group with its
own log file, so a test can stop and restart one of them. Every wait is bounded and, when it runs
out, fails with the tail of the logs that explain why. Nothing here skips: a stack that does not
come up is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags_examples"
#: The venv running the tests; its ``bin`` goes first on the components' PATH.
VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")

T = TypeVar("T")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the usual small race is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def airflow_env(home: Path, api_port: int, extra: Mapping[str, str]) -> dict[str, str]:
    """The full environment of every Airflow process: this test's home, nothing inherited from Airflow.

    tests/conftest.py points this pytest process at its own AIRFLOW_HOME; none of that (and no
    MOENGAGE_* setting) may leak into the stack, so every AIRFLOW*/MOENGAGE* variable is dropped
    and set again here.
    """
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "_AIRFLOW", "MOENGAGE_", "PYTEST_"))
    }
    env = {
        **inherited,
        "PATH": os.pathsep.join([str(VENV_BIN), inherited.get("PATH", "/usr/bin:/bin")]),
        "PYTHONUNBUFFERED": "1",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        # Every component must agree on these; left unset, each process would invent its own.
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{api_port}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        # The example DAG is @daily with catchup=False: unpausing it would also start a scheduled
        # run (import daily_users) beside the runs the tests trigger. Manual runs are unaffected.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # The worker and triggerer log servers default to fixed ports 8793/8794: take free ones, so
        # a local Airflow (or a second run of these tests) cannot collide with this one.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }
    env.update(extra)
    return env


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, or a note that it is missing."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return f"(no {path.name})"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class AirflowStack:
    """The Airflow components of one test module, each a process group with a log file."""

    home: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    starts: Counter[str] = field(default_factory=Counter)
    #: components the test stopped on purpose (check_alive does not complain about them)
    stopped: set[str] = field(default_factory=set)

    @property
    def db_path(self) -> Path:
        return self.home / "airflow.db"

    @property
    def fernet_key(self) -> str:
        return self.env["AIRFLOW__CORE__FERNET_KEY"]

    # Processes ----------------------------------------------------------------------------------

    def start(self, component: str) -> subprocess.Popen[bytes]:
        """Start ``airflow <component>`` in a new session; a restart logs to a new file."""
        if self.running(component):
            raise RuntimeError(f"{component} is already running")
        self.starts[component] += 1
        self.stopped.discard(component)
        log = self.home / "component-logs" / f"{component}.{self.starts[component]}.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [AIRFLOW, component],
                cwd=self.home,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[component], self.logs[component] = process, log
        return process

    def running(self, component: str) -> bool:
        process = self.processes.get(component)
        return process is not None and process.poll() is None

    def stop(self, component: str, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the component's whole process group, wait for it, and return its exit code.

        Fails (after killing the group) if it does not exit within ``timeout``.
        """
        process = self.processes[component]
        self.stopped.add(component)
        _signal_group(process.pid, sig)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(10)
            raise AssertionError(
                f"{component} did not exit within {timeout:.0f} s of signal {sig}; killed it.\n" + self.tails(component)
            ) from None
        # Children the leader left behind (task runners, the trigger runner) go with it.
        _signal_group(process.pid, signal.SIGKILL)
        return code

    def close(self) -> None:
        """Stop every component, politely then not; never raises."""
        for process in self.processes.values():
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)

    def check_alive(self) -> None:
        """Fail, with its log, if a component that should be running has exited."""
        for component, process in self.processes.items():
            code = process.poll()
            if code is not None and component not in self.stopped:
                raise AssertionError(f"airflow {component} exited with code {code}.\n" + self.tails(component))

    # Logs ---------------------------------------------------------------------------------------

    def tails(self, *components: str, lines: int = 40) -> str:
        """The tails of these components' current logs (all of them when none is named)."""
        names = components or tuple(self.logs)
        return "\n".join(
            f"----- {name} log ({self.logs[name]}) -----\n{tail(self.logs[name], lines)}" for name in names
        )

    def task_log(self, dag_id: str, run_id: str, task_id: str, attempt: int = 1) -> str:
        """A task attempt's log text, as the worker (and triggerer) wrote it under AIRFLOW_HOME/logs."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        files = sorted(folder.glob(f"attempt={attempt}*.log")) if folder.is_dir() else []
        return "\n".join(path.read_text(encoding="utf-8", errors="replace") for path in files)

    def all_log_files(self) -> Iterable[Path]:
        """Every log file under the home: components and tasks."""
        return (path for path in self.home.rglob("*.log") if path.is_file())

    # CLI and DB ---------------------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 120.0) -> str:
        """Run ``airflow <args>`` to completion with the stack's env; fail with its output if it fails."""
        try:
            result = subprocess.run(
                [AIRFLOW, *args],
                cwd=self.home,
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired as err:
            out = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
            raise AssertionError(f"airflow {' '.join(args)} took more than {timeout:.0f} s:\n{out[-4000:]}") from None
        if result.returncode != 0:
            out = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
            raise AssertionError(f"airflow {' '.join(args)} exited with {result.returncode}:\n{out}")
        return result.stdout

    def query(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        """Read the metadata DB directly (read-only, short-lived connection)."""
        connection = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            connection.row_factory = sqlite3.Row
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()

    def trigger_kwargs(self, trigger_id: int) -> tuple[str, dict[str, Any]]:
        """A trigger row's classpath and kwargs, decrypted as ``airflow.models.trigger.Trigger`` does.

        The ``kwargs`` column is Fernet-encrypted JSON of the serde form, which for the plain
        strings, numbers, lists and dicts this trigger stores is the JSON itself.
        """
        rows = self.query("SELECT classpath, kwargs FROM trigger WHERE id = ?", trigger_id)
        if not rows:
            raise AssertionError(f"trigger {trigger_id} is not in the trigger table")
        classpath, stored = rows[0]["classpath"], rows[0]["kwargs"]
        text = stored if stored.startswith("{") else Fernet(self.fernet_key.encode()).decrypt(stored.encode()).decode()
        return classpath, json.loads(text)

    # Waiting ------------------------------------------------------------------------------------

    def wait_for(
        self,
        condition: Callable[[], T | None],
        timeout: float,
        what: str,
        logs: Iterable[str] = (),
        interval: float = 0.25,
    ) -> T:
        """Poll ``condition`` until it returns something truthy; fail after ``timeout`` with log tails.

        A component that dies meanwhile fails the wait at once, with its log.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            self.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"Timed out after {timeout:.0f} s waiting for {what}.\n" + self.tails(*logs))
            time.sleep(interval)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def api_ready(port: int) -> bool:
    """Whether the API server answers its health endpoint."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
