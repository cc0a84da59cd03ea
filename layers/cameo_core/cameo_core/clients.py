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

# The start function's Rekognition client. A full job quota (LimitExceeded) or a throttle is a
# waiting state the backlog records, not something to sit out inside one invocation: 8 attempts
# spent up to ~70 s of backoff in a 60 s function. 3 attempts cost at most 1 + 2 s of backoff;
# with these timeouts one call's worst case is 3 x (3 + 10) + 3 = 42 s, and the drain stops
# starting new jobs well before the function's timeout (backlog.DRAIN_RESERVE_S).
# botocore's `max_attempts` counts retries only; `total_max_attempts` includes the first call.
START_RETRY_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=3,
    read_timeout=10,
)


@cache
def session() -> boto3.session.Session:
    """One Session per process for every client below: each new Session loads botocore's
    data and credential chain again (~0.35 s the first time in a Lambda environment). A Session
    is not thread-safe, so clients are created in the handler's thread only; the clients
    themselves are, and the I/O threads (results.py) only use them."""
    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    """One client per service per process, created on first use (keeps cold start short)."""
    return session().client(service, config=RETRY_CONFIG)  # type: ignore[call-overload]


@cache
def start_client() -> Any:
    """Rekognition for StartCelebrityRecognition and the sweep's status probes."""
    return session().client("rekognition", config=START_RETRY_CONFIG)


# The duration probe's S3 reads: a hung read must cost seconds, not minutes, so the upload is
# still recorded at once ("duration unknown" is an answer, not a failure).
PROBE_RETRY_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 2},
    connect_timeout=2,
    read_timeout=3,
)


@cache
def probe_client() -> Any:
    return session().client("s3", config=PROBE_RETRY_CONFIG)
