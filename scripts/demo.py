"""Run the example DAG end to end against the MoEngage emulator: what ``make demo`` does.

The demo needs nothing but this repository's venv. It:

1. makes a fresh Airflow home in ``.demo/airflow`` (sqlite metadata DB, DAGs from ``dags_examples``);
2. starts the emulator (``python -m airflow_provider_moengage.testing``) with the bundled ``demo``
   scenario on a free port, and points ``AIRFLOW_CONN_MOENGAGE_DEFAULT`` at it;
3. runs ``airflow db migrate``, then ``airflow dags test moengage_gated_campaign`` twice: once for
   the import ``daily_users`` (ends SUCCESSFUL: the campaign must be sent) and once for
   ``daily_events`` (ends PARTIAL_SUCCESS: the gate must fail and the campaign must not run);
4. reads the task states of both runs back from Airflow, checks with the emulator that the gate
   judged today's file and not the two-day-old SUCCESSFUL one, and prints a summary.

It exits 0 only when both runs ended as expected. Full logs go to ``.demo/logs``. The API key is
never printed: it is passed to Airflow in the environment only and masked in every saved log.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow_provider_moengage.testing.scenario import bundled_scenario

REPO = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO / ".demo"
AIRFLOW_HOME = DEMO_DIR / "airflow"
LOG_DIR = DEMO_DIR / "logs"
READY_FILE = DEMO_DIR / "emulator.url"
DAGS_FOLDER = REPO / "dags_examples"
DAG_ID = "moengage_gated_campaign"
TASKS = ("wait_for_import", "import_gate", "send_campaign")

# The venv's bin dir; not resolved, since the venv's python is a symlink to the system one.
BIN = Path(sys.executable).parent
AIRFLOW = BIN / "airflow"

EMULATOR_READY_SECONDS = 30.0
EMULATOR_STOP_SECONDS = 5.0
MIGRATE_TIMEOUT_SECONDS = 300.0
# The DAG's sensor would wait up to 6 hours; a demo run that takes this long is stuck.
RUN_TIMEOUT_SECONDS = 300.0
STATES_TIMEOUT_SECONDS = 120.0
TAIL_LINES = 30

STATUS_PATH = "/v1.0/data/fileimports/import/status"

_TASK_START = re.compile(r"\[DAG TEST\] starting task_id=(\w+)")
_TRIGGER = "[DAG TEST] running trigger in line"
_PROVIDER_LOG = re.compile(r"\] (?P<msg>.*?)\s+\[(?P<logger>[\w.]*airflow_provider_moengage[\w.]*)\](?:\s|$)")
# The last line of a traceback: "airflow_provider_moengage.exceptions.MoEngageImportFailedError: why".
_PROVIDER_ERROR = re.compile(r"^(?:[\w.]*\.)?(?P<error>MoEngage\w*Error): (?P<msg>.+)$")
_RUN_FINISHED = re.compile(r"DagRun Finished: .*?run_id=(?P<run_id>[^,]+), .*?data_interval_end=(?P<end>[^,]+),")
_FILE = re.compile(r"file '(?P<name>[^']*)' \(id (?P<id>[0-9a-fA-F]+)\)")
_STATUS = re.compile(r"\bstatus (?P<status>[A-Z][A-Z_]+)\b")
_FILE_ID = re.compile(r" \(id [0-9a-fA-F]+\)")
_WAITING_PREFIX = re.compile(r"^Waiting for MoEngage import '[^']*': ")
_IMPORT_PREFIX = re.compile(r"^MoEngage import '[^']*' ")
_RETRY = "MoEngage request failed (attempt"


class DemoError(Exception):
    """A step of the demo could not be done; the message says which and why."""


@dataclass(frozen=True)
class Credentials:
    """The emulator's credentials, from the scenario file it serves.

    :param workspace_id: the Workspace ID (connection login).
    :param api_key: the Data API key (connection password); never printed.
    """

    workspace_id: str
    api_key: str

    def redact(self, text: str) -> str:
        """Return ``text`` with the API key and the Basic credential replaced by ``***``."""
        basic = base64.b64encode(f"{self.workspace_id}:{self.api_key}".encode()).decode()
        return text.replace(basic, "***").replace(self.api_key, "***")

    def headers(self) -> dict[str, str]:
        """The request headers MoEngage's status endpoint wants."""
        basic = base64.b64encode(f"{self.workspace_id}:{self.api_key}".encode()).decode()
        return {"Authorization": f"Basic {basic}", "MOE-APPKEY": self.workspace_id, "Content-Type": "application/json"}


@dataclass(frozen=True)
class Expectation:
    """One run of the DAG and what it must show.

    :param import_name: the ``import_name`` param of the run.
    :param campaign_sent: True if the gate must pass and ``send_campaign`` succeed; False if the
        gate must fail and ``send_campaign`` end ``upstream_failed``.
    """

    import_name: str
    campaign_sent: bool


EXPECTATIONS = (Expectation("daily_users", campaign_sent=True), Expectation("daily_events", campaign_sent=False))


@dataclass
class RunResult:
    """What one ``airflow dags test`` run showed, from its log and then from Airflow's metadata DB.

    :param import_name: the import the run gated on.
    :param logical_date: the logical date passed to ``airflow dags test``.
    :param log_path: where the full log is.
    """

    import_name: str
    logical_date: datetime
    log_path: Path
    exit_code: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    run_id: str | None = None
    data_interval_end: datetime | None = None
    status_by_task: dict[str, str] = field(default_factory=dict)
    file_by_task: dict[str, tuple[str, str]] = field(default_factory=dict)
    error: tuple[str, str] | None = None
    campaign_line: str | None = None
    retries: int = 0
    states: dict[str, str] = field(default_factory=dict)
    states_problem: str | None = None

    @property
    def import_status(self) -> str:
        """The status of the file the gate judged (the sensor's, if the gate did not get that far)."""
        return self.status_by_task.get("import_gate") or self.status_by_task.get("wait_for_import") or "UNKNOWN"

    @property
    def baseline(self) -> datetime:
        """The run's ``data_interval_end``: what the DAG passes as ``scheduled_after``."""
        return self.data_interval_end or self.logical_date


class RunWatcher:
    """Reads a run's log as it is written: shows the provider's verdicts, remembers what it needs.

    :param result: the run's result, filled in as lines come.
    :param out: where to show progress.
    """

    def __init__(self, result: RunResult, out: Any = sys.stdout) -> None:
        self.result = result
        self.out = out
        self.task: str | None = None
        self.deferred = False
        self._last_shown: str | None = None
        self._last_message: str | None = None

    def show(self, task: str, message: str) -> None:
        """Print one progress line, unless it repeats the previous one (the trigger polls every second)."""
        line = f"      {task:<17} {message}"
        if line != self._last_shown:
            print(line, file=self.out, flush=True)
            self._last_shown = line

    def feed(self, line: str) -> None:
        """Take one log line."""
        started = _TASK_START.search(line)
        if started:
            self.task, self.deferred = started.group(1), False
            return
        if _TRIGGER in line:
            self.deferred = True
            return
        finished = _RUN_FINISHED.search(line)
        if finished:
            self.result.run_id = finished.group("run_id").strip()
            self.result.data_interval_end = _parse_time(finished.group("end"))
            return
        if line.startswith("Campaign sent:"):
            self.result.campaign_line = line.strip()
            self.show(self.task or "send_campaign", self.result.campaign_line)
            return
        error = _PROVIDER_ERROR.search(line)
        if error and self.task:
            message = error.group("msg").strip()
            if self.result.error is None:
                self.result.error = (self.task, f"{error.group('error')}: {message}")
            self._note(message)
            # The operator logs its verdict before raising it: do not show the same text twice.
            said = "" if message == self._last_message else f": {_short(message)}"
            self.show(self.task, f"FAILED with {error.group('error')}{said}")
            return
        provider = _PROVIDER_LOG.search(line)
        if provider and self.task:
            message = provider.group("msg")
            if _RETRY in message:
                self.result.retries += 1
            self._note(message)
            self._last_message = message
            if self.deferred and message.startswith("Waiting for MoEngage import"):
                self.show(self.task, "(deferred) " + _short(_WAITING_PREFIX.sub("", message)))
            else:
                self.show(self.task, _short(message))

    def _note(self, message: str) -> None:
        assert self.task is not None
        status = _STATUS.search(message)
        if status:
            self.result.status_by_task[self.task] = status.group("status")
        judged = _FILE.search(message)
        if judged:
            self.result.file_by_task[self.task] = (judged.group("name"), judged.group("id"))


def _short(message: str) -> str:
    """A provider message for the progress lines: without the import's name (it is the run's) or file ids."""
    return _IMPORT_PREFIX.sub("", _FILE_ID.sub("", message))


def _parse_time(text: str) -> datetime | None:
    """Parse an ISO-ish timestamp; a naive one is UTC (as the emulator's and Airflow's are)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "?"


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def _tail(path: Path, credentials: Credentials, lines: int = TAIL_LINES) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(credentials.redact(text).splitlines()[-lines:])


# --------------------------------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------------------------------


def load_credentials() -> Credentials:
    """Read the workspace and key the emulator's ``demo`` scenario accepts."""
    scenario = json.loads(bundled_scenario("demo").read_text(encoding="utf-8"))
    return Credentials(workspace_id=str(scenario["workspace_id"]), api_key=str(scenario["api_key"]))


def fresh_directories() -> None:
    """Delete the previous demo's Airflow home and logs, and make them again, empty."""
    for directory in (AIRFLOW_HOME, LOG_DIR):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
    READY_FILE.unlink(missing_ok=True)


def base_environment() -> dict[str, str]:
    """The environment for every child: this venv first on PATH, Airflow configured for the demo only.

    Inherited ``AIRFLOW__*`` and ``AIRFLOW_CONN_*`` settings are dropped so that the demo can never
    migrate or read somebody's real metadata DB or connections.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")) and key != "AIRFLOW_HOME"
    }
    env.update(
        {
            "PATH": os.pathsep.join([str(BIN), env.get("PATH", "")]),
            "VIRTUAL_ENV": str(BIN.parent),
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_HOME": str(AIRFLOW_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
            "MOENGAGE_EXAMPLE_POLL_SECONDS": "1",
        }
    )
    return env


def start_emulator(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start the emulator with the bundled demo scenario on a free port; its output goes to a log."""
    command = [
        sys.executable,
        "-m",
        "airflow_provider_moengage.testing",
        "--scenario",
        "demo",
        "--port",
        "0",
        "--ready-file",
        str(READY_FILE),
    ]
    with (LOG_DIR / "emulator.log").open("wb") as log:
        return subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)


def wait_for_emulator(process: subprocess.Popen[bytes], credentials: Credentials) -> str:
    """Wait until the emulator has written its URL; return it.

    :raises DemoError: if it exits or does not get ready within ``EMULATOR_READY_SECONDS``.
    """
    deadline = time.monotonic() + EMULATOR_READY_SECONDS
    while time.monotonic() < deadline:
        if READY_FILE.exists():
            url = READY_FILE.read_text(encoding="utf-8").strip()
            if url:
                return url
        if process.poll() is not None:
            raise DemoError(
                f"the emulator exited with status {process.returncode} before it was ready:\n"
                + _tail(LOG_DIR / "emulator.log", credentials)
            )
        time.sleep(0.1)
    raise DemoError(
        f"the emulator was not ready after {EMULATOR_READY_SECONDS:.0f} s (no URL in {_relative(READY_FILE)}):\n"
        + _tail(LOG_DIR / "emulator.log", credentials)
    )


def stop_emulator(process: subprocess.Popen[bytes]) -> None:
    """Stop the emulator: SIGTERM, then SIGKILL if it has not exited after a few seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(EMULATOR_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def migrate(env: dict[str, str], credentials: Credentials) -> float:
    """Run ``airflow db migrate`` quietly; return how long it took.

    :raises DemoError: with its output, if it fails or hangs.
    """
    log_path = LOG_DIR / "db-migrate.log"
    started = time.monotonic()
    try:
        done = subprocess.run(
            [str(AIRFLOW), "db", "migrate"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=MIGRATE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as timeout:
        output = (timeout.stdout or b"") + (timeout.stderr or b"")
        text = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
        log_path.write_text(credentials.redact(text), encoding="utf-8")
        raise DemoError(
            f"airflow db migrate did not finish in {MIGRATE_TIMEOUT_SECONDS:.0f} s:\n{_tail(log_path, credentials)}"
        ) from None
    log_path.write_text(credentials.redact(done.stdout + done.stderr), encoding="utf-8")
    if done.returncode != 0:
        raise DemoError(f"airflow db migrate failed (exit status {done.returncode}):\n{_tail(log_path, credentials)}")
    return time.monotonic() - started


# --------------------------------------------------------------------------------------------------
# Running the DAG
# --------------------------------------------------------------------------------------------------


def _kill_group(process: subprocess.Popen[str]) -> None:
    """End a child started in its own session and everything it started: SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, EMULATOR_STOP_SECONDS), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_dag(
    expectation: Expectation, logical_date: datetime, env: dict[str, str], credentials: Credentials
) -> RunResult:
    """Run ``airflow dags test`` for one import, showing the provider's verdicts as they come.

    ``airflow dags test`` exits non-zero when the run fails; that is expected for the blocked run,
    so the exit status is recorded, not judged: the task states decide.
    """
    name = expectation.import_name
    result = RunResult(name, logical_date, LOG_DIR / f"{name}.log")
    watcher = RunWatcher(result)
    command = [str(AIRFLOW), "dags", "test", DAG_ID, _iso(logical_date), "-c", json.dumps({"import_name": name})]
    started = time.monotonic()
    with (
        result.log_path.open("w", encoding="utf-8") as log,
        subprocess.Popen(
            command,
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # so that a stuck run can be ended with everything it started
        ) as process,
    ):
        timer_fired = threading.Event()

        def on_timeout() -> None:
            timer_fired.set()
            _kill_group(process)

        timer = threading.Timer(RUN_TIMEOUT_SECONDS, on_timeout)
        timer.daemon = True
        timer.start()
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                line = credentials.redact(raw)
                log.write(line)
                watcher.feed(line.rstrip("\n"))
            process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                _kill_group(process)
    result.seconds = time.monotonic() - started
    result.timed_out = timer_fired.is_set()
    result.exit_code = process.returncode
    return result


def _json_list(output: str) -> list[dict[str, Any]] | None:
    """Find the JSON list in a CLI's output (Airflow may print warnings before it)."""
    for line in reversed(output.splitlines()):
        text = line.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                continue
            if isinstance(parsed, list):
                return parsed
    return None


def read_states(results: list[RunResult], env: dict[str, str], credentials: Credentials) -> None:
    """Fill in each run's task states with ``airflow tasks states-for-dag-run`` (both at once).

    A run whose states cannot be read gets ``states_problem`` instead (its tasks then count as not run).
    """
    processes = []
    for result in results:
        which = result.run_id or _iso(result.logical_date)
        command = [str(AIRFLOW), "tasks", "states-for-dag-run", DAG_ID, which, "-o", "json"]
        processes.append(
            (
                result,
                subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
            )
        )
    for result, process in processes:
        try:
            out, err = process.communicate(timeout=STATES_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        rows = _json_list(out) if process.returncode == 0 else None
        if rows is None:
            last = (credentials.redact(out + err).strip().splitlines() or ["no output"])[-1]
            result.states_problem = f"could not read its task states ({last})"
            continue
        result.states = {str(row.get("task_id")): str(row.get("state") or "none") for row in rows}


# --------------------------------------------------------------------------------------------------
# Checking with the emulator
# --------------------------------------------------------------------------------------------------


def emulator_files(url: str, credentials: Credentials, import_name: str) -> tuple[list[dict[str, Any]], str | None]:
    """List an import's files as the emulator serves them (one page holds the demo's few files).

    :return: the records, and the ``x-ratelimit-remaining`` header (the requests left this minute).
    :raises DemoError: if the emulator does not answer with a list.
    """
    body = json.dumps({"import_name": import_name}).encode()
    request = urllib.request.Request(url + STATUS_PATH, data=body, headers=credentials.headers(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            payload = json.loads(response.read())
            remaining = response.headers.get("x-ratelimit-remaining")
    except (urllib.error.URLError, ValueError) as err:
        raise DemoError(f"could not list {import_name}'s files from the emulator: {err}") from None
    records = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(records, list):
        raise DemoError(f"the emulator's answer for {import_name} has no file list")
    return records, remaining


def check_baseline(result: RunResult, records: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Check that the gate judged a file of this run's interval and that older files were ignored.

    :return: lines to show, and problems (empty when the check passed).
    """
    judged = result.file_by_task.get("import_gate")
    if judged is None:
        return [], [f"{result.import_name}: the gate's log names no judged file"]
    if not records:
        return [], [f"{result.import_name}: the emulator serves no file of this import"]
    start = result.baseline
    by_id = {str(record.get("id")): record for record in records}
    record = by_id.get(judged[1])
    if record is None:
        return [], [f"{result.import_name}: the judged file {judged[0]} is not one the emulator serves"]
    scheduled = _parse_time(str(record.get("scheduled_at")))
    lines = [f"gate judged {judged[0]}, scheduled {_when(scheduled)}, after data_interval_end {_when(start)}"]
    problems = []
    if scheduled is None or scheduled < start:
        lines[0] = f"gate judged {judged[0]}, scheduled {_when(scheduled)}, BEFORE data_interval_end {_when(start)}"
        problems.append(f"{result.import_name}: the gate judged {judged[0]}, a file from before the run's interval")
    for other in records:
        other_time = _parse_time(str(other.get("scheduled_at")))
        if str(other.get("id")) != judged[1] and other_time is not None and other_time < start:
            lines.append(
                f"ignored the stale {other.get('file_name')} ({other.get('file_status')}, {_when(other_time)})"
            )
    return lines, problems


# --------------------------------------------------------------------------------------------------
# Judging and the summary
# --------------------------------------------------------------------------------------------------


def judge(result: RunResult, expectation: Expectation) -> tuple[str, list[str]]:
    """Return the run's summary line and the reasons it is not what the demo expects (none if it is)."""
    states = result.states
    gate, send = states.get("import_gate", "none"), states.get("send_campaign", "none")
    if send == "success":
        outcome, detail = "SENT", f"send_campaign: {send}"
    elif gate == "failed" and send == "upstream_failed":
        outcome, detail = "BLOCKED", f"import_gate: {gate}, send_campaign: {send}"
    else:
        outcome, detail = "UNCLEAR", ", ".join(f"{task}: {states.get(task, 'none')}" for task in TASKS)
    line = f"{result.import_name:<12}: import {result.import_status:<15} -> campaign {outcome:<7} ({detail})"
    problems = []
    if result.states_problem:
        problems.append(f"{result.import_name}: {result.states_problem}")
    if result.timed_out:
        problems.append(f"{result.import_name}: airflow dags test was stopped after {RUN_TIMEOUT_SECONDS:.0f} s")
    if expectation.campaign_sent and send != "success":
        problems.append(f"{result.import_name}: expected send_campaign success, got {send}")
    if not expectation.campaign_sent and not (gate == "failed" and send == "upstream_failed"):
        problems.append(
            f"{result.import_name}: expected import_gate failed and send_campaign upstream_failed, "
            f"got import_gate {gate} and send_campaign {send}"
        )
    return line, problems


def main() -> int:
    """Run the demo; return the exit status."""
    started = time.monotonic()
    if not AIRFLOW.exists():
        print(f"demo: no airflow executable at {AIRFLOW}; run 'make install' first", file=sys.stderr)
        return 1
    credentials = load_credentials()
    fresh_directories()
    env = base_environment()
    print("MoEngage gated-campaign demo")
    print(f"  Airflow home : {_relative(AIRFLOW_HOME)} (fresh, sqlite), DAGs from {_relative(DAGS_FOLDER)}")

    emulator = start_emulator(env)
    problems: list[str] = []
    try:
        url = wait_for_emulator(emulator, credentials)
        ready_at = datetime.now(UTC).replace(microsecond=0)
        print(f"  emulator     : {url} (scenario demo, workspace {credentials.workspace_id})")
        connection = {
            "conn_type": "moengage",
            "login": credentials.workspace_id,
            "password": credentials.api_key,
            "host": url,
        }
        env["AIRFLOW_CONN_MOENGAGE_DEFAULT"] = json.dumps(connection)
        print(f"  connection   : moengage_default -> {url} (in the environment; key not shown)")

        seconds = migrate(env, credentials)
        print(f"  db migrate   : ok ({seconds:.1f} s)")

        # The DAG passes scheduled_after="{{ data_interval_end }}" on a daily interval timetable, so
        # a manual run's baseline is the midnight before its logical date: after the stale files
        # (2 days old), before today's. Each run gets its own logical date so the runs never collide.
        results: list[RunResult] = []
        remaining: str | None = None
        for number, expectation in enumerate(EXPECTATIONS):
            logical_date = ready_at - timedelta(minutes=10) + timedelta(minutes=number)
            print()
            print(
                f"[{number + 1}/{len(EXPECTATIONS)}] airflow dags test {DAG_ID} {_iso(logical_date)} "
                f"-c '{json.dumps({'import_name': expectation.import_name})}'"
            )
            result = run_dag(expectation, logical_date, env, credentials)
            results.append(result)
            how = "stopped: timed out" if result.timed_out else f"exit status {result.exit_code}"
            print(f"      finished in {result.seconds:.1f} s ({how}); log: {_relative(result.log_path)}")

        read_states(results, env, credentials)

        print()
        print("Summary")
        for result, expectation in zip(results, EXPECTATIONS, strict=True):
            line, run_problems = judge(result, expectation)
            print(f"  {line}")
            if result.error:
                print(f"      {result.error[0]}: {result.error[1]}")
            if result.states.get("import_gate") in ("success", "failed"):
                # The gate ran: check that it judged this run's file, not the stale one.
                try:
                    records, remaining = emulator_files(url, credentials, result.import_name)
                except DemoError as err:
                    records, run_problems = [], [*run_problems, f"{result.import_name}: {err}"]
                notes, baseline_problems = check_baseline(result, records)
                for note in notes:
                    print(f"      {note}")
                run_problems += baseline_problems
            if run_problems:
                print(f"      last lines of {_relative(result.log_path)}:")
                print("\n".join("        | " + text for text in _tail(result.log_path, credentials).splitlines()))
            problems += run_problems
        retries = sum(result.retries for result in results)
        print(
            f"  emulator     : {retries} retried request(s) in the runs; "
            f"rate-limit budget left this minute: {remaining or '?'}"
        )
    except DemoError as err:
        problems.append(str(err))
    except KeyboardInterrupt:
        print("\ndemo: interrupted", file=sys.stderr)
        return 130
    finally:
        stop_emulator(emulator)

    elapsed = time.monotonic() - started
    print()
    if problems:
        sys.stdout.flush()
        print(f"Demo FAILED after {elapsed:.0f} s:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"Demo OK in {elapsed:.0f} s: the successful import let the campaign out, the partial one stopped it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
