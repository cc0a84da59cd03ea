"""Helpers shared by the e2e tests (the fixtures live in conftest.py)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cameo_stack.stack import Stack

SAMPLE_FPS = 5.0
ENGINE_JOB_LIMIT = 2
RETRY_DELAYS = "1,2"  # the router's async-retry delays (Lambda: ~60 s, 120 s)


@dataclass
class Clip:
    path: Path
    # person -> (first, last) ms where the face is fully in frame, from the synth ground truth
    truth: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class Media:
    gallery: Path
    enrolled: set[str]
    unknown: set[str]
    clips: dict[str, Clip]


def engine_jobs(stack: Stack) -> list[dict[str, Any]]:
    url = f"{stack.state.endpoints['rekognition']}/admin/jobs?limit=1000"
    with urllib.request.urlopen(url, timeout=5) as response:
        return list(json.loads(response.read())["Jobs"])


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def router_counters(stack: Stack, function: str) -> dict[str, Any]:
    return dict(stack.router_health()["functions"][function])


def wait_router_idle(stack: Stack, function: str, invocations: int, timeout: float = 60) -> None:
    """Until ``function`` has run at least ``invocations`` times and nothing is in flight."""

    def idle() -> bool:
        counters = router_counters(stack, function)
        return counters["invocations"] >= invocations and counters["in_flight"] == 0

    wait_until(idle, timeout, f"{function} to reach {invocations} invocations")


def appearances(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((i for i in items if i.get("type") == "appearance"), key=lambda i: i["sk"])


def summaries(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((i for i in items if i.get("type") == "summary"), key=lambda i: i["sk"])
