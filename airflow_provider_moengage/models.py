"""Typed API records, the status vocabulary, and the one function that judges a status.

Everything that decides "is this import done, and did it work?" lives here, so the sensor (poke
and reschedule), the trigger and the operator cannot disagree.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from airflow_provider_moengage.exceptions import (
    MoEngageConfigurationError,
    MoEngageUnexpectedResponseError,
    MoEngageUnknownStatusError,
)

# --------------------------------------------------------------------------------------------------
# Status vocabulary
# --------------------------------------------------------------------------------------------------

SUCCESSFUL = "SUCCESSFUL"
FAILED = "FAILED"
PARTIAL_SUCCESS = "PARTIAL_SUCCESS"
#: The File Run History spec's response enum says PARTIAL_FAILURE; it means the same as PARTIAL_SUCCESS.
PARTIAL_FAILURE = "PARTIAL_FAILURE"
ARCHIVED = "ARCHIVED"

SUCCESS_STATUSES: frozenset[str] = frozenset({SUCCESSFUL})
PARTIAL_STATUSES: frozenset[str] = frozenset({PARTIAL_SUCCESS, PARTIAL_FAILURE})
FAILURE_STATUSES: frozenset[str] = frozenset({FAILED}) | PARTIAL_STATUSES
#: Terminal, but not success: the import was archived and will not run again.
ARCHIVED_STATUSES: frozenset[str] = frozenset({ARCHIVED})
PENDING_STATUSES: frozenset[str] = frozenset({"SCHEDULED", "QUEUED", "PROCESSING", "WAITING"})
TERMINAL_STATUSES: frozenset[str] = SUCCESS_STATUSES | FAILURE_STATUSES | ARCHIVED_STATUSES
KNOWN_STATUSES: frozenset[str] = TERMINAL_STATUSES | PENDING_STATUSES

#: Enum filters of the status endpoint, with the values MoEngage accepts (case-sensitive upstream).
IMPORT_TYPES: tuple[str, ...] = ("USERS", "EVENTS", "AUX_DATA")
SCHEDULE_TYPES: tuple[str, ...] = ("PERIODIC", "ONETIME")
FILE_SOURCES: tuple[str, ...] = ("SFTP", "S3", "CSV")
SCHEDULE_STATUSES: tuple[str, ...] = (
    "SUCCESSFUL",
    "FAILED",
    "PARTIAL_SUCCESS",
    "SCHEDULED",
    "PROCESSING",
    "QUEUED",
    "ARCHIVED",
)

_STATUS_SEPARATORS = re.compile(r"[\s\-]+")
#: A whole number as the API writes one. ``str.isdigit`` is not enough: it accepts ``"²"``, which ``int`` rejects.
_WHOLE_NUMBER = re.compile(r"[0-9]+")


def normalize_status(value: object) -> str | None:
    """Return a status in canonical form (upper case, ``_`` separators), or ``None`` if there is none.

    ``"partial success"``, ``"Partial-Success"`` and ``"PARTIAL_SUCCESS"`` are the same status.
    """
    if not isinstance(value, str):
        return None
    text = _STATUS_SEPARATORS.sub("_", value.strip()).upper()
    return text or None


def _normalize_status_set(argument: str, values: Iterable[str] | None) -> frozenset[str]:
    if values is None:
        return frozenset()
    if isinstance(values, str):
        values = [values]
    normalized = set()
    for value in values:
        status = normalize_status(value)
        if status is None:
            raise MoEngageConfigurationError(f"{argument} must hold non-empty status names, got {value!r}")
        normalized.add(status)
    return frozenset(normalized)


# --------------------------------------------------------------------------------------------------
# Timestamps and numbers from the API
# --------------------------------------------------------------------------------------------------


def parse_timestamp(value: object, tz: ZoneInfo | timezone = UTC) -> datetime | None:
    """Parse an API timestamp into an aware datetime.

    The API sends naive ISO strings (``2024-11-14T12:31:31.713000``) whose zone is not documented;
    they are read in ``tz``. ``Z`` and explicit offsets are honoured. ``None`` and ``""`` mean "not
    set" and give ``None``.

    :raises ValueError: when the value is present but is not a timestamp.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    else:
        raise ValueError(f"expected an ISO 8601 string, got {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} falls outside the datetimes that exist in UTC") from None
    return parsed


def parse_baseline(value: object, argument: str = "scheduled_after") -> datetime | None:
    """Parse a user-supplied baseline (a datetime, a date, or an ISO string) into an aware UTC datetime.

    A naive value is taken to be UTC, as Airflow's own ``data_interval_start`` is.
    """
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    try:
        parsed = parse_timestamp(value, UTC)
    except ValueError as err:
        raise MoEngageConfigurationError(
            f"{argument} must be a datetime or an ISO 8601 string such as '2026-12-03T06:00:00+00:00', got {value!r}"
        ) from err
    assert parsed is not None  # only None and "" map to None, handled above
    return parsed.astimezone(UTC)


def _parse_count(record: Mapping[str, Any], key: str) -> int | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _bad_field(record, key, value)
    # A row count below zero is garbage; read as a number, -3 failed rows would pass max_failed_rows=0.
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
        return int(value.strip())
    raise _bad_field(record, key, value)


def _parse_size(value: object) -> int | str | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    return int(text) if text.isascii() and text.isdigit() else text


def _optional_str(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _bad_field(record: Mapping[str, Any], key: str, value: object) -> MoEngageUnexpectedResponseError:
    record_id = record.get("id") or record.get("import_id")
    return MoEngageUnexpectedResponseError(f"MoEngage record {record_id!r} has an unusable {key!r}: {value!r}")


def _timestamp_field(record: Mapping[str, Any], key: str, tz: ZoneInfo | timezone) -> datetime | None:
    try:
        return parse_timestamp(record.get(key), tz)
    except ValueError:
        raise _bad_field(record, key, record.get(key)) from None


# --------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportFile:
    """One file of a MoEngage import, as the status endpoint reports it.

    Records of the import-level shape (``last_run_status``, ``last_run_at``...) are read as the
    import's latest run: ``file_status`` is the last run's status and ``scheduled_at`` its time.
    ``file_status`` keeps the value as sent (it may be missing or unknown); judge it with
    :meth:`StatusPolicy.decide`.
    """

    id: str | None
    import_name: str | None
    file_name: str | None
    file_status: str | None
    scheduled_at: datetime | None
    completed_at: datetime | None
    import_type: str | None = None
    file_size: int | str | None = None
    status_msg: str | None = None
    total_rows: int | None = None
    added_rows: int | None = None
    updated_rows: int | None = None
    skipped_rows: int | None = None
    failed_rows: int | None = None
    aux_data_added_count: int | None = None
    aux_data_failed_count: int | None = None
    #: ``"file"`` for File Imports records, ``"import"`` for import-level records.
    shape: str = "file"
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def status(self) -> str | None:
        """The status in canonical form, or ``None`` when the record has none."""
        return normalize_status(self.file_status)

    @property
    def label(self) -> str:
        """A short human name for messages: the file name and id."""
        name = self.file_name or "(no file name)"
        return f"{name!r} (id {self.id or 'unknown'})"

    @classmethod
    def from_api(
        cls,
        record: object,
        import_name: str | None = None,
        tz: ZoneInfo | timezone = UTC,
    ) -> ImportFile:
        """Build a record from one item of the response's ``data`` list.

        :param record: the item as decoded from JSON.
        :param import_name: the import that was asked about (file records do not repeat it).
        :param tz: the zone naive timestamps are read in (the connection's ``timezone`` extra).
        :raises MoEngageUnexpectedResponseError: when the item is not an object or a field is unusable.
        """
        if not isinstance(record, Mapping):
            raise MoEngageUnexpectedResponseError(
                f"MoEngage returned a record that is not a JSON object: {record!r:.200}"
            )
        if "file_status" not in record and ("last_run_status" in record or "import_id" in record):
            return cls._from_import_level(record, tz)
        return cls(
            id=_optional_str(record.get("id")),
            import_name=_optional_str(record.get("import_name")) or import_name,
            file_name=_optional_str(record.get("file_name")),
            file_status=_optional_str(record.get("file_status")),
            scheduled_at=_timestamp_field(record, "scheduled_at", tz),
            completed_at=_timestamp_field(record, "completed_at", tz),
            import_type=_optional_str(record.get("type")),
            file_size=_parse_size(record.get("file_size")),
            status_msg=_optional_str(record.get("status_msg")),
            total_rows=_parse_count(record, "total_rows"),
            added_rows=_parse_count(record, "added_rows"),
            updated_rows=_parse_count(record, "updated_rows"),
            skipped_rows=_parse_count(record, "skipped_rows"),
            failed_rows=_parse_count(record, "failed_rows"),
            aux_data_added_count=_parse_count(record, "aux_data_added_count"),
            aux_data_failed_count=_parse_count(record, "aux_data_failed_count"),
            shape="file",
            raw=dict(record),
        )

    @classmethod
    def _from_import_level(cls, record: Mapping[str, Any], tz: ZoneInfo | timezone) -> ImportFile:
        processed = _parse_count(record, "processed_rows")
        total = _parse_count(record, "total_rows")
        return cls(
            id=_optional_str(record.get("import_id")),
            import_name=_optional_str(record.get("import_name")),
            file_name=None,
            file_status=_optional_str(record.get("last_run_status")),
            scheduled_at=_timestamp_field(record, "last_run_at", tz),
            completed_at=None,
            import_type=_optional_str(record.get("import_type")),
            total_rows=total,
            added_rows=processed,
            failed_rows=None if total is None or processed is None else max(total - processed, 0),
            shape="import",
            raw=dict(record),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-serialisable values (for XCom and trigger events)."""
        return {
            "id": self.id,
            "import_name": self.import_name,
            "file_name": self.file_name,
            "file_status": self.file_status,
            "scheduled_at": self.scheduled_at.isoformat() if self.scheduled_at else None,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "import_type": self.import_type,
            "file_size": self.file_size,
            "status_msg": self.status_msg,
            "total_rows": self.total_rows,
            "added_rows": self.added_rows,
            "updated_rows": self.updated_rows,
            "skipped_rows": self.skipped_rows,
            "failed_rows": self.failed_rows,
            "aux_data_added_count": self.aux_data_added_count,
            "aux_data_failed_count": self.aux_data_failed_count,
            "shape": self.shape,
            "raw": dict(self.raw),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ImportFile:
        """Rebuild a record from :meth:`to_dict` output (a trigger event or an XCom)."""
        known = dict(values)
        raw = known.pop("raw", None) or {}
        for key in ("scheduled_at", "completed_at"):
            known[key] = parse_timestamp(known.get(key))
        return cls(**known, raw=raw)


@dataclass(frozen=True)
class StatusPage:
    """One page of the status endpoint's answer.

    :param files: the page's records, in the order the API sent them.
    :param total_count: how many records match in all, if the API said.
    :param more_files: whether another page follows, if the API said (bool or "true"/"false").
    :param offset: the page number the API says it served.
    :param request_id: the response's request id, for support tickets.
    """

    files: tuple[ImportFile, ...]
    total_count: int | None
    more_files: bool | None
    offset: int | None = None
    request_id: str | None = None


# --------------------------------------------------------------------------------------------------
# Choosing the latest file
# --------------------------------------------------------------------------------------------------

_EARLIEST = datetime.min.replace(tzinfo=UTC)


def _order_key(import_file: ImportFile) -> tuple[datetime, datetime, str]:
    if import_file.scheduled_at is None:
        raise MoEngageUnexpectedResponseError(
            f"MoEngage record {import_file.label} has no scheduled_at, so it cannot be ordered "
            "against the import's other files"
        )
    return (import_file.scheduled_at, import_file.completed_at or _EARLIEST, import_file.id or "")


def latest_file(files: Iterable[ImportFile], scheduled_after: datetime | None = None) -> ImportFile | None:
    """Return the newest file by ``scheduled_at`` (ties: ``completed_at``, then ``id``), or ``None``.

    Files scheduled before ``scheduled_after`` are ignored. Records may come in any order. A record
    whose time cannot be read fails loudly rather than being skipped: skipping it could hide the
    newest file and let an older success through. So do two different records that tie as the
    newest (same times, both without an id): which one is judged would depend on the order.
    """
    best: ImportFile | None = None
    best_key: tuple[datetime, datetime, str] | None = None
    rival: ImportFile | None = None
    for candidate in files:
        key = _order_key(candidate)
        if scheduled_after is not None and key[0] < scheduled_after:
            continue
        if best_key is None or key > best_key:
            best, best_key, rival = candidate, key, None
        elif key == best_key and candidate != best:
            rival = candidate
    if best is not None and rival is not None:
        raise MoEngageUnexpectedResponseError(
            f"MoEngage sent two different records that are both the latest file: {best.label} with status "
            f"{best.file_status!r} and {rival.label} with status {rival.file_status!r}, with the same "
            "scheduled_at and completed_at and no id to tell them apart"
        )
    return best


# --------------------------------------------------------------------------------------------------
# The decision
# --------------------------------------------------------------------------------------------------


class Verdict(str, enum.Enum):
    """What a status means for a waiting task."""

    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True)
class Decision:
    """The verdict on one file, with the sentence that explains it."""

    verdict: Verdict
    reason: str
    import_file: ImportFile | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the file has finished (successfully or not)."""
        return self.verdict is not Verdict.PENDING


@dataclass(frozen=True)
class StatusPolicy:
    """How statuses are judged: the built-in vocabulary plus the user's explicit choices.

    :param pending_statuses: extra statuses to treat as "still running".
    :param failure_statuses: extra statuses to treat as terminal failures.
    :param allow_partial_success: accept PARTIAL_SUCCESS (and PARTIAL_FAILURE) as success.
    :param max_failed_rows: accept a partial success with at most this many failed rows.
    :param max_failed_ratio: accept a partial success whose failed/total rows is at most this (0..1).
    """

    pending_statuses: frozenset[str] = frozenset()
    failure_statuses: frozenset[str] = frozenset()
    allow_partial_success: bool = False
    max_failed_rows: int | None = None
    max_failed_ratio: float | None = None

    @classmethod
    def build(
        cls,
        pending_statuses: Iterable[str] | None = None,
        failure_statuses: Iterable[str] | None = None,
        allow_partial_success: bool = False,
        max_failed_rows: int | None = None,
        max_failed_ratio: float | None = None,
    ) -> StatusPolicy:
        """Validate user arguments and return the policy; errors name the argument."""
        policy = cls(
            pending_statuses=_normalize_status_set("pending_statuses", pending_statuses),
            failure_statuses=_normalize_status_set("failure_statuses", failure_statuses),
            allow_partial_success=allow_partial_success,
            max_failed_rows=max_failed_rows,
            max_failed_ratio=max_failed_ratio,
        )
        policy.validate()
        return policy

    def validate(self) -> None:
        """Raise :class:`MoEngageConfigurationError` when the options contradict each other."""
        if not isinstance(self.allow_partial_success, bool):
            raise MoEngageConfigurationError(
                f"allow_partial_success must be True or False, got {self.allow_partial_success!r}"
            )
        self._validate_thresholds()
        self._validate_extra_statuses()

    def _validate_thresholds(self) -> None:
        rows, ratio = self.max_failed_rows, self.max_failed_ratio
        if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 0):
            raise MoEngageConfigurationError(f"max_failed_rows must be a whole number >= 0, got {rows!r}")
        if ratio is not None and (
            isinstance(ratio, bool) or not isinstance(ratio, int | float) or math.isnan(ratio) or not 0 <= ratio <= 1
        ):
            raise MoEngageConfigurationError(f"max_failed_ratio must be a number from 0 to 1, got {ratio!r}")
        if self.allow_partial_success and (rows is not None or ratio is not None):
            raise MoEngageConfigurationError(
                "allow_partial_success=True accepts every partial success, so it cannot be combined with "
                "max_failed_rows or max_failed_ratio; use the thresholds alone to accept small failures"
            )

    def _validate_extra_statuses(self) -> None:
        builtin = {
            "pending_statuses": self.pending_statuses & (TERMINAL_STATUSES),
            "failure_statuses": self.failure_statuses & (SUCCESS_STATUSES | PENDING_STATUSES),
        }
        for argument, clash in builtin.items():
            if clash:
                raise MoEngageConfigurationError(
                    f"{argument} cannot redefine built-in statuses {sorted(clash)}; it may only add new ones"
                )
        both = self.pending_statuses & self.failure_statuses
        if both:
            raise MoEngageConfigurationError(
                f"statuses {sorted(both)} are in both pending_statuses and failure_statuses"
            )

    @property
    def accepts_partial(self) -> bool:
        """Whether any partial success can pass the gate under this policy."""
        return self.allow_partial_success or self.max_failed_rows is not None or self.max_failed_ratio is not None

    def decide(self, import_file: ImportFile | None) -> Decision:
        """Judge one file. This is the only place a status becomes a verdict.

        ``None`` (no matching file yet) is pending. SUCCESSFUL is success. FAILED, ARCHIVED and
        user failure statuses are failures. PARTIAL_SUCCESS/PARTIAL_FAILURE are failures unless the
        policy accepts them. Pending statuses are pending.

        :raises MoEngageUnknownStatusError: for a missing status or one outside the vocabulary;
            an unknown state is never success and never pending.
        """
        if import_file is None:
            return Decision(Verdict.PENDING, "no matching file yet")
        status = import_file.status
        if status in SUCCESS_STATUSES:
            return Decision(Verdict.SUCCESS, _describe(import_file, "succeeded"), import_file)
        if status in PARTIAL_STATUSES:
            return self._judge_partial(import_file)
        if status in FAILURE_STATUSES or status in ARCHIVED_STATUSES or status in self.failure_statuses:
            return Decision(Verdict.FAILURE, _describe(import_file, "failed"), import_file)
        if status in PENDING_STATUSES or status in self.pending_statuses:
            return Decision(Verdict.PENDING, _describe(import_file, "is still running", rows=False), import_file)
        raise MoEngageUnknownStatusError(
            f"MoEngage import {import_file.import_name!r} file {import_file.label} has status "
            f"{import_file.file_status!r}, which is not a known status "
            f"(known: {', '.join(sorted(KNOWN_STATUSES))}). If MoEngage uses it on purpose, pass it in "
            "pending_statuses or failure_statuses."
        )

    def _judge_partial(self, import_file: ImportFile) -> Decision:
        accepted, why = self._partial_is_acceptable(import_file)
        if accepted:
            return Decision(Verdict.SUCCESS, _describe(import_file, f"partly succeeded, accepted: {why}"), import_file)
        return Decision(Verdict.FAILURE, _describe(import_file, f"partly failed ({why})"), import_file)

    def _partial_is_acceptable(self, import_file: ImportFile) -> tuple[bool, str]:
        if self.allow_partial_success:
            return True, "allow_partial_success=True"
        if not self.accepts_partial:
            return False, "partial success is not accepted; set max_failed_rows or max_failed_ratio to allow it"
        failed, total = import_file.failed_rows, import_file.total_rows
        if failed is None:
            return False, "the record has no failed_rows, so the thresholds cannot be checked"
        if self.max_failed_rows is not None and failed > self.max_failed_rows:
            return False, f"{failed} failed rows exceed max_failed_rows={self.max_failed_rows}"
        if self.max_failed_ratio is not None:
            if not total:
                return False, "the record has no total_rows, so max_failed_ratio cannot be checked"
            if failed / total > self.max_failed_ratio:
                return False, f"failed ratio {failed / total:.4f} exceeds max_failed_ratio={self.max_failed_ratio}"
        return True, "within max_failed_rows/max_failed_ratio"


def _describe(import_file: ImportFile, outcome: str, *, rows: bool = True) -> str:
    text = (
        f"MoEngage import {import_file.import_name!r} file {import_file.label} {outcome}: "
        f"status {import_file.file_status}"
    )
    if rows and (import_file.failed_rows is not None or import_file.total_rows is not None):
        text += f", {import_file.failed_rows} of {import_file.total_rows} rows failed"
    if import_file.status_msg:
        text += f", MoEngage says: {import_file.status_msg!r}"
    return text
