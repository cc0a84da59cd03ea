"""`cameo demo` / `make demo`: cameo's whole job offline, as a user would run it.

1. gallery + video: yours, or built from real public-figure photos that the engine's synth module
   fetches with `pip download` (face_recognition 1.3.0's test images + skimage's astronaut),
   cached under .cache/ and never committed;
2. start the stack; 3. upload the video to the local bucket; 4. wait, showing progress;
5. print the appearance table through the query CLI (`cameo video s3://...`);
6. write a timeline PNG (one row per celebrity) to demo-output/; 7. stop the stack, or leave it
   up (`--keep-running`, as `make demo` does); last, print the timeline page's URL for the video.

Returns a non-zero exit code if any step fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import typer

from cameo_stack.paths import repo_root

DEMO_KEY_PREFIX = "demo/"


def _say(text: str) -> None:
    typer.secho(text, fg="cyan", err=True)


def demo_cache() -> Path:
    return Path(os.environ.get("CAMEO_CACHE_DIR") or repo_root() / ".cache") / "demo"


def prepare_gallery(root: Path | None = None) -> Path:
    """The three people of the demo video, from the photos synth downloads."""
    from cameo_engine import synth

    root = root or demo_cache() / "gallery"
    people = [synth.OBAMA, synth.BIDEN, synth.COLLINS]
    if all(any((root / p).glob("*")) for p in people if (root / p).is_dir()) and all(
        (root / p).is_dir() for p in people
    ):
        return root
    return synth.make_gallery(root, people, cache_dir=demo_cache().parent)


def prepare_video(path: Path | None = None) -> Path:
    """A 12-second 640x360 clip: Obama, then Biden joins, then Collins replaces Obama."""
    from cameo_engine import synth

    path = path or demo_cache() / "cameo-demo.mp4"
    if path.is_file() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    cache = demo_cache().parent
    obama = synth.Sprite.from_photo("obama3", cache)
    biden = synth.Sprite.from_photo("biden", cache)
    collins = synth.Sprite.from_photo("collins", cache)
    K = synth.Key
    scene = synth.Scene(640, 360, seed=7, actors=[
        synth.Actor(obama, [K(0, 200, 175, 120), K(6, 260, 185, 135)], enter=0.5, leave=6.5),
        synth.Actor(biden, [K(3, 470, 170, 110), K(10, 430, 185, 120)], enter=3.0, leave=10.0),
        synth.Actor(collins, [K(7, 200, 180, 105), K(12, 240, 170, 125)], enter=7.0),
    ])  # fmt: skip
    spec = synth.VideoSpec("cameo-demo", ".mp4", Fraction(25), 12.0)
    tmp = path.with_suffix(".tmp.mp4")
    synth.write_video(tmp, scene, spec)
    tmp.replace(path)
    return path


def timeline_png(data: dict[str, Any], out: Path) -> Path:
    """One row per celebrity, one bar per appearance, time in seconds on the x axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    appearances = data.get("appearances") or []
    names: list[str] = []
    for a in appearances:
        if a["name"] not in names:
            names.append(a["name"])
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.6 * max(1, len(names))), dpi=120)
    colours = plt.get_cmap("tab10")
    end_s = 0.0
    for row, name in enumerate(names):
        bars = [
            (a["start_ms"] / 1000, max(a["end_ms"] - a["start_ms"], 100) / 1000)
            for a in appearances
            if a["name"] == name
        ]
        ax.broken_barh(bars, (row - 0.35, 0.7), color=colours(row % 10))
        end_s = max([end_s, *(s + w for s, w in bars)])
    duration = float((data.get("video_metadata") or {}).get("DurationMillis") or 0) / 1000
    ax.set_xlim(0, max(end_s, duration, 1.0) * 1.02)
    ax.set_yticks(range(len(names)), labels=names)
    ax.set_ylim(-0.6, max(len(names), 1) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("time in video (s)")
    ax.set_title(f"{data.get('video', '')}  ({len(appearances)} appearances)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def _query(stack: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """The query CLI, as a user would call it after `eval "$(cameo stack env)"`."""
    import shutil

    width = max(shutil.get_terminal_size((120, 24)).columns, 110)  # the table is wide
    env = {**os.environ, **stack.env(), "COLUMNS": str(width)}
    return subprocess.run(
        [sys.executable, "-m", "cameo_cli.main", *args],
        env=env,
        text=True,
        capture_output=True,
        check=False,
    )


def run_demo(
    *, video: Path | None, gallery: Path | None, output: Path, keep_running: bool, timeout: float
) -> int:
    from cameo_stack.cli import _exit_code, _wait
    from cameo_stack.stack import Stack, StackOptions

    started = time.monotonic()
    if video is not None and not video.is_file():
        typer.secho(f"no such video: {video}", fg="red", err=True)
        return 2
    if gallery is not None and not gallery.is_dir():
        typer.secho(f"no such gallery folder: {gallery}", fg="red", err=True)
        return 2
    try:
        _say("1/7 gallery and video")
        gallery = gallery.resolve() if gallery else prepare_gallery()
        video = video.resolve() if video else prepare_video()
        typer.echo(f"    gallery {gallery}\n    video   {video}", err=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        typer.secho(f"cannot prepare the demo inputs: {exc}", fg="red", err=True)
        return 1

    _say("2/7 starting the offline stack")
    try:
        stack = Stack.up(
            StackOptions(gallery=gallery, log=lambda s: typer.echo(f"    {s}", err=True))
        )
    except RuntimeError as exc:
        typer.secho(f"stack up failed: {exc}", fg="red", err=True)
        return 1
    code = 1
    page = None
    try:
        _say("3/7 uploading the video, as a user would")
        uri = stack.upload(video, DEMO_KEY_PREFIX + video.name)
        typer.echo(f"    {uri}", err=True)
        if "api" in stack.state.services:
            page = page_url(str(stack.state.services["api"]["url"]), uri)

        _say("4/7 waiting for the pipeline")
        item = _wait(stack, uri, timeout)
        code = _exit_code(item)

        _say(f"5/7 appearances (cameo video {uri})")
        table = _query(stack, "video", uri)
        typer.echo(table.stdout.rstrip())
        if table.returncode != 0:
            typer.secho(table.stderr, fg="red", err=True)
            code = code or 1

        _say("6/7 timeline picture")
        raw = _query(stack, "video", uri, "--json")
        if raw.returncode != 0:
            typer.secho(raw.stderr, fg="red", err=True)
            code = code or 1
        else:
            data = json.loads(raw.stdout)
            data.setdefault("video_metadata", item.get("video_metadata") or {})
            png = timeline_png(data, output / f"{video.stem}-timeline.png")
            typer.echo(f"    {png}", err=True)
    except typer.Exit as exc:
        code = exc.exit_code or 1
    except Exception as exc:  # noqa: BLE001 (reported, then the stack still goes down)
        typer.secho(f"demo failed: {type(exc).__name__}: {exc}", fg="red", err=True)
        code = 1
    finally:
        if keep_running:
            _say("7/7 leaving the stack running (`cameo stack down` stops it)")
        else:
            _say("7/7 stopping the stack")
            stack.down()
    verdict = "done" if code == 0 else f"FAILED (exit {code})"
    typer.secho(
        f"demo {verdict} in {time.monotonic() - started:.0f}s",
        fg="green" if code == 0 else "red",
        err=True,
    )
    if page:
        served = "`make down` stops it" if keep_running else "stopped: --keep-running serves it"
        typer.echo(f"timeline page ({served}): {page}")
    return code


def page_url(api_url: str, uri: str) -> str:
    """The timeline page of one video, as the stack's HTTP API serves it (web/app.js's routes)."""
    from cameo_core.api.ids import video_id
    from cameo_core.keys import VideoRef

    return f"{api_url.rstrip('/')}/#/video/{video_id(VideoRef.parse(uri))}"
