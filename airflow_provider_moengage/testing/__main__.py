"""
Run the emulator from the command line, for demos and for scripts that need a MoEngage to talk to.

``python -m airflow_provider_moengage.testing --scenario demo --port 8089`` serves until SIGTERM
or SIGINT, then exits 0. It prints one line with the URL and workspace, never the API key.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_moengage.testing.emulator import MoEngageEmulator
from airflow_provider_moengage.testing.scenario import bundled_scenario

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """
    Read the command line.

    :param argv: the arguments; ``sys.argv[1:]`` when None.
    """
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_moengage.testing",
        description="Serve an emulated MoEngage File Imports API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8089, help="port to bind; 0 for any (default: %(default)s)")
    parser.add_argument("--scenario", help="a scenario JSON/YAML file, or 'demo' for the bundled one")
    parser.add_argument("--workspace-id", help="workspace id to accept (overrides the scenario)")
    parser.add_argument("--api-key", help="API key to accept (overrides the scenario)")
    parser.add_argument("--rate-limit", type=int, help="requests allowed per minute (overrides the scenario)")
    parser.add_argument("--ready-file", type=Path, help="write the URL to this file once listening")
    return parser.parse_args(argv)


def build_emulator(args: argparse.Namespace) -> MoEngageEmulator:
    """
    Build the emulator the arguments describe; command-line options win over the scenario's.

    :param args: the parsed command line.
    """
    overrides: dict[str, Any] = {"host": args.host, "port": args.port}
    for option, value in (
        ("workspace_id", args.workspace_id),
        ("api_key", args.api_key),
        ("rate_limit_per_minute", args.rate_limit),
    ):
        if value is not None:
            overrides[option] = value
    if args.scenario is None:
        return MoEngageEmulator(**overrides)
    scenario = bundled_scenario("demo") if args.scenario == "demo" else Path(args.scenario)
    return MoEngageEmulator.from_scenario(scenario, **overrides)


def write_ready_file(path: Path, url: str) -> None:
    """
    Write the URL so that a script waiting for the file finds it whole (written, then renamed).

    :param path: the file to write.
    :param url: the emulator's URL.
    """
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(url + "\n", encoding="utf-8")
    os.replace(partial, path)


def main(argv: Sequence[str] | None = None) -> int:
    """
    Serve until SIGTERM or SIGINT; return the exit status.

    :param argv: the arguments; ``sys.argv[1:]`` when None.
    """
    args = parse_args(argv)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with build_emulator(args) as emulator:
        print(f"MoEngage emulator listening on {emulator.url} (workspace {emulator.workspace_id})", flush=True)
        if args.ready_file is not None:
            write_ready_file(args.ready_file, emulator.url)
        # Waiting with a timeout keeps the main thread responsive to signals on every platform.
        while not stopping.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
