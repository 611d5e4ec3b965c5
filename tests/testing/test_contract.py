"""The emulator answers each kind of request with the status and body MoEngage documents."""

from __future__ import annotations

import pytest

from airflow_provider_moengage.testing import HISTORY_PATH, STATUS_PATH, ScheduledFile

from .conftest import API_KEY, WORKSPACE, Client, documented_headers

UNABLE_TO_PROCESS = {"success": False, "status_code": "400 Bad Request", "data": "Unable to process the request"}
INVALID_OFFSET = {
    "status": "FAILURE",
    "error_type": "Invalid Offset Value",
    "message": "The offset value you have provided is not valid...",
}
INVALID_DATE = {
    "status": "FAILURE",
    "error_type": "Invalid Date format",
    "message": "The provided date format is either incorrect or doesn't match the entered dates...",
}
DATE_RANGE = {
    "status": "FAILURE",
    "error_type": "Difference exceeds 30 days",
    "message": "Please note that only imports with a date difference of 30 can be displayed...",
}
IMPORT_NOT_FOUND = {
    "status": "FAILURE",
    "error_type": "Import Doesn't Exist",
    "message": "No import exist in the database with the given query parameters.",
}
RECORD_KEYS = [
    "id",
    "file_name",
    "scheduled_at",
    "completed_at",
    "type",
    "file_size",
    "file_status",
    "status_msg",
    "total_rows",
    "skipped_rows",
    "updated_rows",
    "failed_rows",
    "aux_data_added_count",
    "aux_data_failed_count",
    "added_rows",
]


def test_success_envelope_and_record_match_the_documented_example(emulator, client: Client):
    emulator.add_file(
        ScheduledFile(
            "aux_import",
            id="672561rr0abd2da34cf7f7df",
            file_name="filename.csv",
            type="AUX_DATA",
            scheduled_at="2024-11-14T12:31:31.713000",
            completed_at="2024-11-14T12:32:09.942000",
            total_rows=10,
            aux_data_added_count=10,
            added_rows=10,
        )
    )

    response = client.post({"import_name": "aux_import", "import_type": ["AUX_DATA"], "offset": "1"})

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "success",
        "total_count": 1,
        "data": [
            {
                "id": "672561rr0abd2da34cf7f7df",
                "file_name": "filename.csv",
                "scheduled_at": "2024-11-14T12:31:31.713000",
                "completed_at": "2024-11-14T12:32:09.942000",
                "type": "AUX_DATA",
                "file_size": "1544",
                "file_status": "SUCCESSFUL",
                "status_msg": "",
                "total_rows": 10,
                "skipped_rows": 0,
                "updated_rows": 0,
                "failed_rows": 0,
                "aux_data_added_count": 10,
                "aux_data_failed_count": 0,
                "added_rows": 10,
            }
        ],
        "offset": 1,
        "more_files": False,
    }


def test_record_keys_come_in_the_documented_order(emulator, client: Client):
    emulator.add_file(ScheduledFile("daily_users"))

    assert list(client.post().json()["data"][0]) == RECORD_KEYS


def test_every_response_carries_a_request_id(emulator, client: Client):
    ids = {client.post().headers["x-request-id"], client.post(path="/nope").headers["x-request-id"]}

    assert len(ids) == 2
    assert all(request_id.startswith("req-") for request_id in ids)


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/v1.0/data/fileimports/import/unknown", 404, {"status": "fail", "data": "Resource not found."}),
        ("/", 404, {"status": "fail", "data": "Resource not found."}),
    ],
    ids=["unknown-endpoint", "root"],
)
def test_unknown_path_is_404(client: Client, path, status, body):
    response = client.post(path=path)

    assert (response.status_code, response.json()) == (status, body)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_wrong_method_on_a_known_path_is_405(client: Client, method):
    response = client.post(method=method)

    assert (response.status_code, response.json()) == (405, {"status": "fail", "message": "Method not allowed"})


def test_path_is_checked_before_auth(client: Client):
    response = client.post(path="/nope", headers={"Authorization": None, "MOE-APPKEY": None})

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("headers", "title", "description"),
    [
        ({"MOE-APPKEY": None}, "HeaderMissing", "MOE-APPKEY is missing in Header"),
        ({"Authorization": None}, "AuthenticationInvalid", "Password (APP_KEY) doesn't match..."),
        (
            {"Authorization": documented_headers(api_key="wrong-key")["Authorization"]},
            "AuthenticationInvalid",
            "Password (APP_KEY) doesn't match...",
        ),
        (
            {"Authorization": documented_headers(workspace="OTHER")["Authorization"]},
            "AuthenticationInvalid",
            "Password (APP_KEY) doesn't match...",
        ),
        ({"Authorization": "Basic not-base64!"}, "AuthenticationInvalid", "Password (APP_KEY) doesn't match..."),
        ({"Authorization": "Bearer abc"}, "AuthenticationInvalid", "Password (APP_KEY) doesn't match..."),
        (
            {"MOE-APPKEY": "OTHER_WORKSPACE"},
            "HeaderMismatch",
            "MOE_APPKEY doesn't match the Username (APP_KEY) used in Basic Auth authorization",
        ),
    ],
    ids=["no-moe-appkey", "no-basic-auth", "wrong-key", "wrong-user", "garbled-basic", "not-basic", "mismatch"],
)
def test_auth_failures_are_401_with_documented_bodies(client: Client, headers, title, description):
    response = client.post(headers=headers)

    assert response.status_code == 401
    assert response.json() == {"title": title, "description": description}


def test_missing_moe_appkey_is_reported_before_bad_credentials(client: Client):
    response = client.post(headers={"MOE-APPKEY": None, "Authorization": None})

    assert response.json()["title"] == "HeaderMissing"


def test_auth_accepts_what_requests_sends_for_basic_auth(emulator, client: Client):
    response = client.post(headers={"Authorization": None}, auth=(WORKSPACE, API_KEY))

    assert response.status_code == 200


def test_blocked_account_is_403_generic_envelope(emulator, client: Client):
    emulator.blocked = True

    response = client.post()

    body = response.json()
    assert response.status_code == 403
    assert body["status"] == "fail"
    assert body["error"]["type"] == "BlockedClient"
    assert body["error"]["message"] == "Your account is suspended..."
    assert body["error"]["request_id"] == response.headers["x-request-id"]


def test_blocked_is_checked_after_auth(emulator, client: Client):
    emulator.blocked = True

    assert client.post(headers={"MOE-APPKEY": None}).status_code == 401


@pytest.mark.parametrize(
    ("path", "key"), [(STATUS_PATH, "description"), (HISTORY_PATH, "error_description")], ids=["status", "history"]
)
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_non_json_content_type_is_415(emulator, client: Client, path, key, content_type):
    response = client.post(path=path, headers={"Content-Type": content_type}, data=b"{}")

    assert response.status_code == 415
    assert response.json() == {"title": "Unsupported media type", key: "Content type is not supported"}


def test_json_content_type_with_charset_is_accepted(client: Client):
    response = client.post(headers={"Content-Type": "application/json; charset=utf-8"})

    assert response.status_code == 200


@pytest.mark.parametrize(
    "data",
    [b"{not json", b"", b"[1, 2]", b'"text"'],
    ids=["invalid-json", "empty", "array", "string"],
)
def test_body_that_is_not_a_json_object_is_400(client: Client, data):
    response = client.post(data=data)

    assert (response.status_code, response.json()) == (400, UNABLE_TO_PROCESS)


@pytest.mark.parametrize(
    "body",
    [
        {"import_type": "users"},
        {"import_type": ["USERS", "events"]},
        {"import_type": "CUSTOM"},
        {"schedule_type": ["periodic"]},
        {"file_source": "FTP"},
        {"schedule_status": ["SUCCESS"]},
        {"schedule_status": "Successful"},
        {"schedule_status": "WAITING"},
        {"import_type": 1},
        {"import_type": [None]},
        {"import_name": 42},
    ],
    ids=lambda body: repr(body),
)
def test_enum_values_are_case_sensitive_and_exact(client: Client, body):
    response = client.post(body)

    assert (response.status_code, response.json()) == (400, UNABLE_TO_PROCESS)


@pytest.mark.parametrize(
    "body",
    [
        {"import_type": "USERS"},
        {"import_type": ["USERS", "EVENTS", "AUX_DATA"]},
        {"schedule_type": ["PERIODIC", "ONETIME"]},
        {"file_source": ["SFTP", "S3", "CSV"]},
        {"schedule_status": ["SUCCESSFUL", "FAILED", "PARTIAL_SUCCESS", "SCHEDULED"]},
        {"schedule_status": ["PROCESSING", "QUEUED", "ARCHIVED"]},
        {"import_type": []},
    ],
    ids=lambda body: repr(body),
)
def test_documented_enum_values_are_accepted_as_string_or_array(client: Client, body):
    assert client.post(body).status_code == 200


@pytest.mark.parametrize("offset", [0, -1, "0", "abc", "1.0", 1.5, True, [1], "-1"], ids=repr)
def test_bad_offset_is_400(client: Client, offset):
    response = client.post({"offset": offset})

    assert (response.status_code, response.json()) == (400, INVALID_OFFSET)


@pytest.mark.parametrize("offset", [1, "1", 2, "02", None], ids=repr)
def test_offset_may_be_an_int_or_digit_string(client: Client, offset):
    assert client.post({"offset": offset}).status_code == 200


@pytest.mark.parametrize(
    "date",
    [
        {"start_date": "2024-11-01", "end_date": "2024-11-14"},
        {"start_date": "2024-11-01", "end_date": "2024-11-14", "format": "yyyy-mm-dd"},
        {"start_date": "2024-11-01", "end_date": "2024-11-14", "format": "DD/MM/YYYY"},
        {"start_date": "2024-11-01", "end_date": "2024-11-14 10:00:00", "format": "YYYY-MM-DD"},
        {"start_date": "01-11-2024 10:00", "end_date": "14-11-2024 10:00:00", "format": "DD-MM-YYYY hh:mm:ss"},
        {"end_date": "2024-11-14", "format": "YYYY-MM-DD"},
        {"start_date": 20241101, "end_date": "2024-11-14", "format": "YYYY-MM-DD"},
        "2024-11-01",
    ],
    ids=[
        "no-format",
        "lower-case-format",
        "wrong-format",
        "end-has-time",
        "start-no-seconds",
        "no-start",
        "number",
        "not-an-object",
    ],
)
def test_bad_date_is_400_invalid_date_format(client: Client, date):
    response = client.post({"date": date})

    assert (response.status_code, response.json()) == (400, INVALID_DATE)


def test_date_range_over_30_days_is_400(client: Client):
    date = {"start_date": "2024-10-01", "end_date": "2024-11-01", "format": "YYYY-MM-DD"}

    response = client.post({"date": date})

    assert (response.status_code, response.json()) == (400, DATE_RANGE)


def test_date_range_of_exactly_30_days_is_accepted(client: Client):
    date = {"start_date": "01/10/2024 00:00:00", "end_date": "31/10/2024 00:00:00", "format": "DD/MM/YYYY hh:mm:ss"}

    assert client.post({"date": date}).status_code == 200


@pytest.mark.parametrize(
    ("date_format", "start", "end"),
    [
        ("YYYY-MM-DD", "2024-11-14", "2024-11-14"),
        ("YYYY/MM/DD", "2024/11/14", "2024/11/14"),
        ("DD/MM/YYYY", "14/11/2024", "14/11/2024"),
        ("DD-MM-YYYY", "14-11-2024", "14-11-2024"),
        ("DD-MM-YYYY hh:mm:ss", "14-11-2024 12:00:00", "14-11-2024 13:00:00"),
        ("DD/MM/YYYY hh:mm:ss", "14/11/2024 12:00:00", "14/11/2024 13:00:00"),
        ("YYYY-MM-DD hh:mm:ss", "2024-11-14 12:00:00", "2024-11-14 13:00:00"),
        ("YYYY/MM/DD hh:mm:ss", "2024/11/14 12:00:00", "2024/11/14 13:00:00"),
    ],
)
def test_each_documented_date_format_filters_on_scheduled_at(emulator, client: Client, date_format, start, end):
    inside = emulator.add_file(ScheduledFile("daily", scheduled_at="2024-11-14T12:31:31.713000"))
    emulator.add_file(ScheduledFile("daily", scheduled_at="2024-11-15T12:31:31"))
    emulator.add_file(ScheduledFile("daily", scheduled_at="2024-11-13T23:59:59"))

    body = client.post({"date": {"start_date": start, "end_date": end, "format": date_format}}).json()

    assert [record["id"] for record in body["data"]] == [inside.id]


def test_date_only_end_covers_its_whole_day(emulator, client: Client):
    late = emulator.add_file(ScheduledFile("daily", scheduled_at="2024-11-14T23:59:59.999999"))
    emulator.add_file(ScheduledFile("daily", scheduled_at="2024-11-15T00:00:00"))

    body = client.post({"date": {"start_date": "2024-11-14", "end_date": "2024-11-14", "format": "YYYY-MM-DD"}})

    assert [record["id"] for record in body.json()["data"]] == [late.id]


def test_auth_is_checked_before_the_body(client: Client):
    response = client.post(headers={"MOE-APPKEY": None}, data=b"{not json")

    assert response.status_code == 401


def test_content_type_is_checked_before_the_body(client: Client):
    response = client.post(headers={"Content-Type": "text/plain"}, data=b"{not json")

    assert response.status_code == 415


class TestRunHistory:
    """``import/run/history`` serves the same records, but needs an import and filters on ``file_status``."""

    def test_needs_an_import(self, client: Client):
        response = client.post({}, path=HISTORY_PATH)

        assert (response.status_code, response.json()) == (400, IMPORT_NOT_FOUND)

    def test_unknown_import_is_400(self, emulator, client: Client):
        emulator.add_file(ScheduledFile("daily"))

        response = client.post({"import_name": "other"}, path=HISTORY_PATH)

        assert (response.status_code, response.json()) == (400, IMPORT_NOT_FOUND)

    def test_filters_on_file_status_including_waiting(self, emulator, client: Client):
        emulator.add_file(ScheduledFile("daily", status="SUCCESSFUL"))
        waiting = emulator.add_file(ScheduledFile("daily", status="WAITING"))

        body = client.post({"import_name": "daily", "file_status": ["WAITING"]}, path=HISTORY_PATH).json()

        assert [record["id"] for record in body["data"]] == [waiting.id]
        assert body["total_count"] == 1

    def test_import_id_wins_over_import_name(self, emulator, client: Client):
        wanted = emulator.add_file(ScheduledFile("daily"))
        emulator.add_file(ScheduledFile("other"))

        body = client.post({"import_id": wanted.import_id, "import_name": "other"}, path=HISTORY_PATH).json()

        assert [record["id"] for record in body["data"]] == [wanted.id]

    def test_schedule_status_is_not_its_filter(self, client: Client, emulator):
        emulator.add_file(ScheduledFile("daily"))

        response = client.post({"import_name": "daily", "file_status": ["ARCHIVED"]}, path=HISTORY_PATH)

        assert (response.status_code, response.json()) == (400, UNABLE_TO_PROCESS)

    def test_accepts_iso_dates_without_format(self, emulator, client: Client):
        inside = emulator.add_file(ScheduledFile("daily", scheduled_at="2024-11-14T12:31:31"))
        date = {"start_date": "2024-11-14T00:00:00Z", "end_date": "2024-11-14T23:00:00Z"}

        body = client.post({"import_name": "daily", "date": date}, path=HISTORY_PATH).json()

        assert [record["id"] for record in body["data"]] == [inside.id]

    def test_rejects_non_iso_dates_without_format(self, emulator, client: Client):
        emulator.add_file(ScheduledFile("daily"))
        date = {"start_date": "14/11/2024", "end_date": "15/11/2024"}

        response = client.post({"import_name": "daily", "date": date}, path=HISTORY_PATH)

        assert (response.status_code, response.json()) == (400, INVALID_DATE)
