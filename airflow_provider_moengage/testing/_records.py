"""The ``data[]`` records the emulator serves, in the two shapes MoEngage's docs show."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_moengage.testing.scenario import TERMINAL_STATUSES, is_remove

if TYPE_CHECKING:
    from airflow_provider_moengage.testing.scenario import ScheduledFile

_AUX_DATA_CONFIG = {"primary_key": "Email", "retention_period": 15, "retention_type": "DAYS"}


def format_timestamp(value: datetime | str | None) -> str | None:
    """
    Format a timestamp as the API does: naive ISO 8601 with microseconds.

    :param value: a datetime, or None (served as null).
    """
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return value


def render_record(file: ScheduledFile, status: str | None, completed_at: datetime | None) -> dict[str, Any]:
    """
    Return the record served for a file in its current state, ``extra_fields`` applied last.

    :param file: the file with its current step's fields applied.
    :param status: the current status.
    :param completed_at: when the run ended, or None while it has not.
    """
    shape = import_record if file.shape == "import" else file_record
    record = shape(file, status, completed_at)
    for key, value in file.extra_fields.items():
        if is_remove(value):
            record.pop(key, None)
        else:
            record[key] = value
    return record


def file_record(file: ScheduledFile, status: str | None, completed_at: datetime | None) -> dict[str, Any]:
    """
    Return a file-level record, key for key as in the product spec's example.

    :param file: the file with its current step's fields applied.
    :param status: the current ``file_status``.
    :param completed_at: when the run ended, or None.
    """
    return {
        "id": file.id,
        "file_name": file.file_name,
        "scheduled_at": format_timestamp(file.scheduled_at),
        "completed_at": format_timestamp(completed_at),
        "type": file.type,
        "file_size": file.file_size,
        "file_status": status,
        "status_msg": file.status_msg,
        "total_rows": file.total_rows,
        "skipped_rows": file.skipped_rows,
        "updated_rows": file.updated_rows,
        "failed_rows": file.failed_rows,
        "aux_data_added_count": file.aux_data_added_count,
        "aux_data_failed_count": file.aux_data_failed_count,
        "added_rows": file.added_rows,
    }


def import_record(file: ScheduledFile, status: str | None, completed_at: datetime | None) -> dict[str, Any]:
    """
    Return an import-level record, as in the OpenAPI source's Import Details example.

    The file stands for the import's latest run: ``last_run_status`` and ``status`` are its status,
    ``last_run_at`` its end (or start while running), and a periodic import runs again a day later.

    :param file: the file with its current step's fields applied.
    :param status: the current status.
    :param completed_at: when the run ended, or None.
    """
    scheduled_at = file.scheduled_at if isinstance(file.scheduled_at, datetime) else None
    next_run = scheduled_at + timedelta(days=1) if scheduled_at and file.schedule_type == "PERIODIC" else None
    processed_rows = file.added_rows + file.updated_rows + file.aux_data_added_count
    return {
        "import_id": file.import_id,
        "import_name": file.import_name,
        "last_run_status": status,
        "import_type": file.type,
        "schedule_type": file.schedule_type,
        "import_source": file.file_source,
        "custom_segment_config": {},
        "aux_data_config": dict(_AUX_DATA_CONFIG) if file.type == "AUX_DATA" else {},
        "total_files": 1,
        "processed_files": 1 if status in TERMINAL_STATUSES else 0,
        "total_rows": file.total_rows,
        "processed_rows": processed_rows,
        "created_at": format_timestamp(file.scheduled_at),
        "last_run_at": format_timestamp(completed_at or file.scheduled_at),
        "next_scheduled_at": format_timestamp(next_run),
        "created_by_email": "emulator@example.com",
        "status": status,
        "time_zone": "UTC",
    }
