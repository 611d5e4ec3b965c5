"""
A MoEngage File Imports API emulator, for testing code that talks to MoEngage without MoEngage.

Start one in a test (or use the ``moengage_emulator`` pytest fixture), point a connection at
``emulator.url``, and script what it serves::

    from airflow_provider_moengage.testing import MoEngageEmulator, ScheduledFile, StatusStep

    with MoEngageEmulator() as emulator:
        emulator.add_file(
            ScheduledFile(
                "daily_users",
                timeline=[StatusStep("PROCESSING"), StatusStep("SUCCESSFUL", after_requests=2)],
            )
        )
        ...  # requests to emulator.url + "/v1.0/data/fileimports/import/status"

Or from the command line: ``python -m airflow_provider_moengage.testing --scenario demo``.
"""

from __future__ import annotations

from airflow_provider_moengage.testing.clock import Clock, ManualClock, MonotonicClock
from airflow_provider_moengage.testing.emulator import (
    HISTORY_PATH,
    STATUS_PATH,
    MoEngageEmulator,
    RecordedRequest,
)
from airflow_provider_moengage.testing.faults import REQUEST_ID, Fault
from airflow_provider_moengage.testing.scenario import (
    REMOVE,
    TERMINAL_STATUSES,
    Scenario,
    ScheduledFile,
    StatusStep,
    bundled_scenario,
    load_scenario,
)

__all__ = [
    "HISTORY_PATH",
    "REMOVE",
    "REQUEST_ID",
    "STATUS_PATH",
    "TERMINAL_STATUSES",
    "Clock",
    "Fault",
    "ManualClock",
    "MoEngageEmulator",
    "MonotonicClock",
    "RecordedRequest",
    "Scenario",
    "ScheduledFile",
    "StatusStep",
    "bundled_scenario",
    "load_scenario",
]
