"""The status vocabulary, the records, the latest-file choice and the one decision function."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_moengage.exceptions import (
    MoEngageConfigurationError,
    MoEngageUnexpectedResponseError,
    MoEngageUnknownStatusError,
)
from airflow_provider_moengage.models import (
    ImportFile,
    StatusPolicy,
    Verdict,
    latest_file,
    normalize_status,
    parse_baseline,
    parse_timestamp,
)

UTC = UTC


def make_file(status: object = "SUCCESSFUL", **fields: object) -> ImportFile:
    record = {
        "id": "f1",
        "file_name": "users.csv",
        "scheduled_at": "2026-12-03T06:00:00",
        "completed_at": "2026-12-03T06:05:00",
        "file_status": status,
        "total_rows": 100,
        "failed_rows": 0,
        **fields,
    }
    return ImportFile.from_api(record, "daily_users")


DECISIONS = [
    ("SUCCESSFUL", Verdict.SUCCESS),
    ("successful", Verdict.SUCCESS),
    ("FAILED", Verdict.FAILURE),
    ("PARTIAL_SUCCESS", Verdict.FAILURE),
    ("partial success", Verdict.FAILURE),
    ("PARTIAL_FAILURE", Verdict.FAILURE),
    ("ARCHIVED", Verdict.FAILURE),
    ("SCHEDULED", Verdict.PENDING),
    ("QUEUED", Verdict.PENDING),
    ("Processing", Verdict.PENDING),
    ("WAITING", Verdict.PENDING),
]


@pytest.mark.parametrize(("status", "verdict"), DECISIONS, ids=[d[0] for d in DECISIONS])
def test_decision_table(status: str, verdict: Verdict) -> None:
    assert StatusPolicy().decide(make_file(status)).verdict is verdict


@pytest.mark.parametrize("status", [None, "", "   ", "DONE", "CANCELLED", 7], ids=repr)
def test_unknown_or_missing_status_is_a_named_error(status: object) -> None:
    record = make_file(status)
    with pytest.raises(MoEngageUnknownStatusError) as caught:
        StatusPolicy().decide(record)
    assert repr(record.file_status) in str(caught.value)


def test_no_file_is_pending() -> None:
    decision = StatusPolicy().decide(None)
    assert decision.verdict is Verdict.PENDING and not decision.is_terminal


def test_user_statuses_extend_the_vocabulary() -> None:
    policy = StatusPolicy.build(pending_statuses=["uploading"], failure_statuses=["cancelled"])
    assert policy.decide(make_file("UPLOADING")).verdict is Verdict.PENDING
    assert policy.decide(make_file("Cancelled")).verdict is Verdict.FAILURE


@pytest.mark.parametrize(
    ("options", "failed", "total", "verdict"),
    [
        ({"allow_partial_success": True}, 800, 5000, Verdict.SUCCESS),
        ({"max_failed_rows": 10}, 10, 5000, Verdict.SUCCESS),
        ({"max_failed_rows": 10}, 11, 5000, Verdict.FAILURE),
        ({"max_failed_ratio": 0.01}, 50, 5000, Verdict.SUCCESS),
        ({"max_failed_ratio": 0.01}, 51, 5000, Verdict.FAILURE),
        ({"max_failed_ratio": 0.5}, 1, None, Verdict.FAILURE),
        ({"max_failed_rows": 10}, None, 5000, Verdict.FAILURE),
        ({}, 1, 5000, Verdict.FAILURE),
    ],
    ids=[
        "allow",
        "rows-at-limit",
        "rows-over",
        "ratio-at-limit",
        "ratio-over",
        "ratio-no-total",
        "no-failed",
        "default",
    ],
)
def test_partial_success_acceptance(options: dict, failed: object, total: object, verdict: Verdict) -> None:
    policy = StatusPolicy.build(**options)
    decision = policy.decide(make_file("PARTIAL_SUCCESS", failed_rows=failed, total_rows=total))
    assert decision.verdict is verdict


def test_failure_reason_names_import_file_status_rows_and_message() -> None:
    decision = StatusPolicy().decide(
        make_file("PARTIAL_SUCCESS", failed_rows=800, total_rows=5000, status_msg="invalid user_id")
    )
    for part in ("'daily_users'", "'users.csv'", "f1", "PARTIAL_SUCCESS", "800 of 5000", "invalid user_id"):
        assert part in decision.reason


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"allow_partial_success": True, "max_failed_rows": 3}, "allow_partial_success"),
        ({"max_failed_rows": -1}, "max_failed_rows"),
        ({"max_failed_rows": 1.5}, "max_failed_rows"),
        ({"max_failed_ratio": 2}, "max_failed_ratio"),
        ({"max_failed_ratio": float("nan")}, "max_failed_ratio"),
        ({"pending_statuses": ["SUCCESSFUL"]}, "pending_statuses"),
        ({"failure_statuses": ["QUEUED"]}, "failure_statuses"),
        ({"pending_statuses": ["X"], "failure_statuses": ["X"]}, "pending_statuses"),
        ({"allow_partial_success": "yes"}, "allow_partial_success"),
    ],
    ids=lambda v: str(v),
)
def test_contradictory_or_bad_policy_options_name_the_argument(options: dict, argument: str) -> None:
    with pytest.raises(MoEngageConfigurationError, match=argument):
        StatusPolicy.build(**options)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-11-14T12:31:31.713000", datetime(2024, 11, 14, 12, 31, 31, 713000, tzinfo=UTC)),
        ("2024-11-14T12:31:31Z", datetime(2024, 11, 14, 12, 31, 31, tzinfo=UTC)),
        ("2024-11-14T18:01:31+05:30", datetime(2024, 11, 14, 12, 31, 31, tzinfo=UTC)),
        ("2024-11-14 12:31:31", datetime(2024, 11, 14, 12, 31, 31, tzinfo=UTC)),
        (None, None),
        ("", None),
    ],
)
def test_timestamps_in_several_shapes(value: str | None, expected: datetime | None) -> None:
    assert parse_timestamp(value) == expected


def test_naive_timestamps_are_read_in_the_connection_zone() -> None:
    parsed = parse_timestamp("2024-11-14T17:09:30", ZoneInfo("Asia/Kolkata"))
    assert parsed == datetime(2024, 11, 14, 11, 39, 30, tzinfo=UTC)


def test_garbage_timestamp_in_a_record_fails_naming_the_field() -> None:
    with pytest.raises(MoEngageUnexpectedResponseError, match="scheduled_at"):
        make_file(scheduled_at="yesterday-ish")


def test_counts_are_ints_and_file_size_numeric_when_it_can_be() -> None:
    record = make_file(total_rows="10", failed_rows=0, file_size="1544")
    assert record.total_rows == 10 and record.file_size == 1544
    assert make_file(file_size="1.5 MB").file_size == "1.5 MB"
    with pytest.raises(MoEngageUnexpectedResponseError, match="total_rows"):
        make_file(total_rows="ten")


def test_import_level_records_are_read_as_the_latest_run() -> None:
    record = ImportFile.from_api(
        {
            "import_id": "67348ff2",
            "import_name": "Special",
            "last_run_status": "FAILED",
            "last_run_at": "2024-11-13T17:09:32.024000",
            "status": "SCHEDULED",
            "total_rows": 10,
            "processed_rows": 4,
        }
    )
    assert (record.shape, record.id, record.file_status, record.failed_rows) == ("import", "67348ff2", "FAILED", 6)
    assert StatusPolicy().decide(record).verdict is Verdict.FAILURE


def test_record_round_trips_through_to_dict() -> None:
    record = make_file("FAILED", status_msg="bad rows")
    assert ImportFile.from_dict(record.to_dict()) == record


def _files(count: int) -> list[ImportFile]:
    return [
        ImportFile.from_api(
            {
                "id": f"id{i:03d}",
                "file_status": "SUCCESSFUL",
                "scheduled_at": f"2026-12-{1 + i % 28:02d}T{i % 24:02d}:00:00",
            }
        )
        for i in range(count)
    ]


def test_latest_file_is_order_independent() -> None:
    files = _files(60)
    expected = max(files, key=lambda f: (f.scheduled_at, f.id))
    for seed in range(5):
        random.Random(seed).shuffle(files)
        assert latest_file(files) == expected


def test_latest_file_ignores_files_before_the_baseline_and_breaks_ties() -> None:
    old = make_file(id="old", scheduled_at="2026-12-01T06:00:00")
    a = make_file(id="a", scheduled_at="2026-12-03T06:00:00", completed_at="2026-12-03T06:01:00")
    b = make_file(id="b", scheduled_at="2026-12-03T06:00:00", completed_at="2026-12-03T06:02:00")
    c = make_file(id="c", scheduled_at="2026-12-03T06:00:00", completed_at="2026-12-03T06:02:00")
    baseline = datetime(2026, 12, 2, tzinfo=UTC)
    assert latest_file([old], baseline) is None
    assert latest_file([c, old, a, b], baseline) is c


def test_latest_file_refuses_records_without_time() -> None:
    with pytest.raises(MoEngageUnexpectedResponseError, match="scheduled_at"):
        latest_file([make_file(), make_file(id="x", scheduled_at=None)])


@pytest.mark.parametrize("value", ["not a date", "2026-13-01", 12])
def test_bad_baseline_names_the_argument(value: object) -> None:
    with pytest.raises(MoEngageConfigurationError, match="scheduled_after"):
        parse_baseline(value)


def test_baseline_accepts_airflow_rendered_values() -> None:
    assert parse_baseline("2026-12-03T00:00:00+00:00") == datetime(2026, 12, 3, tzinfo=UTC)
    assert parse_baseline("2026-12-03 05:30:00+05:30") == datetime(2026, 12, 3, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "canonical"), [(" partial-success ", "PARTIAL_SUCCESS"), ("", None), (None, None)])
def test_normalize_status(raw: object, canonical: str | None) -> None:
    assert normalize_status(raw) == canonical
