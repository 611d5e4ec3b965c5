"""Request building, answer parsing, paging checks, retry policy and the sliding-window limiter."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_moengage.api import (
    ConnectionSettings,
    PageWalk,
    SlidingWindowLimiter,
    StatusQuery,
    build_status_request,
    parse_status_response,
    retry_after_seconds,
)
from airflow_provider_moengage.exceptions import (
    MoEngageAuthError,
    MoEngageBadRequestError,
    MoEngageConfigurationError,
    MoEngageNotFoundError,
    MoEngageRateLimitError,
    MoEngageServerError,
    MoEngageUnexpectedResponseError,
)
from airflow_provider_moengage.models import ImportFile, StatusPage


def connection(**overrides: object) -> SimpleNamespace:
    values = {"conn_id": "c", "login": "WS1", "password": "s3cret", "host": None, "port": None, "schema": None}
    values.update(overrides)
    extra = values.pop("extra", {})
    return SimpleNamespace(**values, extra=json.dumps(extra), extra_dejson=extra)


@pytest.mark.parametrize(
    ("extra", "host", "base"),
    [
        ({}, None, "https://fileimports-data-api-01.moengage.com"),
        ({"data_center": "02"}, None, "https://fileimports-data-api-02.moengage.com"),
        ({"data_center": "3"}, None, "https://fileimports-data-api-03.moengage.com"),
        ({"data_center": "101"}, None, "https://fileimports-data-api-101.moengage.com"),
        ({"data_center": "02"}, "http://127.0.0.1:8089/", "http://127.0.0.1:8089"),
    ],
)
def test_base_url_from_data_center_or_host(extra: dict, host: str | None, base: str) -> None:
    assert ConnectionSettings.from_connection(connection(extra=extra, host=host)).base_url == base


@pytest.mark.parametrize(
    ("extra", "argument"),
    [
        ({"data_center": "07"}, "data_center"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute"),
        ({"timeout": "soon"}, "timeout"),
        ({"verify": "maybe"}, "verify"),
    ],
)
def test_bad_connection_extras_name_the_setting(extra: dict, argument: str) -> None:
    with pytest.raises(MoEngageConfigurationError, match=argument):
        ConnectionSettings.from_connection(connection(extra=extra))


def test_missing_credentials_say_which_field() -> None:
    with pytest.raises(MoEngageConfigurationError, match="Workspace ID"):
        ConnectionSettings.from_connection(connection(login=None))
    with pytest.raises(MoEngageConfigurationError, match="Data API key"):
        ConnectionSettings.from_connection(connection(password=""))


def test_request_has_auth_appkey_json_and_no_extras() -> None:
    settings = ConnectionSettings.from_connection(connection(extra={"data_center": "02", "timezone": "UTC"}))
    request = build_status_request(settings, StatusQuery.build("daily_users", import_types="users"), 2)
    assert request.url == "https://fileimports-data-api-02.moengage.com/v1.0/data/fileimports/import/status"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"WS1:s3cret").decode()
    assert request.headers["MOE-APPKEY"] == "WS1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("airflow-provider-moengage/")
    assert not {"data_center", "timezone"} & {key.lower() for key in request.headers}
    assert json.loads(request.body) == {"import_name": "daily_users", "import_type": ["USERS"], "offset": 2}
    assert "s3cret" not in repr(settings) and "s3cret" not in repr(request)


def test_date_window_is_sent_with_a_supported_format() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    query = StatusQuery.build("x", start_date=date(2026, 12, 1), end_date="2026-12-03")
    assert query.body(1, kolkata)["date"] == {
        "start_date": "2026-12-01",
        "end_date": "2026-12-03",
        "format": "YYYY-MM-DD",
    }
    aware = StatusQuery.build(
        "x", start_date=datetime(2026, 12, 1, tzinfo=UTC), end_date=datetime(2026, 12, 2, tzinfo=UTC)
    )
    assert aware.body(1, kolkata)["date"] == {
        "start_date": "2026-12-01 05:30:00",
        "end_date": "2026-12-02 05:30:00",
        "format": "YYYY-MM-DD hh:mm:ss",
    }


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"import_types": "USER"}, "import_types"),
        ({"schedule_types": ["PERIODIC", "DAILY"]}, "schedule_types"),
        ({"file_sources": "FTP"}, "file_sources"),
        ({"schedule_statuses": "DONE"}, "schedule_statuses"),
        ({"start_date": "2026-01-01", "end_date": "2026-02-15"}, "30 days"),
        ({"start_date": "2026-01-01"}, "end_date"),
        ({"start_date": "2026-02-01", "end_date": "2026-01-01"}, "before start_date"),
        ({"start_date": "01/02/2026", "end_date": "2026-01-03"}, "start_date"),
    ],
)
def test_bad_filters_fail_before_any_request(kwargs: dict, argument: str) -> None:
    with pytest.raises(MoEngageConfigurationError, match=argument):
        StatusQuery.build("x", **kwargs)


def test_query_round_trips_through_kwargs() -> None:
    query = StatusQuery.build("x", import_types=["EVENTS"], start_date="2026-12-01", end_date="2026-12-02")
    values = query.to_kwargs()
    assert StatusQuery.build(values.pop("import_name"), **values) == query


PAGE = {"status": "success", "total_count": 1, "data": [{"id": "a", "file_status": "QUEUED"}], "offset": 1}


@pytest.mark.parametrize(
    ("status", "body", "error", "message", "error_type", "request_id"),
    [
        (
            400,
            {"status": "FAILURE", "error_type": "Invalid Date format", "message": "bad date"},
            MoEngageBadRequestError,
            "bad date",
            "Invalid Date format",
            "hdr-1",
        ),
        (
            400,
            {"success": False, "status_code": "400 Bad Request", "data": "Unable to process the request"},
            MoEngageBadRequestError,
            "Unable to process the request",
            "400 Bad Request",
            "hdr-1",
        ),
        (
            401,
            {"title": "HeaderMissing", "description": "MOE-APPKEY is missing in Header"},
            MoEngageAuthError,
            "MOE-APPKEY is missing in Header",
            "HeaderMissing",
            "hdr-1",
        ),
        (
            403,
            {"status": "fail", "error": {"message": "suspended", "type": "BlockedClient", "request_id": "r9"}},
            MoEngageAuthError,
            "suspended",
            "BlockedClient",
            "r9",
        ),
        (
            404,
            {"status": "fail", "data": "Resource not found."},
            MoEngageNotFoundError,
            "Resource not found.",
            None,
            "hdr-1",
        ),
        (
            415,
            {"title": "Unsupported media type", "error_description": "Content type is not supported"},
            MoEngageBadRequestError,
            "Content type is not supported",
            "Unsupported media type",
            "hdr-1",
        ),
        (
            429,
            {
                "status": "fail",
                "error": {"message": "Rate limits exceeded", "type": "Rate Limits Exceeded", "request_id": "1234"},
            },
            MoEngageRateLimitError,
            "Rate limits exceeded",
            "Rate Limits Exceeded",
            "1234",
        ),
        (
            500,
            {"title": "Server Error", "description": "unexpected", "code": "GlQhUzvM"},
            MoEngageServerError,
            "unexpected",
            "Server Error",
            "hdr-1",
        ),
        (
            200,
            {"status": "fail", "error": {"message": "nope", "type": "X", "request_id": "r2"}},
            MoEngageUnexpectedResponseError,
            "nope",
            "X",
            "r2",
        ),
    ],
    ids=["400-failure", "400-enum", "401", "403", "404", "415", "429", "500", "200-fail-body"],
)
def test_every_error_shape_gives_status_message_type_and_request_id(
    status: int, body: dict, error: type, message: str, error_type: str | None, request_id: str
) -> None:
    with pytest.raises(error) as caught:
        parse_status_response(status, {"X-Request-Id": "hdr-1"}, json.dumps(body).encode())
    raised = caught.value
    assert (raised.http_status, raised.message, raised.error_type, raised.request_id) == (
        status,
        message,
        error_type,
        request_id,
    )
    assert f"HTTP {status}" in str(raised) and message in str(raised)


@pytest.mark.parametrize("status", [200, 502, 401])
def test_non_json_body_gives_status_and_excerpt(status: int) -> None:
    html = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    with pytest.raises((MoEngageUnexpectedResponseError, MoEngageServerError, MoEngageAuthError)) as caught:
        parse_status_response(status, {}, html)
    assert f"HTTP {status}" in str(caught.value) and "502 Bad Gateway" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        {"status": "success", "total_count": 0},
        {"status": "success", "data": None},
        {"status": "success", "data": {"id": "a"}},
        {**PAGE, "more_files": "maybe"},
        {**PAGE, "more_files": 1},
        {**PAGE, "total_count": "many"},
        {**PAGE, "data": ["not a record"]},
        [PAGE],
    ],
    ids=[
        "no-data",
        "data-null",
        "data-object",
        "more-files-word",
        "more-files-int",
        "total-word",
        "record-str",
        "list",
    ],
)
def test_malformed_200_is_an_error_never_data(body: object) -> None:
    with pytest.raises(MoEngageUnexpectedResponseError):
        parse_status_response(200, {}, json.dumps(body).encode())


@pytest.mark.parametrize(("raw", "expected"), [(True, True), ("true", True), ("False", False), (None, None)])
def test_more_files_as_bool_or_string(raw: object, expected: bool | None) -> None:
    page = parse_status_response(200, {}, json.dumps({**PAGE, "more_files": raw}).encode())
    assert page.more_files is expected


def test_retry_after_headers() -> None:
    assert retry_after_seconds({"Retry-After": "7"}) == 7
    assert retry_after_seconds({"x-ratelimit-reset": "1000003"}, now=1000000.0) is not None
    assert retry_after_seconds({"x-ratelimit-reset": str(2_000_000_003)}, now=2_000_000_000.0) == 3
    assert retry_after_seconds({}) is None


def _page(count: int, total: int | None, more: bool | None, start: int = 0) -> StatusPage:
    files = tuple(ImportFile.from_api({"id": f"r{start + i}", "file_status": "QUEUED"}) for i in range(count))
    return StatusPage(files=files, total_count=total, more_files=more)


def test_page_walk_follows_more_files_and_checks_totals() -> None:
    walk = PageWalk()
    assert walk.next_offset(_page(50, 60, True), 1) == 2
    assert walk.next_offset(_page(10, 60, False, 50), 2) is None


@pytest.mark.parametrize(
    ("pages", "match"),
    [
        ([_page(0, 60, True)], "empty"),
        ([_page(50, 40, True)], "total_count is 40"),
        ([_page(50, 60, False)], "total_count is 60"),
        ([_page(50, None, None)], "neither"),
    ],
    ids=["more-on-empty", "over-total", "short-of-total", "no-signal"],
)
def test_page_walk_never_calls_a_partial_list_whole(pages: list[StatusPage], match: str) -> None:
    walk = PageWalk()
    with pytest.raises(MoEngageUnexpectedResponseError, match=match):
        for offset, page in enumerate(pages, 1):
            walk.next_offset(page, offset)


def test_page_walk_caps_pages() -> None:
    walk = PageWalk(max_pages=3)
    with pytest.raises(MoEngageUnexpectedResponseError, match="cap"):
        for offset in range(1, 5):
            walk.next_offset(_page(50, None, True, offset * 50), offset)


def test_page_walk_drops_exact_duplicates_and_refuses_conflicting_ones() -> None:
    walk = PageWalk()
    first = _page(2, 4, True)
    assert len(walk.unique(first)) == 2
    assert len(walk.unique(first)) == 0
    conflicting = StatusPage(
        files=(ImportFile.from_api({"id": "r0", "file_status": "FAILED"}),), total_count=4, more_files=False
    )
    with pytest.raises(MoEngageUnexpectedResponseError, match="twice"):
        walk.unique(conflicting)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_never_exceeds_the_limit_in_any_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(limit=50, window=60.0, clock=clock)
    sends = []
    for _ in range(175):
        wait = limiter.reserve()
        clock.now += wait
        sends.append(clock.now)
        clock.now += 0.01
    for i, start in enumerate(sends):
        in_window = [t for t in sends[i:] if t < start + 60.0]
        assert len(in_window) <= 50
    assert sends[49] - sends[0] < 1 and sends[50] >= sends[0] + 60.0
