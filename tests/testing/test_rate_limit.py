"""At most N requests in any 60 s of the emulator clock, with the documented 429 and headers."""

from __future__ import annotations

import math

from airflow_provider_moengage.testing import Fault

from .conftest import Client

RATE_LIMITED = {
    "message": "Rate limits exceeded, please try after some time",
    "type": "Rate Limits Exceeded",
}


def test_the_51st_request_in_a_minute_is_429(emulator, client: Client):
    codes = [client.post().status_code for _ in range(51)]

    assert codes == [200] * 50 + [429]
    assert emulator.rate_limited_count == 1


def test_429_body_and_headers(emulator, client: Client, clock):
    for _ in range(50):
        client.post()

    response = client.post()

    body = response.json()
    assert body["status"] == "fail"
    assert {key: body["error"][key] for key in RATE_LIMITED} == RATE_LIMITED
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    assert response.headers["x-ratelimit-limit"] == "50"
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-reset"] == str(math.ceil(clock.time() + 60))


def test_the_window_slides(emulator, client: Client, clock):
    client.post()  # t = 0
    clock.advance(30)
    for _ in range(49):
        client.post()  # t = 30

    clock.advance(29.9)
    assert client.post().status_code == 429  # 50 within (t - 60, t]
    clock.advance(0.1)
    assert client.post().status_code == 200  # the request at t = 0 has left
    assert client.post().status_code == 429


def test_after_60_seconds_requests_pass_again(emulator, client: Client, clock):
    for _ in range(51):
        client.post()

    clock.advance(60)

    assert client.post().status_code == 200


def test_refused_requests_do_not_count(emulator, client: Client, clock):
    for _ in range(50):
        client.post()  # t = 0
    clock.advance(30)
    assert {client.post().status_code for _ in range(10)} == {429}  # t = 30
    clock.advance(30)

    # Had the refused requests counted, they would fill 10 places until t = 90.
    assert [client.post().status_code for _ in range(50)] == [200] * 50


def test_remaining_and_reset_on_successful_responses(emulator, client: Client, clock):
    first = client.post()
    clock.advance(10)
    second = client.post()

    assert [first.headers["x-ratelimit-remaining"], second.headers["x-ratelimit-remaining"]] == ["49", "48"]
    # Both report when the oldest request (at the first one's time) leaves the window.
    assert first.headers["x-ratelimit-reset"] == second.headers["x-ratelimit-reset"]
    assert first.headers["x-ratelimit-reset"] == str(math.ceil(clock.time() - 10 + 60))


def test_every_response_carries_the_headers(client: Client):
    response = client.post(path="/nope")

    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(response.headers)


def test_requests_failing_auth_do_not_count(emulator, client: Client):
    for _ in range(60):
        client.post(headers={"MOE-APPKEY": None})

    assert client.post().status_code == 200


def test_faulted_requests_count(emulator, client: Client):
    emulator.inject(Fault(status=503, times=50))
    for _ in range(50):
        client.post()

    assert client.post().status_code == 429


def test_limit_can_be_disabled(make_emulator):
    emulator = make_emulator(rate_limit_per_minute=None)
    client = Client(emulator)

    responses = [client.post() for _ in range(60)]

    assert {response.status_code for response in responses} == {200}
    assert "x-ratelimit-limit" not in responses[0].headers


def test_headers_can_be_turned_off(make_emulator):
    emulator = make_emulator(send_ratelimit_headers=False, rate_limit_per_minute=1)
    client = Client(emulator)

    responses = [client.post(), client.post()]

    assert [response.status_code for response in responses] == [200, 429]
    assert not any(name.startswith("x-ratelimit") for name in responses[1].headers)
