"""Benchmark MoEngageImportTrigger as a triggerer runs it: N ``run()`` generators in one event loop.

For each N the script starts the MoEngage emulator in a separate process
(``python -m airflow_provider_moengage.testing``, so that its allocations and its CPU stay out
of the figures), runs N triggers over ``--imports`` imports in one asyncio event loop until each
has yielded its event, and prints one row: requests sent, requests per poll round, peak memory per
trigger, the worst event-loop stall and the wall time. See ``benchmarks/README.md``.

The emulator's rate limit and the connection's ``rate_limit_per_minute`` are both set far above
MoEngage's 50 a minute: this measures the provider, not MoEngage's budget.

Bounded: loopback only; every trigger has a deadline; a run is cancelled past its time limit or
as soon as it has fetched more listings than coalescing allows; the emulator is stopped at the end.

Usage: ``python benchmarks/triggers.py [--sizes 10,100,1000] [--imports 20] [--rounds 3]``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile


def _throwaway_airflow_home() -> str:
    """Point Airflow at a temporary home before anything imports it; return the folder."""
    home = tempfile.mkdtemp(prefix="moengage-bench-airflow-")
    os.environ.update(
        {
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            # One "still waiting" line per trigger per poll would drown the table (and time the logging).
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    return home


_HOME = _throwaway_airflow_home()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import urllib.request  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

from airflow_provider_moengage import api  # noqa: E402
from airflow_provider_moengage.triggers.moengage import MoEngageImportTrigger  # noqa: E402
from airflow_provider_moengage.waiting import SHARED_LISTINGS  # noqa: E402

CONN_ID = "moengage_bench"
WORKSPACE = "BENCH_WORKSPACE"
API_KEY = "bench-api-key-not-secret"
#: Far above any run's request count: neither the emulator nor the client-side limiter holds anything.
UNLIMITED = 1_000_000_000
TERMINALS = ("SUCCESSFUL", "FAILED", "PARTIAL_SUCCESS")
#: The ticker's period; a stall is how much later than this it woke.
TICK = 0.005
STATUS_PATH = "/v1.0/data/fileimports/import/status"


# --------------------------------------------------------------------------------------------------
# The emulator, in its own process
# --------------------------------------------------------------------------------------------------


def scenario(imports: int, rounds: int) -> dict[str, Any]:
    """``imports`` imports whose latest file is PROCESSING for ``rounds - 1`` polls, then terminal.

    Each also has yesterday's SUCCESSFUL file, which the triggers must skip.
    """
    files: list[dict[str, Any]] = []
    for number in range(imports):
        name = import_name(number)
        files.append({"import_name": name, "scheduled_at": "now-1d", "status": "SUCCESSFUL"})
        timeline = [{"status": "PROCESSING"}, {"status": expected_status(number), "after_requests": rounds - 1}]
        files.append({"import_name": name, "scheduled_at": "now-10m", "timeline": timeline})
    return {"description": "benchmarks/triggers.py", "files": files}


def import_name(number: int) -> str:
    """The name of import ``number``."""
    return f"bench_import_{number:03d}"


def expected_status(number: int) -> str:
    """The terminal status import ``number`` ends in."""
    return TERMINALS[number % len(TERMINALS)]


class EmulatorProcess:
    """``python -m airflow_provider_moengage.testing`` on a free loopback port, stopped on exit.

    :param scenario_path: the scenario JSON to serve.
    :param folder: where to put the ready file and the emulator's log.
    """

    def __init__(self, scenario_path: Path, folder: Path) -> None:
        self.ready = folder / "ready"
        self.log_path = folder / "emulator.log"
        self.ready.unlink(missing_ok=True)
        command = [
            sys.executable,
            "-m",
            "airflow_provider_moengage.testing",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--scenario",
            str(scenario_path),
            "--workspace-id",
            WORKSPACE,
            "--api-key",
            API_KEY,
            "--rate-limit",
            str(UNLIMITED),
            "--ready-file",
            str(self.ready),
        ]
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.url = self._wait_ready(timeout=30.0)

    def _wait_ready(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready.exists():
                return self.ready.read_text().strip()
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the emulator did not start; its log:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        """Send SIGTERM to the emulator (it exits 0 on it) and wait; kill it if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def connection_json(self) -> str:
        """The Airflow connection (JSON form) for the emulator, with the client-side budget lifted too."""
        return json.dumps(
            {
                "conn_type": "moengage",
                "login": WORKSPACE,
                "password": API_KEY,
                "host": self.url,
                "extra": {"rate_limit_per_minute": UNLIMITED, "max_retry_seconds": 10},
            }
        )

    def requests_in_last_minute(self) -> int:
        """How many requests the emulator admitted in the last 60 s, read from one probe's headers.

        The probe asks about an import nobody watches; ``x-ratelimit-remaining`` counts it too, so it
        is taken off. Exact as long as the run it measures took less than a minute.
        """
        body = json.dumps({"import_name": "bench_probe_nobody_watches", "offset": 1}).encode()
        request = urllib.request.Request(self.url + STATUS_PATH, data=body, method="POST")
        settings = api.ConnectionSettings(self.url, WORKSPACE, API_KEY, timezone=ZoneInfo("UTC"))
        for name, value in settings.headers().items():
            request.add_header(name, value)
        with urllib.request.urlopen(request, timeout=10) as response:
            remaining = int(response.headers["x-ratelimit-remaining"])
        return UNLIMITED - remaining - 1


def listen_overflows() -> int | None:
    """Linux's count of connections dropped because a listen queue was full (system-wide), or None."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            counters = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(counters["ListenOverflows"]) if "ListenOverflows" in counters else None
    return None


# --------------------------------------------------------------------------------------------------
# One run: N triggers in one event loop
# --------------------------------------------------------------------------------------------------


@dataclass
class Ticker:
    """Sleeps :data:`TICK` s over and over; records the worst lateness and when each fetch completed.

    It also times the garbage collector's pauses, so that a stall can be told apart from a GC pause.
    """

    worst_stall: float = 0.0
    worst_stall_at: float = 0.0
    worst_gc: float = 0.0
    fetch_times: list[float] = field(default_factory=list)
    _gc_started: float = 0.0

    async def run(self, started: float, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set."""
        seen = SHARED_LISTINGS.fetches
        gc.callbacks.append(self._on_gc)
        try:
            while not stop.is_set():
                due = time.perf_counter() + TICK
                await asyncio.sleep(TICK)
                now = time.perf_counter()
                if now - due > self.worst_stall:
                    self.worst_stall, self.worst_stall_at = now - due, now - started
                fetches = SHARED_LISTINGS.fetches
                self.fetch_times.extend([now - started] * (fetches - seen))
                seen = fetches
        finally:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.worst_gc = max(self.worst_gc, time.perf_counter() - self._gc_started)


@dataclass
class RunResult:
    """What one run measured."""

    triggers: int
    imports: int
    fetches: int
    server_requests: int | None
    per_round: list[int]
    peak_bytes: int | None
    worst_stall: float
    worst_stall_at: float
    worst_gc: float
    dropped_syns: int | None
    wall: float
    cpu: float
    problems: list[str]


def plan(n: int, imports: int, spread: float, seed: int) -> list[tuple[int, str | None, float]]:
    """For each trigger: its import, its ``scheduled_after`` and its start offset."""
    rng = random.Random(seed)
    baselines: list[str | None] = [None, (datetime.now(UTC) - timedelta(hours=1)).isoformat()]
    return [(number % imports, baselines[number % 2], rng.uniform(0, spread)) for number in range(n)]


async def drive(trigger: MoEngageImportTrigger, delay: float, events: list[dict[str, Any]]) -> None:
    """What the triggerer does with one trigger: start it, and collect what its generator yields."""
    await asyncio.sleep(delay)
    async for event in trigger.run():
        events.append(event.payload)


async def run_triggers(args: argparse.Namespace, n: int, imports: int, ticker: Ticker) -> list[list[dict[str, Any]]]:
    """Build N triggers and drive them all to their event, as the triggerer does.

    Like ``TriggerRunner.create_triggers``, each trigger is rebuilt from its serialized kwargs on the
    event loop, which gets a turn (``sleep(0)``) after each one; the ticker is already running, so
    building them counts in the stalls too.
    """
    started = time.perf_counter()
    stop = asyncio.Event()
    ticking = asyncio.create_task(ticker.run(started, stop))
    await asyncio.sleep(0)
    end_time = (datetime.now(UTC) + timedelta(seconds=args.time_limit)).isoformat()
    events: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    tasks = []
    for (number, baseline, delay), got in zip(plan(n, imports, args.spread, args.seed), events, strict=True):
        _, kwargs = MoEngageImportTrigger(
            moengage_conn_id=CONN_ID,
            import_name=import_name(number),
            end_time=end_time,
            poll_interval=args.poll_interval,
            scheduled_after=baseline,
        ).serialize()
        tasks.append(asyncio.create_task(drive(MoEngageImportTrigger(**kwargs), delay, got)))
        await asyncio.sleep(0)
    # Coalescing allows one listing per import per round; a few over that is a bug, and stops the run.
    cap = imports * (args.rounds + 2)
    try:
        deadline = time.monotonic() + args.time_limit
        pending = set(tasks)
        while pending and time.monotonic() < deadline and SHARED_LISTINGS.fetches <= cap:
            _, pending = await asyncio.wait(pending, timeout=0.05)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        stop.set()
        await ticking
    return events


def group_by_round(times: list[float], poll: float, spread: float) -> list[int]:
    """Listings fetched per poll round: fetches closer together than half the quiet gap between rounds.

    A round's fetches fall within about ``spread`` s; the next round comes ``poll`` s later (plus the
    time a poll takes, so rounds drift later as N grows, which is why this does not cut fixed bins).
    """
    rounds: list[int] = []
    previous: float | None = None
    for moment in sorted(times):
        if previous is None or moment - previous > (poll - spread) / 2:
            rounds.append(0)
        rounds[-1] += 1
        previous = moment
    return rounds


def check_events(events: list[list[dict[str, Any]]], imports: int) -> list[str]:
    """Every trigger yielded exactly one terminal event, for its import's latest file and status."""
    problems = []
    for number, got in enumerate(events):
        wanted = expected_status(number % imports)
        if len(got) != 1:
            problems.append(f"trigger {number}: {len(got)} events")
        elif got[0].get("kind") != "terminal" or got[0]["file"]["file_status"] != wanted:
            problems.append(f"trigger {number}: {got[0]} (wanted a terminal {wanted})")
    return problems


def one_run(args: argparse.Namespace, n: int, folder: Path, *, memory: bool) -> RunResult:
    """Run N triggers against a fresh emulator process; measure memory only when asked (it slows Python)."""
    imports = min(args.imports, n)
    scenario_path = folder / "scenario.json"
    scenario_path.write_text(json.dumps(scenario(imports, args.rounds)))
    SHARED_LISTINGS.clear()
    api._LIMITERS.clear()
    with EmulatorProcess(scenario_path, folder) as emulator:
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = emulator.connection_json()
        ticker = Ticker()
        gc.collect()
        if memory:
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
        overflows = listen_overflows()
        wall, cpu = time.perf_counter(), time.process_time()
        events = asyncio.run(run_triggers(args, n, imports, ticker))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        overflows_after = listen_overflows()
        dropped = None if overflows is None or overflows_after is None else overflows_after - overflows
        peak = None
        if memory:
            peak = tracemalloc.get_traced_memory()[1] - base
            tracemalloc.stop()
        server = emulator.requests_in_last_minute() if wall < 55 else None
    problems = check_events(events, imports)
    cap = imports * (args.rounds + 2)
    if SHARED_LISTINGS.fetches > cap:
        problems.insert(0, f"{SHARED_LISTINGS.fetches} listings fetched, over the cap of {cap}: stopped early")
    if server is not None and server != SHARED_LISTINGS.fetches:
        problems.append(f"the emulator counted {server} requests but the triggers fetched {SHARED_LISTINGS.fetches}")
    return RunResult(
        triggers=n,
        imports=imports,
        fetches=SHARED_LISTINGS.fetches,
        server_requests=server,
        per_round=group_by_round(ticker.fetch_times, args.poll_interval, args.spread),
        peak_bytes=peak,
        worst_stall=ticker.worst_stall,
        worst_stall_at=ticker.worst_stall_at,
        worst_gc=ticker.worst_gc,
        dropped_syns=dropped,
        wall=wall,
        cpu=cpu,
        problems=problems,
    )


# --------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------

COLUMNS = (
    ("N", 6),
    ("imports", 8),
    ("requests", 9),
    ("per round", 14),
    ("peak KiB/trigger", 17),
    ("worst stall ms", 15),
    ("(at s)", 7),
    ("worst GC ms", 12),
    ("SYN drops", 10),
    ("wall s", 7),
    ("CPU s", 6),
)


def row(timed: RunResult, measured: RunResult) -> str:
    """One line of the table: counts and times from the timed run, memory from the measured one."""
    requests = timed.server_requests if timed.server_requests is not None else timed.fetches
    assert measured.peak_bytes is not None
    cells = (
        timed.triggers,
        timed.imports,
        requests,
        "/".join(map(str, timed.per_round)),
        f"{measured.peak_bytes / timed.triggers / 1024:.1f}",
        f"{timed.worst_stall * 1000:.1f}",
        f"{timed.worst_stall_at:.2f}",
        f"{timed.worst_gc * 1000:.1f}",
        "n/a" if timed.dropped_syns is None else timed.dropped_syns,
        f"{timed.wall:.2f}",
        f"{timed.cpu:.2f}",
    )
    return "  ".join(str(cell).rjust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000", help="trigger counts, comma-separated (%(default)s)")
    parser.add_argument("--imports", type=int, default=20, help="imports the triggers watch (%(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="polls until each import is terminal (%(default)s)")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="each trigger's poll_interval (%(default)s s)")
    parser.add_argument("--spread", type=float, default=0.4, help="start offsets spread over [0, this) s (%(default)s)")
    parser.add_argument("--time-limit", type=float, default=120.0, help="cancel a run after this many s (%(default)s)")
    parser.add_argument("--seed", type=int, default=20261203, help="seed of the start offsets (%(default)s)")
    args = parser.parse_args(argv)
    args.sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    if not args.sizes or min(args.sizes) < 1 or args.imports < 1 or args.rounds < 1:
        parser.error("--sizes, --imports and --rounds must be whole numbers >= 1")
    if not 0 <= args.spread < args.poll_interval:
        parser.error("--spread must be >= 0 and below --poll-interval, so that rounds do not overlap")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every size, print the table; exit 1 if any trigger misbehaved."""
    args = parse_args(argv)
    print(
        f"MoEngageImportTrigger load: N triggers in one asyncio event loop, over {args.imports} imports, "
        f"{args.rounds} poll rounds of {args.poll_interval:g} s (start offsets over {args.spread:g} s)."
    )
    print(
        f"Emulator in a separate process (python -m airflow_provider_moengage.testing) on loopback; its rate "
        f"limit and the connection's rate_limit_per_minute are {UNLIMITED:,}/min, so this measures the "
        "provider, not MoEngage's 50/min budget."
    )
    failed = False
    folder = Path(tempfile.mkdtemp(prefix="moengage-bench-"))
    try:
        # The first run in a process pays for imports and for loading the secrets backends; keep it out.
        warm = one_run(args, min(args.imports, 10), folder, memory=False)
        print(
            f"Warm-up (not in the table): {warm.triggers} triggers, worst stall {warm.worst_stall * 1000:.1f} ms "
            f"at {warm.worst_stall_at:.2f} s, wall {warm.wall:.2f} s."
        )
        print()
        print("  ".join(name.rjust(width) for name, width in COLUMNS))
        for n in args.sizes:
            timed = one_run(args, n, folder, memory=False)
            measured = one_run(args, n, folder, memory=True)
            print(row(timed, measured), flush=True)
            for problem in [*timed.problems, *measured.problems][:10]:
                failed = True
                print(f"    PROBLEM: {problem}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(_HOME, ignore_errors=True)
    print()
    ideal = (args.rounds - 1) * args.poll_interval + args.spread
    for line in (
        "requests:    status requests the emulator admitted (coalesced: one per import per poll round)",
        "per round:   listings fetched in each poll round (SHARED_LISTINGS.fetches, timed by the ticker)",
        "peak KiB:    tracemalloc peak of a second, identical run, divided by N (emulator not included)",
        f"worst stall: the most a {TICK * 1000:g} ms asyncio.sleep overslept, and when (s into the run)",
        "worst GC:    the longest garbage-collector pause in the run (a stall that long may be just that)",
        "SYN drops:   connections refused by a full listen queue during the run (Linux, system-wide); each",
        "             costs a 1 s retry (the emulator's backlog is 128; triggers share one pooled session)",
        f"wall:        from building the triggers to the last event; ideal about {ideal:g} s",
    ):
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
