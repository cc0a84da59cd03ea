"""Domain exceptions. Each failure is decided once: retry (raise Retryable) or record it."""

from __future__ import annotations


class CameoError(Exception):
    """Base class for cameo's own errors."""


class ConfigError(CameoError):
    """A required setting is missing or malformed; fail fast at cold start."""


class RetryableError(CameoError):
    """Transient: raised out of the handler so the platform retries (then the DLQ keeps it)."""


class RejectedVideo(CameoError):
    """Rekognition refused this video for good; recorded as FAILED with the message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ResultsExpired(CameoError):
    """GetCelebrityRecognition no longer knows the job (results are kept ~7 days)."""


class PaginationExpired(CameoError):
    """The NextToken went stale; the caller restarts from the first page."""


class StartDeferred(CameoError):
    """StartCelebrityRecognition cannot take this job now (no slot, throttled, or the service
    is unwell); the video goes back to QUEUED and the backlog tries again later. Not a failure."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class JobLimitExceeded(StartDeferred):
    """Rekognition's concurrent-job quota is full (LimitExceededException): a waiting state."""


class StartThrottled(StartDeferred):
    """Start calls are over the account's TPS even after botocore's few retries."""
