"""One warm Lambda execution environment: imports a handler by file path and serves invocations.

Started by cameo_stack.lambda_runtime as ``python -m cameo_stack.lambda_worker MODULE_FILE HANDLER
REQ_FD RESP_FD`` with the function's environment. Invocations arrive as JSON lines on REQ_FD and
results leave on RESP_FD, so whatever the handler prints (Powertools logs to stdout) goes to the
function's log file and never corrupts the protocol. Module-level code runs once, at the first
invocation's cold start, as on Lambda, or on a line ``{"init": true}``, which runs only that Init
phase (a pre-warmed environment, see FunctionPool.prewarm).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any


class LambdaContext:
    """The attributes and method of Lambda's Python context object."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.function_name: str = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version: str = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn: str = request["invoked_function_arn"]
        self.memory_limit_in_mb: int = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.aws_request_id: str = request["request_id"]
        self.log_group_name: str = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name: str = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline_ms: int = int(request["deadline_ms"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _load(module_file: Path) -> Any:
    spec = importlib.util.spec_from_file_location(module_file.stem, module_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {module_file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_file.stem] = module  # as Lambda's bootstrap imports it: by module name
    spec.loader.exec_module(module)
    return module


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def main() -> None:
    # The router ends invocations itself (timeout, shutdown); a SIGTERM to the whole process
    # group must not fail an invocation behind its back. EOF on REQ_FD ends the loop.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    module_file, handler_name, req_fd, resp_fd = sys.argv[1:5]
    requests = os.fdopen(int(req_fd), "r", encoding="utf-8")
    responses = os.fdopen(int(resp_fd), "w", encoding="utf-8")
    handler: Any = None
    init_error: dict[str, Any] | None = None
    for line in requests:
        request = json.loads(line)
        if handler is None and init_error is None:
            try:  # the cold start: module-level code, config from the environment
                handler = getattr(_load(Path(module_file)), handler_name)
            except Exception as exc:  # noqa: BLE001 (reported to the router like Lambda's init error)
                init_error = _error(exc)
                init_error["errorType"] = f"Runtime.ImportModuleError: {init_error['errorType']}"
        if request.get("init"):
            # Only the Init phase (a pre-warmed environment): the error, if any, is reported
            # by the first invocation, as Lambda does.
            response: dict[str, Any] = {"ok": init_error is None, "init": True}
        elif init_error is not None:
            response = {"ok": False, "error": init_error}
        else:
            try:
                result = handler(request["event"], LambdaContext(request))
                response = {"ok": True, "result": json.loads(json.dumps(result, default=str))}
            except Exception as exc:  # noqa: BLE001 (an unhandled error is the invocation's result)
                traceback.print_exc()
                response = {"ok": False, "error": _error(exc)}
        sys.stdout.flush()
        sys.stderr.flush()
        responses.write(json.dumps(response) + "\n")
        responses.flush()


if __name__ == "__main__":
    main()
