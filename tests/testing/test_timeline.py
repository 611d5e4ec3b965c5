"""Files move through their timelines by served requests or by emulator-clock time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from airflow_provider_moengage.testing import REMOVE, ScheduledFile, StatusStep

if TYPE_CHECKING:
    from .conftest import Client

DEMO_TIMELINE = [
    StatusStep("QUEUED"),
    StatusStep("PROCESSING", after_requests=1),
    StatusStep("SUCCESSFUL", after_requests=3, fields={"total_rows": 1000, "added_rows": 990, "updated_rows": 10}),
]


def statuses(client: Client, count: int, import_name: str = "daily_users") -> list[str | None]:
    return [client.post({"import_name": import_name}).json()["data"][0]["file_status"] for _ in range(count)]


def test_after_requests_counts_requests_served_before(emulator, client: Client):
    emulator.add_file(ScheduledFile("daily_users", timeline=DEMO_TIMELINE))

    assert statuses(client, 5) == ["QUEUED", "PROCESSING", "PROCESSING", "SUCCESSFUL", "SUCCESSFUL"]


def test_step_fields_apply_from_their_step_on(emulator, client: Client):
    emulator.add_file(ScheduledFile("daily_users", timeline=DEMO_TIMELINE))

    records = [client.post({"import_name": "daily_users"}).json()["data"][0] for _ in range(4)]

    assert [record["total_rows"] for record in records] == [0, 0, 0, 1000]
    assert (records[3]["added_rows"], records[3]["updated_rows"]) == (990, 10)


def test_requests_count_per_import(emulator, client: Client):
    emulator.add_file(ScheduledFile("daily_users", timeline=DEMO_TIMELINE))
    emulator.add_file(ScheduledFile("daily_events", timeline=DEMO_TIMELINE))

    statuses(client, 4, "daily_events")

    assert statuses(client, 1, "daily_users") == ["QUEUED"]
    assert emulator.status_requests_count("daily_events") == 4
    assert emulator.status_requests_count("daily_users") == 1
    assert emulator.status_requests_count() == 5


def test_a_status_filter_does_not_stop_the_timeline(emulator, client: Client):
    emulator.add_file(ScheduledFile("daily_users", timeline=DEMO_TIMELINE))

    totals = [
        client.post({"import_name": "daily_users", "schedule_status": ["SUCCESSFUL"]}).json()["total_count"]
        for _ in range(4)
    ]

    assert totals == [0, 0, 0, 1]


def test_requests_that_fail_do_not_move_the_timeline(emulator, client: Client):
    emulator.add_file(ScheduledFile("daily_users", timeline=DEMO_TIMELINE))

    client.post({"import_name": "daily_users", "offset": 0})
    client.post({"import_name": "daily_users"}, headers={"MOE-APPKEY": None})

    assert statuses(client, 1) == ["QUEUED"]


def test_a_file_added_later_starts_its_own_count(emulator, client: Client):
    emulator.add_file(ScheduledFile("daily_users", status="SUCCESSFUL", scheduled_at="now-1d"))
    statuses(client, 5)

    late = emulator.add_file(ScheduledFile("daily_users", timeline=DEMO_TIMELINE))

    assert emulator.current_record(late.id)["file_status"] == "QUEUED"


def test_after_seconds_follows_the_manual_clock(emulator, client: Client, clock):
    timeline = [
        StatusStep("QUEUED"),
        StatusStep("PROCESSING", after_seconds=30),
        StatusStep("FAILED", after_seconds=90),
    ]
    emulator.add_file(ScheduledFile("daily_users", timeline=timeline))

    seen = []
    for advance in (0, 29.9, 0.1, 59.9, 0.1):
        clock.advance(advance)
        seen += statuses(client, 1)

    assert seen == ["QUEUED", "QUEUED", "PROCESSING", "PROCESSING", "FAILED"]


def test_either_condition_moves_a_step(emulator, client: Client, clock):
    timeline = [StatusStep("QUEUED"), StatusStep("SUCCESSFUL", after_seconds=60, after_requests=100)]
    emulator.add_file(ScheduledFile("daily_users", timeline=timeline))

    clock.advance(60)

    assert statuses(client, 1) == ["SUCCESSFUL"]


def test_the_last_step_that_holds_is_current(emulator, client: Client, clock):
    timeline = [StatusStep("QUEUED"), StatusStep("PROCESSING", after_seconds=10), StatusStep("DONE", after_requests=1)]
    emulator.add_file(ScheduledFile("daily_users", timeline=timeline))

    assert statuses(client, 1) == ["QUEUED"]
    clock.advance(10)
    assert statuses(client, 1) == ["DONE"]


@pytest.mark.parametrize("status", [None, "PARTIAL_FAILURE", "WAITING", "successful", ""], ids=repr)
def test_any_status_is_served_as_given(emulator, client: Client, status):
    emulator.add_file(ScheduledFile("daily_users", status=status))

    assert statuses(client, 1) == [status]


def test_set_status_overrides_the_rest_of_the_timeline(emulator, client: Client):
    file = emulator.add_file(ScheduledFile("daily_users", timeline=DEMO_TIMELINE))

    emulator.set_status(file.id, "FAILED", status_msg="Applicable rate limit breached", failed_rows=5)

    record = client.post({"import_name": "daily_users"}).json()["data"][0]
    assert (record["file_status"], record["status_msg"], record["failed_rows"]) == (
        "FAILED",
        "Applicable rate limit breached",
        5,
    )
    assert statuses(client, 4) == ["FAILED"] * 4


def test_set_status_of_an_unknown_file_says_which_exist(emulator):
    file = emulator.add_file(ScheduledFile("daily_users"))

    with pytest.raises(KeyError, match=file.id):
        emulator.set_status("nope", "FAILED")


def test_set_status_rejects_unknown_fields(emulator):
    file = emulator.add_file(ScheduledFile("daily_users"))

    with pytest.raises(ValueError, match="cannot set"):
        emulator.set_status(file.id, "FAILED", file_status="X")


class TestTimestamps:
    """``scheduled_at`` and ``completed_at``: relative forms, and a completed_at only once terminal."""

    def test_relative_scheduled_at_resolves_against_the_emulator_wall_clock(self, emulator, client: Client):
        emulator.add_file(ScheduledFile("daily_users", scheduled_at="now-10m"))

        record = client.post().json()["data"][0]

        assert record["scheduled_at"] == "2024-11-14T12:21:31.713000"

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("now", "2024-11-14T12:31:31.713000"),
            ("now+30s", "2024-11-14T12:32:01.713000"),
            ("now-2h", "2024-11-14T10:31:31.713000"),
            ("now-1d", "2024-11-13T12:31:31.713000"),
            ("2024-01-02T03:04:05", "2024-01-02T03:04:05.000000"),
            ("2024-01-02T03:04:05+05:30", "2024-01-01T21:34:05.000000"),
            (datetime(2024, 1, 2, 3, 4, 5, 6), "2024-01-02T03:04:05.000006"),
        ],
    )
    def test_forms(self, emulator, client: Client, value, expected):
        emulator.add_file(ScheduledFile("daily_users", scheduled_at=value))

        assert client.post().json()["data"][0]["scheduled_at"] == expected

    def test_bad_timestamp_fails_where_the_file_is_written(self):
        with pytest.raises(ValueError, match="now-10m"):
            ScheduledFile("daily_users", scheduled_at="yesterday")

    def test_completed_at_is_null_until_terminal(self, emulator, client: Client, clock):
        timeline = [StatusStep("PROCESSING"), StatusStep("SUCCESSFUL", after_seconds=60)]
        emulator.add_file(ScheduledFile("daily_users", scheduled_at="now", timeline=timeline))

        before = client.post().json()["data"][0]["completed_at"]
        clock.advance(100)
        after = client.post().json()["data"][0]["completed_at"]

        assert before is None
        # Reached by time: when its 60 s came, not when the client looked at 100 s.
        assert after == "2024-11-14T12:32:31.713000"

    def test_completed_at_of_a_file_reached_by_requests_is_stable(self, emulator, client: Client, clock):
        emulator.add_file(ScheduledFile("daily_users", timeline=DEMO_TIMELINE))
        statuses(client, 3)
        clock.advance(5)

        first = client.post().json()["data"][0]["completed_at"]
        clock.advance(5)
        second = client.post().json()["data"][0]["completed_at"]

        assert first == second == "2024-11-14T12:31:36.713000"

    def test_a_file_terminal_from_the_start_completed_a_run_after_it_was_scheduled(self, emulator, client: Client):
        file = emulator.add_file(ScheduledFile("daily_users", scheduled_at="now-2d"))

        record = client.post().json()["data"][0]

        completed = datetime.fromisoformat(record["completed_at"])
        assert timedelta(0) < completed - file.scheduled_datetime < timedelta(minutes=5)

    def test_explicit_completed_at_is_served_once_terminal(self, emulator, client: Client):
        timeline = [StatusStep("PROCESSING"), StatusStep("SUCCESSFUL", after_requests=1)]
        emulator.add_file(ScheduledFile("daily_users", completed_at="now-1m", timeline=timeline))

        served = [client.post().json()["data"][0]["completed_at"] for _ in range(2)]

        assert served == [None, "2024-11-14T12:30:31.713000"]


class TestOddRecords:
    """``extra_fields`` and shapes let tests serve records the docs do not promise."""

    def test_extra_fields_override_and_add(self, emulator, client: Client):
        emulator.add_file(ScheduledFile("daily_users", extra_fields={"file_status": "odd", "new_key": [1]}))

        record = client.post().json()["data"][0]

        assert (record["file_status"], record["new_key"]) == ("odd", [1])

    def test_remove_drops_a_key(self, emulator, client: Client):
        emulator.add_file(ScheduledFile("daily_users", extra_fields={"completed_at": REMOVE, "id": REMOVE}))

        record = client.post().json()["data"][0]

        assert "completed_at" not in record
        assert "id" not in record

    def test_step_extra_fields_merge_with_the_file_ones(self, emulator, client: Client):
        timeline = [StatusStep("SUCCESSFUL", fields={"extra_fields": {"b": 2}})]
        emulator.add_file(ScheduledFile("daily_users", extra_fields={"a": 1}, timeline=timeline))

        record = client.post().json()["data"][0]

        assert (record["a"], record["b"]) == (1, 2)

    def test_import_shape_serves_import_level_records(self, emulator, client: Client):
        file = emulator.add_file(
            ScheduledFile("Special", shape="import", type="AUX_DATA", schedule_type="ONETIME", status="FAILED")
        )

        record = client.post({"import_name": "Special"}).json()["data"][0]

        assert record["import_id"] == file.id
        assert (record["import_name"], record["last_run_status"], record["status"]) == ("Special", "FAILED", "FAILED")
        assert (record["import_type"], record["schedule_type"], record["import_source"]) == (
            "AUX_DATA",
            "ONETIME",
            "S3",
        )
        assert record["next_scheduled_at"] is None
        assert record["aux_data_config"]["retention_type"] == "DAYS"
        assert {"created_at", "last_run_at", "total_rows", "processed_rows", "time_zone"} <= set(record)

    def test_periodic_import_shape_has_a_next_run(self, emulator, client: Client):
        emulator.add_file(ScheduledFile("daily", shape="import", scheduled_at="2024-11-14T12:00:00"))

        record = client.post().json()["data"][0]

        assert record["next_scheduled_at"] == "2024-11-15T12:00:00.000000"


def test_current_record_does_not_count_as_a_request(emulator):
    file = emulator.add_file(ScheduledFile("daily_users", timeline=DEMO_TIMELINE))

    records = [emulator.current_record(file.id)["file_status"] for _ in range(5)]

    assert records == ["QUEUED"] * 5
    assert emulator.status_requests_count() == 0


def test_adding_the_same_file_twice_is_refused(emulator):
    file = ScheduledFile("daily_users")
    emulator.add_file(file)

    with pytest.raises(ValueError, match="already served"):
        emulator.add_file(file)


def test_add_file_returns_a_resolved_copy(emulator):
    original = ScheduledFile("daily_users", scheduled_at="now")

    stored = emulator.add_file(original)

    assert original.scheduled_at == "now"
    assert stored.scheduled_at == datetime(2024, 11, 14, 12, 31, 31, 713000)
    assert stored.id == original.id
    assert emulator.files == [stored]
