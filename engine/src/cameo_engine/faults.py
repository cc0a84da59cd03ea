"""Opt-in fault injection: make chosen operations fail with chosen Rekognition errors.

Tests use it to exercise callers' retry paths (ThrottlingException,
ProvisionedThroughputExceededException) against a real engine. A rule fails either the
next ``count`` calls of an operation or each call with ``probability``. Rules come from
the API, the CLI (``--fault``), ``CAMEO_ENGINE_FAULTS`` or the admin endpoint
``/admin/faults``. Spec syntax: ``Operation:Error:count=N`` or ``Operation:Error:p=0.25``
(``*`` as the operation matches every operation); several specs are separated by ``;``.

One rule is not an API error: ``PublishCompletion:Drop:count=N`` makes the engine publish
nothing for the next N finished jobs (Rekognition could not publish, or SNS lost the
message), optionally only for objects under a key prefix: ``...:count=1:prefix=lost/`` (or
``"prefix"`` in the admin endpoint's JSON). The job still finishes and is never re-announced,
so only the caller's own reconciliation can find it.

Another is not an error either: ``Operation:Delay:count=N:seconds=S`` answers the call
normally but S seconds late, after doing its work (a started job runs meanwhile, so its
completion can arrive before the caller has the JobId: a slow response or network).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

from cameo_engine.errors import EngineError, error_for

ENV_VAR = "CAMEO_ENGINE_FAULTS"
PUBLISH_COMPLETION = "PublishCompletion"  # not an API operation: the job's SNS message
DROP = "Drop"
DELAY = "Delay"


@dataclass
class FaultRule:
    operation: str
    error: str
    count: int | None = None  # fail the next N calls; None with a probability
    probability: float | None = None
    triggered: int = 0
    prefix: str | None = None  # PublishCompletion only: objects whose key starts with it
    seconds: float | None = None  # Delay only: how late the answer comes

    def __post_init__(self) -> None:
        if (self.error == DROP) != (self.operation == PUBLISH_COMPLETION):
            raise ValueError(f"{DROP} goes with {PUBLISH_COMPLETION}, and only there")
        if self.prefix is not None and self.operation != PUBLISH_COMPLETION:
            raise ValueError(f"prefix only applies to {PUBLISH_COMPLETION}")
        if (self.error == DELAY) != (self.seconds is not None):
            raise ValueError(f"{DELAY} needs seconds=S, and only {DELAY} takes it")
        if self.seconds is not None and not 0 < self.seconds <= 300:
            raise ValueError("a delay is in (0, 300] seconds")
        if self.error not in (DROP, DELAY):
            error_for(self.error, "")  # raises ValueError for an unknown error name
        if (self.count is None) == (self.probability is None):
            raise ValueError("a fault needs exactly one of count or probability")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1")
        if self.probability is not None and not 0.0 < self.probability <= 1.0:
            raise ValueError("probability must be in (0, 1]")

    @classmethod
    def parse(cls, spec: str) -> FaultRule:
        parts = spec.strip().split(":", 3)
        if len(parts) < 3 or "=" not in parts[2]:
            raise ValueError(f"bad fault spec {spec!r}; use Operation:Error:count=N or :p=0.5")
        extra: dict[str, Any] = {}
        if len(parts) == 4:
            name, _, value = parts[3].partition("=")
            if name == "prefix":
                extra["prefix"] = value
            elif name == "seconds":
                extra["seconds"] = float(value)
            else:
                raise ValueError(f"bad fault spec {spec!r}; the 4th part is prefix=P or seconds=S")
        key, _, value = parts[2].partition("=")
        if key == "count":
            return cls(parts[0], parts[1], count=int(value), **extra)
        if key == "p":
            return cls(parts[0], parts[1], probability=float(value), **extra)
        raise ValueError(f"bad fault spec {spec!r}; use count=N or p=0.5")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        count = data.get("count")
        probability = data.get("probability")
        return cls(
            operation=str(data.get("operation", "*")),
            error=str(data["error"]),
            count=int(count) if count is not None else None,
            probability=float(probability) if probability is not None else None,
            prefix=str(data["prefix"]) if data.get("prefix") is not None else None,
            seconds=float(data["seconds"]) if data.get("seconds") is not None else None,
        )


class FaultInjector:
    """Thread-safe rule set consulted before each operation."""

    def __init__(self, rules: list[FaultRule] | None = None, *, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = list(rules or [])
        self._random = random.Random(seed)

    @classmethod
    def from_specs(cls, specs: str | list[str] | None) -> FaultInjector:
        if isinstance(specs, str):
            specs = [s for s in specs.split(";") if s.strip()]
        return cls([FaultRule.parse(s) for s in specs or []])

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(r) for r in self._rules]

    def check(self, operation: str) -> None:
        """Raise the injected error if a rule fires for this call."""
        with self._lock:
            for rule in self._rules:
                if rule.error in (DROP, DELAY) or rule.operation not in ("*", operation):
                    continue
                if self._fires(rule):
                    raise self._error(rule, operation)

    def delay(self, operation: str) -> float:
        """Seconds to hold this (successful) call's answer back: 0 unless a Delay rule fires."""
        with self._lock:
            for rule in self._rules:
                if rule.error != DELAY or rule.operation not in ("*", operation):
                    continue
                if self._fires(rule):
                    return float(rule.seconds or 0.0)
        return 0.0

    def drops_completion(self, key: str) -> bool:
        """True if a PublishCompletion:Drop rule fires for the job on object ``key``."""
        with self._lock:
            for rule in self._rules:
                if rule.operation != PUBLISH_COMPLETION:
                    continue
                if rule.prefix is not None and not key.startswith(rule.prefix):
                    continue
                if self._fires(rule):
                    return True
        return False

    def _fires(self, rule: FaultRule) -> bool:
        """Count the rule down (or roll its dice); caller holds the lock."""
        if rule.count is not None:
            rule.count -= 1
            if rule.count == 0:
                self._rules.remove(rule)
        elif self._random.random() >= (rule.probability or 0.0):
            return False
        rule.triggered += 1
        return True

    @staticmethod
    def _error(rule: FaultRule, operation: str) -> EngineError:
        return error_for(rule.error, f"Injected fault: {rule.error} for {operation}")
