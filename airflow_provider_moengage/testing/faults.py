"""
Faults: responses the emulator sends instead of (or on top of) the normal one.

Faults apply in injection order; each request that matches one consumes one of its uses. They
come from the gateway's side of the API, so the bodies are those MoEngage documents or that a load
balancer in front of it would send.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from airflow_provider_moengage.testing import _bodies

#: A ``request_id`` with this value in a fault's ``{"error": {...}}`` body is replaced by the
#: response's ``x-request-id``, so that body and header agree as they do in real responses.
REQUEST_ID = "<request-id>"

Body = str | bytes | dict[str, Any] | list[Any] | None

_NGINX_PAGE = (
    "<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class Fault:
    """
    A response to send instead of the normal one, to a number of matching requests.

    Which status is sent: ``status`` if given; else 200 with the ``mutate`` result if ``mutate``
    is given; else the normal response if only ``delay``, ``reset`` or ``headers`` are given
    (a slow, cut or decorated but otherwise normal response); else 500.

    :param status: the HTTP status to send; see above for None.
    :param body: the body; a dict or list is sent as JSON.
    :param content_type: defaults to JSON for a dict or list, ``text/html`` for a string starting
        with ``<``, else ``text/plain``.
    :param headers: extra response headers.
    :param times: how many matching requests it answers; None means every one, forever.
    :param offset: match only requests for this page (a missing offset is page 1).
    :param import_name: match only requests with this ``import_name``.
    :param delay: real seconds to sleep before responding.
    :param reset: send the headers with a Content-Length larger than the body, part of the body,
        then reset the connection.
    :param mutate: gets a copy of the normal success body and returns the body to send.
    :param skip_auth: apply before the authentication check (a gateway fault), not after it.
    :param retry_after: if set, send ``Retry-After`` and an ``x-ratelimit-reset`` this many seconds
        ahead, with ``x-ratelimit-remaining: 0``.
    :param ratelimit_headers: send the emulator's usual ``x-ratelimit-*`` headers with this response.
    """

    status: int | None = None
    body: Body = None
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    times: int | None = 1
    offset: int | None = None
    import_name: str | None = None
    delay: float = 0
    reset: bool = False
    mutate: Callable[[dict[str, Any]], Any] | None = None
    skip_auth: bool = False
    retry_after: float | None = None
    ratelimit_headers: bool = True

    def __post_init__(self) -> None:
        if self.times is not None and self.times < 1:
            raise ValueError(f"Fault.times must be at least 1 (or None for forever), not {self.times}.")
        if self.delay < 0:
            raise ValueError(f"Fault.delay cannot be negative: {self.delay}.")

    @property
    def passes_through(self) -> bool:
        """Whether the normal response is sent (slowed, cut or with extra headers)."""
        return self.status is None and self.body is None and self.mutate is None and self._alters_delivery

    @property
    def _alters_delivery(self) -> bool:
        return bool(self.delay or self.reset or self.headers)

    @property
    def needs_normal_response(self) -> bool:
        """Whether the normal response must be computed (and so counts as served)."""
        return self.passes_through or self.mutate is not None

    def matches(self, offset: int, import_name: str | None) -> bool:
        """
        Say whether the fault answers a request.

        :param offset: the page asked for (1 if the request did not say).
        :param import_name: the request's ``import_name``, if any.
        """
        if self.offset is not None and self.offset != offset:
            return False
        return self.import_name is None or self.import_name == import_name

    def response_status(self, normal_status: int) -> int:
        """
        Return the HTTP status to send.

        :param normal_status: the status of the normal response.
        """
        if self.status is not None:
            return self.status
        if self.mutate is not None:
            return 200
        return normal_status if self.passes_through else 500

    def render(self, normal_body: Any, request_id: str) -> tuple[bytes, str | None]:
        """
        Return the body bytes and content type to send.

        :param normal_body: the parsed normal response body (what ``mutate`` gets a copy of).
        :param request_id: the response's request id, for :data:`REQUEST_ID` placeholders.
        """
        if self.mutate is not None:
            mutated = self.mutate(copy.deepcopy(normal_body))
            return _bodies.encode(mutated, self.content_type, json_default=True)
        return _bodies.encode(_fill_request_id(self.body, request_id), self.content_type)

    @classmethod
    def server_error(cls, status: int = 500, **options: Any) -> Fault:
        """
        The documented 500 body (``{"title": "Server Error", ...}``).

        :param status: the HTTP status.
        :param options: other :class:`Fault` fields (``times``, ``import_name``...).
        """
        return cls(status=status, body=dict(_bodies.SERVER_ERROR), **options)

    @classmethod
    def html(cls, status: int = 502, **options: Any) -> Fault:
        """
        An nginx-style HTML error page, as a load balancer sends when the service is down.

        :param status: the HTTP status.
        :param options: other :class:`Fault` fields.
        """
        page = _NGINX_PAGE.format(code=status, phrase=HTTPStatus(status).phrase)
        return cls(status=status, body=page, **options)

    @classmethod
    def rate_limited(cls, with_headers: bool = True, reset_in: float = 2, **options: Any) -> Fault:
        """
        The documented 429 body, as if another client had used up the workspace's budget.

        :param with_headers: send ``Retry-After`` and ``x-ratelimit-*`` (reset ``reset_in`` seconds
            ahead); without them the client has only the status to go on.
        :param reset_in: seconds until the limit resets.
        :param options: other :class:`Fault` fields.
        """
        body = _bodies.rate_limited(REQUEST_ID)
        retry_after = reset_in if with_headers else None
        return cls(status=429, body=body, retry_after=retry_after, ratelimit_headers=with_headers, **options)

    @classmethod
    def failure_body(cls, **options: Any) -> Fault:
        """
        HTTP 200 carrying the generic failure envelope: a success status that is not a success.

        :param options: other :class:`Fault` fields.
        """
        body = _bodies.generic_error("Something failed", "Internal", REQUEST_ID)
        return cls(status=200, body=body, **options)

    @classmethod
    def slow(cls, seconds: float, **options: Any) -> Fault:
        """
        The normal response, after ``seconds`` of real time.

        :param seconds: how long to wait before responding.
        :param options: other :class:`Fault` fields.
        """
        return cls(delay=seconds, **options)

    @classmethod
    def connection_reset(cls, **options: Any) -> Fault:
        """
        The normal response's headers and part of its body, then a connection reset.

        :param options: other :class:`Fault` fields (``status`` and ``body`` to cut another response).
        """
        return cls(reset=True, **options)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Fault:
        """
        Build a fault from a scenario entry: the fields, or ``kind`` naming a constructor.

        ``{"status": 503, "times": 2}`` and ``{"kind": "rate_limited", "reset_in": 5}`` both work.

        :param raw: the entry.
        :raises ValueError: if ``kind`` names no constructor.
        """
        options = dict(raw)
        kind = options.pop("kind", None)
        if kind is None:
            return cls(**options)
        if kind not in _KINDS:
            raise ValueError(f"Unknown fault kind {kind!r}; known kinds: {sorted(_KINDS)}.")
        constructor: Callable[..., Fault] = getattr(cls, kind)
        return constructor(**options)


_KINDS = frozenset({"server_error", "html", "rate_limited", "failure_body", "slow", "connection_reset"})


def _fill_request_id(body: Body, request_id: str) -> Body:
    if not isinstance(body, dict):
        return body
    error = body.get("error")
    if not isinstance(error, dict) or error.get("request_id") != REQUEST_ID:
        return body
    return {**body, "error": {**error, "request_id": request_id}}
