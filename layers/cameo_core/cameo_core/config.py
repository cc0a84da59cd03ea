"""Typed configuration, read from the environment once at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cameo_core.errors import ConfigError

DEFAULT_MIN_CONFIDENCE = 80.0
DEFAULT_MERGE_GAP_MS = 2000
# Rekognition Video's own limit: larger objects fail with VideoTooLargeException after we paid
# for the request, so we reject them up front.
DEFAULT_MAX_VIDEO_BYTES = 10 * 1024**3
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".avi"})


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
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}={raw!r} is not a number") from exc


@dataclass(frozen=True)
class Tuning:
    """What operators tune (template Parameters); safe defaults exist for these."""

    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    merge_gap_ms: int = DEFAULT_MERGE_GAP_MS
    max_video_bytes: int = DEFAULT_MAX_VIDEO_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Tuning:
        env = os.environ if env is None else env
        tuning = cls(
            min_confidence=_number(env, "MIN_CONFIDENCE", DEFAULT_MIN_CONFIDENCE),
            merge_gap_ms=int(_number(env, "MERGE_GAP_MS", DEFAULT_MERGE_GAP_MS)),
            max_video_bytes=int(_number(env, "MAX_VIDEO_BYTES", DEFAULT_MAX_VIDEO_BYTES)),
        )
        if not 0 <= tuning.min_confidence <= 100:
            raise ConfigError("MIN_CONFIDENCE must be between 0 and 100")
        if tuning.merge_gap_ms < 0:
            raise ConfigError("MERGE_GAP_MS must not be negative")
        return tuning


@dataclass(frozen=True)
class StartConfig:
    table_name: str
    sns_topic_arn: str
    rekognition_role_arn: str
    tuning: Tuning

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StartConfig:
        env = os.environ if env is None else env
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            sns_topic_arn=_required(env, "SNS_TOPIC_ARN"),
            rekognition_role_arn=_required(env, "REKOGNITION_ROLE_ARN"),
            tuning=Tuning.from_env(env),
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
