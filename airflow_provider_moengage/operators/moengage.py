"""MoEngageImportStatusOperator: the gate. Fails the task unless the import's latest file succeeded."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator, conf
from airflow.sdk.exceptions import TaskDeferralTimeout

from airflow_provider_moengage.exceptions import (
    MoEngageImportFailedError,
    MoEngageImportPendingError,
    MoEngageNoMatchingFileError,
    MoEngageWaitTimeout,
)
from airflow_provider_moengage.hooks.moengage import MoEngageHook
from airflow_provider_moengage.models import Decision, Verdict
from airflow_provider_moengage.waiting import (
    ImportCheck,
    ImportCheckArguments,
    positive_seconds,
    true_or_false,
    warn_if_over_budget,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


#: The fields of the file that the gate's summary (its XCom) repeats.
_SUMMARY_FIELDS = (
    "file_name",
    "file_status",
    "scheduled_at",
    "completed_at",
    "total_rows",
    "added_rows",
    "updated_rows",
    "skipped_rows",
    "failed_rows",
    "status_msg",
)


class MoEngageImportStatusOperator(ImportCheckArguments, BaseOperator):
    """Check the latest matching file of a MoEngage import and fail the task unless it succeeded.

    SUCCESSFUL returns a summary dict (XCom ``return_value``). FAILED, PARTIAL_SUCCESS, ARCHIVED or
    no matching file fail the task without retries, naming the import, the file, the status, the
    failed rows and MoEngage's message, so downstream campaign tasks do not run. Accept small
    partial failures explicitly with ``allow_partial_success`` or ``max_failed_rows`` /
    ``max_failed_ratio``.

    :param import_name: the import's name on the MoEngage dashboard. Templated.
    :param moengage_conn_id: the ``moengage`` connection.
    :param scheduled_after: ignore files scheduled before this datetime or ISO string. Templated.
    :param wait_for_completion: wait for a terminal status; if False a pending file fails the task
        (an ordinary, retryable failure, so task retries can look again).
    :param poll_interval: seconds between checks while waiting.
    :param timeout: seconds (or a timedelta) to wait at most; then the task fails, not retried.
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    :param import_types: filter: USERS, EVENTS and/or AUX_DATA.
    :param schedule_types: filter: PERIODIC and/or ONETIME.
    :param file_sources: filter: SFTP, S3 and/or CSV.
    :param schedule_statuses: filter on the import's schedule status.
    :param window_start: the API's ``date`` filter start. Templated.
    :param window_end: the API's ``date`` filter end, at most 30 days after the start. Templated.
    :param pending_statuses: extra statuses to treat as still running.
    :param failure_statuses: extra statuses to treat as terminal failures.
    :param allow_partial_success: accept every PARTIAL_SUCCESS.
    :param max_failed_rows: accept a partial success with at most this many failed rows.
    :param max_failed_ratio: accept a partial success whose failed/total rows is at most this.
    """

    template_fields: Sequence[str] = ImportCheckArguments.check_template_fields
    ui_color = "#fde8e8"

    def __init__(
        self,
        *,
        import_name: str,
        moengage_conn_id: str = MoEngageHook.default_conn_name,
        scheduled_after: datetime | str | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = 60.0,
        timeout: float | timedelta = 3600.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        import_types: str | Sequence[str] | None = None,
        schedule_types: str | Sequence[str] | None = None,
        file_sources: str | Sequence[str] | None = None,
        schedule_statuses: str | Sequence[str] | None = None,
        window_start: Any = None,
        window_end: Any = None,
        pending_statuses: Sequence[str] | None = None,
        failure_statuses: Sequence[str] | None = None,
        allow_partial_success: bool = False,
        max_failed_rows: int | None = None,
        max_failed_ratio: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.store_check_arguments(
            import_name,
            moengage_conn_id,
            scheduled_after=scheduled_after,
            window_start=window_start,
            window_end=window_end,
            import_types=import_types,
            schedule_types=schedule_types,
            file_sources=file_sources,
            schedule_statuses=schedule_statuses,
            pending_statuses=pending_statuses,
            failure_statuses=failure_statuses,
            allow_partial_success=allow_partial_success,
            max_failed_rows=max_failed_rows,
            max_failed_ratio=max_failed_ratio,
        )
        self.wait_for_completion = true_or_false("wait_for_completion", wait_for_completion)
        self.poll_interval = positive_seconds("poll_interval", poll_interval)
        self.timeout = positive_seconds("timeout", timeout)
        self.deferrable = true_or_false("deferrable", deferrable)
        if self.wait_for_completion:
            warn_if_over_budget("poll_interval", self.poll_interval, self.log)

    def execute(self, context: Context) -> dict[str, Any]:
        """Judge the latest file, waiting (in place or deferred) while it is still running."""
        check = self.build_check()
        until = datetime.now(UTC) + timedelta(seconds=self.timeout)
        decision = self._ask(check, until)
        if decision.verdict is Verdict.PENDING and self.wait_for_completion and self.deferrable:
            self.defer_check(check, context, self.timeout, self.poll_interval)
        while decision.verdict is Verdict.PENDING:
            if not self.wait_for_completion:
                raise MoEngageImportPendingError(
                    f"{decision.reason}. Set wait_for_completion=True to wait for it, or run "
                    "MoEngageImportSensor before this task."
                )
            remaining = (until - datetime.now(UTC)).total_seconds()
            if remaining <= 0:
                raise MoEngageWaitTimeout(f"{decision.reason}; gave up after waiting {self.timeout:.0f} s (timeout)")
            time.sleep(min(self.poll_interval, remaining))
            decision = self._ask(check, until)
        return self._finish(decision)

    def _ask(self, check: ImportCheck, until: datetime | None = None) -> Decision:
        """One look, its retries ending by ``until``. While waiting, transient trouble counts as "still running"."""
        decision = self.look(check, until, tolerate_transient=self.wait_for_completion)
        if decision is None:
            return Decision(Verdict.PENDING, f"MoEngage import {check.import_name!r} could not be checked yet")
        if decision.import_file is None:
            raise MoEngageNoMatchingFileError(
                f"MoEngage import {check.import_name!r} has no file matching the filters"
                + (f" scheduled at or after {check.scheduled_after.isoformat()}" if check.scheduled_after else "")
                + ". Run MoEngageImportSensor before this task to wait for the file to arrive."
            )
        return decision

    def _finish(self, decision: Decision) -> dict[str, Any]:
        file = decision.import_file
        assert file is not None
        if decision.verdict is not Verdict.SUCCESS:
            raise MoEngageImportFailedError(decision.reason, file)
        values = file.to_dict()
        return {
            "import_name": file.import_name,
            "file_id": file.id,
            **{name: values[name] for name in _SUMMARY_FIELDS},
            "verdict": decision.reason,
        }

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: judge its event with the same decision as the waiting loop."""
        check = self.build_check()
        try:
            decision = check.decision_from_event(event)
        except TimeoutError as err:
            raise MoEngageWaitTimeout(str(err)) from None
        return self._finish(decision)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume after deferral; Airflow's own deferral timeout becomes a clear, non-retried failure."""
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout as err:
            raise MoEngageWaitTimeout(
                f"MoEngage import {self.import_name!r} did not finish within the timeout of {self.timeout:.0f} s"
            ) from err
