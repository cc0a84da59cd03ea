"""Typed configuration, read from the environment once at cold start."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cameo_core.errors import ConfigError
from cameo_core.pricing import DEFAULT_PRICE_PER_MINUTE

DEFAULT_MIN_CONFIDENCE = 80.0
DEFAULT_MERGE_GAP_MS = 2000
# Rekognition Video's own limit: larger objects fail with VideoTooLargeException after we paid
# for the request, so we reject them up front.
DEFAULT_MAX_VIDEO_BYTES = 10 * 1024**3
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".avi"})
# Rekognition Video's default quota of concurrent stored-video jobs per account and region.
DEFAULT_MAX_CONCURRENT_JOBS = 20
DEFAULT_RECONCILE_AFTER_MINUTES = 30.0
# Rekognition Video's own limit on a stored video's length (6 hours).
DEFAULT_MAX_VIDEO_MINUTES = 360.0


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}={raw!r} is not a number") from exc
    if not math.isfinite(value):
        raise ConfigError(f"environment variable {name}={raw!r} is not a finite number")
    return value


def _whole_days(env: Mapping[str, str], name: str) -> int:
    """A whole, non-negative number of days; unset is 0."""
    raw = env.get(name, "").strip() or "0"
    if not raw.isascii() or not raw.isdigit():
        raise ConfigError(f"environment variable {name}={raw!r} must be whole days (0: no expiry)")
    return int(raw)


@dataclass(frozen=True)
class Tuning:
    """What operators tune (template Parameters); safe defaults exist for these."""

    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    merge_gap_ms: int = DEFAULT_MERGE_GAP_MS
    max_video_bytes: int = DEFAULT_MAX_VIDEO_BYTES
    # ResultsRetentionDays: a job's appearances and summaries expire this many days after
    # they are first written (DynamoDB TTL); 0 keeps them until the video is erased. Whole
    # days, like the archive's lifecycle rule that expires the job's pages with them.
    retention_days: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Tuning:
        env = os.environ if env is None else env
        tuning = cls(
            min_confidence=_number(env, "MIN_CONFIDENCE", DEFAULT_MIN_CONFIDENCE),
            merge_gap_ms=int(_number(env, "MERGE_GAP_MS", DEFAULT_MERGE_GAP_MS)),
            max_video_bytes=int(_number(env, "MAX_VIDEO_BYTES", DEFAULT_MAX_VIDEO_BYTES)),
            retention_days=_whole_days(env, "RESULTS_RETENTION_DAYS"),
        )
        if not 0 <= tuning.min_confidence <= 100:
            raise ConfigError("MIN_CONFIDENCE must be between 0 and 100")
        if tuning.merge_gap_ms < 0:
            raise ConfigError("MERGE_GAP_MS must not be negative")
        return tuning


@dataclass(frozen=True)
class BacklogSettings:
    """How the backlog drains (template Parameters MaxConcurrentJobs, ReconcileAfterMinutes,
    MaxVideoMinutes, PricePerMinute)."""

    max_concurrent_jobs: int = DEFAULT_MAX_CONCURRENT_JOBS
    reconcile_after_minutes: float = DEFAULT_RECONCILE_AFTER_MINUTES
    max_video_minutes: float = DEFAULT_MAX_VIDEO_MINUTES
    price_per_minute: float = DEFAULT_PRICE_PER_MINUTE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BacklogSettings:
        env = os.environ if env is None else env
        jobs = _number(env, "MAX_CONCURRENT_JOBS", DEFAULT_MAX_CONCURRENT_JOBS)
        settings = cls(
            max_concurrent_jobs=int(jobs),
            reconcile_after_minutes=_number(
                env, "RECONCILE_AFTER_MINUTES", DEFAULT_RECONCILE_AFTER_MINUTES
            ),
            max_video_minutes=_number(env, "MAX_VIDEO_MINUTES", DEFAULT_MAX_VIDEO_MINUTES),
            price_per_minute=_number(env, "PRICE_PER_MINUTE", DEFAULT_PRICE_PER_MINUTE),
        )
        # A fraction of a slot would be rounded away silently; refuse it instead.
        if jobs != settings.max_concurrent_jobs or not 1 <= jobs <= 1000:
            raise ConfigError("MAX_CONCURRENT_JOBS must be a whole number from 1 to 1000")
        if settings.reconcile_after_minutes <= 0:
            raise ConfigError("RECONCILE_AFTER_MINUTES must be positive")
        if settings.max_video_minutes <= 0:
            raise ConfigError("MAX_VIDEO_MINUTES must be positive")
        if settings.price_per_minute < 0:
            raise ConfigError("PRICE_PER_MINUTE must not be negative")
        return settings


@dataclass(frozen=True)
class StartConfig:
    table_name: str
    sns_topic_arn: str
    rekognition_role_arn: str
    tuning: Tuning
    backlog: BacklogSettings = BacklogSettings()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StartConfig:
        env = os.environ if env is None else env
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            sns_topic_arn=_required(env, "SNS_TOPIC_ARN"),
            rekognition_role_arn=_required(env, "REKOGNITION_ROLE_ARN"),
            tuning=Tuning.from_env(env),
            backlog=BacklogSettings.from_env(env),
        )


@dataclass(frozen=True)
class ResultsConfig:
    table_name: str
    archive_bucket: str
    tuning: Tuning

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ResultsConfig:
        env = os.environ if env is None else env
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            archive_bucket=_required(env, "ARCHIVE_BUCKET"),
            tuning=Tuning.from_env(env),
        )


@dataclass(frozen=True)
class ProcessResultsConfig(ResultsConfig):
    """The results function's: a job too long for one invocation continues in a new one,
    announced again on the completion topic (SNS_TOPIC_ARN, as for the start function)."""

    completion_topic_arn: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProcessResultsConfig:
        env = os.environ if env is None else env
        base = ResultsConfig.from_env(env)
        return cls(
            table_name=base.table_name,
            archive_bucket=base.archive_bucket,
            tuning=base.tuning,
            completion_topic_arn=_required(env, "SNS_TOPIC_ARN"),
        )
