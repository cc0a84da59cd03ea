"""SQLite persistence of jobs and their detections.

Everything a caller can observe through the API lives here, so a restarted engine answers
exactly as before: submitted jobs are resumed, finished jobs keep their pages and tokens.
One connection guarded by a lock: SQLite serialises writers anyway, and the engine's write
rate (one row per detection, a progress update now and then) is tiny.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cameo_engine.errors import (
    IdempotentParameterMismatchException,
    LimitExceededException,
)

IN_PROGRESS = "IN_PROGRESS"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id          TEXT PRIMARY KEY,
    client_token    TEXT UNIQUE,
    params_hash     TEXT NOT NULL,
    request         TEXT NOT NULL,
    status          TEXT NOT NULL,
    status_message  TEXT,
    bucket          TEXT NOT NULL,
    name            TEXT NOT NULL,
    version         TEXT,
    job_tag         TEXT,
    sns_topic_arn   TEXT,
    role_arn        TEXT,
    video_metadata  TEXT,
    progress        REAL NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    started_at      TEXT,
    completed_at    TEXT,
    completed_ms    INTEGER,
    notified        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status);
CREATE TABLE IF NOT EXISTS detections (
    job_id          TEXT NOT NULL REFERENCES jobs(job_id),
    seq             INTEGER NOT NULL,
    timestamp_ms    INTEGER NOT NULL,
    celebrity_id    TEXT NOT NULL,
    body            TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX IF NOT EXISTS detections_by_id ON detections(job_id, celebrity_id, timestamp_ms, seq);
"""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Job:
    job_id: str
    client_token: str | None
    params_hash: str
    request: dict[str, Any]
    status: str
    status_message: str | None
    bucket: str
    name: str
    version: str | None
    job_tag: str | None
    sns_topic_arn: str | None
    role_arn: str | None
    video_metadata: dict[str, Any] | None
    progress: float
    attempts: int
    created_at: str
    started_at: str | None
    completed_at: str | None
    completed_ms: int | None
    notified: bool

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> Job:
        data = dict(row)
        data["request"] = json.loads(data["request"])
        meta = data["video_metadata"]
        data["video_metadata"] = json.loads(meta) if meta else None
        data["notified"] = bool(data["notified"])
        return cls(**data)


@dataclass(frozen=True)
class NewJob:
    job_id: str
    client_token: str | None
    params_hash: str
    request: dict[str, Any]
    bucket: str
    name: str
    version: str | None
    job_tag: str | None
    sns_topic_arn: str | None
    role_arn: str | None


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- submission --------------------------------------------------------------------

    def submit(self, new: NewJob, *, max_in_progress: int) -> tuple[Job, bool]:
        """Insert a job, or return the one its client token already names.

        Returns (job, created). The token check and the concurrency limit are decided in
        one transaction so two racing submissions cannot both slip under the limit.
        """
        with self._tx() as db:
            if new.client_token is not None:
                row = db.execute(
                    "SELECT * FROM jobs WHERE client_token = ?", (new.client_token,)
                ).fetchone()
                if row is not None:
                    existing = Job._from_row(row)
                    if existing.params_hash != new.params_hash:
                        raise IdempotentParameterMismatchException(
                            "ClientRequestToken was already used with different parameters."
                        )
                    return existing, False
            (running,) = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status = ?", (IN_PROGRESS,)
            ).fetchone()
            if running >= max_in_progress:
                raise LimitExceededException(
                    f"The number of concurrent jobs in progress ({running}) has reached the "
                    f"limit of {max_in_progress}."
                )
            db.execute(
                "INSERT INTO jobs (job_id, client_token, params_hash, request, status, bucket,"
                " name, version, job_tag, sns_topic_arn, role_arn, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    new.job_id,
                    new.client_token,
                    new.params_hash,
                    json.dumps(new.request, sort_keys=True),
                    IN_PROGRESS,
                    new.bucket,
                    new.name,
                    new.version,
                    new.job_tag,
                    new.sns_topic_arn,
                    new.role_arn,
                    utc_now(),
                ),
            )
            row = db.execute("SELECT * FROM jobs WHERE job_id = ?", (new.job_id,)).fetchone()
            return Job._from_row(row), True

    # -- reads -------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return Job._from_row(row) if row else None

    def job_for_token(self, token: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE client_token = ?", (token,)).fetchone()
        return Job._from_row(row) if row else None

    def jobs(self, *, status: str | None = None, limit: int | None = None) -> list[Job]:
        sql = "SELECT * FROM jobs"
        args: list[Any] = []
        if status is not None:
            sql += " WHERE status = ?"
            args.append(status)
        sql += " ORDER BY rowid DESC"  # newest first; rowid is the submission order
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [Job._from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Jobs per status (a cheap progress view for load tests)."""
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {str(status): int(n) for status, n in rows}

    def unnotified(self) -> list[Job]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE status != ? AND notified = 0"
                " AND sns_topic_arn IS NOT NULL ORDER BY rowid",
                (IN_PROGRESS,),
            ).fetchall()
        return [Job._from_row(r) for r in rows]

    def count_detections(self, job_id: str) -> int:
        with self._lock:
            (n,) = self._db.execute(
                "SELECT COUNT(*) FROM detections WHERE job_id = ?", (job_id,)
            ).fetchone()
        return int(n)

    def detections(
        self, job_id: str, *, sort_by: str, offset: int, limit: int
    ) -> list[dict[str, Any]]:
        # TIMESTAMP: the analysis order (sorted by Timestamp). ID: by celebrity, then time.
        order = "seq" if sort_by == "TIMESTAMP" else "celebrity_id, timestamp_ms, seq"
        with self._lock:
            rows = self._db.execute(
                f"SELECT body FROM detections WHERE job_id = ? ORDER BY {order} LIMIT ? OFFSET ?",
                (job_id, limit, offset),
            ).fetchall()
        return [json.loads(r["body"]) for r in rows]

    # -- job lifecycle -----------------------------------------------------------------

    def mark_started(self, job_id: str) -> int:
        """Count an attempt (before work starts, so a crash mid-job is counted)."""
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET attempts = attempts + 1, started_at = ?, progress = 0"
                " WHERE job_id = ?",
                (utc_now(), job_id),
            )
            (attempts,) = db.execute(
                "SELECT attempts FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
        return int(attempts)

    def release(self, job_id: str) -> None:
        """Give back an attempt that a clean shutdown interrupted (it is not the job's fault)."""
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET attempts = MAX(attempts - 1, 0), started_at = NULL, progress = 0"
                " WHERE job_id = ? AND status = ?",
                (job_id, IN_PROGRESS),
            )

    def set_progress(self, job_id: str, progress: float) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET progress = ? WHERE job_id = ?", (progress, job_id))

    def succeed(
        self, job_id: str, video_metadata: dict[str, Any], detections: Iterable[dict[str, Any]]
    ) -> Job:
        rows = [
            (
                job_id,
                seq,
                int(d["Timestamp"]),
                str(d.get("Celebrity", {}).get("Id", "")),
                json.dumps(d, separators=(",", ":")),
            )
            for seq, d in enumerate(detections)
        ]
        return self._finish(job_id, SUCCEEDED, None, video_metadata, rows)

    def fail(self, job_id: str, message: str) -> Job:
        return self._finish(job_id, FAILED, message, None, [])

    def _finish(
        self,
        job_id: str,
        status: str,
        message: str | None,
        video_metadata: dict[str, Any] | None,
        rows: list[tuple[str, int, int, str, str]],
    ) -> Job:
        now = datetime.now(UTC)
        with self._tx() as db:
            # A resumed job may have written nothing, but be safe against a half-run.
            db.execute("DELETE FROM detections WHERE job_id = ?", (job_id,))
            db.executemany(
                "INSERT INTO detections (job_id, seq, timestamp_ms, celebrity_id, body)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            db.execute(
                "UPDATE jobs SET status = ?, status_message = ?, video_metadata = ?,"
                " progress = ?, completed_at = ?, completed_ms = ? WHERE job_id = ?",
                (
                    status,
                    message,
                    json.dumps(video_metadata) if video_metadata is not None else None,
                    1.0 if status == SUCCEEDED else 0.0,
                    now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    int(now.timestamp() * 1000),
                    job_id,
                ),
            )
            row = db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return Job._from_row(row)

    def mark_notified(self, job_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET notified = 1 WHERE job_id = ?", (job_id,))
