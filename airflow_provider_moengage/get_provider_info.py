"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_moengage import __version__

DATA_CENTER_CHOICES = ["01", "02", "03", "04", "05", "06", "101"]

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"login": "Workspace ID", "password": "Data API Key", "host": "Base URL override"},
    "placeholders": {
        "login": "Workspace ID from Settings > Account > APIs",
        "password": "Data API key",
        "host": "leave empty; or e.g. http://127.0.0.1:8089 for the emulator",
    },
}

CONN_FIELDS: dict[str, Any] = {
    "data_center": {
        "label": "Data center",
        "description": "Your MoEngage data center, from the dashboard URL (dashboard-01 is 01).",
        "schema": {"type": ["string", "null"], "enum": [*DATA_CENTER_CHOICES, None], "default": "01"},
    },
    "timezone": {
        "label": "Timezone",
        "description": "IANA zone in which the API's timestamps without an offset are read (default UTC).",
        "schema": {"type": ["string", "null"], "default": "UTC"},
    },
    "rate_limit_per_minute": {
        "label": "Rate limit per minute",
        "description": "Most requests this workspace may send a minute from one process (default 50).",
        "schema": {"type": ["integer", "null"], "minimum": 1, "default": 50},
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata: name, version, hooks and the ``moengage`` connection type."""
    return {
        "package-name": "airflow-provider-moengage",
        "name": "MoEngage",
        "description": "Gate Airflow pipelines on MoEngage file imports (users, events, aux data).",
        "versions": [__version__],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_moengage.hooks.moengage.MoEngageHook",
                "connection-type": "moengage",
                "hook-name": "MoEngage",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
        "hooks": [{"integration-name": "MoEngage", "python-modules": ["airflow_provider_moengage.hooks.moengage"]}],
        "sensors": [{"integration-name": "MoEngage", "python-modules": ["airflow_provider_moengage.sensors.moengage"]}],
        "operators": [
            {"integration-name": "MoEngage", "python-modules": ["airflow_provider_moengage.operators.moengage"]}
        ],
        "triggers": [
            {"integration-name": "MoEngage", "python-modules": ["airflow_provider_moengage.triggers.moengage"]}
        ],
        "integrations": [{"integration-name": "MoEngage", "external-doc-url": "https://www.moengage.com/docs/"}],
    }
