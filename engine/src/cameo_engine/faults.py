"""Opt-in fault injection: make chosen operations fail with chosen Rekognition errors.

Tests use it to exercise callers' retry paths (ThrottlingException,
ProvisionedThroughputExceededException) against a real engine. A rule fails either the
next ``count`` calls of an operation or each call with ``probability``. Rules come from
the API, the CLI (``--fault``), ``CAMEO_ENGINE_FAULTS`` or the admin endpoint
``/admin/faults``. Spec syntax: ``Operation:Error:count=N`` or ``Operation:Error:p=0.25``
(``*`` as the operation matches every operation); several specs are separated by ``;``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

from cameo_engine.errors import EngineError, error_for

ENV_VAR = "CAMEO_ENGINE_FAULTS"


@dataclass
class FaultRule:
    operation: str
    error: str
    count: int | None = None  # fail the next N calls; None with a probability
    probability: float | None = None
    triggered: int = 0

    def __post_init__(self) -> None:
        error_for(self.error, "")  # raises ValueError for an unknown error name
        if (self.count is None) == (self.probability is None):
            raise ValueError("a fault needs exactly one of count or probability")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1")
        if self.probability is not None and not 0.0 < self.probability <= 1.0:
            raise ValueError("probability must be in (0, 1]")

    @classmethod
    def parse(cls, spec: str) -> FaultRule:
        parts = spec.strip().split(":")
        if len(parts) != 3 or "=" not in parts[2]:
            raise ValueError(f"bad fault spec {spec!r}; use Operation:Error:count=N or :p=0.5")
        key, _, value = parts[2].partition("=")
        if key == "count":
            return cls(parts[0], parts[1], count=int(value))
        if key == "p":
            return cls(parts[0], parts[1], probability=float(value))
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
                if rule.operation not in ("*", operation):
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count == 0:
                        self._rules.remove(rule)
                elif self._random.random() >= (rule.probability or 0.0):
                    continue
                rule.triggered += 1
                raise self._error(rule, operation)

    @staticmethod
    def _error(rule: FaultRule, operation: str) -> EngineError:
        return error_for(rule.error, f"Injected fault: {rule.error} for {operation}")
