"""`make demo` says what it does to a running offline stack, and how to stop the one it leaves
up: the recipe run with a stand-in `cameo` that records its calls (no stack, no engine)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKE_CAMEO = """#!/bin/sh
echo "cameo $*" >> "$CAMEO_CALLS"
case "$1 $2" in
  "stack down") echo "stopped: moto, dynamodb, engine, router, api" >&2 ;;
  "demo "*) echo "timeline page: http://127.0.0.1:1/#/video/x"; exit "$DEMO_EXIT" ;;
esac
"""


def make_demo(tmp_path: Path, demo_exit: int) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "cameo"
    fake.write_text(FAKE_CAMEO)
    fake.chmod(0o755)
    env = {**os.environ, "CAMEO_CALLS": str(tmp_path / "calls"), "DEMO_EXIT": str(demo_exit)}
    # -o dev: the venv is not rebuilt; BIN points at the stand-in.
    return subprocess.run(
        ["make", "-s", "-o", "dev", "demo", f"BIN={bin_dir}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("demo_exit", [0, 3])
def test_make_demo_says_it_stops_a_running_stack_and_how_to_stop_the_new_one(
    tmp_path: Path, demo_exit: int
) -> None:
    result = make_demo(tmp_path, demo_exit)
    output = result.stdout + result.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0] == "cameo stack down" and calls[1].startswith("cameo demo --keep-running")
    # Before stopping anything it says so, and what `stack down` stopped is shown, not hidden.
    assert "make demo: stopping the offline stack if one is running" in result.stdout
    assert "stopped: moto, dynamodb, engine, router, api" in result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert "`make down` stops it" in last
    if demo_exit == 0:
        assert result.returncode == 0, output
        assert "stays up" in last
    else:
        assert result.returncode != 0
        assert f"failed (exit {demo_exit})" in last
