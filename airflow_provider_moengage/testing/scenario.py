"""
What the emulator serves: scheduled files, their status timelines, and scenario files.

A :class:`ScheduledFile` is one file of one import. Its :class:`StatusStep` timeline says which
``file_status`` it reports and when, counted in emulator-clock seconds or in status requests since
the file was added. A :class:`Scenario` bundles files, faults and emulator options, loaded from a
dict, a JSON file or a YAML file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_moengage.testing.clock import to_naive_utc
from airflow_provider_moengage.testing.faults import Fault

if TYPE_CHECKING:
    import os

#: The statuses after which a file's run is over; ``completed_at`` is served only for these.
TERMINAL_STATUSES = frozenset({"SUCCESSFUL", "FAILED", "PARTIAL_SUCCESS", "PARTIAL_FAILURE", "ARCHIVED"})

#: How long a run takes when a file is terminal from the start and no ``completed_at`` is given
#: (the gap between ``scheduled_at`` and ``completed_at`` in the documented example).
TYPICAL_RUN = timedelta(seconds=38, microseconds=229000)

#: The fields a :class:`StatusStep` may override, on top of its status.
STEP_FIELDS = frozenset(
    {
        "file_name",
        "file_size",
        "status_msg",
        "completed_at",
        "total_rows",
        "added_rows",
        "updated_rows",
        "skipped_rows",
        "failed_rows",
        "aux_data_added_count",
        "aux_data_failed_count",
        "extra_fields",
    }
)

_RELATIVE_TIME = re.compile(r"now(?:\s*([+-])\s*(\d+(?:\.\d+)?)\s*([smhd]))?")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_BUNDLED = Path(__file__).parent / "scenarios"


class _Remove:
    """The type of :data:`REMOVE`; test with :func:`is_remove`, as copies are not the same object."""

    def __repr__(self) -> str:
        return "REMOVE"


#: Put this as a value in ``ScheduledFile.extra_fields`` to drop that key from the served record.
REMOVE = _Remove()


def is_remove(value: object) -> bool:
    """Say whether ``value`` is :data:`REMOVE` (or a copy of it)."""
    return isinstance(value, _Remove)


Timestamp = datetime | str


def new_object_id() -> str:
    """Return a fresh 24-hex id shaped like MoEngage's (a Mongo ObjectId: epoch seconds, then random)."""
    return f"{int(time.time()):08x}{secrets.token_hex(8)}"


def resolve_timestamp(value: Timestamp, now: datetime) -> datetime:
    """
    Turn a timestamp as tests write it into a naive UTC datetime.

    :param value: a datetime (an aware one is converted to UTC), an ISO 8601 string, ``"now"``, or
        ``"now"`` plus or minus an amount in s, m, h or d, such as ``"now-10m"`` or ``"now+30s"``.
    :param now: the naive UTC datetime that ``"now"`` means.
    :raises ValueError: if a string is neither form.
    """
    if isinstance(value, datetime):
        return to_naive_utc(value)
    relative = _RELATIVE_TIME.fullmatch(value.strip())
    if relative:
        sign, amount, unit = relative.groups()
        offset = timedelta(seconds=float(amount or 0) * _UNIT_SECONDS.get(unit, 1))
        return now - offset if sign == "-" else now + offset
    try:
        return to_naive_utc(datetime.fromisoformat(value))
    except ValueError:
        raise ValueError(
            f"Timestamp {value!r} is neither ISO 8601 nor relative like 'now', 'now-10m', 'now+30s'."
        ) from None


@dataclass(frozen=True)
class StatusStep:
    """
    One status in a file's timeline.

    A step with neither condition holds from the start. Otherwise it holds once EITHER the emulator
    clock has moved ``after_seconds`` since the file was added, OR ``after_requests`` status requests
    matching the file's import have been served since then. The current step is the last one that
    holds; the fields of every step up to it apply, later ones winning.

    :param status: the ``file_status`` to serve; any string, or None, so tests can serve odd values.
    :param after_seconds: emulator-clock seconds after which the step holds (0: no time condition).
    :param after_requests: served status requests after which the step holds (0: no such condition).
    :param fields: record fields to change from this step on; keys from :data:`STEP_FIELDS`.
    """

    status: str | None
    after_seconds: float = 0
    after_requests: int = 0
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.fields) - STEP_FIELDS
        if unknown:
            raise ValueError(f"StatusStep cannot set {sorted(unknown)}; it may set {sorted(STEP_FIELDS)}.")
        if self.after_seconds < 0 or self.after_requests < 0:
            raise ValueError("StatusStep conditions cannot be negative.")

    @property
    def unconditional(self) -> bool:
        """Whether the step holds from the moment the file is added."""
        return not self.after_seconds and not self.after_requests

    def holds(self, elapsed: float, served: int) -> bool:
        """
        Say whether the step's condition is met.

        :param elapsed: emulator-clock seconds since the file was added.
        :param served: status requests served for the file's import since it was added.
        """
        if self.unconditional:
            return True
        by_time = bool(self.after_seconds) and elapsed >= self.after_seconds
        by_requests = bool(self.after_requests) and served >= self.after_requests
        return by_time or by_requests

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> StatusStep:
        """
        Build a step from a scenario entry such as ``{"status": "PROCESSING", "after_requests": 1}``.

        :param raw: the entry; ``status`` is required (it may be null).
        """
        if "status" not in raw:
            raise ValueError(f"A timeline step needs a 'status' key: {dict(raw)!r}.")
        return cls(**raw)


def current_step_index(timeline: list[StatusStep], elapsed: float, served: int) -> int:
    """
    Return the index of the last step that holds, or 0 if none does.

    :param timeline: the steps, in order.
    :param elapsed: emulator-clock seconds since the file was added.
    :param served: status requests served for the file's import since it was added.
    """
    holding = [index for index, step in enumerate(timeline) if step.holds(elapsed, served)]
    return holding[-1] if holding else 0


@dataclass
class ScheduledFile:
    """
    One file of one import, as the File Imports status API reports it.

    ``ScheduledFile("daily_users", status="FAILED")`` is a file whose timeline is that one status.

    :param import_name: the import the file belongs to.
    :param status: the only status, used when no ``timeline`` is given.
    :param id: the file id (for ``shape="import"``, the import id).
    :param file_name: defaults to ``{import_name}_{n}.csv``, n counting the import's files.
    :param type: the import type: USERS, EVENTS or AUX_DATA (anything is served as given).
    :param schedule_type: PERIODIC or ONETIME.
    :param file_source: SFTP, S3 or CSV.
    :param scheduled_at: naive UTC datetime or ISO string, or ``"now"``, ``"now-10m"``...,
        resolved against the emulator's wall clock when the file is added.
    :param completed_at: the same forms, or None to derive it when a terminal step is reached.
        Served only while the status is terminal; null otherwise.
    :param timeline: the steps the status goes through.
    :param file_size: served as a string, as the API does.
    :param status_msg: the error message of a failed or partly failed file.
    :param extra_fields: merged into the served record last; a value of :data:`REMOVE` drops the key.
    :param shape: ``"file"`` for file-level records (the product spec), ``"import"`` for the
        import-level records of the OpenAPI source.
    """

    import_name: str
    status: InitVar[str | None] = "SUCCESSFUL"
    id: str = field(default_factory=new_object_id)
    file_name: str = ""
    type: str = "USERS"
    schedule_type: str = "PERIODIC"
    file_source: str = "S3"
    scheduled_at: Timestamp = "now"
    completed_at: Timestamp | None = None
    timeline: list[StatusStep] = field(default_factory=list)
    total_rows: int = 0
    added_rows: int = 0
    updated_rows: int = 0
    skipped_rows: int = 0
    failed_rows: int = 0
    aux_data_added_count: int = 0
    aux_data_failed_count: int = 0
    file_size: str = "1544"
    status_msg: str = ""
    extra_fields: dict[str, Any] = field(default_factory=dict)
    shape: Literal["file", "import"] = "file"

    def __post_init__(self, status: str | None) -> None:
        if not self.timeline:
            self.timeline = [StatusStep(status)]
        self.timeline = [StatusStep.from_dict(step) if isinstance(step, Mapping) else step for step in self.timeline]
        if self.shape not in ("file", "import"):
            raise ValueError(f"ScheduledFile.shape must be 'file' or 'import', not {self.shape!r}.")
        # Resolve once now so that a bad timestamp fails where the file is written, not when served.
        self._timestamps(datetime(2000, 1, 1))

    @property
    def scheduled_datetime(self) -> datetime:
        """``scheduled_at`` as a datetime, for files as the emulator stores them (see ``resolved``)."""
        if not isinstance(self.scheduled_at, datetime):
            raise TypeError(f"scheduled_at {self.scheduled_at!r} is not resolved; use the file add_file returned.")
        return self.scheduled_at

    @property
    def import_id(self) -> str:
        """The import's id: ``id`` for import-shaped records, else derived from ``import_name``."""
        if self.shape == "import":
            return self.id
        return _stable_hex(self.import_name)

    def resolved(self, now: datetime, number: int) -> ScheduledFile:
        """
        Return a copy with absolute timestamps and a file name, as the emulator stores it.

        :param now: the naive UTC datetime that ``"now"`` means.
        :param number: the file's position among its import's files, for the default name.
        """
        return dataclasses.replace(
            self, file_name=self.file_name or f"{self.import_name}_{number}.csv", **self._timestamps(now)
        )

    def _timestamps(self, now: datetime) -> dict[str, Any]:
        completed_at = None if self.completed_at is None else resolve_timestamp(self.completed_at, now)
        return {
            "scheduled_at": resolve_timestamp(self.scheduled_at, now),
            "completed_at": completed_at,
            "timeline": [_resolve_step(step, now) for step in self.timeline],
        }

    def with_fields(self, fields: Mapping[str, Any]) -> ScheduledFile:
        """
        Return a copy with a step's field overrides applied; ``extra_fields`` merge rather than replace.

        :param fields: overrides, keys from :data:`STEP_FIELDS`.
        """
        extra = {**self.extra_fields, **fields.get("extra_fields", {})}
        return dataclasses.replace(self, **{**fields, "extra_fields": extra})

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ScheduledFile:
        """
        Build a file from a scenario entry; ``timeline`` items may be dicts.

        :param raw: the entry; keys are this class's parameters.
        """
        return cls(**raw)


def _resolve_step(step: StatusStep, now: datetime) -> StatusStep:
    completed_at = step.fields.get("completed_at")
    if completed_at is None:
        return step
    fields = {**step.fields, "completed_at": resolve_timestamp(completed_at, now)}
    return dataclasses.replace(step, fields=fields)


def _stable_hex(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:24]


@dataclass
class Scenario:
    """
    Files, faults and emulator options to start an emulator with.

    :param files: the files to add, in order.
    :param faults: the faults to inject, in order.
    :param options: keyword arguments for :class:`MoEngageEmulator` (``workspace_id``,
        ``rate_limit_per_minute``...), as given in the scenario.
    """

    files: list[ScheduledFile] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Scenario:
        """
        Build a scenario from its parsed form: ``files`` and ``faults`` lists, an optional
        ``description``, and emulator options as the other keys.

        :param raw: the parsed scenario.
        """
        options = {key: value for key, value in raw.items() if key not in ("files", "faults", "description")}
        files = [_entry(ScheduledFile.from_dict, "files", n, item) for n, item in enumerate(raw.get("files", []))]
        faults = [_entry(Fault.from_dict, "faults", n, item) for n, item in enumerate(raw.get("faults", []))]
        return cls(files=files, faults=faults, options=options)


def _entry(build: Any, section: str, index: int, item: Mapping[str, Any]) -> Any:
    try:
        return build(item)
    except (TypeError, ValueError) as error:
        raise ValueError(f"Scenario {section}[{index}] is invalid: {error}") from error


def load_scenario(source: str | os.PathLike[str] | Mapping[str, Any]) -> Scenario:
    """
    Load a scenario from a dict, a ``.json`` file, or a ``.yaml``/``.yml`` file (needs PyYAML).

    :param source: the scenario itself, or the path of its file.
    :raises ValueError: if an entry is invalid.
    """
    if isinstance(source, Mapping):
        return Scenario.from_dict(source)
    path = Path(source)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        return Scenario.from_dict(_parse_yaml(text, path))
    return Scenario.from_dict(json.loads(text))


def _parse_yaml(text: str, path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise ImportError(
            f"Reading {path} needs PyYAML: pip install 'airflow-provider-moengage[yaml]', or use JSON."
        ) from None
    return yaml.safe_load(text)


def bundled_scenario(name: str = "demo", suffix: str = ".json") -> Path:
    """
    Return the path of a scenario shipped with the package.

    :param name: the scenario's name; ``demo`` is the one shipped.
    :param suffix: ``.json`` (no extra dependency) or ``.yaml``.
    :raises FileNotFoundError: if there is no such scenario.
    """
    path = _BUNDLED / f"{name}{suffix}"
    if not path.is_file():
        shipped = sorted(p.name for p in _BUNDLED.glob("*.*"))
        raise FileNotFoundError(f"No bundled scenario {path.name}; shipped: {shipped}.")
    return path
