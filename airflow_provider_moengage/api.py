"""What the sync and async paths share: settings, request building, response parsing, paging, retries.

Nothing here does I/O. :class:`~airflow_provider_moengage.hooks.moengage.MoEngageHook` sends the
requests built here with ``requests`` (workers) or ``aiohttp`` (triggerer); both hand the answer's
status, headers and bytes to :func:`parse_status_response`, so both paths send the same bytes and
read answers the same way.
"""

from __future__ import annotations

import base64
import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_moengage import __version__
from airflow_provider_moengage.exceptions import (
    MoEngageAPIError,
    MoEngageAuthError,
    MoEngageBadRequestError,
    MoEngageConfigurationError,
    MoEngageError,
    MoEngageNotFoundError,
    MoEngageRateLimitError,
    MoEngageServerError,
    MoEngageUnexpectedResponseError,
)
from airflow_provider_moengage.models import (
    FILE_SOURCES,
    IMPORT_TYPES,
    SCHEDULE_STATUSES,
    SCHEDULE_TYPES,
    ImportFile,
    StatusPage,
)

if TYPE_CHECKING:
    from tenacity import RetryCallState

DATA_CENTERS: tuple[str, ...] = ("01", "02", "03", "04", "05", "06", "101")
DEFAULT_DATA_CENTER = "01"
STATUS_PATH = "/v1.0/data/fileimports/import/status"
#: MoEngage's documented budget for the status endpoint, per workspace.
DEFAULT_RATE_LIMIT_PER_MINUTE = 50
#: The API serves 50 records a page; the cap bounds a runaway ``more_files``.
DEFAULT_MAX_PAGES = 200
MAX_DATE_WINDOW = timedelta(days=30)
DATE_FORMAT = "YYYY-MM-DD"
DATETIME_FORMAT = "YYYY-MM-DD hh:mm:ss"
_EXCERPT_CHARS = 200


def base_url_for(data_center: str) -> str:
    """Return the File Imports base URL of a data center (``"01"`` .. ``"06"``, ``"101"``)."""
    return f"https://fileimports-data-api-{data_center}.moengage.com"


# --------------------------------------------------------------------------------------------------
# Connection settings
# --------------------------------------------------------------------------------------------------


def _extra_number(extra: Mapping[str, Any], key: str, default: float, *, integer: bool = False) -> Any:
    value = extra.get(key, default)
    if value is None or value == "":
        return default
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        number = -1
    if isinstance(value, bool) or number <= 0:
        kind = "a whole number" if integer else "a number"
        raise MoEngageConfigurationError(f"connection extra {key!r} must be {kind} > 0, got {value!r}")
    return number


def _extra_bool(extra: Mapping[str, Any], key: str, default: bool) -> bool:
    value = extra.get(key, default)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise MoEngageConfigurationError(f"connection extra {key!r} must be true or false, got {value!r}")


def connection_id(value: object) -> str:
    """Return ``value`` as a connection id, or fail naming ``moengage_conn_id``."""
    if not isinstance(value, str) or not value.strip():
        raise MoEngageConfigurationError(
            f"moengage_conn_id must be a non-empty string (an Airflow connection id), got {value!r}"
        )
    return value


def normalize_data_center(value: object) -> str:
    """Return the data center as the API spells it (``"1"`` and ``"dc-01"`` become ``"01"``).

    :raises MoEngageConfigurationError: naming the allowed values.
    """
    text = str(value if value not in (None, "") else DEFAULT_DATA_CENTER).strip().upper()
    text = text.removeprefix("DC").lstrip("-_ ")
    if text.isdigit() and len(text) < 2:
        text = text.zfill(2)
    if text not in DATA_CENTERS:
        raise MoEngageConfigurationError(
            f"connection extra 'data_center' must be one of {', '.join(DATA_CENTERS)}, got {value!r}"
        )
    return text


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything a request needs from the Airflow connection, validated once.

    The API key is kept out of ``repr`` so that it cannot reach a log through this object.
    """

    base_url: str
    workspace_id: str
    api_key: str = field(repr=False)
    timezone: ZoneInfo
    timeout: float = 30.0
    verify: bool = True
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    max_attempts: int = 5
    max_retry_seconds: float = 120.0

    @classmethod
    def from_connection(cls, conn: Any, extra: Mapping[str, Any] | None = None) -> ConnectionSettings:
        """Read an Airflow ``Connection``: login, password, host and the ``extra`` options.

        :param extra: the connection's extra, when the caller already read it (asynchronously, in
            the triggerer); otherwise ``conn.extra_dejson``.
        """
        if extra is None:
            extra = conn.extra_dejson if conn.extra else {}
        if not conn.login:
            raise MoEngageConfigurationError(
                f"connection {conn.conn_id!r} has no login: set it to the MoEngage Workspace ID"
            )
        if not conn.password:
            raise MoEngageConfigurationError(
                f"connection {conn.conn_id!r} has no password: set it to the MoEngage Data API key"
            )
        return cls(
            base_url=_base_url(conn, extra),
            workspace_id=str(conn.login).strip(),
            api_key=str(conn.password),
            timezone=_zone(extra.get("timezone")),
            timeout=_extra_number(extra, "timeout", 30.0),
            verify=_extra_bool(extra, "verify", True),
            rate_limit_per_minute=_extra_number(
                extra, "rate_limit_per_minute", DEFAULT_RATE_LIMIT_PER_MINUTE, integer=True
            ),
            max_attempts=_extra_number(extra, "max_attempts", 5, integer=True),
            max_retry_seconds=_extra_number(extra, "max_retry_seconds", 120.0),
        )

    @property
    def basic_credential(self) -> str:
        """The base64 ``workspace:key`` pair of the Authorization header (a secret)."""
        return base64.b64encode(f"{self.workspace_id}:{self.api_key}".encode()).decode("ascii")

    @property
    def status_url(self) -> str:
        """The full URL of the import status endpoint."""
        return self.base_url + STATUS_PATH

    def headers(self) -> dict[str, str]:
        """The headers of every request; the only place they are built."""
        return {
            "Authorization": f"Basic {self.basic_credential}",
            "MOE-APPKEY": self.workspace_id,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"airflow-provider-moengage/{__version__}",
        }

    def secrets(self) -> tuple[str, str]:
        """The values that must never be printed: the API key and the Basic credential."""
        return self.api_key, self.basic_credential


def _base_url(conn: Any, extra: Mapping[str, Any]) -> str:
    data_center = normalize_data_center(extra.get("data_center"))
    host = (conn.host or "").strip()
    if not host:
        return base_url_for(data_center)
    if "://" not in host:
        host = f"{conn.schema or 'https'}://{host}"
    if conn.port and host.count(":") < 2:
        host = f"{host}:{conn.port}"
    return host.rstrip("/")


def _zone(name: object) -> ZoneInfo:
    try:
        return ZoneInfo(str(name or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise MoEngageConfigurationError(
            f"connection extra 'timezone' must be an IANA time zone name such as 'UTC' or 'Asia/Kolkata', got {name!r}"
        ) from None


# --------------------------------------------------------------------------------------------------
# The question asked: filters and the body built from them
# --------------------------------------------------------------------------------------------------


def _enum_filter(argument: str, values: str | Iterable[str] | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if values is None:
        return ()
    items = [values] if isinstance(values, str) else list(values)
    result = []
    for value in items:
        text = value.strip().upper() if isinstance(value, str) else value
        if text not in allowed:
            raise MoEngageConfigurationError(f"{argument} must be one or more of {', '.join(allowed)}, got {value!r}")
        result.append(text)
    return tuple(dict.fromkeys(result))


def _window_bound(argument: str, value: object) -> datetime | date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            pass
    raise MoEngageConfigurationError(
        f"{argument} must be a date, a datetime or an ISO string ('2026-12-03' or '2026-12-03T06:00:00'), got {value!r}"
    )


def _as_datetime(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


@dataclass(frozen=True)
class StatusQuery:
    """The filters of one status question. Validated on creation, so bad values fail at parse time.

    Build it with :meth:`build`; :meth:`to_kwargs` and ``StatusQuery(**kwargs)`` round-trip it
    through a trigger's serialized kwargs.
    """

    import_name: str | None = None
    import_types: tuple[str, ...] = ()
    schedule_types: tuple[str, ...] = ()
    file_sources: tuple[str, ...] = ()
    schedule_statuses: tuple[str, ...] = ()
    start_date: datetime | date | None = None
    end_date: datetime | date | None = None

    @classmethod
    def build(
        cls,
        import_name: str | None = None,
        *,
        import_types: str | Iterable[str] | None = None,
        schedule_types: str | Iterable[str] | None = None,
        file_sources: str | Iterable[str] | None = None,
        schedule_statuses: str | Iterable[str] | None = None,
        start_date: object = None,
        end_date: object = None,
        window_names: tuple[str, str] = ("start_date", "end_date"),
    ) -> StatusQuery:
        """Validate the filters; every error names the argument and what it accepts.

        :param window_names: what the caller calls ``start_date`` and ``end_date``, for the messages.
        """
        if import_name is not None and (not isinstance(import_name, str) or not import_name.strip()):
            raise MoEngageConfigurationError(f"import_name must be a non-empty string, got {import_name!r}")
        query = cls(
            import_name=import_name.strip() if import_name else None,
            import_types=_enum_filter("import_types", import_types, IMPORT_TYPES),
            schedule_types=_enum_filter("schedule_types", schedule_types, SCHEDULE_TYPES),
            file_sources=_enum_filter("file_sources", file_sources, FILE_SOURCES),
            schedule_statuses=_enum_filter("schedule_statuses", schedule_statuses, SCHEDULE_STATUSES),
            start_date=_window_bound(window_names[0], start_date),
            end_date=_window_bound(window_names[1], end_date),
        )
        query._validate_window(*window_names)
        return query

    def _validate_window(self, start_name: str = "start_date", end_name: str = "end_date") -> None:
        start, end = self.start_date, self.end_date
        if (start is None) != (end is None):
            missing = end_name if end is None else start_name
            raise MoEngageConfigurationError(f"{start_name} and {end_name} go together: {missing} is missing")
        if start is None or end is None:
            return
        if _as_datetime(end) < _as_datetime(start):
            raise MoEngageConfigurationError(f"{end_name} {end} is before {start_name} {start}")
        if _as_datetime(end) - _as_datetime(start) > MAX_DATE_WINDOW:
            raise MoEngageConfigurationError(
                f"the window from {start_name} {start} to {end_name} {end} is longer than MoEngage's "
                f"maximum of {MAX_DATE_WINDOW.days} days"
            )

    def body(self, offset: int, tz: ZoneInfo) -> dict[str, Any]:
        """The JSON body for page ``offset`` (1-based). Enums go as arrays, as MoEngage's examples do."""
        body: dict[str, Any] = {}
        if self.import_name:
            body["import_name"] = self.import_name
        for key, values in (
            ("import_type", self.import_types),
            ("schedule_type", self.schedule_types),
            ("file_source", self.file_sources),
            ("schedule_status", self.schedule_statuses),
        ):
            if values:
                body[key] = list(values)
        if self.start_date is not None and self.end_date is not None:
            body["date"] = _date_body(self.start_date, self.end_date, tz)
        body["offset"] = offset
        return body

    def to_kwargs(self) -> dict[str, Any]:
        """JSON-like values that rebuild this query with ``StatusQuery.build(**kwargs)``."""
        return {
            "import_name": self.import_name,
            "import_types": list(self.import_types),
            "schedule_types": list(self.schedule_types),
            "file_sources": list(self.file_sources),
            "schedule_statuses": list(self.schedule_statuses),
            "start_date": self.start_date.isoformat() if self.start_date else None,
            "end_date": self.end_date.isoformat() if self.end_date else None,
        }


def _date_body(start: datetime | date, end: datetime | date, tz: ZoneInfo) -> dict[str, str]:
    if isinstance(start, datetime) or isinstance(end, datetime):

        def local(value: datetime | date) -> str:
            moment = _as_datetime(value) if isinstance(value, datetime) and value.tzinfo else value
            if isinstance(moment, datetime) and moment.tzinfo:
                moment = moment.astimezone(tz)
            if not isinstance(moment, datetime):
                moment = datetime(moment.year, moment.month, moment.day)
            return moment.strftime("%Y-%m-%d %H:%M:%S")

        return {"start_date": local(start), "end_date": local(end), "format": DATETIME_FORMAT}
    return {"start_date": start.isoformat(), "end_date": end.isoformat(), "format": DATE_FORMAT}


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request, exactly as it goes on the wire from either path."""

    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes


def build_status_request(settings: ConnectionSettings, query: StatusQuery, offset: int = 1) -> ApiRequest:
    """Build the POST for page ``offset`` of ``query``."""
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 1:
        raise MoEngageConfigurationError(f"offset is a 1-based page number and must be >= 1, got {offset!r}")
    payload = json.dumps(query.body(offset, settings.timezone), separators=(",", ":")).encode()
    return ApiRequest(url=settings.status_url, headers=settings.headers(), body=payload)


# --------------------------------------------------------------------------------------------------
# Reading answers
# --------------------------------------------------------------------------------------------------

_REQUEST_ID_HEADERS = ("x-request-id", "x-amzn-requestid", "request-id", "x-moe-request-id")
_FAILURE_WORDS = frozenset({"fail", "failure", "failed", "error"})


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


def error_details(body: object, headers: Mapping[str, str]) -> dict[str, str | None]:
    """Pull message, type and request id out of any of MoEngage's error-body shapes.

    The shapes seen in the docs: ``{status, error: {message, type, request_id}}``,
    ``{status: "FAILURE", error_type, message}``, ``{title, description | error_description, code}``,
    ``{success: false, status_code, data}`` and ``{status: "fail", data | message}``.
    """
    fields: dict[str, Any] = body if isinstance(body, dict) else {}
    nested = fields.get("error")
    error: dict[str, Any] = nested if isinstance(nested, dict) else {}
    message = (
        error.get("message")
        or fields.get("message")
        or fields.get("description")
        or fields.get("error_description")
        or (nested if isinstance(nested, str) else None)
        or (fields.get("data") if isinstance(fields.get("data"), str) else None)
    )
    error_type = error.get("type") or fields.get("error_type") or fields.get("title") or fields.get("status_code")
    request_id = (
        error.get("request_id")
        or fields.get("request_id")
        or _header(headers, "x-request-id")
        or next((_header(headers, name) for name in _REQUEST_ID_HEADERS if _header(headers, name)), None)
        or fields.get("code")
    )
    return {"message": _text(message), "error_type": _text(error_type), "request_id": _text(request_id)}


def retry_after_seconds(
    headers: Mapping[str, str], now: float | None = None, *, rate_limited: bool = True
) -> float | None:
    """Seconds to wait as the server says: ``Retry-After`` (seconds or HTTP date) or ``x-ratelimit-reset``.

    ``x-ratelimit-reset`` is documented as UTC epoch seconds (small values are read as a delay) and
    is sent on every response, so it is a wait instruction only on a 429 (``rate_limited``).
    """
    now = time.time() if now is None else now
    retry_after = _header(headers, "retry-after")
    if retry_after:
        text = retry_after.strip()
        try:
            # isascii: str.isdigit accepts "²", which float() rejects
            if text.isascii() and text.replace(".", "", 1).isdigit():
                wait = float(text)
            else:
                wait = parsedate_to_datetime(text).timestamp() - now
        except (TypeError, ValueError, OverflowError):
            wait = math.nan
        if math.isfinite(wait):
            return max(wait, 0.0)
    reset = _header(headers, "x-ratelimit-reset") if rate_limited else None
    if reset:
        try:
            value = float(reset.strip())
        except ValueError:
            return None
        if not math.isfinite(value):  # "nan" or "inf" is no instruction; NaN would even reach sleep()
            return None
        return max(value - now, 0.0) if value > 10**9 else max(value, 0.0)
    return None


def _excerpt(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    return " ".join(text.split())[:_EXCERPT_CHARS]


def _error_class(status: int) -> type[MoEngageAPIError]:
    if status in (401, 403):
        return MoEngageAuthError
    if status == 404:
        return MoEngageNotFoundError
    if status == 429:
        return MoEngageRateLimitError
    if status >= 500:
        return MoEngageServerError
    if 400 <= status < 500:
        return MoEngageBadRequestError
    return MoEngageUnexpectedResponseError


_SUMMARIES = {
    401: "MoEngage rejected the credentials (check the Workspace ID, the Data API key and MOE-APPKEY)",
    403: "MoEngage refused access (the key may not cover File Imports, or the account is blocked)",
    404: "MoEngage has no such endpoint (check the data center or the host of the connection)",
    429: "MoEngage's rate limit was exceeded",
}


def _summary(status: int) -> str:
    if status in _SUMMARIES:
        return _SUMMARIES[status]
    if status >= 500:
        return "MoEngage had a server error"
    if 400 <= status < 500:
        return "MoEngage rejected the request"
    return "MoEngage sent an unexpected HTTP status"


def raise_for_error_status(status: int, headers: Mapping[str, str], raw: bytes) -> None:
    """Raise the right :class:`MoEngageAPIError` for a non-2xx answer; do nothing for 2xx."""
    if 200 <= status < 300:
        return
    try:
        body: Any = json.loads(raw) if raw else None
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep for the decoder
        body = None
    details = error_details(body, headers)
    raise _error_class(status)(
        _summary(status),
        http_status=status,
        message=details["message"],
        error_type=details["error_type"],
        request_id=details["request_id"],
        excerpt=None if isinstance(body, dict | list) or not raw else _excerpt(raw),
        retry_after=retry_after_seconds(headers, rate_limited=status == 429)
        if status == 429 or status >= 500
        else None,
    )


def _looks_failed(body: Mapping[str, Any]) -> bool:
    status = body.get("status")
    return (
        (isinstance(status, str) and status.strip().lower() in _FAILURE_WORDS)
        or body.get("success") is False
        or "error" in body
        or "error_type" in body
    )


def _parse_more_files(value: object, status: int, request_id: str | None) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise MoEngageUnexpectedResponseError(
        f"MoEngage sent more_files={value!r}; expected true or false", http_status=status, request_id=request_id
    )


def _parse_total(value: object, status: int, request_id: str | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    raise MoEngageUnexpectedResponseError(
        f"MoEngage sent total_count={value!r}; expected a whole number", http_status=status, request_id=request_id
    )


def parse_status_response(
    status: int,
    headers: Mapping[str, str],
    raw: bytes,
    *,
    import_name: str | None = None,
    tz: ZoneInfo | timezone = UTC,
) -> StatusPage:
    """Turn an HTTP answer into a :class:`StatusPage`, or raise the matching error.

    HTTP 200 with a failure body, a body that is not JSON, or a body without a ``data`` list is an
    error, never data.
    """
    raise_for_error_status(status, headers, raw)
    request_id = _header(headers, "x-request-id")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep for the decoder
        raise MoEngageUnexpectedResponseError(
            "MoEngage answered with a body that is not JSON",
            http_status=status,
            excerpt=_excerpt(raw) or "(empty)",
            request_id=request_id,
        ) from None
    if not isinstance(body, dict):
        raise MoEngageUnexpectedResponseError(
            f"MoEngage answered with a JSON {type(body).__name__}, not an object",
            http_status=status,
            excerpt=_excerpt(raw),
            request_id=request_id,
        )
    if _looks_failed(body):
        details = error_details(body, headers)
        raise MoEngageUnexpectedResponseError(
            "MoEngage answered HTTP 200 but the body says the request failed",
            http_status=status,
            message=details["message"],
            error_type=details["error_type"],
            request_id=details["request_id"],
        )
    records = body.get("data")
    if not isinstance(records, list):
        raise MoEngageUnexpectedResponseError(
            f"MoEngage's answer has no 'data' list (data={records!r:.100})",
            http_status=status,
            request_id=request_id,
        )
    return StatusPage(
        files=tuple(ImportFile.from_api(record, import_name, tz) for record in records),
        total_count=_parse_total(body.get("total_count"), status, request_id),
        more_files=_parse_more_files(body.get("more_files"), status, request_id),
        offset=body.get("offset") if isinstance(body.get("offset"), int) else None,
        request_id=request_id,
    )


# --------------------------------------------------------------------------------------------------
# Paging
# --------------------------------------------------------------------------------------------------


class PageWalk:
    """Decides, page after page, whether to ask for another; refuses to call a partial list whole.

    :param max_pages: hard cap on the pages fetched for one question.
    """

    def __init__(self, max_pages: int = DEFAULT_MAX_PAGES) -> None:
        self.max_pages = max_pages
        self.pages = 0
        self.received = 0
        self.total_count: int | None = None
        self._seen: dict[str, ImportFile] = {}

    def unique(self, page: StatusPage) -> list[ImportFile]:
        """Return the page's records not already seen; a record repeated with other values fails."""
        fresh = []
        for record in page.files:
            key = record.id
            if key is None:
                fresh.append(record)
                continue
            earlier = self._seen.get(key)
            if earlier is None:
                self._seen[key] = record
                fresh.append(record)
            elif earlier != record:
                raise MoEngageUnexpectedResponseError(
                    f"MoEngage sent record id {key!r} twice with different values while paging "
                    f"(status {earlier.file_status!r} then {record.file_status!r})",
                    request_id=page.request_id,
                )
        return fresh

    def next_offset(self, page: StatusPage, offset: int) -> int | None:
        """Return the next page number to ask for, or ``None`` when the listing is complete."""
        self.pages += 1
        self.received += len(page.files)
        if page.total_count is not None:
            self.total_count = page.total_count
        more = page.more_files
        if more is None:
            if self.total_count is None:
                raise self._error("MoEngage's answer has neither more_files nor total_count", page)
            more = self.received < self.total_count
        if self.total_count is not None and self.received > self.total_count:
            raise self._error(
                f"MoEngage sent {self.received} records over {self.pages} pages but total_count is {self.total_count}",
                page,
            )
        if not more:
            if self.total_count is not None and self.received < self.total_count:
                raise self._error(
                    f"MoEngage said there are no more files after {self.received} records, but "
                    f"total_count is {self.total_count}",
                    page,
                )
            return None
        if not page.files:
            raise self._error(f"MoEngage said more_files is true but page {offset} is empty", page)
        if self.pages >= self.max_pages:
            raise self._error(f"MoEngage kept saying more_files after {self.max_pages} pages (the cap)", page)
        return offset + 1

    @staticmethod
    def _error(summary: str, page: StatusPage) -> MoEngageUnexpectedResponseError:
        return MoEngageUnexpectedResponseError(summary, request_id=page.request_id)


# --------------------------------------------------------------------------------------------------
# Retry policy (tenacity), shared by sync and async
# --------------------------------------------------------------------------------------------------


def is_transient(error: BaseException) -> bool:
    """Whether an error is worth retrying: 429, 5xx, connection trouble and timeouts."""
    return isinstance(error, MoEngageError) and error.transient


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, honouring the server's wait hints, bounded in tries and time.

    :param max_attempts: tries in all, the first included.
    :param max_seconds: no retry is started if its wait would end past this many seconds.
    :param initial_wait: the first backoff, doubled on each retry, with full jitter.
    :param max_wait: the longest single backoff.
    """

    max_attempts: int = 5
    max_seconds: float = 120.0
    initial_wait: float = 1.0
    max_wait: float = 30.0

    def wait(self, retry_state: RetryCallState) -> float:
        """tenacity ``wait``: the server's hint when it gave one, else jittered exponential backoff."""
        error = retry_state.outcome.exception() if retry_state.outcome else None
        hint = getattr(error, "retry_after", None)
        if hint is not None:
            return float(hint) + random.uniform(0, 0.25)
        ceiling = min(self.max_wait, self.initial_wait * 2 ** (retry_state.attempt_number - 1))
        return random.uniform(self.initial_wait / 2, ceiling)

    def tenacity_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``tenacity.Retrying`` and ``tenacity.AsyncRetrying`` alike."""
        from tenacity import retry_if_exception, stop_after_attempt, stop_before_delay

        return {
            "retry": retry_if_exception(is_transient),
            "stop": stop_after_attempt(self.max_attempts) | stop_before_delay(self.max_seconds),
            "wait": self.wait,
            "reraise": True,
        }


# --------------------------------------------------------------------------------------------------
# Client-side rate limit
# --------------------------------------------------------------------------------------------------


class SlidingWindowLimiter:
    """Never more than ``limit`` sends in any ``window`` seconds (a true sliding window).

    :meth:`reserve` books the next free send time and returns how long to wait for it; the caller
    sleeps (``time.sleep`` or ``asyncio.sleep``) and then sends. Booking is thread-safe and never
    blocks, so the triggerer's event loop may call it.

    :param limit: sends allowed per window.
    :param window: the window in seconds; one second over a minute by default, to absorb the
        difference between when we send and when MoEngage counts.
    :param clock: a monotonic clock in seconds (a fake one in tests).
    """

    def __init__(self, limit: int, window: float = 61.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Book a send slot; return the seconds to wait before using it (0 when free now)."""
        with self._lock:
            now = self.clock()
            while self._sent and self._sent[0] <= now - self.window:
                self._sent.popleft()
            slot = now if len(self._sent) < self.limit else max(now, self._sent[-self.limit] + self.window)
            self._sent.append(slot)
            return slot - now


_LIMITERS: dict[tuple[str, str], SlidingWindowLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(settings: ConnectionSettings) -> SlidingWindowLimiter:
    """The process-wide limiter of a workspace, shared by every hook and trigger that uses it."""
    key = (settings.base_url, settings.workspace_id)
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = _LIMITERS[key] = SlidingWindowLimiter(settings.rate_limit_per_minute)
        # Two connections to one workspace with different budgets: the stricter one wins.
        limiter.limit = min(limiter.limit, settings.rate_limit_per_minute)
        return limiter
