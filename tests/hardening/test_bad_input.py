"""Bad input: every public argument is checked before any request, and the error names the argument.

Static arguments fail when the task is built (DAG parse time); templated ones fail when the task
starts, after rendering, on try 1, with zero requests sent. A poke or poll interval too small for
MoEngage's budget warns, quoting the budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_moengage.exceptions import MoEngageConfigurationError

FUTURE = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
ENUMS = {
    "import_types": "USERS, EVENTS, AUX_DATA",
    "schedule_types": "PERIODIC, ONETIME",
    "file_sources": "SFTP, S3, CSV",
    "schedule_statuses": "SUCCESSFUL, FAILED, PARTIAL_SUCCESS, SCHEDULED, PROCESSING, QUEUED, ARCHIVED",
}


def sensor(**arguments: Any) -> Any:
    from airflow_provider_moengage.sensors.moengage import MoEngageImportSensor

    return MoEngageImportSensor(**{"task_id": "check", "import_name": "daily_users", **arguments})


def operator(**arguments: Any) -> Any:
    from airflow_provider_moengage.operators.moengage import MoEngageImportStatusOperator

    return MoEngageImportStatusOperator(**{"task_id": "check", "import_name": "daily_users", **arguments})


def trigger(**arguments: Any) -> Any:
    from airflow_provider_moengage.triggers.moengage import MoEngageImportTrigger

    defaults = {"moengage_conn_id": "moengage_default", "import_name": "daily_users", "end_time": FUTURE}
    return MoEngageImportTrigger(**{**defaults, **arguments})


def hook(**arguments: Any) -> Any:
    from airflow_provider_moengage.hooks.moengage import MoEngageHook

    return MoEngageHook(**arguments)


def hook_call(method: str) -> Callable[..., Any]:
    def call(**arguments: Any) -> Any:
        from airflow_provider_moengage.api import StatusQuery
        from airflow_provider_moengage.hooks.moengage import MoEngageHook

        target = getattr(MoEngageHook(), method)
        if method == "fetch_page":
            return target(StatusQuery.build("daily_users"), **arguments)
        if method == "get_latest_import_file":
            arguments = {"import_name": "daily_users", **arguments}
        result = target(**arguments)
        return list(result) if method == "iter_import_files" else result  # a generator checks when iterated

    call.__name__ = f"MoEngageHook.{method}"
    return call


@dataclass(frozen=True)
class Bad:
    """One bad argument: where it goes, the value, and what the error must say."""

    target: Callable[..., Any]
    arguments: dict[str, Any]
    says: tuple[str, ...]
    error: type[Exception] = MoEngageConfigurationError
    id: str = field(default="")

    def __str__(self) -> str:
        return self.id or f"{self.target.__name__}-{'-'.join(self.arguments)}"


def enum_rows(target: Callable[..., Any], *, prefix: str = "") -> list[Bad]:
    return [
        Bad(target, {name: "bogus"}, (name, allowed), id=f"{prefix}{target.__name__}-{name}")
        for name, allowed in ENUMS.items()
    ]


WINDOW = {"window_start": "2026-01-01", "window_end": "2026-03-01"}
BAD_INPUT: list[Bad] = [
    # ---- the sensor ------------------------------------------------------------------------------
    Bad(sensor, {"import_name": ""}, ("import_name", "non-empty string")),
    Bad(sensor, {"import_name": None}, ("import_name", "non-empty string"), id="sensor-import_name-None"),
    Bad(sensor, {"scheduled_after": "not-a-date"}, ("scheduled_after", "ISO 8601")),
    Bad(sensor, {"scheduled_after": "0001-01-01T00:00:00+05:00"}, ("scheduled_after", "ISO 8601"),
        id="sensor-scheduled_after-out-of-range"),
    *enum_rows(sensor),
    Bad(sensor, {"import_types": ["USERS", 5]}, ("import_types", ENUMS["import_types"], "got 5"),
        id="sensor-import_types-not-a-string"),
    Bad(sensor, {"window_start": "2026-01-01"}, ("window_start and window_end go together", "window_end is missing")),
    Bad(sensor, {"window_start": "1st of May", "window_end": "2026-05-02"}, ("window_start", "ISO"),
        id="sensor-window_start-garbage"),
    Bad(sensor, WINDOW, ("window_start", "window_end", "30 days"), id="sensor-window-over-30-days"),
    Bad(sensor, {"window_start": "2026-02-01", "window_end": "2026-01-01"}, ("window_end", "before", "window_start"),
        id="sensor-window-backwards"),
    Bad(sensor, {"pending_statuses": [""]}, ("pending_statuses", "non-empty status names")),
    Bad(sensor, {"pending_statuses": ["SUCCESSFUL"]}, ("pending_statuses", "cannot redefine built-in statuses"),
        id="sensor-pending_statuses-builtin"),
    Bad(sensor, {"failure_statuses": ["QUEUED"]}, ("failure_statuses", "cannot redefine built-in statuses")),
    Bad(sensor, {"pending_statuses": ["UPLOADING"], "failure_statuses": ["UPLOADING"]},
        ("pending_statuses", "failure_statuses", "UPLOADING"), id="sensor-status-in-both-lists"),
    Bad(sensor, {"fail_on_failure": "no"}, ("fail_on_failure", "True or False")),
    Bad(sensor, {"fail_on_failure": True, "allow_partial_success": "yes"}, ("allow_partial_success", "True or False")),
    Bad(sensor, {"fail_on_failure": True, "allow_partial_success": True, "max_failed_rows": 5},
        ("allow_partial_success", "max_failed_rows", "cannot be combined"), id="sensor-partial-contradiction"),
    Bad(sensor, {"fail_on_failure": True, "max_failed_rows": -1}, ("max_failed_rows", ">= 0")),
    Bad(sensor, {"fail_on_failure": True, "max_failed_rows": 2.5}, ("max_failed_rows", "whole number"),
        id="sensor-max_failed_rows-fraction"),
    Bad(sensor, {"fail_on_failure": True, "max_failed_ratio": 1.5}, ("max_failed_ratio", "from 0 to 1")),
    Bad(sensor, {"max_failed_rows": 5}, ("max_failed_rows", "fail_on_failure=True"),
        id="sensor-threshold-without-fail_on_failure"),
    Bad(sensor, {"allow_partial_success": True}, ("allow_partial_success", "fail_on_failure=True"),
        id="sensor-allow_partial-without-fail_on_failure"),
    Bad(sensor, {"deferrable": "false"}, ("deferrable", "True or False")),
    Bad(sensor, {"poke_interval": 0}, ("poke_interval", "> 0")),
    Bad(sensor, {"poke_interval": -1}, ("poke_interval",), ValueError, id="sensor-poke_interval-negative"),
    Bad(sensor, {"timeout": 0}, ("timeout", "> 0")),
    Bad(sensor, {"timeout": -5}, ("timeout",), ValueError, id="sensor-timeout-negative"),
    Bad(sensor, {"mode": "sometimes"}, ("mode", "poke", "reschedule"), ValueError),
    Bad(sensor, {"moengage_conn_id": ""}, ("moengage_conn_id", "non-empty string")),
    # a bad static value next to a templated one still fails at parse time
    Bad(sensor, {"import_name": "{{ params.import_name }}", "import_types": "user"},
        ("import_types", ENUMS["import_types"]), id="sensor-static-enum-beside-a-template"),
    Bad(sensor, {"scheduled_after": "{{ data_interval_start }}", "fail_on_failure": True, "max_failed_ratio": 2},
        ("max_failed_ratio", "from 0 to 1"), id="sensor-static-policy-beside-a-template"),
    # ---- the operator ----------------------------------------------------------------------------
    Bad(operator, {"import_name": "  "}, ("import_name", "non-empty string")),
    Bad(operator, {"scheduled_after": "yesterday"}, ("scheduled_after", "ISO 8601")),
    *enum_rows(operator),
    Bad(operator, {"window_end": "2026-01-01"}, ("window_start and window_end go together", "window_start is missing")),
    Bad(operator, WINDOW, ("window_start", "window_end", "30 days"), id="operator-window-over-30-days"),
    Bad(operator, {"wait_for_completion": "yes"}, ("wait_for_completion", "True or False")),
    Bad(operator, {"poll_interval": 0}, ("poll_interval", "> 0")),
    Bad(operator, {"poll_interval": -5}, ("poll_interval", "> 0"), id="operator-poll_interval-negative"),
    Bad(operator, {"poll_interval": "60"}, ("poll_interval", "> 0"), id="operator-poll_interval-string"),
    Bad(operator, {"timeout": timedelta(0)}, ("timeout", "> 0")),
    Bad(operator, {"deferrable": "false"}, ("deferrable", "True or False")),
    Bad(operator, {"allow_partial_success": True, "max_failed_ratio": 0.1},
        ("allow_partial_success", "max_failed_ratio", "cannot be combined"), id="operator-partial-contradiction"),
    Bad(operator, {"failure_statuses": ["SUCCESSFUL"]}, ("failure_statuses", "cannot redefine built-in statuses")),
    Bad(operator, {"moengage_conn_id": None}, ("moengage_conn_id", "non-empty string")),
    Bad(operator, {"import_type": "USERS"}, ("import_type",), TypeError, id="operator-misspelt-argument"),
    # ---- the trigger -----------------------------------------------------------------------------
    Bad(trigger, {"import_name": None}, ("import_name", "non-empty string"), id="trigger-import_name-None"),
    Bad(trigger, {"import_name": ""}, ("import_name", "non-empty string")),
    Bad(trigger, {"end_time": "garbage"}, ("end_time", "ISO")),
    Bad(trigger, {"end_time": None}, ("end_time", "ISO"), id="trigger-end_time-None"),
    Bad(trigger, {"poll_interval": 0}, ("poll_interval", "> 0")),
    Bad(trigger, {"scheduled_after": "soon"}, ("scheduled_after", "ISO 8601")),
    Bad(trigger, {"filters": {"import_types": "user"}}, ("import_types", ENUMS["import_types"])),
    Bad(trigger, {"filters": {"start_date": "2026-01-01", "end_date": "2026-03-01"}},
        ("start_date", "end_date", "30 days"), id="trigger-filters-window-over-30-days"),
    Bad(trigger, {"filters": {"bogus": 1}}, ("bogus",), TypeError, id="trigger-filters-unknown-key"),
    Bad(trigger, {"policy": {"max_failed_rows": -1}}, ("max_failed_rows", ">= 0")),
    Bad(trigger, {"moengage_conn_id": ""}, ("moengage_conn_id", "non-empty string")),
    # ---- the hook --------------------------------------------------------------------------------
    Bad(hook, {"moengage_conn_id": ""}, ("moengage_conn_id", "non-empty string")),
    Bad(hook, {"max_pages": 0}, ("max_pages", "whole number >= 1")),
    Bad(hook, {"max_pages": "ten"}, ("max_pages", "whole number >= 1"), id="hook-max_pages-string"),
    Bad(hook_call("get_import_status"), {"offset": 0}, ("offset", ">= 1")),
    Bad(hook_call("get_import_status"), {"offset": "2"}, ("offset", ">= 1"), id="get_import_status-offset-string"),
    Bad(hook_call("get_import_status"), {"import_name": ""}, ("import_name", "non-empty string")),
    *enum_rows(hook_call("get_import_status")),
    Bad(hook_call("get_import_status"), {"start_date": "2026-01-01"}, ("start_date and end_date go together",)),
    Bad(hook_call("get_import_status"), {"start_date": "2026-01-01", "end_date": "2026-03-01"},
        ("start_date", "end_date", "30 days"), id="get_import_status-window-over-30-days"),
    Bad(hook_call("get_import_status"), {"start_date": "May", "end_date": "June"}, ("start_date", "ISO"),
        id="get_import_status-start_date-garbage"),
    *enum_rows(hook_call("iter_import_files")),
    Bad(hook_call("get_latest_import_file"), {"scheduled_after": "garbage"}, ("scheduled_after", "ISO 8601")),
    Bad(hook_call("get_latest_import_file"), {"import_types": "user"}, ("import_types", ENUMS["import_types"]),
        id="get_latest_import_file-import_types"),
    Bad(hook_call("fetch_page"), {"offset": -1}, ("offset", ">= 1")),
]  # fmt: skip


@pytest.mark.parametrize("bad", BAD_INPUT, ids=str)
def test_bad_argument_is_named_before_any_request(bad: Bad, emulator, moengage_conn) -> None:
    with pytest.raises(bad.error) as raised:
        bad.target(**bad.arguments)
    message = str(raised.value)
    missing = [text for text in bad.says if text not in message]
    assert not missing, f"{message!r} does not say {missing}"
    assert emulator.requests == []


def test_every_validated_argument_of_the_public_classes_is_in_the_table() -> None:
    """A new public argument must get a row: the table lists every argument the classes take."""
    import inspect

    from airflow_provider_moengage.operators.moengage import MoEngageImportStatusOperator
    from airflow_provider_moengage.sensors.moengage import MoEngageImportSensor
    from airflow_provider_moengage.triggers.moengage import MoEngageImportTrigger

    covered = {name for bad in BAD_INPUT for name in bad.arguments}
    for cls in (MoEngageImportSensor, MoEngageImportStatusOperator, MoEngageImportTrigger):
        own = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
        assert own <= covered, f"{cls.__name__}: no bad-input row for {sorted(own - covered)}"


def test_good_arguments_pass_and_send_nothing(emulator, moengage_conn) -> None:
    sensor(
        import_types=["users"], window_start="2026-01-01", window_end="2026-01-31", fail_on_failure=True,
        max_failed_rows=3, pending_statuses=["UPLOADING"], deferrable=True, poke_interval=30,
    )  # fmt: skip
    operator(timeout=timedelta(minutes=5), poll_interval=30, max_failed_ratio=0.01, wait_for_completion=False)
    sensor(import_name="{{ params.import_name }}", scheduled_after="{{ data_interval_start }}")
    assert emulator.requests == []


# --------------------------------------------------------------------------------------------------
# Templated values that render to garbage: the task fails on try 1, naming the argument, sending nothing
# --------------------------------------------------------------------------------------------------

PATHS = ["t_sensor_poke", "t_sensor_reschedule", "t_sensor_deferrable", "t_operator_wait", "t_operator_nowait"]


@pytest.mark.parametrize("dag_id", [*PATHS, "t_sensor_poke_soft"])
def test_scheduled_after_rendering_to_garbage_fails_the_task_naming_it(emulator, run_dag, dag_id: str) -> None:
    from airflow_provider_moengage.testing import ScheduledFile

    emulator.add_file(ScheduledFile("daily_users", scheduled_at="now-1m", status="SUCCESSFUL"))
    result = run_dag(dag_id, scheduled_after="not-a-date")
    assert result.state_of("check") == "failed"  # not skipped, even with soft_fail
    assert result.tries_of("check") == 1  # a configuration error is not retried (retries=3)
    assert result.state_of("campaign") == "upstream_failed"
    assert "scheduled_after must be a datetime or an ISO 8601 string" in result.output
    assert "'not-a-date'" in result.output
    assert emulator.requests == []


def test_import_name_rendering_to_nothing_fails_the_task_naming_it(emulator, run_dag) -> None:
    result = run_dag("t_operator_deferrable", import_name="")
    assert result.state_of("check") == "failed" and result.tries_of("check") == 1
    assert "import_name must be a non-empty string, got ''" in result.output
    assert emulator.requests == []


# --------------------------------------------------------------------------------------------------
# A poll too fast for the rate budget warns, and says the budget
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "argument", "per_minute"),
    [
        (lambda: sensor(poke_interval=0.5), "poke_interval", 120),
        (lambda: sensor(poke_interval=1, deferrable=True), "poke_interval", 60),
        (lambda: sensor(poke_interval=1, mode="reschedule"), "poke_interval", 60),
        (lambda: operator(poll_interval=0.25), "poll_interval", 240),
        (lambda: operator(poll_interval=1, deferrable=True), "poll_interval", 60),
    ],
    ids=["sensor-poke", "sensor-deferrable", "sensor-reschedule", "operator-wait", "operator-deferrable"],
)
def test_an_interval_too_small_for_the_budget_warns_with_the_budget(capfd, build, argument: str, per_minute: int):
    capfd.readouterr()
    build()  # operators log through Airflow's structlog task logger, which writes to the stream
    out, err = capfd.readouterr()
    (warning,) = [line for line in (out + err).splitlines() if "budget" in line]
    assert "warning" in warning.lower() and f"{argument}=" in warning and f"{per_minute} requests a minute" in warning
    assert "budget of 50 requests a minute per workspace" in warning


@pytest.mark.parametrize(
    "build",
    [lambda: sensor(poke_interval=1.2), lambda: operator(poll_interval=60), lambda: operator(poll_interval=0.1,
     wait_for_completion=False)],
    ids=["sensor-at-the-budget", "operator-default", "operator-not-waiting"],
)  # fmt: skip
def test_an_interval_within_the_budget_does_not_warn(capfd, build) -> None:
    capfd.readouterr()
    build()
    out, err = capfd.readouterr()
    assert "budget" not in out + err
