"""MoEngageHook: the connection, and the File Imports status endpoint over HTTP (sync and async)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests
from airflow.providers.http.hooks.http import HttpHook
from tenacity import AsyncRetrying, RetryCallState, Retrying, stop_after_attempt

from airflow_provider_moengage.api import (
    DEFAULT_MAX_PAGES,
    ApiRequest,
    ConnectionSettings,
    PageWalk,
    RetryPolicy,
    SlidingWindowLimiter,
    StatusQuery,
    build_status_request,
    connection_id,
    limiter_for,
    parse_status_response,
)
from airflow_provider_moengage.exceptions import MoEngageConfigurationError, MoEngageError, MoEngageTransportError
from airflow_provider_moengage.models import latest_file, parse_baseline

if TYPE_CHECKING:
    import aiohttp

    from airflow_provider_moengage.models import ImportFile, StatusPage

log = logging.getLogger(__name__)

#: The least time a request is given once the deadline is near or past, so that every look gets an answer.
_MIN_REQUEST_SECONDS = 1.0


def _mask(settings: ConnectionSettings) -> None:
    """Register the key and the Basic credential with Airflow's secret masker."""
    from airflow.providers.common.compat.sdk import mask_secret

    for secret in settings.secrets():
        mask_secret(secret)


async def _amask(settings: ConnectionSettings) -> None:
    """:func:`_mask` without a blocking round trip to the supervisor (for the event loop)."""
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # Airflow before 3.1: masking is local to the process, nothing blocks
        _mask(settings)
        return
    for secret in settings.secrets():
        await amask_secret(secret)


class MoEngageHook(HttpHook):
    """Talk to MoEngage's File Imports status API.

    The connection holds the Workspace ID (login), the Data API key (password) and, in ``extra``,
    ``data_center`` (01-06 or 101, default 01), ``timezone`` (how naive API timestamps are read,
    default UTC), ``rate_limit_per_minute`` (default 50), ``timeout`` (seconds, default 30),
    ``max_attempts`` (default 5), ``max_retry_seconds`` (default 120) and ``verify`` (TLS, default
    true). ``host`` replaces the data center's base URL, e.g. ``http://127.0.0.1:8089``.
    Extras are read by the hook and never sent as headers.

    :param moengage_conn_id: the Airflow connection id.
    :param max_pages: hard cap on pages fetched for one question.
    :param sleep: the sleep used for rate limiting and retries (a fake one in tests).
    :param deadline: when the waiting task's ``timeout`` runs out (aware datetime): no retry starts
        whose wait would end later, and no request is given longer than what is left (at least
        1 s). ``None``: only the connection's ``max_attempts``/``max_retry_seconds`` bound retries.
    """

    conn_name_attr = "moengage_conn_id"
    default_conn_name = "moengage_default"
    conn_type = "moengage"
    hook_name = "MoEngage"

    def __init__(
        self,
        moengage_conn_id: str = default_conn_name,
        *,
        max_pages: int = DEFAULT_MAX_PAGES,
        sleep: Callable[[float], Any] = time.sleep,
        deadline: datetime | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(method="POST", http_conn_id=connection_id(moengage_conn_id), **kwargs)
        if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
            raise MoEngageConfigurationError(f"max_pages must be a whole number >= 1, got {max_pages!r}")
        self.moengage_conn_id = moengage_conn_id
        self.max_pages = max_pages
        self._sleep = sleep
        self.deadline = deadline
        self._session: requests.Session | None = None

    # ---------------------------------------------------------------------------------------------
    # Connection
    # ---------------------------------------------------------------------------------------------

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The validated connection settings (looked up once, secrets masked)."""
        settings = ConnectionSettings.from_connection(self.get_connection(self.moengage_conn_id))
        _mask(settings)
        return settings

    async def aget_settings(self) -> ConnectionSettings:
        """Look the connection up without blocking the event loop (for the triggerer)."""
        if "settings" not in self.__dict__:
            from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

            connection = await get_async_connection(self.moengage_conn_id, hook=self)
            extra = await get_async_extra_dejson(connection) if connection.extra else {}
            settings = ConnectionSettings.from_connection(connection, extra)
            await _amask(settings)
            self.__dict__["settings"] = settings
        return self.settings

    @property
    def limiter(self) -> SlidingWindowLimiter:
        """The workspace's process-wide request budget."""
        return limiter_for(self.settings)

    @property
    def retry_policy(self) -> RetryPolicy:
        """Bounded exponential backoff, from the connection's ``max_attempts``/``max_retry_seconds``."""
        return RetryPolicy(max_attempts=self.settings.max_attempts, max_seconds=self.settings.max_retry_seconds)

    def get_conn(
        self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None
    ) -> requests.Session:
        """Return a ``requests`` session. Unlike HttpHook's, it turns no connection extra into a header."""
        if self._session is None:
            session = requests.Session()
            session.verify = self.settings.verify
            adapter = getattr(self, "keep_alive_adapter", None)
            if adapter is not None:
                session.mount("https://", adapter)
                session.mount("http://", adapter)
            self._session = session
        return self._session

    # ---------------------------------------------------------------------------------------------
    # One request, sync and async: only the I/O differs
    # ---------------------------------------------------------------------------------------------

    def _retrying_kwargs(self) -> dict[str, Any]:
        kwargs = {**self.retry_policy.tenacity_kwargs(), "before_sleep": _log_retry}
        if self.deadline is not None:
            kwargs["stop"] = kwargs["stop"] | _stop_at(self.deadline)
        return kwargs

    def _request_timeout(self) -> float:
        """The connection's ``timeout``, cut to what is left before :attr:`deadline`."""
        if self.deadline is None:
            return self.settings.timeout
        left = (self.deadline - datetime.now(UTC)).total_seconds()
        return min(self.settings.timeout, max(left, _MIN_REQUEST_SECONDS))

    def fetch_page(self, query: StatusQuery, offset: int = 1, *, retry: bool = True) -> StatusPage:
        """Fetch one page of ``query``, retrying transient failures within the policy's bounds.

        :param retry: ``False`` sends exactly one request (the connection form's Test button).
        """
        request = build_status_request(self.settings, query, offset)
        retrying = self._retrying_kwargs()
        if not retry:
            retrying["stop"] = stop_after_attempt(1)
        for attempt in Retrying(sleep=self._sleep, **retrying):
            with attempt:
                wait = self.limiter.reserve()
                if wait > 0:
                    log.info("Holding a MoEngage request %.1f s to stay within the workspace's rate limit.", wait)
                    self._sleep(wait)
                return self._send(request, query)
        raise AssertionError("tenacity stopped without raising")  # pragma: no cover

    def _send(self, request: ApiRequest, query: StatusQuery) -> StatusPage:
        try:
            response = self.get_conn().post(
                request.url,
                data=request.body,
                headers=dict(request.headers),
                timeout=self._request_timeout(),
                # per request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override Session.verify=False
                verify=self.settings.verify,
            )
            raw = response.content
        except requests.RequestException as err:
            raise MoEngageTransportError(_transport_message(request, err)) from None
        return parse_status_response(
            response.status_code, response.headers, raw, import_name=query.import_name, tz=self.settings.timezone
        )

    async def afetch_page(
        self, query: StatusQuery, offset: int = 1, session: aiohttp.ClientSession | None = None
    ) -> StatusPage:
        """Async :meth:`fetch_page`: same request bytes, same parsing, same retry policy."""
        settings = await self.aget_settings()
        request = build_status_request(settings, query, offset)
        async for attempt in AsyncRetrying(sleep=asyncio.sleep, **self._retrying_kwargs()):
            with attempt:
                wait = self.limiter.reserve()
                if wait > 0:
                    await asyncio.sleep(wait)
                return await self._asend(request, query, session)
        raise AssertionError("tenacity stopped without raising")  # pragma: no cover

    async def _asend(
        self, request: ApiRequest, query: StatusQuery, session: aiohttp.ClientSession | None
    ) -> StatusPage:
        import aiohttp

        settings = self.settings
        owned = session is None
        client = session or aiohttp.ClientSession()
        try:
            async with client.post(
                request.url,
                data=request.body,
                headers=dict(request.headers),
                timeout=aiohttp.ClientTimeout(total=self._request_timeout()),
                ssl=settings.verify,
            ) as response:
                raw = await response.read()
                status, headers = response.status, dict(response.headers)
        except (TimeoutError, aiohttp.ClientError) as err:
            raise MoEngageTransportError(_transport_message(request, err)) from None
        finally:
            if owned:
                await client.close()
        return parse_status_response(status, headers, raw, import_name=query.import_name, tz=settings.timezone)

    # ---------------------------------------------------------------------------------------------
    # The public calls
    # ---------------------------------------------------------------------------------------------

    def get_import_status(self, import_name: str | None = None, *, offset: int = 1, **filters: Any) -> StatusPage:
        """Fetch one page of the import status endpoint.

        :param import_name: the import's name as shown on the dashboard (``None``: every import).
        :param offset: the 1-based page number (50 records a page).
        :param filters: ``import_types``, ``schedule_types``, ``file_sources``, ``schedule_statuses``
            (a value or a list, upper case) and ``start_date``/``end_date`` (date, datetime or ISO
            string; at most 30 days apart).
        :raises MoEngageConfigurationError: for a bad filter, before any request is sent.
        """
        return self.fetch_page(StatusQuery.build(import_name, **filters), offset)

    def iter_import_files(self, import_name: str | None = None, **filters: Any) -> Iterator[ImportFile]:
        """Yield every record of every page, following ``more_files``.

        An error on any page raises; so do ``more_files`` true on an empty page, more records than
        ``total_count``, and more pages than the cap. The listing is never cut short silently.
        """
        yield from self.iter_query(StatusQuery.build(import_name, **filters))

    def iter_query(self, query: StatusQuery) -> Iterator[ImportFile]:
        """:meth:`iter_import_files` for an already validated :class:`StatusQuery`."""
        walk, offset = PageWalk(self.max_pages), 1
        while True:
            page = self.fetch_page(query, offset)
            yield from walk.unique(page)
            next_offset = walk.next_offset(page, offset)
            if next_offset is None:
                return
            offset = next_offset

    async def aiter_query(
        self, query: StatusQuery, session: aiohttp.ClientSession | None = None
    ) -> AsyncIterator[ImportFile]:
        """Async :meth:`iter_query`, with the same paging checks."""
        walk, offset = PageWalk(self.max_pages), 1
        while True:
            page = await self.afetch_page(query, offset, session)
            for record in walk.unique(page):
                yield record
            next_offset = walk.next_offset(page, offset)
            if next_offset is None:
                return
            offset = next_offset

    def get_latest_import_file(
        self, import_name: str, scheduled_after: datetime | str | None = None, **filters: Any
    ) -> ImportFile | None:
        """Return the newest file of ``import_name`` scheduled at or after ``scheduled_after``.

        Newest means latest ``scheduled_at`` (ties: ``completed_at``, then ``id``), whatever order
        and page the records come in. ``None`` when no file matches.
        """
        baseline = parse_baseline(scheduled_after)
        return latest_file(self.iter_query(StatusQuery.build(import_name, **filters)), baseline)

    async def aget_latest_import_file(
        self,
        query: StatusQuery,
        scheduled_after: datetime | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> ImportFile | None:
        """Async :meth:`get_latest_import_file` for a validated query."""
        return latest_file([record async for record in self.aiter_query(query, session)], scheduled_after)

    def test_connection(self) -> tuple[bool, str]:
        """Make one small request; return ``(ok, message)``. The message never holds a secret."""
        try:
            page = self.fetch_page(StatusQuery.build(), 1, retry=False)
        except MoEngageError as err:
            return False, str(err)
        except Exception as err:  # the Test button must answer, whatever went wrong
            return False, f"{type(err).__name__}: {err}"
        return True, (
            f"Connected to MoEngage File Imports at {self.settings.base_url} as workspace "
            f"{self.settings.workspace_id!r} ({page.total_count if page.total_count is not None else 'some'} "
            "files visible)"
        )

    # ---------------------------------------------------------------------------------------------
    # Connection form (Airflow < 3.2 reads these; newer versions read get_provider_info())
    # ---------------------------------------------------------------------------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel and hide the connection form's standard fields."""
        from airflow_provider_moengage.get_provider_info import UI_FIELD_BEHAVIOUR

        return UI_FIELD_BEHAVIOUR


def _transport_message(request: ApiRequest, err: BaseException) -> str:
    # The exception text of requests/aiohttp holds the URL only, never headers; keep it short.
    return f"Could not reach MoEngage at {request.url}: {type(err).__name__}: {err}"


def _stop_at(deadline: datetime) -> Callable[[RetryCallState], bool]:
    """A tenacity ``stop``: start no retry whose wait would end past ``deadline``."""

    def stop(retry_state: RetryCallState) -> bool:
        return datetime.now(UTC) + timedelta(seconds=retry_state.upcoming_sleep) >= deadline

    return stop


def _log_retry(retry_state: RetryCallState) -> None:
    error = retry_state.outcome.exception() if retry_state.outcome else None
    wait = retry_state.upcoming_sleep
    log.warning(
        "MoEngage request failed (attempt %d): %s. Retrying in %.1f s.",
        retry_state.attempt_number,
        error,
        wait,
    )
