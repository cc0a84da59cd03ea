"""Shared fixtures for the engine tests: real photos, a gallery, synthesized videos.

The photos come from the face_recognition 1.3.0 sdist (pip download, cached under the repo's
gitignored .cache/) and scikit-image's astronaut. The gallery's embeddings are cached in
.cache/ too, so only the first run pays for enrolment.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"


@pytest.fixture(scope="session")
def photo_dir() -> Path:
    from cameo_engine import synth

    return synth.fetch_photos(CACHE)


@pytest.fixture(scope="session")
def known_people() -> set[str]:
    """Gallery members in the standard gallery; Joe Biden stays out as the unknown face."""
    from cameo_engine import synth

    return {synth.OBAMA, synth.COLLINS}


@pytest.fixture(scope="session")
def gallery_dir(photo_dir: Path, known_people: set[str]) -> Path:
    from cameo_engine import synth

    return synth.make_gallery(CACHE / "test-gallery", sorted(known_people), CACHE)


@pytest.fixture(scope="session")
def gallery(gallery_dir: Path):
    from cameo_engine.gallery import Gallery

    return Gallery.load(gallery_dir)


@pytest.fixture
def gallery_copy(gallery_dir: Path, tmp_path: Path) -> Path:
    """A private, editable copy of the standard gallery (its embedding cache included)."""
    target = tmp_path / "gallery"
    shutil.copytree(gallery_dir, target)
    return target


@pytest.fixture(scope="session")
def standard_videos(photo_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The accuracy suite: .mp4/.mov/.avi, 25 and 29.97 fps, VFR, entries, exits, a cut."""
    from cameo_engine import synth

    return synth.make_standard_videos(tmp_path_factory.mktemp("videos"), CACHE)


@pytest.fixture(scope="session")
def short_video(photo_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """3 s, 25 fps mp4: Obama throughout, the unknown Biden from 1 s."""
    from fractions import Fraction

    from cameo_engine import synth

    sprites = {k: synth.Sprite.from_photo(k, CACHE) for k in ("obama3", "biden")}
    scene = synth.Scene(640, 360, seed=11, actors=[
        synth.Actor(sprites["obama3"], [synth.Key(0, 180, 180, 120)]),
        synth.Actor(sprites["biden"], [synth.Key(0, 470, 180, 110)], enter=1.0),
    ])  # fmt: skip
    spec = synth.VideoSpec("short", ".mp4", Fraction(25), 3.0)
    path = tmp_path_factory.mktemp("short") / "short.mp4"
    truth = synth.write_video(path, scene, spec)
    return synth.SynthVideo(path, spec, truth, {synth.OBAMA, synth.BIDEN})
