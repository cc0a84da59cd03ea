"""Invoke a function from template.yaml the way Lambda does, without Docker.

Each function gets warm worker processes (cameo_stack.lambda_worker), one per concurrent
invocation, with the function's environment from the template plus the stack's endpoints. An
invocation that outlives the function's Timeout is killed with its process, like Lambda's
sandbox, and reported as "Task timed out"; a crashed worker is reported as Runtime.ExitError.
Either way the next invocation gets a fresh (cold) worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cameo_stack.template import Function

# A pre-warmed environment's Init phase may take this long (several start at once on a shared
# host, so longer than Lambda's 10 s init limit).
INIT_TIMEOUT_S = 60.0


@dataclass
class Invocation:
    function: str
    request_id: str
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float = 0.0
    cold_start: bool = False

    @property
    def error_summary(self) -> str:
        if self.error is None:
            return ""
        return f"{self.error.get('errorType')}: {self.error.get('errorMessage')}"


def function_environment(fn: Function, stack_env: Mapping[str, str]) -> dict[str, str]:
    """What the function's process sees: a clean Lambda-like environment, not the caller's."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV")
    }
    env.update(stack_env)  # region, dummy credentials, AWS_ENDPOINT_URL_*
    env.update(fn.environment)  # the template's variables (Globals merged, Refs resolved)
    paths = [str(fn.code_uri), *(str(d) for d in fn.layer_dirs)]  # /var/task, /opt/python
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(paths),
            "PYTHONUNBUFFERED": "1",
            "LAMBDA_TASK_ROOT": str(fn.code_uri),
            "_HANDLER": fn.handler,
            "AWS_LAMBDA_FUNCTION_NAME": fn.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{uuid.uuid4().hex}",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python_local",
            # No X-Ray daemon offline; Powertools' Tracer would otherwise try to reach one.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    return env


class Worker:
    """One execution environment (process). Not thread-safe: one invocation at a time."""

    def __init__(self, fn: Function, env: Mapping[str, str], log: IO[bytes] | None) -> None:
        self.fn = fn
        req_read, req_write = os.pipe()
        resp_read, resp_write = os.pipe()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cameo_stack.lambda_worker",
                str(fn.module_file),
                fn.handler_name,
                str(req_read),
                str(resp_write),
            ],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log if log is not None else None,
            stderr=subprocess.STDOUT if log is not None else None,
            pass_fds=(req_read, resp_write),
        )
        os.close(req_read)
        os.close(resp_write)
        self._requests = os.fdopen(req_write, "w", encoding="utf-8")
        self._responses = resp_read
        self._buffer = b""
        self.invocations = 0

    def init(self, timeout_s: float = INIT_TIMEOUT_S) -> bool:
        """Run only the Init phase (imports, module-level code) now; False if the worker died
        or took longer than Lambda's init limit. An init error is kept for the first invocation."""
        try:
            self._requests.write(json.dumps({"init": True}) + "\n")
            self._requests.flush()
        except (BrokenPipeError, OSError):
            return False
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                return False
            ready, _, _ = select.select([self._responses], [], [], min(remaining, 0.5))
            if ready:
                chunk = os.read(self._responses, 65536)
                if not chunk:
                    return False
                self._buffer += chunk
        _, _, self._buffer = self._buffer.partition(b"\n")
        return True

    def invoke(self, event: Any, request_id: str) -> Invocation:
        timeout_s = float(self.fn.timeout)
        started = time.monotonic()
        cold = self.invocations == 0
        self.invocations += 1
        request = {
            "event": event,
            "request_id": request_id,
            "invoked_function_arn": self.fn.arn,
            "deadline_ms": int(time.time() * 1000 + timeout_s * 1000),
        }
        try:
            self._requests.write(json.dumps(request) + "\n")
            self._requests.flush()
        except (BrokenPipeError, OSError):
            return self._exited(request_id, started, cold)
        deadline = started + timeout_s
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                return Invocation(
                    self.fn.name,
                    request_id,
                    ok=False,
                    cold_start=cold,
                    duration_ms=(time.monotonic() - started) * 1000,
                    error={
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": f"Task timed out after {timeout_s:.2f} seconds",
                    },
                )
            ready, _, _ = select.select([self._responses], [], [], min(remaining, 0.5))
            if ready:
                chunk = os.read(self._responses, 65536)
                if not chunk:
                    return self._exited(request_id, started, cold)
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        response = json.loads(line)
        return Invocation(
            self.fn.name,
            request_id,
            ok=bool(response["ok"]),
            result=response.get("result"),
            error=response.get("error"),
            duration_ms=(time.monotonic() - started) * 1000,
            cold_start=cold,
        )

    def _exited(self, request_id: str, started: float, cold: bool) -> Invocation:
        code = self.process.wait(timeout=5)
        return Invocation(
            self.fn.name,
            request_id,
            ok=False,
            cold_start=cold,
            duration_ms=(time.monotonic() - started) * 1000,
            error={
                "errorType": "Runtime.ExitError",
                "errorMessage": f"Runtime exited with error: exit status {code}",
            },
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._requests.close()
        with contextlib.suppress(OSError):
            os.close(self._responses)

    def shutdown(self) -> None:
        """Graceful: closing stdin ends the worker's request loop."""
        self.close()
        try:
            self.process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class FunctionPool:
    """Warm workers of one function, at most ``concurrency`` busy at once."""

    fn: Function
    env: Mapping[str, str]
    concurrency: int
    log_path: Path | None = None
    _idle: list[Worker] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _all: list[Worker] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.slots = threading.BoundedSemaphore(self.concurrency)
        self._log: IO[bytes] | None = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab", buffering=0)

    def invoke(self, event: Any, request_id: str | None = None) -> Invocation:
        """Run one invocation on an idle (or new) worker. Callers hold a slot when they limit."""
        request_id = request_id or str(uuid.uuid4())
        with self._lock:
            worker = None
            while self._idle and worker is None:
                candidate = self._idle.pop()
                if candidate.alive:
                    worker = candidate
            if worker is None:
                worker = Worker(self.fn, self.env, self._log)
                self._all.append(worker)
        result = worker.invoke(event, request_id)
        with self._lock:
            if worker.alive:
                self._idle.append(worker)
            else:
                worker.close()
                self._all.remove(worker)
        return result

    def prewarm(self) -> int:
        """Start ``concurrency`` environments and run their Init phase now, in parallel, as
        provisioned concurrency would; how many are warm. On AWS a burst's cold starts run side
        by side on their own hosts; here they would queue on the host's few cores, in front of
        the burst's first invocations. The first invocation of each still reports cold."""
        workers = [Worker(self.fn, self.env, self._log) for _ in range(self.concurrency)]
        with ThreadPoolExecutor(len(workers)) as pool:
            warm = list(pool.map(Worker.init, workers))
        with self._lock:
            for worker, ok in zip(workers, warm, strict=True):
                if ok:
                    self._all.append(worker)
                    self._idle.append(worker)
                else:
                    worker.kill()
        return sum(warm)

    def shutdown(self) -> None:
        with self._lock:
            workers, self._all, self._idle = list(self._all), [], []
        for worker in workers:
            worker.kill()
        if self._log is not None:
            self._log.close()


def invoke_once(
    fn: Function, event: Any, stack_env: Mapping[str, str], log: IO[bytes] | None = None
) -> Invocation:
    """A single synchronous invocation (``cameo invoke``, ``make invoke``): cold, then gone."""
    worker = Worker(fn, function_environment(fn, stack_env), log)
    try:
        return worker.invoke(event, str(uuid.uuid4()))
    finally:
        worker.shutdown()
