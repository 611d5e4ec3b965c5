"""Render the fault matrix into docs/reliability.md.

``python -m tests.hardening.render`` rewrites the generated parts of the doc (between the
``<!-- BEGIN GENERATED: ... -->`` and ``<!-- END GENERATED: ... -->`` markers) from the table in
``test_fault_matrix.py``, the verdict definitions and the package's own retry defaults. The prose
around them is written by hand. ``UPDATE_RELIABILITY_DOC=1`` makes the doc test do the same.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "reliability.md"
_REGION = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END GENERATED: (?P=name) -->)", re.S
)


def update_requested() -> bool:
    """Whether ``UPDATE_RELIABILITY_DOC`` asks the doc test to rewrite the doc."""
    return os.environ.get("UPDATE_RELIABILITY_DOC", "").strip().lower() in ("1", "true", "yes")


def _cell_text(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_matrix() -> str:
    """The matrix as a Markdown table: one row per cell, one column per path."""
    from .test_fault_matrix import CELLS, PATHS

    header = ["Cell", "Fault", *PATHS, "Runs through", "The failure names"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cell in CELLS:
        through = "hook, trigger, 5 DAG paths" if cell.dag else "hook, trigger"
        names = ", ".join(f"`{name}`" for name in cell.names) or "-"
        row = [f"`{cell.name}`", cell.what, *(cell.verdict_on(path) for path in PATHS), through, names]
        lines.append("| " + " | ".join(_cell_text(value) for value in row) + " |")
    dag_cells = sum(cell.dag for cell in CELLS)
    lines.append("")
    lines.append(
        f"{len(CELLS)} cells; each runs at the hook and in the trigger, and {dag_cells} of them also through "
        f"the five DAG paths ({dag_cells * len(PATHS)} Airflow runs)."
    )
    return "\n".join(lines) + "\n"


def render_verdicts() -> str:
    """The verdicts, each with what the tests assert for it."""
    from .test_fault_matrix import VERDICTS

    return "\n".join(f"- **{name}**: {meaning}" for name, meaning in VERDICTS.items()) + "\n"


def render_budget() -> str:
    """The retry budget, read from the package's own defaults so that it cannot drift."""
    import dataclasses

    from airflow_provider_moengage.api import DEFAULT_RATE_LIMIT_PER_MINUTE, ConnectionSettings, RetryPolicy

    settings = {f.name: f.default for f in dataclasses.fields(ConnectionSettings)}
    policy = {f.name: f.default for f in dataclasses.fields(RetryPolicy)}
    rows = [
        ("`max_attempts`", settings["max_attempts"], "tries per request in all, the first included"),
        ("`max_retry_seconds`", settings["max_retry_seconds"], "no retry starts if its wait would end later than "
         "this after the first try"),
        ("`timeout`", settings["timeout"], "seconds one request may take"),
        ("`rate_limit_per_minute`", DEFAULT_RATE_LIMIT_PER_MINUTE, "requests in any 61 s, per workspace and "
         "process (client side)"),
        ("(fixed) first backoff", policy["initial_wait"], "seconds, doubled each retry with full jitter"),
        ("(fixed) longest backoff", policy["max_wait"], "seconds"),
    ]  # fmt: skip
    lines = ["| Connection extra | Default | Meaning |", "|---|---|---|"]
    lines += [f"| {name} | {value:g} | {meaning} |" for name, value, meaning in rows]
    return "\n".join(lines) + "\n"


RENDERERS = {"verdicts": render_verdicts, "budget": render_budget, "matrix": render_matrix}


def updated(text: str) -> str:
    """``text`` with every generated region rendered afresh; fails if a region is missing."""
    found = {match["name"] for match in _REGION.finditer(text)}
    missing = set(RENDERERS) - found
    if missing:
        raise ValueError(f"docs/reliability.md lacks the generated regions {sorted(missing)}")
    return _REGION.sub(lambda match: match[1] + RENDERERS[match["name"]]() + match[4], text)


def main() -> int:
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="moengage-render-"))
    DOC.write_text(updated(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
