"""Background services: start in their own process group, check health, stop without strays.

Each service is started with ``start_new_session=True`` so that it leads its own process group;
``stop`` signals the whole group (the engine's worker pool, the JVM, moto's threads), waits, and
escalates to SIGKILL. Pid files record pid + process start time so that a recycled pid is never
mistaken for ours.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

HealthCheck = Callable[[], bool]


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the OS picks it). Services bind it right after."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def http_ok(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 2.0,
) -> bool:
    """True when the URL answers 2xx. Connection errors and HTTP errors are simply 'not ready'."""
    if not url.startswith("http://"):
        raise ValueError(f"health checks are plain HTTP on loopback, not {url}")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, data=data, method=method, headers=dict(headers or {})
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback)
            return 200 <= int(response.status) < 300
    except (OSError, urllib.error.URLError):
        return False


def _start_time(pid: int) -> str | None:
    """Process start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces; everything after the last ')' is well-formed.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie is as good as gone
        return None
    return fields[19]


@dataclass(frozen=True)
class ServiceRecord:
    """What the pid file says about a running service."""

    name: str
    pid: int
    start_time: str
    argv: list[str]
    log: str

    def alive(self) -> bool:
        return _start_time(self.pid) == self.start_time


def read_record(pid_file: Path) -> ServiceRecord | None:
    try:
        return ServiceRecord(**json.loads(pid_file.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def start(
    name: str,
    argv: Sequence[str],
    *,
    pid_file: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ServiceRecord:
    """Start ``argv`` detached in a new session, output appended to ``log_file``."""
    existing = read_record(pid_file)
    if existing is not None and existing.alive():
        raise RuntimeError(f"{name} is already running (pid {existing.pid}); stop the stack first")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        log.write(
            f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(argv)}\n".encode()
        )
        log.flush()
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    start_time = None
    for _ in range(50):  # /proc entry appears immediately; be tolerant anyway
        start_time = _start_time(process.pid)
        if start_time is not None:
            break
        time.sleep(0.01)
    record = ServiceRecord(name, process.pid, start_time or "?", list(argv), str(log_file))
    pid_file.write_text(json.dumps(asdict(record)))
    return record


def wait_healthy(record: ServiceRecord, check: HealthCheck, *, timeout: float) -> None:
    """Poll ``check`` until it passes; fail early (with the log tail) if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not record.alive():
            raise RuntimeError(
                f"{record.name} exited during start-up\n{log_tail(Path(record.log))}"
            )
        time.sleep(0.1)
    raise RuntimeError(
        f"{record.name} not healthy after {timeout:.0f}s\n{log_tail(Path(record.log))}"
    )


def stop(pid_file: Path, *, grace: float = 10.0) -> bool:
    """SIGTERM the service's process group, wait ``grace`` seconds, then SIGKILL it.

    Returns True when something was running. The pid file is removed in every case.
    """
    record = read_record(pid_file)
    was_running = record is not None and record.alive()
    if record is not None and was_running:
        _signal_group(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _group_alive(record.pid):
            time.sleep(0.05)
        if _group_alive(record.pid):
            _signal_group(record.pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and _group_alive(record.pid):
                time.sleep(0.05)
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()
    return was_running


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Any non-zombie process left in the group (children of the leader included)?"""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(f"  | {line}" for line in text[-lines:])
