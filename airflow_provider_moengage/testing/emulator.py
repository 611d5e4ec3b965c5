"""
An in-process HTTP emulator of MoEngage's File Imports status API, for tests and demos.

It serves ``POST /v1.0/data/fileimports/import/status`` (and ``import/run/history``) over real
HTTP, checks requests in the order and with the bodies MoEngage documents, enforces the rate
limit on its own clock, and lets a test script each file's status over time and inject faults.
Pure standard library: it runs wherever the provider's tests run, Airflow or not.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

from airflow_provider_moengage.testing import _bodies
from airflow_provider_moengage.testing._http import Incoming, Response, Server
from airflow_provider_moengage.testing._query import (
    ApiError,
    StatusQuery,
    parse_history_query,
    parse_status_query,
)
from airflow_provider_moengage.testing._ratelimit import SlidingWindow
from airflow_provider_moengage.testing._records import render_record
from airflow_provider_moengage.testing.clock import Clock, MonotonicClock, utc_naive
from airflow_provider_moengage.testing.scenario import (
    TERMINAL_STATUSES,
    TYPICAL_RUN,
    Scenario,
    ScheduledFile,
    StatusStep,
    current_step_index,
    load_scenario,
)

if TYPE_CHECKING:
    import os

    from airflow_provider_moengage.testing.faults import Fault

STATUS_PATH = "/v1.0/data/fileimports/import/status"
HISTORY_PATH = "/v1.0/data/fileimports/import/run/history"


@dataclass(frozen=True)
class RecordedRequest:
    """
    One request the emulator received, and the status it answered with.

    :param method: the HTTP method.
    :param path: the path, without the query string.
    :param headers: the request headers, names lower-cased.
    :param body: the raw body.
    :param json: the body parsed as JSON, or None if it is not JSON.
    :param response_status: the HTTP status sent back.
    :param at: the emulator clock reading when it was answered.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any | None
    response_status: int
    at: float

    @property
    def offset(self) -> int | None:
        """The page the body asked for, or None if it did not say (or said something invalid)."""
        return offset_of(self.json)


def offset_of(payload: Any) -> int | None:
    """
    Return a request body's ``offset`` as an int, or None if absent or not a positive integer.

    :param payload: the parsed body.
    """
    raw = payload.get("offset") if isinstance(payload, dict) else None
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        return None
    return raw


@dataclass(frozen=True)
class _Route:
    parse: Callable[[bytes], StatusQuery]
    description_key: str
    requires_import: bool


_ROUTES = {
    STATUS_PATH: _Route(parse_status_query, "description", requires_import=False),
    HISTORY_PATH: _Route(parse_history_query, "error_description", requires_import=True),
}


@dataclass
class _FileState:
    """A stored file and where it is in its timeline."""

    file: ScheduledFile
    added_at: float
    served_before: int
    sort_key: float
    step_index: int
    step_since: datetime
    initial: bool = True


@dataclass
class _ActiveFault:
    fault: Fault
    remaining: int | None


@dataclass(frozen=True)
class _View:
    status: str | None
    file: ScheduledFile
    completed_at: datetime | None


class MoEngageEmulator:
    """
    A MoEngage File Imports API on a local port.

    :param workspace_id: the Basic-auth username and ``MOE-APPKEY`` value it accepts.
    :param api_key: the Basic-auth password it accepts.
    :param host: the address to bind.
    :param port: the port to bind; 0 picks a free one.
    :param rate_limit_per_minute: requests allowed in any 60 s of the emulator clock; None: no limit.
    :param page_size: files per page.
    :param clock: the clock for timelines and the rate limit; ``MonotonicClock()`` by default.
    :param shuffle_seed: records come in a shuffled order fixed by this seed (the API's order is
        undocumented, so clients must not depend on one); None keeps insertion order.
    :param more_files_as: serve ``more_files`` as a JSON ``"bool"`` or a ``"string"`` ("true"/"false").
    :param total_count_as: serve ``total_count`` as an ``"int"`` or a ``"string"``.
    :param send_ratelimit_headers: send ``x-ratelimit-limit``/``-remaining``/``-reset`` on every
        response (when there is a limit).
    """

    def __init__(
        self,
        workspace_id: str = "TEST_WORKSPACE",
        api_key: str = "test-api-key-not-secret",
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_minute: int | None = 50,
        page_size: int = 50,
        clock: Clock | None = None,
        shuffle_seed: int | None = 0,
        more_files_as: Literal["bool", "string"] = "bool",
        total_count_as: Literal["int", "string"] = "int",
        send_ratelimit_headers: bool = True,
    ) -> None:
        _check_choice("more_files_as", more_files_as, ("bool", "string"))
        _check_choice("total_count_as", total_count_as, ("int", "string"))
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}.")
        self.workspace_id = workspace_id
        self.api_key = api_key
        self.host = host
        self.port = port
        self.page_size = page_size
        self.clock: Clock = clock or MonotonicClock()
        self.more_files_as = more_files_as
        self.total_count_as = total_count_as
        self.send_ratelimit_headers = send_ratelimit_headers
        #: Answer every authenticated request with the documented 403 of a suspended account.
        self.blocked = False
        #: How many requests the rate limit refused with 429 (faults not included).
        self.rate_limited_count = 0
        self._window = SlidingWindow(rate_limit_per_minute)
        self._order = None if shuffle_seed is None else random.Random(shuffle_seed)
        self._lock = threading.RLock()
        self._files: list[_FileState] = []
        self._faults: list[_ActiveFault] = []
        self._requests: list[RecordedRequest] = []
        self._served: Counter[str] = Counter()
        self._served_total = 0
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self.url if self._server else "not started"
        return f"MoEngageEmulator({where}, workspace {self.workspace_id}, {len(self._files)} files)"

    # Life cycle ---------------------------------------------------------------------------------

    @classmethod
    def from_scenario(
        cls, source: str | os.PathLike[str] | Mapping[str, Any] | Scenario, **overrides: Any
    ) -> MoEngageEmulator:
        """
        Build an emulator (not started) from a scenario.

        :param source: a :class:`Scenario`, its dict form, or a JSON/YAML file path.
        :param overrides: constructor arguments that win over the scenario's options.
        :raises ValueError: if the scenario has an option the constructor does not take.
        """
        scenario = source if isinstance(source, Scenario) else load_scenario(source)
        try:
            emulator = cls(**{**scenario.options, **overrides})
        except TypeError as error:
            raise ValueError(f"Scenario option not understood: {error}") from error
        emulator.add_files(scenario.files)
        for fault in scenario.faults:
            emulator.inject(fault)
        return emulator

    def start(self) -> MoEngageEmulator:
        """Bind the port and serve in a daemon thread; return the emulator."""
        if self._server is not None:
            raise RuntimeError(f"{self!r} is already started.")
        server = Server((self.host, self.port), self._respond)
        # stop() waits up to one poll interval, and test suites start an emulator per test.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="moengage-emulator", daemon=True
        )
        self._server = server
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and free the port; a stopped emulator may restart."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> MoEngageEmulator:
        return self if self._server else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, such as ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("The emulator has no URL until start() is called.")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def rate_limit_per_minute(self) -> int | None:
        """Requests allowed in any 60 s of the emulator clock, or None."""
        return self._window.limit

    def connection_json(self, conn_type: str = "moengage", **extra: Any) -> str:
        """
        Return an Airflow connection in JSON form, for ``AIRFLOW_CONN_MOENGAGE_DEFAULT``.

        :param conn_type: the connection type.
        :param extra: the connection's extras.
        """
        connection = {
            "conn_type": conn_type,
            "login": self.workspace_id,
            "password": self.api_key,
            "host": self.url,
            "extra": extra,
        }
        return json.dumps(connection)

    def connection_uri(self, conn_type: str = "moengage", **extra: Any) -> str:
        """
        Return an Airflow connection in URI form: ``moengage://http://login:password@host:port``.

        Airflow reads this as host ``http://<host>`` (scheme kept) and a separate port.

        :param conn_type: the connection type.
        :param extra: the connection's extras, sent as ``__extra__``.
        """
        parts = urlsplit(self.url)
        credentials = f"{quote(self.workspace_id, safe='')}:{quote(self.api_key, safe='')}"
        uri = f"{conn_type}://{parts.scheme}://{credentials}@{parts.netloc}"
        return f"{uri}/?__extra__={quote(json.dumps(extra), safe='')}" if extra else uri

    # Files --------------------------------------------------------------------------------------

    def add_file(self, file: ScheduledFile) -> ScheduledFile:
        """
        Start serving a file; its timeline starts now.

        :param file: the file; it is copied, with relative timestamps resolved and a default name.
        :return: the file as stored (absolute timestamps), whose ``id`` identifies it later.
        :raises ValueError: if a file with the same id is already served.
        """
        with self._lock:
            if any(state.file.id == file.id for state in self._files):
                raise ValueError(f"A file with id {file.id} is already served.")
            number = 1 + sum(state.file.import_name == file.import_name for state in self._files)
            stored = file.resolved(utc_naive(self.clock), number)
            state = _FileState(
                file=stored,
                added_at=self.clock.now(),
                served_before=self._served[stored.import_name],
                sort_key=self._order.random() if self._order else float(len(self._files)),
                step_index=current_step_index(stored.timeline, 0, 0),
                step_since=utc_naive(self.clock),
            )
            self._files.append(state)
            return stored

    def add_files(self, files: Iterable[ScheduledFile]) -> list[ScheduledFile]:
        """
        Add several files, in order.

        :param files: the files.
        :return: the files as stored.
        """
        return [self.add_file(file) for file in files]

    @property
    def files(self) -> list[ScheduledFile]:
        """The files served, as stored, in insertion order."""
        with self._lock:
            return [state.file for state in self._files]

    def set_status(self, file_id: str, status: str | None, **fields: Any) -> None:
        """
        Change a file's status now, overriding the rest of its timeline.

        :param file_id: the file's id.
        :param status: the new status.
        :param fields: record fields to change with it (``total_rows``, ``status_msg``...).
        """
        with self._lock:
            state = self._state(file_id)
            state.file.timeline.append(StatusStep(status, fields=fields))
            self._refresh(state, self.clock.now())

    def current_record(self, file_id: str) -> dict[str, Any]:
        """
        Return the record the API would serve for a file now, without counting a request.

        :param file_id: the file's id.
        """
        with self._lock:
            state = self._state(file_id)
            self._refresh(state, self.clock.now())
            return self._render(self._view(state))

    # Faults and requests ------------------------------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        """
        Answer matching requests with a fault, after the faults injected before it are used up.

        :param fault: the fault.
        :return: the fault.
        """
        with self._lock:
            self._faults.append(_ActiveFault(fault, fault.times))
        return fault

    def clear_faults(self) -> None:
        """Drop every fault not yet used up."""
        with self._lock:
            self._faults.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received, in order."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, import_name: str) -> list[RecordedRequest]:
        """
        Return the requests whose body named this import.

        :param import_name: the import.
        """
        return [r for r in self.requests if isinstance(r.json, dict) and r.json.get("import_name") == import_name]

    def reset_requests(self) -> None:
        """Forget the recorded requests (timelines keep their request counts)."""
        with self._lock:
            self._requests.clear()

    def status_requests_count(self, import_name: str | None = None) -> int:
        """
        Return how many status requests were served normally (HTTP 200 success bodies).

        These are the requests that move ``after_requests`` timelines: a request counts for every
        import it matched, leaving aside any status filter; each page counts.

        :param import_name: count only those that matched this import; None counts all.
        """
        with self._lock:
            return self._served_total if import_name is None else self._served[import_name]

    # Answering requests -------------------------------------------------------------------------

    def _respond(self, incoming: Incoming) -> Response:
        with self._lock:
            request_id = f"req-{uuid.uuid4().hex}"
            response = self._answer(incoming, request_id)
            now = self.clock.now()
            headers = {"x-request-id": request_id}
            if response.ratelimit_headers:
                headers.update(self._ratelimit_headers(now))
            response.headers = {**headers, **response.headers}
            self._requests.append(
                RecordedRequest(
                    method=incoming.method,
                    path=incoming.path,
                    headers=incoming.headers,
                    body=incoming.body,
                    json=incoming.payload,
                    response_status=response.status,
                    at=now,
                )
            )
            return response

    def _answer(self, incoming: Incoming, request_id: str) -> Response:
        route = _ROUTES.get(incoming.path)
        if route is None:
            return _json(404, _bodies.NOT_FOUND)
        if incoming.method != "POST":
            return _json(405, _bodies.METHOD_NOT_ALLOWED)
        gateway_fault = self._take_fault(incoming, before_auth=True)
        if gateway_fault is not None:
            return self._gateway_faulted(gateway_fault, route, incoming, request_id)
        refusal = self._refusal(route, incoming, request_id)
        if refusal is not None:
            return refusal
        fault = self._take_fault(incoming, before_auth=False)
        if fault is not None:
            return self._faulted(fault, lambda: self._serve(route, incoming), request_id)
        return self._serve(route, incoming)

    def _gateway_faulted(self, fault: Fault, route: _Route, incoming: Incoming, request_id: str) -> Response:
        """Answer with a fault met before auth; what it passes on goes through every check."""
        if not fault.needs_normal_response:
            # The request reached the server, so it counts, though no check admitted it.
            self._window.count(self.clock.now())

        def normal() -> Response:
            return self._refusal(route, incoming, request_id) or self._serve(route, incoming)

        return self._faulted(fault, normal, request_id)

    def _refusal(self, route: _Route, incoming: Incoming, request_id: str) -> Response | None:
        """Check auth, account, content type and rate limit, in that order, as the API does."""
        auth_error = self._auth_error(incoming.headers)
        if auth_error is not None:
            return _json(401, auth_error)
        if self.blocked:
            return _json(403, _bodies.blocked(request_id))
        if not _is_json(incoming.headers):
            return _json(415, _bodies.unsupported_media_type(route.description_key))
        if not self._window.admit(self.clock.now()):
            self.rate_limited_count += 1
            return _json(429, _bodies.rate_limited(request_id))
        return None

    def _auth_error(self, headers: Mapping[str, str]) -> dict[str, Any] | None:
        app_key = headers.get("moe-appkey")
        if app_key is None:
            return _bodies.HEADER_MISSING
        if _basic_credentials(headers.get("authorization", "")) != (self.workspace_id, self.api_key):
            return _bodies.AUTHENTICATION_INVALID
        if app_key != self.workspace_id:
            return _bodies.HEADER_MISMATCH
        return None

    def _serve(self, route: _Route, incoming: Incoming) -> Response:
        try:
            query = route.parse(incoming.body)
            if route.requires_import:
                self._require_import(query)
        except ApiError as error:
            return _json(error.status, error.body)
        now = self.clock.now()
        matched = sorted((s for s in self._files if query.matches_file(s.file)), key=lambda s: s.sort_key)
        for state in matched:
            self._refresh(state, now)
        selected = [view for view in map(self._view, matched) if query.matches_status(view.status)]
        start = (query.offset - 1) * self.page_size
        page = [self._render(view) for view in selected[start : start + self.page_size]]
        self._count_served({state.file.import_name for state in matched})
        return _json(200, self._page_body(page, len(selected), query.offset))

    def _require_import(self, query: StatusQuery) -> None:
        by_import = StatusQuery(import_name=query.import_name, import_id=query.import_id)
        if not any(by_import.matches_file(state.file) for state in self._files):
            raise ApiError(400, _bodies.IMPORT_NOT_FOUND)

    def _page_body(self, page: list[dict[str, Any]], total: int, offset: int) -> dict[str, Any]:
        more_files = offset * self.page_size < total
        return {
            "status": "success",
            "total_count": total if self.total_count_as == "int" else str(total),
            "data": page,
            "offset": offset,
            "more_files": more_files if self.more_files_as == "bool" else str(more_files).lower(),
        }

    def _count_served(self, import_names: set[str]) -> None:
        self._served_total += 1
        self._served.update(import_names)

    # Faults -------------------------------------------------------------------------------------

    def _take_fault(self, incoming: Incoming, before_auth: bool) -> Fault | None:
        """Return the first fault that answers this request, using one of its uses."""
        payload = incoming.payload
        offset = offset_of(payload) or 1
        import_name = payload.get("import_name") if isinstance(payload, dict) else None
        for active in self._faults:
            if active.fault.skip_auth == before_auth and active.fault.matches(offset, import_name):
                if active.remaining is not None:
                    active.remaining -= 1
                    if active.remaining == 0:
                        self._faults.remove(active)
                return active.fault
        return None

    def _faulted(self, fault: Fault, normal: Callable[[], Response], request_id: str) -> Response:
        """Answer with a fault; ``normal`` computes the normal response, if the fault needs it."""
        passed_on = normal() if fault.needs_normal_response else None
        if passed_on is not None and (fault.passes_through or passed_on.status != 200):
            response = passed_on
        else:
            payload = passed_on.payload if passed_on is not None else None
            body, content_type = fault.render(payload, request_id)
            response = Response(fault.response_status(200), body, _content_type_header(content_type))
        response.headers.update(fault.headers)
        response.headers.update(self._retry_after_headers(fault))
        response.delay, response.reset = fault.delay, fault.reset
        response.ratelimit_headers = fault.ratelimit_headers
        return response

    def _retry_after_headers(self, fault: Fault) -> dict[str, str]:
        if fault.retry_after is None:
            return {}
        return {
            "Retry-After": str(math.ceil(fault.retry_after)),
            "x-ratelimit-limit": str(self._window.limit or 0),
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(math.ceil(self.clock.time() + fault.retry_after)),
        }

    def _ratelimit_headers(self, now: float) -> dict[str, str]:
        if not self.send_ratelimit_headers or self._window.limit is None:
            return {}
        resets_at = self.clock.time() + (self._window.resets_at(now) - now)
        return {
            "x-ratelimit-limit": str(self._window.limit),
            "x-ratelimit-remaining": str(self._window.remaining(now)),
            "x-ratelimit-reset": str(math.ceil(resets_at)),
        }

    # Timelines ----------------------------------------------------------------------------------

    def _state(self, file_id: str) -> _FileState:
        for state in self._files:
            if state.file.id == file_id:
                return state
        known = [state.file.id for state in self._files]
        raise KeyError(f"No file with id {file_id!r} is served; served ids: {known}.")

    def _refresh(self, state: _FileState, now: float) -> None:
        """Move a file to the step its timeline has reached, noting when it got there."""
        elapsed = now - state.added_at
        served = self._served[state.file.import_name] - state.served_before
        index = current_step_index(state.file.timeline, elapsed, served)
        if index == state.step_index:
            return
        step = state.file.timeline[index]
        # A step reached by time was reached when its time came, not when someone looked.
        late_by = elapsed - step.after_seconds if step.after_seconds and elapsed >= step.after_seconds else 0
        state.step_index, state.initial = index, False
        state.step_since = utc_naive(self.clock) - timedelta(seconds=late_by)

    def _view(self, state: _FileState) -> _View:
        reached = state.file.timeline[: state.step_index + 1]
        file = state.file
        for step in reached:
            if step.fields:
                file = file.with_fields(step.fields)
        status = reached[-1].status
        return _View(status, file, self._completed_at(state, file, status))

    @staticmethod
    def _completed_at(state: _FileState, file: ScheduledFile, status: str | None) -> datetime | None:
        if status not in TERMINAL_STATUSES:
            return None
        if isinstance(file.completed_at, datetime):
            return file.completed_at
        if state.initial:
            return file.scheduled_datetime + TYPICAL_RUN
        return max(state.step_since, file.scheduled_datetime)

    @staticmethod
    def _render(view: _View) -> dict[str, Any]:
        return render_record(view.file, view.status, view.completed_at)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, not {value!r}.")


def _json(status: int, body: Mapping[str, Any]) -> Response:
    payload = dict(body)
    return Response(status, json.dumps(payload).encode(), {"Content-Type": "application/json"}, payload)


def _content_type_header(content_type: str | None) -> dict[str, str]:
    return {"Content-Type": content_type} if content_type else {}


def _is_json(headers: Mapping[str, str]) -> bool:
    media_type = headers.get("content-type", "").split(";", 1)[0]
    return media_type.strip().lower() == "application/json"


def _basic_credentials(authorization: str) -> tuple[str, str] | None:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None
