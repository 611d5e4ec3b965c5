"""Scenarios load from dicts, JSON and YAML, and the bundled demo tells its story."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from airflow_provider_moengage.testing import (
    Fault,
    MoEngageEmulator,
    Scenario,
    ScheduledFile,
    bundled_scenario,
    load_scenario,
)

from .conftest import Client

SCENARIO = {
    "workspace_id": "DEMO_WORKSPACE",
    "api_key": "demo-api-key",
    "rate_limit_per_minute": 50,
    "files": [
        {
            "import_name": "daily_users",
            "type": "USERS",
            "scheduled_at": "now-1m",
            "timeline": [
                {"status": "QUEUED"},
                {"status": "PROCESSING", "after_requests": 1},
                {"status": "SUCCESSFUL", "after_requests": 3, "fields": {"total_rows": 1000, "added_rows": 990}},
            ],
        }
    ],
    "faults": [{"status": 503, "times": 1}],
}
SCENARIO_YAML = """
workspace_id: DEMO_WORKSPACE
api_key: demo-api-key
rate_limit_per_minute: 50
files:
  - import_name: daily_users
    type: USERS
    scheduled_at: now-1m
    timeline:
      - {status: QUEUED}
      - {status: PROCESSING, after_requests: 1}
      - {status: SUCCESSFUL, after_requests: 3, fields: {total_rows: 1000, added_rows: 990}}
faults:
  - {status: 503, times: 1}
"""


def comparable(scenario: Scenario) -> tuple:
    """A scenario without the random file ids, for comparing two loads."""
    files = [{**vars(file), "id": None} for file in scenario.files]
    return files, scenario.faults, scenario.options


def test_dict_json_and_yaml_load_the_same(tmp_path: Path):
    json_path = tmp_path / "scenario.json"
    json_path.write_text(json.dumps(SCENARIO))
    yaml_path = tmp_path / "scenario.yaml"
    yaml_path.write_text(SCENARIO_YAML)

    loaded = [load_scenario(SCENARIO), load_scenario(json_path), load_scenario(str(yaml_path))]

    assert comparable(loaded[0]) == comparable(loaded[1]) == comparable(loaded[2])
    assert loaded[0].options == {
        "workspace_id": "DEMO_WORKSPACE",
        "api_key": "demo-api-key",
        "rate_limit_per_minute": 50,
    }
    assert loaded[0].faults == [Fault(status=503, times=1)]


def test_emulator_from_scenario_serves_it(clock):
    with MoEngageEmulator.from_scenario(SCENARIO, clock=clock) as emulator:
        client = Client(emulator)
        headers = {"Authorization": None, "MOE-APPKEY": "DEMO_WORKSPACE"}
        auth = ("DEMO_WORKSPACE", "demo-api-key")

        codes_and_statuses = []
        for _ in range(5):
            response = client.post({"import_name": "daily_users"}, headers=headers, auth=auth)
            data = response.json().get("data") if response.status_code == 200 else None
            codes_and_statuses.append((response.status_code, data[0]["file_status"] if data else None))

    assert codes_and_statuses == [
        (503, None),
        (200, "QUEUED"),
        (200, "PROCESSING"),
        (200, "PROCESSING"),
        (200, "SUCCESSFUL"),
    ]


def test_overrides_win_over_the_scenario():
    emulator = MoEngageEmulator.from_scenario(SCENARIO, workspace_id="OTHER", rate_limit_per_minute=None)

    assert (emulator.workspace_id, emulator.api_key, emulator.rate_limit_per_minute) == ("OTHER", "demo-api-key", None)


def test_unknown_option_is_refused():
    with pytest.raises(ValueError, match="not understood"):
        MoEngageEmulator.from_scenario({"workspace": "typo"})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"files": [{"import_name": "a", "colour": "red"}]}, r"files\[0\]"),
        ({"files": [{"import_name": "a", "timeline": [{"after_requests": 1}]}]}, "needs a 'status'"),
        ({"files": [{"import_name": "a", "timeline": [{"status": "X", "fields": {"bogus": 1}}]}]}, "cannot set"),
        ({"files": [{"import_name": "a", "scheduled_at": "last tuesday"}]}, "neither ISO"),
        ({"faults": [{"kind": "meteor"}]}, r"faults\[0\]"),
    ],
    ids=["unknown-file-key", "step-without-status", "unknown-step-field", "bad-timestamp", "unknown-fault-kind"],
)
def test_invalid_entries_say_where(entry, message):
    with pytest.raises(ValueError, match=message):
        load_scenario(entry)


def test_yaml_needs_pyyaml_only_for_yaml(tmp_path: Path, monkeypatch):
    path = tmp_path / "s.yml"
    path.write_text(SCENARIO_YAML)
    monkeypatch.setitem(sys.modules, "yaml", None)

    with pytest.raises(ImportError, match="PyYAML"):
        load_scenario(path)
    assert load_scenario(SCENARIO).files  # dicts and JSON need nothing


class TestBundledDemo:
    """The demo: two imports that finish after a few polls, each beside a stale file from two days ago."""

    def test_json_and_yaml_are_the_same_scenario(self):
        as_json = load_scenario(bundled_scenario("demo"))
        as_yaml = load_scenario(bundled_scenario("demo", ".yaml"))

        assert comparable(as_json) == comparable(as_yaml)

    def test_unknown_bundled_scenario_lists_the_shipped_ones(self):
        with pytest.raises(FileNotFoundError, match=r"demo\.json"):
            bundled_scenario("nope")

    def test_story(self, clock):
        with MoEngageEmulator.from_scenario(bundled_scenario("demo"), clock=clock) as emulator:
            client = Client(emulator)
            headers = {"Authorization": None, "MOE-APPKEY": "DEMO_WORKSPACE"}
            auth = ("DEMO_WORKSPACE", "demo-api-key")

            def latest(import_name: str) -> dict:
                data = client.post({"import_name": import_name}, headers=headers, auth=auth).json()["data"]
                assert len(data) == 2
                return max(data, key=lambda record: record["scheduled_at"])

            users = [latest("daily_users") for _ in range(4)]
            events = [latest("daily_events") for _ in range(4)]

        assert [r["file_status"] for r in users] == ["QUEUED", "PROCESSING", "PROCESSING", "SUCCESSFUL"]
        assert (users[-1]["total_rows"], users[-1]["added_rows"], users[-1]["updated_rows"]) == (1000, 990, 10)
        assert [r["file_status"] for r in events] == ["QUEUED", "PROCESSING", "PROCESSING", "PARTIAL_SUCCESS"]
        assert (events[-1]["total_rows"], events[-1]["added_rows"], events[-1]["failed_rows"]) == (5000, 4200, 800)
        assert events[-1]["status_msg"] == "800 rows failed validation: invalid user_id"
        assert users[-1]["type"] == "USERS"
        assert events[-1]["type"] == "EVENTS"

    def test_stale_files_are_two_days_old_and_successful(self, clock):
        emulator = MoEngageEmulator.from_scenario(bundled_scenario("demo"), clock=clock)

        stale = [
            file for file in emulator.files if file.timeline[-1].status == "SUCCESSFUL" and len(file.timeline) == 1
        ]

        assert sorted(file.import_name for file in stale) == ["daily_events", "daily_users"]
        newest = max(file.scheduled_datetime for file in emulator.files)
        assert all(newest - file.scheduled_datetime > timedelta(days=1.9) for file in stale)


def test_scheduled_file_dicts_accept_status_shorthand():
    file = ScheduledFile.from_dict({"import_name": "a", "status": "FAILED"})

    assert [step.status for step in file.timeline] == ["FAILED"]
