"""The provider's exception hierarchy.

Every error the provider raises is a :class:`MoEngageError`. Two properties drive what callers do:

* ``transient``: the same request may succeed later (429, 5xx, network trouble). The hook retries
  these; a sensor that still sees one after the retries keeps waiting.
* permanent errors also subclass :class:`AirflowFailException`, so Airflow fails the task at once
  instead of retrying it: a wrong key or a malformed request does not fix itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from airflow_provider_moengage.models import ImportFile

__all__ = [
    "MoEngageAPIError",
    "MoEngageAuthError",
    "MoEngageBadRequestError",
    "MoEngageConfigurationError",
    "MoEngageError",
    "MoEngageImportFailedError",
    "MoEngageImportPendingError",
    "MoEngageNoMatchingFileError",
    "MoEngageNotFoundError",
    "MoEngageRateLimitError",
    "MoEngageServerError",
    "MoEngageTransportError",
    "MoEngageUnexpectedResponseError",
    "MoEngageUnknownStatusError",
    "MoEngageWaitTimeout",
]


class MoEngageError(AirflowException):
    """Base class of every error raised by this provider."""

    #: Whether the same call may succeed if tried again later.
    transient: bool = False


class MoEngageConfigurationError(MoEngageError, AirflowFailException, ValueError):
    """An argument or connection setting is invalid; the message names it and the allowed values."""


class MoEngageTransportError(MoEngageError):
    """The request did not get an HTTP answer: connection refused or reset, DNS, or a timeout."""

    transient = True


class MoEngageAPIError(MoEngageError):
    """MoEngage answered, but not with usable data.

    :param summary: what went wrong, in one short sentence.
    :param http_status: the HTTP status of the answer, if there was one.
    :param message: MoEngage's own message, from whichever error-body shape it used.
    :param error_type: MoEngage's error type or title (``Invalid Date format``, ``HeaderMissing``...).
    :param request_id: the request id from the body or the response headers, for MoEngage support.
    :param excerpt: the start of a body that was not JSON (an HTML proxy page, say).
    """

    def __init__(
        self,
        summary: str,
        *,
        http_status: int | None = None,
        message: str | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
        excerpt: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.summary = summary
        self.http_status = http_status
        self.message = message
        self.error_type = error_type
        self.request_id = request_id
        self.excerpt = excerpt
        #: seconds the server asked us to wait before trying again, if it said
        self.retry_after = retry_after
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.summary]
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.error_type:
            parts.append(f"error type {self.error_type!r}")
        if self.message:
            parts.append(f"MoEngage says: {self.message!r}")
        if self.excerpt:
            parts.append(f"body starts with: {self.excerpt!r}")
        parts.append(f"request id {self.request_id or 'not given'}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Return the error as JSON-like values, for a trigger event."""
        return {
            "error_class": type(self).__name__,
            "summary": self.summary,
            "http_status": self.http_status,
            "message": self.message,
            "error_type": self.error_type,
            "request_id": self.request_id,
            "excerpt": self.excerpt,
        }


class MoEngageAuthError(MoEngageAPIError, AirflowFailException):
    """401 or 403: the Workspace ID, the Data API key or the ``MOE-APPKEY`` header is not accepted."""


class MoEngageBadRequestError(MoEngageAPIError, AirflowFailException):
    """A 4xx other than 401, 403 and 429: the request itself is wrong and retrying will not help."""


class MoEngageNotFoundError(MoEngageBadRequestError):
    """404: the endpoint (and so, usually, the base URL or data center) is wrong."""


class MoEngageRateLimitError(MoEngageAPIError):
    """429: the workspace's request budget (50 a minute) is spent for now."""

    transient = True


class MoEngageServerError(MoEngageAPIError):
    """5xx: MoEngage or a proxy in front of it failed; it may work on a later try."""

    transient = True


class MoEngageUnexpectedResponseError(MoEngageAPIError, AirflowFailException):
    """The answer does not have the documented shape, or says it failed despite HTTP 200."""


class MoEngageUnknownStatusError(MoEngageError, AirflowFailException):
    """A file status outside the known vocabulary (or no status at all): never success, never pending."""


class MoEngageNoMatchingFileError(MoEngageError, AirflowFailException):
    """No file of the import matched the filters and baseline, so there is nothing to judge."""


class MoEngageImportFailedError(MoEngageError, AirflowFailException):
    """The import's latest file ended FAILED, PARTIAL_SUCCESS or ARCHIVED: the gate stays shut.

    :param reason: the human explanation (import, file, status, failed rows, MoEngage's message).
    :param import_file: the file that was judged.
    """

    def __init__(self, reason: str, import_file: ImportFile | None = None) -> None:
        self.import_file = import_file
        super().__init__(reason)


class MoEngageImportPendingError(MoEngageError):
    """The file is still running and the task was told not to wait; a task retry may look again."""


class MoEngageWaitTimeout(MoEngageError, AirflowFailException):
    """The operator waited for its whole ``timeout`` and the file never reached a terminal status."""
