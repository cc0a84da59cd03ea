"""boto3 clients with one retry policy. Endpoints come only from boto3's standard
AWS_ENDPOINT_URL_<SERVICE> variables, so the same code talks to AWS or to the offline stack."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# "standard" retries Throttling, ProvisionedThroughputExceeded, LimitExceeded and 5xx with
# exponential backoff and jitter; what is still failing after that is raised to the platform.
RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=30,
)


@cache
def client(service: str) -> Any:
    """One client per service per process, created on first use (keeps cold start short)."""
    return boto3.session.Session().client(service, config=RETRY_CONFIG)  # type: ignore[call-overload]
