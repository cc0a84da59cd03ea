"""Small adapter around Rekognition Video's celebrity APIs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cameo_core.errors import (
    JobLimitExceeded,
    PaginationExpired,
    RejectedVideo,
    ResultsExpired,
    RetryableError,
    StartDeferred,
    StartThrottled,
)

# Decided once, for Start: the job quota and throttles are waiting states (the backlog keeps the
# video QUEUED and tries again when a slot frees); everything in RECORDED is a property of the
# video or the request and is recorded as FAILED; any other error is a fault of the moment that
# the backlog retries a few times (backlog.MAX_START_FAULTS) before recording it.
# The API whose jobs cameo starts; completions name it, and only its completions are ours.
API = "StartCelebrityRecognition"
LIMIT_EXCEEDED = "LimitExceededException"
THROTTLED = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException"})
RECORDED = frozenset(
    {
        "InvalidParameterException",
        "InvalidS3ObjectException",
        "VideoTooLargeException",
        "AccessDeniedException",
        "IdempotentParameterMismatchException",
    }
)
PAGE_SIZE = 1000


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class StartRequest:
    bucket: str
    key: str
    version_id: str | None
    client_request_token: str
    job_tag: str
    sns_topic_arn: str
    role_arn: str


@dataclass(frozen=True)
class JobStatus:
    status: str  # IN_PROGRESS | SUCCEEDED | FAILED
    message: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("SUCCEEDED", "FAILED")


class CelebrityJobs:
    def __init__(self, rekognition: Any) -> None:
        self._rekognition = rekognition

    def start(self, request: StartRequest) -> str:
        s3_object = {"Bucket": request.bucket, "Name": request.key}
        if request.version_id:
            s3_object["Version"] = request.version_id
        try:
            response = self._rekognition.start_celebrity_recognition(
                Video={"S3Object": s3_object},
                ClientRequestToken=request.client_request_token,
                NotificationChannel={
                    "SNSTopicArn": request.sns_topic_arn,
                    "RoleArn": request.role_arn,
                },
                JobTag=request.job_tag,
            )
        except ClientError as exc:
            code = error_code(exc)
            if code in RECORDED:
                raise RejectedVideo(code, str(exc)) from exc
            if code == LIMIT_EXCEEDED:
                raise JobLimitExceeded(code, str(exc)) from exc
            if code in THROTTLED:
                raise StartThrottled(code, str(exc)) from exc
            raise StartDeferred(code or "Unknown", str(exc)) from exc
        except BotoCoreError as exc:
            # A timeout may hide a Start that went through; the retry sends the same token, so
            # Rekognition answers with that job instead of starting a second one.
            raise StartDeferred(type(exc).__name__, str(exc)) from exc
        return str(response["JobId"])

    def pages(
        self, job_id: str, page_size: int = PAGE_SIZE, *, start_token: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every result page in time order (SortBy=TIMESTAMP keeps the normalizer streaming),
        or those after `start_token` (a resumed job: the pages before it are archived)."""
        token = start_token
        while True:
            kwargs: dict[str, Any] = {
                "JobId": job_id,
                "MaxResults": page_size,
                "SortBy": "TIMESTAMP",
            }
            if token:
                kwargs["NextToken"] = token
            try:
                page = self._rekognition.get_celebrity_recognition(**kwargs)
            except ClientError as exc:
                raise _paging_error(exc) from exc
            except BotoCoreError as exc:
                raise RetryableError(f"GetCelebrityRecognition failed: {exc}") from exc
            if page.get("JobStatus") == "IN_PROGRESS":
                raise RetryableError(f"job {job_id} is still IN_PROGRESS")
            yield page
            token = page.get("NextToken")
            if not token:
                return

    def job_status(self, job_id: str) -> JobStatus:
        """Where a job stands, for the sweep's reconciliation (one cheap call, MaxResults=1).

        Raises ResultsExpired when Rekognition no longer knows the job.
        """
        try:
            page = self._rekognition.get_celebrity_recognition(JobId=job_id, MaxResults=1)
        except ClientError as exc:
            raise _paging_error(exc) from exc
        except BotoCoreError as exc:
            raise RetryableError(f"GetCelebrityRecognition failed: {exc}") from exc
        message = page.get("StatusMessage")
        return JobStatus(str(page.get("JobStatus", "")), str(message) if message else None)

    def status_message(self, job_id: str) -> str | None:
        """Rekognition's reason for a FAILED job (the SNS message does not carry it)."""
        try:
            page = self._rekognition.get_celebrity_recognition(JobId=job_id, MaxResults=1)
        except ClientError as exc:
            raise _paging_error(exc) from exc
        message = page.get("StatusMessage")
        return str(message) if message else None


def _paging_error(exc: ClientError) -> Exception:
    code = error_code(exc)
    if code == "InvalidPaginationTokenException":
        return PaginationExpired(str(exc))
    if code == "ResourceNotFoundException":
        return ResultsExpired(str(exc))
    return RetryableError(f"GetCelebrityRecognition failed: {exc}")
