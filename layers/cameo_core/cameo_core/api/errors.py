"""What a caller did wrong, or asked too early: each maps to one status code and error code."""

from __future__ import annotations

from cameo_core.errors import CameoError


class ApiError(CameoError):
    status_code = 400
    code = "BadRequest"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    """Malformed input: an id, a cursor or a parameter that cannot mean anything."""


class Forbidden(ApiError):
    """This deployment does not serve the route (e.g. media URLs on an open API)."""

    status_code = 403
    code = "Forbidden"


class NotFound(ApiError):
    status_code = 404
    code = "NotFound"


class NotReady(ApiError):
    """The video exists but has no finished results (queued, running, failed, erased...)."""

    status_code = 409
    code = "NotReady"
