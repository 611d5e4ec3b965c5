"""The fault matrix of issue 4: every fault and odd answer, its verdict written down, driven through every path.

``CELLS`` is the one table. Each cell is a fault the emulator produces (over real HTTP), and the
verdict expected on each of the five paths (sensor poke, reschedule and deferrable, operator waiting
and not waiting). Every cell runs

* at the hook (``ImportCheck.check`` over ``requests``, the code every worker path runs), and
* in the trigger (``MoEngageImportTrigger.run`` over ``aiohttp`` in a real event loop),

and the cells marked ``dag=True`` also run through the five paths as real Airflow DAG runs
(``dag.test()`` with a sqlite metadata DB), the campaign task behind each gate included. Every run
is scanned for the API key and the base64 credential. ``docs/reliability.md`` is rendered from this
table; ``test_reliability_doc_matches_the_table`` keeps them identical.

On the waiting DAG paths the fault starts after one clean look that sees the file PROCESSING, so
that each path's own second look meets it: the poke loop, a rescheduled try, the trigger in the
triggerer, the operator's wait loop. The operator that does not wait meets it on its only look.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_moengage.testing import REQUEST_ID, Fault, MoEngageEmulator, ScheduledFile, StatusStep

# --------------------------------------------------------------------------------------------------
# Verdicts and paths
# --------------------------------------------------------------------------------------------------

PASSES = "passes"
RECOVERS = "recovers"
RECOVERS_ON_RETRY = "recovers-on-retry"
FAILS_AT_ONCE = "fails-at-once"
FAILS_MALFORMED = "fails-malformed"
GATE_SHUT = "gate-shut"
WAITS_THEN_TIMEOUT = "waits-then-timeout"
FAILS_RETRYABLE = "fails-retryable"

#: What each verdict promises, exactly as the tests below assert it (rendered into the doc).
VERDICTS: dict[str, str] = {
    PASSES: "The oddity is harmless: the answer is read correctly and the file's real status (SUCCESSFUL) is "
    "judged. The gate passes on try 1, the campaign runs, one request per page and look.",
    RECOVERS: "A transient fault. The hook retries it within the connection's retry budget (or the next look "
    "does), the gate passes on try 1 and the campaign runs. Requests: the clean look, each faulted one, one good.",
    RECOVERS_ON_RETRY: "Operator not waiting only: the fault outlasts the hook's retry budget, so try 1 fails "
    "with a retryable error and Airflow's task retry gets the answer (try 2). Nothing was judged on try 1.",
    FAILS_AT_ONCE: "A permanent HTTP error. Exactly one request meets it (no retry by the hook), the task fails "
    "on try 1 although it has retries=3, the campaign is upstream_failed, and the message carries the HTTP "
    "status and MoEngage's own error type and message.",
    FAILS_MALFORMED: "HTTP 200 whose body or records cannot be trusted. The task fails on try 1 (not retried), "
    "the campaign is upstream_failed, and the message names what was wrong. One request per page.",
    GATE_SHUT: "A valid answer saying the import did not succeed (a failure status in another spelling). The "
    "task fails on try 1 naming the status; the campaign is upstream_failed.",
    WAITS_THEN_TIMEOUT: "Transient trouble that never ends. The waiting paths keep waiting and fail at their "
    "`timeout` (1 s in these DAGs) on try 1, campaign upstream_failed. The hook's retries stop at the timeout: "
    "at most one request is sent after it (the look that finds the time is up), and the trigger's event "
    "arrives within a second of its deadline.",
    FAILS_RETRYABLE: "Operator not waiting only: transient trouble outlasting every try. Each try fails with a "
    "retryable error within its `timeout`, Airflow retries (retries=3, so 4 tries), the campaign never runs.",
}

#: The five paths and the test DAG of each (``tests/dags/moengage_test_dags.py``).
PATHS: dict[str, str] = {
    "sensor poke": "t_sensor_poke",
    "sensor reschedule": "t_sensor_reschedule",
    "sensor deferrable": "t_sensor_deferrable",
    "operator waiting": "t_operator_wait",
    "operator not waiting": "t_operator_nowait",
}
NOWAIT = "operator not waiting"
#: The ``timeout`` of the ``*_timeout`` test DAGs, and how far past it one in-flight request may end.
DAG_TIMEOUT = 1.0
SLACK = 1.0

# --------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------

FaultSetup = Callable[[MoEngageEmulator], Sequence[Fault]]
DROP = object()  # a record or envelope key to remove


@dataclass(frozen=True)
class Cell:
    """One row of the matrix.

    :param name: the test id.
    :param what: the fault, in words (rendered into the doc).
    :param verdict: the verdict on the four waiting paths.
    :param faults: the faults to inject, given the emulator.
    :param nowait: the verdict of the operator that does not wait, when it differs.
    :param names: what the failure message must contain (the thing that was wrong).
    :param conn: connection extras for this cell; ``password`` replaces the API key.
    :param dag: also run through the five DAG paths (see docs/reliability.md for the selection).
    :param lead_in: on the waiting DAG paths, show the file PROCESSING once before the fault starts.
    :param pages: requests per look.
    :param setup: emulator changes beyond the standard file (page size, more files).
    :param file_id: the id the passing gate reports.
    """

    name: str
    what: str
    verdict: str
    faults: FaultSetup = lambda emulator: ()
    nowait: str | None = None
    names: tuple[str, ...] = ()
    conn: Mapping[str, Any] = field(default_factory=dict)
    dag: bool = False
    lead_in: bool = True
    pages: int = 1
    setup: Callable[[MoEngageEmulator], None] | None = None
    file_id: str | None = "file-1"

    def verdict_on(self, path: str) -> str:
        """The expected verdict on one of :data:`PATHS`."""
        return self.nowait if path == NOWAIT and self.nowait else self.verdict


def always(fault: Fault) -> FaultSetup:
    return lambda emulator: [dataclasses.replace(fault, times=None)]


def once(fault: Fault) -> FaultSetup:
    return lambda emulator: [fault]


def body_change(**changes: Any) -> FaultSetup:
    """HTTP 200 with the normal envelope changed: a value, a callable of the old value, or DROP."""

    def mutate(body: dict[str, Any]) -> dict[str, Any]:
        for key, value in changes.items():
            if value is DROP:
                body.pop(key, None)
            else:
                body[key] = value(body.get(key)) if callable(value) else value
        return body

    return lambda emulator: [Fault(mutate=mutate, times=None)]


def record_change(**changes: Any) -> FaultSetup:
    """HTTP 200 with every record of the normal answer changed, as :func:`body_change` does."""

    def each_record(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for record in records:
            for key, value in changes.items():
                if value is DROP:
                    record.pop(key, None)
                else:
                    record[key] = value(record.get(key)) if callable(value) else value
        return records

    return body_change(data=each_record)


def in_zone(hours: float) -> Callable[[str], str]:
    """The same instant as a naive-UTC API timestamp, written with an explicit UTC offset."""
    zone = timezone(timedelta(hours=hours))
    return lambda value: datetime.fromisoformat(value).replace(tzinfo=UTC).astimezone(zone).isoformat()


def two_pages(emulator: MoEngageEmulator) -> None:
    emulator.page_size = 1
    emulator.add_file(ScheduledFile("daily_users", id="file-0", scheduled_at="now-10m", status="SUCCESSFUL"))


def file_1_on_every_page(status_on_page_2: str | None = None) -> FaultSetup:
    """Every page serves file-1 (optionally with another status on page 2): one record on two pages."""

    def faults(emulator: MoEngageEmulator) -> list[Fault]:
        def mutate(body: dict[str, Any]) -> dict[str, Any]:
            record = emulator.current_record("file-1")
            if status_on_page_2 and body.get("offset") == 2:
                record["file_status"] = status_on_page_2
            return {**body, "data": [record]}

        return [Fault(mutate=mutate, times=None)]

    return faults


# The documented bodies, from the reference (section 3): each error shape exactly as MoEngage writes it.
INVALID_DATE = {
    "status": "FAILURE",
    "error_type": "Invalid Date format",
    "message": "The provided date format is either incorrect or doesn't match the entered dates...",
}
INVALID_OFFSET = {
    "status": "FAILURE",
    "error_type": "Invalid Offset Value",
    "message": "The offset value you have provided is not valid...",
}
WINDOW_TOO_LONG = {
    "status": "FAILURE",
    "error_type": "Difference exceeds 30 days",
    "message": "Please note that only imports with a date difference of 30 can be displayed...",
}
ENUM_CASE = {"success": False, "status_code": "400 Bad Request", "data": "Unable to process the request"}
HEADER_MISSING = {"title": "HeaderMissing", "description": "MOE-APPKEY is missing in Header"}
HEADER_MISMATCH = {
    "title": "HeaderMismatch",
    "description": "MOE_APPKEY doesn't match the Username (APP_KEY) used in Basic Auth authorization",
}
BLOCKED = {
    "status": "fail",
    "error": {"message": "Your account is suspended...", "type": "BlockedClient", "request_id": REQUEST_ID},
}
NOT_FOUND = {"status": "fail", "data": "Resource not found."}
NOT_ALLOWED = {"status": "fail", "message": "Method not allowed"}
UNSUPPORTED = {"title": "Unsupported media type", "description": "Content type is not supported"}
WRONG_KEY = "a-wrong-api-key-7f3c9e"
NOT_KNOWN = "which is not a known status"

CELLS: list[Cell] = [
    # ---- permanent HTTP errors ------------------------------------------------------------------
    Cell("400-invalid-date", "400, documented body for a bad date format", FAILS_AT_ONCE,
         always(Fault(status=400, body=INVALID_DATE)), names=("HTTP 400", "'Invalid Date format'"), dag=True),
    Cell("400-invalid-offset", "400, documented body for a bad offset", FAILS_AT_ONCE,
         always(Fault(status=400, body=INVALID_OFFSET)), names=("HTTP 400", "'Invalid Offset Value'")),
    Cell("400-window-over-30-days", "400, documented body for a date window over 30 days", FAILS_AT_ONCE,
         always(Fault(status=400, body=WINDOW_TOO_LONG)), names=("HTTP 400", "'Difference exceeds 30 days'")),
    Cell("400-enum-letter-case", "400, documented body for an enum value in the wrong letter case", FAILS_AT_ONCE,
         always(Fault(status=400, body=ENUM_CASE)), names=("HTTP 400", "Unable to process the request")),
    Cell("401-wrong-key", "401 from the emulator's own auth check: the connection holds a wrong API key",
         FAILS_AT_ONCE, conn={"password": WRONG_KEY}, names=("HTTP 401", "'AuthenticationInvalid'"), dag=True,
         lead_in=False),
    Cell("401-header-missing", "401, documented HeaderMissing body", FAILS_AT_ONCE,
         always(Fault(status=401, body=HEADER_MISSING)), names=("HTTP 401", "'HeaderMissing'", "MOE-APPKEY")),
    Cell("401-header-mismatch", "401, documented HeaderMismatch body", FAILS_AT_ONCE,
         always(Fault(status=401, body=HEADER_MISMATCH)), names=("HTTP 401", "'HeaderMismatch'")),
    Cell("403-blocked", "403, documented body of a suspended account", FAILS_AT_ONCE,
         always(Fault(status=403, body=BLOCKED)), names=("HTTP 403", "'BlockedClient'", "suspended"), dag=True),
    Cell("404-not-found", "404, documented body", FAILS_AT_ONCE,
         always(Fault(status=404, body=NOT_FOUND)), names=("HTTP 404", "Resource not found."), dag=True),
    Cell("405-method-not-allowed", "405, documented body", FAILS_AT_ONCE,
         always(Fault(status=405, body=NOT_ALLOWED)), names=("HTTP 405", "Method not allowed")),
    Cell("415-unsupported-media-type", "415, documented body", FAILS_AT_ONCE,
         always(Fault(status=415, body=UNSUPPORTED)), names=("HTTP 415", "Content type is not supported")),
    # ---- rate limiting --------------------------------------------------------------------------
    Cell("429-with-headers", "429 with Retry-After and x-ratelimit-* (reset in 1 s), once", RECOVERS,
         once(Fault.rate_limited(reset_in=1)), dag=True),
    Cell("429-without-headers", "429 with no rate-limit headers at all, once", RECOVERS,
         once(Fault.rate_limited(with_headers=False)), dag=True),
    Cell("429-storm-then-clears", "429 (Retry-After: 0) six times in a row: one more than max_attempts",
         RECOVERS, once(Fault.rate_limited(reset_in=0, times=6)), nowait=RECOVERS_ON_RETRY, dag=True),
    Cell("429-storm-forever", "429 without headers on every request, outlasting every retry budget",
         WAITS_THEN_TIMEOUT, always(Fault.rate_limited(with_headers=False)), nowait=FAILS_RETRYABLE, dag=True),
    # ---- server and network trouble -------------------------------------------------------------
    Cell("500-server-error", "500, documented body, once", RECOVERS, once(Fault.server_error(500))),
    Cell("502-html", "502 with an nginx HTML page, once", RECOVERS, once(Fault.html(502)), dag=True),
    Cell("503-unavailable", "503, once", RECOVERS, once(Fault.server_error(503)), dag=True),
    Cell("504-gateway-timeout", "504 with an nginx HTML page, once", RECOVERS, once(Fault.html(504))),
    Cell("slow-past-request-timeout", "an answer 1 s late with the connection's timeout at 0.3 s, once",
         RECOVERS, once(Fault.slow(1.0)), conn={"timeout": 0.3}, dag=True),
    Cell("slow-forever", "every answer 2 s late, connection timeout 0.5 s", WAITS_THEN_TIMEOUT,
         always(Fault.slow(2.0)), nowait=FAILS_RETRYABLE, conn={"timeout": 0.5}),
    Cell("connection-reset-mid-body", "headers and half the body, then a TCP reset, once", RECOVERS,
         once(Fault.connection_reset()), dag=True),
    # ---- HTTP 200, but not an answer ------------------------------------------------------------
    Cell("200-html-page", "200 with an HTML page", FAILS_MALFORMED, always(Fault.html(200)),
         names=("not JSON", "<html>"), dag=True),
    Cell("200-invalid-json", "200, JSON content type, cut-off JSON", FAILS_MALFORMED,
         always(Fault(status=200, body='{"status": "success", "data": [{"id": ', content_type="application/json")),
         names=("not JSON", '{"status": "success"'), dag=True),
    Cell("200-empty-body", "200 with an empty body", FAILS_MALFORMED, always(Fault(status=200, body=b"")),
         names=("not JSON", "(empty)")),
    Cell("200-json-array", "200 with a JSON array instead of an object", FAILS_MALFORMED,
         always(Fault(status=200, body=[{"id": "file-1", "file_status": "SUCCESSFUL"}])),
         names=("JSON list, not an object",)),
    Cell("200-failure-envelope", "200 carrying the generic failure envelope", FAILS_MALFORMED,
         always(Fault.failure_body()), names=("body says the request failed", "Something failed"), dag=True),
    Cell("200-failure-400-shape", "200 carrying the documented 400 body (status FAILURE)", FAILS_MALFORMED,
         always(Fault(status=200, body=INVALID_DATE)), names=("body says the request failed", "Invalid Date format")),
    Cell("data-missing", "200, no `data` key", FAILS_MALFORMED, body_change(data=DROP), names=("no 'data' list",)),
    Cell("data-null", "200, `data` null", FAILS_MALFORMED, body_change(data=None),
         names=("no 'data' list (data=None)",), dag=True),
    Cell("data-object", "200, `data` an object, not a list", FAILS_MALFORMED,
         body_change(data={"id": "file-1"}), names=("no 'data' list",)),
    # ---- paging: more_files and total_count -----------------------------------------------------
    Cell("more-files-missing", "no `more_files`; `total_count` says 1 and there is 1", PASSES,
         body_change(more_files=DROP)),
    Cell("more-files-string", "`more_files` as the string \"false\" (as documented)", PASSES,
         body_change(more_files="false")),
    Cell("more-files-and-total-missing", "neither `more_files` nor `total_count`", FAILS_MALFORMED,
         body_change(more_files=DROP, total_count=DROP), names=("neither more_files nor total_count",)),
    Cell("more-files-number", "`more_files` is the number 1", FAILS_MALFORMED, body_change(more_files=1),
         names=("more_files=1",)),
    Cell("more-files-odd-string", "`more_files` is \"yes\"", FAILS_MALFORMED, body_change(more_files="yes"),
         names=("more_files='yes'",)),
    Cell("more-files-true-on-empty-page", "`more_files` true on a page with no records", FAILS_MALFORMED,
         body_change(data=[], more_files=True), names=("more_files is true but page 1 is empty",)),
    Cell("total-count-too-high", "`total_count` 5, one record, `more_files` false", FAILS_MALFORMED,
         body_change(total_count=5), names=("total_count is 5",), dag=True),
    Cell("total-count-too-low", "`total_count` 0 next to one record", FAILS_MALFORMED, body_change(total_count=0),
         names=("sent 1 records over 1 pages but total_count is 0",)),
    Cell("total-count-string", "`total_count` as the string \"1\" (as documented)", PASSES,
         body_change(total_count="1")),
    Cell("total-count-garbage", "`total_count` is \"many\"", FAILS_MALFORMED, body_change(total_count="many"),
         names=("total_count='many'",)),
    Cell("same-record-on-two-pages", "two pages (page size 1) that both hold file-1, identical", PASSES,
         file_1_on_every_page(), setup=two_pages, lead_in=False, pages=2),
    Cell("same-record-two-versions", "two pages that both hold file-1, FAILED on page 2", FAILS_MALFORMED,
         file_1_on_every_page("FAILED"), setup=two_pages, lead_in=False, pages=2,
         names=("record id 'file-1' twice with different values",)),
    # ---- records with missing, null or odd fields ----------------------------------------------
    Cell("record-not-an-object", "a `data` item that is a string", FAILS_MALFORMED,
         body_change(data=["file-1"]), names=("not a JSON object", "'file-1'")),
    Cell("record-missing-id", "a record with no `id`", PASSES, record_change(id=DROP), file_id=None),
    Cell("record-null-counts", "a record whose row counts are all null", PASSES,
         record_change(total_rows=None, failed_rows=None, added_rows=None, skipped_rows=None, updated_rows=None)),
    Cell("record-count-garbage", "`total_rows` is \"ten\"", FAILS_MALFORMED, record_change(total_rows="ten"),
         names=("unusable 'total_rows': 'ten'",)),
    Cell("record-count-negative", "`failed_rows` is -3", FAILS_MALFORMED, record_change(failed_rows=-3),
         names=("unusable 'failed_rows': -3",)),
    Cell("record-count-unicode-digit", "`total_rows` is \"²\" (a digit to str.isdigit, not to int)",
         FAILS_MALFORMED, record_change(total_rows="²"), names=("unusable 'total_rows': '²'",)),
    Cell("record-missing-status", "a record with no `file_status`", FAILS_MALFORMED,
         record_change(file_status=DROP), names=(f"None, {NOT_KNOWN}",)),
    Cell("record-missing-scheduled-at", "a record with no `scheduled_at`", FAILS_MALFORMED,
         record_change(scheduled_at=DROP), names=("has no scheduled_at",), dag=True),
    # ---- timestamps -----------------------------------------------------------------------------
    Cell("timestamp-naive", "the documented answer: naive timestamps (read in the connection's zone, UTC)",
         PASSES),
    Cell("timestamp-z", "`scheduled_at` with a `Z` suffix", PASSES, record_change(scheduled_at=lambda v: v + "Z")),
    Cell("timestamp-offset-minus-5", "`scheduled_at` as the same instant at -05:00 (wrong if read as UTC: "
         "before the baseline)", PASSES, record_change(scheduled_at=in_zone(-5)), dag=True),
    Cell("timestamp-offset-plus-5-30", "`scheduled_at` as the same instant at +05:30", PASSES,
         record_change(scheduled_at=in_zone(5.5))),
    Cell("timestamp-null", "`scheduled_at` null", FAILS_MALFORMED, record_change(scheduled_at=None),
         names=("has no scheduled_at",)),
    Cell("timestamp-garbage", "`scheduled_at` is \"yesterday\"", FAILS_MALFORMED,
         record_change(scheduled_at="yesterday"), names=("unusable 'scheduled_at': 'yesterday'",)),
    Cell("timestamp-epoch-number", "`scheduled_at` is epoch seconds as a number", FAILS_MALFORMED,
         record_change(scheduled_at=1764000000), names=("unusable 'scheduled_at': 1764000000",)),
    Cell("timestamp-out-of-range", "`scheduled_at` \"0001-01-01T00:00:00+05:00\" (before year 1 in UTC)",
         FAILS_MALFORMED, record_change(scheduled_at="0001-01-01T00:00:00+05:00"),
         names=("unusable 'scheduled_at'", "0001-01-01T00:00:00+05:00")),
    Cell("completed-at-null", "`completed_at` null on a SUCCESSFUL file", PASSES, record_change(completed_at=None)),
    Cell("completed-at-garbage", "`completed_at` is \"soon\"", FAILS_MALFORMED, record_change(completed_at="soon"),
         names=("unusable 'completed_at': 'soon'",)),
    # ---- statuses -------------------------------------------------------------------------------
    Cell("status-unknown", "`file_status` HALF_DONE, outside the vocabulary", FAILS_MALFORMED,
         record_change(file_status="HALF_DONE"), names=(f"'HALF_DONE', {NOT_KNOWN}",), dag=True),
    Cell("status-empty", "`file_status` \"\"", FAILS_MALFORMED, record_change(file_status=""),
         names=(f"'', {NOT_KNOWN}",)),
    Cell("status-null", "`file_status` null", FAILS_MALFORMED, record_change(file_status=None),
         names=(f"None, {NOT_KNOWN}",), dag=True),
    Cell("status-number", "`file_status` the number 1", FAILS_MALFORMED, record_change(file_status=1),
         names=(f"'1', {NOT_KNOWN}",)),
    Cell("status-lower-case", "`file_status` \"successful\"", PASSES, record_change(file_status="successful"),
         dag=True),
    Cell("status-padded-mixed-case", "`file_status` \" Successful \"", PASSES,
         record_change(file_status=" Successful ")),
    Cell("status-failed-lower-case", "`file_status` \"failed\"", GATE_SHUT, record_change(file_status="failed"),
         names=("failed: status failed",)),
    Cell("status-partial-in-words", "`file_status` \"partial success\"", GATE_SHUT,
         record_change(file_status="partial success"), names=("partly failed", "status partial success")),
]  # fmt: skip

DAG_CELLS = [cell for cell in CELLS if cell.dag]


def test_the_table_is_consistent() -> None:
    names = [cell.name for cell in CELLS]
    assert len(names) == len(set(names))
    for cell in CELLS:
        assert cell.verdict in VERDICTS and cell.verdict not in (RECOVERS_ON_RETRY, FAILS_RETRYABLE)
        assert cell.nowait in (None, RECOVERS_ON_RETRY, FAILS_RETRYABLE)
        failing = cell.verdict in (FAILS_AT_ONCE, FAILS_MALFORMED, GATE_SHUT)
        assert bool(cell.names) == failing, f"{cell.name}: a failure must say what was wrong"
    # the DAG selection: every verdict, every error class, both HTTP stacks' transport errors
    # gate-shut spellings (FAILED, PARTIAL_SUCCESS...) already run through every path in tests/test_paths.py
    assert {cell.verdict_on(path) for cell in DAG_CELLS for path in PATHS} == set(VERDICTS) - {GATE_SHUT}
    assert len(DAG_CELLS) * len(PATHS) <= 120  # the CI budget: about 1.5 s a run


# --------------------------------------------------------------------------------------------------
# Arranging a cell
# --------------------------------------------------------------------------------------------------

BASELINE = (datetime.now(UTC) - timedelta(hours=1)).isoformat()


@dataclass(frozen=True)
class _AfterFirstLook(Fault):
    """A fault that lets the first matching request through, so a waiting path sees PROCESSING first."""

    waived: list[int] = field(default_factory=lambda: [1], compare=False)

    def matches(self, offset: int, import_name: str | None) -> bool:
        if not super().matches(offset, import_name):
            return False
        if self.waived[0] > 0:
            self.waived[0] -= 1
            return False
        return True


def after_first_look(fault: Fault) -> Fault:
    return _AfterFirstLook(**{f.name: getattr(fault, f.name) for f in dataclasses.fields(Fault)})


def arrange(emulator: MoEngageEmulator, cell: Cell, lead_in: bool) -> list[Fault]:
    """The standard file (SUCCESSFUL, or PROCESSING for one look first) plus the cell's faults."""
    timeline = [StatusStep("SUCCESSFUL")]
    if lead_in:
        timeline = [StatusStep("PROCESSING"), StatusStep("SUCCESSFUL", after_requests=1)]
    emulator.add_file(
        ScheduledFile(
            "daily_users", id="file-1", file_name="users.csv", scheduled_at="now-1m", timeline=timeline, total_rows=100
        )
    )
    if cell.setup:
        cell.setup(emulator)
    faults = [after_first_look(fault) if lead_in else fault for fault in cell.faults(emulator)]
    for fault in faults:
        emulator.inject(fault)
    return faults


def fault_uses(faults: Sequence[Fault]) -> int:
    return sum(fault.times or 0 for fault in faults)


def connect(emulator: MoEngageEmulator, monkeypatch: pytest.MonkeyPatch, cell: Cell) -> list[str]:
    """Point ``moengage_default`` at the emulator with the cell's extras; return the secrets to scan for."""
    from ..conftest import API_KEY, WORKSPACE
    from .conftest import secrets_of

    extras = {"max_retry_seconds": 10, **{key: value for key, value in cell.conn.items() if key != "password"}}
    connection = json.loads(emulator.connection_json(**extras))
    connection["password"] = cell.conn.get("password", connection["password"])
    monkeypatch.setenv("AIRFLOW_CONN_MOENGAGE_DEFAULT", json.dumps(connection))
    return [*secrets_of(WORKSPACE, API_KEY), *secrets_of(WORKSPACE, connection["password"])]


def statuses(emulator: MoEngageEmulator) -> list[int]:
    return [request.response_status for request in emulator.requests]


# --------------------------------------------------------------------------------------------------
# At the hook: what every worker path runs, over requests
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS, ids=[cell.name for cell in CELLS])
def test_cell_at_the_hook(cell: Cell, emulator, moengage_conn, monkeypatch, caplog) -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    from airflow_provider_moengage.exceptions import MoEngageError
    from airflow_provider_moengage.hooks.moengage import MoEngageHook
    from airflow_provider_moengage.models import Verdict
    from airflow_provider_moengage.waiting import ImportCheck

    from .conftest import Sleeps, leaks

    secrets = connect(emulator, monkeypatch, cell)
    faults = arrange(emulator, cell, lead_in=False)
    check = ImportCheck.build("daily_users", scheduled_after=BASELINE)
    verdict = cell.verdict_on(NOWAIT)  # one look at the hook is what the operator that does not wait does
    texts: dict[str, str] = {}

    def look() -> Any:
        try:
            return check.check(MoEngageHook(sleep=Sleeps()))
        except MoEngageError as err:
            texts[f"error {len(texts)}"] = f"{err} {err!r} {getattr(err, 'to_dict', dict)()}"
            return err

    outcome = look()
    if verdict in (PASSES, RECOVERS):
        assert not isinstance(outcome, Exception), outcome
        assert outcome.verdict is Verdict.SUCCESS and outcome.import_file.id == cell.file_id
        expected = cell.pages if verdict == PASSES else fault_uses(faults) + 1
        assert len(emulator.requests) == expected
    elif verdict == RECOVERS_ON_RETRY:  # the hook's budget runs out first; a second look gets through
        assert isinstance(outcome, MoEngageError) and outcome.transient
        assert not isinstance(outcome, AirflowFailException)
        again = look()
        assert not isinstance(again, Exception) and again.verdict is Verdict.SUCCESS
    elif verdict in (WAITS_THEN_TIMEOUT, FAILS_RETRYABLE):  # the waiting paths turn this into "look again"
        assert isinstance(outcome, MoEngageError) and outcome.transient
        assert not isinstance(outcome, AirflowFailException)
        assert len(emulator.requests) == 5  # max_attempts
    elif verdict == GATE_SHUT:
        assert outcome.verdict is Verdict.FAILURE
        assert all(name in outcome.reason for name in cell.names), outcome.reason
    else:
        assert isinstance(outcome, MoEngageError) and isinstance(outcome, AirflowFailException)
        assert not outcome.transient
        assert len(emulator.requests) == (1 if verdict == FAILS_AT_ONCE else cell.pages)
        missing = [name for name in cell.names if name not in str(outcome)]
        assert not missing, f"{outcome} does not name {missing}"
    texts["log"] = caplog.text
    assert leaks(secrets, texts) == []


# --------------------------------------------------------------------------------------------------
# In the trigger: the deferrable paths' wait, over aiohttp in a real event loop
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS, ids=[cell.name for cell in CELLS])
async def test_cell_in_the_trigger(cell: Cell, emulator, moengage_conn, monkeypatch, caplog) -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    from airflow_provider_moengage.exceptions import MoEngageError
    from airflow_provider_moengage.models import Verdict
    from airflow_provider_moengage.triggers.moengage import MoEngageImportTrigger
    from airflow_provider_moengage.waiting import ImportCheck

    from .conftest import leaks

    secrets = connect(emulator, monkeypatch, cell)
    arrange(emulator, cell, lead_in=False)
    waits_forever = cell.verdict == WAITS_THEN_TIMEOUT
    deadline = DAG_TIMEOUT if waits_forever else 20.0
    check = ImportCheck.build("daily_users", scheduled_after=BASELINE)
    trigger = MoEngageImportTrigger.for_check(
        "moengage_default", check, datetime.now(UTC) + timedelta(seconds=deadline), 0.05
    )
    started = time.monotonic()
    events = trigger.run()
    payload = (await asyncio.wait_for(anext(events), 30)).payload
    took = time.monotonic() - started
    with pytest.raises(StopAsyncIteration):
        await anext(events)  # exactly one event

    texts = {"serialized": json.dumps(trigger.serialize()), "event": json.dumps(payload)}
    if cell.verdict in (PASSES, RECOVERS):
        assert payload["kind"] == "terminal", payload
        assert trigger.check.decision_from_event(payload).verdict is Verdict.SUCCESS
        assert payload["file"]["id"] == cell.file_id
    elif cell.verdict == WAITS_THEN_TIMEOUT:
        assert payload["kind"] == "timeout", payload
        assert took <= deadline + SLACK, f"the trigger reported {took:.2f} s after start, deadline {deadline} s"
        assert len(emulator.requests) >= 2
    elif cell.verdict == GATE_SHUT:
        assert payload["kind"] == "terminal", payload
        decision = trigger.check.decision_from_event(payload)
        assert decision.verdict is Verdict.FAILURE and all(name in decision.reason for name in cell.names)
    else:
        assert payload["kind"] == "error", payload
        assert len(emulator.requests) == (1 if cell.verdict == FAILS_AT_ONCE else cell.pages)
        with pytest.raises(MoEngageError) as raised:
            trigger.check.decision_from_event(payload)
        assert isinstance(raised.value, AirflowFailException) and not raised.value.transient
        missing = [name for name in cell.names if name not in str(raised.value)]
        assert not missing, f"{raised.value} does not name {missing}"
        texts["error"] = f"{raised.value} {raised.value!r}"
    texts["log"] = caplog.text
    assert leaks(secrets, texts) == []


# --------------------------------------------------------------------------------------------------
# Through the five paths, as real Airflow DAG runs
# --------------------------------------------------------------------------------------------------


def dag_for(cell: Cell, path: str) -> str:
    verdict = cell.verdict_on(path)
    return PATHS[path] + ("_timeout" if verdict in (WAITS_THEN_TIMEOUT, FAILS_RETRYABLE) else "")


@pytest.mark.parametrize("path", list(PATHS), ids=[PATHS[path] for path in PATHS])
@pytest.mark.parametrize("cell", DAG_CELLS, ids=[cell.name for cell in DAG_CELLS])
def test_cell_through_the_dag_path(cell: Cell, path: str, emulator, run_dag, monkeypatch, trigger_spy) -> None:
    from .conftest import leaks, rendered_fields

    secrets = connect(emulator, monkeypatch, cell)
    lead = int(cell.lead_in and path != NOWAIT)
    faults = arrange(emulator, cell, lead_in=bool(lead))
    dag_id, verdict = dag_for(cell, path), cell.verdict_on(path)
    result = run_dag(dag_id, scheduled_after=BASELINE)
    seen, log = statuses(emulator), result.output[-4000:]

    if verdict in (PASSES, RECOVERS, RECOVERS_ON_RETRY):
        assert result.state_of("check") == "success", log
        assert result.state_of("campaign") == "success"
        assert result.tries_of("check") == (2 if verdict == RECOVERS_ON_RETRY else 1)
        gate = result.xcom("check")
        assert gate["file_id" if path.startswith("operator") else "id"] == cell.file_id
        assert normalized(gate["file_status"]) == "SUCCESSFUL"
        expected = lead + (cell.pages if verdict == PASSES else fault_uses(faults) + 1)
        assert len(seen) == expected, seen
    else:  # nothing else is a success
        assert result.state_of("check") == "failed", log
        assert result.state_of("campaign") == "upstream_failed"
        assert result.xcom("check") is None and result.xcom("campaign") is None
        if verdict == FAILS_RETRYABLE:
            assert result.tries_of("check") == 4  # retries=3: a transient failure is left to Airflow
            assert set(seen) == {fault.status for fault in faults}, seen
        else:
            assert result.tries_of("check") == 1  # never retried by Airflow, though the task has retries=3
        if verdict == FAILS_AT_ONCE:
            assert len(seen) == lead + 1 and seen[-1] // 100 == 4 and seen[-1] != 429, seen
        elif verdict in (FAILS_MALFORMED, GATE_SHUT):
            assert len(seen) == lead + cell.pages and set(seen) == {200}, seen
        elif verdict == WAITS_THEN_TIMEOUT:
            assert len(seen) >= lead + 1 and set(seen[lead:]) == {fault.status for fault in faults}, seen
            assert "timeout" in result.output.lower()
            # The wait starts with its first request; after the timeout only the look that finds it ran out
            # may still send one (reschedule mode always pokes once more before it checks).
            began = emulator.requests[0].at
            late = [round(r.at - began, 2) for r in emulator.requests if r.at > began + DAG_TIMEOUT + 0.25]
            assert len(late) <= 1, f"requests sent after the timeout ran out, at seconds into the wait: {late}"
        missing = [name for name in cell.names if name not in result.output]
        assert not missing, f"the task's log does not name {missing}: {log}"

    haystacks = {
        "task logs": result.output,
        "xcom": json.dumps({str(key): value for key, value in result.xcoms.items()}, default=str),
        "rendered fields": rendered_fields(dag_id, result.run_id),
        "trigger kwargs and events": trigger_spy.text(),
    }
    if path == "sensor deferrable" and verdict in (WAITS_THEN_TIMEOUT, RECOVERS):
        assert trigger_spy.serialized, "the deferrable path should have deferred"
    assert leaks(secrets, haystacks) == []


def normalized(status: str) -> str:
    return status.strip().upper()


# --------------------------------------------------------------------------------------------------
# The doc cannot drift from the table
# --------------------------------------------------------------------------------------------------


def test_reliability_doc_matches_the_table() -> None:
    from . import render

    expected = render.updated(render.DOC.read_text(encoding="utf-8"))
    if render.update_requested():
        render.DOC.write_text(expected, encoding="utf-8")
    assert render.DOC.read_text(encoding="utf-8") == expected, (
        "docs/reliability.md is out of date: run `python -m tests.hardening.render` "
        "(or UPDATE_RELIABILITY_DOC=1 pytest tests/hardening -k reliability_doc)"
    )
