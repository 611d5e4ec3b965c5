"""Provider registration: Airflow discovers the package, the hook and the connection form."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from airflow_provider_moengage import __version__
from airflow_provider_moengage.get_provider_info import get_provider_info


def test_provider_info_declares_the_connection_type_and_form() -> None:
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-moengage" and info["versions"] == [__version__]
    (conn,) = info["connection-types"]
    assert conn["connection-type"] == "moengage"
    assert conn["hook-class-name"] == "airflow_provider_moengage.hooks.moengage.MoEngageHook"
    assert conn["ui-field-behaviour"]["relabeling"] == {
        "login": "Workspace ID",
        "password": "Data API Key",
        "host": "Base URL override",
    }
    assert conn["conn-fields"]["data_center"]["schema"]["enum"][:7] == ["01", "02", "03", "04", "05", "06", "101"]
    assert set(conn["conn-fields"]) == {"data_center", "timezone", "rate_limit_per_minute"}


def test_airflow_lists_the_provider_and_the_hook(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    airflow = str(Path(sys.executable).with_name("airflow"))
    providers = subprocess.run(
        [airflow, "providers", "list", "-o", "json"], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    assert any(p["package_name"] == "airflow-provider-moengage" for p in json.loads(providers.stdout))
    hooks = subprocess.run(
        [airflow, "providers", "hooks", "-o", "json"], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    (moengage,) = [h for h in json.loads(hooks.stdout) if h["connection_type"] == "moengage"]
    assert moengage["class"] == "airflow_provider_moengage.hooks.moengage.MoEngageHook"
    assert "AirflowProviderDeprecationWarning" not in providers.stderr + hooks.stderr
