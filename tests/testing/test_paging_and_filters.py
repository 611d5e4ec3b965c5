"""Pages of 50, in a shuffled but stable order, and the documented filters."""

from __future__ import annotations

import pytest

from airflow_provider_moengage.testing import ScheduledFile

from .conftest import Client


def add_files(emulator, count: int, import_name: str = "daily_users") -> list[str]:
    return [emulator.add_file(ScheduledFile(import_name)).id for _ in range(count)]


def test_sixty_files_come_in_pages_of_50_and_10(emulator, client: Client):
    add_files(emulator, 60)

    first, second = client.pages({"import_name": "daily_users"})

    assert (first["offset"], len(first["data"]), first["more_files"], first["total_count"]) == (1, 50, True, 60)
    assert (second["offset"], len(second["data"]), second["more_files"], second["total_count"]) == (2, 10, False, 60)


def test_page_beyond_the_end_is_empty(emulator, client: Client):
    add_files(emulator, 3)

    body = client.post({"offset": 2}).json()

    assert (body["data"], body["more_files"], body["total_count"], body["offset"]) == ([], False, 3, 2)


def test_no_files_is_an_empty_success(client: Client):
    assert client.post({"import_name": "nothing"}).json() == {
        "status": "success",
        "total_count": 0,
        "data": [],
        "offset": 1,
        "more_files": False,
    }


def test_more_files_and_total_count_can_be_strings(make_emulator):
    emulator = make_emulator(more_files_as="string", total_count_as="string")
    add_files(emulator, 51)
    client = Client(emulator)

    first, second = client.pages({})

    assert (first["more_files"], first["total_count"]) == ("true", "51")
    assert (second["more_files"], second["total_count"]) == ("false", "51")


def test_page_size_is_configurable(make_emulator):
    emulator = make_emulator(page_size=2)
    add_files(emulator, 5)

    assert [len(page["data"]) for page in Client(emulator).pages({})] == [2, 2, 1]


def test_order_is_shuffled_and_every_file_comes_exactly_once(emulator, client: Client):
    added = add_files(emulator, 120)

    served = [record["id"] for page in client.pages({}) for record in page["data"]]

    assert sorted(served) == sorted(added)
    assert served != added


def test_order_is_stable_across_pages_and_repeated_queries(emulator, client: Client):
    add_files(emulator, 60)

    first_read = [record["id"] for page in client.pages({}) for record in page["data"]]
    second_read = [record["id"] for page in client.pages({}) for record in page["data"]]

    assert first_read == second_read


def test_same_seed_gives_the_same_order(make_emulator):
    orders = []
    for _ in range(2):
        emulator = make_emulator(shuffle_seed=7)
        names = [emulator.add_file(ScheduledFile("daily", file_name=f"f{n}.csv")).file_name for n in range(20)]
        served = [record["file_name"] for record in Client(emulator).post({}).json()["data"]]
        assert sorted(served) == sorted(names)
        orders.append(served)

    assert orders[0] == orders[1]


def test_no_seed_keeps_insertion_order(make_emulator):
    emulator = make_emulator(shuffle_seed=None)
    added = add_files(emulator, 10)

    assert [record["id"] for record in Client(emulator).post({}).json()["data"]] == added


def test_a_filtered_subset_keeps_the_relative_order(emulator, client: Client):
    add_files(emulator, 10, "users")
    add_files(emulator, 10, "events")

    everything = [record["id"] for record in client.post({}).json()["data"]]
    users = [record["id"] for record in client.post({"import_name": "users"}).json()["data"]]

    assert users == [file_id for file_id in everything if file_id in set(users)]


def test_default_file_names_count_per_import(emulator, client: Client):
    names = [emulator.add_file(ScheduledFile(name)).file_name for name in ("users", "events", "users")]

    assert names == ["users_1.csv", "events_1.csv", "users_2.csv"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"import_name": "users"}, {"users-s3", "users-sftp"}),
        ({"import_type": "EVENTS"}, {"events-onetime"}),
        ({"import_type": ["EVENTS", "AUX_DATA"]}, {"events-onetime", "aux-failed"}),
        ({"schedule_type": ["ONETIME"]}, {"events-onetime"}),
        ({"file_source": "SFTP"}, {"users-sftp"}),
        ({"schedule_status": ["FAILED"]}, {"aux-failed"}),
        ({"schedule_status": ["FAILED"], "file_source": "S3"}, {"aux-failed"}),
        ({}, {"users-s3", "users-sftp", "events-onetime", "aux-failed"}),
    ],
    ids=["import_name", "import_type", "import_types", "schedule_type", "file_source", "status", "combined", "none"],
)
def test_filters(emulator, client: Client, body, expected):
    emulator.add_files(
        [
            ScheduledFile("users", file_name="users-s3"),
            ScheduledFile("users", file_name="users-sftp", file_source="SFTP"),
            ScheduledFile("events", file_name="events-onetime", type="EVENTS", schedule_type="ONETIME"),
            ScheduledFile("aux", status="FAILED", file_name="aux-failed", type="AUX_DATA"),
        ]
    )

    response = client.post(body).json()

    assert {record["file_name"] for record in response["data"]} == expected
    assert response["total_count"] == len(expected)


def test_import_name_is_matched_exactly(emulator, client: Client):
    emulator.add_file(ScheduledFile("daily_users"))

    assert client.post({"import_name": "daily"}).json()["total_count"] == 0
    assert client.post({"import_name": "DAILY_USERS"}).json()["total_count"] == 0
