"""Start the engine in-process (offline stack, tests) or from ``cameo engine serve``.

Usage: ``with start_engine(EngineConfig(gallery_dir=g, state_dir=s)) as engine:`` then
``boto3.client("rekognition", endpoint_url=engine.endpoint_url)``.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from cameo_engine.faults import ENV_VAR as FAULTS_ENV_VAR
from cameo_engine.faults import FaultInjector
from cameo_engine.jobs import (
    Backend,
    CoreBackend,
    FixedLengthBackend,
    GalleryProvider,
    JobRunner,
    JobSettings,
)
from cameo_engine.server import DEFAULT_MAX_VIDEO_BYTES, EngineApp, RekognitionService
from cameo_engine.store import Store

log = logging.getLogger("cameo_engine")

# Seconds: every job lasts exactly this long and decodes nothing (load tests, benchmarks).
FIXED_JOB_SECONDS_ENV_VAR = "CAMEO_ENGINE_FIXED_JOB_SECONDS"


@dataclass
class EngineConfig:
    gallery_dir: Path
    state_dir: Path  # SQLite database and scratch space; reuse it to keep jobs across restarts
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port
    # None: boto3's own resolution (AWS_ENDPOINT_URL_S3 / _SNS, else AWS).
    s3_endpoint: str | None = None
    sns_endpoint: str | None = None
    region: str | None = None  # None: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1
    workers: int = 1  # concurrent jobs
    processes: int = 1  # recognition processes per job
    max_concurrent_jobs: int = 20  # IN_PROGRESS jobs before LimitExceededException
    sample_fps: float = 5.0
    max_video_bytes: int = DEFAULT_MAX_VIDEO_BYTES
    max_attempts: int = 3  # starts of one job before an engine crash loop fails it
    faults: list[str] = field(default_factory=list)  # see cameo_engine.faults
    # Not None: FixedLengthBackend (jobs of exactly this many seconds, nothing decoded).
    # None: CAMEO_ENGINE_FIXED_JOB_SECONDS if set, else the real core.
    fixed_job_seconds: float | None = None


class Engine:
    """A running engine: HTTP server thread plus job workers."""

    def __init__(self, config: EngineConfig, backend: Backend | None = None) -> None:
        import boto3
        from botocore.config import Config
        from werkzeug.serving import make_server

        self.config = config
        fixed = config.fixed_job_seconds
        if fixed is None and os.environ.get(FIXED_JOB_SECONDS_ENV_VAR):
            fixed = float(os.environ[FIXED_JOB_SECONDS_ENV_VAR])
        if backend is None:
            backend = FixedLengthBackend(fixed) if fixed is not None else CoreBackend()
        self._backend = backend
        region = (
            config.region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        )
        session = boto3.session.Session()
        retry = Config(retries={"mode": "standard", "total_max_attempts": 4})
        s3 = session.client("s3", endpoint_url=config.s3_endpoint, region_name=region, config=retry)
        sns_clients: dict[str, Any] = {}
        sns_lock = threading.Lock()

        def sns_client_for(topic_arn: str) -> Any:
            # SNS wants the client in the topic's region: arn:aws:sns:<region>:<acct>:<name>
            parts = topic_arn.split(":")
            topic_region = parts[3] if len(parts) > 3 and parts[3] else region
            with sns_lock:
                if topic_region not in sns_clients:
                    sns_clients[topic_region] = session.client(
                        "sns",
                        endpoint_url=config.sns_endpoint,
                        region_name=topic_region,
                        config=retry,
                    )
                return sns_clients[topic_region]

        faults = FaultInjector.from_specs(
            [*config.faults, *filter(None, os.environ.get(FAULTS_ENV_VAR, "").split(";"))]
        )
        self.store = Store(config.state_dir / "engine.sqlite3")
        self.gallery = GalleryProvider(self._backend, config.gallery_dir)
        self.gallery.get()  # fail fast on a bad gallery; "ready" means enrolled
        self.runner = JobRunner(
            self.store,
            self._backend,
            self.gallery,
            s3_client=s3,
            sns_client_for=sns_client_for,
            settings=JobSettings(
                workers=config.workers,
                sample_fps=config.sample_fps,
                processes=config.processes,
                max_attempts=config.max_attempts,
                work_dir=config.state_dir / "work",
            ),
            faults=faults,
        )
        self.service = RekognitionService(
            store=self.store,
            runner=self.runner,
            backend=self._backend,
            gallery=self.gallery,
            s3_client=s3,
            faults=faults,
            max_concurrent_jobs=config.max_concurrent_jobs,
            max_video_bytes=config.max_video_bytes,
        )
        self._ready = threading.Event()
        app = EngineApp(self.service, ready=self._ready.is_set)
        self._http = make_server(config.host, config.port, app, threaded=True)
        self.port: int = self._http.server_port
        self._thread = threading.Thread(
            # A short poll interval makes stop() quick (tests start many engines).
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="cameo-engine-http",
            daemon=True,
        )
        self._stopped = False

    @property
    def faults(self) -> FaultInjector:
        return self.service.faults

    @property
    def endpoint_url(self) -> str:
        host = self.config.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - mapping a wildcard bind to loopback
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    def start(self) -> Engine:
        # Recover before serving, so a job submitted meanwhile is not queued twice.
        self.runner.recover()
        self._thread.start()
        self._ready.set()
        log.info(
            "engine ready at %s (gallery %s, state %s, %d worker(s))",
            self.endpoint_url,
            self.config.gallery_dir,
            self.config.state_dir,
            self.config.workers,
        )
        return self

    def wait_for_job(self, job_id: str, timeout: float | None = None) -> None:
        """Block until the job's current run in this engine ends."""
        self.runner.wait(job_id, timeout)

    def stop(self) -> None:
        """Stop serving; running jobs are interrupted and resume on the next start."""
        if self._stopped:
            return
        self._stopped = True
        self._ready.clear()
        self._http.shutdown()
        self._http.server_close()
        self.runner.stop()
        self.store.close()
        log.info("engine stopped")

    def serve_forever(self) -> None:
        """Block until stop() is called from another thread (or the process is signalled)."""
        self._thread.join()

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_engine(config: EngineConfig, backend: Backend | None = None) -> Engine:
    """Start the engine on ``config.host:config.port`` and return once it is ready."""
    return Engine(config, backend).start()
