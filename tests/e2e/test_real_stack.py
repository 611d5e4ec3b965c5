"""The example DAG through the real Airflow stack: api-server, scheduler, dag-processor and triggerer.

``dag.test()`` runs triggers inline and ignores the deferral timeout, so it cannot show that the
sensor really defers, that the triggerer can import and run ``MoEngageImportTrigger``, that the
trigger's kwargs carry no secret, or that a wait survives a triggerer restart with its deadline
intact. These tests start each component as its own process (so the triggerer can be restarted
alone) in a throwaway AIRFLOW_HOME, against an in-process MoEngage emulator on the real clock.

The DAG ignores files scheduled before its baseline (``scheduled_after``, a data interval bound),
so each test adds its run's file with ``scheduled_at="now"`` once the run exists, which is after
the baseline however the DAG picks it, and an older file (two days back) that must be ignored.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from airflow_provider_moengage.testing import MoEngageEmulator, RecordedRequest, ScheduledFile, StatusStep
from tests.e2e._stack import COMPONENTS, AirflowStack, airflow_env, api_ready, free_port

pytestmark = pytest.mark.e2e

DAG_ID = "moengage_gated_campaign"
TASKS = ("wait_for_import", "import_gate", "send_campaign")
TRIGGER_CLASSPATH = "airflow_provider_moengage.triggers.moengage.MoEngageImportTrigger"
WORKSPACE = "E2E_WORKSPACE"
API_KEY = "e2e-api-key-not-secret-7f3a"
BASIC_CREDENTIAL = base64.b64encode(f"{WORKSPACE}:{API_KEY}".encode()).decode()
#: The sensor's timeout in the example DAG; the trigger's deadline is this after it deferred.
SENSOR_TIMEOUT = timedelta(hours=6)
RUN_TIMEOUT = 120.0
SLOW_IMPORT_SECONDS = 40.0


# --------------------------------------------------------------------------------------------------
# Fixtures: one emulator and one Airflow stack for the module
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[MoEngageEmulator]:
    """The MoEngage API on a free loopback port: real clock, 50 requests a minute, shuffled records."""
    with MoEngageEmulator(
        workspace_id=WORKSPACE, api_key=API_KEY, host="127.0.0.1", port=0, rate_limit_per_minute=50, shuffle_seed=11
    ) as running:
        yield running


@pytest.fixture(scope="module")
def stack(emulator: MoEngageEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    """``airflow db migrate``, then the four components; the example DAG parsed and unpaused."""
    home = tmp_path_factory.mktemp("airflow-home")
    port = free_port()
    env = airflow_env(
        home,
        port,
        {
            "AIRFLOW_CONN_MOENGAGE_DEFAULT": emulator.connection_json(),
            "MOENGAGE_EXAMPLE_POLL_SECONDS": "1",
        },
    )
    airflow = AirflowStack(home, env)
    try:
        airflow.cli("db", "migrate", timeout=180)
        for component in COMPONENTS:
            airflow.start(component)
        airflow.wait_for(lambda: api_ready(port), 120, f"the API server to answer on port {port}", ["api-server"])
        airflow.wait_for(lambda: _dag_parsed(airflow), 120, f"the dag-processor to parse {DAG_ID}", ["dag-processor"])
        airflow.cli("dags", "unpause", DAG_ID)
        for job_type, component in (("SchedulerJob", "scheduler"), ("TriggererJob", "triggerer")):
            airflow.wait_for(partial(_running_jobs, airflow, job_type), 60, f"a running {job_type}", [component])
        yield airflow
    finally:
        airflow.close()


def _dag_parsed(airflow: AirflowStack) -> bool:
    errors = airflow.query("SELECT filename, stacktrace FROM import_error")
    if errors:
        raise AssertionError(f"The example DAG failed to import: {[tuple(row) for row in errors]}")
    return bool(airflow.query("SELECT 1 FROM serialized_dag WHERE dag_id = ?", DAG_ID))


def _running_jobs(airflow: AirflowStack, job_type: str) -> list[int]:
    rows = airflow.query(
        "SELECT id FROM job WHERE job_type = ? AND state = 'running' AND end_date IS NULL ORDER BY id", job_type
    )
    return [row["id"] for row in rows]


# --------------------------------------------------------------------------------------------------
# Watching a run
# --------------------------------------------------------------------------------------------------


@dataclass
class RunWatch:
    """Polls one DAG run in the metadata DB, remembering every state each task was seen in."""

    airflow: AirflowStack
    run_id: str
    seen: dict[str, list[str]] = field(default_factory=lambda: {task: [] for task in TASKS})
    #: trigger id -> (classpath, triggerer job id) for every trigger seen attached to the sensor
    triggers: dict[int, tuple[str, int | None]] = field(default_factory=dict)
    state: str | None = None

    def poll(self) -> str | None:
        """Read the run and its tasks once; return the run's state."""
        for row in self.tasks().values():
            states = self.seen[row["task_id"]]
            state = row["state"] or "none"
            if not states or states[-1] != state:
                states.append(state)
            if row["task_id"] == "wait_for_import" and row["trigger_id"] is not None:
                for trigger in self.airflow.query(
                    "SELECT id, classpath, triggerer_id FROM trigger WHERE id = ?", row["trigger_id"]
                ):
                    self.triggers[trigger["id"]] = (trigger["classpath"], trigger["triggerer_id"])
        runs = self.airflow.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", DAG_ID, self.run_id)
        self.state = runs[0]["state"] if runs else None
        return self.state

    def tasks(self) -> dict[str, dict[str, Any]]:
        rows = self.airflow.query(
            "SELECT task_id, state, try_number, trigger_id, trigger_timeout, next_method FROM task_instance "
            "WHERE dag_id = ? AND run_id = ? AND map_index = -1",
            DAG_ID,
            self.run_id,
        )
        return {row["task_id"]: dict(row) for row in rows}

    def task_state(self, task_id: str) -> str | None:
        row = self.tasks().get(task_id)
        return None if row is None else row["state"]

    def rendered(self, task_id: str) -> dict[str, Any]:
        """The task's rendered template fields, as the worker reported them to Airflow."""
        rows = self.airflow.query(
            "SELECT rendered_fields FROM rendered_task_instance_fields WHERE dag_id = ? AND run_id = ? AND task_id = ?",
            DAG_ID,
            self.run_id,
            task_id,
        )
        assert rows, f"no rendered fields for {task_id}"
        fields: dict[str, Any] = json.loads(rows[0]["rendered_fields"])
        return fields

    def log(self, task_id: str, attempt: int = 1) -> str:
        return self.airflow.task_log(DAG_ID, self.run_id, task_id, attempt)

    def report(self) -> str:
        """What a failure message needs: task states seen, and the tail of every task log."""
        lines = [f"run {self.run_id}: state {self.state}; task states seen: {self.seen}"]
        for task in TASKS:
            text = self.log(task)
            if text:
                lines.append(f"----- {task} log (tail) -----")
                lines.extend(text.splitlines()[-15:])
        return "\n".join(lines)

    def wait(
        self,
        condition: Callable[[RunWatch], object],
        timeout: float,
        what: str,
        logs: tuple[str, ...] = ("scheduler", "triggerer"),
    ) -> object:
        """Poll until ``condition(self)`` holds; fail with the run's report and the component logs."""

        def check() -> object:
            self.poll()
            return condition(self)

        try:
            return self.airflow.wait_for(check, timeout, what, logs, interval=0.2)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.report()}") from None

    def wait_finished(self, timeout: float = RUN_TIMEOUT) -> str:
        self.wait(lambda watch: watch.state in ("success", "failed"), timeout, f"run {self.run_id} to finish")
        assert self.state is not None
        return self.state


def trigger_run(airflow: AirflowStack, import_name: str, label: str) -> RunWatch:
    """``airflow dags trigger`` with a fresh run id and a logical date (see test_manual_run_without_logical_date)."""
    run_id = f"e2e_{label}_{uuid.uuid4().hex[:8]}"
    airflow.cli(
        "dags",
        "trigger",
        DAG_ID,
        "--run-id",
        run_id,
        "--logical-date",
        datetime.now(UTC).isoformat(),
        "-c",
        json.dumps({"import_name": import_name}),
    )
    watch = RunWatch(airflow, run_id)
    watch.poll()
    return watch


def _db_time(value: str) -> datetime:
    """A naive UTC timestamp as Airflow stores it in sqlite, made aware."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _assert_authenticated(requests: list[RecordedRequest]) -> None:
    assert requests, "the emulator received no request"
    for request in requests:
        assert request.headers.get("moe-appkey") == WORKSPACE, request.headers
        assert request.headers.get("authorization") == f"Basic {BASIC_CREDENTIAL}", "wrong or missing Basic auth"
        assert request.response_status in (200, 429), (request.response_status, request.json)


def _answered(emulator: MoEngageEmulator, import_name: str) -> int:
    """How many status requests for this import were answered normally (not 429)."""
    return sum(request.response_status == 200 for request in emulator.requests_for(import_name))


def _wait_for_first_look(emulator: MoEngageEmulator, watch: RunWatch, import_name: str, before: int) -> None:
    """Wait until the sensor (in the worker) has had its first answer, before the run's file exists.

    It saw no file of this run, so it must defer. (A 429 does not count: the hook's retry could
    come late enough to find the file already finished.)
    """
    watch.wait(
        lambda _: _answered(emulator, import_name) > before,
        60,
        f"the sensor's first status request for {import_name!r}",
        logs=("scheduler",),
    )


# --------------------------------------------------------------------------------------------------
# The tests (in this order: they share the stack, and the last one reads every log)
# --------------------------------------------------------------------------------------------------


def test_successful_import_defers_in_the_triggerer_then_sends(stack: AirflowStack, emulator: MoEngageEmulator) -> None:
    # An older file of this import, and a failed one: the DAG's baseline must ignore it.
    emulator.add_file(ScheduledFile("daily_users", status="FAILED", scheduled_at="now-2d", status_msg="old run"))
    before = _answered(emulator, "daily_users")
    watch = trigger_run(stack, "daily_users", "success")
    _wait_for_first_look(emulator, watch, "daily_users", before)
    emulator.add_file(
        ScheduledFile(
            "daily_users",
            scheduled_at="now",
            timeline=[
                StatusStep("QUEUED"),
                StatusStep("PROCESSING", after_seconds=2),
                StatusStep(
                    "SUCCESSFUL", after_seconds=6, fields={"total_rows": 1000, "added_rows": 990, "updated_rows": 10}
                ),
            ],
        )
    )
    added = len(emulator.requests_for("daily_users"))

    assert watch.wait_finished() == "success", watch.report()

    tasks = watch.tasks()
    assert {task: row["state"] for task, row in tasks.items()} == dict.fromkeys(TASKS, "success"), watch.report()
    assert "deferred" in watch.seen["wait_for_import"], watch.report()
    assert tasks["wait_for_import"]["try_number"] == 1, "the sensor was retried"
    assert watch.triggers, "no trigger row was ever attached to the deferred sensor"
    assert {classpath for classpath, _ in watch.triggers.values()} == {TRIGGER_CLASSPATH}
    assert all(triggerer is not None for _, triggerer in watch.triggers.values()), watch.triggers
    # The triggerer ran the provider's trigger, and it saw the file move on while the task was deferred.
    trigger_log = watch.log("wait_for_import")
    assert "Waiting for MoEngage import 'daily_users'" in trigger_log, trigger_log[-3000:]
    assert "PROCESSING" in trigger_log or "QUEUED" in trigger_log, trigger_log[-3000:]
    requests = emulator.requests_for("daily_users")
    assert len(requests) - added >= 2, "expected trigger polls and the gate's check after the file appeared"
    _assert_authenticated(requests)
    campaign = watch.log("send_campaign")
    assert "Campaign sent: import 'daily_users'" in campaign, campaign[-3000:]
    assert "loaded 1000 rows" in campaign, campaign[-3000:]


def test_partial_success_fails_the_gate_without_retry(stack: AirflowStack, emulator: MoEngageEmulator) -> None:
    before = _answered(emulator, "daily_events")
    watch = trigger_run(stack, "daily_events", "partial")
    _wait_for_first_look(emulator, watch, "daily_events", before)
    status_msg = "800 rows failed validation: invalid user_id"
    emulator.add_file(
        ScheduledFile(
            "daily_events",
            type="EVENTS",
            scheduled_at="now",
            timeline=[
                StatusStep("QUEUED"),
                StatusStep("PROCESSING", after_seconds=2),
                StatusStep(
                    "PARTIAL_SUCCESS",
                    after_seconds=6,
                    fields={"total_rows": 5000, "added_rows": 4200, "failed_rows": 800, "status_msg": status_msg},
                ),
            ],
        )
    )

    assert watch.wait_finished() == "failed", watch.report()

    tasks = watch.tasks()
    states = {task: row["state"] for task, row in tasks.items()}
    assert states == {
        "wait_for_import": "success",  # the sensor waits; judging is the gate's job
        "import_gate": "failed",
        "send_campaign": "upstream_failed",
    }, watch.report()
    assert "deferred" in watch.seen["wait_for_import"], watch.report()
    # The DAG has retries=2, but a failed import is not worth retrying: one attempt, no up_for_retry.
    assert tasks["import_gate"]["try_number"] == 1, watch.report()
    assert "up_for_retry" not in watch.seen["import_gate"], watch.report()
    assert not watch.log("import_gate", attempt=2), "the gate ran a second attempt"
    gate_log = watch.log("import_gate")
    assert "PARTIAL_SUCCESS" in gate_log, gate_log[-3000:]
    assert status_msg in gate_log, gate_log[-3000:]
    assert "800" in gate_log, gate_log[-3000:]
    assert not watch.log("send_campaign"), "send_campaign ran although the gate failed"
    _assert_authenticated(emulator.requests_for("daily_events"))


def test_wait_survives_a_triggerer_restart(stack: AirflowStack, emulator: MoEngageEmulator) -> None:
    watch = trigger_run(stack, "slow_import", "restart")
    added_at = emulator.clock.now()
    emulator.add_file(
        ScheduledFile(
            "slow_import",
            scheduled_at="now",
            timeline=[
                StatusStep("QUEUED"),
                StatusStep("PROCESSING", after_seconds=1),
                StatusStep("SUCCESSFUL", after_seconds=SLOW_IMPORT_SECONDS, fields={"total_rows": 42}),
            ],
        )
    )
    done_at = added_at + SLOW_IMPORT_SECONDS

    # Deferred, its trigger assigned to the triggerer, and the trigger's polls arriving.
    watch.wait(
        lambda w: w.task_state("wait_for_import") == "deferred" and any(t for _, t in w.triggers.values()),
        60,
        "the sensor to defer and its trigger to be assigned",
    )
    deferred_polls = len(emulator.requests_for("slow_import"))
    watch.wait(
        lambda _: len(emulator.requests_for("slow_import")) >= deferred_polls + 2, 30, "the trigger to poll twice"
    )
    [(trigger_id, (classpath, first_triggerer))] = watch.triggers.items()
    assert classpath == TRIGGER_CLASSPATH
    _, kwargs_before = stack.trigger_kwargs(trigger_id)
    timeout_before = watch.tasks()["wait_for_import"]["trigger_timeout"]

    # Stop the triggerer; nothing polls while it is down, and the task stays deferred.
    stopped = time.monotonic()
    exit_code = stack.stop("triggerer", timeout=45)
    stop_seconds = time.monotonic() - stopped
    silent_from = len(emulator.requests_for("slow_import"))
    time.sleep(4)
    assert len(emulator.requests_for("slow_import")) == silent_from, "requests arrived with no triggerer running"
    assert watch.task_state("wait_for_import") == "deferred", watch.report()
    assert emulator.clock.now() < done_at - 5, (
        f"the triggerer took {stop_seconds:.1f} s to stop (exit code {exit_code}): the import finished "
        "before the restart could be tested"
    )

    stack.start("triggerer")
    watch.wait(
        lambda _: len(emulator.requests_for("slow_import")) > silent_from,
        60,
        "the new triggerer to resume polling slow_import",
    )
    # Read the row again while the restarted triggerer polls (it is deleted once the trigger fires).
    assert emulator.clock.now() < done_at, "the new triggerer came up only after slow_import had finished"
    classpath_after, kwargs_after = stack.trigger_kwargs(trigger_id)
    timeout_after = watch.tasks()["wait_for_import"]["trigger_timeout"]
    [second_triggerer] = stack.query("SELECT triggerer_id FROM trigger WHERE id = ?", trigger_id)[0]

    assert watch.wait_finished() == "success", watch.report()

    tasks = watch.tasks()
    assert {task: row["state"] for task, row in tasks.items()} == dict.fromkeys(TASKS, "success"), watch.report()
    assert tasks["wait_for_import"]["try_number"] == 1, "the sensor was retried instead of resuming"
    assert list(watch.triggers) == [trigger_id], f"the wait was re-deferred instead of resumed: {watch.triggers}"
    resumed = emulator.requests_for("slow_import")[silent_from:]
    assert any(request.at < done_at and request.response_status == 200 for request in resumed), (
        "the new triggerer only polled after the import had finished; the restart was not tested mid-wait"
    )
    _assert_authenticated(emulator.requests_for("slow_import"))
    jobs = [tuple(row) for row in stack.query("SELECT id, state FROM job WHERE job_type = 'TriggererJob' ORDER BY id")]
    assert [job_id for job_id, _ in jobs] == [first_triggerer, second_triggerer], jobs

    # The deadline and the baseline survived the restart unchanged, and no secret is stored with them.
    assert classpath_after == TRIGGER_CLASSPATH
    assert kwargs_after == kwargs_before
    assert kwargs_after["end_time"] == kwargs_before["end_time"]
    assert kwargs_after["scheduled_after"] == kwargs_before["scheduled_after"]
    assert timeout_after == timeout_before
    end_time = datetime.fromisoformat(kwargs_before["end_time"])
    # Airflow's own deferral timeout and the trigger's deadline agree: both the sensor's 6 h.
    assert abs(end_time - _db_time(str(timeout_before))) < timedelta(seconds=10), (end_time, timeout_before)
    assert abs(end_time - (datetime.now(UTC) + SENSOR_TIMEOUT)) < timedelta(minutes=3), end_time
    # The trigger waits with the baseline the sensor rendered, not one recomputed in the triggerer.
    rendered_baseline = datetime.fromisoformat(watch.rendered("wait_for_import")["scheduled_after"])
    assert datetime.fromisoformat(kwargs_before["scheduled_after"]) == rendered_baseline.astimezone(UTC)
    for kwargs in (kwargs_before, kwargs_after):
        text = json.dumps(kwargs)
        assert API_KEY not in text and BASIC_CREDENTIAL not in text, text


def test_manual_run_without_logical_date(stack: AirflowStack) -> None:
    """A plain ``airflow dags trigger`` (no ``--logical-date``) must start the wait like any other run."""
    run_id = f"e2e_nologicaldate_{uuid.uuid4().hex[:8]}"
    stack.cli("dags", "trigger", DAG_ID, "--run-id", run_id, "-c", json.dumps({"import_name": "never_arrives"}))
    watch = RunWatch(stack, run_id)
    try:
        watch.wait(
            lambda w: w.task_state("wait_for_import") in ("deferred", "up_for_retry", "failed", "success"),
            60,
            "the sensor to start waiting or fail",
            logs=("scheduler",),
        )
    except AssertionError as err:  # not the known bug: fail for real, not as the expected failure
        raise RuntimeError(str(err)) from None
    state, log = watch.task_state("wait_for_import"), watch.log("wait_for_import")
    undefined = re.search(r"'(data_interval_\w+|logical_date|ds\w*|ts\w*)' is undefined", log)
    if state != "deferred" and not undefined:
        raise RuntimeError(f"wait_for_import is {state}, for an unexpected reason:\n{log[-2000:]}")
    assert state == "deferred", f"wait_for_import is {state}: {undefined.group(0) if undefined else ''}"


def test_no_secret_reaches_any_log(stack: AirflowStack) -> None:
    leaks: list[str] = []
    for path in stack.all_log_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        leaks.extend(f"{path}: {secret!r}" for secret in (API_KEY, BASIC_CREDENTIAL) if secret in text)
    assert not leaks, leaks
