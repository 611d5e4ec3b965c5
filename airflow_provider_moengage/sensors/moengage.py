"""MoEngageImportSensor: wait until an import's latest file has finished."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_moengage.exceptions import (
    MoEngageConfigurationError,
    MoEngageError,
    MoEngageImportFailedError,
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


class MoEngageImportSensor(ImportCheckArguments, BaseSensorOperator):
    """Wait until the latest matching file of a MoEngage import reaches a terminal status.

    Terminal means SUCCESSFUL, FAILED, PARTIAL_SUCCESS (or PARTIAL_FAILURE) or ARCHIVED. The sensor
    waits; it does not judge unless ``fail_on_failure=True``. Put
    :class:`~airflow_provider_moengage.operators.moengage.MoEngageImportStatusOperator` after it to
    gate on success. The terminal file is returned (XCom ``return_value``) as a dict.

    No matching file yet: keeps waiting. Transient API trouble (429, 5xx, network) outlasting the
    hook's retries: logged, keeps waiting. Bad credentials, a bad request, an unknown status or a
    malformed answer: fails at once, without task retries. ``soft_fail`` skips on timeout only; it
    never hides an auth or configuration error.

    :param import_name: the import's name on the MoEngage dashboard. Templated.
    :param moengage_conn_id: the ``moengage`` connection.
    :param scheduled_after: ignore files scheduled before this datetime or ISO string, e.g.
        ``"{{ data_interval_start }}"``; without it an old file can satisfy the sensor. Templated.
    :param import_types: filter: USERS, EVENTS and/or AUX_DATA.
    :param schedule_types: filter: PERIODIC and/or ONETIME.
    :param file_sources: filter: SFTP, S3 and/or CSV.
    :param schedule_statuses: filter on the import's schedule status.
    :param window_start: the API's ``date`` filter start (date/datetime/ISO). Templated.
    :param window_end: the API's ``date`` filter end, at most 30 days after ``window_start``. Templated.
    :param pending_statuses: extra statuses to treat as still running.
    :param failure_statuses: extra statuses to treat as terminal failures.
    :param fail_on_failure: fail the task when the file ends FAILED, PARTIAL_SUCCESS or ARCHIVED.
    :param allow_partial_success: with ``fail_on_failure``, accept partial success.
    :param max_failed_rows: with ``fail_on_failure``, accept a partial success with at most this many failed rows.
    :param max_failed_ratio: with ``fail_on_failure``, accept a partial success up to this failed/total ratio.
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    """

    template_fields: Sequence[str] = ImportCheckArguments.check_template_fields
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        import_name: str,
        moengage_conn_id: str = MoEngageHook.default_conn_name,
        scheduled_after: datetime | str | None = None,
        import_types: str | Sequence[str] | None = None,
        schedule_types: str | Sequence[str] | None = None,
        file_sources: str | Sequence[str] | None = None,
        schedule_statuses: str | Sequence[str] | None = None,
        window_start: Any = None,
        window_end: Any = None,
        pending_statuses: Sequence[str] | None = None,
        failure_statuses: Sequence[str] | None = None,
        fail_on_failure: bool = False,
        allow_partial_success: bool = False,
        max_failed_rows: int | None = None,
        max_failed_ratio: float | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
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
        self.fail_on_failure = true_or_false("fail_on_failure", fail_on_failure)
        ignored = [
            name
            for name, value, default in (
                ("allow_partial_success", allow_partial_success, False),
                ("max_failed_rows", max_failed_rows, None),
                ("max_failed_ratio", max_failed_ratio, None),
            )
            if value is not default
        ]
        if ignored and not self.fail_on_failure:
            raise MoEngageConfigurationError(
                f"{', '.join(ignored)} only apply with fail_on_failure=True: without it the sensor does not judge "
                "and succeeds on any finished file, FAILED included. Set fail_on_failure=True, or judge with "
                "MoEngageImportStatusOperator"
            )
        self.deferrable = true_or_false("deferrable", deferrable)
        positive_seconds("poke_interval", self.poke_interval)
        positive_seconds("timeout", self.timeout)
        warn_if_over_budget("poke_interval", float(self.poke_interval), self.log)

    # ---------------------------------------------------------------------------------------------
    # Poke and reschedule modes
    # ---------------------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Check once; then defer, or poke as the base sensor does (poke/reschedule modes)."""
        self._timeout_at = self._wait_deadline(context)
        with _soft_fail_on_timeout_only():
            if not self.deferrable:
                return super().execute(context)
            check = self.build_check()
            decision = self._ask(check)
            if decision is not None and decision.is_terminal:
                return self._finish(decision)
            self.defer_check(check, context, float(self.timeout), float(self.poke_interval))
        return None  # pragma: no cover - defer() raises

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """One look at the import; transient API trouble is logged and counts as "not yet"."""
        decision = self._ask(self.build_check())
        if decision is None or not decision.is_terminal:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._finish(decision))

    def _wait_deadline(self, context: Context) -> datetime:
        """When ``timeout`` runs out, counted from where the base sensor counts (reschedule: the first try)."""
        started = context["ti"].get_first_reschedule_date(context) if self.reschedule else None
        return (started or datetime.now(UTC)) + timedelta(seconds=float(self.timeout))

    def _ask(self, check: ImportCheck) -> Decision | None:
        # A poke's retries must not run past the sensor's timeout: the base sensor only looks between pokes.
        return self.look(check, getattr(self, "_timeout_at", None))

    def _finish(self, decision: Decision) -> dict[str, Any]:
        assert decision.import_file is not None
        if self.fail_on_failure and decision.verdict is Verdict.FAILURE:
            raise MoEngageImportFailedError(decision.reason, decision.import_file)
        return decision.import_file.to_dict()

    # ---------------------------------------------------------------------------------------------
    # Deferrable mode
    # ---------------------------------------------------------------------------------------------

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: judge its event with the same decision as poke mode."""
        with _soft_fail_on_timeout_only():
            try:
                decision = self.build_check().decision_from_event(event)
            except TimeoutError as err:
                raise AirflowSensorTimeout(str(err)) from None
            return self._finish(decision)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume as the base sensor does, keeping provider errors from being skipped by ``soft_fail``."""
        with _soft_fail_on_timeout_only():
            return super().resume_execution(next_method, next_kwargs, context)


@contextmanager
def _soft_fail_on_timeout_only() -> Iterator[None]:
    """Undo the base sensor's ``soft_fail`` skip when what it skipped was a provider error.

    The base sensor turns any ``AirflowFailException`` into a skip under ``soft_fail``; a wrong API
    key or an unknown status must fail the task, not skip it and the campaign behind it silently.
    """
    try:
        yield
    except AirflowSkipException as skip:
        if isinstance(skip.__cause__, MoEngageError):
            raise skip.__cause__ from None
        raise
