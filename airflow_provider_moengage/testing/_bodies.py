"""
The response bodies MoEngage documents for the File Imports endpoints, in one place.

The endpoints do not share one error envelope: each failure has its own documented shape, and the
emulator sends each exactly as documented (messages cut with "..." are cut in the docs too).
"""

from __future__ import annotations

import json
from typing import Any

NOT_FOUND = {"status": "fail", "data": "Resource not found."}
METHOD_NOT_ALLOWED = {"status": "fail", "message": "Method not allowed"}
HEADER_MISSING = {"title": "HeaderMissing", "description": "MOE-APPKEY is missing in Header"}
AUTHENTICATION_INVALID = {"title": "AuthenticationInvalid", "description": "Password (APP_KEY) doesn't match..."}
HEADER_MISMATCH = {
    "title": "HeaderMismatch",
    "description": "MOE_APPKEY doesn't match the Username (APP_KEY) used in Basic Auth authorization",
}
UNABLE_TO_PROCESS = {"success": False, "status_code": "400 Bad Request", "data": "Unable to process the request"}
SERVER_ERROR = {"title": "Server Error", "description": "An unexpected error was encountered...", "code": "GlQhUzvM"}


def unsupported_media_type(description_key: str = "description") -> dict[str, Any]:
    """
    Return the 415 body.

    :param description_key: ``description`` on import/status, ``error_description`` on run/history.
    """
    return {"title": "Unsupported media type", description_key: "Content type is not supported"}


def failure(error_type: str, message: str) -> dict[str, Any]:
    """
    Return the ``{"status": "FAILURE", "error_type", "message"}`` shape of the 400s.

    :param error_type: ``error_type``, such as ``Invalid Offset Value``.
    :param message: ``message``.
    """
    return {"status": "FAILURE", "error_type": error_type, "message": message}


INVALID_OFFSET = failure("Invalid Offset Value", "The offset value you have provided is not valid...")
INVALID_DATE = failure(
    "Invalid Date format", "The provided date format is either incorrect or doesn't match the entered dates..."
)
DATE_RANGE_TOO_LONG = failure(
    "Difference exceeds 30 days",
    "Please note that only imports with a date difference of 30 can be displayed...",
)
IMPORT_NOT_FOUND = failure("Import Doesn't Exist", "No import exist in the database with the given query parameters.")


def generic_error(message: str, error_type: str, request_id: str) -> dict[str, Any]:
    """
    Return MoEngage's generic Data API error envelope.

    :param message: ``error.message``.
    :param error_type: ``error.type``.
    :param request_id: ``error.request_id``.
    """
    return {"status": "fail", "error": {"message": message, "type": error_type, "request_id": request_id}}


def rate_limited(request_id: str) -> dict[str, Any]:
    """
    Return the documented 429 body.

    :param request_id: ``error.request_id``.
    """
    return generic_error("Rate limits exceeded, please try after some time", "Rate Limits Exceeded", request_id)


def blocked(request_id: str) -> dict[str, Any]:
    """
    Return the documented 403 body of a suspended account.

    :param request_id: ``error.request_id``.
    """
    return generic_error("Your account is suspended...", "BlockedClient", request_id)


def encode(body: Any, content_type: str | None = None, json_default: bool = False) -> tuple[bytes, str | None]:
    """
    Return a body's bytes and the content type to send it with.

    :param body: bytes and strings are sent as they are (``text/html`` if they start with ``<``,
        else ``text/plain``), other values as JSON; None as nothing, unless ``json_default``.
    :param content_type: overrides the content type guessed from the body.
    :param json_default: encode None as JSON ``null`` (for ``mutate`` results) instead of nothing.
    """
    if body is None and not json_default:
        return b"", content_type
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, bytes):
        guessed = "text/html" if body.lstrip().startswith(b"<") else "text/plain"
        return body, content_type or guessed
    return json.dumps(body).encode(), content_type or "application/json"
