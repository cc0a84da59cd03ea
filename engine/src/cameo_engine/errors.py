"""Rekognition service errors, in the wire shape boto3 turns into its modeled exceptions.

botocore reads the error code from ``__type`` and the text from ``message``/``Message``;
the HTTP status follows the service model (``fault: true`` shapes are server faults, 500).
"""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """An error the API returns to the caller. ``code`` is the modeled exception name."""

    code = "InternalServerError"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"__type": self.code, "Code": self.code, "Message": self.message}


class ClientError(EngineError):
    """HTTP 400: the caller's request cannot be served as sent."""

    status = 400


InternalServerError = EngineError


# Named exactly like the service model's error shapes.
class AccessDeniedException(ClientError):
    code = "AccessDeniedException"


class IdempotentParameterMismatchException(ClientError):
    code = "IdempotentParameterMismatchException"


class ImageTooLargeException(ClientError):
    code = "ImageTooLargeException"


class InvalidImageFormatException(ClientError):
    code = "InvalidImageFormatException"


class InvalidPaginationTokenException(ClientError):
    code = "InvalidPaginationTokenException"


class InvalidParameterException(ClientError):
    code = "InvalidParameterException"


class InvalidS3ObjectException(ClientError):
    code = "InvalidS3ObjectException"


class LimitExceededException(ClientError):
    code = "LimitExceededException"


class ProvisionedThroughputExceededException(ClientError):
    code = "ProvisionedThroughputExceededException"


class ResourceNotFoundException(ClientError):
    code = "ResourceNotFoundException"


class VideoTooLargeException(ClientError):
    code = "VideoTooLargeException"


# Not modeled shapes, but what AWS JSON services answer for a malformed request.
class SerializationException(ClientError):
    code = "SerializationException"


class UnknownOperationException(ClientError):
    code = "UnknownOperationException"


class ThrottlingException(EngineError):
    # The service model marks it ``fault: true``; AWS documents HTTP 500 for it.
    code = "ThrottlingException"
    status = 500


def error_for(code: str, message: str) -> EngineError:
    """Build an error by its modeled name (used by fault injection)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        raise ValueError(
            f"unknown Rekognition error {code!r}; known: {', '.join(sorted(_BY_CODE))}"
        )
    return cls(message)


_BY_CODE: dict[str, type[EngineError]] = {
    cls.code: cls
    for cls in (
        EngineError,
        AccessDeniedException,
        IdempotentParameterMismatchException,
        ImageTooLargeException,
        InvalidImageFormatException,
        InvalidPaginationTokenException,
        InvalidParameterException,
        InvalidS3ObjectException,
        LimitExceededException,
        ProvisionedThroughputExceededException,
        ResourceNotFoundException,
        ThrottlingException,
        VideoTooLargeException,
    )
}
