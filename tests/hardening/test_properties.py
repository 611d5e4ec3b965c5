"""Property-based tests (hypothesis): parsing is closed over the provider's errors, the latest-file
choice does not depend on order or paging, and the status decision is total.

Examples are bounded (small bodies, few records) and the example database is off, so the suite runs
in seconds and leaves nothing behind in the working tree.
"""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_moengage.api import PageWalk, parse_status_response, retry_after_seconds
from airflow_provider_moengage.exceptions import (
    MoEngageAPIError,
    MoEngageError,
    MoEngageUnexpectedResponseError,
    MoEngageUnknownStatusError,
)
from airflow_provider_moengage.models import (
    KNOWN_STATUSES,
    PARTIAL_STATUSES,
    ImportFile,
    StatusPolicy,
    Verdict,
    latest_file,
    normalize_status,
)

BOUNDED = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)  # fmt: skip
BASELINE = datetime(2026, 12, 1, tzinfo=UTC)

# --------------------------------------------------------------------------------------------------
# Strategies: JSON-like values, with the values that have broken parsers before mixed in on purpose
# --------------------------------------------------------------------------------------------------

TRICKY_TEXT = [
    "", " ", "²", "١٢", "--5", "-3", "07", "1e3", "1.0", "nan", "inf", "-inf", "true", "false", "null", "None",
    "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2026-12-03T06:00:00Z", "2026-12-03T06:00:00+05:30",
    "2026-12-03T06:00:00.713000", "2026-12-03 06:00:00", "2026-13-40T99:99:99", "yesterday", "<html>",
    "SUCCESSFUL", "successful", " Successful ", "FAILED", "PARTIAL_SUCCESS", "partial failure", "QUEUED", "HALF_DONE",
]  # fmt: skip
tricky = st.one_of(
    st.sampled_from(TRICKY_TEXT),
    st.sampled_from([None, True, False, 0, -1, 7, 1.5, -0.0, 10**30, 1764000000, float("nan"), float("inf")]),
)
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | tricky,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
RECORD_KEYS = [
    "id", "file_name", "scheduled_at", "completed_at", "type", "file_size", "file_status", "status_msg", "total_rows",
    "skipped_rows", "updated_rows", "failed_rows", "aux_data_added_count", "aux_data_failed_count", "added_rows",
    "import_id", "import_name", "last_run_status", "last_run_at", "processed_rows",
]  # fmt: skip
field_value = st.one_of(tricky, json_like)
record = st.fixed_dictionaries({}, optional=dict.fromkeys(RECORD_KEYS, field_value))
envelope = st.fixed_dictionaries(
    {},
    optional={
        "status": st.one_of(st.sampled_from(["success", "fail", "FAILURE", "error", "ok"]), field_value),
        "total_count": field_value,
        "data": st.one_of(st.lists(record, max_size=4), field_value),
        "offset": field_value,
        "more_files": field_value,
        "success": field_value,
        "error": field_value,
        "error_type": field_value,
        "message": field_value,
        "title": field_value,
        "description": field_value,
    },
)
raw_body = st.one_of(
    envelope.map(lambda body: json.dumps(body).encode()),
    json_like.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=64),
    st.sampled_from([b"", b"<html><body>502 Bad Gateway</body></html>", b"[" * 100_000, b'{"data": [', b"\xff\xfe"]),
)
http_status = st.one_of(st.sampled_from([200, 201, 204, 400, 401, 403, 404, 405, 415, 429, 500, 502, 503, 504]),
                        st.integers(100, 599))  # fmt: skip
TRICKY_HEADERS = [
    "²", "nan", "inf", "-1", "0", "1.5", "1e999", "9" * 400, "", "Fri, 31 Dec 9999 23:59:59 -0500",
    "1 Jan 99999999999999999999 00:00:00", "Wed, 21 Oct 2015 07:28:00 GMT", "1764000000",
]  # fmt: skip
headers = st.dictionaries(
    st.sampled_from(["Retry-After", "retry-after", "x-ratelimit-reset", "X-Request-Id", "x-amzn-requestid"]),
    st.one_of(st.sampled_from(TRICKY_HEADERS), st.text(max_size=30)),
    max_size=3,
)


def read_like_the_hook(status: int, header_values: dict[str, str], raw: bytes) -> Verdict:
    """What a waiting path does with one answer: parse, page, pick the latest, judge, serialize."""
    page = parse_status_response(status, header_values, raw, import_name="daily_users")
    walk = PageWalk()
    files = walk.unique(page)
    walk.next_offset(page, 1)
    latest = latest_file(files, BASELINE)
    decision = StatusPolicy().decide(latest)
    if latest is not None:
        event = json.loads(json.dumps(latest.to_dict()))  # the trigger event and the XCom
        assert ImportFile.from_dict(event).status == latest.status
    if decision.verdict is Verdict.SUCCESS:
        assert latest is not None and latest.status == "SUCCESSFUL"
    return decision.verdict


# --------------------------------------------------------------------------------------------------
# Any answer: a page, or one of the provider's own errors
# --------------------------------------------------------------------------------------------------


@BOUNDED
@given(status=http_status, header_values=headers, raw=raw_body)
@example(status=200, header_values={}, raw=b"[" * 100_000)
@example(status=429, header_values={"Retry-After": "²"}, raw=b"{}")
@example(status=200, header_values={}, raw=json.dumps({"total_count": 1, "data": [{"total_rows": "²"}]}).encode())
def test_any_answer_ends_in_a_verdict_or_a_provider_error(status: int, header_values: dict[str, str], raw: bytes):
    try:
        read_like_the_hook(status, header_values, raw)
    except MoEngageError as err:
        if isinstance(err, MoEngageAPIError) and err.http_status is not None and not 200 <= err.http_status < 300:
            # classification: only 429 and 5xx may be retried; every other status fails at once
            assert err.transient == (err.http_status == 429 or err.http_status >= 500)
            assert err.retry_after is None or (math.isfinite(err.retry_after) and err.retry_after >= 0)
        str(err)  # the message renders
    else:
        assert 200 <= status < 300, "an error status was read as data"


@BOUNDED
@given(header_values=headers, now=st.floats(0, 2e9))
def test_a_wait_hint_is_a_finite_number_of_seconds_or_nothing(header_values: dict[str, str], now: float) -> None:
    for rate_limited in (True, False):
        wait = retry_after_seconds(header_values, now, rate_limited=rate_limited)
        assert wait is None or (math.isfinite(wait) and wait >= 0)


@BOUNDED
@given(
    status=st.one_of(tricky, st.sampled_from(sorted(PARTIAL_STATUSES))),
    failed=st.one_of(tricky, st.integers(-10, 10)),
    total=st.one_of(tricky, st.integers(-100, 100)),
    threshold=st.sampled_from([{"max_failed_rows": 0}, {"max_failed_rows": 5}, {"max_failed_ratio": 0.01},
                               {"max_failed_ratio": 1}, {"max_failed_rows": 3, "max_failed_ratio": 0.5}]),
)  # fmt: skip
@example(status="PARTIAL_SUCCESS", failed=-3, total=100, threshold={"max_failed_rows": 0})
@example(status="PARTIAL_SUCCESS", failed=50, total=-100, threshold={"max_failed_ratio": 0.01})
def test_a_partial_success_passes_a_threshold_only_with_counts_that_meet_it(status, failed, total, threshold) -> None:
    raw = {"id": "f", "scheduled_at": "2026-12-03T06:00:00", "file_status": status}
    raw.update(failed_rows=failed, total_rows=total)
    try:
        decision = StatusPolicy.build(**threshold).decide(ImportFile.from_api(raw, "daily_users"))
    except MoEngageError:
        return
    if decision.verdict is Verdict.SUCCESS and decision.import_file.status in PARTIAL_STATUSES:
        file = decision.import_file
        assert file.failed_rows is not None and file.failed_rows >= 0
        if "max_failed_rows" in threshold:
            assert file.failed_rows <= threshold["max_failed_rows"]
        if "max_failed_ratio" in threshold:
            assert file.total_rows and file.total_rows > 0
            assert file.failed_rows / file.total_rows <= threshold["max_failed_ratio"]


# --------------------------------------------------------------------------------------------------
# The latest file: the brute-force maximum, whatever the order and the split into pages
# --------------------------------------------------------------------------------------------------

ZONES = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-5))]
MOMENTS = [BASELINE + timedelta(hours=hours) for hours in (-2, 0, 1, 3)]  # few values: ties happen
STATUSES = ["SUCCESSFUL", "FAILED", "PROCESSING", "PARTIAL_SUCCESS"]


@st.composite
def listings(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """Records (distinct ids, or no id at all), and the same records shuffled, split into pages, some repeated."""
    count = draw(st.integers(0, 8))
    records = []
    for number in range(count):
        scheduled = draw(st.sampled_from(MOMENTS))
        completed = draw(st.one_of(st.none(), st.sampled_from(MOMENTS)))
        records.append(
            {
                "id": draw(st.one_of(st.just(f"file-{number}"), st.none())),
                "file_status": draw(st.sampled_from(STATUSES)),
                # the same instant written in any of several zones, or naive (read as UTC)
                "scheduled_at": draw(st.sampled_from([scheduled.astimezone(z).isoformat() for z in ZONES]
                                                     + [scheduled.replace(tzinfo=None).isoformat()])),
                "completed_at": None if completed is None else completed.astimezone(draw(st.sampled_from(ZONES)))
                .isoformat(),
            }
        )  # fmt: skip
    served = draw(st.permutations(records))
    repeats = draw(st.lists(st.sampled_from(served), max_size=2)) if served else []  # the same record twice
    served = served + [dict(record) for record in repeats if record["id"] is not None]
    cuts = sorted(draw(st.lists(st.integers(0, len(served)), max_size=3)))
    bounds = [0, *cuts, len(served)]
    pages = [served[a:b] for a, b in itertools.pairwise(bounds)]
    return records, [page for page in pages if page] or [[]]


def _key(file: ImportFile) -> tuple[datetime, datetime, str]:
    return (file.scheduled_at, file.completed_at or datetime.min.replace(tzinfo=UTC), file.id or "")


@BOUNDED
@given(listing=listings(), with_baseline=st.booleans())
def test_latest_file_is_the_brute_force_maximum_in_any_order_and_paging(listing, with_baseline: bool) -> None:
    records, pages = listing
    baseline = BASELINE if with_baseline else None
    served = sum(len(page) for page in pages)
    walk, seen, offset = PageWalk(), [], 1
    for number, page_records in enumerate(pages, start=1):
        body = {"status": "success", "total_count": served, "data": page_records, "more_files": number < len(pages)}
        page = parse_status_response(200, {}, json.dumps(body).encode(), import_name="daily_users")
        seen += walk.unique(page)
        next_offset = walk.next_offset(page, offset)
        assert next_offset == (None if number == len(pages) else offset + 1)
        offset = next_offset or offset

    files = [ImportFile.from_api(record, "daily_users") for record in records]
    candidates = [f for f in files if baseline is None or f.scheduled_at >= baseline]
    best = max(candidates, key=_key, default=None)
    rivals = [f for f in candidates if best is not None and _key(f) == _key(best) and f != best]
    if rivals:  # two different records are both "the latest": which one to judge would be a guess
        try:
            latest_file(seen, baseline)
        except MoEngageUnexpectedResponseError as err:
            assert "both the latest" in str(err)
        else:
            raise AssertionError(f"picked one of several different latest records: {[best, *rivals]}")
    else:
        assert latest_file(seen, baseline) == best


# --------------------------------------------------------------------------------------------------
# The decision is total
# --------------------------------------------------------------------------------------------------

EXTRA = ["UPLOADING", "RETRYING", "CANCELLED", "ON_HOLD"]


@st.composite
def policies(draw: st.DrawFn) -> StatusPolicy:
    extras = draw(st.permutations(EXTRA))
    split = draw(st.integers(0, len(extras)))
    pending, failure = extras[: draw(st.integers(0, split))], extras[split:]
    partial = draw(st.sampled_from(["none", "allow", "rows", "ratio", "both"]))
    options: dict[str, Any] = {
        "none": {},
        "allow": {"allow_partial_success": True},
        "rows": {"max_failed_rows": draw(st.integers(0, 20))},
        "ratio": {"max_failed_ratio": draw(st.floats(0, 1))},
        "both": {"max_failed_rows": draw(st.integers(0, 20)), "max_failed_ratio": draw(st.floats(0, 1))},
    }[partial]
    spelling = draw(st.sampled_from([str, str.lower, lambda s: s.replace("_", " ").title()]))
    return StatusPolicy.build(
        pending_statuses=[spelling(s) for s in pending], failure_statuses=[spelling(s) for s in failure], **options
    )


statuses = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(sorted(KNOWN_STATUSES) + EXTRA).flatmap(
        lambda s: st.sampled_from([s, s.lower(), f"  {s.title()} ", s.replace("_", " "), s.replace("_", "-")])
    ),
)


@BOUNDED
@given(
    status=statuses,
    policy=policies(),
    failed=st.one_of(st.none(), st.integers(0, 50)),
    total=st.one_of(st.none(), st.integers(0, 100)),
)
def test_the_status_decision_is_total_and_success_only_means_success(status, policy, failed, total) -> None:
    file = ImportFile(
        id="f", import_name="daily_users", file_name="users.csv", file_status=status,
        scheduled_at=BASELINE, completed_at=None, failed_rows=failed, total_rows=total,
    )  # fmt: skip
    canonical = normalize_status(status)
    known = canonical in KNOWN_STATUSES | policy.pending_statuses | policy.failure_statuses
    try:
        decision = policy.decide(file)
    except MoEngageUnknownStatusError as err:
        assert not known and repr(status) in str(err)
        return
    assert known, f"{status!r} is outside the vocabulary but was judged {decision.verdict}"
    assert decision.verdict in (Verdict.SUCCESS, Verdict.FAILURE, Verdict.PENDING) and decision.reason
    if canonical in policy.failure_statuses:
        assert decision.verdict is Verdict.FAILURE
    if canonical in policy.pending_statuses:
        assert decision.verdict is Verdict.PENDING
    if decision.verdict is Verdict.SUCCESS:
        assert canonical == "SUCCESSFUL" or (canonical in PARTIAL_STATUSES and policy.accepts_partial)
        if canonical in PARTIAL_STATUSES and not policy.allow_partial_success:
            assert failed is not None
            assert policy.max_failed_rows is None or failed <= policy.max_failed_rows
            assert policy.max_failed_ratio is None or (total and failed / total <= policy.max_failed_ratio)


def test_no_file_yet_is_pending_under_every_policy() -> None:
    for policy in (StatusPolicy(), StatusPolicy.build(allow_partial_success=True, pending_statuses=["UPLOADING"])):
        assert policy.decide(None).verdict is Verdict.PENDING
