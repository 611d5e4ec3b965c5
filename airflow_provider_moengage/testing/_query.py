"""Reading and checking request bodies of the status endpoints, as MoEngage documents them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_moengage.testing import _bodies
from airflow_provider_moengage.testing.clock import to_naive_utc

if TYPE_CHECKING:
    from airflow_provider_moengage.testing.scenario import ScheduledFile

IMPORT_TYPES = frozenset({"USERS", "EVENTS", "AUX_DATA"})
SCHEDULE_TYPES = frozenset({"PERIODIC", "ONETIME"})
FILE_SOURCES = frozenset({"SFTP", "S3", "CSV"})
SCHEDULE_STATUSES = frozenset(
    {"SUCCESSFUL", "FAILED", "PARTIAL_SUCCESS", "SCHEDULED", "PROCESSING", "QUEUED", "ARCHIVED"}
)
#: The run/history ``file_status`` filter's values (they differ from ``schedule_status``'s).
FILE_STATUSES = frozenset({"SUCCESSFUL", "FAILED", "PARTIAL_SUCCESS", "PROCESSING", "QUEUED", "WAITING"})

#: The documented ``date.format`` values and the ``strptime`` patterns they stand for.
DATE_FORMATS = {
    "YYYY-MM-DD": "%Y-%m-%d",
    "YYYY/MM/DD": "%Y/%m/%d",
    "DD/MM/YYYY": "%d/%m/%Y",
    "DD-MM-YYYY": "%d-%m-%Y",
    "DD-MM-YYYY hh:mm:ss": "%d-%m-%Y %H:%M:%S",
    "DD/MM/YYYY hh:mm:ss": "%d/%m/%Y %H:%M:%S",
    "YYYY-MM-DD hh:mm:ss": "%Y-%m-%d %H:%M:%S",
    "YYYY/MM/DD hh:mm:ss": "%Y/%m/%d %H:%M:%S",
}
MAX_DATE_RANGE = timedelta(days=30)


class ApiError(Exception):
    """
    A request the API rejects, with the documented response.

    :param status: the HTTP status.
    :param body: the documented body.
    """

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class StatusQuery:
    """
    The filters of one status request; None means "not filtered".

    :param import_name: exact import name.
    :param import_id: exact import id (run/history only; it wins over ``import_name``).
    :param import_types: allowed import types.
    :param schedule_types: allowed schedule types.
    :param file_sources: allowed file sources.
    :param statuses: allowed current statuses (``schedule_status`` or ``file_status``).
    :param window: inclusive ``scheduled_at`` bounds.
    :param offset: the 1-based page.
    """

    import_name: str | None = None
    import_id: str | None = None
    import_types: frozenset[str] | None = None
    schedule_types: frozenset[str] | None = None
    file_sources: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    window: tuple[datetime, datetime] | None = None
    offset: int = 1

    def matches_file(self, file: ScheduledFile) -> bool:
        """
        Say whether a file passes every filter that does not depend on its current status.

        :param file: a file as the emulator stores it (timestamps resolved).
        """
        checks = (
            self._matches_import(file),
            _allowed(self.import_types, file.type),
            _allowed(self.schedule_types, file.schedule_type),
            _allowed(self.file_sources, file.file_source),
            self._in_window(file),
        )
        return all(checks)

    def matches_status(self, status: str | None) -> bool:
        """
        Say whether a current status passes the status filter.

        :param status: the file's current status.
        """
        return _allowed(self.statuses, status)

    def _matches_import(self, file: ScheduledFile) -> bool:
        if self.import_id is not None:
            return file.import_id == self.import_id
        return self.import_name is None or file.import_name == self.import_name

    def _in_window(self, file: ScheduledFile) -> bool:
        if self.window is None:
            return True
        start, end = self.window
        return isinstance(file.scheduled_at, datetime) and start <= file.scheduled_at <= end


def _allowed(allowed: frozenset[str] | None, value: str | None) -> bool:
    return allowed is None or value in allowed


def parse_status_query(body: bytes) -> StatusQuery:
    """
    Read an ``import/status`` request body.

    :param body: the raw body.
    :raises ApiError: with the documented 400 for any invalid field.
    """
    payload = _json_object(body)
    return StatusQuery(
        import_name=_import_name(payload),
        import_types=_enum(payload, "import_type", IMPORT_TYPES),
        schedule_types=_enum(payload, "schedule_type", SCHEDULE_TYPES),
        file_sources=_enum(payload, "file_source", FILE_SOURCES),
        statuses=_enum(payload, "schedule_status", SCHEDULE_STATUSES),
        offset=_offset(payload),
        window=_window(payload, iso_allowed=False),
    )


def parse_history_query(body: bytes) -> StatusQuery:
    """
    Read an ``import/run/history`` request body; ``import_id`` or ``import_name`` is required.

    :param body: the raw body.
    :raises ApiError: with the documented 400 for any invalid field, or a missing import.
    """
    payload = _json_object(body)
    import_id = payload.get("import_id")
    if import_id is not None and not isinstance(import_id, str):
        raise ApiError(400, _bodies.UNABLE_TO_PROCESS)
    import_name = _import_name(payload)
    if not import_id and not import_name:
        raise ApiError(400, _bodies.IMPORT_NOT_FOUND)
    return StatusQuery(
        import_name=import_name,
        import_id=import_id or None,
        statuses=_enum(payload, "file_status", FILE_STATUSES),
        offset=_offset(payload),
        window=_window(payload, iso_allowed=True),
    )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:
        raise ApiError(400, _bodies.UNABLE_TO_PROCESS) from None
    if not isinstance(payload, dict):
        raise ApiError(400, _bodies.UNABLE_TO_PROCESS)
    return payload


def _import_name(payload: Mapping[str, Any]) -> str | None:
    name = payload.get("import_name")
    if name is not None and not isinstance(name, str):
        raise ApiError(400, _bodies.UNABLE_TO_PROCESS)
    return name


def _enum(payload: Mapping[str, Any], key: str, allowed: frozenset[str]) -> frozenset[str] | None:
    """Read a field that takes one value or a list of them; values are case-sensitive."""
    raw = payload.get(key)
    if raw is None:
        return None
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not all(isinstance(v, str) and v in allowed for v in values):
        raise ApiError(400, _bodies.UNABLE_TO_PROCESS)
    return frozenset(values) or None


def _offset(payload: Mapping[str, Any]) -> int:
    raw = payload.get("offset")
    if raw is None:
        return 1
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise ApiError(400, _bodies.INVALID_OFFSET)
    return raw


def _window(payload: Mapping[str, Any], iso_allowed: bool) -> tuple[datetime, datetime] | None:
    """Read ``date`` into inclusive bounds; a date-only end covers its whole day."""
    raw = payload.get("date")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ApiError(400, _bodies.INVALID_DATE)
    start, end, date_only = _parse_dates(raw, iso_allowed)
    if end - start > MAX_DATE_RANGE:
        raise ApiError(400, _bodies.DATE_RANGE_TOO_LONG)
    if date_only:
        end += timedelta(days=1) - timedelta(microseconds=1)
    return start, end


def _parse_dates(raw: Mapping[str, Any], iso_allowed: bool) -> tuple[datetime, datetime, bool]:
    text_format = raw.get("format")
    start, end = raw.get("start_date"), raw.get("end_date")
    if not isinstance(start, str) or not isinstance(end, str):
        raise ApiError(400, _bodies.INVALID_DATE)
    if text_format is None and iso_allowed:
        return _parse_iso(start), _parse_iso(end), False
    pattern = DATE_FORMATS.get(text_format) if isinstance(text_format, str) else None
    if pattern is None:
        raise ApiError(400, _bodies.INVALID_DATE)
    return _strptime(start, pattern), _strptime(end, pattern), "%H" not in pattern


def _strptime(text: str, pattern: str) -> datetime:
    try:
        return datetime.strptime(text, pattern)
    except ValueError:
        raise ApiError(400, _bodies.INVALID_DATE) from None


def _parse_iso(text: str) -> datetime:
    try:
        return to_naive_utc(datetime.fromisoformat(text))
    except ValueError:
        raise ApiError(400, _bodies.INVALID_DATE) from None
