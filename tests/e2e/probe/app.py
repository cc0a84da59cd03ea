"""Records what Lambda would hand it; sleeps past its Timeout or fails when the event says so."""

import json
import os
import time
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record = {
        "event": event,
        "context": {
            "function_name": context.function_name,
            "aws_request_id": context.aws_request_id,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
        "env": {k: v for k, v in os.environ.items() if k.startswith(("AWS_ENDPOINT_URL", "TOPIC"))},
        "pid": os.getpid(),
    }
    with open(os.environ["PROBE_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
    text = json.dumps(event)
    if "sleep-forever" in text:
        time.sleep(60)
    if "always-fail" in text:
        raise RuntimeError("the probe was told to fail")
    return {"ok": True}
