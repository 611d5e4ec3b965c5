"""Faults replace responses in injection order, for the requests they match."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import pytest
import requests

from airflow_provider_moengage.testing import Fault, ScheduledFile, StatusStep

if TYPE_CHECKING:
    from .conftest import Client


@pytest.fixture
def daily(emulator) -> ScheduledFile:
    return emulator.add_file(ScheduledFile("daily_users"))


def test_plain_fault_is_500_with_no_body(emulator, client: Client):
    emulator.inject(Fault())

    response = client.post()

    assert (response.status_code, response.content) == (500, b"")


def test_faults_are_used_once_by_default_then_normal_responses_resume(emulator, client: Client):
    emulator.inject(Fault(status=503))

    assert [client.post().status_code for _ in range(2)] == [503, 200]


def test_times_and_forever(emulator, client: Client):
    emulator.inject(Fault(status=502, times=2))
    emulator.inject(Fault(status=504, times=None))

    assert [client.post().status_code for _ in range(5)] == [502, 502, 504, 504, 504]

    emulator.clear_faults()
    assert client.post().status_code == 200


def test_faults_apply_in_injection_order(emulator, client: Client):
    emulator.inject(Fault(status=500))
    emulator.inject(Fault(status=503))

    assert [client.post().status_code for _ in range(3)] == [500, 503, 200]


def test_offset_and_import_name_narrow_the_match(emulator, client: Client, daily):
    emulator.inject(Fault(status=503, offset=2, times=None))
    emulator.inject(Fault(status=502, import_name="other", times=None))

    assert client.post({"import_name": "daily_users"}).status_code == 200
    assert client.post({"import_name": "daily_users", "offset": "2"}).status_code == 503
    assert client.post({"import_name": "other"}).status_code == 502
    assert client.post({}).status_code == 200  # no offset is page 1


def test_server_error_has_the_documented_body(emulator, client: Client):
    emulator.inject(Fault.server_error())

    response = client.post()

    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "title": "Server Error",
        "description": "An unexpected error was encountered...",
        "code": "GlQhUzvM",
    }


def test_html_is_an_nginx_page(emulator, client: Client):
    emulator.inject(Fault.html(503))

    response = client.post()

    assert response.status_code == 503
    assert response.headers["Content-Type"] == "text/html"
    assert "<title>503 Service Unavailable</title>" in response.text
    assert "nginx" in response.text


def test_plain_text_body(emulator, client: Client):
    emulator.inject(Fault(status=502, body="upstream connect error"))

    response = client.post()

    assert (response.headers["Content-Type"], response.text) == ("text/plain", "upstream connect error")


def test_rate_limited_with_headers(emulator, client: Client, clock):
    emulator.inject(Fault.rate_limited(reset_in=2))

    response = client.post()

    assert response.status_code == 429
    assert response.json()["error"]["type"] == "Rate Limits Exceeded"
    assert response.json()["error"]["request_id"] == response.headers["x-request-id"]
    assert response.headers["Retry-After"] == "2"
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-reset"] == str(math.ceil(clock.time() + 2))
    assert emulator.rate_limited_count == 0  # the emulator's own limit refused nothing


def test_rate_limited_without_headers(emulator, client: Client):
    emulator.inject(Fault.rate_limited(with_headers=False))

    response = client.post()

    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    assert not any(name.startswith("x-ratelimit") for name in response.headers)


def test_failure_body_is_http_200(emulator, client: Client):
    emulator.inject(Fault.failure_body())

    response = client.post()

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "fail"
    assert (body["error"]["message"], body["error"]["type"]) == ("Something failed", "Internal")
    assert body["error"]["request_id"] == response.headers["x-request-id"]


def test_slow_sends_the_normal_response_late(emulator, client: Client, daily):
    emulator.inject(Fault.slow(0.3))

    started = time.monotonic()
    response = client.post()
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert response.json()["data"][0]["id"] == daily.id
    assert elapsed >= 0.3


def test_slow_response_trips_a_client_timeout(emulator, client: Client):
    emulator.inject(Fault.slow(0.4))

    with pytest.raises(requests.exceptions.ReadTimeout):
        client.post(timeout=0.1)


def test_connection_reset_mid_body(emulator, client: Client, daily):
    emulator.inject(Fault.connection_reset())

    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        client.post()

    assert emulator.requests[-1].response_status == 200
    assert client.post().status_code == 200  # the next connection is fine


def test_mutate_edits_the_normal_body(emulator, client: Client, daily):
    def odd(body):
        body["more_files"] = "yes"
        body["data"] = body["data"] * 2
        return body

    emulator.inject(Fault(mutate=odd))

    response = client.post()

    assert response.status_code == 200
    assert response.json()["more_files"] == "yes"
    assert [record["id"] for record in response.json()["data"]] == [daily.id, daily.id]


def test_mutate_may_return_anything_json(emulator, client: Client, daily):
    emulator.inject(Fault(mutate=lambda body: {**body, "data": None}))
    emulator.inject(Fault(mutate=lambda body: None))

    assert client.post().json()["data"] is None
    assert client.post().content == b"null"


def test_mutate_with_an_explicit_status(emulator, client: Client, daily):
    emulator.inject(Fault(status=500, mutate=lambda body: body["data"]))

    response = client.post()

    assert response.status_code == 500
    assert response.json()[0]["id"] == daily.id


def test_mutate_leaves_invalid_requests_alone(emulator, client: Client):
    emulator.inject(Fault(mutate=lambda body: "changed"))

    response = client.post({"offset": 0})

    assert response.status_code == 400
    assert response.json()["error_type"] == "Invalid Offset Value"


def test_mutated_requests_move_the_timeline_but_others_do_not(emulator, client: Client):
    timeline = [StatusStep("QUEUED"), StatusStep("SUCCESSFUL", after_requests=1)]
    emulator.add_file(ScheduledFile("daily_users", timeline=timeline))
    emulator.inject(Fault(status=503))
    emulator.inject(Fault(mutate=lambda body: body))

    client.post()
    assert client.post().json()["data"][0]["file_status"] == "QUEUED"
    assert client.post().json()["data"][0]["file_status"] == "SUCCESSFUL"


def test_extra_headers(emulator, client: Client):
    emulator.inject(Fault(headers={"x-envoy-ratelimited": "true"}))

    response = client.post()

    assert response.status_code == 200  # headers alone decorate the normal response
    assert response.headers["x-envoy-ratelimited"] == "true"


def test_faults_apply_after_auth_unless_skip_auth(emulator, client: Client):
    emulator.inject(Fault(status=503))
    emulator.inject(Fault.html(502, skip_auth=True))

    assert client.post(headers={"MOE-APPKEY": None}).status_code == 502
    assert client.post(headers={"MOE-APPKEY": None}).status_code == 401
    assert client.post().status_code == 503


def test_faults_do_not_apply_to_unknown_paths(emulator, client: Client):
    emulator.inject(Fault(status=503, skip_auth=True))

    assert client.post(path="/nope").status_code == 404
    assert client.post().status_code == 503


def test_scenario_form_names_a_constructor():
    fault = Fault.from_dict({"kind": "rate_limited", "reset_in": 5, "times": 3})

    assert (fault.status, fault.retry_after, fault.times) == (429, 5, 3)


def test_scenario_form_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="known kinds"):
        Fault.from_dict({"kind": "explode"})


@pytest.mark.parametrize("options", [{"times": 0}, {"delay": -1}], ids=["no-uses", "negative-delay"])
def test_invalid_faults_are_refused(options):
    with pytest.raises(ValueError):
        Fault(**options)


def test_a_failing_mutate_is_a_500_naming_the_error(emulator, client: Client, capsys):
    def broken(body):
        raise RuntimeError("mutate went wrong")

    emulator.inject(Fault(mutate=broken))

    response = client.post()

    assert response.status_code == 500
    assert "mutate went wrong" in response.text
    assert client.post().status_code == 200


def test_a_gateway_fault_passing_the_response_on_keeps_the_checks(emulator, client: Client, daily):
    emulator.inject(Fault.slow(0.05, skip_auth=True, times=2))

    assert client.post(headers={"MOE-APPKEY": None}).status_code == 401
    assert client.post().status_code == 200
